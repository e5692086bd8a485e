import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { Events, Queues } from '@quire/kernel';
import type { DocumentEvent, ProcessJob, ProgressEvent } from '@quire/kernel';
import type { DeadLetter } from './bus.ts';
import { InMemoryJobStorage, MemoryBus } from './bus.memory.ts';
import { consumeQueue, enqueueJob, publishEvent, subscribeEvent } from './typed.ts';

describe('typed helpers', () => {
  const processJob = (): ProcessJob => ({
    jobId: randomUUID(),
    documentId: randomUUID(),
    teamId: 'team-1',
    blobKey: 'blobs/x',
    mimeType: 'application/pdf',
    filename: 'a.pdf',
    correlationId: 'c-1',
    classifierKey: 'classifier-1',
  });

  it('validate payloads at both ends of a queue', async () => {
    const bus = new MemoryBus({ storage: new InMemoryJobStorage() });
    await bus.start();
    try {
      await assert.rejects(
        enqueueJob(bus, Queues.DocumentProcess, { id: 'x', correlationId: 'c', payload: { jobId: 'x' } as unknown as ProcessJob }),
        { code: 'INVALID_PAYLOAD' },
      );
      const good = processJob();
      await enqueueJob(bus, Queues.DocumentProcess, { id: good.jobId, correlationId: good.correlationId, payload: good });
      // A job that bypassed the helper with a bad payload never reaches the handler.
      await bus.enqueue({ id: 'raw', queue: 'document.process', payload: { nope: true }, correlationId: 'c', enqueuedAt: 0 });
      const handled: ProcessJob[] = [];
      const dead: DeadLetter[] = [];
      await consumeQueue(
        bus,
        Queues.DocumentProcess,
        async (d) => {
          handled.push(d.envelope.payload);
          return { status: 'succeeded' };
        },
        { onDeadLetter: (d) => void dead.push(d) },
      );
      const deadline = Date.now() + 2000;
      while ((handled.length < 1 || dead.length < 1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(handled, [good]);
      assert.equal(dead[0]?.envelope.id, 'raw');
      assert.equal(dead[0]?.code, 'INVALID_PAYLOAD');
      assert.equal(dead[0]?.attempts, 1);
    } finally {
      await bus.close();
    }
  });

  it('scope event subscriptions to a team and drop invalid payloads', async () => {
    const bus = new MemoryBus({ storage: new InMemoryJobStorage() });
    await bus.start();
    try {
      const mine: ProgressEvent[] = [];
      const all: ProgressEvent[] = [];
      const invalid: string[] = [];
      await subscribeEvent(bus, Events.JobProgressed, (p) => mine.push(p), { teamId: 'a', onInvalid: (e) => invalid.push(e.subject) });
      await subscribeEvent(bus, Events.JobProgressed, (p) => all.push(p));
      const progress = (teamId: string): ProgressEvent => ({
        jobId: 'j',
        documentId: 'd',
        teamId,
        stage: 'ocr',
        done: 1,
        total: 2,
        percent: 50,
        etaMs: null,
        at: 1,
      });
      await publishEvent(bus, Events.JobProgressed, 'a', progress('a'));
      await publishEvent(bus, Events.JobProgressed, 'b', progress('b'));
      await bus.publish(Events.JobProgressed.subject('a'), { not: 'progress' });
      await assert.rejects(publishEvent(bus, Events.DocumentQueued, 'a', { kind: 'queued' } as DocumentEvent), { code: 'INVALID_PAYLOAD' });
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(
        mine.map((p) => p.teamId),
        ['a'],
      );
      assert.deepEqual(all.map((p) => p.teamId).sort(), ['a', 'b']);
      assert.deepEqual(invalid, ['events.a.job.progressed']);
    } finally {
      await bus.close();
    }
  });
});
