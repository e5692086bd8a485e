/**
 * The dashboard's activity feed: the team's latest annotation operations and match events,
 * newest first, live from the `annotationEvents` and `matchEvents` subscriptions. It opens
 * with the latest matches (the hub keeps no team-wide annotation log to read back), and
 * names people by the team's member list and documents by their file names.
 */
import { gql } from '$lib/api/graphql.ts';
import { subscribe } from '$lib/api/live.svelte.ts';

/** Items the feed keeps. */
export const FEED_SIZE = 20;

export interface FeedDocument {
  id: string;
  filename: string | null;
}

export interface FeedItem {
  key: string;
  at: string;
  kind: 'annotation' | 'match';
  /** Who acted: a member's id, an API key's, or null for Quire itself. */
  actorId: string | null;
  /** What they did, in words, before the document names. */
  what: string;
  documents: FeedDocument[];
  /** A short quote: the annotation's comment or label. */
  quote: string | null;
  tone: '' | 'ok' | 'danger' | 'accent';
}

interface MatchData {
  id: string;
  kind: string;
  status: string;
  version: number;
  documentAId: string;
  documentBId: string;
  documentA: { id: string; filename: string } | null;
  documentB: { id: string; filename: string } | null;
  resolvedBy: string | null;
  resolvedAt: string | null;
  createdAt: string;
}

interface OperationData {
  documentId: string;
  seq: number;
  type: string;
  actorId: string | null;
  at: string;
  annotation: {
    id: string;
    anchor: { kind: string };
    label: string | null;
    comment: string | null;
    resolved: boolean;
    replies: { text: string }[];
  };
}

const MATCH_FIELDS = `id kind status version documentAId documentBId documentA { id filename } documentB { id filename } resolvedBy resolvedAt createdAt`;

const KIND_WORDS: Record<string, string> = { DUPLICATE: 'duplicate', RELATED: 'related documents', RULE: 'rule' };

function clip(text: string | null | undefined, n = 90): string | null {
  if (!text) return null;
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > n ? `${t.slice(0, n - 1)}…` : t || null;
}

export class ActivityFeed {
  items = $state<FeedItem[]>([]);
  error = $state<string | null>(null);
  /** Documents' file names by id, filled as items name them. */
  filenames = $state<Record<string, string | null>>({});

  /** Members' names (else emails) by id. */
  people = $state<Record<string, string>>({});

  #asked = new Set<string>();

  /** Starts listening; answers the function that stops. */
  start(): () => void {
    void this.#loadPeople();
    void this.reload();
    const stops = [
      subscribe<{ annotationEvents: OperationData }>(
        `subscription { annotationEvents { documentId seq type actorId at annotation { id anchor { kind } label comment resolved replies { text } } } }`,
        {},
        (data) => this.#add([this.#fromOperation(data.annotationEvents)]),
        (err) => (this.error = err.message),
      ),
      subscribe<{ matchEvents: { action: string; match: MatchData } }>(
        `subscription { matchEvents { action match { ${MATCH_FIELDS} } } }`,
        {},
        (data) => this.#add([this.#fromMatch(data.matchEvents.action, data.matchEvents.match)]),
        (err) => (this.error = err.message),
      ),
    ];
    return () => stops.forEach((stop) => stop());
  }

  /** Reads the latest matches again (at the start, and after a lost connection came back). */
  async reload(): Promise<void> {
    try {
      const data = await gql<{ matches: MatchData[] }>(`query { matches(first: ${FEED_SIZE}) { ${MATCH_FIELDS} } }`);
      const items: FeedItem[] = [];
      for (const m of data.matches) {
        items.push(this.#fromMatch('proposed', m));
        if (m.status !== 'OPEN' && m.resolvedAt) items.push(this.#fromMatch('resolved', m));
      }
      this.#add(items);
    } catch {
      // The live events still arrive; the feed only starts emptier.
    }
  }

  /** Who acted, in words: Quire itself, a member, or "Someone" (an API key, a former member). */
  who(item: FeedItem): string {
    return item.actorId === null ? 'Quire' : (this.people[item.actorId] ?? 'Someone');
  }

  /** The file name of a document, or null while unknown. */
  filename(doc: FeedDocument): string | null {
    return doc.filename ?? this.filenames[doc.id] ?? null;
  }

  async #loadPeople(): Promise<void> {
    try {
      const data = await gql<{ members: { user: { id: string; email: string; name: string | null } }[] }>(
        'query { members { user { id email name } } }',
      );
      this.people = Object.fromEntries(data.members.map((m) => [m.user.id, m.user.name || m.user.email]));
    } catch {
      // Unknown people read "Someone".
    }
  }

  #fromOperation(op: OperationData): FeedItem {
    const a = op.annotation;
    const thing = a.anchor.kind === 'BOX' ? 'a box' : 'a highlight';
    const what: Record<string, string> = {
      create: `added ${thing} to`,
      edit: `edited ${thing} on`,
      delete: `deleted ${thing} on`,
      resolve: a.resolved ? `resolved ${thing} on` : `reopened ${thing} on`,
      reply: `replied to ${thing} on`,
    };
    const quote = op.type === 'reply' ? clip(a.replies.at(-1)?.text) : (clip(a.comment) ?? (a.label ? `Label: ${a.label}` : null));
    this.#askFilename(op.documentId);
    return {
      key: `a:${op.documentId}:${op.seq}`,
      at: op.at,
      kind: 'annotation',
      actorId: op.actorId,
      what: what[op.type] ?? `changed ${thing} on`,
      documents: [{ id: op.documentId, filename: null }],
      quote: op.type === 'delete' ? null : quote,
      tone: op.type === 'delete' ? 'danger' : op.type === 'resolve' ? 'ok' : '',
    };
  }

  #fromMatch(action: string, m: MatchData): FeedItem {
    const kind = KIND_WORDS[m.kind] ?? m.kind.toLowerCase();
    const documents = [
      { id: m.documentAId, filename: m.documentA?.filename ?? null },
      { id: m.documentBId, filename: m.documentB?.filename ?? null },
    ];
    if (action === 'resolved') {
      const verb = m.status === 'CONFIRMED' ? 'confirmed' : m.status === 'REJECTED' ? 'rejected' : 'reopened';
      return {
        key: `m:${m.id}:resolved:${m.version}`,
        at: m.resolvedAt ?? new Date().toISOString(),
        kind: 'match',
        actorId: m.resolvedBy,
        what: `${verb} a ${kind} match:`,
        documents,
        quote: null,
        tone: m.status === 'CONFIRMED' ? 'ok' : m.status === 'REJECTED' ? 'danger' : '',
      };
    }
    if (action === 'removed') {
      return {
        key: `m:${m.id}:removed`,
        at: new Date().toISOString(),
        kind: 'match',
        actorId: null,
        what: `withdrew a ${kind} match:`,
        documents,
        quote: null,
        tone: '',
      };
    }
    return {
      key: `m:${m.id}:proposed`,
      at: m.createdAt,
      kind: 'match',
      actorId: null,
      what: `proposed a ${kind} match:`,
      documents,
      quote: null,
      tone: 'accent',
    };
  }

  #add(items: FeedItem[]): void {
    const byKey = new Map(this.items.map((i) => [i.key, i]));
    for (const item of items) byKey.set(item.key, item);
    this.items = [...byKey.values()].sort((a, b) => Date.parse(b.at) - Date.parse(a.at)).slice(0, FEED_SIZE);
  }

  #askFilename(id: string): void {
    if (this.#asked.has(id)) return;
    this.#asked.add(id);
    gql<{ document: { filename: string } | null }>('query($id: ID!) { document(id: $id) { filename } }', { id })
      .then((data) => (this.filenames = { ...this.filenames, [id]: data.document?.filename ?? null }))
      .catch(() => undefined);
  }
}
