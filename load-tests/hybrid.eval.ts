/**
 * Retrieval quality of the embedded SearchIndex in each mode on BEIR-format sets, and of
 * hybrid fusion with and without the lexical minimum-should-match rule.
 *
 *   node --import tsx load-tests/hybrid.eval.ts \
 *     ../shared/data/retrieval/dbpedia_subset_agentset ../shared/data/retrieval/msmarco_subset_agentset \
 *     [--shares 0.34,0.5,0.67,1] [--vector-weights 1,1.5,2,3] [--models-dir .models] \
 *     [--model Xenova/all-MiniLM-L6-v2] [--cache DIR]
 *
 * Each dataset folder holds corpus.jsonl (`_id`, `title`, `text`), queries.jsonl (`_id`, `text`)
 * and qrels/test.tsv. Every passage is one chunk (title in the title column, text in the body;
 * MiniLM reads the first 256 tokens of `title + " " + text`, as BEIR's dense retrieval does)
 * in a fresh SqliteSearchIndex on a temp file. Every judged query runs in TEXT, VECTOR and
 * HYBRID, HYBRID once with share 0 (every BM25 hit fused: the old rule) and once per share in
 * `--shares` (default: the shipped `HYBRID_MIN_TERM_SHARE`), and at the shipped share once per
 * weight of the vector list in `--vector-weights` (default: the shipped `HYBRID_VECTOR_WEIGHT`).
 * Hits are mapped to document ids (best chunk per document) and scored with nDCG@10,
 * Recall@100 and MRR@10 over the judged queries (search/src/eval/metrics.ts).
 *
 * Corpus vectors are cached in `--cache` (default: a folder under the OS temp dir), one file
 * per model, dtype and dataset, in the layout compare-embedders.ts writes, so reruns only
 * re-index and re-score. Measures, never asserts. The last line is JSON.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { corpusVectors } from './vector-cache.ts';
import { TransformersEmbedder } from '../processors/src/index.ts';
import { HYBRID_MIN_TERM_SHARE, HYBRID_VECTOR_WEIGHT, SearchMode, type ChunkRecord, type SearchQuery } from '../search/src/index.ts';
import { SqliteSearchIndex } from '../search/src/embedded/search-index.sqlite.ts';
import { loadBeirDataset, type BeirDataset } from '../search/src/eval/beir.ts';
import { mean, mrrAtK, ndcgAtK, recallAtK } from '../search/src/eval/metrics.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const USAGE =
  'usage: node --import tsx load-tests/hybrid.eval.ts <beir-dir> [more dirs] [--shares 0.5,0.67] ' +
  '[--models-dir .models] [--model Xenova/all-MiniLM-L6-v2] [--cache DIR]';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    shares: { type: 'string', default: String(HYBRID_MIN_TERM_SHARE) },
    'vector-weights': { type: 'string', default: String(HYBRID_VECTOR_WEIGHT) },
    'models-dir': { type: 'string', default: join(repoRoot, '.models') },
    model: { type: 'string', default: 'Xenova/all-MiniLM-L6-v2' },
    cache: { type: 'string', default: join(tmpdir(), 'quire-hybrid-eval') },
  },
});
if (positionals.length === 0) {
  console.error(USAGE);
  process.exit(2);
}
const shares = args.shares.split(',').map(Number);
const vectorWeights = args['vector-weights'].split(',').map(Number);
if (vectorWeights.some((w) => !(w > 0))) {
  console.error(`--vector-weights takes positive numbers: ${args['vector-weights']}`);
  process.exit(2);
}
if (shares.some((s) => !(s > 0 && s <= 1))) {
  console.error(`--shares takes numbers in (0, 1]: ${args.shares}`);
  process.exit(2);
}

/** Depth of every ranking: Recall@100 needs 100 documents. */
const DEPTH = 100;
const TEAM = { teamId: 'eval' };

interface Scores {
  ndcg10: number;
  recall100: number;
  mrr10: number;
}

/** Runs every judged query through `index` and averages the metrics. */
async function evaluate(
  index: SqliteSearchIndex,
  ds: BeirDataset,
  query: (q: { text: string; vector: Float32Array }) => SearchQuery,
  queryVectors: Float32Array[],
): Promise<Scores> {
  const per: Scores[] = [];
  for (const [i, q] of ds.queries.entries()) {
    const hits = await index.search(TEAM, query({ text: q.text, vector: queryVectors[i]! }));
    // One chunk per passage here, but keep the first (best) hit of a document regardless.
    const ranked = [...new Set(hits.map((h) => h.documentId))];
    const qrels = ds.qrels.get(q.id)!;
    per.push({ ndcg10: ndcgAtK(qrels, ranked, 10), recall100: recallAtK(qrels, ranked, 100), mrr10: mrrAtK(qrels, ranked, 10) });
  }
  return {
    ndcg10: mean(per.map((s) => s.ndcg10)),
    recall100: mean(per.map((s) => s.recall100)),
    mrr10: mean(per.map((s) => s.mrr10)),
  };
}

const embedder = await TransformersEmbedder.load({ modelsDir: resolve(args['models-dir']), modelId: args.model });
const results: Record<string, Record<string, Scores>> = {};
for (const dir of positionals) {
  const ds = loadBeirDataset(dir);
  const vectors = await corpusVectors(embedder, ds, resolve(args.cache));
  const queryVectors: Float32Array[] = [];
  for (const q of ds.queries) queryVectors.push(await embedder.embedQuery(q.text));

  const tmp = mkdtempSync(join(tmpdir(), 'quire-hybrid-eval-db-'));
  const file = join(tmp, 'search.db');
  const chunks: ChunkRecord[] = ds.docs.map((d, i) => ({
    documentId: d.id,
    ordinal: 0,
    title: d.title,
    text: d.text,
    page: 1,
    boxes: [],
    vector: vectors[i]!,
    filters: { type: null, sensitivity: null, createdAt: 0 },
  }));
  const builder = new SqliteSearchIndex({ filename: file });
  await builder.start();
  await builder.ensureModel({ modelId: embedder.modelId, dimension: embedder.dimension });
  for (let i = 0; i < chunks.length; i += 1000) await builder.upsertChunks(TEAM, chunks.slice(i, i + 1000));
  await builder.close();

  const rows: Record<string, Scores> = {};
  const hybrid = (q: { text: string; vector: Float32Array }): SearchQuery => ({
    mode: SearchMode.Hybrid,
    text: q.text,
    vector: q.vector,
    k: DEPTH,
  });
  // One index object per rule over the same file: the rule is a constructor option.
  for (const share of [0, ...shares]) {
    const index = new SqliteSearchIndex({ filename: file, hybrid: { minTermShare: share } });
    await index.start();
    if (share === 0) {
      rows.TEXT = await evaluate(index, ds, (q) => ({ mode: SearchMode.Text, text: q.text, k: DEPTH }), queryVectors);
      rows.VECTOR = await evaluate(index, ds, (q) => ({ mode: SearchMode.Vector, vector: q.vector, k: DEPTH }), queryVectors);
    }
    const label = share === 0 ? 'HYBRID old (share 0)' : `HYBRID new (share ${share})`;
    rows[label] = await evaluate(index, ds, hybrid, queryVectors);
    await index.close();
  }
  // And per weight of the vector list, at the shipped share.
  for (const vectorWeight of vectorWeights) {
    if (vectorWeight === HYBRID_VECTOR_WEIGHT) continue;
    const index = new SqliteSearchIndex({ filename: file, hybrid: { vectorWeight } });
    await index.start();
    rows[`HYBRID vector weight ${vectorWeight}`] = await evaluate(index, ds, hybrid, queryVectors);
    await index.close();
  }
  rmSync(tmp, { recursive: true, force: true });

  console.log(`\n${ds.name}: ${ds.docs.length} passages, ${ds.queries.length} judged queries, ${embedder.modelId} ${embedder.dtype}`);
  console.log(`${'mode'.padEnd(26)} nDCG@10  R@100   MRR@10`);
  for (const [mode, s] of Object.entries(rows)) {
    console.log(`${mode.padEnd(26)} ${s.ndcg10.toFixed(4)}   ${s.recall100.toFixed(4)}  ${s.mrr10.toFixed(4)}`);
  }
  results[ds.name] = rows;
}
await embedder.close();
console.log(JSON.stringify({ model: embedder.modelId, dtype: embedder.dtype, depth: DEPTH, results }));
