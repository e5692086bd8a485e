/**
 * The BlobStore port: originals (and later page images) as byte streams under opaque keys.
 * `put` is atomic: a reader never sees a partial blob, and once `put` resolves the bytes
 * survive a crash.
 */
import type { Readable } from 'node:stream';
import { ValidationError } from '@quire/kernel';

export interface BlobInfo {
  key: string;
  size: number;
}

export interface BlobStore {
  start(): Promise<void>;
  close(): Promise<void>;
  /** Writes a stream under `key`, replacing any previous blob; resolves with the stored size. */
  put(key: string, data: Readable): Promise<BlobInfo>;
  /** Reads a blob; rejects with `NotFoundError` when absent. */
  get(key: string): Promise<Readable>;
  /** Reads a whole blob into memory (processing needs random access to PDFs). */
  read(key: string): Promise<Uint8Array>;
  /** Removes a blob; missing blobs are not an error. */
  delete(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
}

/**
 * Returns `key`, or throws a {@link ValidationError} (`BAD_BLOB_KEY`): keys are relative paths
 * of safe segments (letters, digits, `_`, `-`, and `.` after the first segment), never `.` or
 * `..`, so that no adapter can be led outside its place.
 */
export function assertBlobKey(key: string): string {
  if (!/^[A-Za-z0-9_-]+(\/[A-Za-z0-9._-]+)*$/.test(key) || key.split('/').some((s) => s === '..' || s === '.')) {
    throw new ValidationError(`Invalid blob key ${JSON.stringify(key)}`, { code: 'BAD_BLOB_KEY' });
  }
  return key;
}
