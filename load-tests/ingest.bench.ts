/**
 * Ingest throughput of a real hub: documents uploaded over HTTP go through the whole
 * pipeline (detect → extract / OCR → chunk → embed → classify → fields → index) in the hub's
 * worker threads.
 *
 *   node --import tsx load-tests/ingest.bench.ts [--docs 24] [--mix text=1,pdf=1,scan=1] \
 *     [--text-corpus <articles.jsonl>] [--scans <dir>] [--articles-per-pdf 3] \
 *     [--concurrency 4] [--rounds 3] [--warmup 1] [--warmup-docs 3] [--timeout 1800]
 *
 * The mix (ingest-mix.ts), by default a third each: plain text files of one article of
 * `--text-corpus` (JSONL with a `text` field; without it, the plain fixtures), text-layer
 * PDFs of `--articles-per-pdf` articles (each from a new page), and scans from `--scans`
 * (jpg, png, tiff, pdf; without it, the generated one- and two-page scanned fixtures).
 * Every document's bytes are unique, so duplicate detection never skips the pipeline.
 *
 * Each round starts a fresh hub (`quire all`, a child process with a fresh temporary
 * DATA_DIR), so rounds are independent; hub settings come from this process's environment
 * (PROCESSOR_WORKERS, OCR_WORKERS, … as in hub/src/config.ts) and are printed. A Socket.IO
 * client joins the team's room, then the documents are uploaded with `--concurrency`
 * uploads in flight; the round ends when every accepted document is processed or failed.
 * `--warmup` unmeasured rounds of the first `--warmup-docs` documents come first.
 *
 * Figures of a round:
 * - docs/min and pages/min: processed documents and their pages (GraphQL `pageCount`) over
 *   the wall time from the first upload to the last document's final event.
 * - time per stage: from the `job:progress` and `document:changed` events, each stamped
 *   (`at`) by the hub's main thread when it relayed them. Every interval between two
 *   consecutive events of a document counts to the phase the earlier one opened: `queue`
 *   (queued → processing: waiting for a free worker), `start` (processing → the pipeline's
 *   first report: reading the original, handing it to a worker), the pipeline stages
 *   detect … fields (indexing happens within them, as result parts arrive), and `finish`
 *   (the pipeline's last report → `done`: recording the outcome). Per phase: the median per
 *   document over the documents that went through it, the sum over documents, and the share
 *   of that sum in all processing time (`start` to `finish`; the queue is left out, as it
 *   only grows with the backlog). Resolution 1 ms.
 * - event-loop delay p99 of the hub's main thread: prom-client's
 *   `nodejs_eventloop_lag_p99_seconds`, whose histogram (perf_hooks.monitorEventLoopDelay,
 *   10 ms resolution) is reset by every /metrics scrape. The bench scrapes once just before
 *   the first upload and once just after the last document finished, and reports the second
 *   scrape: the p99 over the whole round. Each sample is the time between two ticks of a
 *   10 ms timer, so an idle loop reads about 10 ms and the excess is the delay; max and
 *   mean come from the same histogram.
 * - memory of the hub process (main thread, workers, model runtimes: /proc/<pid>/status):
 *   `VmHWM` after the round (peak resident over the hub's life, start-up included), `VmRSS`
 *   sampled every `--sample-ms` during the round (its peak), and `VmRSS` before the round.
 * - hub CPU: `process_cpu_seconds_total` (all threads) between the two scrapes, per document.
 *
 * Reported: a table per round, the median and spread of the rounds, the per-stage table,
 * and every failed document. Measures, never asserts. The last line is JSON.
 */
import { parseArgs } from 'node:util';
import { io, type Socket } from 'socket.io-client';
import { loadConfig } from '../hub/src/config.ts';
import {
  describeMachine,
  formatTable,
  jsonLine,
  measureRoundFigures,
  median,
  processMemory,
  summarizeLatency,
  type RoundSummary,
} from '../hub/src/eval/report.ts';
import { Stage, type ProgressEvent } from '@quire/kernel';
import { scrapeMetrics, startHub, type HubProcess } from '../test/helpers/hub.ts';
import { buildMix, DocKind, describeMix, parseWeights, type BenchDocument } from './ingest-mix.ts';

const { values: args } = parseArgs({
  options: {
    docs: { type: 'string', default: '24' },
    mix: { type: 'string', default: 'text=1,pdf=1,scan=1' },
    'text-corpus': { type: 'string' },
    scans: { type: 'string' },
    'articles-per-pdf': { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    'warmup-docs': { type: 'string', default: '3' },
    timeout: { type: 'string', default: '1800' },
    'sample-ms': { type: 'string', default: '250' },
  },
});
const DOCS = Number(args.docs);
const CONCURRENCY = Number(args.concurrency);
const ROUNDS = Number(args.rounds);
const WARMUP = Number(args.warmup);
const WARMUP_DOCS = Math.min(DOCS, Number(args['warmup-docs']));
const ROUND_TIMEOUT_MS = Number(args.timeout) * 1000;
const SAMPLE_MS = Number(args['sample-ms']);

/** Phases of a document's processing, in order: the pipeline's stages between the hub's own. */
const PHASES = [
  'queue',
  'start',
  Stage.Detect,
  Stage.Extract,
  Stage.Ocr,
  Stage.Chunk,
  Stage.Embed,
  Stage.Classify,
  Stage.Fields,
  'finish',
] as const;
type Phase = (typeof PHASES)[number];
/** Phases that count as processing time (the queue does not). */
const PROCESSING = PHASES.filter((p) => p !== 'queue');

/** One event of a document as the client saw it. */
interface TimelineEvent {
  /** Hub clock (ms) when the hub relayed it. */
  at: number;
  /** The phase it opens, or `end` for a final event. */
  opens: Phase | 'end';
}

interface Tracked {
  doc: BenchDocument;
  documentId: string;
}

interface Failure {
  name: string;
  kind: string;
  phase: string;
  code: string;
  message: string;
}

interface RoundResult {
  docs: number;
  processed: number;
  failures: Failure[];
  duplicates: number;
  retried: number;
  pages: number;
  wallMs: number;
  docsPerMin: number;
  pagesPerMin: number;
  hubStartMs: number;
  upload: ReturnType<typeof summarizeLatency>;
  /** Per phase: median ms per document, sum over documents, share of processing time (%). */
  phases: Record<Phase, { docs: number; medianMs: number; totalMs: number; sharePct: number }>;
  /** Per kind: documents processed, pages, median processing ms (start → done), median queue ms. */
  kinds: Record<string, { docs: number; pages: number; medianMs: number; queueMs: number }>;
  eventLoop: { p50Ms: number; p99Ms: number; maxMs: number; meanMs: number };
  cpuMsPerDoc: number;
  memory: { rssBeforeMiB: number; rssPeakSampledMiB: number; peakMiB: number };
}

const DOCUMENT_QUERY = `query($id: ID!) {
  document(id: $id) { status pageCount error { code message stage } job { attempts } }
}`;

/** Cleanup steps of whatever is running, undone in reverse on exit, error or Ctrl-C. */
const cleanups: (() => Promise<void>)[] = [];
const aborter = new AbortController();
/** A hub being started: on abort it kills the child and removes its directory itself. */
let starting: Promise<HubProcess> | undefined;
async function cleanUp(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) await c().catch((err: Error) => console.error(`cleanup: ${err.message}`));
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    aborter.abort();
    void Promise.allSettled([starting])
      .then(cleanUp)
      .finally(() => process.exit(130));
  });
}

const hubEnv = { LOG_LEVEL: process.env.QUIRE_TEST_LOG_LEVEL ?? 'warn' };
const settings = loadConfig(process.env);
const hubSettings = { bus: settings.bus.driver, ...settings.processing, embeddingModel: settings.models.embeddingModel };

async function main(): Promise<void> {
  if (!args['text-corpus']) console.log('no --text-corpus: the text documents and PDFs repeat the plain fixtures');
  if (!args.scans) console.log('no --scans: the scans are the generated scanned fixtures');
  const docs = await buildMix({
    count: DOCS,
    weights: parseWeights(args.mix),
    textCorpus: args['text-corpus'] ?? null,
    scansDir: args.scans ?? null,
    articlesPerPdf: Number(args['articles-per-pdf']),
  });
  const mib = docs.reduce((s, d) => s + d.data.length, 0) / 2 ** 20;
  console.log(`${describeMix(docs)}, ${mib.toFixed(1)} MiB, ${CONCURRENCY} uploads in flight`);
  console.log(
    `hub: ${Object.entries(hubSettings)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  );
  console.log(`machine: ${describeMachine()}\n`);

  const results: RoundResult[] = [];
  const summary = await measureRoundFigures({
    warmup: WARMUP,
    rounds: ROUNDS,
    round: async (index) => {
      const warm = index < 0;
      const result = await runRound(warm ? docs.slice(0, WARMUP_DOCS) : docs);
      console.log(`${warm ? 'warm-up' : `round ${index + 1}`}: ${roundLine(result)}`);
      if (!warm) results.push(result);
      const perPhase = Object.fromEntries(PHASES.map((p) => [`${p}Ms`, result.phases[p].medianMs]));
      return {
        docsPerMin: result.docsPerMin,
        pagesPerMin: result.pagesPerMin,
        eventLoopP99Ms: result.eventLoop.p99Ms,
        eventLoopMaxMs: result.eventLoop.maxMs,
        peakMiB: result.memory.peakMiB,
        rssPeakSampledMiB: result.memory.rssPeakSampledMiB,
        cpuMsPerDoc: result.cpuMsPerDoc,
        wallMs: result.wallMs,
        ...perPhase,
      };
    },
  });
  report(results, summary);
}

/** One round on a fresh hub; every document processed or failed (or the time is up). */
async function runRound(docs: BenchDocument[]): Promise<RoundResult> {
  const t0 = performance.now();
  const pending = startHub({ env: hubEnv, signal: aborter.signal, seedOwner: true });
  starting = pending;
  const hub = await pending;
  starting = undefined;
  cleanups.push(() => hub.stop());
  const hubStartMs = performance.now() - t0;
  try {
    return await measure(hub, docs, hubStartMs);
  } finally {
    await cleanUp();
  }
}

async function measure(hub: HubProcess, docs: BenchDocument[], hubStartMs: number): Promise<RoundResult> {
  const pid = hub.child.pid!;
  const timelines = new Map<string, TimelineEvent[]>();
  const tracked: Tracked[] = [];
  /** Client clock (ms) when each document's final event (processed or failed) arrived. */
  const finals = new Map<string, number>();
  const event = (documentId: string, e: TimelineEvent) => {
    const list = timelines.get(documentId) ?? [];
    list.push(e);
    timelines.set(documentId, list);
  };

  const socket: Socket = io(hub.url, { transports: ['websocket'], auth: { token: hub.ownerToken } });
  cleanups.push(async () => void socket.disconnect());
  socket.on('job:progress', (p: ProgressEvent) => {
    // The last report of a run says 100 % in its final stage; what follows is the hub's.
    const finished = p.percent === 100 && p.stage !== 'done';
    if (p.stage === 'done' || p.stage === 'failed') event(p.documentId, { at: p.at, opens: 'end' });
    else event(p.documentId, { at: p.at, opens: finished ? 'finish' : (p.stage as Phase) });
  });
  socket.on('document:changed', (d: { documentId: string; status: string; at: number }) => {
    if (d.status === 'queued') event(d.documentId, { at: d.at, opens: 'queue' });
    else if (d.status === 'processing') event(d.documentId, { at: d.at, opens: 'start' });
    else if (d.status === 'processed' || d.status === 'failed') {
      event(d.documentId, { at: d.at, opens: 'end' });
      if (!finals.has(d.documentId)) finals.set(d.documentId, Date.now());
    }
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  const ack = (await socket.emitWithAck('subscribe', { team: true })) as { ok: boolean };
  if (!ack.ok) throw new Error(`subscribe refused: ${JSON.stringify(ack)}`);

  const rssBefore = (await processMemory(pid))?.rssMiB ?? Number.NaN;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    void processMemory(pid).then((m) => {
      if (m) rssPeak = Math.max(rssPeak, m.rssMiB);
    });
  }, SAMPLE_MS);
  cleanups.push(async () => clearInterval(sampler));

  // This scrape resets the event-loop histogram: the next one covers the round alone.
  const before = await scrapeMetrics(hub.url);
  const failures: Failure[] = [];
  let duplicates = 0;
  const uploadMs: number[] = [];
  const startedAt = Date.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < docs.length && !aborter.signal.aborted) {
      const doc = docs[next++]!;
      const t = performance.now();
      const res = await hub.upload(doc).catch((err: Error) => ({
        status: 0,
        body: { error: { code: 'NETWORK', message: err.message } },
      }));
      uploadMs.push(performance.now() - t);
      if (res.status === 202) {
        tracked.push({ doc, documentId: res.body.documentId as string });
      } else if (res.status === 200 && res.body.duplicateOf) {
        duplicates += 1;
        failures.push({
          name: doc.name,
          kind: doc.kind,
          phase: 'upload',
          code: 'DUPLICATE',
          message: `same bytes as ${res.body.duplicateOf}`,
        });
      } else {
        const error = res.body?.error ?? {};
        failures.push({
          name: doc.name,
          kind: doc.kind,
          phase: 'upload',
          code: error.code ?? `HTTP_${res.status}`,
          message: error.message ?? '',
        });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, docs.length) }, lane));

  const deadline = Date.now() + ROUND_TIMEOUT_MS;
  const open = () => tracked.filter((t) => !finals.has(t.documentId));
  while (open().length > 0 && Date.now() < deadline && !aborter.signal.aborted) {
    // Should the socket drop, GraphQL tells what it would have.
    if (!socket.connected) {
      for (const t of open()) {
        const { data } = await hub.gql(DOCUMENT_QUERY, { id: t.documentId });
        const status = String(data?.document?.status ?? '').toLowerCase();
        if (status === 'processed' || status === 'failed') finals.set(t.documentId, Date.now());
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  aborter.signal.throwIfAborted();
  const finishedAll = Math.max(startedAt, ...finals.values());
  const after = await scrapeMetrics(hub.url);
  clearInterval(sampler);
  const memory = await processMemory(pid);

  let processed = 0;
  let pages = 0;
  let retried = 0;
  const perDoc: { kind: string; pages: number; phases: Partial<Record<Phase, number>> }[] = [];
  for (const t of tracked) {
    const { data } = await hub.gql(DOCUMENT_QUERY, { id: t.documentId });
    const d = data?.document;
    if ((d?.job?.attempts ?? 1) > 1) retried += 1;
    if (!finals.has(t.documentId)) {
      failures.push({
        name: t.doc.name,
        kind: t.doc.kind,
        phase: d?.status ?? '?',
        code: 'UNFINISHED',
        message: `not done after ${args.timeout} s`,
      });
      continue;
    }
    if (d?.status !== 'PROCESSED') {
      const e = d?.error ?? {};
      failures.push({ name: t.doc.name, kind: t.doc.kind, phase: e.stage ?? '?', code: e.code ?? '?', message: e.message ?? '' });
      continue;
    }
    processed += 1;
    pages += d.pageCount as number;
    perDoc.push({ kind: t.doc.kind, pages: d.pageCount as number, phases: phaseTimes(timelines.get(t.documentId) ?? []) });
  }

  const wallMs = finishedAll - startedAt;
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const processingTotal = sum(perDoc.flatMap((d) => PROCESSING.map((p) => d.phases[p] ?? 0)));
  const phases = Object.fromEntries(
    PHASES.map((p) => {
      const times = perDoc.map((d) => d.phases[p]).filter((x): x is number => x !== undefined);
      const totalMs = sum(times);
      const sharePct = p === 'queue' || processingTotal === 0 ? Number.NaN : (100 * totalMs) / processingTotal;
      return [p, { docs: times.length, medianMs: median(times), totalMs, sharePct }];
    }),
  ) as RoundResult['phases'];
  const kinds = Object.fromEntries(
    Object.values(DocKind).map((k) => {
      const of = perDoc.filter((d) => d.kind === k);
      return [
        k,
        {
          docs: of.length,
          pages: sum(of.map((d) => d.pages)),
          medianMs: median(of.map((d) => sum(PROCESSING.map((p) => d.phases[p] ?? 0)))),
          queueMs: median(of.map((d) => d.phases.queue ?? 0)),
        },
      ];
    }),
  );
  const seconds = (name: string) => (after.get(name) ?? Number.NaN) * 1000;
  const cpuMs = ((after.get('process_cpu_seconds_total') ?? Number.NaN) - (before.get('process_cpu_seconds_total') ?? Number.NaN)) * 1000;
  return {
    docs: docs.length,
    processed,
    failures,
    duplicates,
    retried,
    pages,
    wallMs,
    docsPerMin: (processed * 60_000) / wallMs,
    pagesPerMin: (pages * 60_000) / wallMs,
    hubStartMs,
    upload: summarizeLatency(uploadMs),
    phases,
    kinds,
    eventLoop: {
      p50Ms: seconds('nodejs_eventloop_lag_p50_seconds'),
      p99Ms: seconds('nodejs_eventloop_lag_p99_seconds'),
      maxMs: seconds('nodejs_eventloop_lag_max_seconds'),
      meanMs: seconds('nodejs_eventloop_lag_mean_seconds'),
    },
    cpuMsPerDoc: cpuMs / Math.max(1, tracked.length),
    memory: { rssBeforeMiB: rssBefore, rssPeakSampledMiB: Math.max(rssPeak, memory?.rssMiB ?? 0), peakMiB: memory?.peakMiB ?? Number.NaN },
  };
}

/** Milliseconds a document spent in each phase: each interval counts to the phase its start opened. */
function phaseTimes(events: TimelineEvent[]): Partial<Record<Phase, number>> {
  // Stable sort: events stamped in the same millisecond keep the order they were relayed in.
  const ordered = [...events].sort((a, b) => a.at - b.at);
  const out: Partial<Record<Phase, number>> = {};
  for (let i = 0; i + 1 < ordered.length; i++) {
    const phase = ordered[i]!.opens;
    if (phase === 'end') continue;
    out[phase] = (out[phase] ?? 0) + (ordered[i + 1]!.at - ordered[i]!.at);
  }
  return out;
}

function roundLine(r: RoundResult): string {
  return (
    `${r.processed}/${r.docs} processed, ${r.pages} pages in ${(r.wallMs / 1000).toFixed(1)} s: ` +
    `${r.docsPerMin.toFixed(1)} docs/min, ${r.pagesPerMin.toFixed(1)} pages/min; ` +
    `loop p99 ${r.eventLoop.p99Ms.toFixed(1)} ms; peak ${r.memory.peakMiB.toFixed(0)} MiB` +
    (r.failures.length ? `; ${r.failures.length} failed` : '')
  );
}

function report(results: RoundResult[], summary: Record<string, RoundSummary>): void {
  const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
  console.log(`\nRounds (each on a fresh hub):\n`);
  console.log(
    formatTable(
      [
        'round',
        'processed',
        'failed',
        'pages',
        'wall s',
        'docs/min',
        'pages/min',
        'loop p99 ms',
        'loop max ms',
        'VmHWM MiB',
        'RSS peak MiB',
        'RSS before MiB',
        'CPU ms/doc',
        'hub start s',
      ],
      results.map((r, i) => [
        `${i + 1}`,
        r.processed,
        r.failures.length,
        r.pages,
        fmt(r.wallMs / 1000),
        fmt(r.docsPerMin),
        fmt(r.pagesPerMin),
        fmt(r.eventLoop.p99Ms),
        fmt(r.eventLoop.maxMs),
        fmt(r.memory.peakMiB, 0),
        fmt(r.memory.rssPeakSampledMiB, 0),
        fmt(r.memory.rssBeforeMiB, 0),
        fmt(r.cpuMsPerDoc, 0),
        fmt(r.hubStartMs / 1000),
      ]),
    ),
  );

  const figures: [string, string][] = [
    ['docs/min', 'docsPerMin'],
    ['pages/min', 'pagesPerMin'],
    ['event-loop p99 ms', 'eventLoopP99Ms'],
    ['event-loop max ms', 'eventLoopMaxMs'],
    ['VmHWM MiB', 'peakMiB'],
    ['RSS peak (sampled) MiB', 'rssPeakSampledMiB'],
    ['hub CPU ms/doc', 'cpuMsPerDoc'],
  ];
  console.log(`\nMedian of ${results.length} rounds:\n`);
  console.log(
    formatTable(
      ['figure', 'median', 'min', 'max', 'spread %'],
      figures.map(([label, key]) => {
        const s = summary[key]!;
        return [label, fmt(s.median), fmt(s.min), fmt(s.max), fmt(s.spreadPct)];
      }),
    ),
  );

  const perRound = (f: (r: RoundResult) => number) => median(results.map(f));
  console.log(`\nTime per phase (median over rounds; "per doc" over the documents that went through it):\n`);
  console.log(
    formatTable(
      ['phase', 'docs', 'median ms/doc', 'total ms', 'share %'],
      PHASES.map((p) => [
        p,
        perRound((r) => r.phases[p].docs),
        fmt(perRound((r) => r.phases[p].medianMs)),
        fmt(
          perRound((r) => r.phases[p].totalMs),
          0,
        ),
        p === 'queue' ? '(waiting)' : fmt(perRound((r) => r.phases[p].sharePct)),
      ]),
    ),
  );

  console.log(`\nBy kind (median over rounds):\n`);
  console.log(
    formatTable(
      ['kind', 'docs', 'pages', 'processing ms/doc', 'queue ms/doc'],
      Object.values(DocKind).map((k) => [
        k,
        perRound((r) => r.kinds[k]!.docs),
        perRound((r) => r.kinds[k]!.pages),
        fmt(perRound((r) => r.kinds[k]!.medianMs)),
        fmt(perRound((r) => r.kinds[k]!.queueMs)),
      ]),
    ),
  );
  console.log(
    `\nupload (HTTP, median over rounds): p50 ${fmt(perRound((r) => r.upload.p50))} ms, p99 ${fmt(perRound((r) => r.upload.p99))} ms`,
  );

  const failures = results.flatMap((r, i) => r.failures.map((f) => ({ round: i + 1, ...f })));
  if (failures.length > 0) {
    console.log(`\nFailed documents:\n`);
    console.log(
      formatTable(
        ['round', 'document', 'kind', 'phase', 'code', 'message'],
        failures.map((f) => [f.round, f.name, f.kind, f.phase, f.code, f.message.slice(0, 100)]),
      ),
    );
  }
  const retried = results.reduce((s, r) => s + r.retried, 0);
  if (retried > 0) console.log(`\n${retried} documents needed more than one attempt`);

  console.log(
    jsonLine('bench.ingest', {
      docs: DOCS,
      mix: Object.fromEntries(Object.values(DocKind).map((k) => [k, results[0]?.kinds[k]?.docs ?? 0])),
      concurrency: CONCURRENCY,
      hub: hubSettings,
      summary,
      phases: Object.fromEntries(
        PHASES.map((p) => [
          p,
          {
            medianMsPerDoc: perRound((r) => r.phases[p].medianMs),
            totalMs: perRound((r) => r.phases[p].totalMs),
            sharePct: perRound((r) => r.phases[p].sharePct),
          },
        ]),
      ),
      kinds: Object.fromEntries(
        Object.values(DocKind).map((k) => [
          k,
          { processingMsPerDoc: perRound((r) => r.kinds[k]!.medianMs), queueMsPerDoc: perRound((r) => r.kinds[k]!.queueMs) },
        ]),
      ),
      rounds: results.map((r) => ({
        processed: r.processed,
        failed: r.failures.length,
        pages: r.pages,
        wallMs: r.wallMs,
        docsPerMin: r.docsPerMin,
        pagesPerMin: r.pagesPerMin,
        eventLoop: r.eventLoop,
        memory: r.memory,
        cpuMsPerDoc: r.cpuMsPerDoc,
        hubStartMs: r.hubStartMs,
        uploadMs: { p50: r.upload.p50, p99: r.upload.p99 },
      })),
      failures,
      eventLoopMetric:
        'nodejs_eventloop_lag_*_seconds over the round (histogram reset by a scrape before the first upload); samples are 10 ms timer intervals',
    }),
  );
}

try {
  await main();
} catch (err) {
  // After Ctrl-C the signal handler cleans up and exits; what failed on the way is its doing.
  if (!aborter.signal.aborted) throw err;
} finally {
  if (!aborter.signal.aborted) await cleanUp();
}
