import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { NotFoundError, ValidationError } from '@quire/processors';
import { FsBlobStore } from './blob-store.fs.ts';

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** Every regular file under `dir`, as paths relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

/** A stream that delivers `before` and then fails, as a dropped upload connection does. */
function failingStream(before: Buffer[], error: Error): Readable {
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

const isBadKey = (err: unknown): boolean => {
  assert.ok(err instanceof ValidationError, String(err));
  assert.equal(err.code, 'BAD_BLOB_KEY');
  return true;
};

describe('FsBlobStore', () => {
  let base: string;
  let root: string;
  let blobs: FsBlobStore;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'quire-blobs-'));
    root = join(base, 'blobs');
    blobs = new FsBlobStore({ dir: root });
    await blobs.start();
  });

  afterEach(async () => {
    await blobs.close();
    await rm(base, { recursive: true, force: true });
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
    assert.deepEqual(await filesUnder(root), ['team-a/doc-1']);
  });

  it('stores an empty stream and deeper keys', async () => {
    assert.deepEqual(await blobs.put('team-a/doc-1/page-0001.png', Readable.from([])), { key: 'team-a/doc-1/page-0001.png', size: 0 });
    assert.deepEqual(await blobs.read('team-a/doc-1/page-0001.png'), new Uint8Array());
    assert.equal(await blobs.exists('team-a/doc-1/page-0001.png'), true);
  });

  it('streams a large blob in without changing a byte', async () => {
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
    assert.deepEqual(await filesUnder(root), ['team-a/doc-1']);
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
    // A missing key, a folder that only holds other blobs, and a path below a blob.
    for (const key of ['team-a/missing', 'team-b/doc-1', 'team-a', 'team-a/doc-1/below']) {
      await assert.rejects(blobs.get(key), NotFoundError, `get ${key}`);
      await assert.rejects(blobs.read(key), NotFoundError, `read ${key}`);
      assert.equal(await blobs.exists(key), false, `exists ${key}`);
    }
  });

  it('a stream that fails midway leaves no blob and no temporary file', async () => {
    const cause = new Error('connection reset by peer');
    await assert.rejects(blobs.put('team-a/doc-1', failingStream([randomBytes(50_000), randomBytes(50_000)], cause)), cause);
    assert.equal(await blobs.exists('team-a/doc-1'), false);
    await assert.rejects(blobs.read('team-a/doc-1'), NotFoundError);
    assert.deepEqual(await filesUnder(root), [], 'nothing under the root, .tmp included');

    await assert.rejects(blobs.put('team-a/doc-2', failingStream([], cause)), cause);
    assert.deepEqual(await filesUnder(root), [], 'a stream that fails before its first byte leaves nothing either');
  });

  it('a failed replacement keeps the blob that was there', async () => {
    await blobs.put('team-a/doc-1', Readable.from([Buffer.from('original')]));
    await assert.rejects(blobs.put('team-a/doc-1', failingStream([Buffer.from('partial replacement')], new Error('aborted'))), /aborted/);
    assert.equal(Buffer.from(await blobs.read('team-a/doc-1')).toString(), 'original');
    assert.deepEqual(await filesUnder(root), ['team-a/doc-1']);
  });

  it('start removes the temporary files of uploads a crash cut off, and nothing newer nor any blob', async () => {
    await blobs.put('team-a/doc-1', Readable.from([Buffer.from('kept')]));
    const tmp = join(root, '.tmp');
    const anHourAgo = new Date(Date.now() - 3_600_000);
    for (const name of ['crashed-1', 'crashed-2']) {
      await writeFile(join(tmp, name), randomBytes(10_000));
      await utimes(join(tmp, name), anHourAgo, anHourAgo);
    }
    // Written after the restart began: an upload some other process still streams.
    await writeFile(join(tmp, 'in-flight'), randomBytes(100));
    const later = new Date(Date.now() + 60_000);
    await utimes(join(tmp, 'in-flight'), later, later);
    await mkdir(join(tmp, 'a-folder'));

    const restarted = new FsBlobStore({ dir: root });
    await restarted.start();
    assert.deepEqual(await filesUnder(root), ['.tmp/in-flight', 'team-a/doc-1']);
    assert.deepEqual((await readdir(tmp)).sort(), ['a-folder', 'in-flight']);
    assert.equal(Buffer.from(await restarted.read('team-a/doc-1')).toString(), 'kept');
    await restarted.close();
  });

  it('refuses keys that are empty, absolute, have empty segments or could leave the folder', async () => {
    const bad = [
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
    await blobs.put('team-b/doc-1', Readable.from([Buffer.from('team b')]));
    for (const key of bad) {
      await assert.rejects(blobs.put(key, Readable.from([Buffer.from('intruder')])), isBadKey, `put ${JSON.stringify(key)}`);
      await assert.rejects(blobs.get(key), isBadKey, `get ${JSON.stringify(key)}`);
      await assert.rejects(blobs.read(key), isBadKey, `read ${JSON.stringify(key)}`);
      await assert.rejects(blobs.delete(key), isBadKey, `delete ${JSON.stringify(key)}`);
      await assert.rejects(blobs.exists(key), isBadKey, `exists ${JSON.stringify(key)}`);
    }
    assert.deepEqual(await filesUnder(base), ['blobs/team-b/doc-1'], 'nothing was written, inside the folder or beside it');
    assert.equal(Buffer.from(await blobs.read('team-b/doc-1')).toString(), 'team b');
  });
});
