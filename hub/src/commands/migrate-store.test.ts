/**
 * The copy behind `quire migrate-store`, from a SQLite store and files into a MongoDB store and
 * GridFS on a real MongoDB-wire server (MONGODB_URL, default the services script's FerretDB):
 * an interrupted copy continues where it stopped and ends verified; a record changed in the
 * target, or an original missing there, is reported by the verification.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import mongoose from 'mongoose';
import { openFsBlobs, openGridFs, openMongoStore, openSqliteStore } from '../adapters.ts';
import type { FsBlobStore } from '../blobs/blob-store.fs.ts';
import { buildDocument, buildUser } from '../store/contract.ts';
import type { MongoStore } from '../store/mongo/store.mongo.ts';
import type { SqliteStore } from '../store/sqlite/store.sqlite.ts';
import type { TransferKind, TransferRecords } from '../store/transfer.ts';
import { copyInstallation, verifyCopy, type KindReport } from './migrate-store.ts';

const SERVER = (process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017').replace(/\/+$/, '');

let dir: string;
let source: SqliteStore;
let sourceBlobs: FsBlobStore;
const documentIds: string[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'quire-migrate-'));
  source = await openSqliteStore(join(dir, 'quire.sqlite'));
  sourceBlobs = await openFsBlobs(join(dir, 'blobs'));
  const team = { teamId: 'team-migrate' };
  await source.ensureTeam({ id: team.teamId, name: 'Migrating' });
  const owner = await source.insertUser(buildUser());
  await source.addMember(team, owner.id, 'owner');
  for (let i = 0; i < 23; i++) {
    const bytes = Buffer.from(`Original number ${i}\n`);
    const doc = await source.insertDocument(team, buildDocument({ sha256: createHash('sha256').update(bytes).digest('hex') }));
    await sourceBlobs.put(doc.blobKey, Readable.from([bytes]));
    await source.upsertChunks(team, doc.id, [{ ordinal: 0, page: 1, text: `Original number ${i}`, start: 0, end: 17, boxes: [] }]);
    documentIds.push(doc.id);
  }
});

after(async () => {
  await sourceBlobs?.close();
  await source?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A fresh MongoDB database with the store and GridFS on it, dropped by `drop`. */
async function target(): Promise<{ store: MongoStore; blobs: Awaited<ReturnType<typeof openGridFs>>['blobs']; drop(): Promise<void> }> {
  const url = `${SERVER}/migrate-${randomUUID().slice(0, 8)}`;
  const store = await openMongoStore(url);
  const gridfs = await openGridFs(url);
  return {
    store,
    blobs: gridfs.blobs,
    async drop() {
      await store.connection.dropDatabase();
      await gridfs.connection.close();
      await store.close();
    },
  };
}

const ok = (r: KindReport) => r.source === r.target && r.sourceSum === r.targetSum && r.differing.length === 0;

describe('migrate-store', () => {
  it('continues an interrupted copy where it stopped, and the finished copy verifies', async (t) => {
    const to = await target();
    t.after(() => to.drop());
    let imports = 0;
    // A target that fails on its fourth batch, as a lost connection would.
    const failing = new Proxy(to.store, {
      get(store, key, receiver) {
        if (key !== 'importRecords') return Reflect.get(store, key, receiver);
        return async <K extends TransferKind>(kind: K, records: readonly TransferRecords[K][]) => {
          if (++imports === 4) throw new Error('connection lost');
          return store.importRecords(kind, records);
        };
      },
    });
    const lines: string[] = [];
    const say = (line: string) => lines.push(line);
    await assert.rejects(
      copyInstallation({ source, sourceBlobs, target: failing, targetBlobs: to.blobs, batch: 10, say }),
      /connection lost/,
    );
    const before = await verifyCopy({ source, sourceBlobs, target: to.store, targetBlobs: to.blobs, batch: 10 });
    assert.ok(
      before.some((r) => !ok(r)),
      'a cut-off copy does not verify',
    );

    lines.length = 0;
    await copyInstallation({ source, sourceBlobs, target: to.store, targetBlobs: to.blobs, batch: 10, say });
    assert.ok(
      !lines.some((l) => l.startsWith('teams:') || l.startsWith('users:')),
      `kinds copied before the stop are not copied again: ${lines.join('; ')}`,
    );
    const reports = await verifyCopy({ source, sourceBlobs, target: to.store, targetBlobs: to.blobs, batch: 10 });
    assert.deepEqual(
      reports.filter((r) => !ok(r)),
      [],
      'every kind verifies',
    );
    const byKind = new Map(reports.map((r) => [r.kind, r]));
    assert.equal(byKind.get('documents')!.target, 23);
    assert.equal(byKind.get('chunks')!.target, 23);
    assert.equal(byKind.get('originals')!.target, 23);
  });

  it('reports a record changed in the target and an original missing there', async (t) => {
    const to = await target();
    t.after(() => to.drop());
    await copyInstallation({ source, sourceBlobs, target: to.store, targetBlobs: to.blobs, batch: 50, say: () => {} });
    const [changed, lost] = documentIds;
    await to.store.updateDocument({ teamId: 'team-migrate' }, changed!, { status: 'failed' });
    const lostDoc = await to.store.getDocument({ teamId: 'team-migrate' }, lost!);
    await to.blobs.delete(lostDoc!.blobKey);
    const reports = new Map(
      (await verifyCopy({ source, sourceBlobs, target: to.store, targetBlobs: to.blobs, batch: 50 })).map((r) => [r.kind, r]),
    );
    const documents = reports.get('documents')!;
    assert.notEqual(documents.sourceSum, documents.targetSum);
    assert.deepEqual(documents.differing, [changed]);
    assert.deepEqual(reports.get('originals')!.differing, [lost]);
    assert.equal(reports.get('originals')!.target, 22);
    assert.ok(ok(reports.get('chunks')!), 'the other kinds still verify');
  });

  it('refuses to run without MONGODB_URL or without an embedded store, naming what is missing', async () => {
    const { runMigrateStoreCommand } = await import('./migrate-store.ts');
    const { loadConfig } = await import('../config.ts');
    const { pino } = await import('pino');
    const logger = pino({ level: 'silent' });
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      assert.equal(await runMigrateStoreCommand([], { config: loadConfig({ DATA_DIR: dir }), logger }), 2);
      assert.equal(
        await runMigrateStoreCommand([], { config: loadConfig({ DATA_DIR: join(dir, 'nothing'), MONGODB_URL: `${SERVER}/x` }), logger }),
        2,
      );
      assert.equal(
        await runMigrateStoreCommand(['--batch', 'many'], { config: loadConfig({ DATA_DIR: dir, MONGODB_URL: `${SERVER}/x` }), logger }),
        2,
      );
    } finally {
      process.stderr.write = write;
    }
    assert.match(written.join(''), /set MONGODB_URL/);
    assert.match(written.join(''), /no embedded store at .*nothing/);
    assert.match(written.join(''), /--batch takes a whole number/);
  });
});

// mongoose keeps a module-level default connection object; make sure nothing is left open.
after(async () => {
  await mongoose.disconnect();
});
