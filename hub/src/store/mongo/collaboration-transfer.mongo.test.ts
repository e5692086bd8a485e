/**
 * `quire migrate-store` for annotations, their log, match rules and matches: an installation
 * filled through the Store API on SQLite is exported kind by kind and imported into a
 * MongoStore; the Mongo side then answers every getter as SQLite does, counts what SQLite
 * exported, and goes on from the imported state. Runs on MONGODB_URL, or the services
 * script's FerretDB on 127.0.0.1:27017.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mongoose from 'mongoose';
import { buildDocument, T0 } from '../contract/harness.ts';
import { SqliteStore } from '../sqlite/store.sqlite.ts';
import type { AnnotationRecord, MatchPassage, NewMatch, Store, TeamScope } from '../store.ts';
import type { TransferKind, TransferRecords } from '../transfer.ts';
import { MongoStore } from './store.mongo.ts';

const MONGODB_URL = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';
const A: TeamScope = { teamId: 'team-a' };
const B: TeamScope = { teamId: 'team-b' };
/** The kinds copied here, in the copying order. */
const KINDS = ['teams', 'documents', 'annotations', 'annotationOps', 'matchRules', 'matches'] as const satisfies readonly TransferKind[];
const COLLABORATION_KINDS = ['annotations', 'annotationOps', 'matchRules', 'matches'] as const;
/** Small pages, so that every kind arrives in several batches. */
const PAGE = 3;

/** What the source holds: documents, annotations and their operations, rules and matches by id. */
interface Fixture {
  documents: Record<string, { scope: TeamScope; id: string }>;
  annotations: { scope: TeamScope; documentId: string; id: string }[];
  opIds: { scope: TeamScope; documentId: string; opId: string }[];
  ruleIds: { scope: TeamScope; id: string }[];
  matchIds: { scope: TeamScope; id: string }[];
}

let dir: string;
let source: SqliteStore;
let fixture: Fixture;
/** Each kind's pages, as exported. */
type Exported = { [K in (typeof KINDS)[number]]: TransferRecords[K][][] };

let exported: Exported;
let base: mongoose.Connection;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'quire-collab-transfer-'));
  source = new SqliteStore({ filename: join(dir, 'quire.sqlite') });
  await source.start();
  fixture = await fill(source);
  exported = await exportAll(source);
  base = await mongoose
    .createConnection(MONGODB_URL, { serverSelectionTimeoutMS: 3000 })
    .asPromise()
    .catch((err: unknown) => {
      throw new Error(`No MongoDB-wire server at ${MONGODB_URL}; run \`npm run services -- start\``, { cause: err });
    });
});

after(async () => {
  await base?.close();
  await source?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A started MongoStore on a database of its own, dropped after `body`. */
async function withMongo(body: (store: MongoStore) => Promise<void>): Promise<void> {
  const connection = base.useDb(`collab-transfer-${randomUUID().slice(0, 8)}`, { useCache: false });
  const store = new MongoStore({ connection, owned: false });
  await store.start();
  try {
    await body(store);
  } finally {
    await connection.dropDatabase();
  }
}

describe('migrate-store of annotations and matches into MongoDB', () => {
  test('imported twice, the Mongo side answers every getter as SQLite does and counts the same', async () => {
    await withMongo(async (target) => {
      await importAll(target, exported);
      await importAll(target, exported);
      assert.deepEqual(await view(target, fixture), await view(source, fixture));
      for (const kind of COLLABORATION_KINDS) {
        assert.equal(await target.countRecords(kind), exported[kind].flat().length, `count of ${kind}`);
      }
      for (const kind of ['teams', 'documents'] as const) assert.equal(await target.countRecords(kind), exported[kind].flat().length);
      await assertSettled(target);
    });
  });

  test('a copy interrupted part way and run again ends as one run', async () => {
    await withMongo(async (target) => {
      // The first run stops half way through the log, before rules and matches.
      for (const kind of ['teams', 'documents', 'annotations'] as const) await importKind(target, kind, exported[kind]);
      await importKind(target, 'annotationOps', exported.annotationOps.slice(0, Math.ceil(exported.annotationOps.length / 2)));
      await importKind(target, 'matches', exported.matches.slice(0, 1));
      await importAll(target, exported);
      assert.deepEqual(await view(target, fixture), await view(source, fixture));
      for (const kind of COLLABORATION_KINDS) assert.equal(await target.countRecords(kind), exported[kind].flat().length);
      await assertSettled(target);
    });
  });

  test('the log imported out of order places every entry as in order', async () => {
    const orders = {
      'newest page first': () => [[...exported.annotationOps].reverse()],
      'the last page, then all in one batch': () => [[exported.annotationOps.at(-1)!], [exported.annotationOps.flat()]],
    };
    for (const [name, order] of Object.entries(orders)) {
      await withMongo(async (target) => {
        for (const kind of ['teams', 'documents', 'annotations'] as const) await importKind(target, kind, exported[kind]);
        for (const pages of order()) await importKind(target, 'annotationOps', pages);
        for (const kind of ['matchRules', 'matches'] as const) await importKind(target, kind, exported[kind]);
        assert.deepEqual(await view(target, fixture), await view(source, fixture), name);
        assert.equal(await target.countRecords('annotationOps'), exported.annotationOps.flat().length, name);
        await assertSettled(target);
      });
    }
  });

  test('imported again over a match resolved further, the imported resolution is in force', async () => {
    await withMongo(async (target) => {
      await importAll(target, exported);
      for (const id of ['m-dup', 'm-rel']) {
        const match = (await target.getMatch(A, id))!;
        const moved = await target.resolveMatch(A, id, {
          expectedVersion: match.version,
          status: 'rejected',
          canonicalDocumentId: null,
          by: 'u-9',
          at: T0 + 9_000,
          note: 'on the target only',
        });
        assert.equal(moved?.status, 'accepted');
      }
      await importAll(target, exported);
      assert.deepEqual(await view(target, fixture), await view(source, fixture));
      const rel = (await source.getMatch(A, 'm-rel'))!;
      const next = await target.resolveMatch(A, 'm-rel', {
        expectedVersion: rel.version,
        status: 'open',
        canonicalDocumentId: null,
        by: 'u-1',
        at: T0 + 9_001,
        note: null,
      });
      assert.equal(next?.status === 'accepted' && next.match.version, rel.version + 1, 'resolved from the imported version');
      await assertSettled(target);
    });
  });

  test('after import, operations go on from the imported state as they do on SQLite', async () => {
    // A source of its own to go on with, so that the other tests keep theirs as filled.
    const ownDir = await mkdtemp(join(tmpdir(), 'quire-collab-transfer-own-'));
    const own = new SqliteStore({ filename: join(ownDir, 'quire.sqlite') });
    await own.start();
    try {
      const f = await fill(own);
      const pages = await exportAll(own);
      await withMongo(async (target) => {
        await importAll(target, pages);
        assert.deepEqual(await view(target, f), await view(own, f));
        for (const store of [own, target] as Store[]) await goOn(store, f);
        assert.deepEqual(await view(target, f), await view(own, f));

        // Concurrent resolutions of an imported match from its imported version: one wins.
        const open = (await target.getMatch(A, 'm-dup'))!;
        assert.equal(open.status, 'open');
        const races = await Promise.all(
          ['confirmed', 'rejected', 'confirmed', 'rejected'].map((status, i) =>
            target.resolveMatch(A, 'm-dup', {
              expectedVersion: open.version,
              status: status as 'confirmed' | 'rejected',
              canonicalDocumentId: null,
              by: `u-${i}`,
              at: T0 + 10_000,
              note: null,
            }),
          ),
        );
        const accepted = races.filter((r) => r?.status === 'accepted');
        assert.equal(accepted.length, 1, 'exactly one resolution wins');
        const winner = accepted[0]!.status === 'accepted' ? accepted[0]!.match : undefined;
        assert.equal(winner?.version, open.version + 1);
        for (const r of races) if (r?.status === 'conflict') assert.deepEqual(r.current, winner);
        assert.deepEqual(await target.getMatch(A, 'm-dup'), winner);
      });
    } finally {
      await own.close();
      await rm(ownDir, { recursive: true, force: true });
    }
  });
});

/** Every page of `kind`, `PAGE` records at most each. */
async function exportPages<K extends TransferKind>(from: SqliteStore, kind: K): Promise<TransferRecords[K][][]> {
  const pages: TransferRecords[K][][] = [];
  let after: string | null = null;
  do {
    const page: { records: TransferRecords[K][]; next: string | null } = await from.exportRecords(kind, { after, limit: PAGE });
    if (page.records.length > 0) pages.push(page.records);
    after = page.next;
  } while (after !== null);
  return pages;
}

async function exportAll(from: SqliteStore): Promise<Exported> {
  return {
    teams: await exportPages(from, 'teams'),
    documents: await exportPages(from, 'documents'),
    annotations: await exportPages(from, 'annotations'),
    annotationOps: await exportPages(from, 'annotationOps'),
    matchRules: await exportPages(from, 'matchRules'),
    matches: await exportPages(from, 'matches'),
  };
}

async function importAll(target: MongoStore, pages: Exported): Promise<void> {
  for (const kind of KINDS) await importKind(target, kind, pages[kind]);
}

async function importKind<K extends (typeof KINDS)[number]>(target: MongoStore, kind: K, pages: TransferRecords[K][][]): Promise<void> {
  for (const records of pages) await target.importRecords(kind, records);
}

/** The same operations on either store, from the imported state. */
async function goOn(store: Store, f: Fixture): Promise<void> {
  const x = f.documents.x!.id;
  const first = f.opIds[0]!;
  const last = await store.lastAnnotationSeq(A, x);
  const ann1 = (await store.getAnnotation(A, x, 'ann-1'))!;
  const stale = await store.commitAnnotationOp(A, {
    opId: 'go-stale',
    actorId: 'u-2',
    at: T0 + 5_000,
    op: { type: 'edit' },
    expectedVersion: ann1.version - 1,
    next: { ...ann1, version: ann1.version, comment: 'stale' },
  });
  assert.deepEqual(stale, { status: 'conflict', current: ann1 });
  const edited = await store.commitAnnotationOp(A, {
    opId: 'go-edit',
    actorId: 'u-2',
    at: T0 + 5_001,
    op: { type: 'edit' },
    expectedVersion: ann1.version,
    next: { ...ann1, version: ann1.version + 1, comment: 'after the move', updatedBy: 'u-2', updatedAt: T0 + 5_001 },
  });
  assert.equal(edited.status, 'accepted');
  assert.equal(edited.status === 'accepted' && edited.record.seq, last + 1, 'the log goes on at the last seq + 1');
  const replayed = await store.commitAnnotationOp(A, {
    opId: first.opId,
    actorId: 'u-1',
    at: T0 + 5_002,
    op: { type: 'create' },
    expectedVersion: null,
    next: annotation(x, 'ann-new', T0 + 5_002),
  });
  assert.equal(replayed.status, 'duplicate', 'an imported opId is known');
  const tombstone = (await store.getAnnotation(A, x, 'ann-2'))!;
  const onTombstone = await store.commitAnnotationOp(A, {
    opId: 'go-recreate',
    actorId: 'u-1',
    at: T0 + 5_003,
    op: { type: 'create' },
    expectedVersion: null,
    next: annotation(x, 'ann-2', T0 + 5_003),
  });
  assert.deepEqual(onTombstone, { status: 'conflict', current: tombstone });
  const created = await store.commitAnnotationOp(A, {
    opId: 'go-create',
    actorId: 'u-1',
    at: T0 + 5_004,
    op: { type: 'create' },
    expectedVersion: null,
    next: annotation(x, 'ann-new', T0 + 5_004),
  });
  assert.equal(created.status === 'accepted' && created.record.seq, last + 2);

  const y = f.documents.y!.id;
  const z = f.documents.z!.id;
  // Proposed again the other way round: the imported match, refreshed while open.
  const again = await store.proposeMatch(A, { ...newMatch('m-other-id', 'duplicate', y, x, 0.97), passages: [passage(0.97)] }, T0 + 6_000);
  assert.equal(again.match.id, 'm-dup');
  assert.equal(again.created, false);
  const confirmedAgain = await store.proposeMatch(A, newMatch('m-yet-another', 'related', z, x, 0.5), T0 + 6_001);
  assert.equal(confirmedAgain.match.id, 'm-rel');
  assert.equal(confirmedAgain.match.status, 'confirmed', 'a resolved match is left alone');

  const confirmed = (await store.getMatch(A, 'm-rel'))!;
  const reopened = await store.resolveMatch(A, 'm-rel', {
    expectedVersion: confirmed.version,
    status: 'open',
    canonicalDocumentId: null,
    by: 'u-1',
    at: T0 + 7_000,
    note: 'look again',
  });
  assert.equal(reopened?.status === 'accepted' && reopened.match.version, confirmed.version + 1);
  const late = await store.resolveMatch(A, 'm-rel', {
    expectedVersion: confirmed.version,
    status: 'rejected',
    canonicalDocumentId: null,
    by: 'u-2',
    at: T0 + 7_001,
    note: null,
  });
  assert.equal(late?.status, 'conflict', 'the imported version is taken once');
  const rejected = (await store.getMatch(A, 'm-rule'))!;
  const confirmedRule = await store.resolveMatch(A, 'm-rule', {
    expectedVersion: rejected.version,
    status: 'confirmed',
    canonicalDocumentId: y,
    by: 'u-1',
    at: T0 + 7_002,
    note: null,
  });
  assert.equal(confirmedRule?.status, 'accepted');
}

/** Every getter of the collaboration part, for every record the fixture made. */
async function view(store: Store, f: Fixture): Promise<unknown> {
  const documents = Object.values(f.documents);
  const scopes = [A, B];
  return {
    annotations: await Promise.all(f.annotations.map((a) => store.getAnnotation(a.scope, a.documentId, a.id))),
    lists: await Promise.all(
      documents.map(async ({ scope, id }) => ({
        live: await store.listAnnotations(scope, id),
        all: await store.listAnnotations(scope, id, { includeDeleted: true }),
        ops: await store.listAnnotationOps(scope, id, { afterSeq: 0, limit: 1000 }),
        opsPage: await store.listAnnotationOps(scope, id, { afterSeq: 2, limit: 2 }),
        lastSeq: await store.lastAnnotationSeq(scope, id),
        snapshot: await store.annotationSnapshot(scope, id),
        otherTeam: await store.listAnnotations(scope === A ? B : A, id, { includeDeleted: true }),
      })),
    ),
    ops: await Promise.all(f.opIds.map((o) => store.getAnnotationOp(o.scope, o.documentId, o.opId))),
    rules: await Promise.all(f.ruleIds.map((r) => store.getMatchRule(r.scope, r.id))),
    matches: await Promise.all(f.matchIds.map((m) => store.getMatch(m.scope, m.id))),
    teams: await Promise.all(
      scopes.map(async (scope) => ({
        rules: await store.listMatchRules(scope),
        matches: await store.listMatches(scope, { limit: 100 }),
        firstTwo: await store.listMatches(scope, { limit: 2 }),
        byStatus: await Promise.all(
          (['open', 'confirmed', 'rejected'] as const).map((status) => store.listMatches(scope, { status, limit: 100 })),
        ),
        byDocument: await Promise.all(documents.map((d) => store.listMatches(scope, { documentId: d.id, limit: 100 }))),
        confirmed: await store.listConfirmedMatches(scope),
        activity: await Promise.all([0, T0 + 45, T0 + 3_000, T0 + 7_001].map((since) => store.teamActivity(scope, { since }))),
      })),
    ),
  };
}

/** No entry of the log or of the match ledger is left pending by an import. */
async function assertSettled(target: MongoStore): Promise<void> {
  assert.equal(await target.connection.collection('annotation_ops').countDocuments({ pending: true }), 0);
  assert.equal(await target.connection.collection('collab_match_resolutions').countDocuments({ pending: true }), 0);
}

function annotation(documentId: string, id: string, at: number, teamId = A.teamId): AnnotationRecord {
  return {
    id,
    teamId,
    documentId,
    version: 1,
    anchor: { kind: 'box', page: 1, box: { x: 10, y: 20, w: 30, h: 40 } },
    label: 'invoice-number',
    comment: `about ${id}`,
    replies: [],
    resolved: false,
    deleted: false,
    createdBy: 'u-1',
    createdAt: at,
    updatedBy: 'u-1',
    updatedAt: at,
  };
}

function passage(similarity: number): MatchPassage {
  return { chunkA: 0, pageA: 1, textA: 'Invoice 42', chunkB: 3, pageB: 2, textB: 'Invoice no. 42', similarity };
}

function newMatch(
  id: string,
  kind: NewMatch['kind'],
  documentAId: string,
  documentBId: string,
  score: number,
  ruleId: string | null = null,
): NewMatch {
  return { id, kind, documentAId, documentBId, ruleId, score, passages: [passage(score)], fields: [] };
}

/**
 * Two teams; in team A three documents with annotations created, edited, resolved, replied
 * to and deleted, two rules and four matches (open, confirmed, rejected, reopened); in team B
 * one document with an annotation and an open match.
 */
async function fill(store: SqliteStore): Promise<Fixture> {
  await store.ensureTeam({ id: A.teamId, name: 'Team A' });
  await store.ensureTeam({ id: B.teamId, name: 'Team B' });
  const documents: Fixture['documents'] = {};
  for (const [name, scope] of [
    ['x', A],
    ['y', A],
    ['z', A],
    ['w', B],
    ['v', B],
  ] as const) {
    documents[name] = { scope, id: (await store.insertDocument(scope, buildDocument())).id };
  }
  const [x, y, w] = [documents.x!.id, documents.y!.id, documents.w!.id];
  const annotations: Fixture['annotations'] = [];
  const opIds: Fixture['opIds'] = [];
  let n = 0;
  /** Commits the next state of an annotation from its current version. */
  const commit = async (scope: TeamScope, next: AnnotationRecord, type: string): Promise<AnnotationRecord> => {
    const current = await store.getAnnotation(scope, next.documentId, next.id);
    const opId = `op-${++n}`;
    const result = await store.commitAnnotationOp(scope, {
      opId,
      actorId: next.updatedBy,
      at: next.updatedAt,
      op: { type, annotationId: next.id },
      expectedVersion: current?.version ?? null,
      next,
    });
    assert.equal(result.status, 'accepted');
    opIds.push({ scope, documentId: next.documentId, opId });
    if (!current) annotations.push({ scope, documentId: next.documentId, id: next.id });
    return next;
  };
  const edit = (a: AnnotationRecord, at: number, change: Partial<AnnotationRecord>): AnnotationRecord => ({
    ...a,
    ...change,
    version: a.version + 1,
    updatedBy: 'u-2',
    updatedAt: at,
  });

  let ann1 = await commit(A, annotation(x, 'ann-1', T0 + 10), 'create');
  const ann2 = await commit(A, annotation(x, 'ann-2', T0 + 20), 'create');
  ann1 = await commit(A, edit(ann1, T0 + 30, { comment: 'edited', label: null }), 'edit');
  let ann3 = await commit(
    A,
    { ...annotation(x, 'ann-3', T0 + 40), anchor: { kind: 'highlight', chunkOrdinal: 2, start: 5, end: 17 } },
    'create',
  );
  ann1 = await commit(A, edit(ann1, T0 + 50, { replies: [{ id: 'op-reply-1', authorId: 'u-2', text: 'agreed', at: T0 + 50 }] }), 'reply');
  await commit(A, edit(ann2, T0 + 60, { deleted: true }), 'delete');
  ann3 = await commit(A, edit(ann3, T0 + 70, { resolved: true }), 'resolve');
  await commit(
    A,
    edit(ann1, T0 + 80, { replies: [...ann1.replies, { id: 'op-reply-2', authorId: null, text: 'done', at: T0 + 80 }] }),
    'reply',
  );
  await commit(A, annotation(y, 'ann-4', T0 + 90), 'create');
  // Created in the same millisecond as ann-1's creation, on another document.
  await commit(A, annotation(y, 'ann-5', T0 + 10), 'create');
  await commit(B, annotation(w, 'ann-b', T0 + 15, B.teamId), 'create');
  await commit(A, edit(ann3, T0 + 100, { comment: 'reopened thread', resolved: false }), 'edit');

  const rule = { typeA: 'invoice', typeB: 'order', enabled: true };
  await store.insertMatchRule(A, {
    id: 'r-1',
    name: 'invoice to order',
    ...rule,
    conditions: [
      { fieldA: 'total', fieldB: 'amount', comparison: 'amount_within', tolerance: 0.01 },
      { fieldA: 'number', fieldB: 'ref', comparison: 'equals', tolerance: null },
    ],
  });
  await store.insertMatchRule(A, { id: 'r-2', name: 'disabled', ...rule, enabled: false, conditions: [] });
  const ruleIds = [
    { scope: A, id: 'r-1' },
    { scope: A, id: 'r-2' },
    { scope: B, id: 'r-1' },
  ];

  const z = documents.z!.id;
  const v = documents.v!.id;
  await store.proposeMatch(A, newMatch('m-dup', 'duplicate', x, y, 0.96), T0 + 1_000);
  await store.proposeMatch(A, newMatch('m-rel', 'related', x, z, 0.71), T0 + 1_001);
  await store.proposeMatch(
    A,
    {
      ...newMatch('m-rule', 'rule', z, y, 1, 'r-1'),
      fields: [{ fieldA: 'total', fieldB: 'amount', valueA: '100.00', valueB: '100.50', comparison: 'amount_within' }],
    },
    T0 + 1_002,
  );
  await store.proposeMatch(A, newMatch('m-reopened', 'related', y, z, 0.66), T0 + 1_002);
  await store.proposeMatch(B, newMatch('m-b', 'duplicate', v, w, 0.9), T0 + 1_003);
  // Proposed again the other way round while open: the match keeps its id and orientation.
  const again = await store.proposeMatch(A, { ...newMatch('m-dup-again', 'duplicate', y, x, 0.98), passages: [passage(0.98)] }, T0 + 1_500);
  assert.equal(again.match.id, 'm-dup');
  const resolve = async (id: string, expectedVersion: number, status: 'open' | 'confirmed' | 'rejected', at: number) => {
    const r = await store.resolveMatch(A, id, {
      expectedVersion,
      status,
      canonicalDocumentId: status === 'confirmed' ? x : null,
      by: 'u-1',
      at,
      note: `${status} at ${at}`,
    });
    assert.equal(r?.status, 'accepted');
  };
  await resolve('m-rel', 1, 'confirmed', T0 + 2_000);
  await resolve('m-rule', 1, 'rejected', T0 + 2_001);
  await resolve('m-reopened', 1, 'confirmed', T0 + 2_002);
  await resolve('m-reopened', 2, 'open', T0 + 4_000);
  const matchIds = ['m-dup', 'm-rel', 'm-rule', 'm-reopened', 'm-dup-again'].map((id) => ({ scope: A, id }));
  matchIds.push({ scope: B, id: 'm-b' });
  return { documents, annotations, opIds, ruleIds, matchIds };
}
