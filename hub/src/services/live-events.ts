/**
 * Live events of the hub: job progress, document changes, annotation operations, presence in
 * live sessions and match changes. They are published on the bus
 * (so every hub replica sees them) and fanned out locally, once per replica, to Socket.IO
 * rooms and GraphQL subscriptions through {@link LiveEvents.on}.
 */
import { EventEmitter, on } from 'node:events';
import type { Logger } from 'pino';
import { publishEvent, type Bus, type Subscription } from '@quire/bus';
import {
  DocumentEventKind,
  Events,
  type AnnotationEvent,
  type MatchEvent,
  type PresenceEvent,
  documentEventKind,
  documentEventSchema,
  progressEventSchema,
  type DocumentStatus,
  type ProgressEvent,
} from '@quire/kernel';
import type { TeamScope } from '../store/store.ts';

/** A change of a document's state, as clients see it. */
export interface DocumentEvent {
  teamId: string;
  documentId: string;
  jobId: string | null;
  status: DocumentStatus | 'deleted';
  error: { code: string; message: string; stage: string | null } | null;
  at: number;
}

export type LiveEvent =
  | { kind: 'progress'; event: ProgressEvent }
  | { kind: 'document'; event: DocumentEvent }
  | { kind: 'annotation'; event: AnnotationEvent }
  | { kind: 'presence'; event: PresenceEvent }
  | { kind: 'match'; event: MatchEvent };

/** The other events, each with its bus definition. */
const collabEvents = {
  annotation: Events.AnnotationChanged,
  presence: Events.PresenceChanged,
  match: Events.MatchChanged,
} as const;

const documentEvents = {
  [DocumentEventKind.Queued]: Events.DocumentQueued,
  [DocumentEventKind.Processing]: Events.DocumentProcessing,
  [DocumentEventKind.Processed]: Events.DocumentProcessed,
  [DocumentEventKind.Failed]: Events.DocumentFailed,
  [DocumentEventKind.Deleted]: Events.DocumentDeleted,
} as const;

/** Every team's events: each replica fans them out to its own clients. */
const ALL_EVENTS = 'events.>';

export class LiveEvents {
  private readonly local = new EventEmitter({ captureRejections: false });
  private subscription: Subscription | undefined;

  constructor(private readonly deps: { bus: Bus; logger: Logger }) {
    // Every Socket.IO room and GraphQL subscription listens here; there may be many.
    this.local.setMaxListeners(0);
  }

  /** Subscribes this replica to every team's events on the bus. */
  async start(): Promise<void> {
    this.subscription = await this.deps.bus.subscribe<unknown>(ALL_EVENTS, (envelope) => {
      const live = parse(envelope.subject, envelope.payload);
      if (live) this.local.emit('event', live);
      else this.deps.logger.warn({ subject: envelope.subject }, 'ignored malformed live event');
    });
  }

  async close(): Promise<void> {
    await this.subscription?.close();
    this.local.removeAllListeners();
  }

  async progress(event: ProgressEvent): Promise<void> {
    await publishEvent(this.deps.bus, Events.JobProgressed, event.teamId, event);
  }

  async documentChanged(
    scope: TeamScope,
    change: { documentId: string; jobId: string | null; status: DocumentEvent['status']; error?: DocumentEvent['error'] },
  ): Promise<void> {
    await publishEvent(this.deps.bus, documentEvents[change.status], scope.teamId, {
      kind: change.status,
      teamId: scope.teamId,
      documentId: change.documentId,
      ...(change.jobId ? { jobId: change.jobId } : {}),
      ...(change.error ? { error: change.error } : {}),
      at: Date.now(),
    });
  }

  /** An accepted annotation operation; published after it was persisted. */
  async annotationChanged(event: AnnotationEvent): Promise<void> {
    await publishEvent(this.deps.bus, Events.AnnotationChanged, event.teamId, event);
  }

  async presenceChanged(event: PresenceEvent): Promise<void> {
    await publishEvent(this.deps.bus, Events.PresenceChanged, event.teamId, event);
  }

  async matchChanged(event: MatchEvent): Promise<void> {
    await publishEvent(this.deps.bus, Events.MatchChanged, event.teamId, event);
  }

  /** Calls `listener` for every live event until the returned function is called. */
  listen(listener: (event: LiveEvent) => void): () => void {
    this.local.on('event', listener);
    return () => this.local.off('event', listener);
  }

  /** Async iteration over live events matching `filter`, ended by `signal`. */
  async *stream(filter: (event: LiveEvent) => boolean, signal: AbortSignal): AsyncGenerator<LiveEvent> {
    try {
      for await (const [event] of on(this.local, 'event', { signal })) {
        if (filter(event as LiveEvent)) yield event as LiveEvent;
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
  }
}

function parse(subject: string, payload: unknown): LiveEvent | undefined {
  if (subject.endsWith(`.${Events.JobProgressed.name}`)) {
    const r = progressEventSchema.safeParse(payload);
    return r.success ? { kind: 'progress', event: r.data } : undefined;
  }
  for (const [kind, definition] of Object.entries(collabEvents)) {
    if (!subject.endsWith(`.${definition.name}`)) continue;
    const r = definition.schema.safeParse(payload);
    return r.success ? ({ kind, event: r.data } as LiveEvent) : undefined;
  }
  if (!documentEventKind(subject)) return undefined;
  const r = documentEventSchema.safeParse(payload);
  if (!r.success) return undefined;
  const e = r.data;
  return {
    kind: 'document',
    event: {
      teamId: e.teamId,
      documentId: e.documentId,
      jobId: e.jobId ?? null,
      status: e.kind,
      error: e.error ? { code: e.error.code, message: e.error.message, stage: e.error.stage ?? null } : null,
      at: e.at,
    },
  };
}
