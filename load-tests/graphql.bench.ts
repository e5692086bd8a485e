/**
 * Requests per second and latency of Quire's GraphQL `document(id)` and `search`, beside a
 * bare Express JSON route answering with a body of the same size, in the same run.
 *
 *   node --import tsx load-tests/graphql.bench.ts [--duration 10] [--connections 10] \
 *     [--rounds 3] [--warmup 3] [--search-mode HYBRID]
 *
 * A real hub (`quire all`) starts as a child process with a fresh temporary DATA_DIR, and the
 * documents notes.txt, notes.md and text-report.pdf from test/fixtures/generated are uploaded
 * and processed first, so `document(id)` (text-report.pdf: metadata, classification, fields
 * and chunks) and `search` (a paraphrase of the report, first 10, `--search-mode`, default
 * HYBRID, which embeds the query on every request) answer with real results. The baseline is
 * this file again in a second child process (`--serve-bare`): a minimal Express app whose
 * POST routes parse the same JSON request body and answer with `res.json()` of the very
 * response Quire gave, so both sides serialise the same payload. autocannon drives both from
 * this process with `--connections` connections.
 *
 * Each target gets one unmeasured warm-up run of `--warmup` seconds, then `--rounds` rounds of
 * `--duration` seconds; the targets take turns within every round (the order reversed on odd
 * rounds), so a change of load on the machine falls on all of them alike. Reported per target: the median over the rounds of
 * requests/s and of the p50 and p99 latency, the spread of the rounds, and the ratios
 * Quire ÷ bare. The child processes and the data directory are removed at the end, also
 * after an error or Ctrl-C.
 *
 * Measures, never asserts. The last line is JSON.
 */
import { spawn, type ChildProcess } from 'node:child_process';
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
import { cleanUpOnExit } from './cleanups.ts';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '3' },
    'search-mode': { type: 'string', default: 'HYBRID' },
    'serve-bare': { type: 'boolean', default: false },
  },
});
const DURATION_S = Number(args.duration);
const CONNECTIONS = Number(args.connections);
const ROUNDS = Number(args.rounds);
const WARMUP_S = Number(args.warmup);
const SEARCH_MODE = args['search-mode'];

const UPLOADS = [FIXTURES['notes.txt'], FIXTURES['notes.md'], FIXTURES['text-report.pdf']];
const REPORT = FIXTURES['text-report.pdf'];

const DOCUMENT_QUERY = `query($id: ID!) { document(id: $id) {
  id filename mimeType size status pageCount chunkCount createdAt processedAt
  classification { type { label confidence } sensitivity { label confidence } method }
  fields { number { value page confidence } date { value page confidence } total { value page confidence } currency { value } counterparty { value } }
  chunks { ordinal page text start end boxes { x y w h } }
} }`;

const SEARCH_QUERY = `query($q: String!, $mode: SearchMode!) { search(query: $q, mode: $mode, first: 10) {
  document { id filename } chunkOrdinal page boxes { x y w h } snippet highlights { start end } scores { text vector hybrid } rank
} }`;

/** One thing autocannon drives: a URL and the POST body it sends. */
interface Target {
  name: string;
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
 * Apollo does, and reports its port to the parent.
 */
async function serveBare(): Promise<void> {
  const { default: express } = await import('express');
  const payloads = await new Promise<Record<string, unknown>>((resolve) =>
    process.once('message', (m) => resolve(m as Record<string, unknown>)),
  );
  const app = express();
  app.disable('x-powered-by');
  app.post('/:name', express.json({ limit: '1mb' }), (req, res) => {
    const payload = payloads[String(req.params.name)];
    if (payload === undefined) res.status(404).json({ error: { code: 'NOT_FOUND' } });
    else res.json(payload);
  });
  const server = app.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
  process.once('disconnect', () => server.close(() => process.exit(0)));
}

async function startBare(payloads: Record<string, unknown>): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve-bare'], {
    cwd: repoRoot,
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

// --- the measurement -------------------------------------------------------------------------

async function prepareHub(hub: HubProcess): Promise<{ reportId: string }> {
  const ids = new Map<string, string>();
  for (const fixture of UPLOADS) {
    const { status, body } = await hub.upload({
      name: fixture.file,
      data: await readFile(fixturePath(fixture.file)),
      type: fixture.mime ?? undefined,
    });
    if (status >= 300) throw new Error(`upload of ${fixture.file} answered ${status}: ${JSON.stringify(body)}`);
    ids.set(fixture.file, body.documentId);
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

async function main(): Promise<void> {
  const { cleanups, cleanUp, signal } = cleanUpOnExit();

  try {
    // Imported here, not at the top: the bare server role has no use for the drawing libraries.
    const { ensureFixtures } = await import('../test/fixtures/generate.ts');
    await ensureFixtures();
    console.error('starting the hub…');
    const dataDir = await mkdtemp(join(tmpdir(), 'quire-graphql-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const hub = await startHub({ dataDir, signal, seedOwner: true });
    cleanups.push(() => hub.stop());
    const { reportId } = await prepareHub(hub);

    const documentVariables = { id: reportId };
    const searchVariables = { q: REPORT.query, mode: SEARCH_MODE };
    const documentAnswer = await answerOf(hub, DOCUMENT_QUERY, documentVariables, (d) => !d?.document?.chunks?.length);
    const searchAnswer = await answerOf(hub, SEARCH_QUERY, searchVariables, (d) => !d?.search?.length);

    const bare = await startBare({ document: documentAnswer, search: searchAnswer });
    cleanups.push(() => bare.stop());

    const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v));
    const documentBody = JSON.stringify({ query: DOCUMENT_QUERY, variables: documentVariables });
    const searchBody = JSON.stringify({ query: SEARCH_QUERY, variables: searchVariables });
    const targets: Target[] = [
      {
        name: 'quire document(id)',
        url: `${hub.url}/graphql`,
        body: documentBody,
        headers: hub.ownerAuth,
        responseBytes: bytes(documentAnswer),
      },
      { name: 'bare, document size', url: `${bare.url}/document`, body: documentBody, responseBytes: bytes(documentAnswer) },
      {
        name: `quire search ${SEARCH_MODE}`,
        url: `${hub.url}/graphql`,
        body: searchBody,
        headers: hub.ownerAuth,
        responseBytes: bytes(searchAnswer),
      },
      { name: 'bare, search size', url: `${bare.url}/search`, body: searchBody, responseBytes: bytes(searchAnswer) },
    ];

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
      url: new URL(t.url).pathname,
      responseBytes: t.responseBytes,
      requestsPerSec: figures[`${t.name}|requestsPerSec`]!,
      p50Ms: figures[`${t.name}|p50Ms`]!,
      p99Ms: figures[`${t.name}|p99Ms`]!,
      ...failures.get(t.name)!,
    }));
    type Summary = (typeof summaries)[number];
    const [quireDocument, bareDocument, quireSearch, bareSearch] = summaries as [Summary, Summary, Summary, Summary];
    const ratio = (quire: Summary, base: Summary) => ({
      requestsPerSec: quire.requestsPerSec.median / base.requestsPerSec.median,
      p99Ms: quire.p99Ms.median / base.p99Ms.median,
    });
    const ratios = { document: ratio(quireDocument, bareDocument), search: ratio(quireSearch, bareSearch) };

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
    console.log(
      `\n${formatTable(
        ['quire ÷ bare', 'req/s', 'p99'],
        Object.entries(ratios).map(([name, r]) => [name, r.requestsPerSec, r.p99Ms]),
      )}\n`,
    );
    console.log(
      jsonLine('graphql', {
        durationS: DURATION_S,
        connections: CONNECTIONS,
        rounds: ROUNDS,
        warmupS: WARMUP_S,
        searchMode: SEARCH_MODE,
        targets: summaries,
        ratios,
      }),
    );
  } finally {
    await cleanUp();
  }
}

if (args['serve-bare']) await serveBare();
else await main();
