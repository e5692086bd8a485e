/**
 * Fan-out latency of live events: from an operation being issued to the last of N connected
 * Socket.IO clients receiving it, beside a plain `ws` server broadcasting the same payload to
 * N plain ws clients, in the same run.
 *
 *   node --import tsx load-tests/fanout.bench.ts [--sizes 10,100,1000] [--ops 200] \
 *     [--warmup 20] [--rounds 3]
 *
 * The operation. There is no annotation session yet, so the operation is the hub's own
 * broadcast path as the processing service uses it: the hub runs in this process (startQuire
 * with a temporary DATA_DIR and the default memory bus), one real document (notes.txt) is
 * uploaded and processed so its room can be joined, every client subscribes to that room
 * (`subscribe {documentId}`), and each operation is `LiveEvents.progress()` with a job
 * progress event for that document: validated and published on the bus, received by the
 * hub's LiveEvents subscription, parsed, and emitted by the Socket.IO server to the document's
 * room as `job:progress`. This is the lightest real trigger: the GraphQL mutations that emit
 * events (reprocessDocument, deleteDocument) would run or remove a whole document per
 * operation, and what they add before the publish is not fan-out.
 *
 * The baseline is a `ws` WebSocketServer in this same process that stringifies the same event
 * once and sends it to each of its clients. For both, the clients run in a child process of
 * their own (load-tests/fanout-clients.ts), so on a two-core machine each side has the same
 * layout: server and operation here, receivers there. The latency is the child's reading of
 * the machine's monotonic clock when the last client got the event minus this process's
 * reading when the operation was issued; the next operation starts only after that, so
 * operations never overlap. Socket.IO clients parse their packets; the ws clients parse the
 * JSON too.
 *
 * Per size: `--warmup` unmeasured operations on each side, then `--rounds` rounds of `--ops`
 * operations, Quire and ws taking turns (their order alternating) so a change of load on the
 * machine falls on both alike. Reported: the median over the rounds of each round's p50 and
 * p99, the spread of the rounds, and the ratios Quire ÷ ws. Every connection needs a file
 * descriptor on each side, so the open-file limit (`ulimit -n`) is printed and checked first.
 * Child processes, servers and the data directory are removed at the end, also after an
 * error or Ctrl-C.
 *
 * Measures, never asserts. The last line is JSON.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { WebSocketServer } from 'ws';
import { DEFAULT_TEAM, loadConfig, startQuire, type QuireHandle } from '../hub/src/index.ts';
import {
  describeMachine,
  formatTable,
  inTurn,
  jsonLine,
  measureRoundFigures,
  summarizeLatency,
  type LatencySummary,
  type RoundSummary,
} from '../hub/src/eval/report.ts';
import type { ProgressEvent } from '@quire/kernel';
import { ensureFixtures } from '../test/fixtures/generate.ts';
import { FIXTURES, fixturePath } from '../test/fixtures/manifest.ts';
import { OWNER, bearer, repoRoot, signIn, upload, waitFor } from '../test/helpers/hub.ts';
import { cleanUpOnExit } from './cleanups.ts';
import { ClientsProcess, checkOpenFiles, monotonicMs, sequencedProgress } from './clients-process.ts';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,100,1000' },
    ops: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
  },
});
const SIZES = args.sizes.split(',').map(Number);
const OPS = Number(args.ops);
const WARMUP_OPS = Number(args.warmup);
const ROUNDS = Number(args.rounds);

/** One side of the comparison: its clients and how it issues an operation. */
interface Side {
  name: 'quire' | 'ws';
  clients: ClientsProcess;
  issue(seq: number): Promise<void> | void;
}

let nextSeq = 1;

/** Issues `count` operations one after the other; each waits until every client has it. */
async function runOps(side: Side, count: number): Promise<{ latenciesMs: number[]; lost: number }> {
  const latenciesMs: number[] = [];
  let lost = 0;
  for (let i = 0; i < count; i++) {
    const seq = nextSeq++;
    const received = side.clients.received(seq);
    const issuedAt = monotonicMs();
    await side.issue(seq);
    const at = await received;
    if (at === null) lost++;
    else latenciesMs.push(at - issuedAt);
  }
  return { latenciesMs, lost };
}

interface SideResult {
  p50Ms: RoundSummary;
  p99Ms: RoundSummary;
  /** Every measured operation of every round together. */
  pooled: LatencySummary;
  lost: number;
}

async function main(): Promise<void> {
  // This process holds the server end of every connection of both sides at once, each child
  // the client ends of one side; the rest covers the store, models, workers and pipes.
  const needed = 2 * Math.max(...SIZES) + 512;
  const limits = checkOpenFiles(needed, 'smaller --sizes');

  const { cleanups, cleanUp } = cleanUpOnExit();

  try {
    await ensureFixtures();
    const dataDir = await mkdtemp(join(tmpdir(), 'quire-fanout-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const config = loadConfig({
      ...process.env,
      DATA_DIR: dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      MODELS_DIR: process.env.MODELS_DIR ?? join(repoRoot, '.models'),
      LOG_LEVEL: process.env.QUIRE_TEST_LOG_LEVEL ?? 'warn',
      // Documents and their rooms need an account: the owner is seeded, then signs in.
      QUIRE_ADMIN_EMAIL: OWNER.email,
      QUIRE_ADMIN_PASSWORD: OWNER.password,
    });
    console.error('starting the hub…');
    // Logs go to stderr: stdout carries only the table and the closing JSON line.
    const quire: QuireHandle = await startQuire(config, pino({ level: config.log.level }, pino.destination(2)));
    cleanups.push(() => quire.close());
    const url = quire.url!;
    const token = await signIn(url, OWNER.email, OWNER.password);

    const notes = FIXTURES['notes.txt'];
    const { status, body } = await upload(
      url,
      { name: notes.file, data: await readFile(fixturePath(notes.file)), type: notes.mime },
      bearer(token),
    );
    if (status >= 300) throw new Error(`upload of ${notes.file} answered ${status}: ${JSON.stringify(body)}`);
    const documentId: string = body.documentId;
    await waitFor(
      async () => {
        const doc = await quire.services.documents.get(DEFAULT_TEAM, documentId);
        if (doc?.status === 'failed') throw new Error(`${notes.file} failed to process`);
        return doc?.status === 'processed';
      },
      300_000,
      `${notes.file} to be processed`,
    );

    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    cleanups.push(async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    });
    const wsUrl = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;

    const jobId = randomUUID();
    const progress = (seq: number): ProgressEvent => sequencedProgress({ jobId, documentId, teamId: DEFAULT_TEAM.teamId }, seq);
    // The frames as they go out: a Socket.IO event packet, and the baseline's JSON message.
    const payloadBytes = {
      socketIo: Buffer.byteLength(`42${JSON.stringify(['job:progress', progress(0)])}`),
      ws: Buffer.byteLength(JSON.stringify({ event: 'job:progress', data: progress(0) })),
    };

    const results: { size: number; quire: SideResult; ws: SideResult; ratios: { p50: number; p99: number } }[] = [];
    for (const size of SIZES) {
      console.error(`${size} clients: connecting…`);
      const quireClients = await ClientsProcess.start({ type: 'connect', kind: 'socket.io', url, count: size, documentId, token });
      cleanups.push(() => quireClients.close());
      const wsClients = await ClientsProcess.start({ type: 'connect', kind: 'ws', url: wsUrl, count: size });
      cleanups.push(() => wsClients.close());

      const sides: Side[] = [
        { name: 'quire', clients: quireClients, issue: (seq) => quire.services.events.progress(progress(seq)) },
        {
          name: 'ws',
          clients: wsClients,
          issue: (seq) => {
            const data = JSON.stringify({ event: 'job:progress', data: progress(seq) });
            for (const client of wss.clients) client.send(data);
          },
        },
      ];

      // Every round runs both sides, the order reversed on odd rounds; the warm-up round runs
      // `--warmup` operations on each.
      const pooled = { quire: [] as number[], ws: [] as number[] };
      const lost = { quire: 0, ws: 0 };
      const figures = await measureRoundFigures({
        warmup: 1,
        rounds: ROUNDS,
        round: async (index) => {
          const out = {} as Record<`${Side['name']}${'P50' | 'P99'}`, number>;
          for (const side of inTurn(sides, index)) {
            const run = await runOps(side, index < 0 ? WARMUP_OPS : OPS);
            const latencies = summarizeLatency(run.latenciesMs);
            console.error(
              `${size} clients, ${index < 0 ? 'warm-up' : `round ${index + 1}/${ROUNDS}`} ${side.name}: ` +
                `p50 ${latencies.p50.toFixed(2)} ms, p99 ${latencies.p99.toFixed(2)} ms${run.lost ? `, ${run.lost} lost` : ''}`,
            );
            if (index < 0) continue;
            pooled[side.name].push(...run.latenciesMs);
            lost[side.name] += run.lost;
            out[`${side.name}P50`] = latencies.p50;
            out[`${side.name}P99`] = latencies.p99;
          }
          return out;
        },
      });
      await quireClients.close();
      await wsClients.close();

      const summarise = (name: Side['name']): SideResult => ({
        p50Ms: figures[`${name}P50`],
        p99Ms: figures[`${name}P99`],
        pooled: summarizeLatency(pooled[name]),
        lost: lost[name],
      });
      const q = summarise('quire');
      const w = summarise('ws');
      results.push({ size, quire: q, ws: w, ratios: { p50: q.p50Ms.median / w.p50Ms.median, p99: q.p99Ms.median / w.p99Ms.median } });
    }

    const spread = (s: RoundSummary) => `±${s.spreadPct.toFixed(0)}%`;
    console.log(
      `\nOperation → last client received, ${ROUNDS} × ${OPS} operations per size after ${WARMUP_OPS} warm-up; median of the rounds' percentiles, ms; spread = (max − min) ÷ median of the rounds' p99`,
    );
    console.log(
      `frames ${payloadBytes.socketIo} B (Socket.IO), ${payloadBytes.ws} B (ws); open-file limit ${limits.soft}; ${describeMachine()}\n`,
    );
    console.log(
      formatTable(
        ['clients', 'quire p50', 'p99', 'spread', 'ws p50', 'p99', 'spread', 'quire ÷ ws p50', 'p99', 'lost'],
        results.map((r) => [
          r.size,
          r.quire.p50Ms.median,
          r.quire.p99Ms.median,
          spread(r.quire.p99Ms),
          r.ws.p50Ms.median,
          r.ws.p99Ms.median,
          spread(r.ws.p99Ms),
          r.ratios.p50,
          r.ratios.p99,
          r.quire.lost + r.ws.lost,
        ]),
      ),
    );
    console.log();
    console.log(
      jsonLine('fanout', {
        sizes: SIZES,
        ops: OPS,
        warmupOps: WARMUP_OPS,
        rounds: ROUNDS,
        payloadBytes,
        openFileLimit: limits,
        results,
      }),
    );
  } finally {
    await cleanUp();
  }
}

await main();
