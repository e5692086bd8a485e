/**
 * BlobStore on MongoDB GridFS, through mongoose's connection and the driver's GridFSBucket:
 * every hub replica reads and writes the same originals.
 *
 * A blob is a GridFS file named by its key. A put uploads a new file and, once its last chunk
 * and its file document are written (GridFS writes the file document last), removes the older
 * files of that name; readers take the newest complete file (one being read while a newer put
removes it ends the read with an error). So a reader never sees a partial
 * blob, and a failed upload (its chunks are removed on abort) leaves the previous blob as it
 * was. Needs nothing beyond single-document writes and indexes, so it runs on MongoDB and on
 * servers of its wire protocol such as FerretDB.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import mongoose, { type Connection } from 'mongoose';
import { NotFoundError } from '@quire/kernel';
import { assertBlobKey, type BlobInfo, type BlobStore } from './blob-store.ts';

type GridFSBucket = InstanceType<typeof mongoose.mongo.GridFSBucket>;
type ObjectId = InstanceType<typeof mongoose.mongo.ObjectId>;

export interface GridFsBlobStoreOptions {
  /** A mongoose connection; the store neither opens nor closes it. */
  connection: Connection;
  /** Name of the bucket (collections `<bucket>.files` and `<bucket>.chunks`). Default `blobs`. */
  bucket?: string;
  /** Size of a chunk in bytes. Default 255 KiB, GridFS's own. */
  chunkSizeBytes?: number;
}

export class GridFsBlobStore implements BlobStore {
  #bucket: GridFSBucket | undefined;

  constructor(private readonly options: GridFsBlobStoreOptions) {}

  async start(): Promise<void> {
    const db = this.options.connection.db;
    if (!db) throw new Error('GridFsBlobStore needs an open connection');
    const bucketName = this.options.bucket ?? 'blobs';
    this.#bucket = new mongoose.mongo.GridFSBucket(db, {
      bucketName,
      ...(this.options.chunkSizeBytes ? { chunkSizeBytes: this.options.chunkSizeBytes } : {}),
    });
    // The indexes GridFS relies on, created now rather than at the first upload.
    await db.collection(`${bucketName}.files`).createIndex({ filename: 1, uploadDate: 1 });
    await db.collection(`${bucketName}.chunks`).createIndex({ files_id: 1, n: 1 }, { unique: true });
  }

  async close(): Promise<void> {
    this.#bucket = undefined;
  }

  async put(key: string, data: Readable): Promise<BlobInfo> {
    const bucket = this.bucket;
    assertBlobKey(key);
    const upload = bucket.openUploadStream(key);
    try {
      await pipeline(data, upload);
    } catch (err) {
      // Removes the chunks written so far; the file document was never written.
      await upload.abort().catch(() => undefined);
      throw err;
    }
    // Older versions go only now, so a reader always finds one complete file. Every put keeps
    // only the newest version it sees (by upload date, then id), its own included: of puts
    // racing on one key, whichever lists last sees them all, so one version remains.
    const versions = await bucket.find({ filename: key }, { sort: { uploadDate: -1, _id: -1 }, projection: { _id: 1 } }).toArray();
    for (const file of versions.slice(1)) await this.#deleteFile(file._id);
    return { key, size: upload.length };
  }

  async get(key: string): Promise<Readable> {
    return this.bucket.openDownloadStream(await this.#newest(key));
  }

  async read(key: string): Promise<Uint8Array> {
    const id = await this.#newest(key);
    const parts: Buffer[] = [];
    let size = 0;
    for await (const part of this.bucket.openDownloadStream(id)) {
      parts.push(part as Buffer);
      size += (part as Buffer).byteLength;
    }
    // A buffer of its own (not a view on Node's shared pool), which callers may transfer.
    const out = new Uint8Array(size);
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.byteLength;
    }
    return out;
  }

  async delete(key: string): Promise<void> {
    assertBlobKey(key);
    const files = await this.bucket.find({ filename: key }, { projection: { _id: 1 } }).toArray();
    for (const file of files) await this.#deleteFile(file._id);
  }

  async exists(key: string): Promise<boolean> {
    assertBlobKey(key);
    return (await this.bucket.find({ filename: key }, { limit: 1, projection: { _id: 1 } }).toArray()).length > 0;
  }

  private get bucket(): GridFSBucket {
    if (!this.#bucket) throw new Error('GridFsBlobStore is not started');
    return this.#bucket;
  }

  async #newest(key: string): Promise<ObjectId> {
    assertBlobKey(key);
    const [file] = await this.bucket
      .find({ filename: key }, { sort: { uploadDate: -1, _id: -1 }, limit: 1, projection: { _id: 1 } })
      .toArray();
    if (!file) throw new NotFoundError(`Blob ${key} not found`);
    return file._id as ObjectId;
  }

  async #deleteFile(id: unknown): Promise<void> {
    try {
      await this.bucket.delete(id as ObjectId);
    } catch (err) {
      // Another replica removed it first.
      if (!(err instanceof mongoose.mongo.MongoRuntimeError) || !/File not found/i.test(err.message)) throw err;
    }
  }
}
