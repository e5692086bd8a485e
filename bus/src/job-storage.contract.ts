/**
 * The behaviour every {@link JobStorage} honours, exactly as its JSDoc states; MemoryBus's
 * leases, retries and dead letters rest on it. Run it against each implementation (the
 * Map-based one here, the hub's SQLite one) with `defineJobStorageContract(name, make)`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JobStorage } from './bus.ts';

/** A fresh, empty storage for one test, and how to dispose of it. */
export interface JobStorageFixture {
  storage: JobStorage;
  cleanup(): Promise<void> | void;
}

/** Registers the JobStorage contract for one implementation. */
export function defineJobStorageContract(name: string, make: () => Promise<JobStorageFixture> | JobStorageFixture): void {
  function test(title: string, body: (s: JobStorage) => void): void {
    it(title, async () => {
      const fx = await make();
      try {
        body(fx.storage);
      } finally {
        await fx.cleanup();
      }
    });
  }

  const insert = (s: JobStorage, id: string, runAt: number, queue = 'q', envelope = `{"id":"${id}"}`): boolean =>
    s.insertJob({ id, queue, envelope, runAt });

  describe(`JobStorage contract: ${name}`, () => {
    test('insert ignores an id already waiting or leased', (s) => {
      assert.equal(insert(s, 'a', 0), true);
      assert.equal(insert(s, 'a', 0, 'q', '{"other":1}'), false);
      assert.equal(s.claimJob('q', 10, 100)?.envelope, '{"id":"a"}');
      assert.equal(insert(s, 'a', 0), false, 'inserted over a leased job');
      assert.equal(s.countPending('q', 10), 0);
    });

    test('claims increment attempts, return the stored envelope and honour runAt and live leases', (s) => {
      insert(s, 'a', 50);
      assert.equal(s.claimJob('q', 49, 100), undefined, 'claimed before runAt');
      assert.deepEqual(s.claimJob('q', 50, 100), { id: 'a', queue: 'q', envelope: '{"id":"a"}', attempts: 1 });
      assert.equal(s.claimJob('q', 99, 200), undefined, 'claimed under a live lease');
      assert.equal(s.claimJob('q', 100, 200)?.attempts, 2, 'an expired lease makes the job claimable');
      assert.equal(s.claimJob('other', 1000, 2000), undefined, 'claimed from another queue');
    });

    test('claims the smallest runAt first, ties in insertion order', (s) => {
      insert(s, 'late', 50);
      insert(s, 'b', 10);
      insert(s, 'c', 10);
      insert(s, 'elsewhere', 0, 'r');
      const ids = [1, 2, 3, 4].map(() => s.claimJob('q', 100, 200)?.id);
      assert.deepEqual(ids, ['b', 'c', 'late', undefined]);
    });

    test('a claim is fenced by its attempt number: a lost claim can change nothing', (s) => {
      insert(s, 'a', 0);
      s.claimJob('q', 0, 100);
      assert.equal(s.claimJob('q', 100, 200)?.attempts, 2);
      assert.equal(s.extendLease('a', 1, 999), false);
      assert.equal(s.releaseJob('a', 1, 0), false);
      assert.equal(s.completeJob('a', 1), false);
      assert.equal(s.deadLetterJob('a', 1, 'X', 'x'), false);
      assert.equal(s.nextRunAt('q'), 200, 'a refused call moved the lease');
      assert.equal(s.extendLease('a', 2, 400), true);
      assert.equal(s.nextRunAt('q'), 400);
      assert.equal(s.claimJob('q', 300, 500), undefined, 'the extended lease was not honoured');
    });

    test('an expired but unclaimed lease is still held by its claim', (s) => {
      insert(s, 'a', 0);
      s.claimJob('q', 0, 100);
      assert.equal(s.extendLease('a', 1, 300), true);
      assert.equal(s.completeJob('a', 1), true);
      assert.equal(s.nextRunAt('q'), undefined);
    });

    test('release keeps attempts, clears the lease and delays the job until runAt', (s) => {
      insert(s, 'a', 0);
      s.claimJob('q', 0, 100);
      assert.equal(s.releaseJob('a', 1, 500, 'FLAKY: try again'), true);
      assert.equal(s.completeJob('a', 1), false, 'completed by a claim that was released');
      assert.equal(s.extendLease('a', 1, 900), false, 'extended by a claim that was released');
      assert.equal(s.countPending('q', 10), 1, 'a job waiting out its backoff is pending');
      assert.equal(s.nextRunAt('q'), 500);
      assert.equal(s.claimJob('q', 499, 600), undefined);
      assert.equal(s.claimJob('q', 500, 600)?.attempts, 2);
    });

    test('complete removes the job for good', (s) => {
      insert(s, 'a', 0);
      s.claimJob('q', 0, 100);
      assert.equal(s.completeJob('a', 1), true);
      assert.equal(s.completeJob('a', 1), false);
      assert.equal(s.claimJob('q', 1000, 2000), undefined);
      assert.equal(s.countPending('q', 1000), 0);
      assert.equal(insert(s, 'a', 0), true, 'a finished id can be enqueued again');
    });

    test('dead-lettering removes the job; the id can be enqueued again', (s) => {
      insert(s, 'a', 0);
      s.claimJob('q', 0, 100);
      assert.equal(s.deadLetterJob('a', 1, 'BAD_SCAN', 'unreadable'), true);
      assert.equal(s.deadLetterJob('a', 1, 'BAD_SCAN', 'unreadable'), false);
      assert.equal(s.claimJob('q', 1000, 2000), undefined);
      assert.equal(s.nextRunAt('q'), undefined);
      assert.equal(insert(s, 'a', 0), true);
      assert.equal(s.claimJob('q', 1000, 2000)?.attempts, 1, 'a re-enqueued job starts its attempts afresh');
    });

    test('countPending counts jobs without a live lease; nextRunAt includes lease expiries', (s) => {
      insert(s, 'waiting', 30);
      insert(s, 'leased', 0);
      insert(s, 'elsewhere', 0, 'r');
      assert.equal(s.claimJob('q', 10, 80)?.id, 'leased');
      assert.equal(s.countPending('q', 10), 1);
      assert.equal(s.countPending('q', 80), 2, 'an expired lease counts as pending');
      assert.equal(s.nextRunAt('q'), 30);
      assert.equal(s.claimJob('q', 30, 300)?.id, 'waiting');
      assert.equal(s.nextRunAt('q'), 80);
      assert.equal(s.countPending('r', 0), 1);
      assert.equal(s.nextRunAt('empty'), undefined);
    });
  });
}
