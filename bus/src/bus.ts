/**
 * The Bus port: durable jobs with ack / retry / dead-letter and a progress heartbeat, events
 * that every hub replica sees, and an object store with a bounded lifetime that carries
 * document originals to processor nodes. Adapters: in-process (`MemoryBus`, jobs durable in a
 * {@link JobStorage}) and NATS JetStream (`NatsBus`). Both pass `defineBusContract`.
 */
import { MAX_MESSAGE_BYTES } from '@quire/kernel';

/**
 * Largest job envelope (JSON, bytes). Below {@link MAX_MESSAGE_BYTES} so that the envelope
 * still fits when wrapped in a dead letter with its error and headers.
 */
export const MAX_JOB_BYTES = MAX_MESSAGE_BYTES - 16 * 1024;

/** Largest event payload (JSON, bytes), leaving room for headers. */
export const MAX_EVENT_BYTES = MAX_MESSAGE_BYTES - 4 * 1024;

/** A job as it travels: payload plus what every message carries. */
export interface JobEnvelope<T = unknown> {
  /**
   * Unique id and idempotency key: enqueueing an id whose job is still waiting or in flight
   * is a no-op. Once it has finished, adapters differ (NatsBus drops the id for its
   * duplicate window, MemoryBus accepts it again at once), so callers should not reuse ids.
   */
  id: string;
  /** Queue name from `@quire/kernel`'s `Queues` (e.g. `document.process`): dot-separated safe tokens. */
  queue: string;
  payload: T;
  /** Carried into every log line and event of this job. */
  correlationId: string;
  /** Epoch ms when it was first enqueued. */
  enqueuedAt: number;
}

/**
 * What a handler returns. Expected outcomes are values; a thrown error counts as a retryable
 * failure (code: the `AppError` code, else `HANDLER_ERROR`).
 */
export type JobOutcome =
  { status: 'succeeded' } | { status: 'skipped'; reason: string } | { status: 'failed'; code: string; message: string; retryable: boolean };

/** One delivery of a job to a consumer. */
export interface Delivery<T = unknown> {
  readonly envelope: JobEnvelope<T>;
  /** 1 on first delivery, then 2, 3, … */
  readonly attempt: number;
  /**
   * Tells the bus the job is still alive, so it is not redelivered to another consumer. Call
   * it well within every `leaseMs` (the delivery gives up a tenth of the lease, at most 1 s,
   * before the lease ends); calls closer together than a fifth of it are coalesced.
   */
  heartbeat(): void;
  /**
   * Aborted when the bus or the consumer is closing, or when this delivery lost its lease
   * (no heartbeat for `leaseMs`). Handlers should stop promptly: after a close the job is
   * redelivered; after a lost lease it already belongs to another delivery and this one's
   * outcome is ignored.
   */
  readonly signal: AbortSignal;
}

/**
 * A job that ran out of attempts or failed non-retryably. `code`/`message` are the last
 * failure's; `ATTEMPTS_EXHAUSTED` when the last attempt ended without an outcome (its
 * consumer died or was closed).
 */
export interface DeadLetter<T = unknown> {
  envelope: JobEnvelope<T>;
  attempts: number;
  code: string;
  message: string;
}

/**
 * How a queue is consumed. With NatsBus, `maxAttempts` and `leaseMs` are settings of the
 * queue's durable consumer on the server, shared by every process consuming that queue:
 * they must agree (the last `consume` call wins).
 */
export interface ConsumeOptions {
  /** Jobs processed at once by this consumer. Default 1. */
  concurrency?: number;
  /**
   * Attempts before dead-lettering. Default 5. A failure on attempt `maxAttempts` is
   * dead-lettered; so is a delivery numbered above it (its predecessor died mid-job), without
   * running the handler.
   */
  maxAttempts?: number;
  /** Backoff before attempt n+1, in ms. Default exponential 1 s · 2^(n-1), capped at 60 s. */
  backoffMs?: (attempt: number) => number;
  /** Without a heartbeat for this long a delivery is considered dead and redelivered. Default 30 s. */
  leaseMs?: number;
  /**
   * Called once per dead-lettered job, after it has been moved to the dead-letter queue and
   * published on `dead-letter.<queue>`. Errors it throws are logged, not retried.
   */
  onDeadLetter?: (dead: DeadLetter) => void | Promise<void>;
}

/** Runs one delivery of a job. */
export type JobHandler<T = unknown> = (delivery: Delivery<T>) => Promise<JobOutcome>;

/** An active consumer or event subscription. */
export interface Subscription {
  /**
   * Stops receiving. For a consumer: aborts in-flight deliveries' signals, waits for their
   * handlers up to the bus's close timeout, then releases the unfinished ones for redelivery.
   */
  close(): Promise<void>;
}

/** An event as published (events are at-most-once and not persisted). */
export interface EventEnvelope<T = unknown> {
  subject: string;
  payload: T;
  correlationId?: string;
}

/** What an adapter offers; callers read this instead of branching on configuration. */
export interface BusCapabilities {
  /** Jobs survive a restart of the process. */
  durableJobs: boolean;
  /** Events and jobs span processes and machines. */
  distributed: boolean;
  /**
   * Stored objects survive a restart of the process (NatsBus: they live on the server until
   * they expire). When false (MemoryBus) an object is lost with its process, and whoever put
   * it must put it again before a job that needs it runs again.
   */
  durableObjects: boolean;
}

/**
 * Default lifetime of a stored object, and the longest by default: 24 h. Long enough for a
 * job to wait out a queue and its retries, short enough that a forgotten original goes away.
 */
export const DEFAULT_OBJECT_TTL_MS = 24 * 3600 * 1000;

/**
 * Bytes to store: all at once, or as a stream of chunks (a Node `Readable` of Buffers is
 * one), which adapters pass on as they read it without holding the object whole (NatsBus).
 */
export type ObjectSource = Uint8Array | AsyncIterable<Uint8Array>;

/** Options of {@link Bus.putObject}. */
export interface PutObjectOptions {
  /**
   * How long the object is kept, in ms: a positive integer. Default and upper bound: the
   * bus's object lifetime (`objectTtlMs`, default {@link DEFAULT_OBJECT_TTL_MS}); a longer
   * one is cut to it.
   */
  ttlMs?: number;
}

/** A stored object, as {@link Bus.putObject} and {@link Bus.openObject} describe it. */
export interface StoredObject {
  key: string;
  /** Length in bytes. */
  size: number;
  /** Epoch ms after which the object is gone (by the clock of the process that put it). */
  expiresAt: number;
}

/** An object opened for reading. */
export interface ObjectReader extends StoredObject {
  /**
   * The bytes in order; iterate it once, to the end or until you break out of the loop (an
   * abandoned reader holds its subscription until the bus closes). Throws `BUS_UNAVAILABLE`
   * when the object is cut short (it expired or was deleted mid-read) or fails its checksum.
   */
  readonly body: AsyncIterable<Uint8Array>;
}

/**
 * The job and event bus. Calls before `start` or after `close` are refused with
 * `BUS_UNAVAILABLE`; while `close` runs, `enqueue`, `publish` and `depth` still work so that
 * handlers finishing during the close can report.
 */
export interface Bus {
  readonly capabilities: BusCapabilities;
  start(): Promise<void>;
  /** Stops consumers (in-flight jobs are released for redelivery), then disconnects. */
  close(): Promise<void>;
  /**
   * Whether the bus can take work now (readiness): started, not closed, and for a bus on a
   * server, connected to it. A disconnected bus may reconnect by itself.
   */
  connected(): boolean;
  /**
   * Enqueues a job; resolves once it is stored (durably where `capabilities.durableJobs`).
   * Refuses (`PayloadTooLargeError`) an envelope whose JSON exceeds {@link MAX_JOB_BYTES}.
   */
  enqueue<T>(job: JobEnvelope<T>): Promise<void>;
  /** Starts consuming a queue. */
  consume<T>(queue: string, handler: JobHandler<T>, options?: ConsumeOptions): Promise<Subscription>;
  /**
   * Jobs of a queue waiting for a consumer. Both adapters count jobs not yet delivered;
   * for retries waiting out a backoff they differ (MemoryBus counts them, NatsBus does not).
   */
  depth(queue: string): Promise<number>;
  /**
   * Publishes an event to every subscriber on every replica. At most once: a subscriber
   * that is not connected misses it. Refuses payloads over {@link MAX_EVENT_BYTES}.
   */
  publish<T>(subject: string, payload: T, correlationId?: string): Promise<void>;
  /**
   * Subscribes to events. `pattern` uses NATS wildcards: `*` one token, `>` the rest.
   * Resolves once the subscription is active, so an event published afterwards arrives.
   * Each subscriber gets its own decoded copy of the payload; errors it throws are logged.
   */
  subscribe<T>(pattern: string, handler: (event: EventEnvelope<T>) => void): Promise<Subscription>;
  /**
   * Stores bytes under `key` for a bounded time, replacing what the key held. The hub puts a
   * document's original under its job id before enqueueing the job; a processor node fetches
   * it with {@link getObject} or {@link openObject} and needs no blob-store credentials.
   * Objects of any size travel in chunks below {@link MAX_MESSAGE_BYTES}. All or nothing: when
   * the source fails mid-way nothing is stored (the key keeps its previous bytes) and the
   * source's error is rethrown.
   * @param key a safe token: 1-128 of `A-Z a-z 0-9 _ -`, starting with a letter or digit
   *   (a job id); anything else is refused with `ValidationError` (`INVALID_OBJECT_KEY`).
   * @returns the stored object's size and when it expires.
   */
  putObject(key: string, data: ObjectSource, options?: PutObjectOptions): Promise<StoredObject>;
  /**
   * The bytes stored under `key`, whole; null when there are none (never put, deleted or
   * expired). Use {@link openObject} for objects too large to hold at once.
   */
  getObject(key: string): Promise<Uint8Array | null>;
  /** Opens the object stored under `key` for streaming; null when there is none. */
  openObject(key: string): Promise<ObjectReader | null>;
  /**
   * Deletes the object stored under `key` (e.g. once its job is done, rather than waiting for
   * it to expire). Returns whether there was one.
   */
  deleteObject(key: string): Promise<boolean>;
}

/** A job as {@link JobStorage.claimJob} returns it. */
export interface StoredJob {
  id: string;
  queue: string;
  /** The {@link JobEnvelope} as JSON, exactly as inserted. */
  envelope: string;
  /**
   * Claims so far, this one included (1 on the first claim). It is also the claim's fencing
   * token: every later call about this claim passes it back, and a call whose token is no
   * longer the job's current `attempts` is refused.
   */
  attempts: number;
}

/**
 * Durable job storage behind the in-process bus (the hub's store implements it over
 * SQLite; {@link InMemoryJobStorage} is the Map-based one). Methods are synchronous and
 * each must be atomic (one transaction). The bus passes every time in; an implementation
 * never reads a clock.
 *
 * A job row holds `id` (unique), `queue`, `envelope`, `runAt` (epoch ms), `attempts`
 * (starts at 0), `leaseUntil` (epoch ms or null) and `lastError` (text or null). A job is
 * *claimable* at `now` when `runAt <= now` and (`leaseUntil` is null or `leaseUntil <= now`):
 * an expired lease means its consumer died, and the job runs again. A claim is *held*
 * while the row exists with `attempts` equal to the claim's token and `leaseUntil` not
 * null (even once the lease has expired, as long as nobody claimed it again).
 *
 * Dead letters live apart from jobs (their own table): `id`, `queue`, `envelope`,
 * `attempts`, `code`, `message`, and when.
 */
export interface JobStorage {
  /** Whether jobs survive a restart of the process (true for SQLite, false in memory). */
  readonly durable: boolean;
  /**
   * Inserts a job with `attempts` 0 and no lease. When a job row with this id already
   * exists (waiting or leased) nothing changes and it returns false. Dead letters do not
   * count: an id that was dead-lettered can be enqueued again.
   */
  insertJob(job: { id: string; queue: string; envelope: string; runAt: number }): boolean;
  /**
   * Claims the claimable job of `queue` with the smallest `runAt` (ties: the earliest
   * inserted): sets `attempts = attempts + 1` and `leaseUntil`, and returns the row with the
   * new `attempts`. Undefined when none is claimable. Two claimers never get the same claim
   * (SQLite: one `UPDATE … WHERE id = (SELECT …) RETURNING`).
   */
  claimJob(queue: string, now: number, leaseUntil: number): StoredJob | undefined;
  /** Sets `leaseUntil` when the claim `(id, attempt)` is held; returns whether it was. */
  extendLease(id: string, attempt: number, leaseUntil: number): boolean;
  /** Deletes the job when the claim `(id, attempt)` is held; returns whether it was. */
  completeJob(id: string, attempt: number): boolean;
  /**
   * When the claim `(id, attempt)` is held: clears the lease, sets `runAt` and `lastError`
   * and keeps `attempts`, so the job is claimable again from `runAt`. Returns whether it
   * was held.
   */
  releaseJob(id: string, attempt: number, runAt: number, lastError?: string): boolean;
  /**
   * When the claim `(id, attempt)` is held: in one transaction, deletes the job and inserts
   * a dead letter (envelope, attempts, code, message). Returns whether it was held.
   */
  deadLetterJob(id: string, attempt: number, code: string, message: string): boolean;
  /**
   * Jobs of `queue` not held by a live lease at `now` (`leaseUntil` null or `<= now`),
   * including those whose `runAt` is still ahead (waiting out a retry backoff).
   */
  countPending(queue: string, now: number): number;
  /**
   * The earliest time a job of `queue` becomes claimable: the minimum over its jobs of
   * `max(runAt, leaseUntil ?? runAt)`; undefined when the queue has no jobs. The bus sleeps
   * until then, so a leased job's expiry must be included.
   */
  nextRunAt(queue: string): number | undefined;
}
