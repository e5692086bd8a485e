/**
 * A client of the `/collab` namespace as an application would write one: it keeps a
 * document's annotations, applies operations strictly in sequence order, buffers those that
 * arrive early, closes gaps with `sync`, and joins again with its last sequence number after
 * a reconnection. Tests and benchmarks use it to check what real clients end up seeing.
 */
import { io, type Socket } from 'socket.io-client';

export interface AnnotationState {
  id: string;
  version: number;
  deleted: boolean;
  resolved: boolean;
  label: string | null;
  comment: string | null;
  replies: unknown[];
  [key: string]: unknown;
}

export interface OpEvent {
  documentId: string;
  seq: number;
  opId: string;
  at: number;
  annotation: AnnotationState;
}

type CatchUp = { kind: 'ops'; ops: OpEvent[]; seq: number } | { kind: 'snapshot'; annotations: AnnotationState[]; seq: number };

export interface AnswerError {
  code: string;
  message: string;
  details?: any;
}

export type Answer<T = any> = { ok: true; state: T } | { ok: false; error: AnswerError };

export class CollabClient {
  readonly socket: Socket;
  /** The last sequence number applied. */
  seq = 0;
  /** Annotations by id, tombstones included. */
  readonly annotations = new Map<string, AnnotationState>();
  /** Sequence numbers applied one by one (a snapshot skips over what it covers). */
  readonly applied: number[] = [];
  /** Snapshots received. */
  snapshots = 0;
  /** Successful joins, the first and those after reconnections. */
  joins = 0;
  /** Presence as last heard, by connection id. */
  readonly presence = new Map<string, { name: string; colour: string; page: number | null; [key: string]: unknown }>();
  private readonly early = new Map<number, OpEvent>();
  /** Connections seen leaving since the last join began. */
  private readonly departed = new Set<string>();
  private joined = false;
  private documentId: string | null = null;
  private syncing: Promise<void> | null = null;
  private readonly listeners = new Set<(e: OpEvent) => void>();

  constructor(url: string, auth: { token: string; team?: string }) {
    this.socket = io(`${url}/collab`, { transports: ['websocket'], auth, reconnectionDelay: 100, reconnectionDelayMax: 500 });
    this.socket.on('annotation', (e: OpEvent) => {
      if (e.documentId !== this.documentId) return;
      for (const l of this.listeners) l(e);
      this.receive(e);
    });
    this.socket.on('presence', (p: { session: string; action: 'update' | 'leave'; entry: any }) => {
      if (p.session !== `document:${this.documentId}`) return;
      if (p.action === 'leave') {
        this.presence.delete(p.entry.connectionId);
        this.departed.add(p.entry.connectionId);
      } else this.presence.set(p.entry.connectionId, p.entry);
    });
    // Whoever was here may have left while we were away: the next join answers who is.
    this.socket.on('disconnect', () => this.presence.clear());
    // After a reconnection the server has forgotten the socket: join again from where we were.
    this.socket.io.on('reconnect', () => {
      if (this.documentId) void this.join(this.documentId).catch(() => {});
    });
  }

  /** Calls `listener` with every operation event as it arrives (before ordering). */
  onEvent(listener: (e: OpEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async connected(): Promise<void> {
    if (this.socket.connected) return;
    await new Promise<void>((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('connect_error', reject);
    });
  }

  async request<T = any>(event: string, payload: unknown, timeoutMs = 15_000): Promise<Answer<T>> {
    return this.socket.timeout(timeoutMs).emitWithAck(event, payload);
  }

  /** Joins the document's session from the last sequence number seen (or afresh). */
  async join(documentId: string): Promise<Answer> {
    if (documentId !== this.documentId) this.presence.clear();
    this.documentId = documentId;
    this.joined = false;
    this.departed.clear();
    const answer = await this.request('join', { documentId, since: this.applied.length || this.snapshots ? this.seq : null });
    if (!answer.ok) return answer;
    // Merged, not replaced: someone who arrived after the answer was made is already here, and
    // someone who left after it is gone.
    for (const entry of answer.state.presence) {
      if (!this.presence.has(entry.connectionId) && !this.departed.has(entry.connectionId)) this.presence.set(entry.connectionId, entry);
    }
    this.catchUp(answer.state.catchUp);
    this.joins += 1;
    this.joined = true;
    this.drain();
    return answer;
  }

  async leave(): Promise<void> {
    const documentId = this.documentId;
    this.documentId = null;
    if (documentId) await this.request('leave', { documentId });
  }

  async op(op: Record<string, unknown>): Promise<Answer> {
    return this.request('op', { documentId: this.documentId, op });
  }

  /** Live annotations (tombstones left out), by id. */
  live(): Map<string, AnnotationState> {
    return new Map([...this.annotations].filter(([, a]) => !a.deleted));
  }

  close(): void {
    this.socket.disconnect();
  }

  private catchUp(c: CatchUp): void {
    if (c.kind === 'snapshot') {
      this.snapshots += 1;
      this.annotations.clear();
      for (const a of c.annotations) this.annotations.set(a.id, a);
      this.seq = c.seq;
    } else {
      for (const e of c.ops) if (e.seq === this.seq + 1) this.apply(e);
    }
    for (const s of [...this.early.keys()]) if (s <= this.seq) this.early.delete(s);
  }

  private receive(e: OpEvent): void {
    if (e.seq <= this.seq) return;
    this.early.set(e.seq, e);
    if (this.joined) this.drain();
  }

  private drain(): void {
    while (this.early.has(this.seq + 1)) {
      const e = this.early.get(this.seq + 1)!;
      this.early.delete(e.seq);
      this.apply(e);
    }
    // Operations are published after they are stored, but may arrive out of order: wait a
    // moment for the missing one, then ask for it.
    if (this.early.size > 0 && !this.syncing) {
      this.syncing = new Promise<void>((resolve) => setTimeout(resolve, 200))
        .then(async () => {
          if (this.early.size === 0 || !this.documentId) return;
          const answer = await this.request('sync', { documentId: this.documentId, since: this.seq });
          if (answer.ok) this.catchUp(answer.state.catchUp);
        })
        .catch(() => {})
        .finally(() => {
          this.syncing = null;
          this.drain();
        });
    }
  }

  private apply(e: OpEvent): void {
    this.annotations.set(e.annotation.id, e.annotation);
    this.seq = e.seq;
    this.applied.push(e.seq);
  }
}
