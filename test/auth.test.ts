/**
 * Accounts through a real hub process over HTTP GraphQL: the first sign-up owns the install,
 * sign-in, `me`, refresh rotation, and a replayed refresh token ending the whole session;
 * then a restart on the same data directory keeps sessions (the generated key is kept).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gql, startHub, upload, type HubProcess } from './helpers/hub.ts';

const PASSWORD = 'correct horse battery staple';
const TOKENS = 'accessToken refreshToken accessTokenExpiresAt user { id email }';

let hub: HubProcess;

before(async () => {
  hub = await startHub();
});

after(async () => {
  await hub?.stop();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const codes = (res: { errors?: any[] }) => (res.errors ?? []).map((e) => e.extensions?.code);

describe('accounts over HTTP', () => {
  let ownerId: string;

  test('a fresh hub says how to make the first account, and the first sign-up owns the default team', async () => {
    assert.match(hub.output(), /No account yet/);
    const anonymous = await gql(hub.url, `{ me { user { id } } }`);
    assert.deepEqual(codes(anonymous), ['UNAUTHENTICATED']);
    // Without an account nobody reads documents: there is no team to read them in.
    assert.deepEqual(codes(await gql(hub.url, `{ documents(first: 1) { totalCount } }`)), ['UNAUTHENTICATED']);
    const anonymousUpload = await upload(hub.url, { name: 'notes.txt', data: new TextEncoder().encode('no account, no upload') });
    assert.equal(anonymousUpload.status, 401);
    assert.equal(anonymousUpload.body.error.code, 'UNAUTHENTICATED');

    const res = await gql(hub.url, `mutation($input: SignUpInput!) { signUp(input: $input) { ${TOKENS} } }`, {
      input: { email: 'Owner@Example.org', password: PASSWORD, name: 'Olga Owner' },
    });
    assert.deepEqual(codes(res), []);
    ownerId = res.data.signUp.user.id;
    assert.equal(res.data.signUp.user.email, 'Owner@Example.org');
    assert.ok(Date.parse(res.data.signUp.accessTokenExpiresAt) > Date.now());

    const again = await gql(hub.url, `mutation { signUp(input: { email: "late@example.org", password: "${PASSWORD}" }) { accessToken } }`);
    assert.deepEqual(codes(again), ['SIGNUP_CLOSED']);
  });

  test('sign-in → me → refresh → replay of the used refresh token ends the session', async () => {
    const signIn = await gql(hub.url, `mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { ${TOKENS} } }`, {
      e: 'owner@example.org',
      p: PASSWORD,
    });
    assert.deepEqual(codes(signIn), []);
    const first = signIn.data.signIn;
    assert.equal(first.user.id, ownerId);

    const me = await gql(
      hub.url,
      `{ me { user { id email } teams { role team { id name } } currentTeam { id } } }`,
      {},
      bearer(first.accessToken),
    );
    assert.deepEqual(codes(me), []);
    assert.deepEqual(me.data.me, {
      user: { id: ownerId, email: 'Owner@Example.org' },
      teams: [{ role: 'OWNER', team: { id: 'default', name: 'Default team' } }],
      currentTeam: { id: 'default' },
    });

    const refresh = `mutation($t: String!) { refreshSession(refreshToken: $t) { ${TOKENS} } }`;
    const rotated = await gql(hub.url, refresh, { t: first.refreshToken });
    assert.deepEqual(codes(rotated), []);
    const second = rotated.data.refreshSession;
    assert.notEqual(second.refreshToken, first.refreshToken);
    assert.deepEqual(codes(await gql(hub.url, `{ me { user { id } } }`, {}, bearer(second.accessToken))), []);

    // The first refresh token was used: presenting it again revokes the whole family.
    assert.deepEqual(codes(await gql(hub.url, refresh, { t: first.refreshToken })), ['SESSION_REVOKED']);
    assert.deepEqual(codes(await gql(hub.url, refresh, { t: second.refreshToken })), ['SESSION_REVOKED']);
    assert.deepEqual(codes(await gql(hub.url, `{ me { user { id } } }`, {}, bearer(second.accessToken))), ['SESSION_REVOKED']);
  });

  test('a restart on the same data keeps sessions valid: the generated key is kept, readable by the owner only', async () => {
    const signIn = await gql(hub.url, `mutation { signIn(email: "owner@example.org", password: "${PASSWORD}") { ${TOKENS} } }`);
    const tokens = signIn.data.signIn;
    const dataDir = hub.dataDir;
    assert.equal((await stat(join(dataDir, 'auth-secret'))).mode & 0o777, 0o600);
    await hub.stop({ keepData: true });
    hub = await startHub({ dataDir });
    assert.doesNotMatch(hub.output(), /No account yet/);

    const me = await gql(hub.url, `{ me { user { id } } }`, {}, bearer(tokens.accessToken));
    assert.deepEqual(codes(me), []);
    assert.equal(me.data.me.user.id, ownerId);
    const refreshed = await gql(hub.url, `mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }`, {
      t: tokens.refreshToken,
    });
    assert.deepEqual(codes(refreshed), []);
  });
});

describe('the seeded owner', () => {
  test('QUIRE_ADMIN_EMAIL and QUIRE_ADMIN_PASSWORD create the owner at start-up', async (t) => {
    const seeded = await startHub({ env: { QUIRE_ADMIN_EMAIL: 'admin@example.org', QUIRE_ADMIN_PASSWORD: PASSWORD } });
    t.after(() => seeded.stop());
    assert.doesNotMatch(seeded.output(), /No account yet/);
    assert.ok(!seeded.output().includes(PASSWORD), 'the password is never logged');
    const signIn = await gql(seeded.url, `mutation { signIn(email: "admin@example.org", password: "${PASSWORD}") { accessToken } }`);
    assert.deepEqual(codes(signIn), []);
    const me = await gql(seeded.url, `{ me { teams { role team { id } } } }`, {}, bearer(signIn.data.signIn.accessToken));
    assert.deepEqual(me.data.me.teams, [{ role: 'OWNER', team: { id: 'default' } }]);
  });
});
