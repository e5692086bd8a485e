/**
 * The live session of one document on the hub's `/collab` namespace: its annotations, who
 * else is looking at it and where, and the operations this tab sends.
 *
 * Annotations are applied strictly in the order of the document's log (`seq`): events that
 * arrive early wait in a buffer, a gap that does not close by itself is filled with `sync`,
 * and a snapshot replaces everything (one older than what is applied is ignored). The session
 * joins with the last `seq` it applied when it starts and again after every reconnection, so
 * what it shows is always the hub's state.
 * Operations carry a fresh `opId`; one whose answer was lost is sent again with the same id
 * (the hub answers the first acceptance). An edit, resolve or delete based on a version that
 * is no longer current comes back as a {@link Conflict} for the person to settle.
 */
import type { Socket } from 'socket.io-client';
import { SvelteMap } from 'svelte/reactivity';
import { ApiError, plainMessage } from '$lib/api/errors.ts';
import { follow, openView, request, socketFor } from '$lib/api/live.svelte.ts';

/** A rectangle in page pixels, origin top-left. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Where an annotation sits: a character range of a chunk's text, or a box on a page. */
export type AnnotationAnchor =
  { kind: 'highlight'; chunkOrdinal: number; start: number; end: number } | { kind: 'box'; page: number; box: Box };

export interface AnnotationReply {
  id: string;
  authorId: string | null;
  text: string;
  /** Epoch milliseconds. */
  at: number;
}

/** An annotation as the hub holds it (times in epoch milliseconds). */
export interface Annotation {
  id: string;
  documentId: string;
  version: number;
  anchor: AnnotationAnchor;
  label: string | null;
  comment: string | null;
  replies: AnnotationReply[];
  resolved: boolean;
  deleted: boolean;
  createdBy: string | null;
  createdAt: number;
  updatedBy: string | null;
  updatedAt: number;
}

/** An accepted operation, as the `annotation` event and the `op` answer carry it. */
export interface AnnotationEvent {
  documentId: string;
  seq: number;
  opId: string;
  actorId: string | null;
  at: number;
  annotation: Annotation;
}

type CatchUp = { kind: 'ops'; ops: AnnotationEvent[]; seq: number } | { kind: 'snapshot'; annotations: Annotation[]; seq: number };

/** Someone (one browser tab) in the session. */
export interface PresenceEntry {
  connectionId: string;
  userId: string | null;
  name: string;
  colour: string;
  page: number | null;
  cursor: { x: number; y: number } | null;
  selection: AnnotationAnchor | null;
  at: number;
}

/** What this tab tells the others about where it is looking. */
export interface PresenceState {
  page?: number | null;
  cursor?: { x: number; y: number } | null;
  selection?: AnnotationAnchor | null;
}

/** What an edit may change. */
export interface AnnotationChanges {
  label?: string | null;
  comment?: string | null;
  anchor?: AnnotationAnchor;
}

/** An operation the hub refused because someone changed the annotation first. */
export type StaleOp =
  | { type: 'edit'; annotationId: string; changes: AnnotationChanges }
  | { type: 'resolve'; annotationId: string; resolved: boolean }
  | { type: 'delete'; annotationId: string };

/** A refused operation beside the annotation as it is now, for the person to choose. */
export interface Conflict {
  id: string;
  mine: StaleOp;
  /** The annotation as the hub holds it now; null when it no longer exists. */
  theirs: Annotation | null;
}

/** What an operation came to: accepted, or set aside as a conflict. */
export type OpOutcome = { ok: true; annotation: Annotation } | { ok: false; conflict: Conflict };

interface JoinState {
  you: PresenceEntry;
  presence: PresenceEntry[];
  catchUp: CatchUp;
}

/** How often this tab tells where it is, at most (the hub accepts 20 a second). */
const PRESENCE_INTERVAL_MS = 100;
/** How long an early event waits for the ones before it before the session asks for them. */
const GAP_WAIT_MS = 200;
/** Times an operation is sent when its answer does not arrive. */
const SEND_ATTEMPTS = 4;

/** A random id: `crypto.randomUUID` where the page is a secure context, else built from random bytes. */
export function newId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export class CollabSession {
  readonly documentId: string;
  /** Annotations by id, tombstones included. */
  readonly annotations = new SvelteMap<string, Annotation>();
  /** Everyone in the session, this tab included, by connection id. */
  readonly presence = new SvelteMap<string, PresenceEntry>();
  /** This tab's connection id once joined. */
  you = $state<string | null>(null);
  joined = $state(false);
  /** Why the session is not live (refused, access ended), in plain words. */
  error = $state<string | null>(null);
  /** Refused operations waiting for the person's choice. */
  conflicts = $state<Conflict[]>([]);

  /** Live annotations, oldest first. */
  readonly live = $derived([...this.annotations.values()].filter((a) => !a.deleted).sort((a, b) => a.createdAt - b.createdAt));

  /** The last sequence number applied. */
  seq = 0;
  #hasState = false;
  readonly #early = new Map<number, AnnotationEvent>();
  /** Connections seen leaving since the last join began. */
  readonly #departed = new Set<string>();
  #syncing = false;
  #closed = false;
  #socket: Socket | null = null;
  #stop: (() => void) | null = null;
  #closeView: (() => boolean) | null = null;
  /** Where this tab is, all of it, to tell again after a rejoin. */
  #mine: PresenceState = {};
  #presenceDirty = false;
  #presenceTimer: ReturnType<typeof setTimeout> | undefined;
  #lastPresenceAt = 0;

  constructor(documentId: string) {
    this.documentId = documentId;
  }

  /** Opens the session: joins now if connected, and again after every reconnection. */
  start(): void {
    this.#socket = socketFor('/collab');
    this.#closeView = openView(`document:${this.documentId}`);
    this.#stop = follow('/collab', {
      onConnect: () => void this.#join(),
      onDisconnect: this.#onDisconnect,
      events: { annotation: this.#onAnnotation, presence: this.#onPresence, 'access:ended': this.#onAccessEnded },
    });
  }

  /** Leaves the session and stops listening. */
  destroy(): void {
    this.#closed = true;
    clearTimeout(this.#presenceTimer);
    this.#stop?.();
    this.#stop = null;
    this.#closeView?.();
    if (this.#socket?.connected) this.#leave(this.#socket);
  }

  /** Creates an annotation; answers it as the hub accepted it. */
  async create(anchor: AnnotationAnchor, label: string | null, comment: string | null): Promise<Annotation> {
    const record = await this.#send({ type: 'create', annotationId: newId(), anchor, label, comment });
    return record.annotation;
  }

  /** Changes label, comment or anchor of the annotation as it was at `baseVersion`. */
  edit(annotationId: string, baseVersion: number, changes: AnnotationChanges): Promise<OpOutcome> {
    return this.#stale({ type: 'edit', annotationId, changes }, baseVersion);
  }

  /** Marks the annotation resolved (or open again). */
  resolve(annotationId: string, baseVersion: number, resolved: boolean): Promise<OpOutcome> {
    return this.#stale({ type: 'resolve', annotationId, resolved }, baseVersion);
  }

  /** Deletes the annotation. */
  remove(annotationId: string, baseVersion: number): Promise<OpOutcome> {
    return this.#stale({ type: 'delete', annotationId }, baseVersion);
  }

  /** Adds a reply; it applies to the current version, so only a deleted annotation refuses it. */
  async reply(annotationId: string, text: string): Promise<Annotation> {
    const baseVersion = this.annotations.get(annotationId)?.version ?? 1;
    const record = await this.#send({ type: 'reply', annotationId, baseVersion, text });
    return record.annotation;
  }

  /** Settles a conflict by dropping this tab's change. */
  keepTheirs(conflictId: string): void {
    this.conflicts = this.conflicts.filter((c) => c.id !== conflictId);
  }

  /** Settles a conflict by sending this tab's change again over the current version. */
  async useMine(conflictId: string): Promise<OpOutcome> {
    const conflict = this.conflicts.find((c) => c.id === conflictId);
    if (!conflict) throw new ApiError('NOT_FOUND', 'This conflict was settled already');
    if (!conflict.theirs || conflict.theirs.deleted)
      throw new ApiError('CONFLICT', 'The annotation was deleted; there is nothing to apply your change to.');
    this.conflicts = this.conflicts.filter((c) => c.id !== conflictId);
    return this.#stale(conflict.mine, conflict.theirs.version);
  }

  /** Tells the others where this tab is looking; sent at most ten times a second. */
  setPresence(state: PresenceState): void {
    this.#mine = { ...this.#mine, ...state };
    this.#presenceDirty = true;
    this.#schedulePresence();
  }

  /** People in the session other than this tab. */
  others(): PresenceEntry[] {
    return [...this.presence.values()].filter((p) => p.connectionId !== this.you);
  }

  #onDisconnect = () => {
    // Whoever was here may leave while we are away: the next join answers who is.
    this.joined = false;
    this.presence.clear();
  };

  #onAnnotation = (e: AnnotationEvent) => {
    if (e.documentId !== this.documentId) return;
    this.#receive(e);
  };

  #onPresence = (p: { session: string; action: 'update' | 'leave'; entry: PresenceEntry }) => {
    if (p.session !== `document:${this.documentId}`) return;
    if (p.action === 'leave') {
      this.presence.delete(p.entry.connectionId);
      this.#departed.add(p.entry.connectionId);
    } else this.presence.set(p.entry.connectionId, p.entry);
  };

  #onAccessEnded = (e: { code?: string; message?: string }) => {
    this.joined = false;
    this.presence.clear();
    this.error = plainMessage(new ApiError(e.code ?? 'FORBIDDEN', e.message ?? 'Access ended'));
  };

  async #join(): Promise<void> {
    const socket = this.#socket;
    if (this.#closed || !socket) return;
    this.joined = false;
    this.#departed.clear();
    try {
      const state = await request<JoinState>(socket, 'join', { documentId: this.documentId, since: this.#hasState ? this.seq : null });
      // Closed while the join was under way: a leave sent meanwhile may have reached the hub first.
      if (this.#closed) {
        this.#leave(socket);
        return;
      }
      this.you = state.you.connectionId;
      // Merged, not replaced: someone who arrived after the answer was made is already here,
      // and someone who left after it is gone.
      for (const entry of state.presence) {
        if (!this.presence.has(entry.connectionId) && !this.#departed.has(entry.connectionId)) this.presence.set(entry.connectionId, entry);
      }
      if (!this.presence.has(state.you.connectionId)) this.presence.set(state.you.connectionId, state.you);
      this.#catchUp(state.catchUp);
      this.joined = true;
      this.error = null;
      this.#drain();
      // The hub forgot where this tab was: tell it again.
      if (Object.keys(this.#mine).length > 0) {
        this.#presenceDirty = true;
        this.#schedulePresence();
      }
    } catch (err) {
      if (!this.#closed) this.error = plainMessage(err);
    }
  }

  #leave(socket: Socket): void {
    // Another view of this document opened since: the session is still this tab's.
    if (!(this.#closeView?.() ?? true)) return;
    void request(socket, 'leave', { documentId: this.documentId }).catch(() => undefined);
  }

  #catchUp(c: CatchUp): void {
    if (c.kind === 'snapshot') {
      // Older than what is applied already (an answer overtaken by live events): nothing to learn.
      if (this.#hasState && c.seq < this.seq) return;
      this.annotations.clear();
      for (const a of c.annotations) this.annotations.set(a.id, a);
      this.seq = c.seq;
    } else {
      for (const e of [...c.ops].sort((a, b) => a.seq - b.seq)) if (e.seq === this.seq + 1) this.#apply(e);
    }
    this.#hasState = true;
    for (const s of [...this.#early.keys()]) if (s <= this.seq) this.#early.delete(s);
  }

  #receive(e: AnnotationEvent): void {
    if (e.seq <= this.seq) return;
    this.#early.set(e.seq, e);
    if (this.joined) this.#drain();
  }

  #drain(): void {
    while (this.#early.has(this.seq + 1)) {
      const e = this.#early.get(this.seq + 1)!;
      this.#early.delete(e.seq);
      this.#apply(e);
    }
    for (const s of [...this.#early.keys()]) if (s <= this.seq) this.#early.delete(s);
    // Operations are published after they are stored but may arrive out of order: wait a
    // moment for the missing one, then ask for it.
    if (this.#early.size > 0 && !this.#syncing) {
      this.#syncing = true;
      setTimeout(() => void this.#sync(), GAP_WAIT_MS);
    }
  }

  /** Reads the log past `seq`; `force` asks even when no event is waiting (a conflict showed the hub is ahead). */
  async #sync(force = false): Promise<void> {
    try {
      const socket = this.#socket;
      if ((!force && this.#early.size === 0) || this.#closed || !socket) return;
      const state = await request<{ catchUp: CatchUp }>(socket, 'sync', { documentId: this.documentId, since: this.seq });
      if (!this.#closed) this.#catchUp(state.catchUp);
    } catch {
      // The next event or the next join tries again.
    } finally {
      this.#syncing = false;
      if (!this.#closed && this.joined) this.#drain();
    }
  }

  #catchUpSoon(): void {
    if (this.#syncing || !this.joined) return;
    this.#syncing = true;
    void this.#sync(true);
  }

  #apply(e: AnnotationEvent): void {
    this.annotations.set(e.annotation.id, e.annotation);
    this.seq = e.seq;
    this.#hasState = true;
  }

  /** Sends an operation that names a base version; a CONFLICT becomes a {@link Conflict}. */
  async #stale(mine: StaleOp, baseVersion: number): Promise<OpOutcome> {
    const op: Record<string, unknown> =
      mine.type === 'edit'
        ? { type: 'edit', annotationId: mine.annotationId, baseVersion, ...mine.changes }
        : mine.type === 'resolve'
          ? { type: 'resolve', annotationId: mine.annotationId, baseVersion, resolved: mine.resolved }
          : { type: 'delete', annotationId: mine.annotationId, baseVersion };
    try {
      const record = await this.#send(op);
      return { ok: true, annotation: record.annotation };
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== 'CONFLICT') throw err;
      const theirs = ((err.details as { current?: Annotation | null } | undefined)?.current ?? null) as Annotation | null;
      const conflict: Conflict = { id: newId(), mine, theirs };
      // One open conflict per annotation: the newest refusal says the most.
      this.conflicts = [...this.conflicts.filter((c) => c.mine.annotationId !== mine.annotationId), conflict];
      const local = this.annotations.get(mine.annotationId);
      if (theirs && (!local || local.version < theirs.version)) this.#catchUpSoon();
      return { ok: false, conflict };
    }
  }

  /** Sends one operation; a lost answer is asked again with the same `opId`. */
  async #send(op: Record<string, unknown>): Promise<AnnotationEvent> {
    const socket = this.#socket;
    if (!socket) throw new ApiError('NETWORK', 'The live session is not open');
    const payload = { documentId: this.documentId, op: { ...op, opId: newId() } };
    for (let attempt = 1; ; attempt += 1) {
      try {
        const record = await request<AnnotationEvent>(socket, 'op', payload);
        // The same record arrives as an event too; whichever comes first is applied in order.
        this.#receive(record);
        return record;
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== 'NETWORK' || attempt >= SEND_ATTEMPTS || this.#closed) throw err;
        await this.#connected();
      }
    }
  }

  /** Resolves once the socket is connected (or after a while, to try anyway). */
  #connected(): Promise<void> {
    const socket = this.#socket;
    if (!socket || socket.connected) return new Promise((r) => setTimeout(r, 300));
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        socket.off('connect', done);
        resolve();
      };
      const timer = setTimeout(done, 10_000);
      socket.on('connect', done);
    });
  }

  #schedulePresence(): void {
    if (this.#presenceTimer !== undefined || this.#closed) return;
    const wait = Math.max(0, this.#lastPresenceAt + PRESENCE_INTERVAL_MS - Date.now());
    this.#presenceTimer = setTimeout(() => {
      this.#presenceTimer = undefined;
      this.#flushPresence();
    }, wait);
  }

  #flushPresence(): void {
    const socket = this.#socket;
    // Sent after the next join instead: the hub refuses presence before it.
    if (!this.#presenceDirty || !this.joined || !socket || this.#closed) return;
    this.#presenceDirty = false;
    this.#lastPresenceAt = Date.now();
    void request(socket, 'presence', { documentId: this.documentId, ...this.#mine }).catch(() => undefined);
  }
}
