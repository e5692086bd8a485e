/**
 * The Store contract on MongoDB: MONGODB_URL, or the services script's FerretDB on
 * 127.0.0.1:27017. Each test gets a database of its own on one shared connection, dropped after.
 */
import { after } from 'node:test';
import { defineStoreContract } from '../contract.ts';
import { storeFixtures } from './testing.ts';

const fixtures = storeFixtures();
after(() => fixtures.close());

defineStoreContract('MongoStore', async () => {
  const store = await fixtures.openMongo();
  return {
    store,
    // The database is dropped when the file's tests end.
    cleanup: async () => {},
  };
});
