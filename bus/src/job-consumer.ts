/**
 * The consumer rules every bus adapter shares: concurrency, leases and heartbeats,
 * outcome → ack / retry / dead-letter, and an ordered close. An adapter subclasses
 * {@link JobConsumer} and supplies only how jobs are fetched and settled ({@link ClaimedJob}).
 */
import type { Logger } from 'pino';
import { AppError, ValidationError } from '@quire/kernel';
import type { ConsumeOptions, DeadLetter, Delivery, JobEnvelope, JobHandler, JobOutcome, Subscription } from './bus.ts';
import { BusClosingError, LeaseLostError, MAX_ERROR_MESSAGE_CHARS } from './wire.ts';

/** {@link ConsumeOptions} with every default filled in. */
export interface ResolvedConsumeOptions {
  concurrency: number;
  maxAttempts: number;
  backoffMs: (attempt: number) => number;
  leaseMs: number;
  onDeadLetter: ((dead: DeadLetter) => void | Promise<void>) | undefined;
}

/** Default backoff before attempt n+1: 1 s · 2^(n-1), at most 60 s. */
export function defaultBackoffMs(attempt: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(0, attempt - 1));
}

/** Fills in defaults and rejects values no adapter can honour. */
export function resolveConsumeOptions(options: ConsumeOptions = {}): ResolvedConsumeOptions {
  const resolved: ResolvedConsumeOptions = {
    concurrency: options.concurrency ?? 1,
    maxAttempts: options.maxAttempts ?? 5,
    backoffMs: options.backoffMs ?? defaultBackoffMs,
    leaseMs: options.leaseMs ?? 30_000,
    onDeadLetter: options.onDeadLetter,
  };
  const problems: string[] = [];
  if (!Number.isInteger(resolved.concurrency) || resolved.concurrency < 1) problems.push('concurrency must be an integer ≥ 1');
  if (!Number.isInteger(resolved.maxAttempts) || resolved.maxAttempts < 1) problems.push('maxAttempts must be an integer ≥ 1');
  // Below 100 ms a heartbeat cannot reliably reach a server in time.
  if (!Number.isFinite(resolved.leaseMs) || resolved.leaseMs < 100) problems.push('leaseMs must be ≥ 100');
  if (problems.length > 0) throw new ValidationError(`invalid consume options: ${problems.join('; ')}`);
  return resolved;
}

/** One claim of a job, as an adapter hands it to {@link JobConsumer.run}. */
export interface ClaimedJob<T> {
  readonly envelope: JobEnvelope<T>;
  /** 1 on the first delivery. */
  readonly attempt: number;
  /** Extends the lease by `leaseMs` from now; false when the claim is known to be lost. */
  extend(): boolean;
  /** The job is done: remove it. */
  complete(): Promise<void>;
  /** Run it again no sooner than `delayMs` from now; the attempt stays counted. */
  retry(delayMs: number, error: { code: string; message: string }): Promise<void>;
  /** Give it back for immediate redelivery (the consumer is closing). */
  release(): Promise<void>;
  /**
   * Store it as a dead letter, publish that on `dead-letter.<queue>`, and remove the job.
   * False when the claim turned out to be lost (another delivery owns the job): nothing moved.
   */
  deadLetter(dead: DeadLetter<T>): Promise<boolean>;
}

type DeliveryState = 'running' | 'settling' | 'settled' | 'lapsed' | 'released';

/** The bookkeeping of one running delivery. */
class ActiveDelivery<T> {
  state: DeliveryState = 'running';
  readonly #controller = new AbortController();
  #lastExtend = Date.now();
  #leaseTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly job: ClaimedJob<T>,
    private readonly leaseMs: number,
  ) {}

  get envelope(): JobEnvelope<T> {
    return this.job.envelope;
  }

  get attempt(): number {
    return this.job.attempt;
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  heartbeat(): void {
    if (this.state !== 'running') return;
    const now = Date.now();
    // Handlers heartbeat on every progress tick; storage and server see at most five per lease.
    if (now - this.#lastExtend < this.leaseMs / 5) return;
    this.#lastExtend = now;
    if (this.job.extend()) this.armLease();
    else this.lapse();
  }

  /**
   * Starts or restarts the local lease clock. It runs out a little before the lease held by
   * the storage or server (whose clock started earlier, at the claim), so that this delivery
   * stops before the job can be handed to another.
   */
  armLease(): void {
    clearTimeout(this.#leaseTimer);
    const margin = Math.min(1000, this.leaseMs / 10);
    this.#leaseTimer = setTimeout(() => this.lapse(), this.leaseMs - margin);
  }

  stopLease(): void {
    clearTimeout(this.#leaseTimer);
  }

  lapse(): void {
    if (this.state !== 'running') return;
    this.state = 'lapsed';
    this.stopLease();
    this.#controller.abort(new LeaseLostError(this.leaseMs));
  }

  abort(reason: Error): void {
    if (!this.#controller.signal.aborted) this.#controller.abort(reason);
  }
}

/**
 * A running consumer of one queue. Subclasses fetch or claim jobs and pass each to
 * {@link run} while {@link free} is above zero; {@link onSlotFreed} tells them to look again.
 */
export abstract class JobConsumer<T> implements Subscription {
  protected readonly log: Logger;
  protected closing = false;
  readonly #inFlight = new Set<ActiveDelivery<T>>();
  #closed: Promise<void> | undefined;

  protected constructor(
    protected readonly queue: string,
    private readonly handler: JobHandler<T>,
    protected readonly options: ResolvedConsumeOptions,
    logger: Logger,
    private readonly closeTimeoutMs: number,
  ) {
    this.log = logger.child({ queue });
  }

  /** Slots left under `concurrency`. */
  protected get free(): number {
    return this.options.concurrency - this.#inFlight.size;
  }

  /** Called whenever a slot frees up. */
  protected abstract onSlotFreed(): void;

  /** Stops fetching or claiming new jobs; in-flight ones are the base class's business. */
  protected abstract stopFetching(): Promise<void>;

  /**
   * Handles one claimed job in a slot. `malformed` (the job could not be decoded) sends it
   * straight to the dead letters.
   */
  protected run(job: ClaimedJob<T>, malformed?: string): void {
    const delivery = new ActiveDelivery(job, this.options.leaseMs);
    this.#inFlight.add(delivery);
    void this.#execute(delivery, malformed)
      .catch((err: unknown) => this.log.error({ err, jobId: job.envelope.id }, 'job settlement failed'))
      .finally(() => {
        this.#inFlight.delete(delivery);
        if (!this.closing) this.onSlotFreed();
      });
  }

  async #execute(delivery: ActiveDelivery<T>, malformed: string | undefined): Promise<void> {
    const { job } = delivery;
    const log = this.log.child({ jobId: job.envelope.id, correlationId: job.envelope.correlationId, attempt: job.attempt });
    if (malformed !== undefined) {
      await this.#deadLetter(delivery, 'MALFORMED_JOB', malformed, log);
      return;
    }
    if (job.attempt > this.options.maxAttempts) {
      // The previous holder of the last attempt died or was closed without an outcome.
      await this.#deadLetter(delivery, 'ATTEMPTS_EXHAUSTED', `no outcome after ${this.options.maxAttempts} attempts`, log);
      return;
    }
    delivery.armLease();
    let outcome: JobOutcome;
    try {
      const facade: Delivery<T> = Object.freeze({
        envelope: job.envelope,
        attempt: job.attempt,
        signal: delivery.signal,
        heartbeat: () => delivery.heartbeat(),
      });
      outcome = await Promise.resolve().then(() => this.handler(facade));
      outcome = checkOutcome(outcome);
    } catch (err) {
      outcome = thrownOutcome(err);
      log.warn({ err }, 'job handler threw');
    }
    delivery.stopLease();
    if (delivery.state !== 'running') {
      log.warn({ outcome: outcome.status, state: delivery.state }, 'outcome ignored: the delivery no longer holds the job');
      return;
    }
    const finished = outcome.status === 'succeeded' || outcome.status === 'skipped';
    if (this.closing && !finished) {
      // Failing because we asked it to stop is not the job's fault: no backoff, no dead letter.
      await this.#settle(delivery, () => job.release());
      return;
    }
    switch (outcome.status) {
      case 'succeeded':
      case 'skipped':
        await this.#settle(delivery, () => job.complete());
        return;
      case 'failed':
        if (!outcome.retryable || job.attempt >= this.options.maxAttempts) {
          await this.#deadLetter(delivery, outcome.code, outcome.message, log);
        } else {
          const delayMs = Math.max(0, this.options.backoffMs(job.attempt));
          log.info({ code: outcome.code, delayMs }, 'job failed; retrying');
          await this.#settle(delivery, () => job.retry(delayMs, { code: outcome.code, message: outcome.message }));
        }
        return;
    }
  }

  async #settle(delivery: ActiveDelivery<T>, action: () => Promise<void | boolean>): Promise<boolean> {
    if (delivery.state !== 'running') return false;
    delivery.state = 'settling';
    try {
      return (await action()) !== false;
    } finally {
      delivery.state = 'settled';
    }
  }

  async #deadLetter(delivery: ActiveDelivery<T>, code: string, message: string, log: Logger): Promise<void> {
    const dead: DeadLetter<T> = {
      envelope: delivery.envelope,
      attempts: delivery.attempt,
      code,
      message: message.length > MAX_ERROR_MESSAGE_CHARS ? `${message.slice(0, MAX_ERROR_MESSAGE_CHARS - 1)}…` : message,
    };
    const moved = await this.#settle(delivery, () => delivery.job.deadLetter(dead));
    if (!moved) return;
    log.error({ code, attempts: dead.attempts }, 'job dead-lettered');
    try {
      await this.options.onDeadLetter?.(dead as DeadLetter);
    } catch (err) {
      log.error({ err }, 'onDeadLetter threw');
    }
  }

  /**
   * Stops fetching, aborts in-flight deliveries, waits for their handlers up to the close
   * timeout, then releases the jobs still unfinished for redelivery. Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.closing = true;
    await this.stopFetching();
    const closing = new BusClosingError();
    for (const delivery of this.#inFlight) delivery.abort(closing);
    const deadline = Date.now() + this.closeTimeoutMs;
    while (this.#inFlight.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(20, this.closeTimeoutMs)));
    }
    const stuck = [...this.#inFlight].filter((d) => d.state === 'running');
    if (stuck.length > 0) {
      this.log.warn({ jobs: stuck.map((d) => d.envelope.id) }, 'handlers did not stop in time; releasing their jobs');
    }
    await Promise.all(
      stuck.map(async (delivery) => {
        delivery.stopLease();
        delivery.state = 'released';
        try {
          await delivery.job.release();
        } catch (err) {
          this.log.error({ err, jobId: delivery.envelope.id }, 'release failed; the job runs again when its lease expires');
        }
      }),
    );
  }
}

/** A thrown error is a retryable failure; an `AppError` keeps its code. */
function thrownOutcome(err: unknown): JobOutcome {
  const code = err instanceof AppError ? err.code : 'HANDLER_ERROR';
  const message = err instanceof Error ? err.message : String(err);
  return { status: 'failed', code, message, retryable: true };
}

/** A handler that returns something else than a {@link JobOutcome} has a bug; treat it as thrown. */
function checkOutcome(outcome: unknown): JobOutcome {
  const o = outcome as Partial<Record<string, unknown>> | null | undefined;
  if (o?.status === 'succeeded') return { status: 'succeeded' };
  if (o?.status === 'skipped') return { status: 'skipped', reason: String(o.reason ?? '') };
  if (o?.status === 'failed') {
    return { status: 'failed', code: String(o.code ?? 'FAILED'), message: String(o.message ?? ''), retryable: o.retryable === true };
  }
  throw new ValidationError(`job handler returned ${JSON.stringify(outcome)}, not a JobOutcome`, { code: 'INVALID_OUTCOME' });
}
