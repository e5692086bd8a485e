/**
 * Test fixtures for the MongoDB adapters: one connection per test file to MONGODB_URL (or the
 * services script's FerretDB on 127.0.0.1:27017), a fresh database per store, and temporary
 * SQLite stores to copy from. Everything opened is closed, and dropped or removed, by `close()`.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mongoose from 'mongoose';
import { SqliteStore } from '../sqlite/store.sqlite.ts';
import { MongoStore } from './store.mongo.ts';

export const MONGODB_URL = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';

export interface StoreFixtures {
  /** A started MongoStore on a database of its own. */
  openMongo(prefix?: string): Promise<MongoStore>;
  /** A started SqliteStore in a temporary directory. */
  openSqlite(): Promise<SqliteStore>;
  close(): Promise<void>;
}

export function storeFixtures(): StoreFixtures {
  let base: Promise<mongoose.Connection> | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  const connect = () =>
    (base ??= mongoose
      .createConnection(MONGODB_URL, { serverSelectionTimeoutMS: 3000 })
      .asPromise()
      .catch((err: unknown) => {
        // Not a skip: the services script always provides it, so its absence is a broken setup.
        throw new Error(`No MongoDB-wire server at ${MONGODB_URL}; run \`npm run services -- start\``, { cause: err });
      }));
  return {
    async openMongo(prefix = 'store') {
      const connection = (await connect()).useDb(`${prefix}-${randomUUID().slice(0, 8)}`, { useCache: false });
      const store = new MongoStore({ connection, owned: false });
      cleanups.push(() => connection.dropDatabase().then(() => undefined));
      await store.start();
      return store;
    },
    async openSqlite() {
      const dir = await mkdtemp(join(tmpdir(), 'quire-transfer-'));
      const store = new SqliteStore({ filename: join(dir, 'quire.sqlite') });
      cleanups.push(async () => {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      });
      await store.start();
      return store;
    },
    async close() {
      for (const cleanup of cleanups.splice(0)) await cleanup();
      await (await base?.catch(() => undefined))?.close();
    },
  };
}
