/**
 * The Store contract on MongoDB: MONGODB_URL, or the services script's FerretDB on
 * 127.0.0.1:27017. Each test gets a database of its own on one shared connection, dropped after.
 */
import { randomUUID } from 'node:crypto';
import { after } from 'node:test';
import mongoose from 'mongoose';
import { defineStoreContract } from '../contract.ts';
import { MongoStore } from './store.mongo.ts';

const MONGODB_URL = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';

let base: Promise<mongoose.Connection> | undefined;
function connect(): Promise<mongoose.Connection> {
  base ??= mongoose
    .createConnection(MONGODB_URL, { serverSelectionTimeoutMS: 3000 })
    .asPromise()
    .catch((err: unknown) => {
      // Not a skip: the services script always provides it, so its absence is a broken setup.
      throw new Error(`No MongoDB-wire server at ${MONGODB_URL}; run \`npm run services -- start\``, { cause: err });
    });
  return base;
}
after(async () => {
  await (await base?.catch(() => undefined))?.close();
});

defineStoreContract('MongoStore', async () => {
  const connection = (await connect()).useDb(`store-${randomUUID().slice(0, 8)}`, { useCache: false });
  const store = new MongoStore({ connection, owned: false });
  await store.start();
  return {
    store,
    async cleanup() {
      await connection.dropDatabase();
    },
  };
});
