/**
 * Embedding throughput of the product's embedder against a bare onnxruntime session running
 * the same model file, to show what the product adds on top of inference.
 *
 *   node --import tsx load-tests/embed.bench.ts \
 *     --corpus ../shared/data/retrieval/msmarco_subset_agentset/corpus.jsonl \
 *     [--model Xenova/all-MiniLM-L6-v2] [--dtype q8|fp32] [--models-dir .models] \
 *     [--chunks 256] [--batch 32] [--rounds 3] [--warmup 1] [--threads N]
 *
 * Chunks are the first `--chunks` passages (title + text, as indexed) of a BEIR-style
 * `corpus.jsonl`, repeated when the file holds fewer. Three contenders run on the same chunks,
 * one after the other in every round (each round starting with the next one), so a busy
 * machine weighs on all of them alike:
 *
 * - product: `TransformersEmbedder.embedDocuments`, everything the pipeline pays per chunk:
 *   longest-first ordering, tokenization, transformers.js' forward pass (onnxruntime-node),
 *   mean or CLS pooling and L2 normalisation, results back in input order.
 * - bare: an onnxruntime-node `InferenceSession` on the same ONNX file (the registry's dtype
 *   for the model unless `--dtype`), fed the same batches in the same order, tokenized once
 *   before any timing; timed are inference, pooling and normalisation in plain TypeScript.
 * - tokenizer: the product's tokenizer alone on the same batches, which accounts for most of
 *   what the product does besides inference.
 *
 * Both sessions use the CPU execution provider and the same intra-op threads: onnxruntime's
 * own choice (one per physical core), as the product runs, or `--threads` for both. Reported
 * per contender: chunks per second (median of the rounds, min, max, spread) and CPU
 * milliseconds per chunk (all threads of the process: steadier than wall time on a shared
 * machine), the ratio of throughputs product/bare per round, and the largest difference
 * between the two sides' vectors (0 when both ran the same computation).
 *
 * Measures, never asserts. The last line is JSON.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AutoTokenizer, type PreTrainedTokenizer } from '@huggingface/transformers';
import ort from 'onnxruntime-node';
import { describeMachine, formatTable, jsonLine, measureRoundFigures, peakRssMiB } from '../hub/src/eval/report.ts';
import { ModelDtype, ONNX_FILE, Pooling, TransformersEmbedder, getModelSpec, modelFilePath } from '../processors/src/index.ts';
import type { ModelSpec } from '../processors/src/index.ts';
import { passageText, readJsonLines } from '../search/src/eval/beir.ts';

const USAGE =
  'usage: node --import tsx load-tests/embed.bench.ts --corpus <beir-dataset>/corpus.jsonl [--model ID] [--dtype q8|fp32] ' +
  '[--models-dir .models] [--chunks 256] [--batch 32] [--rounds 3] [--warmup 1] [--threads N]';

const { values: args } = parseArgs({
  options: {
    corpus: { type: 'string' },
    model: { type: 'string', default: 'Xenova/all-MiniLM-L6-v2' },
    dtype: { type: 'string' },
    'models-dir': { type: 'string', default: '.models' },
    chunks: { type: 'string', default: '256' },
    batch: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    threads: { type: 'string' },
  },
});
if (!args.corpus) {
  console.error(USAGE);
  process.exit(2);
}
const CHUNKS = Number(args.chunks);
const BATCH = Number(args.batch);
const ROUNDS = Number(args.rounds);
const WARMUP = Number(args.warmup);
const THREADS = args.threads === undefined ? undefined : Number(args.threads);
const spec = getModelSpec(args.model);
if (args.dtype !== undefined && !Object.values(ModelDtype).includes(args.dtype as ModelDtype)) {
  console.error(`--dtype must be one of ${Object.values(ModelDtype).join(', ')}`);
  process.exit(2);
}
const dtype = (args.dtype as ModelDtype | undefined) ?? spec.dtype;
const modelsDir = resolve(args['models-dir']);

/** One batch, tokenized before timing, as onnxruntime takes it. */
interface Feed {
  /** Positions of the batch's texts in the chunk list. */
  indices: number[];
  tensors: Record<string, ort.Tensor>;
  mask: BigInt64Array;
}

function loadChunks(path: string, count: number): string[] {
  const passages = readJsonLines(path)
    .map((row) => passageText({ title: String(row.title ?? ''), text: String(row.text ?? '') }))
    .filter((text) => text !== '');
  if (passages.length === 0) throw new Error(`no passages in ${path}`);
  return Array.from({ length: count }, (_, i) => passages[i % passages.length]!);
}

/**
 * The batches `embedDocuments` forms (longest text first, `BATCH` at a time), so the bare
 * session pads exactly as much as the product does.
 */
function productBatches(texts: readonly string[]): number[][] {
  const order = texts.map((_, i) => i).sort((a, b) => texts[b]!.length - texts[a]!.length);
  const batches: number[][] = [];
  for (let start = 0; start < order.length; start += BATCH) batches.push(order.slice(start, start + BATCH));
  return batches;
}

function tokenize(tokenizer: PreTrainedTokenizer, texts: string[]): Record<string, { data: BigInt64Array; dims: number[] }> {
  return tokenizer(texts, { padding: true, truncation: true, max_length: spec.maxTokens }) as unknown as Record<
    string,
    { data: BigInt64Array; dims: number[] }
  >;
}

function prepareFeeds(tokenizer: PreTrainedTokenizer, session: ort.InferenceSession, texts: readonly string[]): Feed[] {
  return productBatches(texts).map((indices) => {
    const encoded = tokenize(
      tokenizer,
      indices.map((i) => texts[i]!),
    );
    const mask = encoded.attention_mask!.data;
    const tensors: Record<string, ort.Tensor> = {};
    for (const name of session.inputNames) {
      const input = encoded[name] ?? { data: new BigInt64Array(mask.length), dims: encoded.input_ids!.dims };
      tensors[name] = new ort.Tensor('int64', input.data, input.dims);
    }
    return { indices, tensors, mask };
  });
}

/** Inference, pooling and normalisation of pre-tokenized batches; vectors in chunk order. */
async function bareEmbed(session: ort.InferenceSession, model: ModelSpec, feeds: readonly Feed[], count: number): Promise<Float32Array[]> {
  const out = new Array<Float32Array>(count);
  for (const feed of feeds) {
    const hidden = (await session.run(feed.tensors))[session.outputNames[0]!]!;
    const [batch, seq, dim] = hidden.dims as [number, number, number];
    const states = hidden.data as Float32Array;
    for (let b = 0; b < batch; b++) {
      const v = new Float32Array(dim);
      if (model.pooling === Pooling.cls) {
        v.set(states.subarray(b * seq * dim, b * seq * dim + dim));
      } else {
        let count = 0;
        for (let t = 0; t < seq; t++) {
          if (feed.mask[b * seq + t] === 0n) continue;
          count++;
          const offset = (b * seq + t) * dim;
          for (let d = 0; d < dim; d++) v[d]! += states[offset + d]!;
        }
        for (let d = 0; d < dim; d++) v[d]! /= Math.max(count, 1);
      }
      if (model.normalize) {
        let sum = 0;
        for (const x of v) sum += x * x;
        const norm = Math.sqrt(sum) || 1;
        for (let d = 0; d < dim; d++) v[d]! /= norm;
      }
      out[feed.indices[b]!] = v;
    }
  }
  return out;
}

function maxAbsDifference(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  let max = 0;
  a.forEach((v, i) => v.forEach((x, d) => (max = Math.max(max, Math.abs(x - b[i]![d]!)))));
  return max;
}

const texts = loadChunks(args.corpus, CHUNKS);
const file = modelFilePath(modelsDir, spec.id, dtype);
const product = await TransformersEmbedder.load({
  modelsDir,
  modelId: spec.id,
  dtype,
  batchSize: BATCH,
  ...(THREADS === undefined ? {} : { threads: THREADS }),
});
// What transformers.js passes for `device: 'cpu'`, plus the product's thread setting.
const session = await ort.InferenceSession.create(file, {
  executionProviders: ['cpu'],
  ...(THREADS === undefined ? {} : { intraOpNumThreads: THREADS }),
});
const tokenizer = await AutoTokenizer.from_pretrained(join(modelsDir, spec.id));
const feeds = prepareFeeds(tokenizer, session, texts);
const tokenCount = feeds.reduce((sum, f) => sum + f.mask.reduce((s, m) => s + Number(m), 0), 0);
const paddedCount = feeds.reduce((sum, f) => sum + f.mask.length, 0);

const perSecond = (ms: number): number => (texts.length / ms) * 1000;
const contenders: Record<'product' | 'bare' | 'tokenizer', () => Promise<unknown>> = {
  product: () => product.embedDocuments(texts),
  bare: () => bareEmbed(session, spec, feeds, texts.length),
  tokenizer: async () => {
    for (const indices of productBatches(texts))
      tokenize(
        tokenizer,
        indices.map((i) => texts[i]!),
      );
  },
};
const names = Object.keys(contenders) as (keyof typeof contenders)[];
const figures = await measureRoundFigures({
  warmup: WARMUP,
  rounds: ROUNDS,
  round: async (index) => {
    const ms = {} as Record<keyof typeof contenders, number>;
    const cpu = {} as Record<keyof typeof contenders, number>;
    // Each round starts with a different contender, so none always runs first or last.
    const shift = ((index % names.length) + names.length) % names.length;
    for (const name of [...names.slice(shift), ...names.slice(0, shift)]) {
      const start = performance.now();
      const cpuStart = process.cpuUsage();
      await contenders[name]();
      ms[name] = performance.now() - start;
      const used = process.cpuUsage(cpuStart);
      cpu[name] = (used.user + used.system) / 1000 / texts.length;
    }
    return {
      product: perSecond(ms.product),
      bare: perSecond(ms.bare),
      tokenizer: perSecond(ms.tokenizer),
      ratio: ms.bare / ms.product,
      productCpuMs: cpu.product,
      bareCpuMs: cpu.bare,
      tokenizerCpuMs: cpu.tokenizer,
    };
  },
});
const maxAbsDiff = maxAbsDifference(await product.embedDocuments(texts), await bareEmbed(session, spec, feeds, texts.length));
await product.close();
await session.release();

const threadsLabel = THREADS === undefined ? "onnxruntime's default (as the product runs)" : String(THREADS);
console.log(`${spec.id} ${dtype} (${spec.id}/onnx/${ONNX_FILE[dtype]}), ${texts.length} chunks in batches of ${BATCH}`);
console.log(
  `${tokenCount} tokens (${Math.round(tokenCount / texts.length)} per chunk, ${((1 - tokenCount / paddedCount) * 100).toFixed(1)}% padding), intra-op threads: ${threadsLabel}`,
);
console.log(
  `${describeMachine()}; ${WARMUP} warm-up, ${ROUNDS} measured rounds, contenders take turns within each round, each round starting with the next`,
);
console.log('product   = TransformersEmbedder.embedDocuments: ordering, tokenization, forward pass, pooling, normalisation');
console.log('bare      = onnxruntime-node InferenceSession.run on pre-tokenized batches + pooling + normalisation in TypeScript');
console.log('tokenizer = the same tokenizer alone on the same batches');
console.log('');
console.log(
  formatTable(
    ['contender', 'chunks/s', 'min', 'max', 'spread %', 'ms/chunk', 'cpu ms/chunk', 'cpu spread %'],
    names.map((name) => {
      const s = figures[name];
      const c = figures[`${name}CpuMs`];
      return [name, s.median, s.min, s.max, s.spreadPct, 1000 / s.median, c.median, c.spreadPct];
    }),
  ),
);
console.log('');
console.log(
  `product/bare throughput (below 1: the product is slower): ${figures.ratio.median.toFixed(3)} (rounds ${figures.ratio.min.toFixed(3)}–${figures.ratio.max.toFixed(3)}, spread ${figures.ratio.spreadPct.toFixed(1)}%)`,
);
console.log(`CPU per chunk product/bare (medians): ${(figures.productCpuMs.median / figures.bareCpuMs.median).toFixed(3)}`);
console.log(`largest |product − bare| vector component: ${maxAbsDiff.toExponential(2)}; peak RSS ${Math.round(peakRssMiB())} MiB`);
console.log(
  jsonLine('embed', {
    model: spec.id,
    dtype,
    onnxFile: `onnx/${ONNX_FILE[dtype]}`,
    chunks: texts.length,
    batch: BATCH,
    threads: THREADS ?? 'default',
    tokens: tokenCount,
    paddedTokens: paddedCount,
    warmup: WARMUP,
    rounds: ROUNDS,
    chunksPerSecond: { product: figures.product, bare: figures.bare, tokenizer: figures.tokenizer },
    productOverBare: figures.ratio,
    cpuMsPerChunk: { product: figures.productCpuMs, bare: figures.bareCpuMs, tokenizer: figures.tokenizerCpuMs },
    maxAbsDiff,
    peakRssMiB: peakRssMiB(),
  }),
);
