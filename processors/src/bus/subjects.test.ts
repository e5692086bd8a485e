import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { ProcessJob, ProgressEvent } from '../protocol.ts';
import type { DeadLetter } from './bus.ts';
import { InMemoryJobStorage, MemoryBus } from './bus.memory.ts';
import {
  Events,
  Queues,
  Subjects,
  assertSubject,
  consumeQueue,
  documentEventKind,
  enqueueJob,
  publishEvent,
  subjectMatches,
  subscribeEvent,
} from './subjects.ts';
import type { DocumentEvent } from './subjects.ts';

describe('subject matching', () => {
  const cases: Array<[string, string, boolean]> = [
    ['a.b.c', 'a.b.c', true],
    ['a.b.c', 'a.b', false],
    ['a.b', 'a.b.c', false],
    ['a.*.c', 'a.b.c', true],
    ['a.*.c', 'a.b.d', false],
    ['a.*', 'a.b.c', false],
    ['a.>', 'a.b.c', true],
    ['a.>', 'a.b', true],
    ['a.>', 'a', false],
    ['>', 'a', true],
    ['*', 'a.b', false],
    ['*.*.c', 'x.y.c', true],
    ['events.*.document.*', 'events.t1.document.processed', true],
    ['events.*.document.*', 'events.t1.job.progressed', false],
  ];
  for (const [pattern, subject, expected] of cases) {
    it(`${pattern} ${expected ? 'matches' : 'does not match'} ${subject}`, () => {
      assert.equal(subjectMatches(pattern, subject), expected);
    });
  }
});

describe('subject syntax', () => {
  it('accepts safe tokens and wildcards only where allowed', () => {
    assert.equal(assertSubject('events.3f2a9c1e-7b7d-4c1f-9e0a-1b2c3d4e5f60.document.queued', { wildcards: false }).length > 0, true);
    assert.equal(assertSubject('events.*.document.>', { wildcards: true }), 'events.*.document.>');
    for (const bad of ['', 'a..b', '.a', 'a.', 'a b', 'a.*', 'a.>', 'é.b', 'a\nb']) {
      assert.throws(() => assertSubject(bad, { wildcards: false }), { code: 'INVALID_SUBJECT' }, bad);
    }
    for (const bad of ['a.>.b', 'a.b*', 'a.**', '>x']) {
      assert.throws(() => assertSubject(bad, { wildcards: true }), { code: 'INVALID_SUBJECT' }, bad);
    }
  });

  it('puts the team in the second token of every event subject and refuses unsafe team ids', () => {
    assert.equal(Events.DocumentProcessed.subject('team-1'), 'events.team-1.document.processed');
    assert.equal(Events.JobProgressed.subject('team_2'), 'events.team_2.job.progressed');
    assert.equal(Events.DocumentFailed.pattern(), 'events.*.document.failed');
    assert.equal(Events.DocumentFailed.pattern('t'), 'events.t.document.failed');
    assert.equal(Subjects.teamFeed('t'), 'events.t.>');
    assert.ok(subjectMatches(Subjects.teamFeed('t'), Events.JobProgressed.subject('t')));
    assert.ok(subjectMatches(Subjects.allDocumentEvents, Events.DocumentDeleted.subject('t')));
    assert.ok(!subjectMatches(Subjects.allDocumentEvents, Events.JobProgressed.subject('t')));
    assert.equal(Subjects.deadLetter(Queues.DocumentProcess.name), 'dead-letter.document.process');
    assert.ok(subjectMatches(Subjects.allDeadLetters, Subjects.deadLetter('document.process')));
    for (const bad of ['a.b', '*', '>', 'a b', '', 'x'.repeat(129)]) {
      assert.throws(() => Events.DocumentQueued.subject(bad), { code: 'INVALID_SUBJECT' }, bad);
    }
    assert.equal(documentEventKind('events.t.document.processed'), 'processed');
    assert.equal(documentEventKind('events.t.job.progressed'), undefined);
  });
});

describe('typed helpers', () => {
  const processJob = (): ProcessJob => ({
    jobId: randomUUID(),
    documentId: randomUUID(),
    teamId: 'team-1',
    blobKey: 'blobs/x',
    mimeType: 'application/pdf',
    filename: 'a.pdf',
    correlationId: 'c-1',
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
