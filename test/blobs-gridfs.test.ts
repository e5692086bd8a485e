/**
 * A hub keeping originals in GridFS (BLOBS=gridfs) on the MongoDB-wire server of the services
 * script: uploads are stored there and processed from there, downloads come back byte for
 * byte, deletes remove them, and /readyz says which blob store answers.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import mongoose from 'mongoose';
import { ensureFixtures } from './fixtures/generate.ts';
import { fixturePath } from './fixtures/manifest.ts';
import { startHub, uploadProcessed, type HubProcess } from './helpers/hub.ts';

const SERVER = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';
const database = `hub-blobs-${randomUUID().slice(0, 8)}`;
let hub: HubProcess;
let db: mongoose.Connection;

before(async () => {
  await ensureFixtures();
  db = await mongoose.createConnection(SERVER, { dbName: database, serverSelectionTimeoutMS: 3000 }).asPromise();
  hub = await startHub({ seedOwner: true, env: { BLOBS: 'gridfs', MONGODB_URL: `${SERVER.replace(/\/$/, '')}/${database}` } });
});

after(async () => {
  await hub?.stop();
  await db?.dropDatabase();
  await db?.close();
});

describe('originals in GridFS', () => {
  test('an upload is stored in GridFS, processed from it, served back and deleted with its document', { timeout: 180_000 }, async () => {
    const bytes = await readFile(fixturePath('scanned-invoice.png'));
    const id = await uploadProcessed(hub, { name: 'scanned-invoice.png', data: bytes }, 120_000);
    const files = db.collection('blobs.files');
    assert.equal(await files.countDocuments({ filename: `default/${id}` }), 1, 'the original is a GridFS file');

    const res = await fetch(`${hub.url}/api/documents/${id}/file`, { headers: hub.ownerAuth });
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes), 'downloaded byte for byte');
    const doc = (await hub.gql(`query($id: ID!) { document(id: $id) { pageCount pages { text } } }`, { id })).data.document;
    assert.ok(/northwind/i.test(doc.pages[0].text), 'processed from the stored original');

    const ready = await (await fetch(`${hub.url}/readyz`)).json();
    assert.deepEqual(
      ready.checks.find((c: { name: string }) => c.name === 'blobs'),
      { name: 'blobs', ok: true, detail: 'gridfs' },
    );

    const deleted = await hub.gql(`mutation($id: ID!) { deleteDocument(id: $id) }`, { id });
    assert.equal(deleted.errors, undefined, JSON.stringify(deleted.errors));
    assert.equal(await files.countDocuments({ filename: `default/${id}` }), 0, 'gone with its document');
    assert.equal(await db.collection('blobs.chunks').countDocuments({}), 0, 'chunks included');
  });
});
