import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { JobEnvelope } from './bus.ts';
import { InMemoryJobStorage, MemoryBus } from './bus.memory.ts';
import { defineBusContract, openBusFixture } from './contract.ts';
import { defineJobStorageContract } from './job-storage.contract.ts';

defineBusContract('MemoryBus', ({ closeTimeoutMs }) => {
  const storage = new InMemoryJobStorage();
  return openBusFixture(() => new MemoryBus({ storage, closeTimeoutMs, pollIntervalMs: 200 }));
});

function job(queue = 'memory.work'): JobEnvelope {
  return { id: randomUUID(), queue, payload: { n: 1 }, correlationId: randomUUID(), enqueuedAt: Date.now() };
}

describe('MemoryBus', () => {
  it('runs jobs a crashed process left leased once their lease expires', async () => {
    const storage = new InMemoryJobStorage();
    const now = Date.now();
    const leased = job();
    const waiting = job();
    storage.insertJob({ id: leased.id, queue: leased.queue, envelope: JSON.stringify(leased), runAt: now });
    storage.insertJob({ id: waiting.id, queue: waiting.queue, envelope: JSON.stringify(waiting), runAt: now });
    // The dead process claimed the first job and never came back.
    assert.equal(storage.claimJob(leased.queue, now, now + 400)?.id, leased.id);

    const bus = new MemoryBus({ storage, pollIntervalMs: 5000 });
    await bus.start();
    const seen: Array<{ id: string; attempt: number; at: number }> = [];
    try {
      await bus.consume(
        'memory.work',
        async (d) => {
          seen.push({ id: d.envelope.id, attempt: d.attempt, at: Date.now() - now });
          return { status: 'succeeded' };
        },
        { concurrency: 2 },
      );
      const deadline = Date.now() + 3000;
      while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(seen[0]?.id, waiting.id);
      assert.equal(seen[0]?.attempt, 1);
      assert.equal(seen[1]?.id, leased.id);
      assert.equal(seen[1]?.attempt, 2);
      // Woken by the lease expiry itself, not by the 5 s poll.
      assert.ok(seen[1]!.at >= 390 && seen[1]!.at < 1500, `redelivered after ${seen[1]?.at} ms`);
      assert.equal(storage.size, 0);
    } finally {
      await bus.close();
    }
  });

  it('keeps dead letters in the storage with their code, message and attempts', async () => {
    const storage = new InMemoryJobStorage();
    const bus = new MemoryBus({ storage });
    await bus.start();
    try {
      const j = job();
      let dead = 0;
      await bus.consume('memory.work', async () => ({ status: 'failed', code: 'NOPE', message: 'bad input', retryable: false }), {
        onDeadLetter: () => void dead++,
      });
      await bus.enqueue(j);
      const deadline = Date.now() + 2000;
      while (dead === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const [letter] = storage.deadLetters('memory.work');
      assert.equal(letter?.id, j.id);
      assert.equal(letter?.code, 'NOPE');
      assert.equal(letter?.message, 'bad input');
      assert.equal(letter?.attempts, 1);
      assert.deepEqual(JSON.parse(letter?.envelope ?? '{}'), j);
      // A dead-lettered id may be enqueued again (e.g. a manual replay).
      assert.equal(storage.insertJob({ id: j.id, queue: j.queue, envelope: JSON.stringify(j), runAt: 0 }), true);
    } finally {
      await bus.close();
    }
  });

  it('reports the capabilities of its storage', async () => {
    const storage = new InMemoryJobStorage();
    assert.deepEqual(new MemoryBus({ storage }).capabilities, { durableJobs: false, distributed: false, durableObjects: false });
    const durable = Object.assign(Object.create(storage) as InMemoryJobStorage, { durable: true });
    assert.equal(new MemoryBus({ storage: durable }).capabilities.durableJobs, true);
  });

  it('refuses calls before start and after close', async () => {
    const bus = new MemoryBus({ storage: new InMemoryJobStorage() });
    await assert.rejects(bus.enqueue(job()), { code: 'BUS_UNAVAILABLE' });
    await bus.start();
    await assert.rejects(bus.start(), { code: 'BUS_UNAVAILABLE' });
    await bus.close();
    await assert.rejects(bus.publish('events.t.x', 1), { code: 'BUS_UNAVAILABLE' });
    await assert.rejects(
      bus.subscribe('events.>', () => undefined),
      { code: 'BUS_UNAVAILABLE' },
    );
  });
});

defineJobStorageContract('InMemoryJobStorage', () => ({ storage: new InMemoryJobStorage(), cleanup: () => undefined }));
