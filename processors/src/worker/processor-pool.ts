/**
 * Runs pipelines in child processes, so that a hostile or huge document can neither crash,
 * stall nor bloat the host: parsing, rendering, OCR and inference happen in another process,
 * whose memory is watched and capped. A native library that aborts when stopped mid-call
 * (onnxruntime does, in a worker thread) ends only that process. A child that crashes,
 * outgrows its memory limit or overruns the job timeout is killed and replaced while its job
 * resolves as a failure: retryable for a crash or a timeout, final for memory, since the same
 * document would need the same memory again.
 *
 * Each child loads the embedding model and starts its Tesseract threads once, then takes
 * one job at a time; jobs beyond the pool's size wait in a FIFO queue.
 */
import type { ChildProcess } from 'node:child_process';
import { getPriority, setPriority } from 'node:os';
import pidusage from 'pidusage';
import { pino, type Logger } from 'pino';
import {
  AppError,
  type ClassifierSettings,
  type FailedStage,
  PipelineErrorCode,
  type ProcessJob,
  type ProgressEvent,
  type ResultPart,
} from '@quire/kernel';
import type { ExecutionProvider, ExecutionProviderChoice } from '../engines/embedder.transformers.ts';
import type { PipelineOptions } from '../pipeline.ts';
import { startTypeScriptProcess } from './bootstrap.ts';
import type { HostMessage, SerializedFailure, WorkerConfig, WorkerMessage } from './messages.ts';

/** Options of {@link ProcessorPool}. */
export interface ProcessorPoolOptions {
  /** Worker threads, each running one job at a time. */
  size: number;
  /** Folder of the local model files. */
  modelsDir: string;
  /** Embedding model id, e.g. `Xenova/all-MiniLM-L6-v2`. */
  modelId: string;
  /** Tesseract threads per worker. Default 1. */
  ocrWorkers?: number;
  /** A job running longer is stopped and its worker replaced. Default 10 minutes. */
  jobTimeoutMs?: number;
  /**
   * Memory limit of each pipeline process in MiB: its resident set (model, OCR engine,
   * decoded streams and images included) and its V8 heap. A job that needs more ends its
   * process, which is replaced, and fails with `WORKER_OUT_OF_MEMORY`. Default 1536.
   */
  maxMemoryMb?: number;
  /** How often each process's resident memory is measured. Default 100 ms. */
  memoryCheckIntervalMs?: number;
  /**
   * How much lower than the host's the scheduling priority of pipeline processes is (Unix
   * niceness, 0–19), so that processing never slows the host's answers. Default 10.
   */
  niceness?: number;
  /** onnxruntime threads per worker's embedder. Default: onnxruntime's choice. */
  embedderThreads?: number;
  /**
   * Where each worker's embedder runs: `cpu`, `cuda` (CPU with a warning when CUDA cannot run)
   * or `auto`. Default `cpu`. The pool's `executionProvider` says what the workers use.
   */
  executionProvider?: ExecutionProviderChoice;
  /** How long `start()` and a replacement worker may take to load. Default 120 s. */
  startTimeoutMs?: number;
  /** After a cancel, how long a worker gets to stop by itself before it is terminated. Default 5 s. */
  cancelGraceMs?: number;
  /**
   * Longest silence between progress events of a running job. A worker busy in a long
   * synchronous step (a model call, a page render) cannot report; the pool then repeats
   * its last report with a fresh time and ETA. Default 250 ms.
   */
  progressIntervalMs?: number;
  /** Limits and tuning passed to every pipeline run. */
  pipeline?: PipelineOptions;
  /** Shorthand for `pipeline.maxPages`. */
  maxPages?: number;
  /** Logger; worker log lines come through it too. Default: silent. */
  logger?: Logger;
}

/** How a job ended. Expected failures are values, not exceptions. */
export type RunOutcome =
  { status: 'succeeded' } | { status: 'failed'; code: string; message: string; stage: FailedStage; retryable: boolean };

/** Callbacks and cancellation of one {@link ProcessorPool.run}. */
export interface RunHandlers {
  onProgress?(event: ProgressEvent): void;
  /** Receives the result parts in order; the worker waits for each returned promise. */
  onResult(part: ResultPart): void | Promise<void>;
  signal?: AbortSignal;
  /** This job's time limit, counted from when a worker takes it. Default: the pool's `jobTimeoutMs`. */
  timeoutMs?: number;
}

/** The pool could not start its workers. */
export class PoolStartError extends AppError {
  constructor(code: string, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { ...options, expose: false });
  }
}

interface PendingRun {
  runId: number;
  job: ProcessJob;
  data: Uint8Array;
  classifier: ClassifierSettings;
  handlers: RunHandlers;
  resolve(outcome: RunOutcome): void;
  settled: boolean;
  slot: Slot | null;
  timers: NodeJS.Timeout[];
  onAbort: (() => void) | null;
  /** The last result handler call, so a late failure message waits for it. */
  delivering: Promise<void>;
  /** The worker's last report, when it arrived, and when the handler last heard anything. */
  lastProgress: { report: ProgressEvent; receivedAt: number; sentAt: number } | null;
  /** Resolves once the run is settled. */
  ended: Promise<void>;
  markEnded(): void;
}

interface Slot {
  id: number;
  worker: ChildProcess;
  /** `checking`: its memory is measured after a job, before it may take another. */
  state: 'starting' | 'idle' | 'busy' | 'checking' | 'stopping';
  run: PendingRun | null;
  /** Why the pool stopped this process, when it did. */
  stopReason: 'memory' | null;
  /** The end of what the process wrote to stderr: V8 names a fatal error there. */
  stderrTail: string;
  /** Resolves once the process has exited. */
  exited: Promise<void>;
  /** Where its embedder runs, once it is ready. */
  executionProvider: ExecutionProvider | null;
}

const ENTRY = new URL('./pipeline.worker.ts', import.meta.url);
/** After a job, a process holding more than this share of its memory limit is replaced. */
const RECYCLE_AT = 0.75;

const LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/** A pool of pipeline worker threads. `start()`, then `run()` jobs, then `close()`. */
export class ProcessorPool {
  readonly #options: Required<Omit<ProcessorPoolOptions, 'embedderThreads' | 'logger' | 'maxPages'>> & {
    embedderThreads: number | undefined;
  };
  readonly #logger: Logger;
  readonly #slots = new Set<Slot>();
  readonly #queue: PendingRun[] = [];
  #nextSlotId = 1;
  #nextRunId = 1;
  #started = false;
  #closing = false;
  #respawnDelayMs = 0;
  readonly #respawnTimers = new Set<NodeJS.Timeout>();
  #memoryTimer: NodeJS.Timeout | null = null;
  #jobsDone = 0;

  constructor(options: ProcessorPoolOptions) {
    if (!Number.isInteger(options.size) || options.size < 1) throw new RangeError(`size must be a positive integer, got ${options.size}`);
    this.#options = {
      size: options.size,
      modelsDir: options.modelsDir,
      modelId: options.modelId,
      ocrWorkers: options.ocrWorkers ?? 1,
      jobTimeoutMs: options.jobTimeoutMs ?? 10 * 60_000,
      maxMemoryMb: options.maxMemoryMb ?? 1536,
      memoryCheckIntervalMs: options.memoryCheckIntervalMs ?? 100,
      niceness: options.niceness ?? 10,
      embedderThreads: options.embedderThreads,
      executionProvider: options.executionProvider ?? 'cpu',
      startTimeoutMs: options.startTimeoutMs ?? 120_000,
      cancelGraceMs: options.cancelGraceMs ?? 5_000,
      progressIntervalMs: options.progressIntervalMs ?? 250,
      pipeline: { ...options.pipeline, ...(options.maxPages === undefined ? {} : { maxPages: options.maxPages }) },
    };
    this.#logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'processor-pool' });
  }

  /** Number of jobs running now. */
  /** Jobs it runs at once: its number of pipeline processes. */
  get size(): number {
    return this.#options.size;
  }

  get busy(): number {
    return [...this.#slots].filter((slot) => slot.state === 'busy').length;
  }

  /** Process ids of the pipeline processes, for operators and tests. */
  pids(): number[] {
    return [...this.#slots].flatMap((slot) => (slot.worker.pid === undefined || slot.state === 'stopping' ? [] : [slot.worker.pid]));
  }

  /**
   * Where the workers' embedders run: `cuda` when every ready worker runs on CUDA, `cpu` when
   * any runs on the CPU (CUDA was not asked for or could not start), null before one is ready.
   */
  get executionProvider(): ExecutionProvider | null {
    const ready = [...this.#slots].flatMap((slot) => (slot.executionProvider === null ? [] : [slot.executionProvider]));
    if (ready.length === 0) return null;
    return ready.every((provider) => provider === 'cuda') ? 'cuda' : 'cpu';
  }

  /** Jobs that ended with the document processed since the pool was made, for node heartbeats. */
  get jobsDone(): number {
    return this.#jobsDone;
  }

  /** Number of jobs waiting for a worker. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Starts every worker and waits until each has loaded its model. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const starting = Array.from({ length: this.#options.size }, () => this.#spawn());
    const results = await Promise.allSettled(starting);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await this.close();
      throw failed.reason;
    }
    this.#logger.info({ workers: this.#options.size, executionProvider: this.executionProvider }, 'processor pool started');
  }

  /**
   * Runs one job. `data` is copied to the pipeline process that takes the job; the pool
   * drops its own reference then.
   */
  run(job: ProcessJob, data: Uint8Array, classifier: ClassifierSettings, handlers: RunHandlers): Promise<RunOutcome> {
    return new Promise<RunOutcome>((resolve) => {
      let markEnded = (): void => {};
      const ended = new Promise<void>((done) => {
        markEnded = done;
      });
      const pending: PendingRun = {
        runId: this.#nextRunId++,
        job,
        data,
        classifier,
        handlers,
        resolve,
        settled: false,
        slot: null,
        timers: [],
        onAbort: null,
        delivering: Promise.resolve(),
        lastProgress: null,
        ended,
        markEnded,
      };
      if (this.#closing || !this.#started) {
        this.#settle(
          pending,
          failure(PipelineErrorCode.Cancelled, this.#closing ? 'the pool is closing' : 'the pool is not started', true),
        );
        return;
      }
      const { signal } = handlers;
      if (signal?.aborted) {
        this.#settle(pending, failure(PipelineErrorCode.Cancelled, 'the job was cancelled', true));
        return;
      }
      if (signal) {
        pending.onAbort = () => this.#cancel(pending);
        signal.addEventListener('abort', pending.onAbort, { once: true });
      }
      this.#queue.push(pending);
      this.#dispatch();
    });
  }

  /**
   * Stops the pool: queued jobs resolve as cancelled (retryable), running jobs get
   * `graceMs` to finish, then every worker is terminated.
   */
  async close(options: { graceMs?: number } = {}): Promise<void> {
    this.#closing = true;
    for (const timer of this.#respawnTimers) clearTimeout(timer);
    this.#respawnTimers.clear();
    for (const pending of this.#queue.splice(0)) {
      this.#settle(pending, failure(PipelineErrorCode.Cancelled, 'the pool is closing', true));
    }
    const running = [...this.#slots].flatMap((slot) => (slot.run ? [slot.run] : []));
    if (running.length > 0) {
      const grace = options.graceMs ?? 10_000;
      await Promise.race([Promise.all(running.map((run) => run.ended)), delay(grace)]);
      for (const run of running) this.#settle(run, failure(PipelineErrorCode.Cancelled, 'the pool closed before the job finished', true));
    }
    await Promise.all([...this.#slots].map((slot) => this.#terminate(slot)));
    this.#slots.clear();
    if (this.#memoryTimer) clearInterval(this.#memoryTimer);
    this.#memoryTimer = null;
    this.#logger.info('processor pool closed');
  }

  #spawn(): Promise<void> {
    const id = this.#nextSlotId++;
    const config: WorkerConfig = {
      modelsDir: this.#options.modelsDir,
      modelId: this.#options.modelId,
      ocrWorkers: this.#options.ocrWorkers,
      embedderThreads: this.#options.embedderThreads,
      executionProvider: this.#options.executionProvider,
      pipeline: this.#options.pipeline,
      logLevel: this.#logger.level,
    };
    const worker = startTypeScriptProcess(ENTRY, { name: `quire-pipeline-${id}`, maxHeapMb: this.#options.maxMemoryMb });
    // Processing is batch work: on a busy machine the host's requests and sockets go first.
    if (worker.pid !== undefined && this.#options.niceness > 0) {
      try {
        setPriority(worker.pid, Math.min(19, getPriority() + this.#options.niceness));
      } catch (error) {
        this.#logger.debug({ err: error }, 'could not lower the priority of a pipeline process');
      }
    }
    const exited = new Promise<void>((done) => worker.once('close', () => done()));
    const slot: Slot = { id, worker, state: 'starting', run: null, stopReason: null, stderrTail: '', exited, executionProvider: null };
    this.#slots.add(slot);
    this.#watchMemory();
    worker.stderr?.setEncoding('utf8');
    worker.stderr?.on('data', (text: string) => {
      slot.stderrTail = (slot.stderrTail + text).slice(-4096);
      this.#logger.warn({ worker: id, stderr: text.trim().slice(0, 1000) }, 'pipeline process wrote to stderr');
    });
    worker.send({ type: 'init', config } satisfies HostMessage);

    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        fail(new PoolStartError('WORKER_START_TIMEOUT', `pipeline worker ${id} did not start within ${this.#options.startTimeoutMs} ms`));
        void this.#terminate(slot);
      }, this.#options.startTimeoutMs);
      let startSettled = false;
      const fail = (error: Error): void => {
        if (startSettled) return;
        startSettled = true;
        clearTimeout(timer);
        reject(error);
      };
      const ready = (): void => {
        if (startSettled) return;
        startSettled = true;
        clearTimeout(timer);
        resolve();
      };

      worker.on('message', (message: WorkerMessage) => {
        switch (message.type) {
          case 'ready':
            slot.state = 'idle';
            slot.executionProvider = message.executionProvider;
            this.#respawnDelayMs = 0;
            this.#logger.debug(
              { worker: id, modelId: message.modelId, executionProvider: message.executionProvider, pid: worker.pid },
              'pipeline worker ready',
            );
            ready();
            this.#dispatch();
            break;
          case 'startup-failed':
            fail(new PoolStartError(message.code, `pipeline worker ${id} failed to start: ${message.message}`));
            void this.#terminate(slot);
            break;
          case 'log':
            this.#forwardLog(id, message.line);
            break;
          default:
            this.#onRunMessage(slot, message);
        }
      });
      // Sending to a process that just died fails here; its exit is handled below.
      worker.on('error', (error) => this.#logger.warn({ worker: id, err: error }, 'pipeline process channel failed'));
      // 'close' comes after the process exited and its stderr ended, so V8's last words are in.
      worker.on('close', (code, signal) => {
        this.#slots.delete(slot);
        const wasStarting = slot.state === 'starting';
        slot.state = 'stopping';
        const heapExhausted = /heap out of memory|Reached heap limit/i.test(slot.stderrTail);
        const reason = signal ? `signal ${signal}` : `exit code ${code}`;
        fail(
          slot.stopReason === 'memory'
            ? new PoolStartError(
                'WORKER_MEMORY_LIMIT',
                `pipeline worker ${id} needed more than its memory limit of ${this.#options.maxMemoryMb} MiB while loading`,
              )
            : new PoolStartError('WORKER_START_FAILED', `pipeline worker ${id} exited while starting: ${reason}`),
        );
        if (slot.run) {
          this.#settle(
            slot.run,
            slot.stopReason === 'memory' || heapExhausted
              ? failure(
                  PipelineErrorCode.WorkerOutOfMemory,
                  `the document needed more memory than the limit of ${this.#options.maxMemoryMb} MiB`,
                  false,
                  slot.run.lastProgress?.report.stage as FailedStage | undefined,
                )
              : failure(PipelineErrorCode.WorkerCrashed, `the worker stopped: ${reason}`, true),
          );
        }
        if (wasStarting) this.#logger.warn({ worker: id, reason }, 'pipeline worker exited while starting');
        if (!this.#closing) this.#replace();
      });
    });
  }

  /**
   * Measures every process's resident memory and kills one that outgrew the limit (its job,
   * if any, fails). Runs while the pool has processes.
   */
  #watchMemory(): void {
    if (this.#memoryTimer) return;
    let measuring = false;
    this.#memoryTimer = setInterval(() => {
      if (measuring) return;
      const live = [...this.#slots].filter((slot) => slot.state !== 'stopping' && slot.worker.pid !== undefined);
      if (live.length === 0) return;
      measuring = true;
      // The job each process ran when it was measured: only that job is blamed.
      const runs = new Map(live.map((slot) => [slot, slot.run]));
      pidusage(live.map((slot) => slot.worker.pid!))
        .then((stats) => {
          for (const slot of live) {
            const rss = stats[slot.worker.pid!]?.memory;
            if (rss === undefined || rss <= this.#limitBytes || slot.state === 'stopping') continue;
            if (slot.run !== runs.get(slot)) continue;
            this.#logger.warn(
              { worker: slot.id, rssMb: Math.round(rss / 1048576), limitMb: this.#options.maxMemoryMb, jobId: slot.run?.job.jobId },
              'pipeline process exceeded its memory limit; killing it',
            );
            slot.stopReason = 'memory';
            void this.#terminate(slot);
          }
        })
        // A process that exited between the listing and the measurement has no entry.
        .catch(() => undefined)
        .finally(() => {
          measuring = false;
        });
    }, this.#options.memoryCheckIntervalMs);
    this.#memoryTimer.unref();
  }

  /** Starts a replacement worker, backing off while replacements keep failing. */
  #replace(): void {
    const wait = this.#respawnDelayMs;
    this.#respawnDelayMs = Math.min(30_000, Math.max(1_000, wait * 2));
    // Kept referenced: jobs may be waiting for this worker, and nothing else holds the process.
    const timer = setTimeout(() => {
      this.#respawnTimers.delete(timer);
      if (this.#closing) return;
      this.#spawn().catch((error: unknown) => this.#logger.error({ err: error }, 'replacement pipeline worker failed to start'));
    }, wait);
    this.#respawnTimers.add(timer);
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (slot.state !== 'idle') continue;
      const pending = this.#queue.shift();
      if (!pending) return;
      this.#startRun(slot, pending);
    }
  }

  #startRun(slot: Slot, pending: PendingRun): void {
    slot.state = 'busy';
    slot.stderrTail = '';
    slot.run = pending;
    pending.slot = slot;
    const timeoutMs = pending.handlers.timeoutMs ?? this.#options.jobTimeoutMs;
    pending.timers.push(
      setTimeout(() => {
        this.#settle(pending, failure(PipelineErrorCode.JobTimeout, `the job ran longer than ${timeoutMs} ms`, true));
        void this.#terminate(slot);
      }, timeoutMs),
    );
    pending.timers.push(setInterval(() => this.#heartbeat(pending), this.#options.progressIntervalMs / 2));
    const message: HostMessage = {
      type: 'run',
      runId: pending.runId,
      job: pending.job,
      data: pending.data,
      classifier: pending.classifier,
    };
    this.#send(slot, message);
    // The process has its own copy now; the host keeps none while the job runs.
    pending.data = new Uint8Array(0);
  }

  /** Sends to a process unless it is gone; a process that died is handled by its exit. */
  #send(slot: Slot, message: HostMessage): void {
    if (!slot.worker.connected) return;
    slot.worker.send(message, (error: Error | null) => {
      if (error) this.#logger.warn({ worker: slot.id, err: error }, 'a message to a pipeline process was not delivered');
    });
  }

  #onRunMessage(slot: Slot, message: Exclude<WorkerMessage, { type: 'ready' | 'startup-failed' | 'log' }>): void {
    const run = slot.run;
    if (!run || run.runId !== message.runId || run.settled) return;
    switch (message.type) {
      case 'progress': {
        const event: ProgressEvent = {
          jobId: run.job.jobId,
          documentId: run.job.documentId,
          teamId: run.job.teamId,
          ...message.progress,
          at: Date.now(),
        };
        run.lastProgress = { report: event, receivedAt: event.at, sentAt: event.at };
        this.#emitProgress(run, event);
        break;
      }
      case 'result': {
        run.delivering = run.delivering.then(async () => {
          let error: string | null = null;
          try {
            await run.handlers.onResult(message.part);
          } catch (cause) {
            error = cause instanceof Error ? cause.message : String(cause);
          }
          if (!run.settled) this.#send(slot, { type: 'ack', runId: run.runId, seq: message.seq, error });
        });
        break;
      }
      case 'done':
        void run.delivering.then(() => this.#finishRun(slot, run, { status: 'succeeded' }));
        break;
      case 'failed':
        void run.delivering.then(() => this.#finishRun(slot, run, fromSerialized(message.failure)));
        break;
      default: {
        const unknown: never = message;
        this.#logger.warn({ message: unknown }, 'unknown message from a pipeline worker');
      }
    }
  }

  /** Repeats the last report when the worker has been silent for a progress interval. */
  #heartbeat(run: PendingRun): void {
    const last = run.lastProgress;
    if (!last || run.settled) return;
    const now = Date.now();
    if (now - last.sentAt < this.#options.progressIntervalMs * 0.8) return;
    last.sentAt = now;
    const { etaMs } = last.report;
    this.#emitProgress(run, { ...last.report, etaMs: etaMs === null ? null : Math.max(0, etaMs - (now - last.receivedAt)), at: now });
  }

  #emitProgress(run: PendingRun, event: ProgressEvent): void {
    try {
      run.handlers.onProgress?.(event);
    } catch (error) {
      this.#logger.warn({ err: error, jobId: run.job.jobId }, 'progress handler failed');
    }
  }

  #finishRun(slot: Slot, run: PendingRun, outcome: RunOutcome): void {
    this.#settle(run, outcome);
    if (slot.state !== 'busy' || slot.run !== run) return;
    slot.run = null;
    slot.state = 'checking';
    // Memory a job used is not always given back: a process left near its limit is replaced
    // now, rather than the next job being blamed for it.
    void this.#residentBytes(slot).then((rss) => {
      if (slot.state !== 'checking') return;
      if (rss !== undefined && rss > RECYCLE_AT * this.#limitBytes) {
        this.#logger.info({ worker: slot.id, rssMb: Math.round(rss / 1048576) }, 'replacing a pipeline process that kept much memory');
        void this.#terminate(slot);
        return;
      }
      slot.state = 'idle';
      this.#dispatch();
    });
  }

  get #limitBytes(): number {
    return this.#options.maxMemoryMb * 1024 * 1024;
  }

  /** A process's resident set in bytes; undefined when it cannot be measured (it exited). */
  async #residentBytes(slot: Slot): Promise<number | undefined> {
    if (slot.worker.pid === undefined) return undefined;
    try {
      return (await pidusage(slot.worker.pid)).memory;
    } catch {
      return undefined;
    }
  }

  #cancel(pending: PendingRun): void {
    if (pending.settled) return;
    const index = this.#queue.indexOf(pending);
    if (index >= 0) {
      this.#queue.splice(index, 1);
      this.#settle(pending, failure(PipelineErrorCode.Cancelled, 'the job was cancelled', true));
      return;
    }
    const slot = pending.slot;
    if (!slot) return;
    this.#send(slot, { type: 'cancel', runId: pending.runId });
    // A worker stuck in synchronous code cannot see the cancel: end it after a grace period.
    pending.timers.push(
      setTimeout(() => {
        if (pending.settled) return;
        this.#settle(pending, failure(PipelineErrorCode.Cancelled, 'the job was cancelled', true));
        void this.#terminate(slot);
      }, this.#options.cancelGraceMs),
    );
  }

  #settle(run: PendingRun, outcome: RunOutcome): void {
    if (run.settled) return;
    run.settled = true;
    for (const timer of run.timers) clearTimeout(timer);
    if (run.onAbort) run.handlers.signal?.removeEventListener('abort', run.onAbort);
    if (outcome.status === 'succeeded') this.#jobsDone += 1;
    if (outcome.status === 'failed') {
      this.#logger.info({ jobId: run.job.jobId, code: outcome.code, stage: outcome.stage, retryable: outcome.retryable }, 'job failed');
    }
    run.resolve(outcome);
    run.markEnded();
  }

  /** Kills the process (SIGKILL: a process stuck in native code cannot act on anything gentler) and waits for it to exit. */
  async #terminate(slot: Slot): Promise<void> {
    if (slot.state !== 'stopping') {
      slot.state = 'stopping';
      slot.worker.kill('SIGKILL');
    }
    await slot.exited;
  }

  #forwardLog(worker: number, line: string): void {
    try {
      const { level, msg, ...fields } = JSON.parse(line) as { level: number; msg?: string } & Record<string, unknown>;
      delete fields.time;
      delete fields.pid;
      delete fields.hostname;
      this.#logger[LEVELS[level] ?? 'info']({ ...fields, worker }, msg ?? '');
    } catch {
      this.#logger.info({ worker }, line.trim());
    }
  }
}

function failure(code: string, message: string, retryable: boolean, stage: FailedStage = 'pipeline'): RunOutcome {
  return { status: 'failed', code, message, stage, retryable };
}

function fromSerialized(f: SerializedFailure): RunOutcome {
  return { status: 'failed', code: f.code, message: f.message, stage: f.stage, retryable: f.retryable };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
