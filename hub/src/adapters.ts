/**
 * Opening the adapters the configuration names, for the hub and for the commands that work
 * on an installation (`quire reindex`, `quire migrate-store`). Each adapter is loaded only
 * when named: a hub on MongoDB loads no SQLite store, one on SQLite no mongoose, and a hub
 * on MongoDB and Elasticsearch no SQLite module at all.
 */
import type { Connection } from 'mongoose';
import type { SearchIndex } from '@quire/search';
import type { BlobStore } from './blobs/blob-store.ts';
import type { FsBlobStore } from './blobs/blob-store.fs.ts';
import type { GridFsBlobStore } from './blobs/blob-store.gridfs.ts';
import type { Config } from './config.ts';
import type { MongoStore } from './store/mongo/store.mongo.ts';
import type { SqliteStore } from './store/sqlite/store.sqlite.ts';
import type { Store } from './store/store.ts';

/** Where an opened adapter registers how it is closed. */
export interface Closer {
  add(name: string, close: () => Promise<void>, order: number): void;
}

/** A MongoDB connection (mongoose, loaded now). */
async function connectMongo(url: string): Promise<Connection> {
  const { default: mongoose } = await import('mongoose');
  return mongoose.createConnection(url, { serverSelectionTimeoutMS: 10_000 }).asPromise();
}

/** The embedded store in `filename`, started. */
export async function openSqliteStore(filename: string): Promise<SqliteStore> {
  const { SqliteStore } = await import('./store/sqlite/store.sqlite.ts');
  const store = new SqliteStore({ filename });
  await store.start();
  return store;
}

/** The MongoDB store at `url`, started (schema checked, indexes created); closing it closes its connection. */
export async function openMongoStore(url: string): Promise<MongoStore> {
  const { MongoStore } = await import('./store/mongo/store.mongo.ts');
  const store = new MongoStore({ connection: await connectMongo(url) });
  try {
    await store.start();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

/** Originals as files under `dir`. */
export async function openFsBlobs(dir: string): Promise<FsBlobStore> {
  const { FsBlobStore } = await import('./blobs/blob-store.fs.ts');
  const blobs = new FsBlobStore({ dir });
  await blobs.start();
  return blobs;
}

/** Originals in GridFS on an open connection, which the caller closes. */
export async function gridFsOn(connection: Connection): Promise<GridFsBlobStore> {
  const { GridFsBlobStore } = await import('./blobs/blob-store.gridfs.ts');
  const blobs = new GridFsBlobStore({ connection });
  await blobs.start();
  return blobs;
}

/** Originals in GridFS at `url`, with the connection that closes them. */
export async function openGridFs(url: string): Promise<{ blobs: GridFsBlobStore; connection: Connection }> {
  const connection = await connectMongo(url);
  return { blobs: await gridFsOn(connection), connection };
}

/** The store the configuration names, started. */
export async function openStore(config: Config, closer: Closer): Promise<Store> {
  const store =
    config.store.driver === 'sqlite' ? await openSqliteStore(config.store.sqlitePath) : await openMongoStore(config.store.mongodbUrl!);
  closer.add('store', () => store.close(), 100);
  return store;
}

/**
 * The search index the configuration names, started, holding `model`'s vectors (a mismatch is
 * refused), with a health check.
 */
export async function openSearchIndex(
  config: Config,
  model: { modelId: string; dimension: number },
  closer: Closer,
): Promise<{ index: SearchIndex; indexReady: () => Promise<boolean> }> {
  let index: SearchIndex;
  let indexReady = async () => true;
  if (config.search.elasticsearch) {
    const { ElasticsearchSearchIndex } = await import('@quire/search/elasticsearch');
    const { nodes, apiKey, indexPrefix, vectorIndexType } = config.search.elasticsearch;
    const elasticsearch = new ElasticsearchSearchIndex({ node: nodes, apiKey: apiKey ?? undefined, indexPrefix, vectorIndexType });
    indexReady = () => elasticsearch.ping();
    index = elasticsearch;
  } else {
    const { SqliteSearchIndex } = await import('@quire/search/embedded');
    index = new SqliteSearchIndex({ filename: config.search.sqlitePath });
  }
  await index.start();
  closer.add('search index', () => index.close(), 95);
  await index.ensureModel(model);
  return { index, indexReady };
}

/** The blob store the configuration names, started, with a health check. */
export async function openBlobStore(config: Config, closer: Closer): Promise<{ blobs: BlobStore; blobsReady: () => Promise<boolean> }> {
  if (config.blobs.driver === 'fs') return { blobs: await openFsBlobs(config.store.blobDir), blobsReady: async () => true };
  const { blobs, connection } = await openGridFs(config.blobs.mongodbUrl!);
  closer.add('blob store connection', () => connection.close(), 100);
  return {
    blobs,
    blobsReady: async () => {
      try {
        await connection.db!.command({ ping: 1 });
        return true;
      } catch {
        return false;
      }
    },
  };
}
