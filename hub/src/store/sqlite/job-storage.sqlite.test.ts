/**
 * The SQLite store's JobStorage passes the JobStorage contract, and the in-process bus on
 * top of it passes the Bus contract, including durability across a reopened bus; a job
 * enqueued before the database is closed is consumed after it is opened again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBus } from '@quire/bus';
import { defineBusContract, defineJobStorageContract, openBusFixture } from '@quire/bus/testing';
import { SqliteStore } from './store.sqlite.ts';

async function tempStore(): Promise<{ store: SqliteStore; dir: string; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'quire-jobs-'));
  const path = join(dir, 'quire.sqlite');
  return { store: new SqliteStore({ filename: path }), dir, path };
}

defineJobStorageContract('SqliteJobStorage', async () => {
  const { store, dir } = await tempStore();
  return {
    storage: store.jobStorage,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

defineBusContract('MemoryBus on SqliteJobStorage', async ({ closeTimeoutMs }) => {
  const { store, dir } = await tempStore();
  return openBusFixture(
    () => new MemoryBus({ storage: store.jobStorage, closeTimeoutMs, pollIntervalMs: 200 }),
    async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  );
});

test('a job stored before the database closed runs after it is opened again', async (t) => {
  const { store, dir, path } = await tempStore();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const first = new MemoryBus({ storage: store.jobStorage });
  await first.start();
  assert.equal(first.capabilities.durableJobs, true);
  await first.enqueue({ id: 'j1', queue: 'document.process', payload: { n: 1 }, correlationId: 'c1', enqueuedAt: Date.now() });
  await first.close();
  await store.close();

  const reopened = new SqliteStore({ filename: path });
  const bus = new MemoryBus({ storage: reopened.jobStorage, pollIntervalMs: 50 });
  await bus.start();
  const seen = await new Promise<unknown>((resolve) => {
    void bus.consume('document.process', async (d) => {
      resolve(d.envelope.payload);
      return { status: 'succeeded' };
    });
  });
  assert.deepEqual(seen, { n: 1 });
  await bus.close();
  await reopened.close();
});
