/**
 * Every queue and event subject of Quire, each with its payload schema, and the subject
 * syntax shared by all bus adapters.
 *
 * Subjects are logical: adapters may put a namespace in front (NatsBus prepends its
 * `prefix`), never change them otherwise. Layout:
 *
 * | subject                                   | kind  | payload          |
 * |-------------------------------------------|-------|------------------|
 * | `document.process`                        | queue | {@link ProcessJob} |
 * | `document.result`                         | queue | {@link ProcessResult} |
 * | `events.<teamId>.job.progressed`          | event | {@link ProgressEvent} |
 * | `events.<teamId>.document.<kind>`         | event | {@link DocumentEvent} (`queued`, `processing`, `processed`, `failed`, `deleted`) |
 * | `events.<teamId>.annotation.changed`      | event | {@link AnnotationEvent} |
 * | `events.<teamId>.presence.changed`        | event | {@link PresenceEvent} |
 * | `events.<teamId>.match.changed`           | event | {@link MatchEvent} |
 * | `dead-letter.<queue>`                     | event | {@link DeadLetterEvent} |
 * | `node.heartbeat`                          | event | {@link NodeHeartbeat} |
 *
 * The team id is the second token of every team event subject, so `events.<teamId>.>` is one
 * team's whole feed and `events.*.document.>` every team's document events. Events of the
 * processing fleet itself belong to no team: they are {@link SystemEvents}.
 */
import { z } from 'zod';
import { ValidationError } from './errors.ts';
import { processJobSchema, processResultSchema, progressEventSchema } from './protocol.ts';
import type { ProcessJob, ProcessResult, ProgressEvent } from './protocol.ts';
import { annotationEventSchema, matchEventSchema, presenceEventSchema } from './collab-events.ts';
import type { AnnotationEvent, MatchEvent, PresenceEvent } from './collab-events.ts';

// --- syntax ------------------------------------------------------------------------------

/**
 * A literal subject token: letters, digits, `_` and `-`. Team ids (uuids, nanoids) fit;
 * `.`, `*`, `>` and whitespace would change what a subscriber's pattern matches.
 */
const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

/** Whether `token` may be used as one token of a subject. */
export function isSubjectToken(token: string): boolean {
  return TOKEN.test(token);
}

/** Returns `token`, or throws a {@link ValidationError} naming `what` when it is not a safe token. */
export function assertSubjectToken(token: string, what: string): string {
  if (!isSubjectToken(token)) {
    throw new ValidationError(
      `${what} ${JSON.stringify(token)} is not a valid subject token (letters, digits, '_' or '-', 1-128 characters)`,
      {
        code: 'INVALID_SUBJECT',
      },
    );
  }
  return token;
}

/**
 * Checks a dot-separated subject. With `wildcards`, a token may be `*` (exactly one token)
 * and the last token may be `>` (one or more tokens): a subscription pattern.
 * @throws ValidationError with code `INVALID_SUBJECT`.
 */
export function assertSubject(subject: string, options: { wildcards: boolean }): string {
  const tokens = subject.split('.');
  const ok =
    subject.length <= 512 &&
    tokens.every((t, i) => TOKEN.test(t) || (options.wildcards && (t === '*' || (t === '>' && i === tokens.length - 1))));
  if (!ok) {
    const kind = options.wildcards ? 'subject pattern' : 'subject';
    throw new ValidationError(`invalid ${kind} ${JSON.stringify(subject)}`, { code: 'INVALID_SUBJECT' });
  }
  return subject;
}

/**
 * NATS wildcard matching, the one implementation every in-process subscriber uses:
 * `*` matches exactly one token, a trailing `>` one or more.
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const token = p[i];
    if (token === '>') return s.length > i;
    if (i >= s.length) return false;
    if (token !== '*' && token !== s[i]) return false;
  }
  return p.length === s.length;
}

// --- payloads defined here ---------------------------------------------------------------

/** Document lifecycle events, past tense; the kind is the last subject token. */
export const DocumentEventKind = {
  Queued: 'queued',
  Processing: 'processing',
  Processed: 'processed',
  Failed: 'failed',
  Deleted: 'deleted',
} as const;
export type DocumentEventKind = (typeof DocumentEventKind)[keyof typeof DocumentEventKind];

/** Payload of `events.<teamId>.document.<kind>`. */
export const documentEventSchema = z.object({
  kind: z.enum(['queued', 'processing', 'processed', 'failed', 'deleted']),
  documentId: z.string().min(1),
  teamId: z.string().min(1),
  /** The processing job this event belongs to, when there is one. */
  jobId: z.string().optional(),
  /** Why processing failed, and in which stage when known; only on `failed`. */
  error: z.object({ code: z.string(), message: z.string(), stage: z.string().nullable().optional() }).optional(),
  /** Epoch ms when it happened. */
  at: z.number(),
});
export type DocumentEvent = z.infer<typeof documentEventSchema>;

/**
 * Payload of `dead-letter.<queue>`: a job that ran out of attempts or failed non-retryably
 * (the bus's `DeadLetter`).
 */
export const deadLetterEventSchema = z.object({
  envelope: z.object({
    id: z.string(),
    queue: z.string(),
    payload: z.unknown(),
    correlationId: z.string(),
    enqueuedAt: z.number(),
  }),
  attempts: z.number().int(),
  code: z.string(),
  message: z.string(),
});
export type DeadLetterEvent = z.infer<typeof deadLetterEventSchema>;

/** Where a node's pipeline runs: the CPU, or a GPU through onnxruntime's CUDA execution provider. */
export const NodeDevice = {
  Cpu: 'cpu',
  Gpu: 'gpu',
} as const;
export type NodeDevice = (typeof NodeDevice)[keyof typeof NodeDevice];

const boundedId = z.string().min(1).max(256);

/**
 * Payload of `node.heartbeat`: a processing node announcing itself, every `intervalMs`, with
 * what it can do and what it is doing. Hubs forget a node after three missed intervals, and
 * at once when it says it is `leaving`. Every field is bounded, so one heartbeat stays small.
 */
export const nodeHeartbeatSchema = z.object({
  /** Stable for the life of the process; the same id its progress events carry in `node`. */
  nodeId: boundedId,
  /** Host name of the machine. */
  host: boundedId,
  pid: z.number().int().nonnegative(),
  /** What the process runs, e.g. `hub` and `processor` for the embedded default. */
  roles: z.array(z.string().min(1).max(32)).max(8),
  device: z.enum(['cpu', 'gpu']),
  /** onnxruntime's execution provider in use (`cpu`, `cuda`); null while no worker is ready. */
  executionProvider: z.string().min(1).max(32).nullable(),
  /** Ids of the models it has loaded. */
  models: z.array(boundedId).max(32),
  /** Jobs it runs at once. */
  concurrency: z.number().int().min(1).max(4096),
  /** Jobs running now, every team's. */
  activeJobs: z.number().int().nonnegative(),
  /** Jobs it finished with the document processed since it started, every team's. */
  jobsDone: z.number().int().nonnegative(),
  /** Version of the processing code it runs. */
  version: z.string().min(1).max(64),
  /** Epoch ms when it started. */
  startedAt: z.number(),
  /** Epoch ms when this heartbeat was sent, by the node's clock. */
  at: z.number(),
  /** How often it sends a heartbeat, in ms. */
  intervalMs: z.number().int().min(10).max(600_000),
  /** Set on its last heartbeat, sent on a graceful shutdown: forget it now. */
  leaving: z.boolean().optional(),
});
export type NodeHeartbeat = z.infer<typeof nodeHeartbeatSchema>;

// --- definitions ---------------------------------------------------------------------------

/** A queue: its name and the schema every job payload on it satisfies. */
export interface QueueDefinition<P> {
  readonly name: string;
  readonly schema: z.ZodType<P>;
}

/**
 * A family of team-scoped event subjects: `subject(teamId)` builds the concrete subject,
 * `pattern(teamId?)` the subscription that matches one team or, without an argument, all.
 */
export interface EventDefinition<P> {
  /** The subject without its team, e.g. `document.processed`. */
  readonly name: string;
  readonly schema: z.ZodType<P>;
  subject(teamId: string): string;
  pattern(teamId?: string): string;
}

function teamEvent<P>(name: string, schema: z.ZodType<P>): EventDefinition<P> {
  return Object.freeze({
    name,
    schema,
    subject: (teamId: string) => `events.${assertSubjectToken(teamId, 'team id')}.${name}`,
    pattern: (teamId?: string) => `events.${teamId === undefined ? '*' : assertSubjectToken(teamId, 'team id')}.${name}`,
  });
}

/** An event that belongs to no team: one fixed subject and its payload schema. */
export interface SystemEventDefinition<P> {
  readonly subject: string;
  readonly schema: z.ZodType<P>;
}

/** Every queue. Jobs are imperative. */
export const Queues = {
  /** The only job a processor takes: process one uploaded document. */
  DocumentProcess: Object.freeze({ name: 'document.process', schema: processJobSchema }) as QueueDefinition<ProcessJob>,
  /** What a processor node reports at the end of a delivery; consumed by any hub. */
  DocumentResult: Object.freeze({ name: 'document.result', schema: processResultSchema }) as QueueDefinition<ProcessResult>,
} as const;

/** Every event. Events are past tense and scoped to a team. */
export const Events = {
  /** A job's progress (stage, done/total, ETA), at each stage change and at least every 500 ms. */
  JobProgressed: teamEvent<ProgressEvent>('job.progressed', progressEventSchema),
  DocumentQueued: teamEvent<DocumentEvent>('document.queued', documentEventSchema),
  DocumentProcessing: teamEvent<DocumentEvent>('document.processing', documentEventSchema),
  DocumentProcessed: teamEvent<DocumentEvent>('document.processed', documentEventSchema),
  DocumentFailed: teamEvent<DocumentEvent>('document.failed', documentEventSchema),
  DocumentDeleted: teamEvent<DocumentEvent>('document.deleted', documentEventSchema),
  /** An annotation operation was accepted (persisted first, then published). */
  AnnotationChanged: teamEvent<AnnotationEvent>('annotation.changed', annotationEventSchema),
  /** Someone joined, moved in or left a live session. */
  PresenceChanged: teamEvent<PresenceEvent>('presence.changed', presenceEventSchema),
  /** A match was proposed or resolved. */
  MatchChanged: teamEvent<MatchEvent>('match.changed', matchEventSchema),
} as const;

/** Events of the processing fleet itself, seen by every hub whatever the team. */
export const SystemEvents = {
  /** A processing node is alive (or, with `leaving`, is going away); see {@link NodeHeartbeat}. */
  NodeHeartbeat: Object.freeze({ subject: 'node.heartbeat', schema: nodeHeartbeatSchema }) as SystemEventDefinition<NodeHeartbeat>,
} as const;

/** Subjects that are not per-team events. */
export const Subjects = {
  /** Everything one team sees: its progress and document events. */
  teamFeed: (teamId: string): string => `events.${assertSubjectToken(teamId, 'team id')}.>`,
  /** Every team's document events (`events.*.document.*`). */
  allDocumentEvents: 'events.*.document.*',
  /**
   * Where a job goes when it runs out of attempts or fails non-retryably; payload
   * {@link DeadLetterEvent}. Adapters publish here after storing the dead letter.
   */
  deadLetter: (queue: string): string => `dead-letter.${assertSubject(queue, { wildcards: false })}`,
  /** Every queue's dead letters. */
  allDeadLetters: 'dead-letter.>',
} as const;

/** The kind of a document event subject, read from its last token. */
export function documentEventKind(subject: string): DocumentEventKind | undefined {
  const kind = subject.split('.').at(-1);
  return Object.values(DocumentEventKind).find((k) => k === kind);
}
