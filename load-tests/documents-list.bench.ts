/**
 * Latency of the document list (`Query.documents`, Store.listDocuments on the SQLite store)
 * at 100,000 documents of one team: the first page and a page 1,000 pages deep in each order,
 * a filtered page and the counts, beside the same deep page read with LIMIT/OFFSET.
 *
 *   node --import tsx load-tests/documents-list.bench.ts [--documents 100000] [--others 10000] \
 *     [--first 20] [--depth 1000] [--queries 50] [--warmup 1] [--rounds 5] [--seed 7]
 *
 * A fresh SqliteStore in a temporary folder (all migrations, so every order's index) is seeded
 * with `--documents` rows of the measured team and `--others` rows of a second team, written
 * straight into the documents table in one transaction: statuses mostly processed (90 %
 * processed, 5 % failed, 3 % queued, 2 % processing), eight types and four sensitivities with
 * skewed shares and their classification JSON, file names from a word list (so names repeat),
 * sizes spread over six orders of magnitude and created times over a year, a tenth of them
 * sharing their second with another row. Seeding is timed but not part of the figures.
 *
 * Kinds measured, each `--queries` times per round with `--first` documents per page:
 * - `first page, <order>` for NEWEST, OLDEST, NAME, NAME_DESC, LARGEST and SMALLEST;
 * - `page <depth>, <order>`: the page after the cursor reached by walking `--depth` pages in
 *   that order through the store (the walk is timed once and reported on its own);
 * - `filtered first page` and `filtered page <n>`: status PROCESSED and type invoice, newest
 *   first, `n` the deepest of `--depth` the filter's matches allow;
 * - `count, all` and `count, filtered`: Store.countDocuments, what the connection's
 *   `totalCount` costs when a client asks for it (pages do not count);
 * - `baseline: OFFSET page <depth>, newest`: the same deep page as `SELECT … ORDER BY
 *   created_at DESC, id DESC LIMIT … OFFSET …` on the same database, as offset pagination
 *   would read it.
 *
 * `--warmup` unmeasured rounds, then `--rounds` rounds in which the kinds take turns; reported
 * per kind: the median over rounds of each round's p50 and p99, with the spread of the p50s.
 *
 * Measures, never asserts. The last line is JSON.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { seededRandom } from '@quire/processors/eval';
import {
  describeMachine,
  formatTable,
  inTurn,
  jsonLine,
  measureRoundFigures,
  peakRssMiB,
  sqliteFileBytes,
  summarizeLatency,
  type RoundSummary,
} from '../hub/src/eval/report.ts';
import { SqliteStore } from '../hub/src/store/sqlite/store.sqlite.ts';
import { DocumentOrder, type DocumentFilter, type TeamScope } from '../hub/src/store/store.ts';

const { values: args } = parseArgs({
  options: {
    documents: { type: 'string', default: '100000' },
    others: { type: 'string', default: '10000' },
    first: { type: 'string', default: '20' },
    depth: { type: 'string', default: '1000' },
    queries: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '5' },
    seed: { type: 'string', default: '7' },
  },
});
const DOCUMENTS = Number(args.documents);
const OTHERS = Number(args.others);
const FIRST = Number(args.first);
const DEPTH = Number(args.depth);
const QUERIES = Number(args.queries);
const WARMUP = Number(args.warmup);
const ROUNDS = Number(args.rounds);
const SEED = Number(args.seed);

const TEAM: TeamScope = { teamId: 'bench-team' };
const OTHER_TEAM: TeamScope = { teamId: 'bench-other-team' };
const FILTER: DocumentFilter = { statuses: ['processed'], types: ['invoice'] };

/** Picks from weighted choices with a seeded generator. */
function weighted<T>(random: () => number, choices: readonly (readonly [T, number])[]): () => T {
  const total = choices.reduce((s, [, w]) => s + w, 0);
  return () => {
    let r = random() * total;
    for (const [value, w] of choices) if ((r -= w) < 0) return value;
    return choices.at(-1)![0];
  };
}

const WORDS = [
  'invoice', 'order', 'receipt', 'contract', 'letter', 'report', 'minutes', 'statement', 'quote', 'delivery',
  'north', 'harbour', 'annual', 'march', 'april', 'scan', 'copy', 'final', 'draft', 'signed',
]; // prettier-ignore

/** Writes `count` document rows of `scope`'s team in one transaction; answers the seconds it took. */
function seed(store: SqliteStore, scope: TeamScope, count: number, random: () => number): number {
  const started = performance.now();
  const status = weighted(random, [
    ['processed', 90],
    ['failed', 5],
    ['queued', 3],
    ['processing', 2],
  ] as const);
  const type = weighted(random, [
    ['invoice', 20],
    ['receipt', 18],
    ['letter', 15],
    ['report', 12],
    ['contract', 10],
    ['purchase order', 10],
    ['form', 8],
    ['other', 7],
  ] as const);
  const sensitivity = weighted(random, [
    ['INTERNAL', 45],
    ['RESTRICTED', 30],
    ['PUBLIC', 15],
    ['CONFIDENTIAL', 10],
  ] as const);
  const insert = store.db.prepare(
    `INSERT INTO documents (team_id, id, filename, mime_type, size, sha256, blob_key, status, page_count, chunk_count,
       classification, type_label, sensitivity_label, fields, job_id, created_at, updated_at, processed_at)
     VALUES (@team, @id, @filename, 'application/pdf', @size, @sha, @blob, @status, 2, 6, @classification, @type, @sensitivity, '{}',
       @job, @createdAt, @createdAt, @processedAt)`,
  );
  const yearAgo = Date.UTC(2025, 0, 1);
  let previous = yearAgo;
  store.db.transaction(() => {
    for (let i = 0; i < count; i++) {
      const id = randomUUID();
      const st = status();
      const classified = st === 'processed' || st === 'failed';
      const [ty, se] = [type(), sensitivity()];
      const word = () => WORDS[Math.floor(random() * WORDS.length)]!;
      // A tenth share their created second with the row before: ties the id must break.
      const createdAt = random() < 0.1 ? previous : yearAgo + Math.floor(random() * 365 * 86_400) * 1000;
      previous = createdAt;
      insert.run({
        team: scope.teamId,
        id,
        filename: `${word()}-${word()}-${Math.floor(random() * 1000)}.pdf`,
        size: Math.floor(10 ** (2 + random() * 6)),
        sha: id.replace(/-/g, '').padEnd(64, '0'),
        blob: `blobs/${id}`,
        status: st,
        classification: classified
          ? JSON.stringify({ type: { label: ty, confidence: 0.8 }, sensitivity: { label: se, confidence: 0.7 }, method: 'zero-shot' })
          : null,
        type: classified ? ty : null,
        sensitivity: classified ? se : null,
        job: randomUUID(),
        createdAt,
        processedAt: st === 'processed' ? createdAt + 30_000 : null,
      });
    }
  })();
  return (performance.now() - started) / 1000;
}

/** The cursor after `pages` pages of `first` in `order`, walking through the store; and the walk's wall time. */
async function walk(
  store: SqliteStore,
  order: DocumentOrder,
  pages: number,
  filter?: DocumentFilter,
): Promise<{ cursor: string | null; pages: number; ms: number }> {
  const started = performance.now();
  let cursor: string | null = null;
  let walked = 0;
  while (walked < pages) {
    const page = await store.listDocuments(TEAM, { filter, orderBy: order, first: FIRST, after: cursor });
    if (!page.hasNextPage) break;
    cursor = page.endCursor;
    walked++;
  }
  return { cursor, pages: walked, ms: performance.now() - started };
}

interface Kind {
  name: string;
  run(): Promise<unknown>;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'quire-documents-bench-'));
  const filename = join(dir, 'quire.sqlite');
  const store = new SqliteStore({ filename });
  const cleanup = async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    await store.start();
    await store.ensureTeam({ id: TEAM.teamId, name: 'Measured' });
    await store.ensureTeam({ id: OTHER_TEAM.teamId, name: 'Other' });
    const random = seededRandom(SEED);
    const seedSeconds = seed(store, TEAM, DOCUMENTS, random) + seed(store, OTHER_TEAM, OTHERS, random);
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    const bytes = sqliteFileBytes(filename);
    const matching = await store.countDocuments(TEAM, FILTER);
    console.log(
      `SqliteStore, ${DOCUMENTS.toLocaleString('en')} documents of the measured team and ${OTHERS.toLocaleString('en')} of another, ` +
        `seeded in ${seedSeconds.toFixed(1)} s, ${(bytes / 2 ** 20).toFixed(1)} MiB on disk`,
    );
    console.log(
      `${FIRST} per page, ${QUERIES} queries per kind and round, ${WARMUP} warm-up round(s), ${ROUNDS} rounds; ${describeMachine()}`,
    );

    const orders = Object.values(DocumentOrder);
    const walks: Record<string, { pages: number; ms: number }> = {};
    const kinds: Kind[] = [];
    for (const order of orders) {
      kinds.push({ name: `first page, ${order}`, run: () => store.listDocuments(TEAM, { orderBy: order, first: FIRST }) });
    }
    for (const order of orders) {
      const w = await walk(store, order, DEPTH);
      walks[order] = { pages: w.pages, ms: w.ms };
      kinds.push({
        name: `page ${w.pages}, ${order}`,
        run: () => store.listDocuments(TEAM, { orderBy: order, first: FIRST, after: w.cursor }),
      });
    }
    kinds.push({ name: 'filtered first page', run: () => store.listDocuments(TEAM, { filter: FILTER, first: FIRST }) });
    const filtered = await walk(store, DocumentOrder.Newest, DEPTH, FILTER);
    walks['filtered newest'] = { pages: filtered.pages, ms: filtered.ms };
    kinds.push({
      name: `filtered page ${filtered.pages}`,
      run: () => store.listDocuments(TEAM, { filter: FILTER, first: FIRST, after: filtered.cursor }),
    });
    kinds.push({ name: 'count, all', run: () => store.countDocuments(TEAM) });
    kinds.push({ name: 'count, filtered', run: () => store.countDocuments(TEAM, FILTER) });
    // What offset pagination reads for the same deep page: every skipped row is visited.
    const offsetPage = store.db.prepare('SELECT * FROM documents WHERE team_id = ? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?');
    const deep = walks.newest!.pages;
    kinds.push({
      name: `baseline: OFFSET page ${deep}, newest`,
      run: async () => offsetPage.all(TEAM.teamId, FIRST + 1, deep * FIRST),
    });

    const figures = await measureRoundFigures({
      warmup: WARMUP,
      rounds: ROUNDS,
      round: async (index) => {
        const out: Record<string, number> = {};
        for (const kind of inTurn(kinds, index)) {
          const samples: number[] = [];
          for (let q = 0; q < QUERIES; q++) {
            const started = performance.now();
            await kind.run();
            samples.push(performance.now() - started);
          }
          const s = summarizeLatency(samples);
          out[`${kind.name}|p50`] = s.p50;
          out[`${kind.name}|p99`] = s.p99;
        }
        return out;
      },
    });
    const of = (name: string) => ({ p50: figures[`${name}|p50`]!, p99: figures[`${name}|p99`]! });
    console.log('');
    console.log(
      formatTable(
        ['kind', 'p50 ms', 'p99 ms', 'p50 spread %'],
        kinds.map((k) => [k.name, of(k.name).p50.median, of(k.name).p99.median, of(k.name).p50.spreadPct]),
      ),
    );
    console.log('');
    console.log(
      formatTable(
        ['walk through the store', 'pages', 'total ms', 'ms per page'],
        Object.entries(walks).map(([name, w]) => [name, w.pages, w.ms, w.pages ? w.ms / w.pages : null]),
      ),
    );
    console.log(`filter status PROCESSED + type invoice matches ${matching.toLocaleString('en')} documents`);
    console.log(`peak RSS ${Math.round(peakRssMiB())} MiB`);
    const summary = (s: RoundSummary) => ({ median: s.median, min: s.min, max: s.max, spreadPct: s.spreadPct });
    console.log(
      jsonLine('documents-list.sqlite', {
        documents: DOCUMENTS,
        otherTeamDocuments: OTHERS,
        first: FIRST,
        seedSeconds,
        fileBytes: bytes,
        filterMatches: matching,
        kinds: kinds.map((k) => ({ kind: k.name, p50Ms: summary(of(k.name).p50), p99Ms: summary(of(k.name).p99) })),
        walks,
        peakRssMiB: peakRssMiB(),
      }),
    );
  } finally {
    await cleanup();
  }
}

await main();
