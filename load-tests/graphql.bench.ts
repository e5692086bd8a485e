/**
 * Requests per second and latency of Quire's GraphQL `document(id)`, a `documents` page and
 * `search`, on the SQLite and the MongoDB store, each beside a bare Express JSON route
 * answering with a body of the same size, in the same run.
 *
 *   node --import tsx load-tests/graphql.bench.ts [--store sqlite|mongodb|both] \
 *     [--targets document,documents,search] [--duration 10] [--connections 10] [--rounds 3] \
 *     [--warmup 3] [--documents 20] [--search-mode HYBRID] [--cpu-prof DIR]
 *
 * For each store of `--store` (default both) a real hub (`quire all`, NODE_ENV=production as
 * the `quire` command sets it unless NODE_ENV is given) starts as a child process with a fresh
 * temporary DATA_DIR: with `sqlite` on its defaults (SQLite store, blobs
 * on disk, in-process bus); with `mongodb` on a fresh database of the MongoDB-wire server at
 * MONGODB_URL (default 127.0.0.1:27017, the services script's FerretDB) with GridFS originals,
 * a random AUTH_SECRET and a `nats-server` of its own (`BUS=nats`; the `all` role processes
 * from it too). The documents notes.txt, notes.md and text-report.pdf from
 * test/fixtures/generated, and small generated text files up to `--documents` in all, are
 * uploaded and processed first, so `document(id)` (text-report.pdf: metadata, classification,
 * fields and chunks), `documents` (the web UI's list query: a page of `--documents`, newest
 * first, with the total count and each row's latest job) and `search` (a paraphrase of the
 * report, first 10, `--search-mode`, default HYBRID, which embeds the query on every request)
 * answer with real results. The baseline is this file again in a second child process
 * (`--serve-bare`): a minimal Express app whose POST routes parse the same JSON request body
 * and answer with `res.json()` of the very response Quire gave, so both sides serialise the
 * same payload; every store's target has a baseline of its own. The same child serves a third
 * side, "apollo only": the same answer through Quire's GraphQL layer without the rest of the
 * hub (Apollo Server, the express integration, Quire's schema and compiled execution, with
 * `Query` fields returning the recorded data), so the gap to bare Express splits into what
 * the GraphQL layer costs and what auth, headers and the store add. autocannon drives them all
 * from this process with `--connections` connections. The MongoDB database is dropped at the
 * end.
 *
 * Each target gets one unmeasured warm-up run of `--warmup` seconds, then `--rounds` rounds of
 * `--duration` seconds; the targets take turns within every round (the order reversed on odd
 * rounds), so a change of load on the machine falls on all of them alike. Reported per target:
 * the median over the rounds of requests/s and of the p50 and p99 latency, the spread of the
 * rounds, and the ratios Quire ÷ bare per store, side by side. The child processes, the data
 * directories and the database are removed at the end, also after an error or Ctrl-C.
 *
 * Measures, never asserts. The last line is JSON.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { describeMachine, formatTable, inTurn, jsonLine, measureRoundFigures, type RoundSummary } from '../hub/src/eval/report.ts';
import { FIXTURES, fixturePath } from '../test/fixtures/manifest.ts';
import { repoRoot, startHub, waitFor, type HubProcess } from '../test/helpers/hub.ts';
import { cleanUpOnExit, type Cleanups } from './cleanups.ts';

const { values: args } = parseArgs({
  options: {
    store: { type: 'string', default: 'both' },
    targets: { type: 'string', default: 'document,documents,search' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '3' },
    documents: { type: 'string', default: '20' },
    'search-mode': { type: 'string', default: 'HYBRID' },
    'serve-bare': { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
  },
});
const DURATION_S = Number(args.duration);
const CONNECTIONS = Number(args.connections);
const ROUNDS = Number(args.rounds);
const WARMUP_S = Number(args.warmup);
const DOCUMENTS = Number(args.documents);
const SEARCH_MODE = args['search-mode'];

/** The stores a hub can run on here. */
const Store = { Sqlite: 'sqlite', Mongodb: 'mongodb' } as const;
type Store = (typeof Store)[keyof typeof Store];

/** The GraphQL operations measured. */
const Operation = { Document: 'document', Documents: 'documents', Search: 'search' } as const;
type Operation = (typeof Operation)[keyof typeof Operation];

function chosen<T extends string>(option: string, all: readonly T[], what: string): T[] {
  const names = option === 'both' || option === 'all' ? all : option.split(',').map((s) => s.trim());
  const unknown = names.filter((n) => !all.includes(n as T));
  if (unknown.length || names.length === 0) throw new Error(`--${what} takes ${all.join(', ')} (or both/all), not ${option}`);
  return [...new Set(names)] as T[];
}

const MONGODB_SERVER = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';

const UPLOADS = [FIXTURES['notes.txt'], FIXTURES['notes.md'], FIXTURES['text-report.pdf']];
const REPORT = FIXTURES['text-report.pdf'];

const DOCUMENT_QUERY = `query($id: ID!) { document(id: $id) {
  id filename mimeType size status pageCount chunkCount createdAt processedAt
  classification { type { label confidence } sensitivity { label confidence } method }
  fields { number { value page confidence } date { value page confidence } total { value page confidence } currency { value } counterparty { value } }
  chunks { ordinal page text start end boxes { x y w h } }
} }`;

/** The web UI's document list (web/src/lib/stores/document-list.svelte.ts). */
const DOCUMENTS_QUERY = `query($filter: DocumentFilter, $orderBy: DocumentOrder, $first: Int, $after: String) {
  documents(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { endCursor hasNextPage }
    nodes { id filename mimeType size status pageCount type sensitivity createdAt error { message } job { stage percent etaMs } }
  }
}`;

const SEARCH_QUERY = `query($q: String!, $mode: SearchMode!) { search(query: $q, mode: $mode, first: 10) {
  document { id filename } chunkOrdinal page boxes { x y w h } snippet highlights { start end } scores { text vector hybrid } rank
} }`;

/** One thing autocannon drives: a URL and the POST body it sends. */
interface Target {
  name: string;
  store: Store;
  operation: Operation;
  /** Quire itself, the bare Express route, or Quire's GraphQL layer alone (Apollo, schema, execution). */
  side: 'quire' | 'bare' | 'apollo';
  url: string;
  body: string;
  /** Extra request headers (the hub's bearer token). */
  headers?: Record<string, string>;
  /** Size of one response body, in bytes. */
  responseBytes: number;
}

/** What one autocannon run measured. */
interface Run {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

async function drive(target: Target, seconds: number): Promise<Run> {
  const result = await autocannon({
    url: target.url,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...target.headers },
    body: target.body,
    connections: CONNECTIONS,
    duration: seconds,
  });
  return {
    requestsPerSec: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

// --- the bare baseline (child role) ----------------------------------------------------------

/**
 * Serves the payloads received over IPC at `POST /<name>`, parsing the JSON request body as
 * Apollo does, and reports its port to the parent. At `POST /apollo-<name>` it serves the
 * same answer through Quire's GraphQL layer alone: Apollo Server with the express
 * integration, Quire's schema and its compiled execution, whose `Query` fields return the
 * recorded data, with no caller, security headers or store behind them.
 */
async function serveBare(): Promise<void> {
  const { default: express } = await import('express');
  const { ApolloServer } = await import('@apollo/server');
  const { expressMiddleware } = await import('@as-integrations/express5');
  const { makeExecutableSchema } = await import('@graphql-tools/schema');
  const { typeDefs } = await import('@quire/graphql');
  const { compiledExecution } = await import('../hub/src/graphql/compiled-execution.ts');
  const payloads = await new Promise<Record<string, { data: Record<string, unknown> }>>((resolve) =>
    process.once('message', (m) => resolve(m as Record<string, { data: Record<string, unknown> }>)),
  );
  const app = express();
  app.disable('x-powered-by');
  const servers: InstanceType<typeof ApolloServer>[] = [];
  for (const [name, payload] of Object.entries(payloads)) {
    const Query = Object.fromEntries(Object.entries(payload.data).map(([field, value]) => [field, () => value]));
    const apollo = new ApolloServer({
      gateway: compiledExecution(makeExecutableSchema({ typeDefs, resolvers: { Query } })),
      stringifyResult: (result) => JSON.stringify(result),
    });
    await apollo.start();
    servers.push(apollo);
    app.use(`/apollo-${name}`, express.json({ limit: '1mb' }), expressMiddleware(apollo));
  }
  app.post('/:name', express.json({ limit: '1mb' }), (req, res) => {
    const payload = payloads[String(req.params.name)];
    if (payload === undefined) res.status(404).json({ error: { code: 'NOT_FOUND' } });
    else res.json(payload);
  });
  const server = app.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
  process.once('disconnect', () => server.close(() => void Promise.all(servers.map((a) => a.stop())).then(() => process.exit(0))));
}

async function startBare(payloads: Record<string, unknown>): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve-bare'], {
    cwd: repoRoot,
    // As the hubs run: Apollo and graphql-js skip their development-only work in production.
    env: { ...process.env, NODE_ENV: process.env.NODE_ENV ?? 'production' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m) => resolve((m as { port: number }).port));
      child.once('exit', (code) => reject(new Error(`bare Express server exited with ${code}`)));
      child.send(payloads);
    });
    return { url: `http://127.0.0.1:${port}`, child, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

// --- the hubs --------------------------------------------------------------------------------

/**
 * Starts a hub on `store`, registering its clean-up: for `mongodb` a NATS server of its own
 * and a fresh database, dropped at the end.
 */
async function startStoreHub(store: Store, { cleanups, signal }: Cleanups): Promise<HubProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), `quire-graphql-${store}-`));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  // As the `quire` command runs it (bin/quire.mjs): graphql-js, among others, skips its
  // development-only checks on every field in production.
  let env: Record<string, string> = { NODE_ENV: process.env.NODE_ENV ?? 'production' };
  if (store === Store.Mongodb) {
    const { startNats } = await import('../test/helpers/topology.ts');
    const { default: mongoose } = await import('mongoose');
    const prefix = `graphql-bench-${randomUUID().slice(0, 8)}`;
    const mongodbUrl = `${MONGODB_SERVER.replace(/\/+$/, '')}/${prefix}`;
    const nats = await startNats();
    cleanups.push(() => nats.stop());
    cleanups.push(async () => {
      const connection = await mongoose.createConnection(mongodbUrl, { serverSelectionTimeoutMS: 3000 }).asPromise();
      await connection.dropDatabase();
      await connection.close();
    });
    env = {
      ...env,
      STORE: 'mongodb',
      BLOBS: 'gridfs',
      MONGODB_URL: mongodbUrl,
      AUTH_SECRET: randomBytes(32).toString('base64url'),
      BUS: 'nats',
      NATS_URL: nats.url,
      NATS_PREFIX: prefix,
    };
  }
  const hub = await startHub({
    dataDir,
    signal,
    seedOwner: true,
    env,
    // A V8 CPU profile of each hub, written when it stops (open it in Chrome's DevTools).
    nodeArgs: args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${args['cpu-prof']}`] : [],
  });
  cleanups.push(() => hub.stop({ keepData: true }));
  return hub;
}

/** Uploads the fixtures and generated notes up to `--documents` and waits until all are processed. */
async function prepareHub(hub: HubProcess): Promise<{ reportId: string }> {
  const files: { name: string; data: Uint8Array; type?: string }[] = [];
  for (const fixture of UPLOADS) {
    files.push({ name: fixture.file, data: await readFile(fixturePath(fixture.file)), type: fixture.mime ?? undefined });
  }
  // Each note differs, so none is a duplicate of another.
  for (let i = files.length; i < DOCUMENTS; i++) {
    const text = `Meeting note ${i}\n\nThe supplier confirmed delivery ${i} for the spring order; invoice follows next week.\n`;
    files.push({ name: `note-${String(i).padStart(3, '0')}.txt`, data: Buffer.from(text), type: 'text/plain' });
  }
  const ids = new Map<string, string>();
  for (const file of files) {
    const { status, body } = await hub.upload(file);
    if (status >= 300) throw new Error(`upload of ${file.name} answered ${status}: ${JSON.stringify(body)}`);
    ids.set(file.name, body.documentId);
  }
  for (const [file, id] of ids) {
    await waitFor(
      async () => {
        const { data } = await hub.gql('query($id: ID!) { document(id: $id) { status } }', { id });
        if (data?.document?.status === 'FAILED') throw new Error(`${file} failed to process`);
        return data?.document?.status === 'PROCESSED';
      },
      300_000,
      `${file} to be processed`,
    );
  }
  return { reportId: ids.get(REPORT.file)! };
}

/** Runs a GraphQL operation once, refusing errors and empty answers, and returns the whole response. */
async function answerOf(
  hub: HubProcess,
  query: string,
  variables: Record<string, unknown>,
  empty: (data: any) => boolean,
): Promise<unknown> {
  const response = await hub.gql(query, variables);
  if (response.errors) throw new Error(`GraphQL errors: ${JSON.stringify(response.errors)}`);
  if (empty(response.data)) throw new Error(`empty answer to ${query.slice(0, 40)}…`);
  return response;
}

/** The request of each operation, its target's label and what makes its answer empty. */
function requestOf(operation: Operation, reportId: string) {
  switch (operation) {
    case Operation.Document:
      return {
        label: 'document(id)',
        query: DOCUMENT_QUERY,
        variables: { id: reportId },
        empty: (d: any) => !d?.document?.chunks?.length,
      };
    case Operation.Documents:
      return {
        label: `documents(first: ${DOCUMENTS})`,
        query: DOCUMENTS_QUERY,
        variables: { orderBy: 'NEWEST', first: DOCUMENTS },
        empty: (d: any) => (d?.documents?.nodes?.length ?? 0) < DOCUMENTS,
      };
    case Operation.Search:
      return {
        label: `search ${SEARCH_MODE}`,
        query: SEARCH_QUERY,
        variables: { q: REPORT.query, mode: SEARCH_MODE },
        empty: (d: any) => !d?.search?.length,
      };
    default:
      throw new Error(`no such operation: ${operation as string}`);
  }
}

async function main(): Promise<void> {
  const stores = chosen(args.store, Object.values(Store), 'store');
  const operations = chosen(args.targets, Object.values(Operation), 'targets');
  const cleanup = cleanUpOnExit();
  const { cleanups, cleanUp } = cleanup;

  try {
    // Imported here, not at the top: the bare server role has no use for the drawing libraries.
    const { ensureFixtures } = await import('../test/fixtures/generate.ts');
    await ensureFixtures();

    const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v));
    const payloads: Record<string, unknown> = {};
    const pending: (Omit<Target, 'url'> & { url: string | null; path: string })[] = [];
    const hubs = new Map<Store, HubProcess>();
    for (const store of stores) {
      console.error(`starting the ${store} hub…`);
      const hub = await startStoreHub(store, cleanup);
      hubs.set(store, hub);
      const { reportId } = await prepareHub(hub);
      for (const operation of operations) {
        const { label, query, variables, empty } = requestOf(operation, reportId);
        const answer = await answerOf(hub, query, variables, empty);
        const body = JSON.stringify({ query, variables });
        const path = `${store}-${operation}`;
        payloads[path] = answer;
        const shared = { store, operation, body, responseBytes: bytes(answer), path };
        pending.push({ ...shared, name: `quire ${store} ${label}`, side: 'quire', url: `${hub.url}/graphql`, headers: hub.ownerAuth });
        pending.push({ ...shared, name: `bare, ${store} ${operation} size`, side: 'bare', url: null });
        pending.push({ ...shared, name: `apollo only, ${store} ${operation}`, side: 'apollo', url: null, path: `apollo-${path}` });
      }
    }

    const bare = await startBare(payloads);
    cleanups.push(() => bare.stop());
    const targets: Target[] = pending.map(({ path, ...t }) => ({ ...t, url: t.url ?? `${bare.url}/${path}` }));

    // Every round runs each target once, the order reversed on odd rounds; the warm-up round
    // runs each for `--warmup` seconds.
    const failures = new Map(targets.map((t) => [t.name, { non2xx: 0, errors: 0 }]));
    const figures = await measureRoundFigures({
      warmup: 1,
      rounds: ROUNDS,
      round: async (index) => {
        const out: Record<string, number> = {};
        for (const target of inTurn(targets, index)) {
          const run = await drive(target, index < 0 ? WARMUP_S : DURATION_S);
          console.error(
            `${index < 0 ? 'warm-up' : `round ${index + 1}/${ROUNDS}`} ${target.name}: ${run.requestsPerSec.toFixed(0)} req/s, ` +
              `p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms${run.non2xx || run.errors ? `, ${run.non2xx} non-2xx, ${run.errors} errors` : ''}`,
          );
          if (index < 0) continue;
          failures.get(target.name)!.non2xx += run.non2xx;
          failures.get(target.name)!.errors += run.errors;
          out[`${target.name}|requestsPerSec`] = run.requestsPerSec;
          out[`${target.name}|p50Ms`] = run.p50Ms;
          out[`${target.name}|p99Ms`] = run.p99Ms;
        }
        return out;
      },
    });

    const summaries = targets.map((t) => ({
      target: t.name,
      store: t.store,
      operation: t.operation,
      side: t.side,
      url: new URL(t.url).pathname,
      responseBytes: t.responseBytes,
      requestsPerSec: figures[`${t.name}|requestsPerSec`]!,
      p50Ms: figures[`${t.name}|p50Ms`]!,
      p99Ms: figures[`${t.name}|p99Ms`]!,
      ...failures.get(t.name)!,
    }));
    type Summary = (typeof summaries)[number];
    const find = (store: Store, operation: Operation, side: Target['side']) =>
      summaries.find((s) => s.store === store && s.operation === operation && s.side === side)!;
    const ratio = (quire: Summary, base: Summary) => ({
      requestsPerSec: quire.requestsPerSec.median / base.requestsPerSec.median,
      p99Ms: quire.p99Ms.median / base.p99Ms.median,
    });
    /** `side` ÷ bare Express, per store and operation. */
    const ratiosOf = (side: Target['side']) =>
      Object.fromEntries(
        stores.map((store) => [
          store,
          Object.fromEntries(operations.map((op) => [op, ratio(find(store, op, side), find(store, op, 'bare'))])),
        ]),
      ) as Record<Store, Record<Operation, { requestsPerSec: number; p99Ms: number }>>;
    const ratios = ratiosOf('quire');
    // Quire's GraphQL layer alone against the bare route: how much of the gap is Apollo and execution.
    const apolloRatios = ratiosOf('apollo');
    const ratioTable = (title: string, r: typeof ratios) =>
      formatTable(
        [title, ...stores.flatMap((store) => [`${store} req/s`, `${store} p99`])],
        operations.map((op) => [op, ...stores.flatMap((store) => [r[store][op].requestsPerSec, r[store][op].p99Ms])]),
      );

    const spread = (s: RoundSummary) => `±${s.spreadPct.toFixed(0)}%`;
    console.log(
      `\nGraphQL over HTTP, ${CONNECTIONS} connections, ${ROUNDS} × ${DURATION_S} s after ${WARMUP_S} s warm-up; median of rounds, spread = (max − min) ÷ median`,
    );
    console.log(`${describeMachine()}\n`);
    console.log(
      formatTable(
        ['target', 'response B', 'req/s', 'spread', 'p50 ms', 'p99 ms', 'spread', 'non-2xx', 'errors'],
        summaries.map((s) => [
          s.target,
          s.responseBytes,
          Math.round(s.requestsPerSec.median),
          spread(s.requestsPerSec),
          s.p50Ms.median,
          s.p99Ms.median,
          spread(s.p99Ms),
          s.non2xx,
          s.errors,
        ]),
      ),
    );
    console.log(`\n${ratioTable('quire ÷ bare', ratios)}\n`);
    console.log(`${ratioTable('apollo only ÷ bare', apolloRatios)}\n`);
    console.log(
      jsonLine('graphql', {
        durationS: DURATION_S,
        connections: CONNECTIONS,
        rounds: ROUNDS,
        warmupS: WARMUP_S,
        documents: DOCUMENTS,
        searchMode: SEARCH_MODE,
        stores,
        targets: summaries,
        ratios,
        apolloRatios,
      }),
    );
  } finally {
    await cleanUp();
  }
}

if (args['serve-bare']) await serveBare();
else await main();
