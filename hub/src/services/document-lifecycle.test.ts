/**
 * DocumentLifecycle over a real SqliteStore and real live events on the in-process bus: every
 * allowed transition (the stored document and job, the events emitted), every illegal one
 * refused with ILLEGAL_TRANSITION, `processed` refused while result parts are missing, and an
 * unknown part kind refused.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { MemoryBus } from '@quire/bus';
import { DocumentStatus, UnreachableCaseError, type ResultPart } from '@quire/kernel';
import { buildDocument } from '../store/contract.ts';
import { SqliteStore } from '../store/sqlite/store.sqlite.ts';
import { JobStatus, type DocumentRecord, type TeamScope } from '../store/store.ts';
import {
  DOCUMENT_TRANSITIONS,
  DocumentLifecycle,
  IllegalTransitionError,
  JOB_TRANSITIONS,
  ResultIncompleteError,
  type JobRun,
  type LifecycleState,
} from './document-lifecycle.ts';
import { LiveEvents, type LiveEvent } from './live-events.ts';

const A: TeamScope = { teamId: 'team-a' };
const NODE = 'test-host:1';

let dir: string;
let store: SqliteStore;
let bus: MemoryBus;
let events: LiveEvents;
let lifecycle: DocumentLifecycle;
let seen: LiveEvent[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'quire-lifecycle-'));
  store = new SqliteStore({ filename: join(dir, 'quire.sqlite') });
  await store.start();
  await store.ensureTeam({ id: A.teamId, name: A.teamId });
  bus = new MemoryBus({ storage: store.jobStorage });
  await bus.start();
  events = new LiveEvents({ bus, logger: pino({ level: 'silent' }) });
  await events.start();
  events.listen((e) => seen.push(e));
  lifecycle = new DocumentLifecycle({ store, events, nodeId: NODE, logger: pino({ level: 'silent' }) });
});

after(async () => {
  await events.close();
  await bus.close();
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  seen = [];
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The live events about `documentId` once they have arrived, as `kind:status-or-stage`. */
async function eventsOf(documentId: string, count: number): Promise<string[]> {
  for (let i = 0; i < 200; i++) {
    const mine = seen.filter((e) => (e.kind === 'document' || e.kind === 'progress') && e.event.documentId === documentId);
    if (mine.length >= count) {
      return mine.map((e) =>
        e.kind === 'document' ? `document:${e.event.status}` : e.kind === 'progress' ? `progress:${e.event.stage}` : '',
      );
    }
    await sleep(10);
  }
  assert.fail(`expected ${count} events of ${documentId}, saw ${seen.length}`);
}

function documentEvent(documentId: string, status: string): LiveEvent & { kind: 'document' } {
  const e = seen.find((x) => x.kind === 'document' && x.event.documentId === documentId && x.event.status === status);
  assert.ok(e, `no ${status} event for ${documentId}`);
  return e as LiveEvent & { kind: 'document' };
}

async function mustGet(id: string): Promise<DocumentRecord> {
  const doc = await store.getDocument(A, id);
  assert.ok(doc, `document ${id} exists`);
  return doc;
}

async function uploaded(): Promise<DocumentRecord> {
  return lifecycle.uploaded(A, buildDocument());
}

async function running(): Promise<{ doc: DocumentRecord; run: JobRun }> {
  const doc = await uploaded();
  const run = await lifecycle.started(A, doc, { jobId: doc.jobId, attempt: 1 });
  return { doc: await mustGet(doc.id), run };
}

function parts(doc: DocumentRecord, pageCount: number, chunkCount: number) {
  const ids = { jobId: doc.jobId, documentId: doc.id, teamId: A.teamId };
  const pages: ResultPart = {
    kind: 'pages',
    ...ids,
    pages: Array.from({ length: pageCount }, (_, i) => ({
      page: i + 1,
      width: 100,
      height: 100,
      text: 'text',
      source: 'plain' as const,
      confidence: 100,
      words: [],
    })),
  };
  const chunks: ResultPart = {
    kind: 'chunks',
    ...ids,
    chunks: Array.from({ length: chunkCount }, (_, i) => ({
      ordinal: i,
      page: 1,
      text: 'text',
      start: 0,
      end: 4,
      boxes: [],
      vector: [1, 0],
    })),
  };
  const summary: ResultPart = {
    kind: 'summary',
    ...ids,
    pageCount,
    chunkCount,
    classification: {
      type: { label: 'invoice', confidence: 0.9 },
      sensitivity: { label: 'internal', confidence: 0.8 },
      method: 'zero-shot',
    },
    fields: {},
    model: { modelId: 'm', dimension: 2 },
    timings: {},
  };
  return { pages, chunks, summary };
}

async function processed(): Promise<DocumentRecord> {
  const { doc, run } = await running();
  const p = parts(doc, 1, 1);
  for (const part of [p.pages, p.chunks, p.summary]) run.partApplied(part);
  await run.processed(async () => {});
  return mustGet(doc.id);
}

async function failed(): Promise<DocumentRecord> {
  const { doc, run } = await running();
  await run.failed({ code: 'BOOM', message: 'boom', stage: 'ocr' });
  return mustGet(doc.id);
}

async function assertIllegal(promise: Promise<unknown> | (() => unknown)): Promise<void> {
  const check = (err: unknown) => err instanceof IllegalTransitionError && err.code === 'ILLEGAL_TRANSITION';
  if (typeof promise === 'function') assert.throws(promise as () => unknown, check);
  else await assert.rejects(promise, check);
}

describe('the transition tables', () => {
  test('list every move, and nothing leaves a deleted document', () => {
    const moves = Object.entries(DOCUMENT_TRANSITIONS).flatMap(([name, t]) =>
      (t.from as readonly LifecycleState[]).map((from) => `${from} -${name}-> ${t.to}`),
    );
    assert.deepEqual(moves.sort(), [
      'failed -deleted-> deleted',
      'failed -reprocessed-> queued',
      'new -uploaded-> queued',
      'processed -deleted-> deleted',
      'processed -reprocessed-> queued',
      'processing -deleted-> deleted',
      'processing -failed-> failed',
      'processing -processed-> processed',
      'processing -recovered-> unchanged',
      'processing -retryScheduled-> queued',
      'processing -started-> processing',
      'queued -deleted-> deleted',
      'queued -failed-> failed',
      'queued -recovered-> unchanged',
      'queued -started-> processing',
    ]);
    assert.deepEqual(Object.keys(JOB_TRANSITIONS).sort(), ['failed', 'retryScheduled', 'started', 'succeeded', 'superseded']);
  });
});

describe('allowed transitions', () => {
  test('uploaded: the document and its job are stored queued and announced', async () => {
    const doc = await uploaded();
    assert.equal(doc.status, DocumentStatus.Queued);
    const job = await store.getJob(A, doc.jobId);
    assert.equal(job?.status, JobStatus.Queued);
    assert.deepEqual(await eventsOf(doc.id, 1), ['document:queued']);
    assert.equal(documentEvent(doc.id, 'queued').event.jobId, doc.jobId);
  });

  test('started: queued → processing, the job running with its attempt and no error', async () => {
    const doc = await uploaded();
    const run = await lifecycle.started(A, doc, { jobId: doc.jobId, attempt: 2 });
    assert.equal(run.running, true);
    assert.equal((await mustGet(doc.id)).status, DocumentStatus.Processing);
    const job = await store.getJob(A, doc.jobId);
    assert.equal(job?.status, JobStatus.Running);
    assert.equal(job?.attempts, 2);
    assert.equal(job?.error, null);
    assert.deepEqual(await eventsOf(doc.id, 2), ['document:queued', 'document:processing']);
  });

  test('started again (a redelivery after a lost lease): processing → processing', async () => {
    const { doc } = await running();
    await lifecycle.started(A, doc, { jobId: doc.jobId, attempt: 2 });
    assert.equal((await mustGet(doc.id)).status, DocumentStatus.Processing);
    assert.equal((await store.getJob(A, doc.jobId))?.attempts, 2);
    assert.deepEqual(await eventsOf(doc.id, 3), ['document:queued', 'document:processing', 'document:processing']);
  });

  test('progressed: a progress event each time with the node, the job persisted at a stage change', async () => {
    const { doc, run } = await running();
    assert.equal(run.progressed({ stage: 'ocr', done: 1, total: 4, percent: 20, etaMs: 3000 }), true);
    assert.equal(run.progressed({ stage: 'ocr', done: 2, total: 4, percent: 30, etaMs: 2000 }), true);
    assert.deepEqual(await eventsOf(doc.id, 4), ['document:queued', 'document:processing', 'progress:ocr', 'progress:ocr']);
    const progress = seen.filter((e) => e.kind === 'progress' && e.event.documentId === doc.id);
    assert.ok(progress.every((e) => e.kind === 'progress' && e.event.node === NODE));
    // The second report falls within the throttle window: the job keeps the first.
    let job = await store.getJob(A, doc.jobId);
    for (let i = 0; i < 100 && job?.stage !== 'ocr'; i++) {
      await sleep(10);
      job = await store.getJob(A, doc.jobId);
    }
    assert.equal(job?.stage, 'ocr');
    assert.equal(job?.done, 1);
    assert.equal(job?.percent, 20);
  });

  test('processed: all parts applied, the job succeeded, matches proposed, then the document processed', async () => {
    const { doc, run } = await running();
    const p = parts(doc, 2, 3);
    for (const part of [p.pages, p.chunks, p.summary]) run.partApplied(part);
    let statusWhileProposing: string | undefined;
    await run.processed(async () => {
      statusWhileProposing = (await mustGet(doc.id)).status;
    });
    assert.equal(statusWhileProposing, DocumentStatus.Processing);
    const after = await mustGet(doc.id);
    assert.equal(after.status, DocumentStatus.Processed);
    assert.equal(after.error, null);
    assert.ok(after.processedAt);
    const job = await store.getJob(A, doc.jobId);
    assert.equal(job?.status, JobStatus.Succeeded);
    assert.equal(job?.percent, 100);
    assert.equal(job?.stage, 'done');
    assert.ok(job?.finishedAt);
    assert.equal(run.running, false);
    assert.deepEqual(await eventsOf(doc.id, 4), ['document:queued', 'document:processing', 'progress:done', 'document:processed']);
  });

  test('processed: a failure to propose matches does not fail the document', async () => {
    const { doc, run } = await running();
    const p = parts(doc, 0, 0);
    run.partApplied(p.summary);
    await run.processed(async () => {
      throw new Error('index down');
    });
    assert.equal((await mustGet(doc.id)).status, DocumentStatus.Processed);
  });

  test('retryScheduled: processing → queued, the job queued with the error, announced with it', async () => {
    const { doc, run } = await running();
    const error = { code: 'OCR_FAILED', message: 'ocr failed', stage: 'ocr' };
    await run.retryScheduled(error);
    assert.equal((await mustGet(doc.id)).status, DocumentStatus.Queued);
    const job = await store.getJob(A, doc.jobId);
    assert.equal(job?.status, JobStatus.Queued);
    assert.deepEqual(job?.error, error);
    assert.deepEqual(await eventsOf(doc.id, 3), ['document:queued', 'document:processing', 'document:queued']);
    const requeued = seen.filter((e) => e.kind === 'document' && e.event.documentId === doc.id && e.event.status === 'queued').at(-1);
    assert.deepEqual(requeued?.kind === 'document' ? requeued.event.error : undefined, error);
    // The next delivery starts it again.
    await lifecycle.started(A, await mustGet(doc.id), { jobId: doc.jobId, attempt: 2 });
    assert.equal((await store.getJob(A, doc.jobId))?.status, JobStatus.Running);
  });

  test('failed (final): processing → failed, the job failed and finished, a failed progress event, then the document event', async () => {
    const { doc, run } = await running();
    run.progressed({ stage: 'ocr', done: 1, total: 2, percent: 40, etaMs: null });
    const error = { code: 'PDF_UNREADABLE', message: 'unreadable', stage: 'extract' };
    await sleep(50);
    await run.failed(error);
    const after = await mustGet(doc.id);
    assert.equal(after.status, DocumentStatus.Failed);
    assert.deepEqual(after.error, error);
    const job = await store.getJob(A, doc.jobId);
    assert.equal(job?.status, JobStatus.Failed);
    assert.deepEqual(job?.error, error);
    assert.ok(job?.finishedAt);
    assert.deepEqual(await eventsOf(doc.id, 5), [
      'document:queued',
      'document:processing',
      'progress:ocr',
      'progress:failed',
      'document:failed',
    ]);
    const failedProgress = seen.find((e) => e.kind === 'progress' && e.event.documentId === doc.id && e.event.stage === 'failed');
    assert.equal(failedProgress?.kind === 'progress' && failedProgress.event.percent, 40);
    assert.deepEqual(documentEvent(doc.id, 'failed').event.error, error);
  });

  test('failed (dead-lettered before it started): queued → failed', async () => {
    const doc = await uploaded();
    await lifecycle.failed(A, doc.id, { code: 'JOB_DEAD', message: 'dead', stage: null });
    assert.equal((await mustGet(doc.id)).status, DocumentStatus.Failed);
    assert.equal((await store.getJob(A, doc.jobId))?.status, JobStatus.Failed);
    assert.deepEqual(await eventsOf(doc.id, 3), ['document:queued', 'progress:failed', 'document:failed']);
  });

  test('reprocessed: processed or failed → queued with a new queued job', async () => {
    for (const doc of [await processed(), await failed()]) {
      seen = [];
      const jobId = randomUUID();
      const { document, job } = await lifecycle.reprocessed(A, doc, jobId);
      assert.equal(document.status, DocumentStatus.Queued);
      assert.equal(document.jobId, jobId);
      assert.equal(document.error, null);
      assert.equal(job.status, JobStatus.Queued);
      assert.equal((await mustGet(doc.id)).jobId, jobId);
      assert.deepEqual(await eventsOf(doc.id, 1), ['document:queued']);
      assert.equal(documentEvent(doc.id, 'queued').event.jobId, jobId);
    }
  });

  test('recovered: a queued or processing document is announced queued again, its status kept', async () => {
    const queued = await uploaded();
    const { doc: processing } = await running();
    seen = [];
    await lifecycle.recovered(A, queued);
    await lifecycle.recovered(A, processing);
    assert.equal((await mustGet(queued.id)).status, DocumentStatus.Queued);
    assert.equal((await mustGet(processing.id)).status, DocumentStatus.Processing);
    assert.deepEqual(await eventsOf(queued.id, 1), ['document:queued']);
    assert.deepEqual(await eventsOf(processing.id, 1), ['document:queued']);
  });

  test('deleted: from every state the rows go, the clean-up runs, then deleted is announced', async () => {
    const running1 = (await running()).doc;
    for (const doc of [await uploaded(), running1, await processed(), await failed()]) {
      seen = [];
      const order: string[] = [];
      assert.equal(
        await lifecycle.deleted(A, doc, async () => {
          order.push(`clean-up, rows gone: ${(await store.getDocument(A, doc.id)) === undefined}`);
        }),
        true,
      );
      assert.deepEqual(order, ['clean-up, rows gone: true']);
      assert.equal(await store.getJob(A, doc.jobId), undefined);
      assert.deepEqual(await eventsOf(doc.id, 1), ['document:deleted']);
      // Deleting again finds nothing and announces nothing.
      assert.equal(await lifecycle.deleted(A, doc), false);
    }
  });

  test('superseded: an open job no longer current ends failed with SUPERSEDED; the document is left alone', async () => {
    const first = await failed();
    const oldJob = first.jobId;
    // The old job is finished: superseding it changes nothing.
    await lifecycle.reprocessed(A, first, randomUUID());
    await lifecycle.superseded(A, oldJob);
    assert.equal((await store.getJob(A, oldJob))?.status, JobStatus.Failed);
    // An old job still open (a run that outlived its document's reprocessing).
    const { doc } = await running();
    await store.updateDocument(A, doc.id, { status: DocumentStatus.Failed });
    const newer = await lifecycle.reprocessed(A, await mustGet(doc.id), randomUUID());
    await lifecycle.superseded(A, doc.jobId);
    const old = await store.getJob(A, doc.jobId);
    assert.equal(old?.status, JobStatus.Failed);
    assert.equal(old?.error?.code, 'SUPERSEDED');
    assert.equal((await mustGet(doc.id)).status, DocumentStatus.Queued);
    assert.equal((await store.getJob(A, newer.job.id))?.status, JobStatus.Queued);
  });
});

describe('illegal transitions are refused with ILLEGAL_TRANSITION', () => {
  test('started from processed or failed, or with a job that is not the current one', async () => {
    const done = await processed();
    await assertIllegal(lifecycle.started(A, done, { jobId: done.jobId, attempt: 2 }));
    const dead = await failed();
    await assertIllegal(lifecycle.started(A, dead, { jobId: dead.jobId, attempt: 2 }));
    const doc = await uploaded();
    await assertIllegal(lifecycle.started(A, doc, { jobId: randomUUID(), attempt: 1 }));
    // Nothing was written.
    assert.equal((await mustGet(done.id)).status, DocumentStatus.Processed);
    assert.equal((await mustGet(doc.id)).status, DocumentStatus.Queued);
  });

  test('reprocessed while queued or processing', async () => {
    await assertIllegal(lifecycle.reprocessed(A, await uploaded(), randomUUID()));
    await assertIllegal(lifecycle.reprocessed(A, (await running()).doc, randomUUID()));
  });

  test('recovered when processed or failed', async () => {
    await assertIllegal(lifecycle.recovered(A, await processed()));
    await assertIllegal(lifecycle.recovered(A, await failed()));
  });

  test('failed when already processed or failed', async () => {
    const error = { code: 'X', message: 'x', stage: null };
    const done = await processed();
    await assertIllegal(lifecycle.failed(A, done.id, error));
    assert.equal((await mustGet(done.id)).status, DocumentStatus.Processed);
    await assertIllegal(lifecycle.failed(A, (await failed()).id, error));
  });

  test('uploaded with a document that exists', async () => {
    const doc = buildDocument();
    await lifecycle.uploaded(A, doc);
    await assert.rejects(lifecycle.uploaded(A, doc));
  });

  test('a run that ended takes no more parts, endings or progress', async () => {
    const { doc, run } = await running();
    await run.retryScheduled({ code: 'X', message: 'x', stage: null });
    const p = parts(doc, 1, 1);
    await assertIllegal(() => run.partApplied(p.pages));
    await assertIllegal(run.processed(async () => {}));
    await assertIllegal(run.failed({ code: 'X', message: 'x', stage: null }));
    await assertIllegal(run.retryScheduled({ code: 'X', message: 'x', stage: null }));
    // A worker's late progress is dropped, not an error.
    assert.equal(run.progressed({ stage: 'ocr', done: 1, total: 1, percent: 50, etaMs: null }), false);
  });

  test('processed once the document was deleted meanwhile', async () => {
    const { doc, run } = await running();
    run.partApplied(parts(doc, 0, 0).summary);
    await lifecycle.deleted(A, doc);
    await assertIllegal(run.processed(async () => {}));
  });

  test('a result part of another job', async () => {
    const { doc, run } = await running();
    const other = parts({ ...doc, jobId: randomUUID() }, 1, 0);
    await assertIllegal(() => run.partApplied(other.pages));
  });

  test('superseding the current job', async () => {
    const { doc } = await running();
    await assertIllegal(lifecycle.superseded(A, doc.jobId));
    assert.equal((await store.getJob(A, doc.jobId))?.status, JobStatus.Running);
  });
});

describe('processed waits for every result part', () => {
  test('refused without a summary, or while pages or chunks it counts are missing; allowed once all arrive', async () => {
    const { doc, run } = await running();
    const p = parts(doc, 3, 4);
    const incomplete = (err: unknown) => err instanceof ResultIncompleteError && err.code === 'RESULT_INCOMPLETE';
    run.partApplied(p.pages);
    await assert.rejects(
      run.processed(async () => {}),
      incomplete,
    );
    run.partApplied(p.summary);
    await assert.rejects(
      run.processed(async () => {}),
      (err: unknown) => {
        assert.ok(incomplete(err));
        assert.deepEqual((err as ResultIncompleteError).details?.missingChunks, [0, 1, 2, 3]);
        return true;
      },
    );
    run.partApplied({ ...p.chunks, chunks: p.chunks.kind === 'chunks' ? p.chunks.chunks.slice(0, 2) : [] });
    await assert.rejects(
      run.processed(async () => {}),
      incomplete,
    );
    assert.equal((await mustGet(doc.id)).status, DocumentStatus.Processing);
    assert.equal((await store.getJob(A, doc.jobId))?.status, JobStatus.Running);
    run.partApplied(p.chunks);
    await run.processed(async () => {});
    assert.equal((await mustGet(doc.id)).status, DocumentStatus.Processed);
  });

  test('a page missing from the middle is found', async () => {
    const { doc, run } = await running();
    const p = parts(doc, 3, 0);
    run.partApplied({ ...p.pages, pages: p.pages.kind === 'pages' ? [p.pages.pages[0]!, p.pages.pages[2]!] : [] });
    run.partApplied(p.summary);
    await assert.rejects(
      run.processed(async () => {}),
      (err: unknown) => {
        assert.ok(err instanceof ResultIncompleteError);
        assert.deepEqual(err.details?.missingPages, [2]);
        return true;
      },
    );
  });

  test('an unknown part kind fails loudly', async () => {
    const { doc, run } = await running();
    const unknown = { kind: 'thumbnails', jobId: doc.jobId, documentId: doc.id, teamId: A.teamId } as unknown as ResultPart;
    assert.throws(() => run.partApplied(unknown), UnreachableCaseError);
  });

  test('two documents of a team finishing together: the second proposes matches after the first is processed', async () => {
    const one = await running();
    const two = await running();
    for (const r of [one, two]) r.run.partApplied(parts(r.doc, 0, 0).summary);
    const sawOther: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = one.run.processed(async () => {
      await gate;
    });
    const second = two.run.processed(async () => {
      sawOther.push((await mustGet(one.doc.id)).status);
    });
    await sleep(20);
    release();
    await Promise.all([first, second]);
    assert.deepEqual(sawOther, [DocumentStatus.Processed]);
  });
});
