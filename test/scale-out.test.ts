/**
 * Hub replicas: two `quire hub` processes on one MongoDB-wire database and one NATS server,
 * behind a real HAProxy, with a processor node. Live events reach clients of either hub;
 * collaboration clients spread over both hubs converge; a hub killed with SIGKILL loses its
 * clients only until they reconnect through the balancer to the other, where they catch up
 * exactly; rate limits hold whichever hub an attempt reaches; a rolling restart of both hubs
 * during a live session loses no accepted operation.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'graphql-ws';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { CollabClient } from './helpers/collab-client.ts';
import { gql, upload, waitFor } from './helpers/hub.ts';
import { startScaleOut, type ScaleOut } from './helpers/scale-out.ts';
import { seededRandom } from './helpers/random.ts';

const FAILURES_PER_ACCOUNT = 4;
let topology: ScaleOut;
const clients: CollabClient[] = [];

function collab(url: string): CollabClient {
  const c = new CollabClient(url, { token: topology.ownerToken });
  clients.push(c);
  return c;
}

/** Uploads text through `url` and waits until it is processed; answers the document id. */
async function processedText(url: string, text: string): Promise<string> {
  const res = await upload(
    url,
    { name: `${randomUUID().slice(0, 8)}.txt`, data: new TextEncoder().encode(`${text}\n`) },
    topology.ownerAuth,
  );
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const documentId = res.body.documentId as string;
  await waitFor(
    async () =>
      (await topology.gql(`query($id: ID!) { document(id: $id) { status } }`, { id: documentId })).data?.document?.status === 'PROCESSED',
    120_000,
    `document ${documentId} processed`,
  );
  return documentId;
}

/** The persisted state and log of a document's annotations, read through the balancer. */
async function persisted(documentId: string): Promise<{ seq: number; live: Map<string, unknown>; log: { seq: number; opId: string }[] }> {
  const fresh = collab(topology.url);
  await fresh.connected();
  assert.ok((await fresh.join(documentId)).ok);
  fresh.close();
  const log: { seq: number; opId: string }[] = [];
  for (;;) {
    const res = await topology.gql(
      `query($d: ID!, $a: Int) { annotationOperations(documentId: $d, after: $a, first: 100) { operations { seq opId } } }`,
      { d: documentId, a: log.at(-1)?.seq ?? 0 },
    );
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    if (res.data.annotationOperations.operations.length === 0) break;
    log.push(...res.data.annotationOperations.operations);
  }
  return { seq: fresh.seq, live: fresh.live(), log };
}

/**
 * Each client makes `ops` operations on the document, retrying one whose answer was lost with
 * its connection under the same id; answers the accepted ones (opId → seq) and the count refused.
 */
async function annotate(
  team: CollabClient[],
  documentId: string,
  ops: number,
  pause: () => Promise<void> = () => sleep(10),
): Promise<{ accepted: Map<string, number>; refused: number }> {
  const accepted = new Map<string, number>();
  let refused = 0;
  const tag = randomUUID().slice(0, 6);
  await Promise.all(
    team.map(async (c, index) => {
      const rand = seededRandom(7 + index);
      for (let i = 0; i < ops; i++) {
        const live = [...c.live().values()];
        const target = live[Math.floor(rand() * live.length)];
        const opId = `${tag}-c${index}-op${i}`;
        const op =
          !target || rand() < 0.4
            ? { type: 'create', opId, anchor: { kind: 'highlight', chunkOrdinal: 0, start: 0, end: 5 }, comment: `note ${opId}` }
            : { type: 'edit', opId, annotationId: target.id, baseVersion: target.version, comment: `edited by ${opId}` };
        for (let attempt = 1; ; attempt++) {
          try {
            await c.connected();
            const answer = await c.op(op);
            if (answer.ok) accepted.set(opId, answer.state.seq);
            else if (answer.error.code === 'CONFLICT') refused += 1;
            else throw new Error(`${opId}: ${answer.error.code} ${answer.error.message}`);
            break;
          } catch (err) {
            if (attempt >= 40) throw err;
            await sleep(250);
          }
        }
        await pause();
      }
    }),
  );
  return { accepted, refused };
}

/** Every client ends on the persisted state, and the log holds exactly the accepted operations. */
async function assertConverged(team: CollabClient[], documentId: string, accepted: Map<string, number>): Promise<void> {
  const final = await persisted(documentId);
  await waitFor(async () => team.every((c) => c.seq === final.seq), 30_000, 'every client at the last sequence number');
  for (const [i, c] of team.entries()) assert.deepEqual(c.live(), final.live, `client ${i} holds the persisted annotations`);
  assert.deepEqual(
    final.log.map((e) => e.seq),
    final.log.map((_, k) => k + 1),
    'the log has no gaps',
  );
  const logged = new Map(final.log.map((e) => [e.opId, e.seq]));
  for (const [opId, seq] of accepted) assert.equal(logged.get(opId), seq, `accepted ${opId} is in the log once, at ${seq}`);
}

before(async () => {
  topology = await startScaleOut({ env: { SIGNIN_FAILURES_PER_ACCOUNT: String(FAILURES_PER_ACCOUNT), OPEN_SIGNUP: 'true' } });
});

after(async () => {
  for (const c of clients) c.close();
  await topology?.stop();
});

describe('hub replicas behind a load balancer', () => {
  test('a hub on MongoDB and Elasticsearch loads no SQLite module, and /readyz says which adapters answer', async (t) => {
    for (const hub of topology.hubs) {
      const ready = await (await fetch(`${hub.url}/readyz`)).json();
      assert.deepEqual(
        ready.checks.map((c: { name: string; ok: boolean; detail: string }) => [c.name, c.ok, c.detail]),
        [
          ['store', true, 'mongodb'],
          ['blobs', true, 'gridfs'],
          ['search', true, 'elasticsearch'],
          ['bus', true, 'nats'],
        ],
      );
      const maps = `/proc/${hub.child.pid}/maps`;
      if (!existsSync(maps)) {
        t.skip('no /proc here: the loaded native modules cannot be listed');
        continue;
      }
      // A native addon is mapped into the process once loaded: SQLite's and sqlite-vec's are not.
      assert.doesNotMatch(await readFile(maps, 'utf8'), /better_sqlite3\.node|vec0\.so/, `hub ${hub.url}`);
    }
  });

  test('a Socket.IO and a graphql-ws client on hub B follow a document uploaded through hub A', { timeout: 180_000 }, async () => {
    const [a, b] = topology.hubs as [(typeof topology.hubs)[0], (typeof topology.hubs)[0]];
    const socket = io(b.url, { transports: ['websocket'], auth: { token: topology.ownerToken } });
    const events: { name: string; payload: any }[] = [];
    socket.onAny((name, payload) => events.push({ name, payload }));
    const ws = createClient({
      url: `${b.url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { token: topology.ownerToken },
    });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      assert.deepEqual(await socket.emitWithAck('subscribe', { team: true }), { ok: true });
      let uploadedId = '';
      const statuses: string[] = [];
      const subscribed = new Promise<void>((resolve, reject) => {
        const stop = ws.subscribe(
          { query: `subscription { documentEvents { documentId status } }` },
          {
            next: (msg) => {
              if (msg.errors) reject(new Error(JSON.stringify(msg.errors)));
              const change = (msg.data as any).documentEvents;
              if (change.documentId !== uploadedId) return;
              statuses.push(change.status);
              if (change.status === 'PROCESSED') {
                stop();
                resolve();
              }
            },
            error: reject,
            complete: () => resolve(),
          },
        );
      });
      await sleep(500);
      const res = await upload(
        a.url,
        { name: 'harbour.txt', data: new TextEncoder().encode('Harbour dues for the ferry berth, June.\n') },
        topology.ownerAuth,
      );
      assert.equal(res.status, 202, JSON.stringify(res.body));
      uploadedId = res.body.documentId;
      await subscribed;
      assert.ok(statuses.includes('PROCESSED'), `graphql-ws on hub B: ${statuses.join(', ')}`);
      await waitFor(
        async () =>
          events.some((e) => e.name === 'document:changed' && e.payload.documentId === uploadedId && e.payload.status === 'processed'),
        30_000,
        'Socket.IO on hub B saw it processed',
      );
      assert.ok(
        events.some((e) => e.name === 'job:progress' && e.payload.jobId === res.body.jobId),
        'and its progress on the way',
      );
      // Both hubs read the one store and the one index.
      for (const hub of [a, b]) {
        const found = await gql(
          hub.url,
          `query { search(query: "ferry berth harbour dues", first: 5) { document { id } } }`,
          {},
          topology.ownerAuth,
        );
        assert.equal(found.errors, undefined, JSON.stringify(found.errors));
        assert.ok(
          found.data.search.some((h: any) => h.document.id === uploadedId),
          `hub ${hub.url} finds it`,
        );
      }
    } finally {
      socket.disconnect();
      await ws.dispose();
    }
  });

  test('rate limits hold across hubs: the attempt after the limit is refused whichever hub it reaches', { timeout: 60_000 }, async () => {
    const [a, b] = topology.hubs;
    const email = `limited-${randomUUID().slice(0, 8)}@example.org`;
    const password = 'a long enough password for this';
    const signedUp = await gql(a!.url, `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }`, { i: { email, password } });
    assert.equal(signedUp.errors, undefined, JSON.stringify(signedUp.errors));
    const attempt = async (url: string, guess: string) => {
      const res = await gql(url, `mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }`, {
        e: email,
        p: guess,
      });
      return res.errors?.[0]?.extensions?.code as string | undefined;
    };
    for (let i = 0; i < FAILURES_PER_ACCOUNT; i++) {
      assert.equal(await attempt((i % 2 ? a : b)!.url, 'not the password'), 'INVALID_CREDENTIALS');
    }
    assert.equal(await attempt(a!.url, password), 'RATE_LIMITED', 'hub A refuses the next');
    assert.equal(await attempt(b!.url, password), 'RATE_LIMITED', 'so does hub B');
  });

  test('8 collaboration clients spread over both hubs converge on the persisted state', { timeout: 240_000 }, async () => {
    const documentId = await processedText(topology.url, 'Minutes of the harbour committee: crane inspections and dredging.');
    const team = Array.from({ length: 8 }, (_, i) => collab(topology.hubs[i % 2]!.url));
    await Promise.all(team.map((c) => c.connected()));
    for (const c of team) assert.ok((await c.join(documentId)).ok);
    const { accepted, refused } = await annotate(team, documentId, 20);
    assert.ok(accepted.size > 8, 'operations were accepted');
    assert.ok(refused > 0, 'concurrent edits on different hubs did conflict');
    await assertConverged(team, documentId, accepted);
    for (const c of team) c.close();
  });

  test('a hub killed with SIGKILL: its clients reconnect through the balancer and catch up exactly', { timeout: 300_000 }, async () => {
    const documentId = await processedText(topology.url, 'Berth three closes in August; ferries move to berth five.');
    const team = Array.from({ length: 6 }, () => collab(topology.url));
    await Promise.all(team.map((c) => c.connected()));
    for (const c of team) assert.ok((await c.join(documentId)).ok);
    const before = team.map((c) => c.joins);
    const working = annotate(team, documentId, 15, () => sleep(40));
    await sleep(800);
    await topology.hubs[0]!.kill9();
    const { accepted } = await working;
    await assertConverged(team, documentId, accepted);
    assert.ok(
      team.some((c, i) => c.joins > before[i]!),
      'the clients of the killed hub joined again on the other',
    );
    await topology.startHub(0);
    for (const c of team) c.close();
  });

  test('a rolling restart of both hubs during a live session loses no accepted operation', { timeout: 400_000 }, async () => {
    const documentId = await processedText(topology.url, 'The dredging contract was signed on 2 June.');
    const team = Array.from({ length: 4 }, () => collab(topology.url));
    await Promise.all(team.map((c) => c.connected()));
    for (const c of team) assert.ok((await c.join(documentId)).ok);
    let rolling = true;
    const working = (async () => {
      const all = new Map<string, number>();
      while (rolling) for (const [k, v] of (await annotate(team, documentId, 3, () => sleep(30))).accepted) all.set(k, v);
      return all;
    })();
    await sleep(500);
    await topology.restartHub(0);
    await sleep(500);
    await topology.restartHub(1);
    rolling = false;
    const accepted = await working;
    // And the session goes on, on the restarted hubs.
    const afterwards = await annotate(team, documentId, 3);
    assert.ok(afterwards.accepted.size > 0, 'operations are accepted after the restarts');
    for (const [k, v] of afterwards.accepted) accepted.set(k, v);
    await assertConverged(team, documentId, accepted);
    for (const c of team) c.close();
  });
});
