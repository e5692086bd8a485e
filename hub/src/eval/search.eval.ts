/**
 * `quire eval search <beir-dir>`: retrieval quality of the product, end to end.
 *
 * The corpus of a BEIR-format folder (`corpus.jsonl` with `_id`, `title`, `text`;
 * `queries.jsonl`; `qrels/test.tsv`) is uploaded, one plain-text document per passage (its
 * title as the first line), into a Quire started in a fresh temporary data directory without
 * HTTP: the same ingest, pipeline workers (chunking, embedding, classification), indexer and
 * search service as uploads through the API. Every judged query then runs through the search
 * service in TEXT, VECTOR and HYBRID modes for the top 100 hits, and the hits are ranked as
 * documents by their best chunk (max over a document's chunks). nDCG@10 (graded, linear
 * gains), Recall@100 and MRR@10 are computed as BEIR/trec_eval do (search/src/eval/metrics.ts)
 * and averaged over the judged queries. Also printed: ingest documents/s (first upload to last
 * document processed) and query latency p50/p99 (query embedding included).
 *
 * Identical passages are one document in Quire (same bytes in a team); a hit on it counts for
 * every corpus id that shares its text.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { AppError, DocumentStatus, ValidationError } from '@quire/kernel';
import { SearchMode } from '@quire/search';
import { loadBeirDataset, mean, mrrAtK, ndcgAtK, recallAtK, type BeirDataset } from '@quire/search/eval';
import type { Config } from '../config.ts';
import { DEFAULT_TEAM, startQuire, type QuireHandle } from '../main.ts';
import { MAX_HITS } from '../services/search.service.ts';
import type { EvalContext } from './eval.command.ts';
import { describeMachine, formatTable, jsonLine, peakRssMiB, sqliteFileBytes, summarizeLatency, type LatencySummary } from './report.ts';

const USAGE = `Usage: quire eval search <beir-dir> [options]

  <beir-dir>          folder with corpus.jsonl, queries.jsonl and qrels/test.tsv
  --max-docs N        ingest only the first N passages (queries keep only judgements on them)
  --max-queries N     score only the first N judged queries
  --modes LIST        comma-separated: text,vector,hybrid (default all three)
  --keep              keep the temporary data directory and print where it is
  --help              show this text

The pipeline runs with the configured PROCESSOR_WORKERS and EMBEDDING_MODEL.`;

const MODES = { text: SearchMode.Text, vector: SearchMode.Vector, hybrid: SearchMode.Hybrid } as const;
type ModeName = keyof typeof MODES;

export interface ModeFigures {
  ndcg10: number;
  recall100: number;
  mrr10: number;
  latencyMs: LatencySummary;
}

export async function runSearchEval(argv: string[], ctx: EvalContext): Promise<number> {
  const { values: opts, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'max-docs': { type: 'string' },
      'max-queries': { type: 'string' },
      modes: { type: 'string', default: 'text,vector,hybrid' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [dir] = positionals;
  if (!dir) throw new ValidationError(`a BEIR folder is required\n\n${USAGE}`, { code: 'MISSING_ARGUMENT' });
  const modes = opts.modes.split(',').map((m) => m.trim().toLowerCase());
  for (const m of modes) {
    if (!(m in MODES)) throw new ValidationError(`--modes takes text, vector and hybrid, not ${JSON.stringify(m)}`, { code: 'BAD_OPTION' });
  }
  const dataset = sliceDataset(
    readDataset(dir),
    positiveInt(opts['max-docs'], '--max-docs'),
    positiveInt(opts['max-queries'], '--max-queries'),
  );
  if (dataset.docs.length === 0) throw new ValidationError(`${dir}: the corpus holds no passage`, { code: 'EMPTY_CORPUS' });
  if (dataset.queries.length === 0)
    throw new ValidationError(`${dir}: no query has a relevant passage in the corpus`, { code: 'NO_JUDGED_QUERIES' });

  const dataDir = mkdtempSync(join(tmpdir(), 'quire-eval-search-'));
  const config: Config = {
    ...ctx.config,
    store: { ...ctx.config.store, driver: 'sqlite', dataDir, sqlitePath: join(dataDir, 'quire.sqlite'), blobDir: join(dataDir, 'blobs') },
    blobs: { ...ctx.config.blobs, driver: 'fs' },
    search: { ...ctx.config.search, sqlitePath: join(dataDir, 'quire.sqlite') },
    // A fresh, private Quire: its queue lives in its own data directory.
    bus: { ...ctx.config.bus, driver: 'memory' },
  };
  process.stderr.write(
    `${dataset.name}: ${dataset.docs.length} passages, ${dataset.queries.length} judged queries; ` +
      `${config.models.embeddingModel}, ${config.processing.workers} pipeline worker(s), data in ${dataDir}\n`,
  );
  let quire: QuireHandle | undefined;
  try {
    quire = await startQuire(config, ctx.logger, { http: false });
    const ingest = await ingestCorpus(quire, dataset);
    const results: Partial<Record<ModeName, ModeFigures>> = {};
    for (const mode of modes as ModeName[]) results[mode] = await scoreMode(quire, dataset, ingest.aliases, mode);
    const indexBytes = sqliteFileBytes(config.search.sqlitePath);

    process.stdout.write(
      `\n${dataset.name}: ${dataset.docs.length} passages (${ingest.documents} documents, ${ingest.failed} failed, ${ingest.refused} refused), ` +
        `${dataset.queries.length} judged queries\n${config.models.embeddingModel}; ${describeMachine()}\n\n`,
    );
    process.stdout.write(
      `${formatTable(
        ['mode', 'nDCG@10', 'Recall@100', 'MRR@10', 'p50 ms', 'p99 ms'],
        Object.entries(results).map(([mode, r]) => [mode.toUpperCase(), r.ndcg10, r.recall100, r.mrr10, r.latencyMs.p50, r.latencyMs.p99]),
      )}\n\n`,
    );
    process.stdout.write(
      `ingest: ${ingest.documentsPerSecond.toFixed(1)} docs/s (${ingest.seconds.toFixed(1)} s), ` +
        `store and index ${(indexBytes / 2 ** 20).toFixed(1)} MiB, peak RSS ${peakRssMiB().toFixed(0)} MiB\n`,
    );
    process.stdout.write(
      `${jsonLine(
        'eval.search',
        {
          dataset: dataset.name,
          model: config.models.embeddingModel,
          workers: config.processing.workers,
          passages: dataset.docs.length,
          queries: dataset.queries.length,
          documents: ingest.documents,
          failed: ingest.failed,
          refused: ingest.refused,
          ingest: { seconds: ingest.seconds, docsPerSecond: ingest.documentsPerSecond },
          indexBytes,
          peakRssMiB: peakRssMiB(),
          modes: results,
        },
        argv,
      )}\n`,
    );
    return ingest.failed > 0 ? 1 : 0;
  } finally {
    await quire?.close();
    if (opts.keep) process.stderr.write(`kept ${dataDir}\n`);
    else rmSync(dataDir, { recursive: true, force: true });
  }
}

function readDataset(dir: string): BeirDataset {
  const root = resolve(dir);
  for (const file of ['corpus.jsonl', 'queries.jsonl', join('qrels', 'test.tsv')]) {
    if (!statSync(join(root, file), { throwIfNoEntry: false })?.isFile()) {
      throw new ValidationError(`${dir}: ${file} is missing (a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/test.tsv)`, {
        code: 'NOT_A_BEIR_FOLDER',
      });
    }
  }
  try {
    return loadBeirDataset(root);
  } catch (err) {
    throw new ValidationError(`${dir}: ${(err as Error).message}`, { code: 'BAD_DATASET', cause: err });
  }
}

function positiveInt(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new ValidationError(`${name} takes a positive integer, not ${JSON.stringify(value)}`, { code: 'BAD_OPTION' });
  return n;
}

/** The first `maxDocs` passages, and the queries still judged relevant on them. */
function sliceDataset(ds: BeirDataset, maxDocs: number | undefined, maxQueries: number | undefined): BeirDataset {
  const docs = maxDocs === undefined ? ds.docs : ds.docs.slice(0, maxDocs);
  const kept = new Set(docs.map((d) => d.id));
  const qrels = new Map<string, Map<string, number>>();
  for (const [queryId, judged] of ds.qrels) {
    const inCorpus = new Map([...judged].filter(([docId]) => kept.has(docId)));
    if ([...inCorpus.values()].some((grade) => grade > 0)) qrels.set(queryId, inCorpus);
  }
  const queries = ds.queries.filter((q) => qrels.has(q.id)).slice(0, maxQueries);
  return { name: ds.name, docs, queries, qrels };
}

interface IngestFigures {
  /** Quire document id → the corpus ids whose text it holds (more than one for duplicates). */
  aliases: Map<string, string[]>;
  documents: number;
  failed: number;
  /** Passages the upload refused (for example an empty text), with nothing to index. */
  refused: number;
  seconds: number;
  documentsPerSecond: number;
}

/** Uploads every passage and waits until each document is processed or failed. */
async function ingestCorpus(quire: QuireHandle, ds: BeirDataset): Promise<IngestFigures> {
  const { ingest, events } = quire.services;
  const pending = new Set<string>();
  const finished = new Map<string, DocumentStatus>();
  let wake: () => void = () => undefined;
  const stop = events.listen((live) => {
    if (live.kind !== 'document') return;
    const { documentId, status } = live.event;
    if (status !== DocumentStatus.Processed && status !== DocumentStatus.Failed) return;
    finished.set(documentId, status);
    pending.delete(documentId);
    wake();
  });

  const aliases = new Map<string, string[]>();
  let refused = 0;
  const started = performance.now();
  let lastReport = 0;
  const report = (): void => {
    const now = performance.now();
    if (now - lastReport < 2000) return;
    lastReport = now;
    const rate = finished.size / ((now - started) / 1000);
    process.stderr.write(`\r  ingest: ${aliases.size} uploaded, ${finished.size} processed (${rate.toFixed(1)} docs/s)   `);
  };
  try {
    for (const doc of ds.docs) {
      const body = doc.title ? `${doc.title}\n\n${doc.text}` : doc.text;
      try {
        const accepted = await ingest.upload(DEFAULT_TEAM, {
          filename: `${doc.id.replace(/[^\w.-]+/g, '_')}.txt`,
          declaredMime: 'text/plain',
          stream: Readable.from([Buffer.from(body, 'utf8')]),
        });
        const ids = aliases.get(accepted.documentId);
        if (ids) ids.push(doc.id);
        else {
          aliases.set(accepted.documentId, [doc.id]);
          if (!finished.has(accepted.documentId)) pending.add(accepted.documentId);
        }
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        refused++;
      }
      report();
    }
    while (pending.size > 0) {
      await new Promise<void>((resolveWait) => {
        wake = resolveWait;
        setTimeout(resolveWait, 1000);
      });
      report();
    }
  } finally {
    stop();
  }
  const seconds = (performance.now() - started) / 1000;
  process.stderr.write(`\r  ingest: ${aliases.size} documents in ${seconds.toFixed(1)} s${' '.repeat(30)}\n`);
  const failed = [...finished.values()].filter((s) => s === DocumentStatus.Failed).length;
  return { aliases, documents: aliases.size, failed, refused, seconds, documentsPerSecond: aliases.size / seconds };
}

/** Runs every judged query in one mode and averages the metrics. */
async function scoreMode(quire: QuireHandle, ds: BeirDataset, aliases: Map<string, string[]>, mode: ModeName): Promise<ModeFigures> {
  const { search } = quire.services;
  const run = (query: string) => search.search(DEFAULT_TEAM, { query, mode: MODES[mode], first: MAX_HITS });
  // One unmeasured query: the first call pays for lazy statement preparation.
  await run(ds.queries[0]!.text);
  const ndcg: number[] = [];
  const recall: number[] = [];
  const mrr: number[] = [];
  const times: number[] = [];
  for (const [i, q] of ds.queries.entries()) {
    const start = performance.now();
    const hits = await run(q.text);
    times.push(performance.now() - start);
    // Hits come best first, so a document's first hit is its best chunk.
    const ranked: string[] = [];
    const seen = new Set<string>();
    for (const hit of hits) {
      if (seen.has(hit.documentId)) continue;
      seen.add(hit.documentId);
      ranked.push(...(aliases.get(hit.documentId) ?? []));
    }
    const qrels = ds.qrels.get(q.id)!;
    ndcg.push(ndcgAtK(qrels, ranked, 10));
    recall.push(recallAtK(qrels, ranked, 100));
    mrr.push(mrrAtK(qrels, ranked, 10));
    if (i % 10 === 0) process.stderr.write(`\r  ${mode}: ${i + 1}/${ds.queries.length} queries   `);
  }
  process.stderr.write(`\r  ${mode}: ${ds.queries.length} queries${' '.repeat(20)}\n`);
  return { ndcg10: mean(ndcg), recall100: mean(recall), mrr10: mean(mrr), latencyMs: summarizeLatency(times) };
}
