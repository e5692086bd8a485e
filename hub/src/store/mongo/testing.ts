/**
 * Test fixtures for the MongoDB adapters: one connection per test file to MONGODB_URL (or the
 * services script's FerretDB on 127.0.0.1:27017), a fresh database per store, temporary SQLite
 * stores to copy from, and the copying itself as `quire migrate-store` pages it. Everything
 * opened is closed, and dropped or removed, by `close()`.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mongoose from 'mongoose';
import { SqliteStore } from '../sqlite/store.sqlite.ts';
import type { TransferKind, TransferRecords } from '../transfer.ts';
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

/** The records of each of some kinds, as the pages a source answered them in. */
export type TransferPages<K extends TransferKind> = { [P in K]: TransferRecords[P][][] };

/** Every record of each of `kinds` in `source`, in pages of `limit`. */
export async function exportPages<K extends TransferKind>(
  source: SqliteStore,
  kinds: readonly K[],
  limit: number,
): Promise<TransferPages<K>> {
  const pages = {} as Record<K, unknown[][]>;
  for (const kind of kinds) {
    pages[kind] = [];
    let after: string | null = null;
    do {
      const page: { records: unknown[]; next: string | null } = await source.exportRecords(kind, { after, limit });
      if (page.records.length > 0) pages[kind].push(page.records);
      after = page.next;
    } while (after !== null);
  }
  return pages as TransferPages<K>;
}

/** Imports the pages of each of `kinds` into `target`, in that order, a page at a time. */
export async function importPages<K extends TransferKind>(target: MongoStore, pages: TransferPages<K>, kinds: readonly K[]): Promise<void> {
  for (const kind of kinds) for (const page of pages[kind]) await target.importRecords(kind, page);
}

/** Every record of `kind`, its pages joined. */
export function allRecords<K extends TransferKind, P extends K>(pages: TransferPages<K>, kind: P): TransferRecords[P][] {
  return pages[kind].flat() as TransferRecords[P][];
}
