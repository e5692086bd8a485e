/**
 * `FsBlobStore`: blobs as files under a folder, written to a temporary name, fsynced and
 * renamed into place so a crash never leaves a partial blob under a real key. What a crash
 * does leave, the temporary files of cut-off uploads, is removed at the next start.
 *
 * More than one process may use the same folder (`quire eval`, or a second hub started by
 * mistake, perhaps in another container on the same volume), so a start must not remove an
 * upload another process is still writing. Each temporary file is named after the host and
 * process writing it; see {@link FsBlobStore.start} for what goes.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import { NotFoundError, ValidationError } from '@quire/kernel';
import { assertBlobKey, type BlobInfo, type BlobStore } from './blob-store.ts';

/**
 * How long a temporary file may go unwritten before a start removes it whoever wrote it:
 * 15 minutes, three times the 5 minutes Node's HTTP server gives a whole request
 * (`requestTimeout`, which the hub leaves at its default), so no upload still arriving is
 * that quiet. It covers the owners a start cannot check: another host or container, a
 * process id taken over by an unrelated process, files named before owners were recorded.
 */
const ABANDONED_TEMP_FILE_MS = 15 * 60 * 1000;

/** This host's name as it may appear in a file name. */
const HOST = hostname().replace(/[^A-Za-z0-9.-]/g, '_') || 'unknown';

/** `<pid>.<random id>.<host>`: who writes a temporary file. */
const TEMP_NAME = /^(\d+)\.[0-9a-f-]{36}\.(.+)$/;

/** The temporary files this process is writing now, by path, whichever store writes them. */
const writing = new Set<string>();

export class FsBlobStore implements BlobStore {
  private readonly root: string;

  constructor(options: { dir: string }) {
    this.root = resolve(options.dir);
  }

  /**
   * Creates the folders and removes temporary files left by uploads that a crash cut off:
   * those written on this host by a process that is gone, or by an earlier process under
   * this one's id (a restarted container), and any not written for
   * {@link ABANDONED_TEMP_FILE_MS}. A file another live process, or another store in this
   * process, still writes into stays, however long ago its last bytes came.
   */
  async start(): Promise<void> {
    const tmp = join(this.root, '.tmp');
    await mkdir(tmp, { recursive: true });
    const now = Date.now();
    for (const name of await readdir(tmp)) {
      const path = join(tmp, name);
      if (writing.has(path)) continue;
      const info = await stat(path).catch(() => null);
      if (!info?.isFile()) continue;
      if (now - info.mtimeMs >= ABANDONED_TEMP_FILE_MS || writerIsGone(name)) await rm(path, { force: true });
    }
  }

  async close(): Promise<void> {}

  async put(key: string, data: Readable): Promise<BlobInfo> {
    const path = this.pathOf(key);
    const tmp = join(this.root, '.tmp', `${process.pid}.${randomUUID()}.${HOST}`);
    await mkdir(dirname(path), { recursive: true });
    writing.add(tmp);
    try {
      await pipeline(data, createWriteStream(tmp, { flags: 'wx' }));
      const fh = await open(tmp, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
      await syncDir(dirname(path));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    } finally {
      writing.delete(tmp);
    }
    return { key, size: (await stat(path)).size };
  }

  async get(key: string): Promise<Readable> {
    const path = this.pathOf(key);
    if (!(await this.exists(key))) throw new NotFoundError(`Blob ${key} not found`);
    return createReadStream(path);
  }

  async read(key: string): Promise<Uint8Array> {
    try {
      return new Uint8Array(await readFile(this.pathOf(key)));
    } catch (err) {
      // A key naming a folder of other blobs, or a path below a blob, names no blob either.
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') throw new NotFoundError(`Blob ${key} not found`, { cause: err });
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async exists(key: string): Promise<boolean> {
    const path = this.pathOf(key);
    try {
      return (await stat(path)).isFile();
    } catch {
      return false;
    }
  }

  /** Keys are relative paths of safe segments; anything that could escape the root is refused. */
  private pathOf(key: string): string {
    const path = resolve(this.root, assertBlobKey(key));
    if (!path.startsWith(this.root + sep)) throw new ValidationError('Invalid blob key', { code: 'BAD_BLOB_KEY' });
    return path;
  }
}

/**
 * Whether the process that named a temporary file is known to be gone. Only a process on
 * this host can be asked; a container on a shared volume has a host name of its own, and
 * its process ids (often the same small numbers as ours) mean nothing here.
 */
function writerIsGone(name: string): boolean {
  const match = TEMP_NAME.exec(name);
  if (!match || match[2] !== HOST) return false;
  const pid = Number(match[1]);
  // This process writes none of the files that reach here: an earlier process had its id.
  if (pid === process.pid) return true;
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    // EPERM: alive, under another user.
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
