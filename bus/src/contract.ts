/**
 * The one behaviour suite every {@link Bus} adapter passes. An adapter's test file calls
 * `defineBusContract(name, make)`; `make` builds a fresh, started bus per test, isolated from
 * every other test (NatsBus: a unique prefix).
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { AppError, MAX_MESSAGE_BYTES, ValidationError } from '@quire/kernel';
import type { Bus, DeadLetter, Delivery, EventEnvelope, JobEnvelope, JobHandler, JobOutcome, Subscription } from './bus.ts';
import { MAX_JOB_BYTES } from './bus.ts';

/** What `make` returns for one test. */
export interface BusFixture {
  /** A started bus. */
  bus: Bus;
  /** Closes every bus this fixture opened and removes what it created (streams, files). */
  cleanup(): Promise<void>;
  /**
   * A second, started bus over the same durable jobs, as after a restart (MemoryBus: the
   * same storage; NatsBus: a new connection with the same prefix). Without it, the
   * durability test is skipped.
   */
  reopen?(): Promise<Bus>;
}

/**
 * A fixture of buses made by `create` over shared durable jobs: the first opened now, more
 * by `reopen`; `cleanup` closes them all, then runs `after` (removing streams or files).
 */
export async function openBusFixture(create: () => Bus, after: () => Promise<void> | void = () => {}): Promise<BusFixture> {
  const buses: Bus[] = [];
  const open = async (): Promise<Bus> => {
    const bus = create();
    await bus.start();
    buses.push(bus);
    return bus;
  };
  return {
    bus: await open(),
    reopen: open,
    cleanup: async () => {
      for (const bus of buses) await bus.close();
      await after();
    },
  };
}

/** Settings the suite needs from the buses `make` builds. */
export interface BusContractSettings {
  /** The bus's close timeout: short, so that tests of stuck handlers stay fast. */
  closeTimeoutMs: number;
}

/** Builds a fixture, or says why this adapter cannot run here (printed as the skip reason). */
export type MakeBusFixture = (settings: BusContractSettings) => Promise<BusFixture | { skip: string }> | BusFixture | { skip: string };

const SETTINGS: BusContractSettings = { closeTimeoutMs: 300 };
const QUEUE = 'contract.work';

/** Registers the contract suite for one adapter. */
export function defineBusContract(name: string, make: MakeBusFixture): void {
  /** Runs `body` with a fresh fixture; cleans up whatever happens. */
  function test(title: string, body: (fx: BusFixture, t: TestContext) => Promise<void>): void {
    it(title, async (t) => {
      const fx = await make(SETTINGS);
      if ('skip' in fx) {
        t.skip(fx.skip);
        return;
      }
      try {
        await body(fx, t);
      } finally {
        await fx.cleanup();
      }
    });
  }

  describe(`Bus contract: ${name}`, () => {
    describe('jobs', () => {
      test('a job is delivered once with its envelope, and acknowledged', async ({ bus }) => {
        const log = deliveries();
        const job = envelope({ payload: { n: 1, nested: { s: 'é' } } });
        await bus.enqueue(job);
        await bus.consume(
          QUEUE,
          log.handler(() => ({ status: 'succeeded' })),
          { leaseMs: 300 },
        );
        await waitFor(() => log.all.length === 1, 'first delivery');
        const [first] = log.all;
        assert.deepEqual(first?.envelope, job);
        assert.equal(first?.attempt, 1);
        // Were it not acknowledged, the lease (300 ms) would have run out and redelivered it.
        await sleep(700);
        assert.equal(log.all.length, 1);
        assert.equal(await bus.depth(QUEUE), 0);
      });

      test('enqueueing the same id twice runs the job once', async ({ bus }) => {
        const log = deliveries();
        const id = randomUUID();
        await bus.enqueue(envelope({ id, payload: 'first' }));
        await bus.enqueue(envelope({ id, payload: 'second' }));
        assert.equal(await bus.depth(QUEUE), 1);
        await bus.consume(
          QUEUE,
          log.handler(() => ({ status: 'succeeded' })),
          { leaseMs: 300 },
        );
        await waitFor(() => log.all.length === 1, 'delivery');
        await sleep(400);
        assert.deepEqual(
          log.all.map((d) => d.envelope.payload),
          ['first'],
        );
      });

      test('a retryable failure is retried after its backoff, with rising attempt numbers', async ({ bus }) => {
        const log = deliveries();
        const dead: DeadLetter[] = [];
        await bus.enqueue(envelope());
        await bus.consume(
          QUEUE,
          log.handler((d) =>
            d.attempt < 3 ? { status: 'failed', code: 'FLAKY', message: 'try again', retryable: true } : { status: 'succeeded' },
          ),
          { backoffMs: (attempt) => 150 * attempt, maxAttempts: 5, leaseMs: 2000, onDeadLetter: (d) => void dead.push(d) },
        );
        await waitFor(() => log.all.length === 3, 'three attempts');
        assert.deepEqual(
          log.all.map((d) => d.attempt),
          [1, 2, 3],
        );
        const [t1, t2, t3] = log.all.map((d) => d.at);
        // Timers may fire a little early; allow 30 ms of slack.
        assert.ok(t2! - t1! >= 120, `backoff before attempt 2 was ${t2! - t1!} ms, expected ≥ 150`);
        assert.ok(t3! - t2! >= 270, `backoff before attempt 3 was ${t3! - t2!} ms, expected ≥ 300`);
        await sleep(300);
        assert.equal(log.all.length, 3);
        assert.equal(dead.length, 0);
      });

      test('a job that fails maxAttempts times is dead-lettered once and not redelivered', async ({ bus }) => {
        const log = deliveries();
        const dead: DeadLetter[] = [];
        const events: EventEnvelope[] = [];
        await bus.subscribe('dead-letter.>', (e) => void events.push(e));
        const job = envelope({ payload: { doc: 'x' } });
        await bus.enqueue(job);
        await bus.consume(
          QUEUE,
          log.handler(() => ({ status: 'failed', code: 'FLAKY', message: 'still broken', retryable: true })),
          { maxAttempts: 3, backoffMs: () => 30, leaseMs: 300, onDeadLetter: (d) => void dead.push(d) },
        );
        await waitFor(() => dead.length === 1, 'dead letter');
        assert.deepEqual(
          log.all.map((d) => d.attempt),
          [1, 2, 3],
        );
        assert.deepEqual(dead[0], { envelope: job, attempts: 3, code: 'FLAKY', message: 'still broken' });
        await waitFor(() => events.length === 1, 'dead-letter event');
        assert.equal(events[0]?.subject, `dead-letter.${QUEUE}`);
        assert.deepEqual(events[0]?.payload, dead[0]);
        await sleep(700);
        assert.equal(log.all.length, 3, 'redelivered after dead-lettering');
        assert.equal(dead.length, 1);
        assert.equal(await bus.depth(QUEUE), 0);
      });

      test('a non-retryable failure is dead-lettered at once', async ({ bus }) => {
        const log = deliveries();
        const dead: DeadLetter[] = [];
        await bus.enqueue(envelope());
        await bus.consume(
          QUEUE,
          log.handler(() => ({ status: 'failed', code: 'UNSUPPORTED_MEDIA_TYPE', message: 'not a PDF', retryable: false })),
          { maxAttempts: 5, backoffMs: () => 10, leaseMs: 300, onDeadLetter: (d) => void dead.push(d) },
        );
        await waitFor(() => dead.length === 1, 'dead letter');
        assert.equal(dead[0]?.attempts, 1);
        assert.equal(dead[0]?.code, 'UNSUPPORTED_MEDIA_TYPE');
        await sleep(500);
        assert.equal(log.all.length, 1);
      });

      test('a thrown error is a retryable failure and keeps an AppError code', async ({ bus }) => {
        const log = deliveries();
        const dead: DeadLetter[] = [];
        await bus.enqueue(envelope());
        await bus.consume(
          QUEUE,
          log.handler((d) => {
            if (d.attempt === 1) throw new Error('kaput');
            throw new AppError('ENGINE_CRASHED', 'the engine crashed');
          }),
          { maxAttempts: 2, backoffMs: () => 20, leaseMs: 1000, onDeadLetter: (d) => void dead.push(d) },
        );
        await waitFor(() => dead.length === 1, 'dead letter');
        assert.deepEqual(
          log.all.map((d) => d.attempt),
          [1, 2],
        );
        assert.equal(dead[0]?.code, 'ENGINE_CRASHED');
        assert.equal(dead[0]?.message, 'the engine crashed');
      });

      test('a thrown error on one attempt does not stop a later success', async ({ bus }) => {
        const log = deliveries();
        await bus.enqueue(envelope());
        await bus.consume(
          QUEUE,
          log.handler((d) => {
            if (d.attempt === 1) throw new Error('transient');
            return { status: 'skipped', reason: 'already done' };
          }),
          { backoffMs: () => 20, leaseMs: 300 },
        );
        await waitFor(() => log.all.length === 2, 'second attempt');
        await sleep(600);
        assert.equal(log.all.length, 2);
      });

      test('concurrency bounds the handlers running at once', async ({ bus }) => {
        let running = 0;
        let peak = 0;
        let done = 0;
        for (let i = 0; i < 9; i++) await bus.enqueue(envelope());
        await bus.consume(
          QUEUE,
          async () => {
            running++;
            peak = Math.max(peak, running);
            await sleep(80);
            running--;
            done++;
            return { status: 'succeeded' };
          },
          { concurrency: 3, leaseMs: 2000 },
        );
        await waitFor(() => done === 9, 'all jobs');
        assert.equal(peak, 3);
      });

      test('a delivery that stops heartbeating loses its lease and the job goes to another consumer', async ({ bus }) => {
        const stuck = deliveries();
        const other = deliveries();
        const release = deferred<void>();
        const aborted: unknown[] = [];
        await bus.consume(
          QUEUE,
          stuck.handler(async (d) => {
            d.signal.addEventListener('abort', () => aborted.push(d.signal.reason));
            await release.promise;
            // Returned after the lease was lost: must be ignored, not acknowledged.
            return { status: 'succeeded' };
          }),
          { leaseMs: 400 },
        );
        await bus.enqueue(envelope());
        await waitFor(() => stuck.all.length === 1, 'first delivery');
        await bus.consume(
          QUEUE,
          other.handler(() => ({ status: 'succeeded' })),
          { leaseMs: 400 },
        );
        await waitFor(() => other.all.length === 1, 'redelivery to the other consumer', 5000);
        assert.equal(other.all[0]?.attempt, 2);
        await waitFor(() => aborted.length === 1, "the stuck delivery's abort");
        assert.equal((aborted[0] as AppError | undefined)?.code, 'LEASE_LOST');
        release.resolve();
        await sleep(700);
        assert.equal(stuck.all.length + other.all.length, 2);
      });

      test('heartbeats keep a long job from being redelivered', async ({ bus }) => {
        const log = deliveries();
        let abortedEarly = false;
        let finished = false;
        const handler = log.handler(async (d) => {
          for (let i = 0; i < 16; i++) {
            await sleep(100);
            d.heartbeat();
          }
          abortedEarly = d.signal.aborted;
          finished = true;
          return { status: 'succeeded' };
        });
        await bus.consume(QUEUE, handler, { leaseMs: 600 });
        await bus.consume(QUEUE, handler, { leaseMs: 600 });
        await bus.enqueue(envelope());
        await waitFor(() => finished, 'long job', 5000);
        await sleep(600);
        assert.equal(log.all.length, 1);
        assert.equal(abortedEarly, false);
      });

      test('the delivery after a last attempt that died dead-letters the job without running it', async ({ bus }) => {
        const stuck = deliveries();
        const other = deliveries();
        const release = deferred<void>();
        const dead: DeadLetter[] = [];
        const options = { maxAttempts: 1, leaseMs: 300, onDeadLetter: (d: DeadLetter) => void dead.push(d) };
        await bus.consume(
          QUEUE,
          stuck.handler(() => release.promise.then(() => ({ status: 'succeeded' }))),
          options,
        );
        await bus.enqueue(envelope());
        await waitFor(() => stuck.all.length === 1, 'first delivery');
        await bus.consume(
          QUEUE,
          other.handler(() => ({ status: 'succeeded' })),
          options,
        );
        await waitFor(() => dead.length === 1, 'dead letter', 5000);
        assert.equal(dead[0]?.code, 'ATTEMPTS_EXHAUSTED');
        assert.equal(other.all.length, 0);
        release.resolve();
      });

      test('closing a consumer aborts its handlers and the job is redelivered without counting as a failure', async ({ bus }) => {
        const first = deliveries();
        const second = deliveries();
        const dead: DeadLetter[] = [];
        const reasons: unknown[] = [];
        const sub = await bus.consume(
          QUEUE,
          first.handler(async (d) => {
            await new Promise((resolve) => d.signal.addEventListener('abort', resolve));
            reasons.push(d.signal.reason);
            return { status: 'failed', code: 'ABORTED', message: 'stopped', retryable: false };
          }),
          { leaseMs: 5000, onDeadLetter: (d) => void dead.push(d) },
        );
        await bus.enqueue(envelope());
        await waitFor(() => first.all.length === 1, 'first delivery');
        await sub.close();
        assert.equal((reasons[0] as AppError | undefined)?.code, 'BUS_CLOSING');
        await bus.consume(
          QUEUE,
          second.handler(() => ({ status: 'succeeded' })),
          { leaseMs: 5000 },
        );
        await waitFor(() => second.all.length === 1, 'redelivery', 3000);
        assert.equal(second.all[0]?.attempt, 2);
        assert.equal(dead.length, 0);
      });

      test('closing waits for a handler that ignores the signal only up to the close timeout, then releases its job', async ({ bus }) => {
        const first = deliveries();
        const second = deliveries();
        const release = deferred<void>();
        const sub = await bus.consume(
          QUEUE,
          first.handler(() => release.promise.then(() => ({ status: 'succeeded' }))),
          { leaseMs: 5000 },
        );
        await bus.enqueue(envelope());
        await waitFor(() => first.all.length === 1, 'first delivery');
        const started = Date.now();
        await sub.close();
        const took = Date.now() - started;
        assert.ok(took >= SETTINGS.closeTimeoutMs - 30 && took < SETTINGS.closeTimeoutMs + 1500, `close took ${took} ms`);
        await bus.consume(
          QUEUE,
          second.handler(() => ({ status: 'succeeded' })),
          { leaseMs: 5000 },
        );
        await waitFor(() => second.all.length === 1, 'redelivery', 3000);
        // The first handler finishing late must not settle the job a second time.
        release.resolve();
        await sleep(300);
        assert.equal(second.all.length, 1);
        assert.equal(await bus.depth(QUEUE), 0);
      });

      test('jobs enqueued before a close are consumed after reopening, in-flight ones included', async (fx, t) => {
        if (!fx.reopen) {
          t.skip('adapter fixture has no reopen()');
          return;
        }
        const before = deliveries();
        const ids = [randomUUID(), randomUUID(), randomUUID()];
        await fx.bus.consume(
          QUEUE,
          before.handler(async (d) => {
            await new Promise((resolve) => d.signal.addEventListener('abort', resolve));
            throw new Error('interrupted');
          }),
          { leaseMs: 5000 },
        );
        for (const id of ids) await fx.bus.enqueue(envelope({ id }));
        await waitFor(() => before.all.length === 1, 'one job in flight');
        await fx.bus.close();
        await assert.rejects(fx.bus.enqueue(envelope()), { code: 'BUS_UNAVAILABLE' });

        const reopened = await fx.reopen();
        const after = deliveries();
        await reopened.consume(
          QUEUE,
          after.handler(() => ({ status: 'succeeded' })),
          { concurrency: 3, leaseMs: 5000 },
        );
        await waitFor(() => after.all.length === 3, 'all jobs after reopening', 5000);
        assert.deepEqual(after.all.map((d) => d.envelope.id).sort(), [...ids].sort());
        const inFlightId = before.all[0]?.envelope.id;
        assert.equal(after.all.find((d) => d.envelope.id === inFlightId)?.attempt, 2);
        assert.ok(after.all.filter((d) => d.envelope.id !== inFlightId).every((d) => d.attempt === 1));
      });

      test('depth counts jobs not yet delivered', async ({ bus }) => {
        const release = deferred<void>();
        let started = 0;
        for (let i = 0; i < 3; i++) await bus.enqueue(envelope());
        assert.equal(await bus.depth(QUEUE), 3);
        assert.equal(await bus.depth('contract.other'), 0);
        await bus.consume(
          QUEUE,
          async () => {
            started++;
            await release.promise;
            return { status: 'succeeded' };
          },
          { concurrency: 1, leaseMs: 5000 },
        );
        await waitFor(() => started === 1, 'first job running');
        assert.equal(await bus.depth(QUEUE), 2);
        release.resolve();
        await waitFor(() => started === 3, 'all jobs');
        await waitForAsync(async () => (await bus.depth(QUEUE)) === 0, 'empty queue');
      });

      test('oversized jobs are refused and one just under the limit travels', async ({ bus }) => {
        const big = envelope({ payload: 'x'.repeat(MAX_JOB_BYTES) });
        await assert.rejects(bus.enqueue(big), { code: 'PAYLOAD_TOO_LARGE' });
        const log = deliveries();
        const fits = envelope({ payload: 'y'.repeat(MAX_JOB_BYTES - 400) });
        await bus.enqueue(fits);
        await bus.consume(
          QUEUE,
          log.handler(() => ({ status: 'succeeded' })),
          { leaseMs: 2000 },
        );
        await waitFor(() => log.all.length === 1, 'large job');
        assert.equal(log.all[0]?.envelope.payload, fits.payload);
      });

      test('malformed queue names and envelopes are refused', async ({ bus }) => {
        await assert.rejects(bus.enqueue(envelope({ queue: 'Bad Queue' })), { code: 'INVALID_SUBJECT' });
        await assert.rejects(bus.enqueue(envelope({ queue: 'contract.*' })), { code: 'INVALID_SUBJECT' });
        await assert.rejects(bus.enqueue({ ...envelope(), id: '' }), { code: 'VALIDATION_FAILED' });
        await assert.rejects(
          bus.consume('a..b', async () => ({ status: 'succeeded' })),
          { code: 'INVALID_SUBJECT' },
        );
        await assert.rejects(
          bus.consume(QUEUE, async () => ({ status: 'succeeded' }), { concurrency: 0 }),
          {
            code: 'VALIDATION_FAILED',
          },
        );
      });
    });

    describe('objects', () => {
      test('an object put whole comes back byte for byte, whole or streamed', async ({ bus }) => {
        const key = randomUUID();
        const bytes = randomBytes(5 * 1024 * 1024);
        const before = Date.now();
        const stored = await bus.putObject(key, bytes);
        assert.equal(stored.key, key);
        assert.equal(stored.size, bytes.byteLength);
        assert.ok(stored.expiresAt > before + 3600_000, 'the default lifetime is at least an hour');
        const got = await bus.getObject(key);
        assert.ok(got instanceof Uint8Array);
        assert.ok(Buffer.from(got).equals(bytes), 'the bytes differ');

        const reader = await bus.openObject(key);
        assert.ok(reader);
        assert.equal(reader.size, bytes.byteLength);
        assert.equal(reader.expiresAt, stored.expiresAt);
        const parts: Buffer[] = [];
        for await (const chunk of reader.body) {
          assert.ok(chunk.byteLength < MAX_MESSAGE_BYTES, `a chunk of ${chunk.byteLength} bytes`);
          parts.push(Buffer.from(chunk));
        }
        assert.ok(Buffer.concat(parts).equals(bytes), 'the streamed bytes differ');
      });

      test('an object put as a stream comes back byte for byte; an empty one is empty', async ({ bus }) => {
        const key = randomUUID();
        const bytes = randomBytes(3 * 1024 * 1024);
        // Uneven chunks, so that the adapter's own chunking does not line up with them.
        const chunks: Buffer[] = [];
        for (let at = 0; at < bytes.byteLength; at += 300_001) chunks.push(bytes.subarray(at, at + 300_001));
        const stored = await bus.putObject(key, Readable.from(chunks), { ttlMs: 60_000 });
        assert.equal(stored.size, bytes.byteLength);
        const got = await bus.getObject(key);
        assert.ok(got && Buffer.from(got).equals(bytes), 'the bytes differ');

        const empty = randomUUID();
        assert.equal((await bus.putObject(empty, new Uint8Array(0))).size, 0);
        assert.deepEqual(await bus.getObject(empty), new Uint8Array(0));
      });

      test('a put replaces the object; one whose stream fails stores nothing and rethrows', async ({ bus }) => {
        const key = randomUUID();
        await bus.putObject(key, Buffer.from('first'));
        await bus.putObject(key, Buffer.from('second'));
        assert.equal(Buffer.from((await bus.getObject(key)) ?? []).toString(), 'second');
        const broken = async function* (): AsyncGenerator<Uint8Array> {
          yield randomBytes(400_000);
          yield randomBytes(400_000);
          throw new Error('upload aborted');
        };
        await assert.rejects(bus.putObject(key, broken()), /upload aborted/);
        assert.equal(Buffer.from((await bus.getObject(key)) ?? []).toString(), 'second');
        await assert.rejects(bus.putObject(key, Readable.from(['text, not bytes'])), (err: unknown) => err instanceof ValidationError);
        assert.equal(Buffer.from((await bus.getObject(key)) ?? []).toString(), 'second');
      });

      test('an unknown key reads as null; a deleted object is gone', async ({ bus }) => {
        assert.equal(await bus.getObject(randomUUID()), null);
        assert.equal(await bus.openObject(randomUUID()), null);
        assert.equal(await bus.deleteObject(randomUUID()), false);
        const key = randomUUID();
        await bus.putObject(key, randomBytes(300_000));
        assert.equal(await bus.deleteObject(key), true);
        assert.equal(await bus.getObject(key), null);
        assert.equal(await bus.openObject(key), null);
        assert.equal(await bus.deleteObject(key), false);
      });

      test('an object expires after its ttl', async ({ bus }) => {
        const key = randomUUID();
        const stored = await bus.putObject(key, randomBytes(200_000), { ttlMs: 1000 });
        assert.ok(stored.expiresAt <= Date.now() + 1000);
        assert.equal((await bus.getObject(key))?.byteLength, 200_000);
        await sleep(stored.expiresAt - Date.now() + 100);
        assert.equal(await bus.getObject(key), null);
        assert.equal(await bus.openObject(key), null);
        assert.equal(await bus.deleteObject(key), false);
      });

      test('invalid keys and lifetimes are refused', async ({ bus }) => {
        const invalid = (err: unknown) => err instanceof ValidationError && err.code === 'INVALID_OBJECT_KEY';
        for (const key of ['', 'a b', 'a.b', '../etc', '-lead', 'k'.repeat(129), 'é', 'a\nb']) {
          await assert.rejects(bus.putObject(key, new Uint8Array(1)), invalid, JSON.stringify(key));
          await assert.rejects(bus.getObject(key), invalid, JSON.stringify(key));
          await assert.rejects(bus.openObject(key), invalid, JSON.stringify(key));
          await assert.rejects(bus.deleteObject(key), invalid, JSON.stringify(key));
        }
        for (const ttlMs of [0, -1, 1.5, Number.NaN]) {
          await assert.rejects(bus.putObject(randomUUID(), new Uint8Array(1), { ttlMs }), { code: 'VALIDATION_FAILED' });
        }
      });

      test('objects survive a restart where the adapter says so', async ({ bus, reopen }, t) => {
        if (!reopen) {
          t.skip('the fixture cannot reopen the bus');
          return;
        }
        const key = randomUUID();
        const bytes = randomBytes(1_500_000);
        await bus.putObject(key, bytes);
        await bus.close();
        const again = await reopen();
        const got = await again.getObject(key);
        if (again.capabilities.durableObjects) {
          assert.ok(got && Buffer.from(got).equals(bytes), 'the object did not survive');
        } else {
          assert.equal(got, null, 'durableObjects is false, yet the object survived');
        }
      });
    });

    describe('events', () => {
      test('wildcards match one token (*) or the rest (>)', async ({ bus }) => {
        const got = new Map<string, string[]>();
        const patterns = ['events.*.document.processed', 'events.t1.>', 'events.t1.document.*', 'events.>', '*.t2.job.progressed'];
        for (const pattern of patterns) {
          got.set(pattern, []);
          await bus.subscribe(pattern, (e) => got.get(pattern)?.push(e.subject));
        }
        const subjects = [
          'events.t1.document.processed',
          'events.t2.document.processed',
          'events.t1.job.progressed',
          'events.t2.job.progressed',
        ];
        for (const subject of subjects) await bus.publish(subject, { subject });
        await waitFor(() => got.get('events.>')?.length === 4, 'events');
        await sleep(100);
        const sorted = (p: string) => [...(got.get(p) ?? [])].sort();
        assert.deepEqual(sorted('events.*.document.processed'), ['events.t1.document.processed', 'events.t2.document.processed']);
        assert.deepEqual(sorted('events.t1.>'), ['events.t1.document.processed', 'events.t1.job.progressed']);
        assert.deepEqual(sorted('events.t1.document.*'), ['events.t1.document.processed']);
        assert.deepEqual(sorted('events.>'), [...subjects].sort());
        assert.deepEqual(sorted('*.t2.job.progressed'), ['events.t2.job.progressed']);
      });

      test('every subscriber gets each event, with its own copy and the correlation id', async ({ bus }) => {
        const a: EventEnvelope<{ list: number[] }>[] = [];
        const b: EventEnvelope<{ list: number[] }>[] = [];
        await bus.subscribe<{ list: number[] }>('events.team-1.>', (e) => {
          e.payload.list.push(99);
          a.push(e);
        });
        await bus.subscribe<{ list: number[] }>('events.team-1.document.queued', (e) => b.push(e));
        await bus.publish('events.team-1.document.queued', { list: [1] }, 'corr-42');
        await bus.publish('events.team-1.document.queued', { list: [2] });
        await waitFor(() => a.length === 2 && b.length === 2, 'both subscribers');
        assert.deepEqual(
          b.map((e) => e.payload.list),
          [[1], [2]],
        );
        assert.equal(a[0]?.correlationId, 'corr-42');
        assert.equal(b[0]?.correlationId, 'corr-42');
        assert.equal(b[1]?.correlationId, undefined);
        assert.equal(b[0]?.subject, 'events.team-1.document.queued');
      });

      test('after unsubscribing no more events arrive', async ({ bus }) => {
        const kept: unknown[] = [];
        const dropped: unknown[] = [];
        await bus.subscribe('events.t.>', (e) => kept.push(e.payload));
        const sub: Subscription = await bus.subscribe('events.t.>', (e) => dropped.push(e.payload));
        await bus.publish('events.t.x', 1);
        await waitFor(() => dropped.length === 1 && kept.length === 1, 'first event');
        await sub.close();
        await bus.publish('events.t.x', 2);
        await waitFor(() => kept.length === 2, 'second event');
        await sleep(100);
        assert.deepEqual(dropped, [1]);
      });

      test('invalid subjects, reserved subjects and oversized events are refused', async ({ bus }) => {
        await assert.rejects(bus.publish('events.a b', 1), { code: 'INVALID_SUBJECT' });
        await assert.rejects(bus.publish('events.*.x', 1), { code: 'INVALID_SUBJECT' });
        await assert.rejects(bus.publish('dead-letter.contract.work', 1), { code: 'INVALID_SUBJECT' });
        await assert.rejects(
          bus.subscribe('events.>.x', () => undefined),
          { code: 'INVALID_SUBJECT' },
        );
        await assert.rejects(bus.publish('events.t.big', 'z'.repeat(1024 * 1024)), { code: 'PAYLOAD_TOO_LARGE' });
      });
    });
  });
}

// --- helpers -------------------------------------------------------------------------------

interface Recorded {
  envelope: JobEnvelope;
  attempt: number;
  at: number;
}

/** Records every delivery a handler sees. */
function deliveries(): {
  all: Recorded[];
  handler(outcome: (d: Delivery) => JobOutcome | Promise<JobOutcome>): JobHandler;
} {
  const all: Recorded[] = [];
  return {
    all,
    handler: (outcome) => async (d) => {
      all.push({ envelope: d.envelope, attempt: d.attempt, at: Date.now() });
      return outcome(d);
    },
  };
}

function envelope(overrides: Partial<JobEnvelope> = {}): JobEnvelope {
  return {
    id: randomUUID(),
    queue: QUEUE,
    payload: { hello: 'world' },
    correlationId: `corr-${randomUUID()}`,
    enqueuedAt: Date.now(),
    ...overrides,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Polls `condition` every 10 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  await waitForAsync(async () => condition(), what, timeoutMs);
}

/** {@link waitFor} with an asynchronous condition. */
export async function waitForAsync(condition: () => Promise<boolean>, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}
