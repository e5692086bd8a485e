import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildDocument, buildPage, defineStoreContract } from '../contract.ts';
import { defineLabelSetContract } from '../contract/label-sets.contract.ts';
import { migrations } from './migrations.ts';
import { SqliteStore } from './store.sqlite.ts';

defineStoreContract('SqliteStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'quire-store-'));
  const store = new SqliteStore({ filename: join(dir, 'quire.sqlite') });
  await store.start();
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

defineLabelSetContract('SqliteStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'quire-store-'));
  const store = new SqliteStore({ filename: join(dir, 'quire.sqlite') });
  await store.start();
  return {
    repo: store,
    addTeam: async (scope) => void (await store.ensureTeam({ id: scope.teamId, name: scope.teamId })),
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteStore', () => {
  const dirs: string[] = [];
  const open: SqliteStore[] = [];
  after(async () => {
    for (const store of open) await store.close();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  async function tempFile(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'quire-store-'));
    dirs.push(dir);
    // A folder that does not exist yet: the store creates it.
    return join(dir, 'nested', 'quire.sqlite');
  }

  async function openStore(filename: string): Promise<SqliteStore> {
    const store = new SqliteStore({ filename });
    open.push(store);
    await store.start();
    return store;
  }

  type MigrationRow = { version: number; name: string; applied_at: number };
  const migrationRows = (store: SqliteStore) =>
    store.db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all() as MigrationRow[];

  it('records schema version 1 in schema_migrations', async () => {
    const store = await openStore(await tempFile());
    const rows = migrationRows(store);
    assert.deepEqual(
      rows.map((r) => [r.version, r.name]),
      migrations.map((m) => [m.version, m.name]),
    );
    assert.equal(rows[0]?.version, 1);
    assert.ok(Number.isInteger(rows[0]?.applied_at) && rows[0]!.applied_at > 0);
  });

  it('runs in WAL mode with synchronous=FULL and foreign keys on', async () => {
    const filename = await tempFile();
    const store = await openStore(filename);
    assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(store.db.pragma('synchronous', { simple: true }), 2);
    assert.equal(store.db.pragma('foreign_keys', { simple: true }), 1);
    const scope = { teamId: 'team-wal' };
    await store.ensureTeam({ id: scope.teamId, name: 'WAL' });
    await store.insertDocument(scope, buildDocument());
    assert.ok((await stat(`${filename}-wal`)).isFile(), 'writes go to the write-ahead log');
  });

  it('keeps its data when the file is reopened, without running migrations again', async () => {
    const filename = await tempFile();
    const first = await openStore(filename);
    const scope = { teamId: 'team-reopen' };
    await first.ensureTeam({ id: scope.teamId, name: 'Reopen' });
    const doc = await first.insertDocument(scope, buildDocument());
    await first.updateDocument(scope, doc.id, { status: 'processing', pageCount: 1 });
    await first.upsertPages(scope, doc.id, [buildPage({ page: 1, text: 'kept across restarts' })]);
    const before = {
      doc: await first.getDocument(scope, doc.id),
      pages: await first.getPages(scope, doc.id),
      job: await first.getJob(scope, doc.jobId),
      migrations: migrationRows(first),
    };
    await first.close();

    const second = await openStore(filename);
    assert.deepEqual(
      {
        doc: await second.getDocument(scope, doc.id),
        pages: await second.getPages(scope, doc.id),
        job: await second.getJob(scope, doc.jobId),
        migrations: migrationRows(second),
      },
      before,
      'same rows, and schema_migrations still holds the first run only',
    );
    assert.deepEqual(await second.listUnfinishedDocuments(), [{ teamId: scope.teamId, documentId: doc.id, jobId: doc.jobId }]);
  });
});
