/**
 * Job throughput of the bus adapters: N trivial jobs enqueued, then drained by one consumer.
 *
 *   node --import tsx load-tests/bus.bench.ts [--jobs 5000] [--concurrency 32] [--publishers 64] \
 *     [--warmup 1] [--rounds 3] [--adapters memory,memory-sqlite,nats] [--nats-url nats://127.0.0.1:4222]
 *
 * Adapters:
 * - memory: MemoryBus over an InMemoryJobStorage (in-process, nothing kept).
 * - memory-sqlite: MemoryBus over the SQLite store's job storage in a temporary file, as the
 *   embedded hub runs it (`BUS=memory`): every enqueue, claim and acknowledgement is a write.
 * - nats: NatsBus (JetStream) on a fresh subject prefix whose streams are deleted afterwards.
 *   Needs `npm run services -- start`; without a reachable server it is skipped with the reason.
 *
 * Per adapter: `--warmup` unmeasured rounds, then `--rounds` measured ones, each on a fresh bus.
 * A round enqueues `--jobs` jobs with `--publishers` enqueues in flight, then times the drain
 * from `consume()` (`--concurrency` jobs at once) to the last acknowledgement. Reported per
 * adapter: enqueue and drain rates in jobs per second, the median of the rounds with min, max
 * and spread.
 *
 * Measures, never asserts. The last line is JSON.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeMachine, formatTable, jsonLine, measureRoundFigures, peakRssMiB } from '../hub/src/eval/report.ts';
import type { RoundSummary } from '../hub/src/eval/report.ts';
import { SqliteStore } from '../hub/src/store/sqlite/store.sqlite.ts';
import { type Bus, InMemoryJobStorage, MemoryBus, NatsBus, deleteNatsBusStreams } from '@quire/bus';

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '32' },
    publishers: { type: 'string', default: '64' },
    warmup: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    adapters: { type: 'string', default: 'memory,memory-sqlite,nats' },
    'nats-url': { type: 'string', default: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' },
  },
});
const JOBS = Number(args.jobs);
const CONCURRENCY = Number(args.concurrency);
const PUBLISHERS = Number(args.publishers);
const WARMUP = Number(args.warmup);
const ROUNDS = Number(args.rounds);
const NATS_URL = args['nats-url'];
const QUEUE = 'bench.work';

interface Opened {
  bus: Bus;
  dispose(): Promise<void>;
}

const adapters: Record<string, () => Promise<Opened>> = {
  memory: async () => {
    const bus = new MemoryBus({ storage: new InMemoryJobStorage() });
    await bus.start();
    return { bus, dispose: () => bus.close() };
  },
  'memory-sqlite': async () => {
    const dir = mkdtempSync(join(tmpdir(), 'quire-bus-bench-'));
    const store = new SqliteStore({ filename: join(dir, 'quire.db') });
    await store.start();
    const bus = new MemoryBus({ storage: store.jobStorage });
    await bus.start();
    return {
      bus,
      dispose: async () => {
        await bus.close();
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  nats: async () => {
    const prefix = `bench-${randomUUID().slice(0, 8)}`;
    const bus = new NatsBus({ servers: NATS_URL, prefix, name: 'bus-bench' });
    await bus.start();
    return {
      bus,
      dispose: async () => {
        await bus.close();
        await deleteNatsBusStreams({ servers: NATS_URL, prefix });
      },
    };
  },
};

/** One round on a fresh bus: enqueue every job, then drain them; rates in jobs per second. */
async function round(open: () => Promise<Opened>): Promise<{ enqueue: number; drain: number }> {
  const { bus, dispose } = await open();
  try {
    const enqueueStart = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(PUBLISHERS, JOBS) }, async () => {
        while (next < JOBS) {
          next++;
          await bus.enqueue({ id: randomUUID(), queue: QUEUE, payload: { n: next }, correlationId: 'bench', enqueuedAt: Date.now() });
        }
      }),
    );
    const enqueueMs = performance.now() - enqueueStart;

    let done = 0;
    let finish!: () => void;
    const drained = new Promise<void>((resolve) => (finish = resolve));
    const drainStart = performance.now();
    const subscription = await bus.consume(
      QUEUE,
      async () => {
        if (++done === JOBS) finish();
        return { status: 'succeeded' };
      },
      { concurrency: CONCURRENCY, leaseMs: 60_000 },
    );
    await drained;
    const drainMs = performance.now() - drainStart;
    await subscription.close();
    return { enqueue: (JOBS / enqueueMs) * 1000, drain: (JOBS / drainMs) * 1000 };
  } finally {
    await dispose();
  }
}

/** Opens and closes the adapter once; the reason it cannot run here, or null. */
async function unavailable(open: () => Promise<Opened>): Promise<string | null> {
  try {
    await (await open()).dispose();
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

console.log(`bus throughput: ${JOBS} jobs per round, ${PUBLISHERS} enqueues in flight, consumer concurrency ${CONCURRENCY}`);
console.log(`${WARMUP} warm-up and ${ROUNDS} measured rounds per adapter, each on a fresh bus; ${describeMachine()}`);
const results: Record<string, { enqueuePerSec: RoundSummary; drainPerSec: RoundSummary }> = {};
const skipped: Record<string, string> = {};
for (const name of args.adapters.split(',').map((s) => s.trim())) {
  const open = adapters[name];
  if (!open) throw new Error(`unknown adapter ${name} (known: ${Object.keys(adapters).join(', ')})`);
  const reason = await unavailable(open);
  if (reason) {
    skipped[name] = reason;
    console.log(`${name}: skipped (${reason})`);
    continue;
  }
  const figures = await measureRoundFigures({ warmup: WARMUP, rounds: ROUNDS, round: () => round(open) });
  results[name] = { enqueuePerSec: figures.enqueue, drainPerSec: figures.drain };
  console.log(`${name}: enqueue ${Math.round(figures.enqueue.median)} jobs/s, drain ${Math.round(figures.drain.median)} jobs/s`);
}

console.log('');
console.log(
  formatTable(
    ['adapter', 'enqueue jobs/s', 'min', 'max', 'spread %', 'drain jobs/s', 'min', 'max', 'spread %'],
    Object.entries(results).map(([name, r]) => [
      name,
      r.enqueuePerSec.median,
      r.enqueuePerSec.min,
      r.enqueuePerSec.max,
      r.enqueuePerSec.spreadPct,
      r.drainPerSec.median,
      r.drainPerSec.min,
      r.drainPerSec.max,
      r.drainPerSec.spreadPct,
    ]),
  ),
);
console.log(`peak RSS ${Math.round(peakRssMiB())} MiB`);
console.log(
  jsonLine('bus', {
    jobs: JOBS,
    concurrency: CONCURRENCY,
    publishers: PUBLISHERS,
    warmup: WARMUP,
    rounds: ROUNDS,
    results,
    skipped,
    peakRssMiB: peakRssMiB(),
  }),
);
