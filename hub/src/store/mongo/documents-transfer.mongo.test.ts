/**
 * Copying documents, jobs, pages and chunks from a SQLite store into MongoDB (`quire
 * migrate-store`): the records arrive as the Store port reads them on SQLite, the Store port
 * reads the same on MongoDB, and the hub's own operations go on from there. MONGODB_URL, or
 * the services script's FerretDB on 127.0.0.1:27017; each test gets a database of its own,
 * dropped after.
 */
import assert from 'node:assert/strict';
import { after, describe, it, mock } from 'node:test';
import { type Classification, DocumentStatus, type Fields } from '@quire/kernel';
import { type DocumentFilter, DocumentOrder, type DocumentRecord, type LabelOverrides, type Store, type TeamScope } from '../store.ts';
import type { SqliteStore } from '../sqlite/store.sqlite.ts';
import type { MongoStore } from './store.mongo.ts';
import { allRecords, exportPages, importPages, storeFixtures, type TransferPages } from './testing.ts';

/** The kinds this test copies, in the copying order. */
const KINDS = ['teams', 'documents', 'jobs', 'pages', 'chunks'] as const;
type Kind = (typeof KINDS)[number];
type Pages = TransferPages<Kind>;

const fixtures = storeFixtures();
after(() => fixtures.close());
const openSqlite = () => fixtures.openSqlite();
const openMongo = () => fixtures.openMongo('transfer');

const A: TeamScope = { teamId: 'team-a' };
const B: TeamScope = { teamId: 'team-b' };
const TEAMS = [A, B];
const MINUTE = 60_000;
/** The time the installation is filled at. */
const T0 = Date.UTC(2024, 2, 1, 9);

function classification(type: string, sensitivity: string): Classification {
  return { type: { label: type, confidence: 0.8 }, sensitivity: { label: sensitivity, confidence: 0.6 }, method: 'zero-shot' };
}

function override(label: string, setBy: string | null): NonNullable<LabelOverrides['type']> {
  return { label, setBy, setAt: T0 + 7 * MINUTE };
}

const FIELDS: Fields = {
  number: { value: 'INV-7', page: 1, box: { x: 1, y: 2, w: 30, h: 4 }, confidence: 0.9 },
  total: { value: '12.50', page: 2, box: null, confidence: 0.75 },
};

/** A document to fill in: its team, name, size, and what processing made of it. */
interface Spec {
  team: TeamScope;
  id: string;
  filename: string;
  size: number;
  /** Minutes after T0 it is created at; several share one. */
  at: number;
  status: DocumentStatus;
  classification?: Classification;
  labelOverrides?: LabelOverrides;
  vector?: number[];
  pages?: number;
  retries?: number;
}

const SPECS: Spec[] = [
  {
    team: A,
    id: 'd01',
    filename: 'apple.pdf',
    size: 100,
    at: 0,
    status: 'processed',
    classification: classification('invoice', 'internal'),
    vector: [0.5, -0.25, 1e-7],
    pages: 2,
  },
  {
    team: A,
    id: 'd02',
    filename: 'Banana.pdf',
    size: 300,
    at: 0,
    status: 'processed',
    classification: classification('receipt', 'public'),
    labelOverrides: { type: override('invoice', 'ann') },
    vector: [0.1, 0.2, 0.3],
    pages: 1,
  },
  {
    team: A,
    id: 'd03',
    filename: 'banana.PDF',
    size: 300,
    at: 1,
    status: 'processed',
    classification: classification('contract', 'confidential'),
    labelOverrides: { sensitivity: override('public', null) },
    vector: [1 / 3, 2 / 3, -1],
    pages: 3,
  },
  { team: A, id: 'd04', filename: 'Ärger.png', size: 50, at: 1, status: 'failed', retries: 1 },
  { team: A, id: 'd05', filename: '_notes.txt', size: 7, at: 2, status: 'queued' },
  { team: A, id: 'd06', filename: 'Zeta.pdf', size: 100, at: 3, status: 'processing', pages: 1 },
  {
    team: A,
    id: 'd07',
    filename: 'contract-B.pdf',
    size: 9_000_000,
    at: 3,
    status: 'processed',
    classification: classification('contract', 'internal'),
    labelOverrides: { type: override('receipt', 'bob'), sensitivity: override('confidential', 'bob') },
    vector: [0, 0, 0],
    pages: 2,
    retries: 2,
  },
  { team: A, id: 'd08', filename: 'contract-a.pdf', size: 12, at: 4, status: 'failed' },
  {
    team: A,
    id: 'd09',
    filename: 'zeta.pdf',
    size: 100,
    at: 4,
    status: 'processed',
    classification: classification('invoice', 'public'),
    pages: 1,
  },
  {
    team: B,
    id: 'd10',
    filename: 'apple.pdf',
    size: 100,
    at: 0,
    status: 'processed',
    classification: classification('invoice', 'internal'),
    labelOverrides: { type: override('contract', 'cat') },
    vector: [2, 3, 4],
    pages: 2,
  },
  { team: B, id: 'd11', filename: 'B.pdf', size: 40, at: 2, status: 'queued' },
  { team: B, id: 'd12', filename: 'c.pdf', size: 41, at: 5, status: 'failed', retries: 1 },
  {
    team: B,
    id: 'd13',
    filename: 'd.pdf',
    size: 42,
    at: 6,
    status: 'processed',
    classification: classification('receipt', 'public'),
    pages: 1,
  },
];

/**
 * A SQLite installation of two teams with documents in every status, labelled by the
 * classifier, by people or both, with vectors, pages, chunks and several jobs each. The clock
 * is mocked while it is filled, so documents share creation times and finish at known ones.
 */
async function fill(store: SqliteStore): Promise<void> {
  mock.timers.enable({ apis: ['Date'], now: T0 });
  try {
    await store.ensureTeam({ id: A.teamId, name: 'Team A' });
    await store.ensureTeam({ id: B.teamId, name: 'Team B' });
    for (const spec of SPECS) {
      mock.timers.setTime(T0 + spec.at * MINUTE);
      await fillDocument(store, spec);
    }
  } finally {
    mock.timers.reset();
  }
}

async function fillDocument(store: SqliteStore, spec: Spec): Promise<void> {
  const scope = spec.team;
  const created = T0 + spec.at * MINUTE;
  await store.insertDocument(scope, {
    id: spec.id,
    filename: spec.filename,
    mimeType: spec.filename.endsWith('.png') ? 'image/png' : 'application/pdf',
    size: spec.size,
    sha256: spec.id.padEnd(64, 'f'),
    blobKey: `blobs/${spec.id}`,
    jobId: `${spec.id}-j0`,
  });
  // Earlier jobs failed; the last is the document's.
  let jobId = `${spec.id}-j0`;
  for (let r = 1; r <= (spec.retries ?? 0); r++) {
    await store.updateJob(scope, jobId, {
      status: 'failed',
      attempts: 3,
      stage: 'ocr',
      error: { code: 'OCR_TIMEOUT', message: `try ${r} timed out`, stage: 'ocr' },
      finishedAt: created + r * 1000,
    });
    jobId = `${spec.id}-j${r}`;
    await store.insertJob(scope, { id: jobId, documentId: spec.id });
    await store.updateDocument(scope, spec.id, { jobId });
  }
  const finishedAt = created + 30_000 + spec.size;
  const pages = spec.pages ?? 0;
  for (let p = 1; p <= pages; p++) {
    await store.upsertPages(scope, spec.id, [
      {
        page: p,
        width: 612,
        height: 792.5,
        text: `page ${p} of ${spec.filename}`,
        source: p === 1 ? 'text-layer' : 'ocr',
        confidence: 87.25,
        words: [
          { text: 'page', box: { x: 10, y: 20, w: 30.5, h: 8 }, confidence: 99 },
          { text: String(p), box: { x: 45, y: 20, w: 6, h: 8 }, confidence: 61.5 },
        ],
      },
    ]);
    await store.upsertChunks(scope, spec.id, [
      { ordinal: 2 * (p - 1), page: p, text: `page ${p}`, start: 0, end: 6, boxes: [{ x: 10, y: 20, w: 41, h: 8 }] },
      { ordinal: 2 * (p - 1) + 1, page: p, text: `of ${spec.filename}`, start: 7, end: 10 + spec.filename.length, boxes: [] },
    ]);
  }
  switch (spec.status) {
    case DocumentStatus.Queued:
      break;
    case DocumentStatus.Processing:
      await store.updateDocument(scope, spec.id, { status: 'processing', pageCount: pages });
      await store.updateJob(scope, jobId, { status: 'running', attempts: 1, stage: 'ocr', done: 1, total: 4, percent: 37.5, etaMs: 4200 });
      break;
    case DocumentStatus.Failed: {
      const error = { code: 'UNREADABLE', message: `${spec.filename} could not be read`, stage: 'extract' };
      await store.updateJob(scope, jobId, { status: 'failed', attempts: 3, stage: 'extract', error, finishedAt });
      await store.updateDocument(scope, spec.id, { status: 'failed', error, processedAt: finishedAt });
      break;
    }
    case DocumentStatus.Processed:
      await store.updateJob(scope, jobId, {
        status: 'succeeded',
        attempts: 1,
        stage: 'done',
        done: 4,
        total: 4,
        percent: 100,
        etaMs: 0,
        finishedAt,
      });
      await store.updateDocument(scope, spec.id, {
        status: 'processed',
        pageCount: pages,
        chunkCount: 2 * pages,
        classification: spec.classification ?? null,
        fields: spec.id === 'd01' || spec.id === 'd10' ? FIELDS : {},
        modelId: 'model-x',
        processedAt: finishedAt,
        ...(spec.labelOverrides ? { labelOverrides: spec.labelOverrides } : {}),
      });
      break;
  }
  if (spec.vector) await store.setDocumentVector(scope, spec.id, Float32Array.from(spec.vector));
}

/** Every record of each kind, in pages of `limit`. */
const exportAll = (source: SqliteStore, limit: number): Promise<Pages> => exportPages(source, KINDS, limit);

/** Imports the pages of `kinds`, every kind this test copies by default. */
const importAll = (target: MongoStore, pages: Pages, kinds: readonly Kind[] = KINDS): Promise<void> => importPages(target, pages, kinds);

const FILTERS: DocumentFilter[] = [
  {},
  { statuses: ['processed'] },
  { statuses: ['queued', 'processing', 'failed'] },
  { types: ['invoice'] },
  { types: ['receipt', 'contract'] },
  { sensitivities: ['public'] },
  { types: ['invoice'], sensitivities: ['internal', 'public'], statuses: ['processed'] },
  { createdFrom: T0 + MINUTE, createdTo: T0 + 4 * MINUTE },
  { createdFrom: T0 + 3 * MINUTE },
];

/** Every page of a document list, three at a time. */
async function walk(store: Store, scope: TeamScope, orderBy: DocumentOrder, filter: DocumentFilter): Promise<unknown[]> {
  const seen: unknown[] = [];
  let after: string | null = null;
  do {
    const page = await store.listDocuments(scope, { filter, orderBy, first: 3, after });
    seen.push(page);
    after = page.hasNextPage ? page.endCursor : null;
  } while (after !== null);
  return seen;
}

/** What the Store port answers about the documents, jobs, pages and chunks in `pages`. */
async function view(store: Store, pages: Pages): Promise<unknown> {
  const documents = allRecords(pages, 'documents');
  const perTeam = async <T>(read: (scope: TeamScope) => Promise<T>) => Promise.all(TEAMS.map(read));
  return {
    documents: await Promise.all(documents.map((d) => store.getDocument({ teamId: d.teamId }, d.id))),
    otherTeam: await Promise.all(documents.map((d) => store.getDocument(d.teamId === A.teamId ? B : A, d.id))),
    bySha256: await Promise.all(documents.map((d) => store.findDocumentBySha256({ teamId: d.teamId }, d.sha256))),
    lists: await perTeam((scope) =>
      Promise.all(Object.values(DocumentOrder).flatMap((order) => FILTERS.map((filter) => walk(store, scope, order, filter)))),
    ),
    counts: await perTeam((scope) => Promise.all(FILTERS.map((filter) => store.countDocuments(scope, filter)))),
    dashboard: await perTeam((scope) => store.documentCounts(scope)),
    finished: await perTeam((scope) =>
      Promise.all([
        store.finishedJobs(scope, { from: T0, to: T0 + 10 * MINUTE, bucketMs: MINUTE }),
        store.finishedJobs(scope, { from: T0 + 30_000, to: T0 + 3 * MINUTE, bucketMs: 7_000 }),
      ]),
    ),
    vectors: await perTeam((scope) =>
      Promise.all([
        store.listDocumentVectors(scope),
        store.listDocumentVectors(scope, { labelledOnly: true }),
        store.listDocumentVectors(scope, { documentIds: ['d01', 'd03', 'd05', 'd10'] }),
        store.listDocumentVectors(scope, { documentIds: ['d02', 'd10'], labelledOnly: true }),
      ]),
    ),
    jobs: await Promise.all(allRecords(pages, 'jobs').map((j) => store.getJob({ teamId: j.teamId }, j.id))),
    pages: await Promise.all(documents.map((d) => store.getPages({ teamId: d.teamId }, d.id))),
    chunks: await Promise.all(documents.map((d) => store.getChunks({ teamId: d.teamId }, d.id))),
    unfinished: await store.listUnfinishedDocuments(),
  };
}

async function copied(): Promise<{ source: SqliteStore; target: MongoStore; pages: Pages }> {
  const source = await openSqlite();
  await fill(source);
  const pages = await exportAll(source, 4);
  const target = await openMongo();
  return { source, target, pages };
}

async function assertCounts(target: MongoStore, pages: Pages): Promise<void> {
  for (const kind of KINDS) assert.equal(await target.countRecords(kind), allRecords(pages, kind).length, kind);
}

/** A document as read, without the time of its last change. */
function unstamped(doc: DocumentRecord | undefined): Omit<DocumentRecord, 'updatedAt'> | undefined {
  if (!doc) return undefined;
  const { updatedAt: _updatedAt, ...rest } = doc;
  return rest;
}

describe('MongoDocumentRepository transfer', () => {
  it('imports every document, job, page and chunk as the SQLite store reads it, idempotently', async () => {
    const { source, target, pages } = await copied();
    // Paged: several batches of each kind.
    for (const kind of ['documents', 'jobs', 'pages', 'chunks'] as const) assert.ok(pages[kind].length > 2, kind);
    await importAll(target, pages);
    await importAll(target, pages);

    const expected = await view(source, pages);
    assert.deepEqual(await view(target, pages), expected);
    await assertCounts(target, pages);
    // The state that moved with the records, spelled out.
    const d07 = await target.getDocument(A, 'd07');
    assert.equal(d07?.jobId, 'd07-j2');
    assert.equal(d07?.labelOverrides.type?.setBy, 'bob');
    assert.deepEqual((await target.getDocument(A, 'd04'))?.error?.code, 'UNREADABLE');
    assert.equal((await target.getJob(A, 'd07-j0'))?.error?.message, 'try 1 timed out');
    assert.deepEqual((await target.listDocumentVectors(A, { documentIds: ['d03'] }))[0]?.vector, Float32Array.from([1 / 3, 2 / 3, -1]));
    assert.deepEqual(
      (await target.listDocuments(A, { orderBy: DocumentOrder.Name, first: 20 })).edges.map((e) => e.node.filename),
      ['_notes.txt', 'apple.pdf', 'Banana.pdf', 'banana.PDF', 'contract-a.pdf', 'contract-B.pdf', 'Zeta.pdf', 'zeta.pdf', 'Ärger.png'],
    );
    assert.deepEqual(
      (await target.listUnfinishedDocuments()).map((u) => u.documentId),
      ['d05', 'd11', 'd06'],
    );
  });

  it('ends identical when an interrupted copy is run again', async () => {
    const { source, target, pages } = await copied();
    // Cut off after the first batch of documents, then after the first of chunks.
    await importAll(target, pages, ['teams']);
    await target.importRecords('documents', pages.documents[0]!);
    await importAll(target, pages, ['teams', 'documents', 'jobs', 'pages']);
    await target.importRecords('chunks', pages.chunks[0]!);
    await importAll(target, pages);

    assert.deepEqual(await view(target, pages), await view(source, pages));
    await assertCounts(target, pages);
  });

  it('replaces what changed since: a copy run again writes the records as they are', async () => {
    const { source, target, pages } = await copied();
    await importAll(target, pages);
    await target.updateDocument(A, 'd01', { status: 'failed', labelOverrides: {} });
    await target.setDocumentVector(A, 'd05', Float32Array.from([9, 9, 9]));
    await target.updateJob(A, 'd05-j0', { status: 'running' });
    await target.upsertPages(A, 'd01', [{ ...allRecords(pages, 'pages')[0]!, text: 'changed' }]);
    await importAll(target, pages);

    assert.deepEqual(await view(target, pages), await view(source, pages));
    // A document without a vector in the source has none after it is copied again.
    assert.deepEqual(await target.listDocumentVectors(A, { documentIds: ['d05'] }), []);
  });

  it('leaves out pages and chunks of a document the store lacks, and does not count them', async () => {
    const source = await openSqlite();
    await fill(source);
    // Left behind on SQLite by a worker that wrote after the document was deleted.
    await source.upsertPages(A, 'gone', [{ page: 1, width: 1, height: 1, text: '', source: 'plain', confidence: 100, words: [] }]);
    await source.upsertChunks(A, 'gone', [{ ordinal: 0, page: 1, text: '', start: 0, end: 0, boxes: [] }]);
    const pages = await exportAll(source, 5);
    const target = await openMongo();
    await importAll(target, pages);

    assert.deepEqual(await target.getPages(A, 'gone'), []);
    assert.deepEqual(await target.getChunks(A, 'gone'), []);
    assert.equal(await target.countRecords('pages'), allRecords(pages, 'pages').length - 1);
    assert.equal(await target.countRecords('chunks'), allRecords(pages, 'chunks').length - 1);
    // Nor one a delete that stopped midway left in MongoDB.
    await target.connection.collection('chunks').insertOne({ _id: 'left' as never, teamId: B.teamId, documentId: 'gone', ordinal: 0 });
    assert.equal(await target.countRecords('chunks'), allRecords(pages, 'chunks').length - 1);
  });

  it('goes on with the hub operations on imported records', async () => {
    const { source, target, pages } = await copied();
    await importAll(target, pages);

    // Update: the same patch reads the same on both, its time aside.
    const patch = {
      status: 'processed',
      labelOverrides: { type: override('receipt', 'dan') },
      classification: classification('invoice', 'public'),
    } as const;
    for (const store of [source, target]) await store.updateDocument(A, 'd04', patch);
    assert.deepEqual(unstamped(await target.getDocument(A, 'd04')), unstamped(await source.getDocument(A, 'd04')));
    assert.deepEqual(await target.documentCounts(A), await source.documentCounts(A));
    assert.deepEqual(await target.countDocuments(A, { types: ['receipt'] }), await source.countDocuments(A, { types: ['receipt'] }));
    assert.deepEqual(
      await target.listDocumentVectors(A, { labelledOnly: true }),
      await source.listDocumentVectors(A, { labelledOnly: true }),
    );

    // Delete: the document goes with its jobs, pages and chunks.
    for (const store of [source, target]) assert.equal(await store.deleteDocument(A, 'd07'), true);
    assert.equal(await target.getDocument(A, 'd07'), undefined);
    assert.equal(await target.getJob(A, 'd07-j1'), undefined);
    assert.deepEqual(await target.getPages(A, 'd07'), []);
    assert.deepEqual(await target.getChunks(A, 'd07'), []);
    assert.equal(await target.deleteDocument(A, 'd07'), false);
    for (const kind of KINDS) assert.equal(await target.countRecords(kind), await exportCount(source, kind), kind);

    // A new job for an imported document, and a new document beside the imported ones.
    const job = await target.insertJob(A, { id: 'd05-j9', documentId: 'd05' });
    assert.equal(job.status, 'queued');
    await target.updateDocument(A, 'd05', { jobId: job.id });
    assert.deepEqual(
      (await target.listUnfinishedDocuments()).find((u) => u.documentId === 'd05'),
      {
        teamId: A.teamId,
        documentId: 'd05',
        jobId: 'd05-j9',
      },
    );
    await assert.rejects(target.insertJob(A, { id: 'd01-j0', documentId: 'd01' }), { code: 'JOB_EXISTS' });
    // The imported sha256 is taken in its team.
    const sha256 = (await target.getDocument(A, 'd01'))!.sha256;
    const fresh = { filename: 'new.pdf', mimeType: 'application/pdf', size: 1, blobKey: 'blobs/new' };
    await assert.rejects(target.insertDocument(A, { ...fresh, id: 'n1', sha256, jobId: 'n1-j0' }), { code: 'DOCUMENT_EXISTS' });
    const inserted = await target.insertDocument(A, { ...fresh, id: 'n2', sha256: 'e'.repeat(64), jobId: 'n2-j0' });
    assert.equal((await target.listDocuments(A, { first: 1 })).edges[0]?.node.id, inserted.id);
    await target.setDocumentVector(A, 'n2', Float32Array.from([1, 2, 3]));
    assert.deepEqual((await target.listDocumentVectors(A, { documentIds: ['n2'] }))[0]?.vector, Float32Array.from([1, 2, 3]));
  });
});

/** How many records of `kind` the SQLite store exports. */
async function exportCount(source: SqliteStore, kind: Kind): Promise<number> {
  return (await source.exportRecords(kind, { after: null, limit: 1_000_000 })).records.length;
}
