/**
 * The Bus port: durable jobs with ack / retry / dead-letter and a progress heartbeat, and
 * events that every hub replica sees. Adapters: in-process (`MemoryBus`, jobs durable in a
 * {@link JobStorage}) and NATS JetStream (`NatsBus`). Both pass `defineBusContract`.
 */

/** A job as it travels: payload plus what every message carries. */
export interface JobEnvelope<T = unknown> {
  /** Unique id; enqueueing the same id twice is a no-op. */
  id: string;
  /** Queue name from `subjects.ts` (e.g. `document.process`). */
  queue: string;
  payload: T;
  /** Carried into every log line and event of this job. */
  correlationId: string;
  /** Epoch ms when it was first enqueued. */
  enqueuedAt: number;
}

/** What a handler returns. Expected outcomes are values; a thrown error counts as retryable. */
export type JobOutcome =
  | { status: 'succeeded' }
  | { status: 'skipped'; reason: string }
  | { status: 'failed'; code: string; message: string; retryable: boolean };

/** One delivery of a job to a consumer. */
export interface Delivery<T = unknown> {
  readonly envelope: JobEnvelope<T>;
  /** 1 on first delivery, then 2, 3, … */
  readonly attempt: number;
  /** Tells the bus the job is still alive, so it is not redelivered to another consumer. */
  heartbeat(): void;
  /** Aborted when the bus is closing; handlers should stop promptly and the job is redelivered later. */
  readonly signal: AbortSignal;
}

/** A job that ran out of attempts (or failed non-retryably). */
export interface DeadLetter<T = unknown> {
  envelope: JobEnvelope<T>;
  attempts: number;
  code: string;
  message: string;
}

export interface ConsumeOptions {
  /** Jobs processed at once by this consumer. Default 1. */
  concurrency?: number;
  /** Attempts before dead-lettering. Default 5. */
  maxAttempts?: number;
  /** Backoff before attempt n+1, in ms. Default exponential 1 s · 2^(n-1), capped at 60 s. */
  backoffMs?: (attempt: number) => number;
  /** Without a heartbeat for this long a delivery is considered dead and redelivered. Default 30 s. */
  leaseMs?: number;
  /** Called once per dead-lettered job, after it has been moved to the dead-letter queue. */
  onDeadLetter?: (dead: DeadLetter) => void | Promise<void>;
}

export type JobHandler<T = unknown> = (delivery: Delivery<T>) => Promise<JobOutcome>;

/** An active consumer or event subscription. */
export interface Subscription {
  /** Stops receiving; waits for in-flight handlers of a consumer to finish. */
  close(): Promise<void>;
}

/** An event as published (events are at-most-once and not persisted). */
export interface EventEnvelope<T = unknown> {
  subject: string;
  payload: T;
  correlationId?: string;
}

export interface BusCapabilities {
  /** Jobs survive a restart of the process. */
  durableJobs: boolean;
  /** Events and jobs span processes and machines. */
  distributed: boolean;
}

export interface Bus {
  readonly capabilities: BusCapabilities;
  start(): Promise<void>;
  /** Stops consumers (in-flight jobs are released for redelivery), then disconnects. */
  close(): Promise<void>;
  /** Enqueues a job durably; resolves once it is stored. */
  enqueue<T>(job: JobEnvelope<T>): Promise<void>;
  /** Starts consuming a queue. */
  consume<T>(queue: string, handler: JobHandler<T>, options?: ConsumeOptions): Promise<Subscription>;
  /** Number of jobs waiting (not in flight) in a queue. */
  depth(queue: string): Promise<number>;
  /** Publishes an event to every subscriber on every replica. */
  publish<T>(subject: string, payload: T, correlationId?: string): Promise<void>;
  /**
   * Subscribes to events. `pattern` uses NATS wildcards: `*` one token, `>` the rest.
   */
  subscribe<T>(pattern: string, handler: (event: EventEnvelope<T>) => void): Promise<Subscription>;
}

/**
 * Durable job storage behind the in-process bus (implemented by the hub's store).
 * Leases make a crash safe: a claimed job whose lease expires becomes claimable again.
 */
export interface StoredJob {
  id: string;
  queue: string;
  envelope: string;
  attempts: number;
}

export interface JobStorage {
  /** Inserts a pending job; ignores an id already present. */
  insertJob(job: { id: string; queue: string; envelope: string; runAt: number }): void;
  /** Claims the next runnable job (runAt ≤ now, not leased or lease expired), incrementing attempts. */
  claimJob(queue: string, now: number, leaseUntil: number): StoredJob | undefined;
  extendLease(id: string, leaseUntil: number): void;
  /** Removes a finished job. */
  completeJob(id: string): void;
  /** Releases a job to run again at `runAt` (keeps its attempt count). */
  releaseJob(id: string, runAt: number, lastError?: string): void;
  /** Moves a job to the dead-letter table. */
  deadLetterJob(id: string, code: string, message: string): void;
  /** Pending (not leased) jobs of a queue. */
  countPending(queue: string, now: number): number;
  /** Earliest runAt among pending jobs of the queue, to sleep until then. */
  nextRunAt(queue: string): number | undefined;
}
