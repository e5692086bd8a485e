/**
 * The match review: the team's matches of one status (or its matched sets), kept live from
 * `matchEvents`, resolved with the version they were seen at; and who else is in the review
 * and which match each is looking at, over the `/collab` review session.
 */
import type {
  Document,
  MatchDecision,
  MatchKind,
  MatchPassage,
  MatchRule,
  MatchStatus,
  MatchedField,
  Match as SchemaMatch,
  MatchedSet as SchemaMatchedSet,
} from '@quire/graphql';
import type { Socket } from 'socket.io-client';
import { SvelteMap, SvelteSet } from 'svelte/reactivity';
import { ApiError, plainMessage } from '$lib/api/errors.ts';
import { gql, type Selected } from '$lib/api/graphql.ts';
import { follow, openView, request, socketFor, subscribe } from '$lib/api/live.svelte.ts';
import { session } from '$lib/api/session.svelte.ts';
import { formatAgo } from '$lib/format.ts';

/** The schema's enums, and the evidence types `MATCH_FIELDS` reads every field of. */
export type { MatchDecision, MatchKind, MatchPassage, MatchStatus, MatchedField };
/** What the review page shows: the matches of one status, or the matched sets. */
export type ReviewTab = MatchStatus | 'SETS';

/** A matched document as the review reads it (`DOCUMENT_FIELDS`). */
export type MatchDocument = Selected<Document, 'id' | 'filename' | 'type' | 'sensitivity' | 'createdAt'>;

/** A match as the review reads it (`MATCH_FIELDS`). */
export type Match = Selected<
  SchemaMatch,
  | 'id'
  | 'kind'
  | 'status'
  | 'version'
  | 'score'
  | 'documentAId'
  | 'documentBId'
  | 'passages'
  | 'fields'
  | 'canonicalDocumentId'
  | 'resolvedBy'
  | 'resolvedAt'
  | 'note'
  | 'createdAt'
> & {
  documentA: MatchDocument | null;
  documentB: MatchDocument | null;
  rule: Selected<MatchRule, 'id' | 'name'> | null;
};

/** A matched set as the review reads it (`SETS_QUERY`). */
export type MatchedSet = Selected<SchemaMatchedSet, 'id' | 'documentIds' | 'canonicalDocumentId'> & {
  documents: MatchDocument[];
  matches: Selected<SchemaMatch, 'id' | 'kind' | 'score'>[];
};

/** Someone in the review session (one per browser tab). */
export interface ReviewPresence {
  connectionId: string;
  userId: string | null;
  name: string;
  colour: string;
  matchId: string | null;
}

/** A person, with their tabs folded into one. */
export interface Reviewer {
  key: string;
  name: string;
  email: string;
  colour: string;
  you: boolean;
}

const DOCUMENT_FIELDS = 'id filename type sensitivity createdAt';
const MATCH_FIELDS = `id kind status version score documentAId documentBId
  documentA { ${DOCUMENT_FIELDS} } documentB { ${DOCUMENT_FIELDS} } rule { id name }
  passages { chunkA pageA textA chunkB pageB textB similarity }
  fields { fieldA fieldB valueA valueB comparison }
  canonicalDocumentId resolvedBy resolvedAt note createdAt`;

const MATCHES_QUERY = `query Matches($status: MatchStatus) { matches(status: $status, first: 50) { ${MATCH_FIELDS} } }`;
const MATCH_QUERY = `query Match($id: ID!) { match(id: $id) { ${MATCH_FIELDS} } }`;
const SETS_QUERY = `query MatchedSets { matchedSets { id documentIds canonicalDocumentId
  documents { ${DOCUMENT_FIELDS} } matches { id kind score } } }`;
const MEMBERS_QUERY = '{ members { user { id email name } } }';
const RESOLVE_MUTATION = `mutation Resolve($id: ID!, $decision: MatchDecision!, $baseVersion: Int!, $canonical: ID, $note: String) {
  resolveMatch(id: $id, decision: $decision, baseVersion: $baseVersion, canonicalDocumentId: $canonical, note: $note) { ${MATCH_FIELDS} }
}`;
const MATCH_EVENTS = `subscription MatchEvents { matchEvents { action match { ${MATCH_FIELDS} } } }`;

/** How long a match resolved away from the tab stays in view, showing its new status. */
const LINGER_MS = 8_000;
/** At most one presence message per this many milliseconds (the hub takes 20 a second). */
const PRESENCE_EVERY_MS = 250;

const STATUS_WORDS: Record<MatchStatus, string> = { OPEN: 'Open', CONFIRMED: 'Confirmed', REJECTED: 'Rejected' };

/** "Open", "Confirmed", "Rejected". */
export function statusWord(status: MatchStatus): string {
  return STATUS_WORDS[status];
}

/** "Duplicate", "Related", "Rule: Invoice ↔ order". */
export function kindWord(m: Pick<Match, 'kind' | 'rule'>): string {
  if (m.kind === 'DUPLICATE') return 'Duplicate';
  if (m.kind === 'RELATED') return 'Related';
  return `Rule: ${m.rule?.name ?? 'a deleted rule'}`;
}

/** The copy to keep by default when confirming a duplicate: the older one. */
export function olderDocumentId(m: Match): string {
  const a = m.documentA?.createdAt;
  const b = m.documentB?.createdAt;
  if (a && b && Date.parse(b) < Date.parse(a)) return m.documentBId;
  return m.documentAId;
}

/** The viewer at a passage. */
export function passageHref(documentId: string, page: number, chunk: number): string {
  return `/documents/${encodeURIComponent(documentId)}?page=${page}&chunk=${chunk}`;
}

type MatchEvent = { action: string; match: Match };

/**
 * One review page's state: `show(tab)` loads a tab, `start()` connects the live feed and the
 * review session and answers the function that disconnects them.
 */
export class ReviewStore {
  tab = $state<ReviewTab>('OPEN');
  matches = $state<Match[]>([]);
  sets = $state<MatchedSet[]>([]);
  /** True until the tab's first answer. */
  loading = $state(true);
  error = $state<string | null>(null);
  /** Matches resolved away from this tab, still shown for a moment with their new status. */
  readonly leaving = new SvelteSet<string>();
  /** Others in the review, by connection. */
  readonly presence = new SvelteMap<string, ReviewPresence>();
  /** Display names of the team's members, by user id. */
  readonly names = new SvelteMap<string, string>();

  #ticket = 0;
  /** Events heard while a list was loading, applied once it is in. */
  #pending: MatchEvent[] | null = null;
  #timers = new Map<string, ReturnType<typeof setTimeout>>();
  #setsTimer: ReturnType<typeof setTimeout> | undefined;
  /** The card under the pointer or holding the focus: it does not leave while held. */
  #held: string | null = null;
  #looking: string | null = null;
  #lastSent = 0;
  #presenceTimer: ReturnType<typeof setTimeout> | undefined;
  #connectionId: string | null = null;

  /** Shows another tab (reloading its list). */
  show(tab: ReviewTab): void {
    if (tab === this.tab && this.#ticket > 0) return;
    this.tab = tab;
    this.matches = [];
    this.sets = [];
    this.loading = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.leaving.clear();
    void this.reload();
  }

  /** Reads the tab's list again (on start, on a tab change, after a reconnection). */
  async reload(): Promise<void> {
    const ticket = ++this.#ticket;
    const tab = this.tab;
    this.error = null;
    this.#pending = [];
    try {
      if (tab === 'SETS') {
        const d = await gql<{ matchedSets: MatchedSet[] }>(SETS_QUERY);
        if (ticket !== this.#ticket) return;
        this.sets = d.matchedSets;
      } else {
        const d = await gql<{ matches: Match[] }>(MATCHES_QUERY, { status: tab });
        if (ticket !== this.#ticket) return;
        // Those resolved away a moment ago stay where they were until they leave.
        const lingering = this.matches.filter((m) => this.leaving.has(m.id) && !d.matches.some((x) => x.id === m.id));
        this.matches = mergeByCreated(d.matches, lingering);
      }
      const pending = this.#pending ?? [];
      this.#pending = null;
      for (const e of pending) this.#apply(e);
    } catch (err) {
      if (ticket !== this.#ticket) return;
      this.#pending = null;
      this.error = plainMessage(err);
    } finally {
      if (ticket === this.#ticket) this.loading = false;
    }
  }

  /** Connects the live feed and the review session; answers the function that disconnects. */
  start(): () => void {
    gql<{ members: { user: { id: string; email: string; name: string | null } }[] }>(MEMBERS_QUERY)
      .then((d) => {
        for (const m of d.members) this.names.set(m.user.id, m.user.name || m.user.email);
      })
      .catch(() => undefined);

    const unsubscribe = subscribe<{ matchEvents: MatchEvent }>(
      MATCH_EVENTS,
      {},
      (d) => this.#onEvent(d.matchEvents),
      (err) => {
        this.error = `Live updates stopped: ${plainMessage(err)}`;
      },
    );

    const socket = socketFor('/collab');
    /** Connections seen leaving while a join was under way. */
    const departed = new Set<string>();
    let stopped = false;
    const closeView = openView('review');
    // Only the last open review view in this tab leaves (see openView).
    const leave = (socket: Socket) => {
      if (closeView()) void request(socket, 'review:leave', {}).catch(() => undefined);
    };
    const join = (socket: Socket) => {
      departed.clear();
      request<{ you: ReviewPresence; presence: ReviewPresence[] }>(socket, 'review:join', {})
        .then((state) => {
          // Stopped while the join was under way: a leave sent meanwhile may have reached the hub first.
          if (stopped) {
            leave(socket);
            return;
          }
          this.#connectionId = state.you.connectionId;
          for (const e of state.presence) {
            if (e.connectionId !== this.#connectionId && !this.presence.has(e.connectionId) && !departed.has(e.connectionId)) {
              this.presence.set(e.connectionId, pick(e));
            }
          }
          // The session forgot us while we were away: say again what we are looking at.
          if (this.#looking) this.#sendPresence();
        })
        .catch(() => undefined);
    };
    const onPresence = (p: { session: string; action: 'update' | 'leave'; entry: ReviewPresence }) => {
      if (p.session !== 'review' || p.entry.connectionId === socket.id || p.entry.connectionId === this.#connectionId) return;
      if (p.action === 'leave') {
        this.presence.delete(p.entry.connectionId);
        departed.add(p.entry.connectionId);
      } else this.presence.set(p.entry.connectionId, pick(p.entry));
    };
    const stop = follow('/collab', {
      onConnect: join,
      // Whoever was here may have left while we were away: the next join says who is.
      onDisconnect: () => this.presence.clear(),
      events: { presence: onPresence },
    });

    return () => {
      stopped = true;
      unsubscribe();
      stop();
      closeView();
      if (socket.connected) leave(socket);
      clearTimeout(this.#presenceTimer);
      clearTimeout(this.#setsTimer);
      for (const t of this.#timers.values()) clearTimeout(t);
      this.#timers.clear();
      this.#ticket += 1;
    };
  }

  /**
   * Confirms, rejects or reopens a match as seen. Answers null, or what went wrong in plain
   * words; a CONFLICT says who resolved it how, and the match is read again.
   */
  async resolve(
    m: Match,
    decision: MatchDecision,
    options: { canonicalDocumentId?: string | null; note?: string } = {},
  ): Promise<string | null> {
    try {
      const d = await gql<{ resolveMatch: Match }>(RESOLVE_MUTATION, {
        id: m.id,
        decision,
        baseVersion: m.version,
        canonical: decision === 'CONFIRM' && m.kind === 'DUPLICATE' ? (options.canonicalDocumentId ?? null) : null,
        note: options.note?.trim() || null,
      });
      this.#apply({ action: 'resolved', match: d.resolveMatch });
      return null;
    } catch (err) {
      if (err instanceof ApiError && err.code === 'CONFLICT') {
        await this.refresh(m.id);
        return conflictMessage(err, this.names);
      }
      return plainMessage(err);
    }
  }

  /** Reads one match again and shows it as it is now. */
  async refresh(id: string): Promise<void> {
    try {
      const d = await gql<{ match: Match | null }>(MATCH_QUERY, { id });
      if (d.match) this.#apply({ action: 'resolved', match: d.match });
      else this.#apply({ action: 'removed', match: { id } as Match });
    } catch {
      // The live feed will bring it.
    }
  }

  /** The card a person is looking at (pointer, focus, expanded): told to the others. */
  look(matchId: string): void {
    this.#held = matchId;
    if (matchId === this.#looking) return;
    this.#looking = matchId;
    if (this.#presenceTimer) return;
    const wait = Math.max(0, this.#lastSent + PRESENCE_EVERY_MS - Date.now());
    this.#presenceTimer = setTimeout(() => {
      this.#presenceTimer = undefined;
      this.#sendPresence();
    }, wait);
  }

  /** The pointer or focus left a card (what the others see stays until the next card). */
  release(matchId: string): void {
    if (this.#held === matchId) this.#held = null;
  }

  /** Others looking at a match, one entry per person. */
  reviewersOf(matchId: string): Reviewer[] {
    return this.#people([...this.presence.values()].filter((e) => e.matchId === matchId && e.userId !== session.me?.user.id));
  }

  /** Everyone in the review, you first. */
  everyone(): Reviewer[] {
    const me = session.me?.user;
    const you: Reviewer[] = me ? [{ key: me.id, name: me.name || me.email, email: me.email, colour: 'var(--accent)', you: true }] : [];
    return [...you, ...this.#people([...this.presence.values()].filter((e) => e.userId !== me?.id))];
  }

  /** Who resolved a match, in words. */
  resolvedByName(m: Match): string | null {
    if (!m.resolvedBy) return null;
    if (m.resolvedBy === session.me?.user.id) return 'you';
    return this.names.get(m.resolvedBy) ?? 'someone';
  }

  #people(entries: ReviewPresence[]): Reviewer[] {
    const byPerson = new Map<string, Reviewer>();
    for (const e of entries) {
      const key = e.userId ?? e.connectionId;
      if (byPerson.has(key)) continue;
      const name = (e.userId && this.names.get(e.userId)) || e.name;
      byPerson.set(key, { key, name, email: e.name, colour: e.colour, you: false });
    }
    return [...byPerson.values()];
  }

  #sendPresence(): void {
    this.#lastSent = Date.now();
    const socket = socketFor('/collab');
    if (!socket.connected) return;
    void request(socket, 'presence', { review: true, matchId: this.#looking }).catch(() => undefined);
  }

  #onEvent(e: MatchEvent): void {
    if (this.#pending) this.#pending.push(e);
    else this.#apply(e);
  }

  #apply(e: MatchEvent): void {
    if (this.tab === 'SETS') {
      // Sets change with confirmations; many events may come at once.
      clearTimeout(this.#setsTimer);
      this.#setsTimer = setTimeout(() => void this.reload(), 300);
      return;
    }
    const m = e.match;
    const i = this.matches.findIndex((x) => x.id === m.id);
    if (e.action === 'removed') {
      if (i >= 0) this.matches.splice(i, 1);
      return;
    }
    if (i >= 0) {
      if (m.version < this.matches[i]!.version) return;
      this.matches[i] = m;
      if (m.status === this.tab) this.#stay(m.id);
      else this.#leaveSoon(m.id);
    } else if (m.status === this.tab) {
      this.matches = mergeByCreated(this.matches, [m]);
    }
  }

  #leaveSoon(id: string): void {
    this.leaving.add(id);
    clearTimeout(this.#timers.get(id));
    const check = () => {
      if (this.#held === id) {
        this.#timers.set(id, setTimeout(check, 2_000));
        return;
      }
      this.#timers.delete(id);
      this.leaving.delete(id);
      const i = this.matches.findIndex((x) => x.id === id);
      if (i >= 0 && this.matches[i]!.status !== this.tab) this.matches.splice(i, 1);
    };
    this.#timers.set(id, setTimeout(check, LINGER_MS));
  }

  #stay(id: string): void {
    clearTimeout(this.#timers.get(id));
    this.#timers.delete(id);
    this.leaving.delete(id);
  }
}

/** Newest first, as the hub lists them. */
function mergeByCreated(list: Match[], more: Match[]): Match[] {
  const ids = new Set(list.map((m) => m.id));
  return [...list, ...more.filter((m) => !ids.has(m.id))].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
}

function pick(e: ReviewPresence): ReviewPresence {
  return { connectionId: e.connectionId, userId: e.userId ?? null, name: e.name, colour: e.colour, matchId: e.matchId ?? null };
}

/** "ed@example.org confirmed this match 1 min ago." from a CONFLICT's details. */
function conflictMessage(err: ApiError, names: Map<string, string>): string {
  const current = (err.details as { current?: Record<string, unknown> } | undefined)?.current;
  if (!current) return err.message;
  const status = String(current.status ?? '').toLowerCase();
  const verb = status === 'open' ? 'reopened' : status === 'confirmed' ? 'confirmed' : status === 'rejected' ? 'rejected' : 'changed';
  const byId = typeof current.resolvedBy === 'string' ? current.resolvedBy : null;
  const who =
    byId === session.me?.user.id
      ? 'You'
      : ((byId && names.get(byId)) ?? (typeof current.resolvedByName === 'string' ? current.resolvedByName : null) ?? 'Someone else');
  const at = current.resolvedAt;
  const when = typeof at === 'number' || typeof at === 'string' ? ` ${formatAgo(new Date(at).toISOString())}` : '';
  return `${who} ${verb} this match${when}, before your decision reached Quire. It now shows as it is; decide again if you still want to.`;
}
