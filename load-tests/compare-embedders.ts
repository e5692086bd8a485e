/**
 * Retrieval quality and speed of the embedding models on BEIR-format sets, to pick the default.
 *
 *   node --import tsx load-tests/compare-embedders.ts \
 *     ../shared/data/retrieval/msmarco_subset_agentset ../shared/data/retrieval/dbpedia_subset_agentset \
 *     [--models Xenova/all-MiniLM-L6-v2:q8,Xenova/all-MiniLM-L6-v2:fp32] [--models-dir .models] \
 *     [--batch-size 32] [--threads N] [--cache load-tests/out/embeddings]
 *     [--speed-sample 256 [--speed-rounds 3] [--speed-only]]
 *
 * Each dataset folder holds corpus.jsonl (`_id`, `title`, `text`), queries.jsonl (`_id`, `text`)
 * and qrels/test.tsv (query id, corpus id, grade; the header line is optional). Passages are
 * `title + " " + text`, as BEIR's dense retrieval does; queries go through `embedQuery` (so a
 * model's query prefix applies). Every passage is ranked by cosine (exact search) and scored
 * with nDCG@10, Recall@100 and MRR@10 over the judged queries (search/src/eval/metrics.ts).
 *
 * Speed is passages embedded per second over the whole corpus, and the mean query latency, on
 * this machine as it is: the numbers are only comparable within one run. Each model is
 * verified before it is measured. `--cache` keeps the corpus vectors (keyed by model, dtype and
 * dataset) so a re-run only re-scores; cached runs report no corpus speed. `--speed-sample N`
 * first times every candidate on the same first N passages of the first dataset, alternating
 * candidates over `--speed-rounds` rounds and reporting the median, which compares speeds more
 * fairly on a busy machine than corpus runs made at different times; `--speed-only` stops there.
 *
 * Measures, never asserts. The last line is JSON.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readVectors, vectorCacheFile, writeVectors } from './vector-cache.ts';
import { MODEL_REGISTRY, ModelDtype, TransformersEmbedder, modelFilePath } from '../processors/src/index.ts';
import { loadBeirDataset, passageText } from '../search/src/eval/beir.ts';
import { mean, mrrAtK, ndcgAtK, recallAtK, type Qrels } from '../search/src/eval/metrics.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const USAGE =
  'usage: node --import tsx load-tests/compare-embedders.ts ../shared/data/retrieval/msmarco_subset_agentset ' +
  '[more dataset dirs] [--models ID:DTYPE,...] [--models-dir .models] [--batch-size 32] [--threads N] [--cache DIR] [--speed-sample N]';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    models: { type: 'string' },
    'models-dir': { type: 'string', default: join(repoRoot, '.models') },
    'batch-size': { type: 'string', default: '32' },
    threads: { type: 'string' },
    cache: { type: 'string' },
    'speed-sample': { type: 'string' },
    'speed-rounds': { type: 'string', default: '3' },
    'speed-only': { type: 'boolean' },
  },
});
if (positionals.length === 0) {
  console.error(USAGE);
  process.exit(2);
}
const modelsDir = resolve(args['models-dir']);
const batchSize = Number(args['batch-size']);
const threads = args.threads ? Number(args.threads) : undefined;

interface Candidate {
  readonly modelId: string;
  readonly dtype: ModelDtype;
}

function candidates(): Candidate[] {
  if (args.models) {
    return args.models.split(',').map((entry) => {
      const [modelId = '', dtype = ''] = entry.split(':');
      const spec = MODEL_REGISTRY.get(modelId);
      if (!spec) throw new Error(`unknown model ${modelId}`);
      return { modelId, dtype: (dtype || spec.dtype) as ModelDtype };
    });
  }
  // Every installed file of every registered model.
  return [...MODEL_REGISTRY.values()].flatMap((spec) =>
    Object.values(ModelDtype)
      .filter((dtype) => existsSync(modelFilePath(modelsDir, spec.id, dtype)))
      .map((dtype) => ({ modelId: spec.id, dtype })),
  );
}

interface Dataset {
  readonly name: string;
  readonly docIds: string[];
  readonly passages: string[];
  readonly queries: { id: string; text: string }[];
  readonly qrels: Map<string, Map<string, number>>;
}

function loadDataset(dir: string): Dataset {
  const ds = loadBeirDataset(dir);
  return { name: ds.name, docIds: ds.docs.map((d) => d.id), passages: ds.docs.map(passageText), queries: ds.queries, qrels: ds.qrels };
}

function topK(query: Float32Array, docs: readonly Float32Array[], ids: readonly string[], k: number): string[] {
  const scores = docs.map((d, i) => {
    let dot = 0;
    for (let j = 0; j < d.length; j++) dot += (d[j] ?? 0) * (query[j] ?? 0);
    return { i, dot };
  });
  scores.sort((a, b) => b.dot - a.dot);
  return scores.slice(0, k).map((s) => ids[s.i] ?? '');
}

async function corpusVectors(
  embedder: TransformersEmbedder,
  c: Candidate,
  ds: Dataset,
): Promise<{ vectors: Float32Array[]; perSecond?: number }> {
  const cacheFile = args.cache ? vectorCacheFile(resolve(args.cache), c.modelId, c.dtype, ds.name) : undefined;
  const cached = cacheFile ? await readVectors(cacheFile, ds.passages.length, embedder.dimension) : null;
  if (cached) return { vectors: cached };
  const started = performance.now();
  const vectors: Float32Array[] = [];
  // Slices of 500 so progress shows on a slow machine; each slice is batched by the embedder.
  for (let i = 0; i < ds.passages.length; i += 500) {
    vectors.push(...(await embedder.embedDocuments(ds.passages.slice(i, i + 500))));
    process.stderr.write(`\r  ${c.modelId} ${c.dtype} ${ds.name}: ${vectors.length}/${ds.passages.length} passages`);
  }
  const seconds = (performance.now() - started) / 1000;
  process.stderr.write(`, ${(ds.passages.length / seconds).toFixed(1)}/s\n`);
  if (cacheFile) await writeVectors(cacheFile, vectors, embedder.dimension);
  return { vectors, perSecond: ds.passages.length / seconds };
}

interface Row {
  model: string;
  dtype: ModelDtype;
  dataset: string;
  queries: number;
  docs: number;
  ndcg10: number;
  recall100: number;
  mrr10: number;
  passagesPerSecond: number | null;
  queryMs: number;
}

interface SpeedRow {
  model: string;
  dtype: ModelDtype;
  passages: number;
  passagesPerSecond: number;
}

const datasets = positionals.map(loadDataset);
const rows: Row[] = [];
const speeds: SpeedRow[] = [];
const speedSample = args['speed-sample'] ? Number(args['speed-sample']) : 0;
const load = (c: Candidate): Promise<TransformersEmbedder> =>
  TransformersEmbedder.load({ modelsDir, modelId: c.modelId, dtype: c.dtype, batchSize, ...(threads ? { threads } : {}) });

if (speedSample > 0) {
  // All candidates loaded at once and timed in alternation, round after round: on a shared
  // machine the load drifts, and alternating spreads the drift over every candidate alike.
  const sample = datasets[0]?.passages.slice(0, speedSample) ?? [];
  const loaded = [];
  for (const c of candidates()) loaded.push({ c, embedder: await load(c), rates: [] as number[] });
  for (const { embedder } of loaded) await embedder.embedDocuments(sample.slice(0, batchSize));
  for (let round = 0; round < Number(args['speed-rounds']); round++) {
    for (const entry of loaded) {
      const started = performance.now();
      await entry.embedder.embedDocuments(sample);
      entry.rates.push(sample.length / ((performance.now() - started) / 1000));
    }
  }
  for (const { c, embedder, rates } of loaded) {
    const sorted = [...rates].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
    speeds.push({ model: c.modelId, dtype: c.dtype, passages: sample.length, passagesPerSecond: median });
    console.log(
      `${c.modelId.padEnd(26)} ${c.dtype.padEnd(4)} speed: median ${median.toFixed(1)} passages/s over ${rates.length} rounds of ${sample.length} ` +
        `(${rates.map((r) => r.toFixed(1)).join(', ')})`,
    );
    await embedder.close();
  }
}

for (const c of args['speed-only'] ? [] : candidates()) {
  const embedder = await load(c);
  try {
    for (const ds of datasets) {
      const { vectors, perSecond } = await corpusVectors(embedder, c, ds);
      const ndcg: number[] = [];
      const recall: number[] = [];
      const mrr: number[] = [];
      const queryStarted = performance.now();
      for (const q of ds.queries) {
        const qrels: Qrels = ds.qrels.get(q.id) ?? new Map();
        const ranked = topK(await embedder.embedQuery(q.text), vectors, ds.docIds, 100);
        ndcg.push(ndcgAtK(qrels, ranked, 10));
        recall.push(recallAtK(qrels, ranked, 100));
        mrr.push(mrrAtK(qrels, ranked, 10));
      }
      const row: Row = {
        model: c.modelId,
        dtype: c.dtype,
        dataset: ds.name,
        queries: ds.queries.length,
        docs: ds.passages.length,
        ndcg10: mean(ndcg),
        recall100: mean(recall),
        mrr10: mean(mrr),
        passagesPerSecond: perSecond ?? null,
        queryMs: (performance.now() - queryStarted) / Math.max(ds.queries.length, 1),
      };
      rows.push(row);
      console.log(
        `${row.model.padEnd(26)} ${row.dtype.padEnd(4)} ${row.dataset.padEnd(24)} nDCG@10 ${row.ndcg10.toFixed(4)}  ` +
          `R@100 ${row.recall100.toFixed(4)}  MRR@10 ${row.mrr10.toFixed(4)}  ` +
          `${row.passagesPerSecond === null ? '(cached)' : `${row.passagesPerSecond.toFixed(1)} passages/s`}  query ${row.queryMs.toFixed(0)} ms (q=${row.queries})`,
      );
    }
  } finally {
    await embedder.close();
  }
}
console.log(JSON.stringify({ batchSize, threads: threads ?? null, results: rows, speeds }));
