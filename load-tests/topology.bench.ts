/**
 * The scale-out topology on one machine: `quire hub` (API, store, index; no pipeline) on its
 * own NATS server with JetStream, and `quire processor` nodes that take `document.process`
 * jobs from it; beside it, `quire all` (one process, in-process bus) where a comparison needs it.
 *
 *   node --import tsx load-tests/topology.bench.ts [--docs 12] [--mix text=1,pdf=1,scan=1] \
 *     [--text-corpus <articles.jsonl>] [--scans <dir>] [--articles-per-pdf 3] [--concurrency 4] \
 *     [--samples 10] [--node-workers 1] [--poll-ms 25] [--timeout 900]
 *
 * Every process is a child of this one on this machine, so they share its cores: the report
 * says how many there are (os.availableParallelism()) and how many pipeline processes each
 * node runs (PROCESSOR_WORKERS, `--node-workers`, as the nodes announce it on the dashboard).
 *
 * Figures:
 * - ingest throughput with 1 and then 2 processor nodes behind one hub: the same mix of
 *   documents each time (ingest-mix.ts, as in ingest.bench.ts; each run marks its copies so
 *   that no upload is a duplicate of the other run's), `--concurrency` uploads in flight.
 *   docs/min and pages/min (GraphQL `pageCount` of the processed documents) over the wall time
 *   from the first upload to the last document's final `document:changed`, as a Socket.IO
 *   client of the hub receives it; how many documents each node ran (the `node` of the job's
 *   `done` progress event). The second node starts after the first run, with its model loaded
 *   before it takes a job; the hub is warm from the samples below.
 * - upload → searchable: a one-page text document with a word of its own is uploaded, then
 *   GraphQL `search(mode: TEXT)` for that word is asked every `--poll-ms` until it answers the
 *   document; from the start of the upload to that answer, in this process's clock. `--samples`
 *   documents one after the other, each once the previous one is searchable, first on
 *   `quire all` (alone on the machine), then on the topology with one processor node.
 * - live-event delay: for each `job:progress` event a processor node stamped (`at`, its clock
 *   when its pipeline process reported), the time this process's Socket.IO client of the hub
 *   received it (Date.now(), the same machine's clock) minus that stamp: node → NATS → the hub
 *   that relays it → client. The `done` and `failed` events are left out: the hub stamps those
 *   when it applies the result. Over all such events of each ingest run.
 *
 * Measures, never asserts. Every process and temporary directory is removed at the end, also
 * after an error or Ctrl-C. The last line is JSON.
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { io, type Socket } from 'socket.io-client';
import type { ProgressEvent } from '@quire/kernel';
import { describeMachine, formatTable, jsonLine, summarizeLatency, type LatencySummary } from '../hub/src/eval/report.ts';
import { startHub, type HubProcess } from '../test/helpers/hub.ts';
import { startNats, startProcessor, type NatsServer, type ProcessorProcess } from '../test/helpers/topology.ts';
import { cleanUpOnExit } from './cleanups.ts';
import { buildMix, DocKind, describeMix, makeUnique, parseWeights, type BenchDocument } from './ingest-mix.ts';
import { measureSearchable as measureSearchableFigures, type SearchableFigures } from './searchable.ts';

const { values: args } = parseArgs({
  options: {
    docs: { type: 'string', default: '12' },
    mix: { type: 'string', default: 'text=1,pdf=1,scan=1' },
    'text-corpus': { type: 'string' },
    scans: { type: 'string' },
    'articles-per-pdf': { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '4' },
    samples: { type: 'string', default: '10' },
    'node-workers': { type: 'string', default: '1' },
    'poll-ms': { type: 'string', default: '25' },
    timeout: { type: 'string', default: '900' },
  },
});
const DOCS = Number(args.docs);
const CONCURRENCY = Number(args.concurrency);
const SAMPLES = Number(args.samples);
const NODE_WORKERS = Number(args['node-workers']);
const POLL_MS = Number(args['poll-ms']);
const RUN_TIMEOUT_MS = Number(args.timeout) * 1000;
/** How long one sample may take to become searchable before it counts as lost. */
const SAMPLE_TIMEOUT_MS = 120_000;
/** A processor node's grace on SIGTERM before it is killed. */
const NODE_GRACE_MS = 10_000;

const hubEnv = { LOG_LEVEL: process.env.QUIRE_TEST_LOG_LEVEL ?? 'warn', PROCESSOR_WORKERS: String(NODE_WORKERS) };
const nodeEnv = { LOG_LEVEL: 'info', PROCESSOR_WORKERS: String(NODE_WORKERS) };

const DOCUMENT_QUERY = `query($id: ID!) { document(id: $id) { status pageCount error { code message stage } } }`;
const NODES_QUERY = `{ dashboard { nodes { id concurrency executionProvider } } }`;

/** What the Socket.IO client of the topology's hub heard during one ingest run. */
interface Collector {
  /** Client clock (ms) when each document's final `document:changed` arrived. */
  finals: Map<string, number>;
  /** The node named by each document's `done` progress event. */
  nodeOf: Map<string, string>;
  /** Receipt minus `at` of every progress event a node stamped. */
  delaysMs: number[];
}

interface IngestRun {
  nodes: number;
  docs: number;
  processed: number;
  failures: { name: string; code: string; message: string }[];
  pages: number;
  wallMs: number;
  docsPerMin: number;
  pagesPerMin: number;
  /** Documents each node ran, by node id. */
  perNode: Record<string, number>;
  liveDelayMs: LatencySummary;
}

interface Searchable extends SearchableFigures {
  where: string;
}

const cleanup = cleanUpOnExit();

async function main(): Promise<void> {
  const { cleanups, cleanUp, signal } = cleanup;
  try {
    const docs = await buildMix({
      count: DOCS,
      weights: parseWeights(args.mix),
      textCorpus: args['text-corpus'] ?? null,
      scansDir: args.scans ?? null,
      articlesPerPdf: Number(args['articles-per-pdf']),
    });
    console.log(`${describeMix(docs)}, ${CONCURRENCY} uploads in flight; ${SAMPLES} searchable samples`);
    console.log(`machine: ${describeMachine()}`);
    console.log(
      `cores: ${availableParallelism()}, shared by every process (hub, NATS, processor nodes, this client), none pinned; ` +
        `PROCESSOR_WORKERS=${NODE_WORKERS} (pipeline processes) on every processor node and on quire all\n`,
    );

    // quire all first, alone on the machine, then gone before the topology starts.
    console.error('quire all: starting…');
    const all = await started(startHub({ seedOwner: true, signal, env: hubEnv }), (h) => h.stop());
    console.error(`quire all: ${SAMPLES} upload → searchable samples…`);
    const searchableAll = await measureSearchable(all, 'quire all', signal);
    await all.stop();

    console.error('topology: NATS, hub, one processor node…');
    const prefix = `bench-${randomUUID().slice(0, 8)}`;
    const nats = await started(startNats(), (n: NatsServer) => n.stop());
    const hub = await started(
      startHub({ seedOwner: true, role: 'hub', signal, env: { ...hubEnv, BUS: 'nats', NATS_URL: nats.url, NATS_PREFIX: prefix } }),
      (h) => h.stop(),
    );
    const startNode = () =>
      started(startProcessor({ natsUrl: nats.url, prefix, env: nodeEnv }), async (p: ProcessorProcess) => {
        await p.stop({ graceMs: NODE_GRACE_MS });
        await p.cleanUp();
      });
    const first = await startNode();

    let collector: Collector | null = null;
    const socket: Socket = io(hub.url, { transports: ['websocket'], auth: { token: hub.ownerToken } });
    cleanups.push(async () => void socket.disconnect());
    socket.on('job:progress', (p: ProgressEvent) => {
      const receivedAt = Date.now();
      if (!collector) return;
      if (p.stage === 'done') collector.nodeOf.set(p.documentId, p.node ?? '?');
      else if (p.stage !== 'failed' && p.node) collector.delaysMs.push(receivedAt - p.at);
    });
    socket.on('document:changed', (d: { documentId: string; status: string }) => {
      const receivedAt = Date.now();
      if (collector && (d.status === 'processed' || d.status === 'failed') && !collector.finals.has(d.documentId))
        collector.finals.set(d.documentId, receivedAt);
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    const ack = (await socket.emitWithAck('subscribe', { team: true })) as { ok: boolean };
    if (!ack.ok) throw new Error(`subscribe refused: ${JSON.stringify(ack)}`);

    console.error(`topology, 1 node: ${SAMPLES} upload → searchable samples…`);
    const searchableTopology = await measureSearchable(hub, 'quire hub + 1 processor node', signal);

    const ingest = async (nodes: number): Promise<IngestRun> => {
      console.error(`topology, ${nodes} node${nodes > 1 ? 's' : ''}: ingesting ${docs.length} documents…`);
      collector = { finals: new Map(), nodeOf: new Map(), delaysMs: [] };
      try {
        const run = await measureIngest(
          hub,
          docs.map((d) => forRun(d, nodes)),
          collector,
          signal,
        );
        return { nodes, ...run };
      } finally {
        collector = null;
      }
    };
    const oneNode = await ingest(1);
    console.error('topology: starting a second processor node…');
    const second = await startNode();
    const twoNodes = await ingest(2);
    const announced = ((await hub.gql(NODES_QUERY)).data?.dashboard?.nodes ?? []) as {
      id: string;
      concurrency: number | null;
      executionProvider: string | null;
    }[];

    report({ docs, searchable: [searchableAll, searchableTopology], runs: [oneNode, twoNodes], nodes: [first, second], announced });
  } finally {
    await cleanUp();
  }
}

/**
 * Awaits a process being started and registers its stop first, so that Ctrl-C during a slow
 * start waits for it and stops it, or for a hub that the signal cut short, for it to remove its
 * own directory, rather than exiting first.
 */
async function started<T>(pending: Promise<T>, stop: (value: T) => Promise<void>): Promise<T> {
  cleanup.cleanups.push(async () => {
    const value = await pending.catch(() => null);
    if (value !== null) await stop(value);
  });
  return pending;
}

/** The run's own copy of a document: same content, a marker that makes its bytes unique. */
function forRun(doc: BenchDocument, run: number): BenchDocument {
  const marker = `quire topology benchmark, run ${run}`;
  const data =
    doc.kind === DocKind.Text
      ? Buffer.from(`${new TextDecoder().decode(doc.data)}\n\n${marker}\n`)
      : makeUnique(doc.data, extname(doc.name).toLowerCase(), marker);
  return { ...doc, data };
}

/** Uploads `docs` with `--concurrency` in flight and waits for each one's final event. */
async function measureIngest(
  hub: HubProcess,
  docs: BenchDocument[],
  collector: Collector,
  signal: AbortSignal,
): Promise<Omit<IngestRun, 'nodes'>> {
  const tracked: { doc: BenchDocument; documentId: string }[] = [];
  const failures: IngestRun['failures'] = [];
  const startedAt = Date.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < docs.length && !signal.aborted) {
      const doc = docs[next++]!;
      const res = await hub.upload(doc).catch((err: Error) => ({ status: 0, body: { error: { code: 'NETWORK', message: err.message } } }));
      if (res.status === 202) tracked.push({ doc, documentId: res.body.documentId as string });
      else if (res.status === 200 && res.body.duplicateOf)
        failures.push({ name: doc.name, code: 'DUPLICATE', message: `same bytes as ${res.body.duplicateOf}` });
      else failures.push({ name: doc.name, code: res.body?.error?.code ?? `HTTP_${res.status}`, message: res.body?.error?.message ?? '' });
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, docs.length) }, lane));

  const deadline = Date.now() + RUN_TIMEOUT_MS;
  while (tracked.some((t) => !collector.finals.has(t.documentId)) && Date.now() < deadline && !signal.aborted) await sleep(100);
  signal.throwIfAborted();
  const wallMs = Math.max(startedAt, ...collector.finals.values()) - startedAt;

  let processed = 0;
  let pages = 0;
  const perNode: Record<string, number> = {};
  for (const t of tracked) {
    const d = (await hub.gql(DOCUMENT_QUERY, { id: t.documentId })).data?.document;
    if (!collector.finals.has(t.documentId)) {
      failures.push({ name: t.doc.name, code: 'UNFINISHED', message: `${d?.status ?? '?'} after ${args.timeout} s` });
    } else if (d?.status !== 'PROCESSED') {
      failures.push({ name: t.doc.name, code: d?.error?.code ?? '?', message: `${d?.error?.stage ?? '?'}: ${d?.error?.message ?? ''}` });
    } else {
      processed += 1;
      pages += d.pageCount as number;
      const node = collector.nodeOf.get(t.documentId) ?? '?';
      perNode[node] = (perNode[node] ?? 0) + 1;
    }
  }
  return {
    docs: docs.length,
    processed,
    failures,
    pages,
    wallMs,
    docsPerMin: (processed * 60_000) / wallMs,
    pagesPerMin: (pages * 60_000) / wallMs,
    perNode,
    liveDelayMs: summarizeLatency(collector.delaysMs),
  };
}

/** `--samples` one-page text documents, each uploaded once the previous one is searchable. */
async function measureSearchable(hub: HubProcess, where: string, signal: AbortSignal): Promise<Searchable> {
  return { where, ...(await measureSearchableFigures(hub, { count: SAMPLES, pollMs: POLL_MS, timeoutMs: SAMPLE_TIMEOUT_MS, signal })) };
}

function report(r: {
  docs: BenchDocument[];
  searchable: Searchable[];
  runs: IngestRun[];
  nodes: ProcessorProcess[];
  announced: { id: string; concurrency: number | null; executionProvider: string | null }[];
}): void {
  const label = (id: string) => {
    const i = r.nodes.findIndex((n) => n.nodeId === id);
    return i < 0 ? id : `node ${i + 1}`;
  };
  console.log('Processor nodes (as announced to the hub):\n');
  console.log(
    formatTable(
      ['node', 'id', 'pipeline processes', 'execution provider'],
      r.nodes.map((n) => {
        const a = r.announced.find((x) => x.id === n.nodeId);
        return [label(n.nodeId), n.nodeId, a?.concurrency ?? `${NODE_WORKERS} (asked)`, a?.executionProvider ?? '–'];
      }),
    ),
  );

  console.log(`\nIngest behind one quire hub on NATS (${availableParallelism()} cores shared by every process):\n`);
  console.log(
    formatTable(
      ['processor nodes', 'processed', 'failed', 'pages', 'wall s', 'docs/min', 'pages/min', 'docs per node'],
      r.runs.map((run) => [
        run.nodes,
        run.processed,
        run.failures.length,
        run.pages,
        run.wallMs / 1000,
        run.docsPerMin,
        run.pagesPerMin,
        Object.entries(run.perNode)
          .map(([id, n]) => `${label(id)}: ${n}`)
          .join(', '),
      ]),
    ),
  );
  const [one, two] = r.runs as [IngestRun, IngestRun];
  console.log(
    `\n2 nodes ÷ 1 node: docs/min ${(two.docsPerMin / one.docsPerMin).toFixed(2)}, pages/min ${(two.pagesPerMin / one.pagesPerMin).toFixed(2)}`,
  );

  console.log('\nUpload → searchable (TEXT search finds the new one-page text document), ms:\n');
  console.log(
    formatTable(
      ['where', 'samples', 'lost', 'p50', 'p90', 'max', 'upload HTTP p50'],
      r.searchable.map((s) => [s.where, s.latencyMs.count, s.lost, s.latencyMs.p50, s.latencyMs.p90, s.latencyMs.max, s.uploadMs.p50]),
    ),
  );

  console.log('\nLive-event delay, job:progress stamped by a processor node → Socket.IO client on the hub that relays it, ms:\n');
  console.log(
    formatTable(
      ['during', 'events', 'p50', 'p90', 'p99', 'max'],
      r.runs.map((run) => [
        `ingest, ${run.nodes} node${run.nodes > 1 ? 's' : ''}`,
        run.liveDelayMs.count,
        run.liveDelayMs.p50,
        run.liveDelayMs.p90,
        run.liveDelayMs.p99,
        run.liveDelayMs.max,
      ]),
    ),
  );

  const failures = r.runs.flatMap((run) => run.failures.map((f) => [run.nodes, f.name, f.code, f.message.slice(0, 100)]));
  if (failures.length > 0) {
    console.log('\nFailed documents:\n');
    console.log(formatTable(['nodes', 'document', 'code', 'message'], failures));
  }

  console.log();
  console.log(
    jsonLine('bench.topology', {
      docs: r.docs.length,
      mix: Object.fromEntries(Object.values(DocKind).map((k) => [k, r.docs.filter((d) => d.kind === k).length])),
      concurrency: CONCURRENCY,
      cores: availableParallelism(),
      nodeWorkers: NODE_WORKERS,
      nodes: r.nodes.map((n) => ({ id: n.nodeId, concurrency: r.announced.find((a) => a.id === n.nodeId)?.concurrency ?? null })),
      ingest: Object.fromEntries(
        r.runs.map((run) => [
          run.nodes === 1 ? 'oneNode' : 'twoNodes',
          {
            processed: run.processed,
            failed: run.failures.length,
            pages: run.pages,
            wallMs: run.wallMs,
            docsPerMin: run.docsPerMin,
            pagesPerMin: run.pagesPerMin,
            perNode: Object.fromEntries(Object.entries(run.perNode).map(([id, n]) => [label(id), n])),
          },
        ]),
      ),
      speedup: { docsPerMin: two.docsPerMin / one.docsPerMin, pagesPerMin: two.pagesPerMin / one.pagesPerMin },
      searchable: {
        all: { ...r.searchable[0]!.latencyMs, lost: r.searchable[0]!.lost },
        topology: { ...r.searchable[1]!.latencyMs, lost: r.searchable[1]!.lost },
      },
      liveDelayMs: { oneNode: one.liveDelayMs, twoNodes: two.liveDelayMs },
      failures: r.runs.flatMap((run) => run.failures.map((f) => ({ nodes: run.nodes, ...f }))),
    }),
  );
}

try {
  await main();
} catch (err) {
  // After Ctrl-C the clean-up runs and exits on its own; what failed on the way is its doing.
  if (!cleanup.signal.aborted) throw err;
}
