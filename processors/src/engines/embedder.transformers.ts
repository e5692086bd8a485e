/**
 * The Embedder port on transformers.js (onnxruntime-node, on the CPU or, when asked and
 * installed, CUDA), reading models only from MODELS_DIR: nothing is fetched at run time
 * (`quire models` obtains the files).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { PreTrainedModel, PreTrainedTokenizer, Tensor } from '@huggingface/transformers';
import type { Logger } from 'pino';
import type { Embedder } from './embedder.ts';
import { firstFailure, runModelChecks, type CheckResult } from './models/model-checks.ts';
import { ModelUnavailableError, ModelVerificationError } from './models/model-errors.ts';
import { getModelSpec, ONNX_FILE, Pooling, type ModelDtype, type ModelSpec } from './models/model-registry.ts';

/** Options of `TransformersEmbedder.load`. */
export interface TransformersEmbedderOptions {
  /** Folder holding `<org>/<name>/` model folders (config `models.dir`, default `.models`). */
  readonly modelsDir: string;
  /** Registered model id, e.g. `Xenova/all-MiniLM-L6-v2`. */
  readonly modelId: string;
  /** Weight precision; defaults to the registry's choice for the model. */
  readonly dtype?: ModelDtype;
  /** Texts per forward pass in `embedDocuments` (default 32). */
  readonly batchSize?: number;
  /** onnxruntime intra-op threads; default: onnxruntime's own (one per core). */
  readonly threads?: number;
  /**
   * Where inference runs (see {@link ExecutionProviderChoice}). Default `cpu`. The provider
   * actually used is the embedder's `executionProvider`.
   */
  readonly executionProvider?: ExecutionProviderChoice;
  /**
   * Run the quick checks (shape, reference values, semantics, batch invariance) before
   * returning, and refuse a model that fails them. Default true; `verifyModel` turns it off
   * because it runs the same checks itself and reports them all.
   */
  readonly verify?: boolean;
  readonly logger?: Logger;
}

/**
 * The onnxruntime execution provider an embedder is asked for: `cpu`; `cuda`, which runs on
 * the GPU when onnxruntime-node's CUDA build, the CUDA libraries and a device are present, and
 * otherwise on the CPU with a warning naming why; or `auto`, which tries CUDA the same way and
 * falls back quietly, so one setting serves machines with and without a GPU.
 */
export const ExecutionProviderChoice = { cpu: 'cpu', cuda: 'cuda', auto: 'auto' } as const;
/** One of {@link ExecutionProviderChoice}. */
export type ExecutionProviderChoice = (typeof ExecutionProviderChoice)[keyof typeof ExecutionProviderChoice];

/** The onnxruntime execution provider an embedder runs on. */
export const ExecutionProvider = { cpu: 'cpu', cuda: 'cuda' } as const;
/** One of {@link ExecutionProvider}. */
export type ExecutionProvider = (typeof ExecutionProvider)[keyof typeof ExecutionProvider];

const DEFAULT_BATCH_SIZE = 32;

/**
 * transformers.js (and onnxruntime with it), loaded by the first model load: a process that
 * only names models (a hub's main thread, a processor node's) never loads the runtime.
 */
async function transformers(): Promise<typeof import('@huggingface/transformers')> {
  const library = await import('@huggingface/transformers');
  // Models come from MODELS_DIR only. A missing file must fail here, loudly, not turn into a
  // download attempt at run time.
  library.env.allowRemoteModels = false;
  library.env.allowLocalModels = true;
  return library;
}

/** Path of the ONNX file a model runs with a given dtype. */
export function modelFilePath(modelsDir: string, modelId: string, dtype: ModelDtype): string {
  return join(resolve(modelsDir), modelId, 'onnx', ONNX_FILE[dtype]);
}

/** Batched text embedding with one transformers.js model; vectors are L2-normalised. */
export class TransformersEmbedder implements Embedder {
  readonly modelId: string;
  readonly dimension: number;
  /** Precision of the loaded file. */
  readonly dtype: ModelDtype;
  /** Where inference runs: `cuda` only when it was asked for and the model loaded on it. */
  readonly executionProvider: ExecutionProvider;
  #checks: readonly CheckResult[] = [];
  readonly #spec: ModelSpec;
  readonly #tokenizer: PreTrainedTokenizer;
  readonly #model: PreTrainedModel;
  readonly #batchSize: number;
  #closed = false;

  private constructor(
    spec: ModelSpec,
    dtype: ModelDtype,
    executionProvider: ExecutionProvider,
    tokenizer: PreTrainedTokenizer,
    model: PreTrainedModel,
    batchSize: number,
  ) {
    this.modelId = spec.id;
    this.dimension = spec.dimension;
    this.dtype = dtype;
    this.executionProvider = executionProvider;
    this.#spec = spec;
    this.#tokenizer = tokenizer;
    this.#model = model;
    this.#batchSize = batchSize;
  }

  /** Results of the load-time checks (empty when loaded with `verify: false`). */
  get checks(): readonly CheckResult[] {
    return this.#checks;
  }

  /**
   * Loads a registered model from `modelsDir`. Throws `ModelUnavailableError` when its ONNX
   * file is missing and `ModelVerificationError` when it fails a check. CUDA that is asked for
   * but cannot run is not an error: the model loads on the CPU (see `executionProvider`).
   */
  static async load(options: TransformersEmbedderOptions): Promise<TransformersEmbedder> {
    const spec = getModelSpec(options.modelId);
    const dtype = options.dtype ?? spec.dtype;
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
    const file = modelFilePath(options.modelsDir, spec.id, dtype);
    if (!existsSync(file)) {
      throw new ModelUnavailableError(spec.id, `Model ${spec.id} (${dtype}) is not installed: ${file} is missing. Run \`npm run models\`.`);
    }
    // An absolute folder path is not a hub id, so transformers.js reads it as is and never
    // consults env.localModelPath (which is process-global).
    const folder = join(resolve(options.modelsDir), spec.id);
    const started = performance.now();
    const { AutoTokenizer } = await transformers();
    const tokenizer = await AutoTokenizer.from_pretrained(folder);
    const { model, executionProvider } = await loadModel(folder, dtype, options);
    const embedder = new TransformersEmbedder(spec, dtype, executionProvider, tokenizer, model, batchSize);
    if (options.verify === false) return embedder;

    const checks = await runModelChecks(embedder, spec, dtype);
    const failed = firstFailure(checks);
    if (failed) {
      await embedder.close();
      throw new ModelVerificationError(
        spec.id,
        failed.check,
        `Model ${spec.id} (${dtype}) failed the ${failed.check} check: ${failed.detail}`,
        {
          details: { checks },
        },
      );
    }
    embedder.#checks = checks;
    options.logger?.info(
      { modelId: spec.id, dtype, executionProvider, ms: Math.round(performance.now() - started) },
      'embedding model loaded and verified',
    );
    return embedder;
  }

  async embedDocuments(texts: readonly string[]): Promise<Float32Array[]> {
    this.#assertOpen();
    const out = new Array<Float32Array>(texts.length);
    // Longest first, so each batch holds texts of similar length and pads little; results go
    // back to input order.
    const order = texts.map((_, i) => i).sort((a, b) => (texts[b]?.length ?? 0) - (texts[a]?.length ?? 0));
    for (let start = 0; start < order.length; start += this.#batchSize) {
      const indices = order.slice(start, start + this.#batchSize);
      const vectors = await this.#embedBatch(indices.map((i) => texts[i] ?? ''));
      indices.forEach((index, k) => {
        const v = vectors[k];
        if (v) out[index] = v;
      });
    }
    return out;
  }

  async embedQuery(text: string): Promise<Float32Array> {
    this.#assertOpen();
    const [v] = await this.#embedBatch([this.#spec.queryPrefix + text]);
    if (!v) throw new Error('embedding returned no vector');
    return v;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#model.dispose();
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error(`Embedder for ${this.modelId} is closed`);
  }

  async #embedBatch(texts: readonly string[]): Promise<Float32Array[]> {
    const inputs = this.#tokenizer([...texts], { padding: true, truncation: true, max_length: this.#spec.maxTokens });
    const outputs = (await this.#model(inputs)) as { last_hidden_state?: Tensor };
    const hidden = outputs.last_hidden_state;
    if (!hidden) throw new Error(`${this.modelId} returned no last_hidden_state`);
    const [batch, seq, dim] = hidden.dims as [number, number, number];
    if (dim !== this.dimension) throw new Error(`${this.modelId} returned ${dim}-dim states, expected ${this.dimension}`);
    const states = hidden.data as Float32Array;
    const mask = (inputs as { attention_mask: Tensor }).attention_mask.data as BigInt64Array;
    const result: Float32Array[] = [];
    for (let b = 0; b < batch; b++) {
      const v = new Float32Array(dim);
      if (this.#spec.pooling === Pooling.cls) {
        v.set(states.subarray(b * seq * dim, b * seq * dim + dim));
      } else {
        let count = 0;
        for (let t = 0; t < seq; t++) {
          if (mask[b * seq + t] === 0n) continue;
          count++;
          const offset = (b * seq + t) * dim;
          for (let d = 0; d < dim; d++) v[d] = (v[d] ?? 0) + (states[offset + d] ?? 0);
        }
        for (let d = 0; d < dim; d++) v[d] = (v[d] ?? 0) / Math.max(count, 1);
      }
      if (this.#spec.normalize) normalizeInPlace(v);
      result.push(v);
    }
    return result;
  }
}

/**
 * Loads the model on the provider asked for: CUDA first for `cuda` and `auto`, the CPU when
 * that fails. Only `cuda` warns about the fallback; `auto` expects it on machines without a GPU.
 */
async function loadModel(
  folder: string,
  dtype: ModelDtype,
  options: TransformersEmbedderOptions,
): Promise<{ model: PreTrainedModel; executionProvider: ExecutionProvider }> {
  const { AutoModel } = await transformers();
  const load = (device: ExecutionProvider): Promise<PreTrainedModel> =>
    AutoModel.from_pretrained(folder, {
      dtype,
      device,
      ...(options.threads ? { session_options: { intraOpNumThreads: options.threads } } : {}),
    });
  const requested = options.executionProvider ?? ExecutionProviderChoice.cpu;
  if (requested === ExecutionProviderChoice.cpu)
    return { model: await load(ExecutionProvider.cpu), executionProvider: ExecutionProvider.cpu };

  let reason = missingCudaBuild();
  if (reason === null) {
    try {
      return { model: await load(ExecutionProvider.cuda), executionProvider: ExecutionProvider.cuda };
    } catch (error) {
      // No device, no driver, or CUDA or cuDNN libraries missing or of another major version.
      reason = `onnxruntime could not start CUDA: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  const fields = { requested, executionProvider: ExecutionProvider.cpu, reason };
  if (requested === ExecutionProviderChoice.cuda) options.logger?.warn(fields, 'CUDA execution provider unavailable; embedding on the CPU');
  else options.logger?.debug(fields, 'CUDA execution provider unavailable; embedding on the CPU');
  return { model: await load(ExecutionProvider.cpu), executionProvider: ExecutionProvider.cpu };
}

/**
 * Why onnxruntime-node cannot have CUDA here, told from its files, or null when it may. Its
 * CUDA provider is a separate download (`onnxruntime-node`'s install script, skipped by this
 * repository's .npmrc); checking for it first keeps a CPU-only machine from the native error
 * onnxruntime prints on a failed attempt.
 */
function missingCudaBuild(): string | null {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return `onnxruntime-node ships CUDA for Linux x64 only, not ${process.platform} ${process.arch}`;
  }
  let packageDir: string;
  try {
    // The onnxruntime-node that transformers.js loads, wherever the install placed it.
    const runtime = createRequire(import.meta.resolve('@huggingface/transformers')).resolve('onnxruntime-node');
    packageDir = dirname(dirname(runtime));
  } catch {
    return null;
  }
  // Where onnxruntime-node's own binding loader looks; another layout is left to the attempt.
  const bindingDir = join(packageDir, 'bin', 'napi-v6', process.platform, process.arch);
  if (!existsSync(bindingDir)) return null;
  const provider = 'libonnxruntime_providers_cuda.so';
  return existsSync(join(bindingDir, provider))
    ? null
    : `onnxruntime-node is installed without its CUDA provider (${provider}); reinstall it with ONNXRUNTIME_NODE_INSTALL=cuda12`;
}

function normalizeInPlace(v: Float32Array): void {
  let sum = 0;
  for (const x of v) sum += x * x;
  const norm = Math.sqrt(sum) || 1;
  for (let i = 0; i < v.length; i++) v[i] = (v[i] ?? 0) / norm;
}
