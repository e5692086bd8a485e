/**
 * Moving up from one machine: an embedded installation (fixtures and a few hundred generated
 * documents, annotations, a label set) is copied into MongoDB and GridFS with
 * `quire migrate-store`, its search index is rebuilt with `quire reindex`, and a hub on
 * MongoDB then answers the same documents, searches, annotations and original files as the
 * embedded hub did. A second run of the copy copies nothing again and still verifies.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import mongoose from 'mongoose';
import { ensureFixtures } from './fixtures/generate.ts';
import { fixturePath } from './fixtures/manifest.ts';
import { runQuire } from './helpers/cli.ts';
import { CollabClient } from './helpers/collab-client.ts';
import { OWNER, bearer, signIn, startHub, waitFor, type HubProcess } from './helpers/hub.ts';
import { seededRandom } from './helpers/random.ts';
import { startNats, type NatsServer } from './helpers/topology.ts';

const GENERATED = 200;
const MONGODB_URL = `${(process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017').replace(/\/+$/, '')}/migrate-${randomUUID().slice(0, 8)}`;
const QUERIES = ['harbour committee minutes', 'invoice total amount due', 'quarterly report revenue', 'kalomi renvo tus'];
const AUTH_SECRET = randomBytes(32).toString('base64url');

let embedded: HubProcess;
let nats: NatsServer | undefined;
let moved: HubProcess | undefined;
let dataDir = '';
let mongoDataDir = '';
let annotatedId = '';

/** What a person sees of the installation: documents, searches, annotations, one original. */
interface View {
  documents: unknown[];
  searches: unknown[];
  annotations: unknown[];
  original: Buffer;
}

async function viewOf(url: string, token: string): Promise<View> {
  const auth = bearer(token);
  const gql = async (query: string, variables: Record<string, unknown> = {}) => {
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: any; errors?: unknown[] };
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    return body.data;
  };
  const documents: unknown[] = [];
  for (let after: string | null = null; ;) {
    const data = await gql(
      `query($after: String) { documents(first: 100, after: $after, orderBy: NAME) { edges { node { id filename status pageCount chunkCount createdAt classification { type { label } } } } pageInfo { hasNextPage endCursor } } }`,
      { after },
    );
    documents.push(...data.documents.edges.map((e: any) => e.node));
    if (!data.documents.pageInfo.hasNextPage) break;
    after = data.documents.pageInfo.endCursor;
  }
  const searches = [];
  for (const q of QUERIES) {
    const data = await gql(`query($q: String!) { search(query: $q, first: 5) { document { id } chunkOrdinal page snippet } }`, { q });
    searches.push(data.search);
  }
  const annotations = (
    await gql(
      `query($d: ID!) { annotationOperations(documentId: $d, after: 0, first: 100) { lastSeq operations { seq opId annotation { id version comment label deleted } } } }`,
      {
        d: annotatedId,
      },
    )
  ).annotationOperations;
  const res = await fetch(`${url}/api/documents/${annotatedId}/file`, { headers: auth });
  assert.equal(res.status, 200);
  return { documents, searches, annotations: [annotations], original: Buffer.from(await res.arrayBuffer()) };
}

before(async () => {
  await ensureFixtures();
  embedded = await startHub({ seedOwner: true });
  dataDir = embedded.dataDir;
  const accepted: string[] = [];
  for (const name of ['notes.txt', 'notes.md', 'text-report.pdf']) {
    const res = await embedded.upload({ name, data: await readFile(fixturePath(name)) });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    accepted.push(res.body.documentId);
  }
  // Made-up words, different in every document, so that they are not proposed as matches of
  // each other: the copy is tested with a few matches, not with every pair.
  const rand = seededRandom(42);
  const syllables = ['ka', 'lo', 'mi', 'ren', 'tus', 'vo', 'sha', 'per', 'dil', 'gon', 'ux', 'bre', 'fim', 'zal', 'quo', 'nee'];
  const word = () => Array.from({ length: 2 + Math.floor(rand() * 3) }, () => syllables[Math.floor(rand() * syllables.length)]).join('');
  for (let i = 0; i < GENERATED; i++) {
    const text = `${Array.from({ length: 14 }, word).join(' ')} ${i}.\n`;
    const res = await embedded.upload({ name: `garden-${String(i).padStart(3, '0')}.txt`, data: Buffer.from(text) });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    accepted.push(res.body.documentId);
  }
  annotatedId = accepted[0]!;
  await waitFor(
    async () => {
      const data = (await embedded.gql(`{ dashboard { byStatus { key count } } }`)).data;
      const processed = data?.dashboard.byStatus.find((s: any) => s.key === 'PROCESSED')?.count ?? 0;
      return processed === accepted.length;
    },
    900_000,
    `${accepted.length} documents processed`,
  );
  const client = new CollabClient(embedded.url, { token: embedded.ownerToken! });
  try {
    await client.connected();
    assert.ok((await client.join(annotatedId)).ok);
    for (let i = 0; i < 5; i++) {
      const answer = await client.op({
        type: 'create',
        opId: `migrate-${i}`,
        anchor: { kind: 'highlight', chunkOrdinal: 0, start: 0, end: 4 },
        comment: `note ${i}`,
      });
      assert.ok(answer.ok, JSON.stringify(answer));
    }
    const [first] = [...client.live().values()];
    assert.ok(
      (await client.op({ type: 'edit', opId: 'migrate-edit', annotationId: first!.id, baseVersion: first!.version, comment: 'edited' })).ok,
    );
  } finally {
    client.close();
  }
});

after(async () => {
  await moved?.stop();
  await embedded?.stop();
  await nats?.stop();
  if (mongoDataDir) await rm(mongoDataDir, { recursive: true, force: true });
  const connection = await mongoose.createConnection(MONGODB_URL, { serverSelectionTimeoutMS: 3000 }).asPromise();
  await connection.dropDatabase();
  await connection.close();
});

describe('quire migrate-store', () => {
  test('copies the installation into MongoDB, and a hub there answers as the embedded hub did', { timeout: 1_200_000 }, async () => {
    const before = await viewOf(embedded.url, embedded.ownerToken!);
    assert.equal(before.documents.length, GENERATED + 3);
    await embedded.stop({ keepData: true });

    const env = { DATA_DIR: dataDir, MONGODB_URL };
    const copy = await runQuire(['migrate-store', '--batch', '50'], { env, timeoutMs: 20 * 60_000 });
    assert.equal(copy.code, 0, copy.stderr);
    assert.match(copy.stderr, /The copy is complete and verified/);
    assert.match(copy.stderr, new RegExp(`ok +documents +${GENERATED + 3} → +${GENERATED + 3}`));
    assert.match(copy.stderr, /ok +annotationOps +6 → +6/);
    assert.match(copy.stderr, new RegExp(`ok +originals +${GENERATED + 3} → +${GENERATED + 3}`));

    const again = await runQuire(['migrate-store'], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /copied/, 'a finished copy copies nothing again');
    assert.match(again.stderr, /The copy is complete and verified/);

    // The hub on MongoDB keeps its index in a data directory of its own: rebuilt from the store.
    nats = await startNats();
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    mongoDataDir = await mkdtemp(join(tmpdir(), 'quire-moved-'));
    const mongoEnv = {
      STORE: 'mongodb',
      BLOBS: 'gridfs',
      MONGODB_URL,
      AUTH_SECRET,
      BUS: 'nats',
      NATS_URL: nats.url,
      NATS_PREFIX: `moved-${randomUUID().slice(0, 6)}`,
    };
    const reindex = await runQuire(['reindex'], { env: { ...mongoEnv, DATA_DIR: mongoDataDir } });
    assert.equal(reindex.code, 0, reindex.stderr);
    assert.match(reindex.stderr, new RegExp(`reindexed ${GENERATED + 3} documents`));

    moved = await startHub({ dataDir: mongoDataDir, env: mongoEnv });
    const token = await signIn(moved.url, OWNER.email, OWNER.password);
    const after = await viewOf(moved.url, token);
    assert.deepEqual(after.documents, before.documents, 'the same documents');
    assert.deepEqual(after.annotations, before.annotations, 'the same annotations and log');
    assert.deepEqual(after.searches, before.searches, 'the same search answers');
    assert.ok(after.original.equals(before.original), 'the same original bytes');
  });
});
