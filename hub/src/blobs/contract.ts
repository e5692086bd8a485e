/**
 * The BlobStore contract: what every adapter (files on disk, GridFS) must do, run by each
 * adapter's test against a real backend. `open` gives a started, empty store; `close` ends it
 * and removes what it stored.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { NotFoundError, ValidationError } from '@quire/kernel';
import type { BlobStore } from './blob-store.ts';

export async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** A stream that delivers `before` and then fails, as a dropped upload connection does. */
export function failingStream(before: Buffer[], error: Error): Readable {
  return Readable.from(
    (async function* () {
      for (const part of before) {
        yield part;
        await tick();
      }
      throw error;
    })(),
  );
}

export const isBadKey = (err: unknown): boolean => {
  assert.ok(err instanceof ValidationError, String(err));
  assert.equal(err.code, 'BAD_BLOB_KEY');
  return true;
};

/** Keys no adapter may take: empty, absolute, with empty or dot segments, or unsafe characters. */
export const BAD_KEYS = [
  '',
  '..',
  '../escape',
  'team-a/../../escape',
  'team-a/../team-b/doc-1',
  'team-a/..',
  '/etc/passwd',
  '/team-a/doc-1',
  'team-a//doc-1',
  'team-a/',
  './team-a',
  'team-a/./doc-1',
  '.tmp/leftover',
  'team-a\\..\\escape',
  'team a/doc',
  'team-a/doc\0',
];

export function defineBlobStoreContract(name: string, open: () => Promise<{ blobs: BlobStore; close(): Promise<void> }>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let blobs: BlobStore;
    let close: () => Promise<void>;

    beforeEach(async () => {
      ({ blobs, close } = await open());
    });

    afterEach(async () => {
      await close();
    });

    it('stores a stream and gives the same bytes back through get, read and exists', async () => {
      const bytes = randomBytes(300_000);
      const info = await blobs.put(
        'team-a/doc-1',
        Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000, 70_001), bytes.subarray(70_001)]),
      );
      assert.deepEqual(info, { key: 'team-a/doc-1', size: bytes.length });
      assert.equal(await blobs.exists('team-a/doc-1'), true);
      assert.deepEqual(Buffer.from(await blobs.read('team-a/doc-1')), bytes);
      assert.deepEqual(await collect(await blobs.get('team-a/doc-1')), bytes);
      assert.equal(await blobs.exists('team-a/doc-2'), false);
    });

    it('stores an empty stream and deeper keys', async () => {
      assert.deepEqual(await blobs.put('team-a/doc-1/page-0001.png', Readable.from([])), { key: 'team-a/doc-1/page-0001.png', size: 0 });
      assert.deepEqual(await blobs.read('team-a/doc-1/page-0001.png'), new Uint8Array());
      assert.equal(await blobs.exists('team-a/doc-1/page-0001.png'), true);
    });

    it('streams a large blob in and out without changing a byte', async () => {
      const part = randomBytes(64 * 1024);
      const parts = Array.from({ length: 80 }, (_, i) => Buffer.concat([part, Buffer.from([i])]));
      const expected = createHash('sha256');
      for (const p of parts) expected.update(p);
      const info = await blobs.put('team-a/large', Readable.from(parts));
      assert.equal(info.size, parts.length * (part.length + 1));
      assert.equal(
        createHash('sha256')
          .update(await collect(await blobs.get('team-a/large')))
          .digest('hex'),
        expected.digest('hex'),
      );
    });

    it('put replaces an existing blob', async () => {
      await blobs.put('team-a/doc-1', Readable.from([Buffer.from('the first, longer version of the file')]));
      const info = await blobs.put('team-a/doc-1', Readable.from([Buffer.from('second')]));
      assert.equal(info.size, 6);
      assert.equal(Buffer.from(await blobs.read('team-a/doc-1')).toString(), 'second');
      assert.equal((await collect(await blobs.get('team-a/doc-1'))).toString(), 'second');
    });

    it('delete removes a blob; deleting a missing blob is not an error', async () => {
      await blobs.put('team-a/doc-1', Readable.from([Buffer.from('x')]));
      await blobs.put('team-a/doc-2', Readable.from([Buffer.from('y')]));
      await blobs.delete('team-a/doc-1');
      assert.equal(await blobs.exists('team-a/doc-1'), false);
      await assert.rejects(blobs.read('team-a/doc-1'), NotFoundError);
      await blobs.delete('team-a/doc-1');
      await blobs.delete('team-z/never-stored');
      assert.equal(Buffer.from(await blobs.read('team-a/doc-2')).toString(), 'y');
    });

    it('answers NotFoundError for a key that names no blob', async () => {
      await blobs.put('team-a/doc-1', Readable.from([Buffer.from('x')]));
      // A missing key, a prefix that only holds other blobs, and a path below a blob.
      for (const key of ['team-a/missing', 'team-b/doc-1', 'team-a', 'team-a/doc-1/below']) {
        await assert.rejects(blobs.get(key), NotFoundError, `get ${key}`);
        await assert.rejects(blobs.read(key), NotFoundError, `read ${key}`);
        assert.equal(await blobs.exists(key), false, `exists ${key}`);
      }
    });

    it('a stream that fails midway leaves no blob', async () => {
      const cause = new Error('connection reset by peer');
      await assert.rejects(blobs.put('team-a/doc-1', failingStream([randomBytes(300_000), randomBytes(50_000)], cause)), cause);
      assert.equal(await blobs.exists('team-a/doc-1'), false);
      await assert.rejects(blobs.read('team-a/doc-1'), NotFoundError);
      await assert.rejects(blobs.put('team-a/doc-2', failingStream([], cause)), cause);
      assert.equal(await blobs.exists('team-a/doc-2'), false);
    });

    it('a failed replacement keeps the blob that was there', async () => {
      await blobs.put('team-a/doc-1', Readable.from([Buffer.from('original')]));
      await assert.rejects(blobs.put('team-a/doc-1', failingStream([Buffer.from('partial replacement')], new Error('aborted'))), /aborted/);
      assert.equal(Buffer.from(await blobs.read('team-a/doc-1')).toString(), 'original');
    });

    it('refuses keys that are empty, absolute, have empty segments or could leave their place', async () => {
      await blobs.put('team-b/doc-1', Readable.from([Buffer.from('team b')]));
      for (const key of BAD_KEYS) {
        await assert.rejects(blobs.put(key, Readable.from([Buffer.from('intruder')])), isBadKey, `put ${JSON.stringify(key)}`);
        await assert.rejects(blobs.get(key), isBadKey, `get ${JSON.stringify(key)}`);
        await assert.rejects(blobs.read(key), isBadKey, `read ${JSON.stringify(key)}`);
        await assert.rejects(blobs.delete(key), isBadKey, `delete ${JSON.stringify(key)}`);
        await assert.rejects(blobs.exists(key), isBadKey, `exists ${JSON.stringify(key)}`);
      }
      assert.equal(Buffer.from(await blobs.read('team-b/doc-1')).toString(), 'team b');
    });
  });
}
