/**
 * `FsBlobStore`: blobs as files under a folder, written to a temporary name, fsynced and
 * renamed into place so a crash never leaves a partial blob under a real key. What a crash
 * does leave, the temporary files of cut-off uploads, is removed at the next start.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import { NotFoundError, ValidationError } from '@quire/processors';
import type { BlobInfo, BlobStore } from './blob-store.ts';

export class FsBlobStore implements BlobStore {
  private readonly root: string;

  constructor(options: { dir: string }) {
    this.root = resolve(options.dir);
  }

  /**
   * Creates the folders and removes temporary files left by uploads that a crash cut off.
   * Only files last written before this start go: this store has no upload in flight yet,
   * and a file another process still writes into (a second hub on the same folder) is newer.
   */
  async start(): Promise<void> {
    const startedAt = Date.now();
    const tmp = join(this.root, '.tmp');
    await mkdir(tmp, { recursive: true });
    for (const name of await readdir(tmp)) {
      const path = join(tmp, name);
      const info = await stat(path).catch(() => null);
      if (!info?.isFile() || info.mtimeMs >= startedAt) continue;
      await rm(path, { force: true });
    }
  }

  async close(): Promise<void> {}

  async put(key: string, data: Readable): Promise<BlobInfo> {
    const path = this.pathOf(key);
    const tmp = join(this.root, '.tmp', randomUUID());
    await mkdir(dirname(path), { recursive: true });
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
    if (!/^[A-Za-z0-9_-]+(\/[A-Za-z0-9._-]+)*$/.test(key) || key.split('/').some((s) => s === '..' || s === '.')) {
      throw new ValidationError(`Invalid blob key ${JSON.stringify(key)}`, { code: 'BAD_BLOB_KEY' });
    }
    const path = resolve(this.root, key);
    if (!path.startsWith(this.root + sep)) throw new ValidationError('Invalid blob key', { code: 'BAD_BLOB_KEY' });
    return path;
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
