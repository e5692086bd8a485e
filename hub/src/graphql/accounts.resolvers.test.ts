/**
 * The account operations through the executable schema, in process: argument and enum
 * translation, the optional teamId defaulting to the request's team, and error codes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { graphql } from 'graphql';
import { pino } from 'pino';
import { resolveRequestAuth } from '../auth/request-auth.ts';
import { RateLimits } from '../auth/rate-limits.ts';
import { AuthService } from '../services/auth.service.ts';
import { SqliteStore } from '../store/sqlite/store.sqlite.ts';
import type { GraphQLContext } from './context.ts';
import { buildSchema, formatError } from './server.ts';

const schema = buildSchema();
const logger = pino({ level: 'silent' });

describe('account resolvers', () => {
  let dir: string;
  let store: SqliteStore;
  let auth: AuthService;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quire-gql-auth-'));
    store = new SqliteStore({ filename: join(dir, 'quire.sqlite') });
    await store.start();
    await store.ensureTeam({ id: 'default', name: 'Default team' });
    auth = new AuthService({
      store,
      secret: randomBytes(32),
      accessTtlMs: 60_000,
      refreshTtlMs: 3_600_000,
      invitationTtlMs: 86_400_000,
      openSignup: false,
      firstTeam: { id: 'default', name: 'Default team' },
      passwordHashing: { memoryCost: 1024, timeCost: 1 },
      limits: new RateLimits({
        signIn: { failuresPerAccount: 1000, failuresPerAddress: 1000, windowMs: 60_000 },
        uploadsPerTeamPerMinute: 1000,
      }),
    });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs an operation as a caller with this Authorization header; answers data and error codes. */
  async function run(source: string, variables: Record<string, unknown> = {}, authorization?: string, team?: string) {
    const contextValue = {
      auth: await resolveRequestAuth(auth, { authorization, team, ip: '127.0.0.1' }),
      services: { auth },
    } as unknown as GraphQLContext;
    const result = await graphql({ schema, source, variableValues: variables, contextValue });
    const codes = (result.errors ?? []).map((e) => formatError(e.toJSON(), e, logger).extensions?.code);
    // Executed results are null-prototype objects; compare them as a client receives them.
    return { data: JSON.parse(JSON.stringify(result.data ?? null)), codes };
  }

  it('signs up the owner, invites an editor with a role enum, and reads members and me', async () => {
    const signUp = await run(`mutation($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken user { email } } }`, {
      input: { email: 'owner@example.org', password: 'correct horse battery', name: 'Olga' },
    });
    assert.deepEqual(signUp.codes, []);
    const ownerBearer = `Bearer ${signUp.data.signUp.accessToken}`;

    const invite = await run(
      `mutation { createInvitation(role: EDITOR) { token invitation { role team { id name } expiresAt } } }`,
      {},
      ownerBearer,
    );
    assert.deepEqual(invite.codes, []);
    assert.equal(invite.data.createInvitation.invitation.role, 'EDITOR');
    assert.deepEqual(invite.data.createInvitation.invitation.team, { id: 'default', name: 'Default team' });

    const editor = await run(`mutation($input: SignUpInput!) { signUp(input: $input) { accessToken user { id } } }`, {
      input: { email: 'ed@example.org', password: 'correct horse battery', invitationToken: invite.data.createInvitation.token },
    });
    assert.deepEqual(editor.codes, []);
    const editorBearer = `Bearer ${editor.data.signUp.accessToken}`;

    const me = await run(`{ me { user { email } teams { role team { id } } currentTeam { id } } }`, {}, editorBearer);
    assert.deepEqual(me.data.me, {
      user: { email: 'ed@example.org' },
      teams: [{ role: 'EDITOR', team: { id: 'default' } }],
      currentTeam: { id: 'default' },
    });

    const members = await run(`{ members { role user { email } joinedAt } }`, {}, editorBearer);
    assert.deepEqual(
      members.data.members.map((m: any) => [m.user.email, m.role]),
      [
        ['owner@example.org', 'OWNER'],
        ['ed@example.org', 'EDITOR'],
      ],
    );

    const promote = await run(
      `mutation($id: ID!) { setMemberRole(userId: $id, role: VIEWER) { role user { email } } }`,
      { id: editor.data.signUp.user.id },
      ownerBearer,
    );
    assert.deepEqual(promote.data.setMemberRole, { role: 'VIEWER', user: { email: 'ed@example.org' } });
    const denied = await run(`mutation { createApiKey(name: "ci") { key } }`, {}, editorBearer);
    assert.deepEqual(denied.codes, ['FORBIDDEN']);

    const key = await run(`mutation { createApiKey(name: "ci") { key apiKey { id prefix role lastUsedAt } } }`, {}, ownerBearer);
    assert.equal(key.data.createApiKey.apiKey.role, 'EDITOR', 'the default role');
    assert.ok(key.data.createApiKey.key.startsWith(key.data.createApiKey.apiKey.prefix));
    const keyMe = await run(`{ me { user { id } } }`, {}, `Bearer ${key.data.createApiKey.key}`);
    assert.deepEqual(keyMe.codes, ['FORBIDDEN'], 'an API key is not a person');
    const listed = await run(`{ apiKeys { id lastUsedAt } }`, {}, ownerBearer);
    assert.equal(listed.data.apiKeys.length, 1);
    assert.ok(listed.data.apiKeys[0].lastUsedAt, 'the key has been used');
  });

  it('answers the documented codes for missing, wrong and stale credentials', async () => {
    assert.deepEqual((await run(`{ me { user { id } } }`)).codes, ['UNAUTHENTICATED']);
    assert.deepEqual((await run(`{ me { user { id } } }`, {}, 'Bearer nonsense')).codes, ['UNAUTHENTICATED']);
    assert.deepEqual((await run(`{ me { user { id } } }`, {}, 'Basic b3duZXI6cHc=')).codes, ['UNAUTHENTICATED']);
    const wrong = await run(`mutation { signIn(email: "owner@example.org", password: "not the password") { accessToken } }`);
    assert.deepEqual(wrong.codes, ['INVALID_CREDENTIALS']);
    const closed = await run(`mutation { signUp(input: { email: "x@example.org", password: "long enough pw" }) { accessToken } }`);
    assert.deepEqual(closed.codes, ['SIGNUP_CLOSED']);
    const signIn = await run(`mutation { signIn(email: "owner@example.org", password: "correct horse battery") { accessToken } }`);
    const bearer = `Bearer ${signIn.data.signIn.accessToken}`;
    const otherTeam = await run(`{ members { role } }`, {}, bearer, 'team-that-is-not-mine');
    assert.deepEqual(otherTeam.codes, ['NOT_FOUND']);
    const me = await run(`{ me { currentTeam { id } } }`, {}, bearer, 'team-that-is-not-mine');
    assert.equal(me.data.me.currentTeam, null);
    const last = await run(`mutation { changePassword(currentPassword: "correct horse battery", newPassword: "short") }`, {}, bearer);
    assert.deepEqual(last.codes, ['WEAK_PASSWORD']);
  });
});
