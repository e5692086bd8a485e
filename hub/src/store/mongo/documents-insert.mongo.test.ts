/**
 * What MongoDocumentRepository promises beyond the Store contract: an insertDocument that
 * stopped after writing the job completes when tried again, refusals are ConflictErrors with
 * a code, and vectors keep their values whatever the bytes they came in. Against a real
 * MongoDB-wire server: MONGODB_URL (the services script starts FerretDB on 127.0.0.1:27017).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import mongoose from 'mongoose';
import { ConflictError } from '@quire/kernel';
import { buildDocument } from '../contract/harness.ts';
import { MongoDocumentRepository } from './documents.mongo.ts';

const MONGODB_URL = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';

describe('MongoDocumentRepository', () => {
  let connection: mongoose.Connection;
  let repo: MongoDocumentRepository;
  const scope = { teamId: `team-${randomUUID().slice(0, 8)}` };

  before(async () => {
    try {
      connection = await mongoose
        .createConnection(MONGODB_URL, { dbName: `documents-${randomUUID().slice(0, 8)}`, serverSelectionTimeoutMS: 3000 })
        .asPromise();
    } catch (err) {
      // Not a skip: the services script always provides it, so its absence is a broken setup.
      throw new Error(`No MongoDB-wire server at ${MONGODB_URL}; run \`npm run services -- start\``, { cause: err });
    }
    repo = new MongoDocumentRepository(connection);
    await repo.start();
  });
  after(async () => {
    await connection?.dropDatabase();
    await connection?.close();
  });

  it('completes an insert that stopped after writing the job, adopting that job', async () => {
    const input = buildDocument();
    // What a try that stopped between its two writes leaves: the job without its document.
    await repo.insertJob(scope, { id: input.jobId, documentId: input.id });
    assert.equal(await repo.getDocument(scope, input.id), undefined);

    const doc = await repo.insertDocument(scope, input);
    assert.equal(doc.jobId, input.jobId);
    assert.deepEqual(await repo.getDocument(scope, input.id), doc);
    assert.equal((await repo.getJob(scope, input.jobId))?.documentId, input.id);
  });

  it('refuses a taken id, content or job id with a ConflictError, keeping what holds it', async () => {
    const first = await repo.insertDocument(scope, buildDocument());
    const refused = async (input: ReturnType<typeof buildDocument>, code: string) => {
      await assert.rejects(repo.insertDocument(scope, input), (err: unknown) => {
        assert.ok(err instanceof ConflictError, String(err));
        assert.equal(err.code, code);
        return true;
      });
    };
    const sameId = buildDocument({ id: first.id });
    await refused(sameId, 'DOCUMENT_EXISTS');
    assert.equal(await repo.getJob(scope, sameId.jobId), undefined);
    const sameContent = buildDocument({ sha256: first.sha256 });
    await refused(sameContent, 'DOCUMENT_EXISTS');
    assert.equal(await repo.getJob(scope, sameContent.jobId), undefined);
    // Another document's job is not adopted.
    await refused(buildDocument({ jobId: first.jobId }), 'JOB_EXISTS');
    assert.equal((await repo.getJob(scope, first.jobId))?.documentId, first.id);
    // Nor is another team's job of a document with the same id.
    const elsewhere = buildDocument();
    await repo.insertJob({ teamId: `${scope.teamId}-other` }, { id: elsewhere.jobId, documentId: elsewhere.id });
    await refused(elsewhere, 'JOB_EXISTS');
    assert.equal(await repo.getDocument(scope, elsewhere.id), undefined);

    await assert.rejects(repo.insertJob(scope, { id: first.jobId, documentId: first.id }), ConflictError);
  });

  it('stores a vector that is a view into a larger buffer as its own values', async () => {
    const doc = await repo.insertDocument(scope, buildDocument());
    const backing = Float32Array.from([9, 0.25, -1.5, 3e-8, 9]);
    const view = backing.subarray(1, 4);
    await repo.setDocumentVector(scope, doc.id, view);
    const [stored] = await repo.listDocumentVectors(scope, { documentIds: [doc.id] });
    assert.ok(stored?.vector instanceof Float32Array);
    assert.deepEqual([...stored.vector], [...view]);
    // The document itself is read without its vector.
    assert.equal('vector' in (await repo.getDocument(scope, doc.id))!, false);
  });
});
