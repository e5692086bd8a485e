/**
 * MongoLabelSetRepository against a real MongoDB-wire server: MONGODB_URL (the services script
 * starts FerretDB on 127.0.0.1:27017). Each fixture gets a database of its own, dropped after.
 */
import { randomUUID } from 'node:crypto';
import mongoose from 'mongoose';
import { defineLabelSetContract } from '../contract/label-sets.contract.ts';
import { MongoLabelSetRepository } from './label-sets.mongo.ts';

const MONGODB_URL = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';

defineLabelSetContract('MongoDB', async () => {
  let connection: mongoose.Connection;
  try {
    connection = await mongoose
      .createConnection(MONGODB_URL, { dbName: `labels-${randomUUID().slice(0, 8)}`, serverSelectionTimeoutMS: 3000 })
      .asPromise();
  } catch (err) {
    // Not a skip: the services script always provides it, so its absence is a broken setup.
    throw new Error(`No MongoDB-wire server at ${MONGODB_URL}; run \`npm run services -- start\``, { cause: err });
  }
  const repo = new MongoLabelSetRepository(connection);
  await repo.start();
  return {
    repo,
    // Teams are not a collection of this repository: a set names its team by id.
    addTeam: async () => {},
    async cleanup() {
      await connection.dropDatabase();
      await connection.close();
    },
  };
});
