/**
 * ResultsService over a real SqliteStore, search index, blob store and the in-process bus:
 * reports of processor nodes are applied once and in full, refused when they break the
 * protocol, ignored when stale, and a missing input gives the job a new delivery.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { MemoryBus, type Delivery } from '@quire/bus';
import { Queues, resultObjectKey, type ProcessJob, type ProcessResult, type ResultPart } from '@quire/kernel';
import { DEFAULT_DOCUMENT_TYPES, DEFAULT_SENSITIVITIES } from '@quire/processors';
import { SqliteSearchIndex } from '@quire/search/embedded';
import { FsBlobStore } from '../blobs/blob-store.fs.ts';
import { buildDocument } from '../store/contract.ts';
import { SqliteStore } from '../store/sqlite/store.sqlite.ts';
import { JobStatus, type TeamScope } from '../store/store.ts';
import { DocumentLifecycle } from './document-lifecycle.ts';
import { IndexerService } from './indexer.service.ts';
import { JobDispatcher } from './job-dispatcher.ts';
import { LiveEvents } from './live-events.ts';
import { MatchService } from './match.service.ts';
import { ResultsService } from './results.service.ts';

const A: TeamScope = { teamId: 'team-a' };
const MODEL = { modelId: 'test/model', dimension: 3 };
const NODE = 'node-host:7';
const silent = pino({ level: 'silent' });

let dir: string;
let store: SqliteStore;
let index: SqliteSearchIndex;
let blobs: FsBlobStore;
let bus: MemoryBus;
let events: LiveEvents;
let lifecycle: DocumentLifecycle;
let results: ResultsService;
const enqueued: ProcessJob[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'quire-results-'));
  store = new SqliteStore({ filename: join(dir, 'quire.sqlite') });
  await store.start();
  await store.ensureTeam({ id: A.teamId, name: A.teamId });
  index = new SqliteSearchIndex({ filename: join(dir, 'quire.sqlite') });
  await index.start();
  await index.ensureModel(MODEL);
  blobs = new FsBlobStore({ dir: join(dir, 'blobs') });
  await blobs.start();
  bus = new MemoryBus({ storage: store.jobStorage });
  await bus.start();
  // What the dispatcher puts on the bus, as a node would take it.
  await bus.consume<ProcessJob>(Queues.DocumentProcess.name, async (d) => {
    enqueued.push(d.envelope.payload);
    return { status: 'succeeded' };
  });
  events = new LiveEvents({ bus, logger: silent });
  await events.start();
  lifecycle = new DocumentLifecycle({ store, events, nodeId: 'hub-host:1', logger: silent });
  const jobs = new JobDispatcher({
    bus,
    blobs,
    classifierSettings: async () => ({
      types: [...DEFAULT_DOCUMENT_TYPES],
      sensitivities: [...DEFAULT_SENSITIVITIES],
      typeExamples: [],
      sensitivityExamples: [],
    }),
    objectTtlMs: 60_000,
  });
  const matches = new MatchService({ store, index, events, typeNames: async () => DEFAULT_DOCUMENT_TYPES.map((t) => t.name) });
  results = new ResultsService({
    store,
    bus,
    indexer: new IndexerService({ store, index, model: MODEL }),
    lifecycle,
    jobs,
    matches,
    logger: silent,
  });
});

after(async () => {
  await events.close();
  await bus.close();
  await index.close();
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** A stored, queued document with its original in the blob store. */
async function queuedDocument(options: { blob?: boolean } = {}) {
  const input = buildDocument({ mimeType: 'text/plain', filename: 'notes.txt' });
  if (options.blob !== false) await blobs.put(input.blobKey, Readable.from([Buffer.from('Minutes of the meeting.')]));
  return store.insertDocument(A, input);
}

function parts(doc: { id: string; jobId: string }): ResultPart[] {
  const ids = { jobId: doc.jobId, documentId: doc.id, teamId: A.teamId };
  return [
    {
      kind: 'pages',
      ...ids,
      pages: [{ page: 1, width: 100, height: 100, text: 'Minutes of the meeting.', source: 'plain', confidence: 100, words: [] }],
    },
    {
      kind: 'chunks',
      ...ids,
      chunks: [{ ordinal: 0, page: 1, text: 'Minutes of the meeting.', start: 0, end: 23, boxes: [], vector: [0.6, 0.8, 0] }],
    },
    {
      kind: 'summary',
      ...ids,
      pageCount: 1,
      chunkCount: 1,
      classification: {
        type: { label: 'letter', confidence: 0.7 },
        sensitivity: { label: 'INTERNAL', confidence: 0.6 },
        method: 'zero-shot',
      },
      fields: {},
      model: MODEL,
      timings: { detect: 1 },
    },
  ];
}

/** Stores `lines` as a node would and answers its `succeeded` report. */
type Succeeded = Extract<ProcessResult, { status: 'succeeded' }>;

async function storedResult(doc: { id: string; jobId: string }, lines: string[], attempt = 1): Promise<Succeeded> {
  const bytes = Buffer.from(lines.map((l) => `${l}\n`).join(''));
  const resultKey = resultObjectKey(doc.jobId, attempt);
  await bus.putObject(resultKey, bytes);
  return {
    status: 'succeeded',
    jobId: doc.jobId,
    documentId: doc.id,
    teamId: A.teamId,
    attempt,
    node: NODE,
    resultKey,
    parts: lines.length,
    bytes: bytes.byteLength,
  };
}

function deliver(result: ProcessResult) {
  const delivery: Delivery<ProcessResult> = {
    envelope: { id: randomUUID(), queue: Queues.DocumentResult.name, payload: result, correlationId: result.jobId, enqueuedAt: Date.now() },
    attempt: 1,
    signal: new AbortController().signal,
    heartbeat: () => {},
  };
  return results.handle(delivery);
}

describe('ResultsService', () => {
  test('applies a result once and in full: pages, chunks, classification, then processed', async () => {
    const doc = await queuedDocument();
    const report = await storedResult(
      doc,
      parts(doc).map((p) => JSON.stringify(p)),
    );
    assert.deepEqual(await deliver(report), { status: 'succeeded' });
    const done = await store.getDocument(A, doc.id);
    assert.equal(done?.status, 'processed');
    assert.equal(done?.classification?.type.label, 'letter');
    assert.equal((await store.getPages(A, doc.id)).length, 1);
    assert.equal((await store.getJob(A, doc.jobId))?.status, JobStatus.Succeeded);
    assert.equal(await bus.getObject(report.resultKey), null, 'the result object is removed once applied');

    // The same report again (redelivered after a crash) changes nothing.
    await bus.putObject(
      report.resultKey,
      Buffer.from(
        parts(doc)
          .map((p) => `${JSON.stringify(p)}\n`)
          .join(''),
      ),
    );
    assert.equal((await deliver(report)).status, 'skipped');
    assert.equal((await store.getDocument(A, doc.id))?.processedAt, done?.processedAt);
  });

  test('a result that breaks the protocol fails the document with RESULT_INVALID', async () => {
    for (const corrupt of [
      (lines: string[]) => lines.map((l, i) => (i === 1 ? l.replace('"chunks"', '"vectors"') : l)),
      (lines: string[]) => [lines[0]!, '{not json', lines[2]!],
      (lines: string[]) => lines.map((l) => l.replace(/"jobId":"[^"]+"/, `"jobId":"${randomUUID()}"`)),
    ]) {
      const doc = await queuedDocument();
      const report = await storedResult(doc, corrupt(parts(doc).map((p) => JSON.stringify(p))));
      assert.deepEqual(await deliver(report), { status: 'succeeded' });
      const failed = await store.getDocument(A, doc.id);
      assert.equal(failed?.status, 'failed');
      assert.equal(failed?.error?.code, 'RESULT_INVALID');
      assert.equal((await store.getPages(A, doc.id)).length, 0, 'nothing of it was applied');
    }
    const doc = await queuedDocument();
    const report = await storedResult(
      doc,
      parts(doc).map((p) => JSON.stringify(p)),
    );
    assert.deepEqual(await deliver({ ...report, parts: 4 }), { status: 'succeeded' });
    assert.equal((await store.getDocument(A, doc.id))?.error?.code, 'RESULT_INVALID', 'a part count that disagrees');
  });

  test('a failure report queues the document again or fails it, and a stale one is ignored', async () => {
    const doc = await queuedDocument();
    const failure = (attempt: number, final: boolean): ProcessResult => ({
      status: 'failed',
      jobId: doc.jobId,
      documentId: doc.id,
      teamId: A.teamId,
      attempt,
      node: NODE,
      code: 'WORKER_CRASHED',
      message: 'the pipeline process died',
      stage: 'ocr',
      final,
    });
    await deliver(failure(1, false));
    assert.equal((await store.getDocument(A, doc.id))?.status, 'queued');
    assert.equal((await store.getJob(A, doc.jobId))?.attempts, 1);
    // Attempt 2 started meanwhile (the lifecycle recorded it): a late report of attempt 1 is stale.
    const current = (await store.getDocument(A, doc.id))!;
    await lifecycle.started(A, current, { jobId: doc.jobId, attempt: 2, node: NODE });
    assert.equal((await deliver(failure(1, false))).status, 'skipped');
    assert.equal((await store.getDocument(A, doc.id))?.status, 'processing');
    await deliver(failure(2, true));
    const failed = await store.getDocument(A, doc.id);
    assert.equal(failed?.status, 'failed');
    assert.deepEqual(failed?.error, { code: 'WORKER_CRASHED', message: 'the pipeline process died', stage: 'ocr' });
  });

  test('a missing input gives the job a new delivery; without the original, the document fails', async () => {
    const doc = await queuedDocument();
    const missing = (d: { id: string; jobId: string }, what: 'original' | 'classifier' = 'classifier'): ProcessResult => ({
      status: 'input-missing',
      jobId: d.jobId,
      documentId: d.id,
      teamId: A.teamId,
      attempt: 1,
      node: NODE,
      missing: what,
    });
    const before = enqueued.length;
    await deliver(missing(doc));
    for (let i = 0; i < 100 && enqueued.length === before; i++) await new Promise((r) => setTimeout(r, 10));
    const again = enqueued.at(-1)!;
    assert.equal(enqueued.length, before + 1);
    assert.equal(again.jobId, doc.jobId, 'the same job');
    assert.ok(await bus.getObject(again.classifierKey), 'with its classifier settings on the bus again');
    assert.equal((await store.getDocument(A, doc.id))?.status, 'queued');

    const orphan = await queuedDocument({ blob: false });
    await deliver(missing(orphan, 'original'));
    const failed = await store.getDocument(A, orphan.id);
    assert.equal(failed?.status, 'failed');
    assert.equal(failed?.error?.code, 'BLOB_MISSING');
  });

  test('a report of a job that is no longer current, or of a deleted document, changes nothing', async () => {
    const doc = await queuedDocument();
    const older = { id: doc.id, jobId: randomUUID() };
    const stale = await storedResult(
      older,
      parts(older).map((p) => JSON.stringify(p)),
    );
    assert.equal((await deliver(stale)).status, 'skipped');
    assert.equal((await store.getDocument(A, doc.id))?.status, 'queued');
    assert.equal((await store.getPages(A, doc.id)).length, 0);

    const gone = await queuedDocument();
    const report = await storedResult(
      gone,
      parts(gone).map((p) => JSON.stringify(p)),
    );
    await store.deleteDocument(A, gone.id);
    assert.equal((await deliver(report)).status, 'skipped');
    assert.equal(await bus.getObject(report.resultKey), null, 'its result object is removed');
  });
});
