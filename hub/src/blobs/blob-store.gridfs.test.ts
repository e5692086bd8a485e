/**
 * GridFsBlobStore against a real MongoDB-wire server: MONGODB_URL (the services script starts
 * FerretDB on 127.0.0.1:27017). Each store gets a database of its own, dropped afterwards.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import mongoose from 'mongoose';
import { GridFsBlobStore } from './blob-store.gridfs.ts';
import { defineBlobStoreContract } from './contract.ts';

const MONGODB_URL = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';

async function connect(): Promise<mongoose.Connection> {
  try {
    return await mongoose
      .createConnection(MONGODB_URL, { dbName: `blobs-${randomUUID().slice(0, 8)}`, serverSelectionTimeoutMS: 3000 })
      .asPromise();
  } catch (err) {
    // Not a skip: the services script always provides it, so its absence is a broken setup.
    throw new Error(`No MongoDB-wire server at ${MONGODB_URL}; run \`npm run services -- start\``, { cause: err });
  }
}

defineBlobStoreContract('GridFS', async () => {
  const connection = await connect();
  const blobs = new GridFsBlobStore({ connection, chunkSizeBytes: 64 * 1024 });
  await blobs.start();
  return {
    blobs,
    async close() {
      await blobs.close();
      await connection.dropDatabase();
      await connection.close();
    },
  };
});

describe('GridFsBlobStore', () => {
  it('of two replicas putting one key at once, one complete version stays', async () => {
    const a = await connect();
    const b = a.useDb(a.name, { useCache: false });
    const first = new GridFsBlobStore({ connection: a });
    const second = new GridFsBlobStore({ connection: b });
    await first.start();
    await second.start();
    try {
      const bodies = Array.from({ length: 6 }, (_, i) => Buffer.alloc(100_000 + i, i + 1));
      await Promise.all(bodies.map((body, i) => (i % 2 ? first : second).put('team-a/doc-1', Readable.from([body]))));
      const stored = Buffer.from(await first.read('team-a/doc-1'));
      assert.ok(
        bodies.some((b) => b.equals(stored)),
        'one of the versions, whole',
      );
      const files = await a.db!.collection('blobs.files').countDocuments({ filename: 'team-a/doc-1' });
      assert.equal(files, 1, 'the older versions were removed');
    } finally {
      await a.dropDatabase();
      await a.close();
    }
  });
});
