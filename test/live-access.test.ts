/**
 * Access on long-lived connections, the audit log and original-file downloads, against a real
 * hub: a member removed, or whose session ended, stops receiving events on graphql-ws
 * subscriptions and Socket.IO rooms at the next event; owners read who did what through
 * `auditLog`; the original file comes back byte for byte.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, type Client } from 'graphql-ws';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { OWNER, bearer, gql, signIn, startHub, upload, waitFor, type HubProcess } from './helpers/hub.ts';

const PASSWORD = 'correct horse battery staple';
const text = (s: string) => new TextEncoder().encode(s);

let hub: HubProcess;
const cleanup: (() => unknown)[] = [];

before(async () => {
  hub = await startHub({ seedOwner: true });
});

after(async () => {
  for (const fn of cleanup.reverse()) await fn();
  await hub?.stop();
});

/** Signs up a member of the default team with `role`; answers their id and access token. */
async function member(email: string, role: 'EDITOR' | 'VIEWER'): Promise<{ id: string; token: string }> {
  const invitation = await hub.gql(`mutation($r: Role!) { createInvitation(role: $r) { token } }`, { r: role });
  const res = await gql(hub.url, `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken user { id } } }`, {
    i: { email, password: PASSWORD, invitationToken: invitation.data.createInvitation.token },
  });
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return { id: res.data.signUp.user.id, token: res.data.signUp.accessToken };
}

/** A team-wide documentEvents subscription: what it received, and its error code once it ends. */
function watchDocuments(token: string) {
  const client: Client = createClient({
    url: hub.url.replace('http', 'ws') + '/graphql',
    webSocketImpl: WebSocket,
    connectionParams: { token },
  });
  cleanup.push(() => client.dispose());
  const seen: string[] = [];
  const ended = new Promise<string | undefined>((resolve) => {
    client.subscribe(
      { query: `subscription { documentEvents { documentId status } }` },
      {
        next: (msg) => {
          if (msg.data) seen.push((msg.data.documentEvents as { documentId: string }).documentId);
        },
        error: (err) => resolve(Array.isArray(err) ? err[0]?.extensions?.code : String(err)),
        complete: () => resolve(undefined),
      },
    );
  });
  return { seen, ended };
}

/** A socket in the team room: the documents it heard of, and the `access:ended` it received. */
async function joinTeamRoom(token: string) {
  const socket: Socket = io(hub.url, { transports: ['websocket'], auth: { token }, reconnection: false });
  cleanup.push(() => socket.disconnect());
  const seen: string[] = [];
  const accessEnded: { code: string; message: string }[] = [];
  let disconnected = false;
  socket.on('document:changed', (e: { documentId: string }) => seen.push(e.documentId));
  socket.on('access:ended', (e: { code: string; message: string }) => accessEnded.push(e));
  socket.on('disconnect', () => (disconnected = true));
  const ack = await socket.timeout(10_000).emitWithAck('subscribe', { team: true });
  assert.deepEqual(ack, { ok: true });
  return { socket, seen, accessEnded, isDisconnected: () => disconnected };
}

describe('access is read again on every event', () => {
  test('a removed member stops receiving: the subscription ends NOT_FOUND and the socket leaves the room', async () => {
    const viewer = await member('viewer@example.org', 'VIEWER');
    const subscription = watchDocuments(viewer.token);
    const room = await joinTeamRoom(viewer.token);
    // Let the subscription reach the server before the first upload.
    await new Promise((r) => setTimeout(r, 300));

    const first = await hub.upload({ name: 'first.txt', data: text('The first memo of the quarter.\n') });
    assert.equal(first.status, 202);
    await waitFor(
      async () => subscription.seen.includes(first.body.documentId) && room.seen.includes(first.body.documentId),
      10_000,
      'first event',
    );

    const removed = await hub.gql(`mutation($u: ID!) { removeMember(userId: $u) }`, { u: viewer.id });
    assert.deepEqual(removed, { data: { removeMember: true } });
    const second = await hub.upload({ name: 'second.txt', data: text('The second memo, after the viewer left.\n') });
    assert.equal(second.status, 202);

    assert.equal(await subscription.ended, 'NOT_FOUND');
    await waitFor(async () => room.accessEnded.length > 0, 10_000, 'access:ended');
    assert.equal(room.accessEnded[0]?.code, 'NOT_FOUND');
    // A later event of the team still reaches the owner but not the former member.
    const third = await hub.upload({ name: 'third.txt', data: text('A third memo.\n') });
    assert.equal(third.status, 202);
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(!subscription.seen.includes(second.body.documentId) && !room.seen.includes(second.body.documentId));
    assert.ok(!room.seen.includes(third.body.documentId), 'the socket is out of the room');
    assert.equal(room.isDisconnected(), false, 'a person still signed in keeps the connection');
    const rejoin = await room.socket.timeout(10_000).emitWithAck('subscribe', { documentId: third.body.documentId });
    assert.equal(rejoin.ok ? 'joined' : rejoin.error.code, 'NOT_FOUND', 'the old connection cannot join again');
  });

  test('a session that ended disconnects its socket with SESSION_REVOKED', async () => {
    const editor = await member('editor@example.org', 'EDITOR');
    const room = await joinTeamRoom(editor.token);
    const subscription = watchDocuments(editor.token);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(await gql(hub.url, `mutation { signOut }`, {}, bearer(editor.token)), { data: { signOut: true } });
    assert.equal((await hub.upload({ name: 'fourth.txt', data: text('A fourth memo.\n') })).status, 202);
    assert.equal(await subscription.ended, 'SESSION_REVOKED');
    await waitFor(async () => room.isDisconnected(), 10_000, 'the socket is disconnected');
    assert.equal(room.accessEnded[0]?.code, 'SESSION_REVOKED');
  });
});

describe('original files and the audit log', () => {
  test('the original file downloads byte for byte, named as uploaded, and revalidates by its hash', async () => {
    const bytes = text('Invoice 7, "Harbour & Sons".\nTotal: 42.00\n');
    const accepted = await hub.upload({ name: 'invoice 7 (final).txt', data: bytes, type: 'text/plain' });
    assert.equal(accepted.status, 202);
    const url = `${hub.url}/api/documents/${accepted.body.documentId}/file`;
    const res = await fetch(url, { headers: hub.ownerAuth });
    assert.equal(res.status, 200);
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(res.headers.get('content-disposition'), 'attachment; filename="invoice 7 (final).txt"');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    const inline = await fetch(`${url}?inline`, { headers: hub.ownerAuth });
    assert.match(inline.headers.get('content-disposition') ?? '', /^inline; filename=/);
    await inline.arrayBuffer();
    const again = await fetch(url, { headers: { ...hub.ownerAuth, 'if-none-match': res.headers.get('etag')! } });
    assert.equal(again.status, 304);
    const missing = await fetch(`${hub.url}/api/documents/no-such-document/file`, { headers: hub.ownerAuth });
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.code, 'NOT_FOUND');
  });

  test('owners read uploads, deletions, API-key use, role changes and failed sign-ins, with who and from where', async () => {
    const key = (await hub.gql(`mutation { createApiKey(name: "scanner", role: EDITOR) { key apiKey { id } } }`)).data.createApiKey;
    const byKey = await upload(hub.url, { name: 'scanned.txt', data: text('Scanned by the office scanner.\n') }, bearer(key.key));
    assert.equal(byKey.status, 202);
    const deleted = await hub.gql(`mutation($id: ID!) { deleteDocument(id: $id) }`, { id: byKey.body.documentId });
    assert.deepEqual(deleted, { data: { deleteDocument: true } });
    const failed = await gql(hub.url, `mutation { signIn(email: "${OWNER.email}", password: "not the password") { accessToken } }`);
    assert.equal(failed.errors?.[0]?.extensions?.code, 'INVALID_CREDENTIALS');

    const log = await hub.gql(`{ auditLog(first: 50) { id action actor { email } actorApiKeyId targetType targetId ip details } }`);
    assert.equal(log.errors, undefined, JSON.stringify(log.errors));
    const entries: any[] = log.data.auditLog;
    const find = (action: string, targetId?: string) => entries.find((e) => e.action === action && (!targetId || e.targetId === targetId));
    assert.deepEqual(find('document.uploaded', byKey.body.documentId), {
      id: find('document.uploaded', byKey.body.documentId).id,
      action: 'document.uploaded',
      actor: null,
      actorApiKeyId: key.apiKey.id,
      targetType: 'document',
      targetId: byKey.body.documentId,
      ip: find('document.uploaded', byKey.body.documentId).ip,
      details: { filename: 'scanned.txt' },
    });
    assert.match(find('document.uploaded', byKey.body.documentId).ip, /127\.0\.0\.1/);
    assert.equal(find('document.deleted', byKey.body.documentId)?.actor?.email, OWNER.email);
    assert.equal(find('api_key.used')?.actorApiKeyId, key.apiKey.id);
    assert.equal(find('member.removed')?.actor?.email, OWNER.email);
    assert.equal(find('user.sign_in_failed')?.targetType, 'user');
    assert.ok(
      entries.every((e, i) => i === 0 || Number(entries[i - 1].id) > Number(e.id)),
      'newest first',
    );

    const editorToken = await signIn(hub.url, 'editor@example.org', PASSWORD);
    const refused = await gql(hub.url, `{ auditLog { id } }`, {}, bearer(editorToken));
    assert.equal(refused.errors?.[0]?.extensions?.code, 'FORBIDDEN', 'editors do not read the log');
  });
});
