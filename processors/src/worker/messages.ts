/**
 * Messages between a {@link ProcessorPool} and its pipeline processes. One job runs
 * per worker at a time; result parts are acknowledged one by one, so the host's result
 * handler paces the worker and its failure reaches the pipeline.
 */
import type { ExecutionProvider, ExecutionProviderChoice } from '../engines/embedder.transformers.ts';
import type { PipelineOptions, PipelineProgress } from '../pipeline.ts';
import type { ClassifierSettings, FailedStage, ProcessJob, ResultPart } from '@quire/kernel';

/** What a pipeline process is started with (the first message it receives). */
export interface WorkerConfig {
  modelsDir: string;
  modelId: string;
  ocrWorkers: number;
  /** onnxruntime threads of the embedder; undefined lets onnxruntime choose. */
  embedderThreads: number | undefined;
  /** Where the embedder runs; see {@link ExecutionProviderChoice}. */
  executionProvider: ExecutionProviderChoice;
  pipeline: PipelineOptions;
  /** pino level of the worker's log lines, which are forwarded to the host's logger. */
  logLevel: string;
}

/** Host to worker. */
export type HostMessage =
  | { type: 'init'; config: WorkerConfig }
  | { type: 'run'; runId: number; job: ProcessJob; data: Uint8Array; classifier: ClassifierSettings }
  | { type: 'cancel'; runId: number }
  | { type: 'ack'; runId: number; seq: number; error: string | null };

/** A failure as it crosses the thread boundary. */
export interface SerializedFailure {
  code: string;
  message: string;
  stage: FailedStage;
  retryable: boolean;
}

/** Worker to host. */
export type WorkerMessage =
  | { type: 'ready'; modelId: string; dimension: number; executionProvider: ExecutionProvider }
  | { type: 'startup-failed'; code: string; message: string }
  | { type: 'progress'; runId: number; progress: PipelineProgress }
  | { type: 'result'; runId: number; seq: number; part: ResultPart }
  | { type: 'done'; runId: number }
  | { type: 'failed'; runId: number; failure: SerializedFailure }
  | { type: 'log'; line: string };
