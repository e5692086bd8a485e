/**
 * MongoCollaborationRepository when a writer stopped after its log entry and before the view:
 * readers must answer from the log. Runs on MONGODB_URL, or the services script's FerretDB.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import mongoose from 'mongoose';
import type { AnnotationRecord } from '../store.ts';
import { MongoCollaborationRepository } from './collaboration.mongo.ts';

const MONGODB_URL = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';
const T0 = Date.UTC(2031, 0, 15, 9, 30);

test('readers take the log over a row that a stopped writer left behind', async () => {
  const connection = await mongoose
    .createConnection(MONGODB_URL, { dbName: `collab-${randomUUID().slice(0, 8)}`, serverSelectionTimeoutMS: 3000 })
    .asPromise();
  try {
    const repo = new MongoCollaborationRepository(connection);
    await repo.start();
    const scope = { teamId: 'team-a' };
    const annotation: AnnotationRecord = {
      id: 'ann-1',
      teamId: scope.teamId,
      documentId: 'doc-1',
      version: 1,
      anchor: { kind: 'box', page: 1, box: { x: 0, y: 0, w: 1, h: 1 } },
      label: null,
      comment: 'first',
      replies: [],
      resolved: false,
      deleted: false,
      createdBy: null,
      createdAt: T0,
      updatedBy: null,
      updatedAt: T0,
    };
    const created = await repo.commitAnnotationOp(scope, {
      opId: 'op-1',
      actorId: null,
      at: T0,
      op: {},
      expectedVersion: null,
      next: annotation,
    });
    assert.equal(created.status, 'accepted');

    // A second writer appended its entry (deleting the annotation) and stopped before the row.
    const deleted = { ...annotation, version: 2, deleted: true, updatedAt: T0 + 1 };
    await connection.collection('annotation_ops').insertOne({
      _id: randomUUID() as never,
      teamId: scope.teamId,
      documentId: 'doc-1',
      seq: 2,
      opId: 'op-2',
      actorId: null,
      at: T0 + 1,
      op: {},
      annotationId: 'ann-1',
      fromVersion: 1,
      firstSeq: 1,
      annotation: deleted,
      pending: true,
    });
    assert.equal((await connection.collection('annotations').findOne({ id: 'ann-1' }))?.version, 1, 'the row is behind the log');

    assert.deepEqual(await repo.getAnnotation(scope, 'doc-1', 'ann-1'), deleted);
    assert.deepEqual(await repo.listAnnotations(scope, 'doc-1'), []);
    assert.deepEqual(await repo.listAnnotations(scope, 'doc-1', { includeDeleted: true }), [deleted]);
    assert.deepEqual(await repo.annotationSnapshot(scope, 'doc-1'), { seq: 2, annotations: [] });
    assert.equal((await repo.teamActivity(scope, { since: T0 })).annotationsCreated, 0);
    const stale = await repo.commitAnnotationOp(scope, {
      opId: 'op-3',
      actorId: null,
      at: T0 + 2,
      op: {},
      expectedVersion: 1,
      next: { ...annotation, version: 2 },
    });
    assert.deepEqual(stale, { status: 'conflict', current: deleted });

    // The next writer of the annotation brings the row up to the log.
    const next = await repo.commitAnnotationOp(scope, {
      opId: 'op-4',
      actorId: null,
      at: T0 + 3,
      op: {},
      expectedVersion: 2,
      next: { ...deleted, version: 3, updatedAt: T0 + 3 },
    });
    assert.equal(next.status === 'accepted' && next.record.seq, 3);
    assert.equal((await connection.collection('annotations').findOne({ id: 'ann-1' }))?.version, 3);
  } finally {
    await connection.dropDatabase();
    await connection.close();
  }
});
