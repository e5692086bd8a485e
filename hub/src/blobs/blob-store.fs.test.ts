import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, type Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { NotFoundError } from '@quire/kernel';
import { FsBlobStore } from './blob-store.fs.ts';
import { BAD_KEYS, collect, defineBlobStoreContract, failingStream, isBadKey } from './contract.ts';

/** Every regular file under `dir`, as paths relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

/** A store in a process of its own that puts its standard input under `key`, then prints the result. */
const WRITER = `
const { FsBlobStore } = await import(process.env.STORE_MODULE);
const store = new FsBlobStore({ dir: process.env.BLOB_DIR });
await store.start();
const info = await store.put(process.env.BLOB_KEY, process.stdin);
process.stdout.write(JSON.stringify(info));
`;

type Writer = ChildProcessByStdio<Writable, Readable, null>;

function otherProcess(root: string, key: string): Writer {
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', WRITER], {
    env: { ...process.env, STORE_MODULE: new URL('./blob-store.fs.ts', import.meta.url).href, BLOB_DIR: root, BLOB_KEY: key },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
}

/** Waits until a temporary file not in `known` holds bytes, and returns its name. */
async function newTempFile(tmp: string, known: readonly string[]): Promise<string> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    for (const name of await readdir(tmp)) {
      if (known.includes(name)) continue;
      const info = await stat(join(tmp, name)).catch(() => null);
      if (info?.isFile() && info.size > 0) return name;
    }
    await sleep(20);
  }
  throw new Error('no upload started writing its temporary file');
}

defineBlobStoreContract('files', async () => {
  const base = await mkdtemp(join(tmpdir(), 'quire-blobs-'));
  const blobs = new FsBlobStore({ dir: join(base, 'blobs') });
  await blobs.start();
  return {
    blobs,
    async close() {
      await blobs.close();
      await rm(base, { recursive: true, force: true });
    },
  };
});

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

  it('keeps one file per blob under its key, also after a replacement', async () => {
    await blobs.put('team-a/doc-1', Readable.from([randomBytes(300_000)]));
    assert.deepEqual(await filesUnder(root), ['team-a/doc-1']);
    await blobs.put('team-a/doc-1', Readable.from([Buffer.from('second')]));
    assert.equal((await collect(await blobs.get('team-a/doc-1'))).toString(), 'second');
    assert.deepEqual(await filesUnder(root), ['team-a/doc-1'], 'no older copy or temporary file is left');
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

  it('start removes the temporary files of uploads a crash cut off, and none that a live upload still writes', async () => {
    await blobs.put('team-a/doc-1', Readable.from([Buffer.from('kept')]));
    const tmp = join(root, '.tmp');
    const known: string[] = [];
    const writers: Writer[] = [];
    try {
      // An upload in another process that is killed midway.
      const crashed = otherProcess(root, 'team-a/crashed');
      writers.push(crashed);
      crashed.stdin.write(randomBytes(10_000));
      const leftover = await newTempFile(tmp, known);
      known.push(leftover);
      crashed.kill('SIGKILL');
      if (crashed.exitCode === null && crashed.signalCode === null) await once(crashed, 'exit');

      // An upload in another process that is still arriving, and one in this process.
      const other = otherProcess(root, 'team-a/from-other');
      writers.push(other);
      const otherBytes = [randomBytes(10_000), randomBytes(5_000)];
      other.stdin.write(otherBytes[0]);
      const otherFile = await newTempFile(tmp, known);
      known.push(otherFile);
      const here = new PassThrough();
      const herePut = blobs.put('team-a/doc-2', here);
      here.write(Buffer.from('first half, '));
      const hereFile = await newTempFile(tmp, known);
      known.push(hereFile);

      // Files the start cannot ask the writer of: one from another container, fresh; one not
      // written for an hour. And one an earlier process under this test's process id left.
      const otherHost = `${crashed.pid}.${randomUUID()}.another-container`;
      await writeFile(join(tmp, otherHost), randomBytes(100));
      const abandoned = randomUUID();
      await writeFile(join(tmp, abandoned), randomBytes(100));
      const anHourAgo = new Date(Date.now() - 3_600_000);
      await utimes(join(tmp, abandoned), anHourAgo, anHourAgo);
      const earlierLife = leftover.replace(/^\d+/, String(process.pid));
      await writeFile(join(tmp, earlierLife), randomBytes(100));
      await mkdir(join(tmp, 'a-folder'));
      // The uploads still in flight were last written before the restart.
      await sleep(50);

      const restarted = new FsBlobStore({ dir: root });
      await restarted.start();
      assert.deepEqual((await readdir(tmp)).sort(), ['a-folder', hereFile, otherFile, otherHost].sort());

      // Both uploads go on to the end.
      other.stdin.end(otherBytes[1]);
      const [out] = await Promise.all([other.stdout.toArray(), once(other, 'exit')]);
      assert.equal(other.exitCode, 0);
      assert.deepEqual(JSON.parse(Buffer.concat(out).toString()), { key: 'team-a/from-other', size: 15_000 });
      assert.deepEqual(Buffer.from(await restarted.read('team-a/from-other')), Buffer.concat(otherBytes));
      here.end('second half');
      assert.equal((await herePut).size, 'first half, second half'.length);
      assert.equal(Buffer.from(await restarted.read('team-a/doc-2')).toString(), 'first half, second half');

      assert.deepEqual(await filesUnder(root), [`.tmp/${otherHost}`, 'team-a/doc-1', 'team-a/doc-2', 'team-a/from-other']);
      assert.equal(Buffer.from(await restarted.read('team-a/doc-1')).toString(), 'kept');
      await restarted.close();
    } finally {
      for (const writer of writers) {
        if (writer.exitCode === null && writer.signalCode === null) {
          writer.kill('SIGKILL');
          await once(writer, 'exit');
        }
      }
    }
  });

  it('refuses keys that are empty, absolute, have empty segments or could leave the folder', async () => {
    const bad = BAD_KEYS;
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
