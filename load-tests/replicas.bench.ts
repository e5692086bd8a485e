/**
 * Hub replicas on one machine: live-event fan-out to Socket.IO clients held by one hub and by
 * two, and upload → searchable through the balancer, on the scale-out topology the tests use
 * (test/helpers/scale-out.ts: two `quire hub` processes with STORE=mongodb and GridFS on the
 * services script's MongoDB-wire server, a NATS server of their own, a `quire processor` node
 * and HAProxy in front of the hubs).
 *
 *   node --import tsx load-tests/replicas.bench.ts [--clients 1000] [--ops 100] [--warmup 20] \
 *     [--rounds 3] [--docs 10] [--poll-ms 25]
 *
 * MONGODB_URL names the database server (default mongodb://127.0.0.1:27017; the services
 * script runs FerretDB there: `npm run services -- start`); the run uses a database of its
 * own and drops it. `nats-server` and `haproxy` must be installed (the services script does).
 *
 * Figures:
 * - fan-out delay, one hub against two: `--clients` Socket.IO clients subscribed to one
 *   document's room (`subscribe {documentId}`), all connected to the first hub's own URL
 *   (run "1 hub"), and the same number subscribed to a second document's room, spread evenly
 *   over both hubs' own URLs (run "2 hubs"; client i on hub i mod 2, so 500/500 by default).
 *   The hubs' own URLs rather than the balancer, so that the split is exact. Both sets stay
 *   connected for the whole measurement, each in a child process of its own
 *   (load-tests/fanout-clients.ts), and the runs take turns within every round, their order
 *   alternating, so a change of load on the machine falls on both alike; an event for one
 *   document reaches no client of the other run. An operation is what a processor node does
 *   when it reports progress: a `job.progressed` event (`events.<team>.job.progressed` under
 *   the topology's NATS prefix, the `ProgressEvent` envelope of @quire/kernel) published on
 *   NATS by a `NatsBus` of this process. Every hub receives it from NATS, checks the room's
 *   callers and emits `job:progress` to its own sockets in the room. The delay is the clients'
 *   process's reading of the machine's monotonic clock when the last of its clients got the
 *   event minus this process's reading just before the publish; operations never overlap.
 *   Per run: the median over `--rounds` rounds of each round's p50 and p99 (`--ops` operations
 *   each, after one warm-up round of `--warmup`), and the CPU time each hub process (and the
 *   clients' process) spent per operation, from /proc over the measured operations, less the
 *   rate each spends with both client sets connected and nothing published (measured for 5 s
 *   first: health checks, heartbeats; /proc counts in clock ticks, 10 ms on most kernels).
 * - upload → searchable: `--docs` one-page text documents, each with a word of its own, one
 *   after the other, uploaded through the balancer; then GraphQL `search(mode: TEXT)` for that
 *   word through the balancer (so the polls alternate between the hubs) every `--poll-ms` until
 *   it answers the document. From the start of the upload to that answer; p50/p90.
 *
 * Every process shares this machine's cores (hubs, NATS, HAProxy, the database server, the
 * processor node, the clients and this process), which the report states with the load
 * average: on few cores a second hub shares the same CPU rather than adding one. Every
 * connection needs a file descriptor, so the open-file limit (`ulimit -n`) is printed and
 * checked first. Processes, the database and temporary directories are removed at the end,
 * also after an error or Ctrl-C.
 *
 * Measures, never asserts. The last line is JSON.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { NatsBus, publishEvent } from '@quire/bus';
import { Events, type ProgressEvent } from '@quire/kernel';
import {
  describeMachine,
  formatTable,
  inTurn,
  jsonLine,
  measureRoundFigures,
  summarizeLatency,
  summarizeRounds,
  type LatencySummary,
  type RoundSummary,
} from '../hub/src/eval/report.ts';
import { startScaleOut, type ScaleOut } from '../test/helpers/scale-out.ts';
import { cleanUpOnExit } from './cleanups.ts';
import { ClientsProcess, checkOpenFiles, monotonicMs, sequencedProgress } from './clients-process.ts';
import { measureSearchable, uniqueWord, type SearchableFigures } from './searchable.ts';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    ops: { type: 'string', default: '100' },
    warmup: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
    docs: { type: 'string', default: '10' },
    'poll-ms': { type: 'string', default: '25' },
  },
});
const CLIENTS = Number(args.clients);
const OPS = Number(args.ops);
const WARMUP_OPS = Number(args.warmup);
const ROUNDS = Number(args.rounds);
const DOCS = Number(args.docs);
const POLL_MS = Number(args['poll-ms']);
/** How long one document may take to be processed, or to become searchable, before the run gives up on it. */
const DOCUMENT_TIMEOUT_MS = 120_000;
/** How long the processes' CPU time is watched with nothing published, for the baseline. */
const IDLE_MS = 5_000;

const DOCUMENT_QUERY = `query($id: ID!) { document(id: $id) { status } }`;
const TEAM_QUERY = `{ me { currentTeam { id } } }`;

/** Clock ticks per second of /proc's CPU times. */
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** User plus system CPU time of process `pid` so far, ms; null where /proc cannot tell. */
async function cpuMs(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The fields after the command name, which may itself hold spaces: state is the first, utime the 12th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** One run of the fan-out comparison: its document, its clients and where they are. */
interface Run {
  name: 'oneHub' | 'twoHubs';
  label: string;
  documentId: string;
  clients: ClientsProcess;
}

/** CPU time per operation, ms, of each hub process and of the clients' process. */
interface CpuPerOp {
  hubs: (number | null)[];
  clients: number | null;
}

interface RunResult {
  label: string;
  /** Clients on each hub, in hub order. */
  perHub: number[];
  p50Ms: RoundSummary;
  p99Ms: RoundSummary;
  /** Every measured operation of every round together. */
  pooled: LatencySummary;
  lost: number;
  /** Median over the rounds. */
  cpuMsPerOp: CpuPerOp;
}

const cleanup = cleanUpOnExit();

async function main(): Promise<void> {
  const { cleanups, cleanUp, signal } = cleanup;
  // The first hub holds the server end of every client of the one-hub run and half of the
  // other's; each clients' process holds its run's ends; the rest covers the store, NATS and pipes.
  const needed = CLIENTS + Math.ceil(CLIENTS / 2) + 512;
  const limits = checkOpenFiles(needed, 'a smaller --clients');

  try {
    console.error('starting NATS, two hubs on MongoDB, a processor node and HAProxy…');
    const topology = await started(startScaleOut({ env: { LOG_LEVEL: process.env.QUIRE_TEST_LOG_LEVEL ?? 'warn' } }), (t) => t.stop());
    signal.throwIfAborted();
    console.error(`database and NATS prefix: ${topology.natsPrefix}`);
    const hubs = topology.hubs.map((h) => ({ url: h.url, pid: h.child.pid }));
    const teamId = (await topology.gql(TEAM_QUERY)).data?.me?.currentTeam?.id as string | undefined;
    if (!teamId) throw new Error('the owner has no current team');

    // Two rooms, one per run, so an event of one run reaches no client of the other.
    console.error('uploading the two documents whose rooms the clients join…');
    const rooms: string[] = [];
    for (const name of ['one-hub', 'two-hubs']) {
      rooms.push(await uploadRoom(topology, `room-${name}.txt`, `The room of the ${name} run, ${uniqueWord()}.\n`, signal));
    }

    console.error(`upload → searchable: ${DOCS} documents through the balancer…`);
    const searchable = await measureSearchable(topology, { count: DOCS, pollMs: POLL_MS, timeoutMs: DOCUMENT_TIMEOUT_MS, signal });

    const bus = new NatsBus({ servers: topology.nats.url, prefix: topology.natsPrefix, name: 'replicas-bench' });
    await bus.start();
    cleanups.push(() => bus.close());

    console.error(`connecting ${CLIENTS} clients to hub 1…`);
    const connect = (documentId: string, urls: string[]) =>
      ClientsProcess.start(
        { type: 'connect', kind: 'socket.io', url: urls[0]!, urls, count: CLIENTS, documentId, token: topology.ownerToken },
        (c) => cleanups.push(() => c.close()),
      );
    const oneHubClients = await connect(rooms[0]!, [hubs[0]!.url]);
    console.error(`connecting ${CLIENTS} clients spread over both hubs…`);
    const twoHubsClients = await connect(
      rooms[1]!,
      hubs.map((h) => h.url),
    );
    const runs: Run[] = [
      { name: 'oneHub', label: '1 hub', documentId: rooms[0]!, clients: oneHubClients },
      { name: 'twoHubs', label: `${hubs.length} hubs`, documentId: rooms[1]!, clients: twoHubsClients },
    ];
    const perHub = {
      oneHub: hubs.map((_, i) => (i === 0 ? CLIENTS : 0)),
      twoHubs: hubs.map((_, i) => Math.floor(CLIENTS / hubs.length) + (i < CLIENTS % hubs.length ? 1 : 0)),
    };

    const jobId = randomUUID();
    let nextSeq = 1;
    const progress = (documentId: string, seq: number): ProgressEvent => sequencedProgress({ jobId, documentId, teamId }, seq);
    const payloadBytes = Buffer.byteLength(`42${JSON.stringify(['job:progress', progress(rooms[0]!, 0)])}`);

    // Between events a hub still works (HAProxy's health checks, Socket.IO heartbeats, NATS
    // pings): that rate, taken while nothing is published, is subtracted from each run's CPU time.
    console.error(`measuring idle CPU for ${IDLE_MS / 1000} s…`);
    const idlePids = [...hubs.map((h) => h.pid), oneHubClients.pid, twoHubsClients.pid];
    const idleBefore = await Promise.all(idlePids.map(cpuMs));
    const idleStart = performance.now();
    await sleep(IDLE_MS, undefined, { signal });
    const idleAfter = await Promise.all(idlePids.map(cpuMs));
    const idleWall = performance.now() - idleStart;
    const idleRate = new Map(
      idlePids.map((pid, i) => [pid, idleBefore[i] == null || idleAfter[i] == null ? null : (idleAfter[i]! - idleBefore[i]!) / idleWall]),
    );

    /** Publishes `count` events one after the other; each waits until every client of the run has it. */
    const runOps = async (run: Run, count: number) => {
      const latenciesMs: number[] = [];
      let lost = 0;
      const pids = [...hubs.map((h) => h.pid), run.clients.pid];
      const before = await Promise.all(pids.map(cpuMs));
      const start = performance.now();
      for (let i = 0; i < count && !signal.aborted; i++) {
        const seq = nextSeq++;
        const received = run.clients.received(seq);
        const issuedAt = monotonicMs();
        await publishEvent(bus, Events.JobProgressed, teamId, progress(run.documentId, seq));
        const at = await received;
        if (at === null) lost++;
        else latenciesMs.push(at - issuedAt);
      }
      signal.throwIfAborted();
      const after = await Promise.all(pids.map(cpuMs));
      const wall = performance.now() - start;
      const perOp = pids.map((pid, i) => {
        const idle = idleRate.get(pid);
        if (before[i] == null || after[i] == null || idle == null) return null;
        return (after[i]! - before[i]! - idle * wall) / count;
      });
      return { latenciesMs, lost, cpu: { hubs: perOp.slice(0, hubs.length), clients: perOp.at(-1) ?? null } };
    };

    const pooled = { oneHub: [] as number[], twoHubs: [] as number[] };
    const lost = { oneHub: 0, twoHubs: 0 };
    const cpu = { oneHub: [] as CpuPerOp[], twoHubs: [] as CpuPerOp[] };
    const figures = await measureRoundFigures({
      warmup: 1,
      rounds: ROUNDS,
      round: async (index) => {
        const out = {} as Record<`${Run['name']}${'P50' | 'P99'}`, number>;
        for (const run of inTurn(runs, index)) {
          const r = await runOps(run, index < 0 ? WARMUP_OPS : OPS);
          const latencies = summarizeLatency(r.latenciesMs);
          console.error(
            `${run.label}, ${index < 0 ? 'warm-up' : `round ${index + 1}/${ROUNDS}`}: ` +
              `p50 ${latencies.p50.toFixed(2)} ms, p99 ${latencies.p99.toFixed(2)} ms` +
              `, hub CPU/op ${r.cpu.hubs.map((c) => (c === null ? '?' : c.toFixed(2))).join(' + ')} ms${r.lost ? `, ${r.lost} lost` : ''}`,
          );
          if (index < 0 && r.lost === WARMUP_OPS && WARMUP_OPS > 0) {
            throw new Error(
              `no warm-up event reached every client of the ${run.label} run: is the NATS prefix ${topology.natsPrefix} the hubs' own?`,
            );
          }
          if (index < 0) continue;
          pooled[run.name].push(...r.latenciesMs);
          lost[run.name] += r.lost;
          cpu[run.name].push(r.cpu);
          out[`${run.name}P50`] = latencies.p50;
          out[`${run.name}P99`] = latencies.p99;
        }
        return out;
      },
    });
    await oneHubClients.close();
    await twoHubsClients.close();

    const medianOf = (values: (number | null)[]) => {
      const known = values.filter((v): v is number => v !== null);
      return known.length === 0 ? null : summarizeRounds(known).median;
    };
    const results = Object.fromEntries(
      runs.map((run) => [
        run.name,
        {
          label: run.label,
          perHub: perHub[run.name],
          p50Ms: figures[`${run.name}P50`],
          p99Ms: figures[`${run.name}P99`],
          pooled: summarizeLatency(pooled[run.name]),
          lost: lost[run.name],
          cpuMsPerOp: {
            hubs: hubs.map((_, i) => medianOf(cpu[run.name].map((c) => c.hubs[i] ?? null))),
            clients: medianOf(cpu[run.name].map((c) => c.clients)),
          },
        } satisfies RunResult,
      ]),
    ) as Record<Run['name'], RunResult>;

    const idleCpuPct = {
      hubs: hubs.map((h) => pct(idleRate.get(h.pid))),
      clients: [oneHubClients.pid, twoHubsClients.pid].map((pid) => pct(idleRate.get(pid))),
    };
    report({ results, searchable, payloadBytes, limits, idleCpuPct });
  } finally {
    await cleanUp();
  }
}

/**
 * Awaits something being started and registers its stop first, so that Ctrl-C during a slow
 * start waits for it and then stops it rather than exiting first.
 */
async function started<T>(pending: Promise<T>, stop: (value: T) => Promise<void>): Promise<T> {
  cleanup.cleanups.push(async () => {
    const value = await pending.catch(() => null);
    if (value !== null) await stop(value);
  });
  return pending;
}

/** Uploads a text document through the balancer and resolves with its id once it is processed. */
async function uploadRoom(topology: ScaleOut, name: string, text: string, signal: AbortSignal): Promise<string> {
  const res = await topology.upload({ name, data: new TextEncoder().encode(text), type: 'text/plain' });
  if (res.status !== 202) throw new Error(`upload of ${name} answered ${res.status}: ${JSON.stringify(res.body)}`);
  const id = res.body.documentId as string;
  const deadline = Date.now() + DOCUMENT_TIMEOUT_MS;
  for (;;) {
    const status = (await topology.gql(DOCUMENT_QUERY, { id })).data?.document?.status as string | undefined;
    if (status === 'PROCESSED') return id;
    if (status === 'FAILED') throw new Error(`${name} failed to process`);
    if (Date.now() > deadline) throw new Error(`${name} was not processed within ${DOCUMENT_TIMEOUT_MS / 1000} s (${status})`);
    signal.throwIfAborted();
    await sleep(100);
  }
}

/** A CPU rate (CPU ms per wall ms) as a percentage of one core. */
function pct(rate: number | null | undefined): number | null {
  return rate == null ? null : rate * 100;
}

function report(r: {
  results: Record<Run['name'], RunResult>;
  searchable: SearchableFigures;
  payloadBytes: number;
  limits: { soft: number; hard: number };
  idleCpuPct: { hubs: (number | null)[]; clients: (number | null)[] };
}): void {
  const { oneHub, twoHubs } = r.results;
  const spread = (s: RoundSummary) => `±${s.spreadPct.toFixed(0)}%`;
  const cpuCell = (c: number | null) => c ?? '?';
  console.log(
    `\nLive event (job.progressed on NATS) → last of ${CLIENTS} Socket.IO clients received, ${ROUNDS} × ${OPS} events per run after ${WARMUP_OPS} warm-up; ` +
      `median of the rounds' percentiles, ms; spread = (max − min) ÷ median of the rounds' p99; ` +
      `CPU = ms of CPU time per event beyond the process's idle rate (median of the rounds)`,
  );
  console.log(
    `clients connected to the hubs' own URLs; frame ${r.payloadBytes} B; open-file limit ${r.limits.soft}; ` +
      `${availableParallelism()} cores shared by every process; ${describeMachine()}\n`,
  );
  console.log(
    formatTable(
      ['run', 'clients per hub', 'p50', 'p99', 'spread', 'lost', 'hub 1 CPU', 'hub 2 CPU', 'clients CPU'],
      [oneHub, twoHubs].map((run) => [
        run.label,
        run.perHub.join(' / '),
        run.p50Ms.median,
        run.p99Ms.median,
        spread(run.p99Ms),
        run.lost,
        cpuCell(run.cpuMsPerOp.hubs[0] ?? null),
        cpuCell(run.cpuMsPerOp.hubs[1] ?? null),
        cpuCell(run.cpuMsPerOp.clients),
      ]),
    ),
  );
  const idle = (v: number | null) => (v === null ? '?' : `${v.toFixed(1)}%`);
  console.log(
    `\nidle rate (both client sets connected, nothing published), % of one core: ` +
      `${r.idleCpuPct.hubs.map((v, i) => `hub ${i + 1} ${idle(v)}`).join(', ')}, ` +
      `clients ${r.idleCpuPct.clients.map(idle).join(' / ')}`,
  );
  const ratio = { p50: twoHubs.p50Ms.median / oneHub.p50Ms.median, p99: twoHubs.p99Ms.median / oneHub.p99Ms.median };
  console.log(`\n2 hubs ÷ 1 hub: p50 ${ratio.p50.toFixed(2)}, p99 ${ratio.p99.toFixed(2)}`);

  const s = r.searchable;
  console.log(`\nUpload → searchable through the balancer (TEXT search finds the new one-page text document), ms:\n`);
  console.log(
    formatTable(
      ['documents', 'lost', 'p50', 'p90', 'max', 'upload HTTP p50'],
      [[s.latencyMs.count, s.lost, s.latencyMs.p50, s.latencyMs.p90, s.latencyMs.max, s.uploadMs.p50]],
    ),
  );
  console.log();
  console.log(
    jsonLine('bench.replicas', {
      clients: CLIENTS,
      ops: OPS,
      warmupOps: WARMUP_OPS,
      rounds: ROUNDS,
      docs: DOCS,
      pollMs: POLL_MS,
      cores: availableParallelism(),
      clientsVia: 'hub URLs',
      payloadBytes: r.payloadBytes,
      idleCpuPct: r.idleCpuPct,
      openFileLimit: r.limits,
      fanout: { oneHub, twoHubs, ratio },
      searchable: { ...s.latencyMs, uploadHttpP50: s.uploadMs.p50, lost: s.lost },
    }),
  );
}

try {
  await main();
} catch (err) {
  // After Ctrl-C the clean-up runs and exits on its own; what failed on the way is its doing.
  if (!cleanup.signal.aborted) throw err;
}
