/**
 * Live collaboration against a real hub: many `/collab` clients annotate one document at
 * once, some losing their connection on the way; at the end every client holds exactly the
 * persisted state. Presence follows joins, leaves and dropped connections; a client far
 * behind catches up from a snapshot.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { CollabClient, type AnswerError } from './helpers/collab-client.ts';
import { gql, startHub, waitFor, type HubProcess } from './helpers/hub.ts';
import { seededRandom } from './helpers/random.ts';

const PASSWORD = 'correct horse battery staple';
let hub: HubProcess;
const tokens: string[] = [];
let viewerToken = '';
let documentId = '';
let chunkLength = 0;
const clients: CollabClient[] = [];

async function member(email: string, role: 'EDITOR' | 'VIEWER'): Promise<string> {
  const invitation = await hub.gql(`mutation($role: Role!) { createInvitation(role: $role) { token } }`, { role });
  const res = await gql(hub.url, `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }`, {
    input: { email, password: PASSWORD, invitationToken: invitation.data.createInvitation.token },
  });
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return res.data.signUp.accessToken;
}

function client(token: string): CollabClient {
  const c = new CollabClient(hub.url, { token });
  clients.push(c);
  return c;
}

/** The persisted state, as a client joining afresh receives it. */
async function persisted(): Promise<{ seq: number; annotations: Map<string, unknown> }> {
  const fresh = client(tokens[0]!);
  await fresh.connected();
  const joined = await fresh.join(documentId);
  assert.ok(joined.ok);
  fresh.close();
  return { seq: fresh.seq, annotations: fresh.live() };
}

/** Every accepted operation in the log, through GraphQL, page by page. */
async function log(): Promise<{ seq: number; opId: string }[]> {
  const ops: { seq: number; opId: string }[] = [];
  for (;;) {
    const res = await hub.gql(
      `query($d: ID!, $a: Int) { annotationOperations(documentId: $d, after: $a, first: 100) { lastSeq operations { seq opId } } }`,
      { d: documentId, a: ops.at(-1)?.seq ?? 0 },
    );
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    const page = res.data.annotationOperations;
    ops.push(...page.operations);
    if (page.operations.length === 0) return ops;
  }
}

before(async () => {
  hub = await startHub({ seedOwner: true });
  tokens.push(hub.ownerToken!, await member('ada@example.org', 'EDITOR'), await member('grace@example.org', 'EDITOR'));
  viewerToken = await member('vera@example.org', 'VIEWER');
  const text = [
    'Minutes of the harbour committee, 4 June.',
    'The committee reviewed the crane inspection schedule and the dredging contract.',
    'Berth three will close for repairs in August; ferries move to berth five.',
  ].join('\n');
  const accepted = await hub.upload({ name: 'minutes.txt', data: new TextEncoder().encode(`${text}\n`) });
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
  documentId = accepted.body.documentId;
  const doc = await waitFor(
    async () => {
      const res = await hub.gql(`query($id: ID!) { document(id: $id) { status chunks { ordinal text } } }`, { id: documentId });
      return res.data.document?.status === 'PROCESSED' && res.data.document;
    },
    120_000,
    'document processed',
  );
  chunkLength = doc.chunks[0].text.length;
});

after(async () => {
  for (const c of clients) c.close();
  await hub?.stop();
});

describe('annotation sessions', () => {
  test('8 clients annotating at once, some dropping and coming back, converge on the persisted state', { timeout: 240_000 }, async () => {
    const N = 8;
    const OPS_PER_CLIENT = 30;
    const team = Array.from({ length: N }, (_, i) => client(tokens[i % tokens.length]!));
    await Promise.all(team.map((c) => c.connected()));
    for (const c of team) assert.ok((await c.join(documentId)).ok);

    const accepted = new Map<string, number>();
    const refused: { opId: string; error: AnswerError }[] = [];
    let opCount = 0;

    const run = async (c: CollabClient, index: number) => {
      const rand = seededRandom(1000 + index);
      for (let i = 0; i < OPS_PER_CLIENT; i += 1) {
        // Clients 1, 2 and 3 lose their connection part-way through, each in its own way.
        if (i === 10 && index === 1) c.socket.io.engine.close(); // transport drops; the client reconnects by itself
        if (i === 12 && index === 2) {
          c.socket.disconnect();
          await sleep(300);
          c.socket.connect();
          await c.connected();
          assert.ok((await c.join(documentId)).ok);
        }
        if (i === 15 && index === 3) {
          c.socket.io.engine.close();
          await sleep(1000);
        }
        const live = [...c.live().values()];
        const target = live[Math.floor(rand() * live.length)];
        const pick = rand();
        const opId = `c${index}-op${i}`;
        let op: Record<string, unknown>;
        if (!target || pick < 0.35) {
          const start = Math.floor(rand() * (chunkLength - 5));
          op = {
            type: 'create',
            opId,
            anchor: { kind: 'highlight', chunkOrdinal: 0, start, end: start + 5 },
            label: rand() < 0.5 ? 'invoice' : null,
            comment: `note ${opId}`,
          };
        } else if (pick < 0.7) {
          op = { type: 'edit', opId, annotationId: target.id, baseVersion: target.version, comment: `edited by ${opId}` };
        } else if (pick < 0.85) {
          op = { type: 'resolve', opId, annotationId: target.id, baseVersion: target.version, resolved: !target.resolved };
        } else {
          op = { type: 'delete', opId, annotationId: target.id, baseVersion: target.version };
        }
        opCount += 1;
        // An acknowledgement lost with the connection is asked for again with the same id.
        for (let attempt = 1; ; attempt += 1) {
          try {
            const answer = await c.op(op);
            if (answer.ok) accepted.set(opId, answer.state.seq);
            else refused.push({ opId, error: answer.error });
            break;
          } catch (err) {
            if (attempt >= 5) throw err;
          }
        }
        await sleep(Math.floor(rand() * 15));
      }
    };
    await Promise.all(team.map(run));

    // Everyone settles on the last sequence number.
    const final = await persisted();
    await waitFor(async () => team.every((c) => c.seq === final.seq), 20_000, 'every client at the last sequence number');

    for (const [i, c] of team.entries()) {
      assert.deepEqual(c.live(), final.annotations, `client ${i} holds the persisted annotations`);
      // Applied in order, each at most once (a snapshot may skip over what it covers).
      for (let k = 1; k < c.applied.length; k += 1) assert.ok(c.applied[k]! > c.applied[k - 1]!, `client ${i} applied in order`);
    }
    assert.ok(
      team.slice(1, 4).every((c) => c.socket.connected && c.joins >= 2),
      'the clients that dropped are back, having joined again from where they were',
    );

    // Every accepted operation is in the log exactly once, with the sequence number it was given.
    const entries = await log();
    assert.deepEqual(
      entries.map((e) => e.seq),
      entries.map((_, k) => k + 1),
      'the log has no gaps',
    );
    assert.equal(entries.length, final.seq);
    assert.deepEqual(new Map(entries.map((e) => [e.opId, e.seq])), accepted, 'the log holds exactly the accepted operations');
    assert.equal(accepted.size + refused.length, opCount, 'every operation was answered');
    // Every refusal was a conflict, with the state it would have overwritten.
    assert.deepEqual(
      refused.filter((r) => r.error.code !== 'CONFLICT'),
      [],
    );
    assert.ok(refused.every((r) => r.error.details && 'current' in r.error.details));
    assert.ok(refused.length > 0, 'concurrent edits did conflict');
    assert.ok(accepted.size > N, 'operations were accepted');
    for (const c of team) c.close();
  });

  test('a stale edit is refused with the current state; resending an operation answers it again', async () => {
    const [a, b] = [client(tokens[0]!), client(tokens[1]!)];
    await Promise.all([a.connected(), b.connected()]);
    await a.join(documentId);
    await b.join(documentId);
    const created = await a.op({
      type: 'create',
      opId: 'stale-1',
      anchor: { kind: 'highlight', chunkOrdinal: 0, start: 0, end: 7 },
      label: 'CONFIDENTIAL',
    });
    assert.ok(created.ok, JSON.stringify(created));
    const id = created.state.annotation.id;
    const first = await a.op({ type: 'edit', opId: 'stale-2', annotationId: id, baseVersion: 1, comment: 'from a' });
    const second = await b.op({ type: 'edit', opId: 'stale-3', annotationId: id, baseVersion: 1, comment: 'from b' });
    assert.ok(first.ok);
    assert.equal(!second.ok && second.error.code, 'CONFLICT');
    assert.equal(!second.ok && second.error.details.current.comment, 'from a', 'the refusal carries what is there now');
    const again = await a.op({ type: 'edit', opId: 'stale-2', annotationId: id, baseVersion: 1, comment: 'from a' });
    assert.deepEqual(again, first, 'a resent operation answers the first acceptance');
    const reply = await b.op({ type: 'reply', opId: 'stale-4', annotationId: id, baseVersion: 1, text: 'agreed' });
    assert.ok(reply.ok, 'a reply needs no current version: it overwrites nothing');
    assert.equal(reply.ok && reply.state.annotation.replies.length, 1);

    for (const [bad, code] of [
      [{ type: 'create', opId: 'bad-1', anchor: { kind: 'highlight', chunkOrdinal: 0, start: 0, end: 99999 } }, 'ANCHOR_OUT_OF_RANGE'],
      [
        { type: 'create', opId: 'bad-2', anchor: { kind: 'box', page: 1, box: { x: 0, y: 0, w: 5, h: 5 } }, label: 'no such label' },
        'UNKNOWN_LABEL',
      ],
      [{ type: 'edit', opId: 'bad-3', annotationId: id }, 'BAD_ANNOTATION_OP'],
      [{ type: 'edit', opId: 'bad-4', annotationId: 'missing', baseVersion: 1, comment: 'x' }, 'NOT_FOUND'],
    ] as const) {
      const answer = await a.op(bad);
      assert.equal(!answer.ok && answer.error.code, code, JSON.stringify(bad));
    }
    // Whatever a client sends where the callback belongs, the hub answers the next request.
    a.socket.emit('join', { documentId }, 'not a callback');
    a.socket.emit('review:join', 42);
    assert.ok((await a.request('sync', { documentId, since: 0 })).ok, 'the hub is still there');
    const viewer = client(viewerToken);
    await viewer.connected();
    assert.ok((await viewer.join(documentId)).ok, 'a viewer may watch');
    const write = await viewer.op({ type: 'create', opId: 'viewer-1', anchor: { kind: 'highlight', chunkOrdinal: 0, start: 0, end: 3 } });
    assert.equal(!write.ok && write.error.code, 'FORBIDDEN', 'a viewer may not write');
    for (const c of [a, b, viewer]) c.close();
  });

  test('a client far behind catches up from a snapshot, one slightly behind from the operations it missed', async () => {
    const writer = client(tokens[0]!);
    await writer.connected();
    await writer.join(documentId);
    const start = writer.seq;
    for (let i = 0; i < 205; i += 1) {
      const answer = await writer.op({
        type: 'create',
        opId: `bulk-${i}`,
        anchor: { kind: 'box', page: 1, box: { x: i, y: 0, w: 4, h: 4 } },
      });
      assert.ok(answer.ok);
    }
    const behind = await writer.request('sync', { documentId, since: start });
    assert.equal(behind.ok && behind.state.catchUp.kind, 'snapshot');
    assert.equal(behind.ok && behind.state.catchUp.seq, start + 205);
    const near = await writer.request('sync', { documentId, since: start + 200 });
    assert.ok(near.ok);
    assert.equal(near.state.catchUp.kind, 'ops');
    assert.deepEqual(
      near.state.catchUp.ops.map((o: { seq: number }) => o.seq),
      [start + 201, start + 202, start + 203, start + 204, start + 205],
    );
    await waitFor(async () => writer.seq === start + 205, 10_000, 'the writer saw its own operations');
    writer.close();
  });
});

describe('presence', () => {
  test('appears on join and move, and disappears on leave and on a dropped connection', { timeout: 60_000 }, async () => {
    const [a, b, c] = [client(tokens[0]!), client(tokens[1]!), new CollabClient(hub.url, { token: tokens[2]! })];
    clients.push(c);
    c.socket.io.reconnection(false);
    await Promise.all([a, b, c].map((x) => x.connected()));
    await a.join(documentId);
    const joinedB = await b.join(documentId);
    assert.ok(joinedB.ok);
    assert.ok(
      joinedB.state.presence.some((e: { connectionId: string }) => e.connectionId === a.socket.id),
      'B sees A already there',
    );
    await waitFor(async () => a.presence.has(b.socket.id!), 5000, 'A sees B arrive');
    const you = joinedB.state.you;
    assert.equal(a.presence.get(b.socket.id!)!.name, 'ada@example.org');
    assert.match(you.colour, /^#[0-9a-f]{6}$/);

    const moved = await b.request('presence', {
      documentId,
      page: 1,
      cursor: { x: 10, y: 20 },
      selection: { kind: 'highlight', chunkOrdinal: 0, start: 2, end: 9 },
    });
    assert.ok(moved.ok, JSON.stringify(moved));
    await waitFor(async () => a.presence.get(b.socket.id!)?.page === 1, 5000, 'A sees where B looks');
    assert.deepEqual(a.presence.get(b.socket.id!)!.cursor, { x: 10, y: 20 });
    // Dashboards read the same over GraphQL (once the earlier tests' clients have gone).
    const here = async () => {
      const res = await hub.gql(`query($d: ID) { presence(documentId: $d) { name page colour } }`, { d: documentId });
      assert.equal(res.errors, undefined, JSON.stringify(res.errors));
      return res.data.presence.map((e: { name: string }) => e.name).sort();
    };
    await waitFor(async () => (await here()).length === 2, 5000, 'two people in the session');
    assert.deepEqual(await here(), ['ada@example.org', 'owner@example.org']);

    const notJoined = await c.request('presence', { documentId, page: 2 });
    assert.equal(!notJoined.ok && notJoined.error.code, 'NOT_JOINED');

    await b.leave();
    await waitFor(async () => !a.presence.has(b.socket.id!), 5000, 'A sees B leave');

    await c.join(documentId);
    const cid = c.socket.id!;
    await waitFor(async () => a.presence.has(cid), 5000, 'A sees C arrive');
    const dropped = Date.now();
    c.socket.io.engine.close(); // the connection drops; no goodbye is sent
    await waitFor(async () => !a.presence.has(cid), 10_000, 'A sees C gone');
    const gone = Date.now() - dropped;
    assert.ok(gone < 10_000, `gone after ${gone} ms`);
  });
});
