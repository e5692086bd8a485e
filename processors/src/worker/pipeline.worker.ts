/**
 * A pipeline process: a child of its {@link ProcessorPool}'s process that loads the embedding
 * model and the OCR engine once, then runs one pipeline at a time. Anything that goes wrong
 * inside a run comes back as a `failed` message; a crash, a stall or a runaway allocation is
 * the pool's to handle, and ends only this process. It ends itself when the pool goes away.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { pino, type Logger } from 'pino';
import type { Embedder } from '../engines/embedder.ts';
import { TransformersEmbedder } from '../engines/embedder.transformers.ts';
import { TesseractOcr } from '../engines/ocr.engine.ts';
import { preloadPdfEngine } from '../engines/pdf.engine.ts';
import { AppError, PipelineError, PipelineErrorCode, type ResultPart, UnreachableCaseError } from '@quire/kernel';
import { runPipeline, warmUpClassifier } from '../pipeline.ts';
import { DEFAULT_DOCUMENT_TYPES, DEFAULT_SENSITIVITIES } from '../stages/labels.ts';
import type { HostMessage, SerializedFailure, WorkerConfig, WorkerMessage } from './messages.ts';

if (!process.send) throw new Error('pipeline.worker.ts runs only as a child process with an IPC channel');
// Without its pool there is nobody to work for, and nobody watching its memory: it ends when
// the channel closes, and, should this thread be stuck in a long native call then, a thread
// of its own ends the process once it has been orphaned.
process.on('disconnect', () => process.exit(0));
new Worker(
  `const { workerData } = require('node:worker_threads');
   setInterval(() => { if (process.ppid !== workerData.ppid) process.kill(process.pid, 'SIGKILL'); }, 500);`,
  { eval: true, workerData: { ppid: process.ppid }, name: 'quire-orphan-watch' },
).unref();

const send = (message: WorkerMessage): void => {
  if (process.connected) process.send!(message);
};

const [init] = (await once(process, 'message')) as [HostMessage];
if (init.type !== 'init') throw new Error(`expected the init message first, got ${init.type}`);
const config: WorkerConfig = init.config;

// Log lines go to the host, which writes them through its own logger and destination.
const logger: Logger = pino(
  { level: config.logLevel, base: { component: 'pipeline-worker' } },
  { write: (line: string) => send({ type: 'log', line }) },
);

interface ActiveRun {
  runId: number;
  controller: AbortController;
  acks: Map<number, { resolve: () => void; reject: (error: Error) => void }>;
}
let active: ActiveRun | null = null;

async function main(): Promise<void> {
  let embedder: TransformersEmbedder;
  let ocr: TesseractOcr;
  try {
    const embedderOptions = { modelsDir: config.modelsDir, modelId: config.modelId, executionProvider: config.executionProvider, logger };
    embedder = await TransformersEmbedder.load(
      config.embedderThreads === undefined ? embedderOptions : { ...embedderOptions, threads: config.embedderThreads },
    );
    ocr = new TesseractOcr({ workers: config.ocrWorkers, logger });
    await Promise.all([ocr.start(), preloadPdfEngine()]);
    // Most teams classify with the default labels: embed them now, not during a first job.
    await warmUpClassifier(embedder, {
      types: [...DEFAULT_DOCUMENT_TYPES],
      sensitivities: [...DEFAULT_SENSITIVITIES],
      typeExamples: [],
      sensitivityExamples: [],
    });
  } catch (error) {
    send({
      type: 'startup-failed',
      code: error instanceof AppError ? error.code : 'WORKER_START_FAILED',
      message: error instanceof Error ? error.message : String(error),
    });
    return;
  }

  process.on('message', (message: HostMessage) => {
    switch (message.type) {
      case 'init':
        break;
      case 'run':
        void run(message, embedder, ocr);
        break;
      case 'cancel':
        if (active?.runId === message.runId) active.controller.abort(new Error('cancelled by the host'));
        break;
      case 'ack': {
        const waiter = active?.runId === message.runId ? active.acks.get(message.seq) : undefined;
        if (!waiter) break;
        active!.acks.delete(message.seq);
        if (message.error === null) waiter.resolve();
        else waiter.reject(new Error(message.error));
        break;
      }
      default:
        throw new UnreachableCaseError(message);
    }
  });
  send({ type: 'ready', modelId: embedder.modelId, dimension: embedder.dimension, executionProvider: embedder.executionProvider });
}

async function run(message: Extract<HostMessage, { type: 'run' }>, embedder: Embedder, ocr: TesseractOcr): Promise<void> {
  const { runId, job, data, classifier } = message;
  if (active) {
    send({
      type: 'failed',
      runId,
      failure: { code: PipelineErrorCode.Internal, message: 'worker is busy', stage: 'pipeline', retryable: true },
    });
    return;
  }
  const current: ActiveRun = { runId, controller: new AbortController(), acks: new Map() };
  active = current;
  let seq = 0;
  const log = logger.child({ jobId: job.jobId, documentId: job.documentId, correlationId: job.correlationId });
  try {
    await runPipeline(job, data, {
      embedder,
      ocr,
      classifier,
      signal: current.controller.signal,
      logger: log,
      options: config.pipeline,
      onProgress: (progress) => send({ type: 'progress', runId, progress }),
      onResult: (part: ResultPart) =>
        new Promise<void>((resolve, reject) => {
          const n = seq++;
          current.acks.set(n, { resolve, reject });
          send({ type: 'result', runId, seq: n, part });
        }),
    });
    send({ type: 'done', runId });
  } catch (error) {
    const failure: SerializedFailure =
      error instanceof PipelineError
        ? error.toJSON()
        : {
            code: PipelineErrorCode.Internal,
            message: error instanceof Error ? error.message : String(error),
            stage: 'pipeline',
            retryable: false,
          };
    if (failure.code === PipelineErrorCode.Internal) log.error({ err: error }, 'pipeline failed unexpectedly');
    send({ type: 'failed', runId, failure });
  } finally {
    active = null;
  }
}

await main();
