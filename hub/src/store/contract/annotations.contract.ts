/** Store contract, AnnotationRepository: live annotations and their operation log. */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { AnnotationOpRecord, AnnotationRecord } from '../store.ts';
import { buildDocument, T0 } from './harness.ts';
import type { StoreTest } from './harness.ts';

export function annotationsContract(it: StoreTest): void {
  describe('annotations', () => {
    const annotation = (documentId: string, overrides: Partial<AnnotationRecord> = {}): AnnotationRecord => ({
      id: 'ann-1',
      teamId: 'ignored',
      documentId,
      version: 1,
      anchor: { kind: 'highlight', chunkOrdinal: 0, start: 4, end: 12 },
      label: 'invoice',
      comment: 'check the total',
      replies: [],
      resolved: false,
      deleted: false,
      createdBy: 'u-1',
      createdAt: T0,
      updatedBy: 'u-1',
      updatedAt: T0,
      ...overrides,
    });

    it('commits operations in one gapless log per document, refusing stale versions and repeating known ones', async ({ store, a, b }) => {
      const doc = await store.insertDocument(a, buildDocument());
      const create = { opId: 'op-1', actorId: 'u-1', at: T0, op: { type: 'create' }, expectedVersion: null, next: annotation(doc.id) };
      const created = await store.commitAnnotationOp(a, create);
      assert.equal(created.status, 'accepted');
      assert.equal(created.status === 'accepted' && created.record.seq, 1);
      assert.deepEqual(await store.commitAnnotationOp(a, create), {
        status: 'duplicate',
        record: (created as { record: AnnotationOpRecord }).record,
      });
      const again = await store.commitAnnotationOp(a, { ...create, opId: 'op-2' });
      assert.equal(again.status, 'conflict');
      assert.equal(again.status === 'conflict' && again.current?.version, 1);

      const edit = {
        opId: 'op-3',
        actorId: 'u-2',
        at: T0 + 1,
        op: { type: 'edit' },
        expectedVersion: 1,
        next: annotation(doc.id, { version: 2, comment: 'total is fine', updatedBy: 'u-2', updatedAt: T0 + 1 }),
      };
      const edited = await store.commitAnnotationOp(a, edit);
      assert.equal(edited.status === 'accepted' && edited.record.seq, 2);
      const stale = await store.commitAnnotationOp(a, {
        ...edit,
        opId: 'op-4',
        next: annotation(doc.id, { version: 2, comment: 'stale' }),
      });
      assert.deepEqual(stale, {
        status: 'conflict',
        current: {
          ...annotation(doc.id, { version: 2, comment: 'total is fine', updatedBy: 'u-2', updatedAt: T0 + 1 }),
          teamId: a.teamId,
        },
      });

      assert.deepEqual(
        (await store.listAnnotationOps(a, doc.id, { afterSeq: 0, limit: 10 })).map((o) => [o.seq, o.opId]),
        [
          [1, 'op-1'],
          [2, 'op-3'],
        ],
      );
      assert.deepEqual(
        (await store.listAnnotationOps(a, doc.id, { afterSeq: 1, limit: 10 })).map((o) => o.seq),
        [2],
      );
      assert.equal(await store.lastAnnotationSeq(a, doc.id), 2);
      assert.equal((await store.getAnnotation(a, doc.id, 'ann-1'))?.comment, 'total is fine');
      const snapshot = await store.annotationSnapshot(a, doc.id);
      assert.deepEqual([snapshot.seq, snapshot.annotations.map((x) => [x.id, x.version])], [2, [['ann-1', 2]]]);

      await store.commitAnnotationOp(a, {
        opId: 'op-5',
        actorId: 'u-1',
        at: T0 + 2,
        op: { type: 'delete' },
        expectedVersion: 2,
        next: annotation(doc.id, { version: 3, deleted: true }),
      });
      assert.deepEqual(await store.listAnnotations(a, doc.id), []);
      assert.equal((await store.listAnnotations(a, doc.id, { includeDeleted: true }))[0]?.deleted, true);
      assert.deepEqual(await store.annotationSnapshot(a, doc.id), { seq: 3, annotations: [] });
      assert.equal((await store.getAnnotationOp(a, doc.id, 'op-3'))?.seq, 2);
      assert.equal(await store.getAnnotationOp(a, doc.id, 'op-4'), undefined, 'a refused operation is not in the log');
      assert.equal(await store.getAnnotationOp(b, doc.id, 'op-3'), undefined);

      // Another team sees none of it, and its own log starts at 1.
      assert.equal(await store.getAnnotation(b, doc.id, 'ann-1'), undefined);
      assert.deepEqual(await store.listAnnotationOps(b, doc.id, { afterSeq: 0, limit: 10 }), []);
      assert.equal(await store.lastAnnotationSeq(b, doc.id), 0);

      await store.deleteDocument(a, doc.id);
      assert.equal(await store.lastAnnotationSeq(a, doc.id), 0, 'deleting the document deletes its annotations and log');
      assert.equal(await store.getAnnotation(a, doc.id, 'ann-1'), undefined);
    });

    const CONCURRENT = 20;
    const range = (n: number) => Array.from({ length: n }, (_, i) => i);

    it('gives concurrent commits to different annotations of a document distinct, gap-free sequence numbers', async ({ store, a }) => {
      const doc = await store.insertDocument(a, buildDocument());
      const results = await Promise.all(
        range(CONCURRENT).map((i) =>
          store.commitAnnotationOp(a, {
            opId: `op-${i}`,
            actorId: 'u-1',
            at: T0,
            op: { type: 'create' },
            expectedVersion: null,
            next: annotation(doc.id, { id: `ann-${i}` }),
          }),
        ),
      );
      assert.deepEqual(
        results.map((r) => r.status),
        range(CONCURRENT).map(() => 'accepted'),
      );
      const seqs = results.map((r) => (r.status === 'accepted' ? r.record.seq : 0)).sort((x, y) => x - y);
      assert.deepEqual(
        seqs,
        range(CONCURRENT).map((i) => i + 1),
      );
      const log = await store.listAnnotationOps(a, doc.id, { afterSeq: 0, limit: 100 });
      assert.deepEqual(
        log.map((o) => o.seq),
        range(CONCURRENT).map((i) => i + 1),
      );
      for (const r of results) {
        if (r.status === 'accepted') assert.equal(log[r.record.seq - 1]?.opId, r.record.opId, 'each answer names its place in the log');
      }
      assert.equal(await store.lastAnnotationSeq(a, doc.id), CONCURRENT);
      assert.equal((await store.listAnnotations(a, doc.id)).length, CONCURRENT);
      const snapshot = await store.annotationSnapshot(a, doc.id);
      assert.deepEqual([snapshot.seq, snapshot.annotations.length], [CONCURRENT, CONCURRENT]);
    });

    it('accepts exactly one of concurrent commits from one expected version of an annotation', async ({ store, a }) => {
      const doc = await store.insertDocument(a, buildDocument());
      const created = await store.commitAnnotationOp(a, {
        opId: 'op-create',
        actorId: 'u-1',
        at: T0,
        op: { type: 'create' },
        expectedVersion: null,
        next: annotation(doc.id),
      });
      assert.equal(created.status, 'accepted');
      const results = await Promise.all(
        range(CONCURRENT).map((i) =>
          store.commitAnnotationOp(a, {
            opId: `op-edit-${i}`,
            actorId: `u-${i}`,
            at: T0 + 1,
            op: { type: 'edit' },
            expectedVersion: 1,
            next: annotation(doc.id, { version: 2, comment: `edit ${i}`, updatedBy: `u-${i}`, updatedAt: T0 + 1 }),
          }),
        ),
      );
      const accepted = results.filter((r) => r.status === 'accepted');
      const conflicts = results.filter((r) => r.status === 'conflict');
      assert.equal(accepted.length, 1, 'exactly one commit wins');
      assert.equal(conflicts.length, CONCURRENT - 1, 'every other one conflicts');
      const winner = accepted[0]!.record.annotation;
      for (const c of conflicts) assert.deepEqual(c.current, winner, "a conflict answers the winner's state");
      assert.deepEqual(await store.getAnnotation(a, doc.id, 'ann-1'), winner);
      assert.deepEqual(await store.listAnnotations(a, doc.id), [winner]);
      assert.deepEqual(
        (await store.listAnnotationOps(a, doc.id, { afterSeq: 0, limit: 100 })).map((o) => [o.seq, o.opId]),
        [
          [1, 'op-create'],
          [2, accepted[0]!.record.opId],
        ],
      );
    });

    it('accepts one of concurrent commits of the same operation id and answers the rest as duplicates', async ({ store, a }) => {
      const doc = await store.insertDocument(a, buildDocument());
      const commit = {
        opId: 'op-same',
        actorId: 'u-1',
        at: T0,
        op: { type: 'create' },
        expectedVersion: null,
        next: annotation(doc.id),
      };
      const results = await Promise.all(range(CONCURRENT).map(() => store.commitAnnotationOp(a, commit)));
      const accepted = results.filter((r) => r.status === 'accepted');
      const duplicates = results.filter((r) => r.status === 'duplicate');
      assert.equal(accepted.length, 1, 'exactly one commit is accepted');
      assert.equal(duplicates.length, CONCURRENT - 1, 'every other one is a duplicate');
      for (const d of duplicates) assert.deepEqual(d.record, accepted[0]!.record);
      assert.equal(await store.lastAnnotationSeq(a, doc.id), 1);
    });
  });
}
