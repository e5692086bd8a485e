/**
 * A processor node: takes `document.process` jobs from the bus, runs the pipeline on them and
 * reports each delivery's end on `document.result`. It holds no store, index or blob-store
 * credentials. What a job needs arrives through the bus: the original (an {@link OriginalSource})
 * and the team's classifier settings (a stored object named by a digest of its content, so it
 * is fetched once and cached by key). Progress goes out as live events, with the node's id and
 * the attempt; result parts go into one stored object, JSON lines in pipeline order, which the
 * result message names. The hub applies them and owns every status change.
 *
 * A job stops at once when its document is deleted or given a newer job (the document events
 * reach every node), when its lease is lost, or when the node closes (the job is then released
 * for another node).
 */
import { pino, type Logger } from 'pino';
import {
  consumeQueue,
  enqueueJob,
  publishEvent,
  subscribeEvent,
  type Bus,
  type DeadLetter,
  type Delivery,
  type JobOutcome,
  type Subscription,
} from '@quire/bus';
import {
  Events,
  MAX_MESSAGE_BYTES,
  Queues,
  classifierSettingsSchema,
  processJobSchema,
  originalObjectKey,
  resultObjectKey,
  type ClassifierSettings,
  type ProcessJob,
  type ProcessResult,
  type ProgressEvent,
  type ResultPart,
} from '@quire/kernel';
import type { RunHandlers, RunOutcome } from '../worker/processor-pool.ts';

/** Where a node reads a job's original file from. */
export interface OriginalSource {
  /** The original's bytes; null when it is gone (expired, or deleted with its document). */
  read(job: ProcessJob): Promise<Uint8Array | null>;
}

/** Originals stored on the bus by the hub that queued the job: what a node on another machine reads. */
export function busOriginals(bus: Bus): OriginalSource {
  return { read: (job) => bus.getObject(originalObjectKey(job.jobId)) };
}

/** Runs the pipeline: a {@link ProcessorPool}. */
export interface PipelineRunner {
  readonly size: number;
  run(job: ProcessJob, data: Uint8Array, classifier: ClassifierSettings, handlers: RunHandlers): Promise<RunOutcome>;
}

export interface ProcessorNodeOptions {
  bus: Bus;
  runner: PipelineRunner;
  originals: OriginalSource;
  /** Sent with every progress event and result, so dashboards and hubs know who ran a job. */
  nodeId: string;
  /** Deliveries of a job before it fails for good; hubs and nodes use the same. */
  maxAttempts: number;
  /** Wait before delivery n+1 of a failed job. */
  backoffMs: (attempt: number) => number;
  /** A job not heard of for this long (no progress) is given to another node. Default 15 s. */
  leaseMs?: number;
  /** Classifier settings objects kept in memory. Default 16. */
  settingsCacheSize?: number;
  logger?: Logger;
}

const DEFAULT_LEASE_MS = 15_000;

/** A `document.process` consumer that runs jobs on a {@link PipelineRunner}. `start()`, then `close()`. */
export class ProcessorNode {
  readonly #options: ProcessorNodeOptions & { leaseMs: number; settingsCacheSize: number; logger: Logger };
  /** Most recently used last. */
  readonly #settings = new Map<string, ClassifierSettings>();
  /** Per running job, what stops it when its document moves on. */
  readonly #running = new Map<string, { documentId: string; teamId: string; stop: AbortController }>();
  #consumer: Subscription | undefined;
  #documentEvents: Subscription[] = [];

  constructor(options: ProcessorNodeOptions) {
    this.#options = {
      ...options,
      leaseMs: options.leaseMs ?? DEFAULT_LEASE_MS,
      settingsCacheSize: options.settingsCacheSize ?? 16,
      logger: options.logger ?? pino({ level: 'silent' }),
    };
  }

  async start(): Promise<void> {
    const { bus, runner, maxAttempts, backoffMs, leaseMs } = this.#options;
    // A delete or a newer job (on any hub) stops the run here rather than at its timeout.
    for (const event of [Events.DocumentDeleted, Events.DocumentQueued]) {
      this.#documentEvents.push(
        await subscribeEvent(bus, event, (e) => {
          for (const [jobId, run] of this.#running) {
            if (run.documentId !== e.documentId || run.teamId !== e.teamId) continue;
            if (e.kind === 'deleted' || (e.jobId !== undefined && e.jobId !== jobId)) {
              run.stop.abort(new Error(e.kind === 'deleted' ? 'document deleted' : 'superseded by a newer job'));
            }
          }
        }),
      );
    }
    this.#consumer = await consumeQueue(bus, Queues.DocumentProcess, this.handle, {
      concurrency: runner.size,
      maxAttempts,
      backoffMs,
      leaseMs,
      onDeadLetter: this.onDeadLetter,
    });
  }

  /** Stops taking jobs; running ones are stopped and released for another node. */
  async close(): Promise<void> {
    await this.#consumer?.close();
    await Promise.all(this.#documentEvents.map((s) => s.close()));
    this.#documentEvents = [];
  }

  /** Bus handler for one delivery of a processing job. */
  readonly handle = async (delivery: Delivery<ProcessJob>): Promise<JobOutcome> => {
    const job = delivery.envelope.payload;
    const log = this.#options.logger.child({
      correlationId: job.correlationId,
      documentId: job.documentId,
      jobId: job.jobId,
      attempt: delivery.attempt,
    });
    const stop = new AbortController();
    this.#running.set(job.jobId, { documentId: job.documentId, teamId: job.teamId, stop });
    try {
      return await this.#process(job, delivery, stop.signal, log);
    } finally {
      this.#running.delete(job.jobId);
    }
  };

  async #process(job: ProcessJob, delivery: Delivery<ProcessJob>, stopped: AbortSignal, log: Logger): Promise<JobOutcome> {
    const { bus, runner, nodeId, maxAttempts } = this.#options;
    const ids = { jobId: job.jobId, documentId: job.documentId, teamId: job.teamId, attempt: delivery.attempt, node: nodeId };

    const settings = await this.#classifierSettings(job.classifierKey);
    const data = settings ? await this.#options.originals.read(job) : null;
    if (!settings || !data) {
      const missing = settings ? 'original' : 'classifier';
      log.warn({ missing }, 'input of the job is missing; the hub is told');
      await this.#report(delivery, { status: 'input-missing', ...ids, missing });
      return { status: 'skipped', reason: `${missing} missing` };
    }

    const lines: Uint8Array[] = [];
    let bytes = 0;
    const encoder = new TextEncoder();
    const signal = AbortSignal.any([delivery.signal, stopped]);
    const outcome = await runner.run(job, data, settings, {
      signal,
      onProgress: (p: ProgressEvent) => {
        if (signal.aborted) return;
        delivery.heartbeat();
        void publishEvent(bus, Events.JobProgressed, job.teamId, { ...p, node: nodeId, attempt: delivery.attempt }).catch((err: unknown) =>
          log.warn({ err }, 'progress event not published'),
        );
      },
      onResult: (part: ResultPart) => {
        delivery.heartbeat();
        // The hub checks every part against the protocol; here only the size, which the
        // pipeline's batching keeps under the limit.
        const line = encoder.encode(`${JSON.stringify(part)}\n`);
        if (line.byteLength > MAX_MESSAGE_BYTES) {
          throw new Error(`a ${part.kind} result part of ${line.byteLength} bytes is over the ${MAX_MESSAGE_BYTES}-byte limit`);
        }
        lines.push(line);
        bytes += line.byteLength;
      },
    });

    if (stopped.aborted) {
      log.info({ reason: (stopped.reason as Error).message }, 'processing stopped');
      return { status: 'skipped', reason: (stopped.reason as Error).message };
    }
    if (outcome.status === 'succeeded') {
      const resultKey = resultObjectKey(delivery.envelope.id, delivery.attempt);
      await bus.putObject(resultKey, chunksOf(lines));
      await this.#report(delivery, { status: 'succeeded', ...ids, resultKey, parts: lines.length, bytes });
      log.info({ parts: lines.length, bytes }, 'document processed; result sent');
      return { status: 'succeeded' };
    }
    // A failure because the delivery was aborted (lease lost, node closing) is not reported:
    // the job runs again elsewhere, and the hub hears of that run.
    if (delivery.signal.aborted) {
      return { status: 'failed', code: outcome.code, message: outcome.message, retryable: true };
    }
    const final = !outcome.retryable || delivery.attempt >= maxAttempts;
    log.warn({ code: outcome.code, stage: outcome.stage, final }, 'processing failed');
    await this.#report(delivery, {
      status: 'failed',
      ...ids,
      code: outcome.code,
      message: outcome.message.slice(0, 2000),
      stage: outcome.stage,
      final,
    });
    return { status: 'failed', code: outcome.code, message: outcome.message, retryable: outcome.retryable };
  }

  /** A job dead-lettered without a report of ours (e.g. every delivery's node died) still fails its document. */
  readonly onDeadLetter = async (dead: DeadLetter): Promise<void> => {
    const parsed = processJobSchema.safeParse(dead.envelope.payload);
    if (!parsed.success) return;
    const job = parsed.data;
    await enqueueJob(this.#options.bus, Queues.DocumentResult, {
      id: `${dead.envelope.id}-dead`,
      correlationId: job.correlationId,
      payload: {
        status: 'failed',
        jobId: job.jobId,
        documentId: job.documentId,
        teamId: job.teamId,
        attempt: Math.max(1, dead.attempts),
        node: this.#options.nodeId,
        code: dead.code.slice(0, 64),
        message: dead.message.slice(0, 2000),
        stage: null,
        final: true,
      },
    });
  };

  async #report(delivery: Delivery<ProcessJob>, result: ProcessResult): Promise<void> {
    await enqueueJob(this.#options.bus, Queues.DocumentResult, {
      // Unique per delivery: a job put on the bus again (new envelope id) reports anew.
      id: `${delivery.envelope.id}-${result.attempt}-${result.status}`,
      correlationId: delivery.envelope.correlationId,
      payload: result,
    });
  }

  async #classifierSettings(key: string): Promise<ClassifierSettings | null> {
    const cache = this.#settings;
    const cached = cache.get(key);
    if (cached) {
      cache.delete(key);
      cache.set(key, cached);
      return cached;
    }
    const bytes = await this.#options.bus.getObject(key);
    if (!bytes) return null;
    const settings = classifierSettingsSchema.parse(JSON.parse(new TextDecoder().decode(bytes)));
    cache.set(key, settings);
    if (cache.size > this.#options.settingsCacheSize) cache.delete(cache.keys().next().value!);
    return settings;
  }
}

async function* chunksOf(lines: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* lines;
}
