/**
 * Build time, size on disk and query latency of the embedded SearchIndex at several sizes.
 *
 *   node --import tsx load-tests/search.bench.ts \
 *     --corpus ../shared/data/retrieval/msmarco_subset_agentset/corpus.jsonl [--corpus …] \
 *     [--sizes 10000,100000] [--queries 200] [--warmup 20] [--rounds 3] [--teams 1] \
 *     [--dim 384] [--k 10] [--batch 100] [--seed 7] [--dir <parent folder for the index files>] \
 *     [--exact-max <n>] [--recall-queries 50] [--embed <beir-dir> …] [--models-dir .models] \
 *     [--cache <dir>] \
 *     [--index embedded|elasticsearch] [--elasticsearch-url http://127.0.0.1:9200]
 *
 * `--sizes 10000,100000,1000000` adds a million chunks: before each size the disk and memory
 * it needs are estimated (from the bytes per chunk of the previous size when there was one)
 * and printed, and a size the machine lacks room for is skipped with the reason.
 *
 * Chunks are 300–900 characters of real sentences drawn from the given BEIR-style
 * `corpus.jsonl` files (one JSON object per line with `text` and optional `title`), mixed
 * so that any number of distinct chunks can be made; without `--corpus` the sentences are
 * synthetic. Text queries come from the `queries.jsonl` beside each corpus when present.
 * Vectors are random unit vectors (`--dim`), the hardest case for a graph search, unless
 * `--embed` names BEIR folders (the dev corpora): their passages are embedded with the
 * product's model (all-MiniLM-L6-v2, 384-d; cached in `--cache`, shared with
 * load-tests/hybrid.eval.ts) and each chunk's and each query's vector is a blend of two real
 * ones plus a little noise, so the data keeps the shape of real embeddings while any number
 * of distinct vectors can be made. Chunks are spread round-robin over `--teams` teams and every query runs as
 * team 0, so with more teams each query sees a share of the file.
 *
 * Per size, a fresh index file is built in batches of `--batch` (only `upsertChunks` is
 * timed, not making the chunks), then every query kind (text, vector, hybrid, and vector and
 * hybrid with a selective filter) runs `--warmup` unmeasured queries, then `--rounds` rounds
 * of the whole query set, the kinds taking turns within each round. Reported per kind: the
 * median over rounds of each round's p50 and p99, with their spread, the mean, CPU time per
 * query (this process, all threads: steadier than wall time on a shared machine) and hits.
 *
 * Vector search goes through each team's HNSW graph above `--exact-max` chunks (the product's
 * default when not given). After the timed rounds a second index on the same file, with
 * exact search forced, answers the vector and filtered vector queries: its latency is the
 * exact scan's, and its lists are the truth for recall@10 of the graph's
 * (`--recall-queries` queries per kind). Disk per chunk counts the database and the graph
 * snapshot; memory is the RSS growth while building.
 *
 * `--index elasticsearch` measures the Elasticsearch adapter instead (indexes of its own,
 * one replica-less shard, deleted after each size; disk is the primaries' store size, and
 * there is no exact side: Elasticsearch has no exact mode to compare with).
 *
 * Measures, never asserts. The last line is JSON.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, statfsSync } from 'node:fs';
import { freemem, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  describeMachine,
  formatTable,
  jsonLine,
  measureRoundFigures,
  peakRssMiB,
  sqliteFileBytes,
  summarizeLatency,
} from '../hub/src/eval/report.ts';
import type { RoundSummary } from '../hub/src/eval/report.ts';
import { seededRandom } from '@quire/processors/eval';
import { SearchMode } from '../search/src/index.ts';
import { SqliteSearchIndex } from '../search/src/embedded/search-index.sqlite.ts';
import { ElasticsearchSearchIndex, deleteIndexes } from '../search/src/elasticsearch/search-index.elasticsearch.ts';
import type { ChunkRecord, SearchFilter, SearchIndex, SearchQuery } from '../search/src/index.ts';
import { Client } from '@elastic/elasticsearch';
import { TransformersEmbedder } from '../processors/src/index.ts';
import { loadBeirDataset } from '../search/src/eval/beir.ts';
import { corpusVectors } from './vector-cache.ts';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000' },
    corpus: { type: 'string', multiple: true, default: [] },
    queries: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
    teams: { type: 'string', default: '1' },
    dim: { type: 'string', default: '384' },
    k: { type: 'string', default: '10' },
    batch: { type: 'string', default: '100' },
    seed: { type: 'string', default: '7' },
    dir: { type: 'string', default: tmpdir() },
    'exact-max': { type: 'string' },
    'recall-queries': { type: 'string', default: '50' },
    embed: { type: 'string', multiple: true, default: [] },
    'models-dir': { type: 'string', default: join(fileURLToPath(new URL('..', import.meta.url)), '.models') },
    cache: { type: 'string', default: join(tmpdir(), 'quire-hybrid-eval') },
    index: { type: 'string', default: 'embedded' },
    'elasticsearch-url': { type: 'string', default: 'http://127.0.0.1:9200' },
  },
});
const SIZES = args.sizes.split(',').map((s) => Number(s.trim()));
const QUERIES = Number(args.queries);
const WARMUP = Number(args.warmup);
const ROUNDS = Number(args.rounds);
const TEAMS = Number(args.teams);
const DIM = Number(args.dim);
const K = Number(args.k);
const BATCH = Number(args.batch);
const SEED = Number(args.seed);
const EXACT_MAX_OPTION = args['exact-max'] === undefined ? {} : { exactMax: Number(args['exact-max']) };
const RECALL_QUERIES = Number(args['recall-queries']);
if (args.index !== 'embedded' && args.index !== 'elasticsearch') throw new Error('--index is embedded or elasticsearch');
const ELASTICSEARCH = args.index === 'elasticsearch';
const CHUNKS_PER_DOCUMENT = 10;
const TYPES = ['invoice', 'contract', 'memo', 'report', 'letter'];
const SENSITIVITIES = ['PUBLIC', 'INTERNAL', 'SECRET'];
const YEAR_MS = 365 * 24 * 3600 * 1000;
const NOW = Date.UTC(2025, 0, 1);
/**
 * Bytes per chunk on disk before any size was measured: about 600 bytes of text stored twice
 * (row and FTS index), the vector, provenance and filters. Measured runs replace it.
 */
const BYTES_PER_CHUNK_GUESS = 2 * 600 + 4 * DIM + 400;
/** Memory this process needs besides the cached vectors: sentences, one batch, SQLite's cache. */
const PROCESS_BYTES = 1 * 2 ** 30;
const GiB = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

type Random = () => number;
const pick = <T>(random: Random, list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

function unitVector(random: Random): Float32Array {
  const v = new Float32Array(DIM);
  let norm = 0;
  for (let i = 0; i < DIM; i += 2) {
    // Box–Muller: Gaussian components give directions uniform on the sphere.
    const r = Math.sqrt(-2 * Math.log(1 - random()));
    const theta = 2 * Math.PI * random();
    v[i] = r * Math.cos(theta);
    if (i + 1 < DIM) v[i + 1] = r * Math.sin(theta);
  }
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm);
  return v.map((x) => x / norm);
}

/** Real embeddings of the `--embed` corpora, or none. */
let REAL_VECTORS: Float32Array[] = [];

async function embedCorpora(): Promise<Float32Array[]> {
  if (args.embed.length === 0) return [];
  const embedder = await TransformersEmbedder.load({ modelsDir: resolve(args['models-dir']), modelId: 'Xenova/all-MiniLM-L6-v2' });
  if (embedder.dimension !== DIM) throw new Error(`--embed gives ${embedder.dimension}-d vectors; pass --dim ${embedder.dimension}`);
  const vectors: Float32Array[] = [];
  for (const dir of args.embed) vectors.push(...(await corpusVectors(embedder, loadBeirDataset(resolve(dir)), resolve(args.cache))));
  return vectors;
}

/** A unit vector: a blend of two real embeddings plus noise when `--embed` gave some, else uniform. */
function benchVector(random: Random): Float32Array {
  if (REAL_VECTORS.length === 0) return unitVector(random);
  const a = pick(random, REAL_VECTORS);
  const b = pick(random, REAL_VECTORS);
  const share = 0.5 * random();
  const noise = unitVector(random);
  const v = new Float32Array(DIM);
  let norm = 0;
  for (let i = 0; i < DIM; i++) {
    v[i] = a[i]! + share * b[i]! + 0.4 * noise[i]!;
    norm += v[i]! * v[i]!;
  }
  norm = Math.sqrt(norm);
  return v.map((x) => x / norm);
}

function readJsonl(path: string): Array<Record<string, unknown>> {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function loadText(random: Random): { sentences: string[]; titles: string[]; queries: string[] } {
  const sentences: string[] = [];
  const titles: string[] = [];
  const queries: string[] = [];
  for (const path of args.corpus) {
    for (const row of readJsonl(path)) {
      if (typeof row.text === 'string') sentences.push(...row.text.split(/(?<=[.!?])\s+/).filter((s) => s.length > 20));
      if (typeof row.title === 'string' && row.title !== '') titles.push(row.title);
    }
    const queryFile = join(dirname(path), 'queries.jsonl');
    if (existsSync(queryFile)) for (const row of readJsonl(queryFile)) if (typeof row.text === 'string') queries.push(row.text);
  }
  if (sentences.length === 0) {
    const words =
      'account audit balance budget claim client contract credit deadline delivery deposit invoice ledger notice order payment penalty policy quarter receipt refund renewal report review schedule shipment supplier tax terms transfer'.split(
        ' ',
      );
    for (let i = 0; i < 5000; i++) {
      const n = 8 + Math.floor(random() * 14);
      const s = Array.from({ length: n }, () => pick(random, words)).join(' ');
      sentences.push(`${s[0]!.toUpperCase()}${s.slice(1)}.`);
    }
  }
  if (queries.length === 0) {
    for (let i = 0; i < 500; i++)
      queries.push(
        pick(random, sentences)
          .split(' ')
          .slice(0, 3 + Math.floor(random() * 5))
          .join(' '),
      );
  }
  return { sentences, titles, queries };
}

function chunkText(random: Random, sentences: readonly string[]): string {
  const target = 300 + Math.floor(random() * 600);
  let text = '';
  while (text.length < target) text += (text ? ' ' : '') + pick(random, sentences);
  return text;
}

/** Memory this process could still take: the OS's available memory, or the container's limit. */
function availableMemory(): number {
  const limit = process.constrainedMemory?.() ?? 0;
  const fromLimit = limit > 0 && limit < totalmem() ? limit - process.memoryUsage.rss() : Number.POSITIVE_INFINITY;
  return Math.min(freemem(), fromLimit);
}

interface Need {
  diskBytes: number;
  memoryBytes: number;
  /** Why the machine cannot take this size; null when it can. */
  lacking: string | null;
}

/**
 * Disk for the file (with room for the WAL) and memory to keep every vector of the queried
 * team in the OS cache, since brute-force k-NN reads them all on every query.
 */
function estimateNeed(chunks: number, bytesPerChunk: number): Need {
  const diskBytes = chunks * bytesPerChunk * 1.25;
  const memoryBytes = Math.ceil(chunks / TEAMS) * DIM * 4 + PROCESS_BYTES;
  const disk = statfsSync(args.dir);
  const diskFree = disk.bavail * disk.bsize;
  const memoryFree = availableMemory();
  const lacking: string[] = [];
  if (diskFree < diskBytes) lacking.push(`needs ~${GiB(diskBytes)} of disk under --dir, ${GiB(diskFree)} free`);
  if (memoryFree < memoryBytes) lacking.push(`needs ~${GiB(memoryBytes)} of memory, ${GiB(memoryFree)} available`);
  return { diskBytes, memoryBytes, lacking: lacking.length > 0 ? lacking.join('; ') : null };
}

interface KindFigures {
  p50: RoundSummary;
  p99: RoundSummary;
  mean: RoundSummary;
  cpuMean: RoundSummary;
  hits: number;
}

interface SizeFigures {
  chunks: number;
  teamChunks: number;
  buildMs: number;
  chunksPerSecond: number;
  fileBytes: number;
  graphBytes: number;
  bytesPerChunk: number;
  rssGrowthBytesPerChunk: number;
  latencyMs: Record<string, KindFigures>;
  /** The same vector queries answered exactly (every vector compared), and the graph's recall@10 against them. */
  exact: Record<string, { p50: number; p99: number; recallAt10: number; queries: number }>;
}

/** Bytes of the files in `dir` (the graph snapshots); 0 when there is none. */
function folderBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

async function runSize(
  chunks: number,
  text: ReturnType<typeof loadText>,
  cases: ReadonlyArray<readonly [string, readonly SearchQuery[]]>,
): Promise<SizeFigures> {
  const random = seededRandom(SEED);
  const dir = mkdtempSync(join(args.dir, 'quire-search-bench-'));
  try {
    const filename = join(dir, 'search.db');
    const prefix = `bench-${Math.random().toString(36).slice(2, 10)}`;
    const admin = ELASTICSEARCH ? new Client({ node: args['elasticsearch-url'] }) : null;
    const index: SearchIndex = ELASTICSEARCH
      ? new ElasticsearchSearchIndex({ node: args['elasticsearch-url'], indexPrefix: prefix, replicas: 0, shards: 1 })
      : new SqliteSearchIndex({ filename, vectors: EXACT_MAX_OPTION });
    const rssBefore = process.memoryUsage.rss();
    await index.start();
    await index.ensureModel({ modelId: `bench/random-${DIM}`, dimension: DIM });

    let buildMs = 0;
    let batch: ChunkRecord[] = [];
    let batchTeam = 0;
    const flush = async (): Promise<void> => {
      const start = performance.now();
      if (batch.length > 0) await index.upsertChunks({ teamId: `team-${batchTeam}` }, batch);
      buildMs += performance.now() - start;
      batch = [];
    };
    for (let i = 0; i < chunks; i++) {
      const documentNumber = Math.floor(i / CHUNKS_PER_DOCUMENT);
      const team = documentNumber % TEAMS;
      if (team !== batchTeam || batch.length >= BATCH) {
        await flush();
        batchTeam = team;
      }
      const documentRandom = seededRandom(documentNumber + 1);
      batch.push({
        documentId: `doc-${documentNumber}`,
        ordinal: i % CHUNKS_PER_DOCUMENT,
        text: chunkText(random, text.sentences),
        page: 1 + Math.floor((i % CHUNKS_PER_DOCUMENT) / 3),
        boxes: [{ x: 50, y: 80, w: 500, h: 120 }],
        vector: benchVector(random),
        filters: {
          type: TYPES[Math.floor(documentRandom() * TYPES.length)]!,
          sensitivity: SENSITIVITIES[Math.floor(documentRandom() * SENSITIVITIES.length)]!,
          createdAt: NOW - Math.floor(documentRandom() * YEAR_MS),
        },
        title: text.titles.length > 0 ? pick(random, text.titles) : `document-${documentNumber}.pdf`,
      });
    }
    await flush();
    const rssGrowth = process.memoryUsage.rss() - rssBefore;
    console.log(`  built in ${(buildMs / 1000).toFixed(1)} s; querying`);

    const scope = { teamId: 'team-0' };
    for (const [, queries] of cases) for (const query of queries.slice(0, WARMUP)) await index.search(scope, query);
    const hits: Record<string, number> = {};
    const rounds = await measureRoundFigures({
      warmup: 0,
      rounds: ROUNDS,
      round: async () => {
        const figures: Record<string, number> = {};
        for (const [name, queries] of cases) {
          const times: number[] = [];
          let found = 0;
          const cpuStart = process.cpuUsage();
          for (const query of queries) {
            const start = performance.now();
            found += (await index.search(scope, query)).length;
            times.push(performance.now() - start);
          }
          const cpu = process.cpuUsage(cpuStart);
          const latency = summarizeLatency(times);
          figures[`${name}|p50`] = latency.p50;
          figures[`${name}|p99`] = latency.p99;
          figures[`${name}|mean`] = latency.mean;
          figures[`${name}|cpuMean`] = (cpu.user + cpu.system) / 1000 / queries.length;
          hits[name] = found / queries.length;
        }
        return figures;
      },
    });
    const teamChunks = await index.count(scope);
    const exact: SizeFigures['exact'] = {};
    const exactIndex = new SqliteSearchIndex({ filename, vectors: { exactMax: Number.MAX_SAFE_INTEGER } });
    if (!ELASTICSEARCH) await exactIndex.start();
    for (const [name, queries] of ELASTICSEARCH ? [] : cases) {
      if (!name.startsWith('vector')) continue;
      let found = 0;
      let wanted = 0;
      const times: number[] = [];
      for (const query of queries.slice(0, RECALL_QUERIES)) {
        const start = performance.now();
        const truth = await exactIndex.search(scope, query);
        times.push(performance.now() - start);
        const approximate = new Set((await index.search(scope, query)).map((h) => `${h.documentId}#${h.ordinal}`));
        found += truth.filter((h) => approximate.has(`${h.documentId}#${h.ordinal}`)).length;
        wanted += truth.length;
      }
      const latency = summarizeLatency(times);
      exact[name] = { p50: latency.p50, p99: latency.p99, recallAt10: wanted === 0 ? 1 : found / wanted, queries: times.length };
    }
    await exactIndex.close();
    let fileBytes: number;
    if (admin) {
      const stats = await admin.indices.stats({ index: `${prefix}-chunks*`, metric: 'store' });
      fileBytes = stats._all.primaries?.store?.size_in_bytes ?? 0;
    } else {
      fileBytes = 0;
    }
    await index.close();
    if (admin) {
      await deleteIndexes(admin, prefix);
      await admin.close();
    } else {
      fileBytes = sqliteFileBytes(filename);
    }
    const graphBytes = folderBytes(`${filename}.vectors`);
    const latencyMs: Record<string, KindFigures> = {};
    for (const [name] of cases) {
      latencyMs[name] = {
        p50: rounds[`${name}|p50`]!,
        p99: rounds[`${name}|p99`]!,
        mean: rounds[`${name}|mean`]!,
        cpuMean: rounds[`${name}|cpuMean`]!,
        hits: hits[name]!,
      };
    }
    return {
      chunks,
      teamChunks,
      buildMs,
      chunksPerSecond: (chunks / buildMs) * 1000,
      fileBytes,
      graphBytes,
      bytesPerChunk: (fileBytes + graphBytes) / chunks,
      rssGrowthBytesPerChunk: rssGrowth / chunks,
      latencyMs,
      exact,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  REAL_VECTORS = await embedCorpora();
  const queryRandom = seededRandom(SEED + 1);
  const text = loadText(queryRandom);
  const texts = Array.from({ length: QUERIES }, () => pick(queryRandom, text.queries));
  const vectors = Array.from({ length: QUERIES }, () => benchVector(queryRandom));
  const selective: SearchFilter = { types: ['invoice'], sensitivities: ['SECRET'] };
  const cases: Array<[string, SearchQuery[]]> = [
    ['text', texts.map((t) => ({ mode: SearchMode.Text, text: t, k: K }))],
    ['vector', vectors.map((vector) => ({ mode: SearchMode.Vector, vector, k: K }))],
    ['hybrid', texts.map((t, i) => ({ mode: SearchMode.Hybrid, text: t, vector: vectors[i]!, k: K }))],
    ['vector, filtered (~1/15)', vectors.map((vector) => ({ mode: SearchMode.Vector, vector, k: K, filter: selective }))],
    ['hybrid, filtered (~1/15)', texts.map((t, i) => ({ mode: SearchMode.Hybrid, text: t, vector: vectors[i]!, k: K, filter: selective }))],
  ];

  const kind = REAL_VECTORS.length > 0 ? `blends of ${REAL_VECTORS.length} real embeddings` : 'uniform random';
  const adapter = ELASTICSEARCH ? 'ElasticsearchSearchIndex' : 'SqliteSearchIndex';
  console.log(`${adapter}, ${DIM}-d vectors (${kind}), k=${K}, ${TEAMS} team(s), batches of ${BATCH}`);
  console.log(`${QUERIES} queries per kind, ${WARMUP} warm-up queries per kind, ${ROUNDS} rounds; ${describeMachine()}`);
  const results: SizeFigures[] = [];
  const skipped: Array<{ chunks: number; reason: string; diskBytes: number; memoryBytes: number }> = [];
  for (const chunks of SIZES) {
    const bytesPerChunk = results.at(-1)?.bytesPerChunk ?? BYTES_PER_CHUNK_GUESS;
    const need = estimateNeed(chunks, bytesPerChunk);
    console.log(
      `\n${chunks} chunks: needs ~${GiB(need.diskBytes)} of disk (${Math.round(bytesPerChunk)} B/chunk${results.length > 0 ? ', as measured at the previous size' : ', a guess'}) ` +
        `and ~${GiB(need.memoryBytes)} of memory to keep the vectors cached`,
    );
    if (need.lacking) {
      console.log(`  skipped: ${need.lacking}`);
      skipped.push({ chunks, reason: need.lacking, diskBytes: need.diskBytes, memoryBytes: need.memoryBytes });
      continue;
    }
    results.push(await runSize(chunks, text, cases));
  }

  console.log('');
  console.log(
    formatTable(
      ['chunks', 'queried', 'build s', 'chunks/s', 'file MiB', 'graph MiB', 'disk B/chunk', 'RSS B/chunk'],
      results.map((r) => [
        r.chunks,
        r.teamChunks,
        r.buildMs / 1000,
        r.chunksPerSecond,
        r.fileBytes / 2 ** 20,
        r.graphBytes / 2 ** 20,
        r.bytesPerChunk,
        r.rssGrowthBytesPerChunk,
      ]),
    ),
  );
  console.log('');
  console.log(
    formatTable(
      ['vector query', 'chunks', 'exact p50 ms', 'exact p99 ms', 'recall@10', 'queries'],
      results.flatMap((r) => Object.entries(r.exact).map(([name, e]) => [name, r.chunks, e.p50, e.p99, e.recallAt10, e.queries])),
    ),
  );
  console.log('');
  console.log(
    formatTable(
      ['query', 'chunks', 'p50 ms', 'p50 spread %', 'p99 ms', 'p99 spread %', 'mean ms', 'cpu ms', 'hits'],
      results.flatMap((r) =>
        Object.entries(r.latencyMs).map(([name, l]) => [
          name,
          r.chunks,
          l.p50.median,
          l.p50.spreadPct,
          l.p99.median,
          l.p99.spreadPct,
          l.mean.median,
          l.cpuMean.median,
          l.hits,
        ]),
      ),
    ),
  );
  for (const s of skipped) console.log(`skipped ${s.chunks} chunks: ${s.reason}`);
  console.log(`peak RSS ${Math.round(peakRssMiB())} MiB`);
  console.log(
    jsonLine(ELASTICSEARCH ? 'search.elasticsearch' : 'search.sqlite', {
      dim: DIM,
      k: K,
      teams: TEAMS,
      batch: BATCH,
      queries: QUERIES,
      warmupQueries: WARMUP,
      rounds: ROUNDS,
      sizes: results,
      skipped,
      peakRssMiB: peakRssMiB(),
    }),
  );
}

await main();
