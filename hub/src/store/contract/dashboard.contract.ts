/** Store contract, DashboardQueries: the dashboard figures. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe } from 'node:test';
import { type Classification, DocumentStatus } from '@quire/kernel';
import type { TeamScope } from '../store.ts';
import { buildDocument, buildClassification, T0 } from './harness.ts';
import type { StoreTest } from './harness.ts';

export function dashboardContract(it: StoreTest): void {
  describe('dashboard counts', () => {
    it('documentCounts counts by status (every status), type and sensitivity in force, most first', async ({ store, a, b }) => {
      assert.deepEqual(await store.documentCounts(a), {
        total: 0,
        byStatus: { queued: 0, processing: 0, processed: 0, failed: 0 },
        byType: [],
        bySensitivity: [],
      });
      const add = async (status: DocumentStatus, classification: Classification | null) => {
        const doc = await store.insertDocument(a, buildDocument());
        return store.updateDocument(a, doc.id, { status, classification });
      };
      await add(DocumentStatus.Processed, buildClassification('invoice', 'INTERNAL'));
      await add(DocumentStatus.Processed, buildClassification('invoice', 'PUBLIC'));
      await add(DocumentStatus.Processed, buildClassification('letter', 'INTERNAL'));
      const labelled = await add(DocumentStatus.Failed, buildClassification('contract', 'PUBLIC'));
      await add(DocumentStatus.Queued, null);
      await add(DocumentStatus.Queued, null);
      await add(DocumentStatus.Processing, null);
      // A person's label counts instead of the classifier's.
      await store.updateDocument(a, labelled.id, {
        labelOverrides: { type: { label: 'letter', setBy: null, setAt: T0 }, sensitivity: { label: 'INTERNAL', setBy: null, setAt: T0 } },
      });
      await store.insertDocument(b, buildDocument());

      assert.deepEqual(await store.documentCounts(a), {
        total: 7,
        byStatus: { queued: 2, processing: 1, processed: 3, failed: 1 },
        byType: [
          { key: 'invoice', count: 2 },
          { key: 'letter', count: 2 },
        ],
        bySensitivity: [
          { key: 'INTERNAL', count: 3 },
          { key: 'PUBLIC', count: 1 },
        ],
      });
      assert.deepEqual((await store.documentCounts(b)).byStatus, { queued: 1, processing: 0, processed: 0, failed: 0 });
    });

    it('finishedJobs counts succeeded and failed jobs per interval of a half-open range, oldest first', async ({ store, a, b }) => {
      const minute = 60_000;
      const finish = async (scope: TeamScope, status: 'succeeded' | 'failed' | 'running' | 'queued', at: number | null) => {
        const doc = await store.insertDocument(scope, buildDocument());
        await store.updateJob(scope, doc.jobId, { status, finishedAt: at });
      };
      await finish(a, 'succeeded', T0);
      await finish(a, 'succeeded', T0 + minute - 1);
      await finish(a, 'failed', T0 + 30_000);
      await finish(a, 'succeeded', T0 + 3 * minute + 5);
      await finish(a, 'failed', T0 + 3 * minute);
      // Outside the range, unfinished, or another team's: not counted.
      await finish(a, 'succeeded', T0 - 1);
      await finish(a, 'succeeded', T0 + 5 * minute);
      await finish(a, 'running', null);
      await finish(a, 'queued', null);
      await finish(b, 'succeeded', T0 + 10);

      assert.deepEqual(await store.finishedJobs(a, { from: T0, to: T0 + 5 * minute, bucketMs: minute }), [
        { at: T0, succeeded: 2, failed: 1 },
        { at: T0 + 3 * minute, succeeded: 1, failed: 1 },
      ]);
      assert.deepEqual(await store.finishedJobs(a, { from: T0, to: T0 + 5 * minute, bucketMs: 5 * minute }), [
        { at: T0, succeeded: 3, failed: 2 },
      ]);
      assert.deepEqual(await store.finishedJobs(b, { from: T0, to: T0 + minute, bucketMs: minute }), [{ at: T0, succeeded: 1, failed: 0 }]);
      assert.deepEqual(await store.finishedJobs(a, { from: T0 + 10 * minute, to: T0 + 20 * minute, bucketMs: minute }), []);
    });

    it('teamActivity counts recent live annotations, open matches and recent resolutions', async ({ store, a, b }) => {
      const [x, y, z] = [
        await store.insertDocument(a, buildDocument()),
        await store.insertDocument(a, buildDocument()),
        await store.insertDocument(a, buildDocument()),
      ];
      const annotate = (id: string, createdAt: number, deleted = false) =>
        store.commitAnnotationOp(a, {
          opId: `op-${id}`,
          actorId: null,
          at: createdAt,
          op: { type: 'create' },
          expectedVersion: null,
          next: {
            id,
            teamId: a.teamId,
            documentId: x.id,
            version: 1,
            anchor: { kind: 'box', page: 1, box: { x: 0, y: 0, w: 1, h: 1 } },
            label: null,
            comment: null,
            replies: [],
            resolved: false,
            deleted,
            createdBy: null,
            createdAt,
            updatedBy: null,
            updatedAt: createdAt,
          },
        });
      await annotate('old', T0 - 1);
      await annotate('recent', T0);
      await annotate('gone', T0 + 5, true);
      await annotate('newer', T0 + 10);
      const propose = (id: string, documentBId: string) =>
        store.proposeMatch(
          a,
          { id, kind: 'related', documentAId: x.id, documentBId, ruleId: null, score: 0.9, passages: [], fields: [] },
          T0,
        );
      await propose('m-open', y.id);
      await propose('m-resolved', z.id);
      await propose('m-resolved-long-ago', randomUUID());
      await store.resolveMatch(a, 'm-resolved', {
        expectedVersion: 1,
        status: 'confirmed',
        canonicalDocumentId: null,
        by: null,
        at: T0 + 1,
        note: null,
      });
      await store.resolveMatch(a, 'm-resolved-long-ago', {
        expectedVersion: 1,
        status: 'rejected',
        canonicalDocumentId: null,
        by: null,
        at: T0 - 1,
        note: null,
      });

      assert.deepEqual(await store.teamActivity(a, { since: T0 }), { annotationsCreated: 2, matchesOpen: 1, matchesResolved: 1 });
      // Reopening takes a match back from the resolved.
      await store.resolveMatch(a, 'm-resolved', {
        expectedVersion: 2,
        status: 'open',
        canonicalDocumentId: null,
        by: null,
        at: T0 + 2,
        note: null,
      });
      assert.deepEqual(await store.teamActivity(a, { since: T0 }), { annotationsCreated: 2, matchesOpen: 2, matchesResolved: 0 });
      assert.deepEqual(await store.teamActivity(b, { since: 0 }), { annotationsCreated: 0, matchesOpen: 0, matchesResolved: 0 });
    });
  });
}
