/**
 * Job throughput of the bus adapters: N trivial jobs enqueued, then drained by one consumer.
 *
 *   node --import tsx load-tests/bus.bench.ts [--jobs 5000] [--concurrency 32] \
 *     [--publishers 64] [--rounds 3] [--adapters memory,nats] [--nats-url nats://127.0.0.1:4222]
 *
 * Per adapter: one warm-up round (a fifth of the jobs), then `--rounds` measured rounds, each
 * on a fresh bus (MemoryBus over an InMemoryJobStorage; NatsBus on a fresh prefix whose
 * streams are deleted afterwards). Enqueue keeps `--publishers` enqueues in flight; the
 * drain is timed from `consume()` to the last acknowledgement. Reported: the median of the
 * rounds for enqueue and drain, in jobs per second. NATS needs `npm run services -- start`.
 *
 * Measures, never asserts. The last line is JSON.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { InMemoryJobStorage, MemoryBus, NatsBus, deleteNatsBusStreams } from '../processors/src/index.ts';
import type { Bus } from '../processors/src/index.ts';

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '32' },
    publishers: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
    adapters: { type: 'string', default: 'memory,nats' },
    'nats-url': { type: 'string', default: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' },
  },
});
const JOBS = Number(args.jobs);
const CONCURRENCY = Number(args.concurrency);
const PUBLISHERS = Number(args.publishers);
const ROUNDS = Number(args.rounds);
const NATS_URL = args['nats-url'];
const QUEUE = 'bench.work';

interface Round {
  enqueuePerSec: number;
  drainPerSec: number;
}

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

async function round(open: () => Promise<Opened>, jobs: number): Promise<Round> {
  const { bus, dispose } = await open();
  try {
    const enqueueStart = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(PUBLISHERS, jobs) }, async () => {
        while (next < jobs) {
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
    await bus.consume(
      QUEUE,
      async () => {
        if (++done === jobs) finish();
        return { status: 'succeeded' };
      },
      { concurrency: CONCURRENCY, leaseMs: 60_000 },
    );
    await drained;
    const drainMs = performance.now() - drainStart;
    return { enqueuePerSec: (jobs / enqueueMs) * 1000, drainPerSec: (jobs / drainMs) * 1000 };
  } finally {
    await dispose();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const results: Record<string, { enqueuePerSec: number; drainPerSec: number; rounds: Round[] }> = {};
for (const name of args.adapters.split(',').map((s) => s.trim())) {
  const open = adapters[name];
  if (!open) throw new Error(`unknown adapter ${name} (known: ${Object.keys(adapters).join(', ')})`);
  await round(open, Math.max(1, Math.floor(JOBS / 5)));
  const rounds: Round[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const r = await round(open, JOBS);
    rounds.push(r);
    console.log(`${name} round ${i + 1}: enqueue ${r.enqueuePerSec.toFixed(0)} jobs/s, drain ${r.drainPerSec.toFixed(0)} jobs/s`);
  }
  results[name] = {
    enqueuePerSec: Math.round(median(rounds.map((r) => r.enqueuePerSec))),
    drainPerSec: Math.round(median(rounds.map((r) => r.drainPerSec))),
    rounds: rounds.map((r) => ({ enqueuePerSec: Math.round(r.enqueuePerSec), drainPerSec: Math.round(r.drainPerSec) })),
  };
}

console.log(
  JSON.stringify({
    bench: 'bus',
    jobs: JOBS,
    concurrency: CONCURRENCY,
    publishers: PUBLISHERS,
    rounds: ROUNDS,
    node: process.version,
    results,
  }),
);
