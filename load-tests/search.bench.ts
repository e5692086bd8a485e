/**
 * Build time, size on disk and query latency of the embedded SearchIndex.
 *
 *   node --import tsx load-tests/search-index.bench.ts --chunks 10000 \
 *     --corpus <retrieval-dataset>/corpus.jsonl [--corpus …] [--queries 200] [--teams 1]
 *
 * Chunks are 300–900 characters of real sentences drawn from the given BEIR-style
 * `corpus.jsonl` files (one JSON object per line with `text` and optional `title`), mixed
 * so that any number of distinct chunks can be made; without `--corpus` the sentences are
 * synthetic. Text queries come from the `queries.jsonl` beside each corpus when present.
 * Vectors are random unit vectors (`--dim`, default 384): brute-force k-NN costs the same
 * whatever the vectors mean. Chunks are spread round-robin over `--teams` teams and every
 * query runs as team 0, so with more teams each query sees a share of the file.
 *
 * Measures, never asserts. The last line is JSON.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { SearchMode, SqliteSearchIndex } from '../search/src/index.ts';
import type { ChunkRecord, SearchFilter, SearchQuery } from '../search/src/index.ts';

const { values: args } = parseArgs({
  options: {
    chunks: { type: 'string', default: '10000' },
    corpus: { type: 'string', multiple: true, default: [] },
    queries: { type: 'string', default: '200' },
    teams: { type: 'string', default: '1' },
    dim: { type: 'string', default: '384' },
    k: { type: 'string', default: '10' },
    batch: { type: 'string', default: '100' },
    seed: { type: 'string', default: '7' },
    file: { type: 'string' },
  },
});
const CHUNKS = Number(args.chunks);
const QUERIES = Number(args.queries);
const TEAMS = Number(args.teams);
const DIM = Number(args.dim);
const K = Number(args.k);
const BATCH = Number(args.batch);
const CHUNKS_PER_DOCUMENT = 10;
const TYPES = ['invoice', 'contract', 'memo', 'report', 'letter'];
const SENSITIVITIES = ['PUBLIC', 'INTERNAL', 'SECRET'];
const YEAR_MS = 365 * 24 * 3600 * 1000;
const NOW = Date.UTC(2025, 0, 1);

/** Mulberry32: a small seeded generator so runs are repeatable. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(Number(args.seed));
const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

function unitVector(): Float32Array {
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

function readJsonl(path: string): Array<Record<string, unknown>> {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function loadText(): { sentences: string[]; titles: string[]; queries: string[] } {
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
      const s = Array.from({ length: n }, () => pick(words)).join(' ');
      sentences.push(`${s[0]!.toUpperCase()}${s.slice(1)}.`);
    }
  }
  if (queries.length === 0) {
    for (let i = 0; i < 500; i++)
      queries.push(
        pick(sentences)
          .split(' ')
          .slice(0, 3 + Math.floor(random() * 5))
          .join(' '),
      );
  }
  return { sentences, titles, queries };
}

function chunkText(sentences: readonly string[]): string {
  const target = 300 + Math.floor(random() * 600);
  let text = '';
  while (text.length < target) text += (text ? ' ' : '') + pick(sentences);
  return text;
}

function percentile(sortedMs: readonly number[], p: number): number {
  return sortedMs[Math.min(sortedMs.length - 1, Math.floor((p / 100) * sortedMs.length))] ?? NaN;
}

interface Latency {
  p50: number;
  p99: number;
  mean: number;
  /** Mean CPU time (user + system) of this process per query: steadier than wall time on a shared machine. */
  cpuMean: number;
  hits: number;
}

async function measure(index: SqliteSearchIndex, queries: readonly SearchQuery[]): Promise<Latency> {
  const times: number[] = [];
  let hits = 0;
  for (const query of queries.slice(0, 5)) await index.search({ teamId: 'team-0' }, query);
  const cpuStart = process.cpuUsage();
  for (const query of queries) {
    const start = performance.now();
    hits += (await index.search({ teamId: 'team-0' }, query)).length;
    times.push(performance.now() - start);
  }
  const cpu = process.cpuUsage(cpuStart);
  times.sort((a, b) => a - b);
  return {
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    mean: times.reduce((s, t) => s + t, 0) / times.length,
    cpuMean: (cpu.user + cpu.system) / 1000 / queries.length,
    hits: hits / queries.length,
  };
}

function fileSize(path: string): number {
  return [path, `${path}-wal`].reduce((sum, p) => sum + (existsSync(p) ? statSync(p).size : 0), 0);
}

async function main(): Promise<void> {
  const { sentences, titles, queries: queryTexts } = loadText();
  const dir = args.file ? null : mkdtempSync(join(tmpdir(), 'quire-search-bench-'));
  const filename = args.file ?? join(dir!, 'search.db');
  const index = new SqliteSearchIndex({ filename });
  await index.start();
  await index.ensureModel({ modelId: `bench/random-${DIM}`, dimension: DIM });

  const buildStart = performance.now();
  let batch: ChunkRecord[] = [];
  let batchTeam = 0;
  const flush = async (): Promise<void> => {
    if (batch.length > 0) await index.upsertChunks({ teamId: `team-${batchTeam}` }, batch);
    batch = [];
  };
  for (let i = 0; i < CHUNKS; i++) {
    const documentNumber = Math.floor(i / CHUNKS_PER_DOCUMENT);
    const team = documentNumber % TEAMS;
    if (team !== batchTeam || batch.length >= BATCH) {
      await flush();
      batchTeam = team;
    }
    const documentRandom = rng(documentNumber + 1);
    batch.push({
      documentId: `doc-${documentNumber}`,
      ordinal: i % CHUNKS_PER_DOCUMENT,
      text: chunkText(sentences),
      page: 1 + Math.floor((i % CHUNKS_PER_DOCUMENT) / 3),
      boxes: [{ x: 50, y: 80, w: 500, h: 120 }],
      vector: unitVector(),
      filters: {
        type: TYPES[Math.floor(documentRandom() * TYPES.length)]!,
        sensitivity: SENSITIVITIES[Math.floor(documentRandom() * SENSITIVITIES.length)]!,
        createdAt: NOW - Math.floor(documentRandom() * YEAR_MS),
      },
      title: titles.length > 0 ? pick(titles) : `document-${documentNumber}.pdf`,
    });
  }
  await flush();
  const buildMs = performance.now() - buildStart;

  const texts = Array.from({ length: QUERIES }, () => pick(queryTexts));
  const vectors = Array.from({ length: QUERIES }, () => unitVector());
  const selective: SearchFilter = { types: ['invoice'], sensitivities: ['SECRET'] };
  const cases: Array<[string, SearchQuery[]]> = [
    ['text', texts.map((text) => ({ mode: SearchMode.Text, text, k: K }))],
    ['vector', vectors.map((vector) => ({ mode: SearchMode.Vector, vector, k: K }))],
    ['hybrid', texts.map((text, i) => ({ mode: SearchMode.Hybrid, text, vector: vectors[i]!, k: K }))],
    ['vector, filtered (~1/15)', vectors.map((vector) => ({ mode: SearchMode.Vector, vector, k: K, filter: selective }))],
    ['hybrid, filtered (~1/15)', texts.map((text, i) => ({ mode: SearchMode.Hybrid, text, vector: vectors[i]!, k: K, filter: selective }))],
  ];
  const latency: Record<string, Latency> = {};
  for (const [name, queries] of cases) latency[name] = await measure(index, queries);
  const teamChunks = await index.count({ teamId: 'team-0' });
  await index.close();
  const bytes = fileSize(filename);
  if (dir) rmSync(dir, { recursive: true, force: true });

  const ms = (n: number): string => n.toFixed(2).padStart(9);
  console.log(
    `SqliteSearchIndex: ${CHUNKS} chunks (${teamChunks} in the queried team), ${DIM}-d vectors, k=${K}, ${QUERIES} queries per row`,
  );
  console.log(`machine load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores`);
  console.log(
    `build ${(buildMs / 1000).toFixed(1)} s (${Math.round(CHUNKS / (buildMs / 1000))} chunks/s, batches of ${BATCH}); file ${(bytes / 2 ** 20).toFixed(1)} MiB`,
  );
  console.log(`${'query'.padEnd(26)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'mean ms'.padStart(9)}${'cpu ms'.padStart(9)}  hits`);
  for (const [name, l] of Object.entries(latency)) {
    console.log(`${name.padEnd(26)}${ms(l.p50)}${ms(l.p99)}${ms(l.mean)}${ms(l.cpuMean)}  ${l.hits.toFixed(1)}`);
  }
  console.log(
    JSON.stringify({
      bench: 'search-index.sqlite',
      chunks: CHUNKS,
      teamChunks,
      teams: TEAMS,
      dim: DIM,
      k: K,
      queries: QUERIES,
      buildMs: Math.round(buildMs),
      loadAverage: loadavg()[0],
      chunksPerSecond: Math.round(CHUNKS / (buildMs / 1000)),
      fileBytes: bytes,
      latencyMs: Object.fromEntries(
        Object.entries(latency).map(([name, l]) => [
          name,
          { p50: +l.p50.toFixed(3), p99: +l.p99.toFixed(3), mean: +l.mean.toFixed(3), cpuMean: +l.cpuMean.toFixed(3) },
        ]),
      ),
    }),
  );
}

await main();
