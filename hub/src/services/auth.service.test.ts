import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { AppError } from '@quire/kernel';
import type { Principal } from '../auth/policy.ts';
import { RateLimits } from '../auth/rate-limits.ts';
import { SqliteStore } from '../store/sqlite/store.sqlite.ts';
import { AuditAction, Role } from '../store/store.ts';
import { ACCESS_RECHECK_MS, API_KEY_TOUCH_INTERVAL_MS, AuthService, type AuthServiceOptions } from './auth.service.ts';

const T0 = Date.UTC(2031, 4, 2, 8, 0);
const ACCESS_TTL = 60_000;
const REFRESH_TTL = 3_600_000;
const INVITATION_TTL = 86_400_000;
const FIRST_TEAM = { id: 'default', name: 'Default team' };
const PASSWORD = 'correct horse battery staple';

/** Rejects with an AppError of this code. */
async function refused(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof AppError, `expected an AppError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

describe('AuthService', () => {
  let dir: string;
  let store: SqliteStore;
  let clock: { now: number };
  let auth: AuthService;
  let secret: Uint8Array;

  const make = (overrides: Partial<AuthServiceOptions> = {}) =>
    new AuthService({
      store,
      secret,
      accessTtlMs: ACCESS_TTL,
      refreshTtlMs: REFRESH_TTL,
      invitationTtlMs: INVITATION_TTL,
      openSignup: false,
      firstTeam: FIRST_TEAM,
      // Cheap hashing keeps the suite fast; production uses the OWASP defaults.
      passwordHashing: { memoryCost: 1024, timeCost: 1 },
      limits: new RateLimits({
        signIn: { failuresPerAccount: 1000, failuresPerAddress: 1000, windowMs: 60_000 },
        uploadsPerTeamPerMinute: 1000,
      }),
      now: () => clock.now,
      ...overrides,
    });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quire-auth-'));
    store = new SqliteStore({ filename: join(dir, 'quire.sqlite') });
    await store.start();
    await store.ensureTeam(FIRST_TEAM);
    clock = { now: T0 };
    secret = new TextEncoder().encode(randomBytes(32).toString('base64url'));
    auth = make();
  });

  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Signs up the install's owner and answers their tokens and principal. */
  async function owner() {
    const session = await auth.signUp({ email: 'owner@example.org', password: PASSWORD, name: 'Olga Owner' });
    return { session, principal: await auth.authenticate(session.accessToken) };
  }

  /** Adds a member by invitation with `role`; answers their tokens and principal. */
  async function member(ownerPrincipal: Principal, role: Role, email = `${role}-${randomBytes(4).toString('hex')}@example.org`) {
    const { token } = await auth.createInvitation(ownerPrincipal, FIRST_TEAM.id, { role });
    const session = await auth.signUp({ email, password: PASSWORD, invitationToken: token });
    return { session, principal: await auth.authenticate(session.accessToken) };
  }

  describe('sign-up', () => {
    it('makes the first user owner of the first team, with an argon2id hash', async () => {
      const { session, principal } = await owner();
      assert.equal(session.user.email, 'owner@example.org');
      assert.match(session.user.passwordHash, /^\$argon2id\$/);
      assert.deepEqual(principal, {
        kind: 'user',
        userId: session.user.id,
        sessionId: principal.kind === 'user' ? principal.sessionId : '',
        memberships: [{ teamId: FIRST_TEAM.id, role: 'owner' }],
      });
      const me = await auth.me(principal);
      assert.deepEqual(
        me.teams.map((t) => [t.team.id, t.team.name, t.role]),
        [[FIRST_TEAM.id, FIRST_TEAM.name, 'owner']],
      );
      const [event] = await store.listAudit({ actorUserId: session.user.id, limit: 1 });
      assert.equal(event?.action, AuditAction.SignedUp);
    });

    it('is closed after the first user unless invited or open sign-up is configured', async () => {
      await owner();
      await refused(auth.signUp({ email: 'stranger@example.org', password: PASSWORD }), 'SIGNUP_CLOSED');
      assert.equal(await store.findUserByEmail('stranger@example.org'), undefined);

      const open = make({ openSignup: true });
      const { user } = await open.signUp({ email: 'stranger@example.org', password: PASSWORD, name: 'Sam' });
      const teams = await store.listMembershipsOfUser(user.id);
      assert.equal(teams.length, 1);
      assert.notEqual(teams[0]!.teamId, FIRST_TEAM.id, 'an open sign-up gets a team of its own');
      assert.equal(teams[0]!.role, 'owner');
      assert.equal((await store.getTeam(teams[0]!.teamId))?.name, "Sam's team");
    });

    it('refuses weak passwords, bad addresses and a taken address in any case', async () => {
      await refused(auth.signUp({ email: 'owner@example.org', password: 'short' }), 'WEAK_PASSWORD');
      await refused(auth.signUp({ email: 'not an address', password: PASSWORD }), 'VALIDATION_FAILED');
      assert.equal(await auth.hasUsers(), false);
      await owner();
      const open = make({ openSignup: true });
      await refused(open.signUp({ email: 'OWNER@example.org', password: PASSWORD }), 'EMAIL_TAKEN');
    });
  });

  describe('sign-in and access tokens', () => {
    it('signs in with the right password and refuses a wrong one or an unknown address alike, auditing both', async () => {
      const { session } = await owner();
      const signedIn = await auth.signIn({ email: 'Owner@Example.org', password: PASSWORD }, { ip: '203.0.113.9' });
      assert.equal(signedIn.user.id, session.user.id);
      assert.notEqual(signedIn.refreshToken, session.refreshToken);
      await refused(auth.signIn({ email: 'owner@example.org', password: 'wrong password!' }, { ip: '203.0.113.9' }), 'INVALID_CREDENTIALS');
      await refused(auth.signIn({ email: 'nobody@example.org', password: PASSWORD }), 'INVALID_CREDENTIALS');
      const actions = (await store.listAudit({ limit: 10 })).map((e) => [e.action, e.ip]);
      assert.deepEqual(actions.slice(0, 3), [
        [AuditAction.SignInFailed, null],
        [AuditAction.SignInFailed, '203.0.113.9'],
        [AuditAction.SignedIn, '203.0.113.9'],
      ]);
    });

    it('refuses an expired access token, and tokens that are not its own', async () => {
      const { session } = await owner();
      clock.now += ACCESS_TTL - 1000;
      await auth.authenticate(session.accessToken);
      clock.now += 1000;
      await refused(auth.authenticate(session.accessToken), 'TOKEN_EXPIRED');

      await refused(auth.authenticate('not-a-token'), 'UNAUTHENTICATED');
      const forged = await new SignJWT({ sid: 'x' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(session.user.id)
        .setIssuer('quire')
        .setAudience('quire')
        .setExpirationTime(Math.floor(clock.now / 1000) + 600)
        .sign(randomBytes(32));
      await refused(auth.authenticate(forged), 'UNAUTHENTICATED');
    });
  });

  describe('sessions', () => {
    it('rotates refresh tokens; replaying a rotated one revokes the whole family and only it', async () => {
      const { session } = await owner();
      const other = await auth.signIn({ email: 'owner@example.org', password: PASSWORD });

      clock.now += 10_000;
      const second = await auth.refreshSession(session.refreshToken);
      assert.notEqual(second.refreshToken, session.refreshToken);
      assert.equal(second.refreshTokenExpiresAt, clock.now + REFRESH_TTL, 'each refresh starts the lifetime again');
      await auth.authenticate(second.accessToken);
      const third = await auth.refreshSession(second.refreshToken);

      // The first token was rotated: presenting it again is a replay.
      await refused(auth.refreshSession(session.refreshToken), 'SESSION_REVOKED');
      await refused(auth.refreshSession(third.refreshToken), 'SESSION_REVOKED');
      await refused(auth.authenticate(third.accessToken), 'SESSION_REVOKED');
      await refused(auth.authenticate(session.accessToken), 'SESSION_REVOKED');
      assert.equal((await store.listAudit({ limit: 1 }))[0]?.action, AuditAction.SessionReplayed);

      // Another session of the same person is untouched.
      await auth.authenticate(other.accessToken);
      await auth.refreshSession(other.refreshToken);
    });

    it('refuses an expired refresh token and an unknown one', async () => {
      const { session } = await owner();
      clock.now += REFRESH_TTL;
      await refused(auth.refreshSession(session.refreshToken), 'TOKEN_EXPIRED');
      await refused(auth.refreshSession('qr_unknown'), 'UNAUTHENTICATED');
    });

    it('signOut ends the session by access token or by refresh token', async () => {
      const { session, principal } = await owner();
      assert.equal(await auth.signOut(principal, null), true);
      await refused(auth.authenticate(session.accessToken), 'SESSION_REVOKED');
      await refused(auth.refreshSession(session.refreshToken), 'SESSION_REVOKED');

      const again = await auth.signIn({ email: 'owner@example.org', password: PASSWORD });
      assert.equal(await auth.signOut(null, again.refreshToken), true);
      await refused(auth.authenticate(again.accessToken), 'SESSION_REVOKED');
      await refused(auth.signOut(null, null), 'UNAUTHENTICATED');
    });

    it("changePassword ends the user's other sessions and keeps the current one", async () => {
      const { session, principal } = await owner();
      const laptop = await auth.signIn({ email: 'owner@example.org', password: PASSWORD });
      const phone = await auth.signIn({ email: 'owner@example.org', password: PASSWORD });

      await refused(
        auth.changePassword(principal, { currentPassword: 'not my password', newPassword: 'a new long password' }),
        'INVALID_CREDENTIALS',
      );
      await refused(auth.changePassword(principal, { currentPassword: PASSWORD, newPassword: 'short' }), 'WEAK_PASSWORD');
      await auth.changePassword(principal, { currentPassword: PASSWORD, newPassword: 'a new long password' });

      await auth.authenticate(session.accessToken);
      await auth.refreshSession(session.refreshToken);
      for (const ended of [laptop, phone]) {
        await refused(auth.authenticate(ended.accessToken), 'SESSION_REVOKED');
        await refused(auth.refreshSession(ended.refreshToken), 'SESSION_REVOKED');
      }
      await refused(auth.signIn({ email: 'owner@example.org', password: PASSWORD }), 'INVALID_CREDENTIALS');
      await auth.signIn({ email: 'owner@example.org', password: 'a new long password' });
      const changed = (await store.listAudit({ actorUserId: session.user.id, limit: 10 })).find(
        (e) => e.action === AuditAction.PasswordChanged,
      );
      assert.deepEqual(changed?.details, { sessionsEnded: 2 });
    });
  });

  describe('invitations', () => {
    it('an invitation adds the member with its role, once', async () => {
      const { principal } = await owner();
      const { invitation, token } = await auth.createInvitation(principal, FIRST_TEAM.id, { role: Role.Editor });
      assert.match(token, /^qi_/);
      assert.equal(invitation.expiresAt, T0 + INVITATION_TTL);
      assert.notEqual(invitation.tokenHash, token, 'kept hashed');

      const grace = await auth.signUp({ email: 'grace@example.org', password: PASSWORD, invitationToken: token });
      assert.deepEqual((await auth.authenticate(grace.accessToken)).memberships, [{ teamId: FIRST_TEAM.id, role: 'editor' }]);
      await refused(auth.signUp({ email: 'second@example.org', password: PASSWORD, invitationToken: token }), 'INVITATION_INVALID');
      assert.equal(await store.findUserByEmail('second@example.org'), undefined, 'no account without a team');
      const accepted = (await store.listAudit({ teamId: FIRST_TEAM.id, limit: 5 })).map((e) => e.action);
      assert.ok(accepted.includes(AuditAction.InvitationAccepted));
    });

    it('expires, and may be bound to one address', async () => {
      const { principal } = await owner();
      const expiring = await auth.createInvitation(principal, FIRST_TEAM.id, { role: Role.Viewer });
      const bound = await auth.createInvitation(principal, FIRST_TEAM.id, { role: Role.Viewer, email: 'Hedy@Example.org' });
      await refused(auth.signUp({ email: 'eve@example.org', password: PASSWORD, invitationToken: bound.token }), 'INVITATION_INVALID');
      await auth.signUp({ email: 'hedy@example.org', password: PASSWORD, invitationToken: bound.token });

      clock.now += INVITATION_TTL;
      await refused(auth.signUp({ email: 'late@example.org', password: PASSWORD, invitationToken: expiring.token }), 'INVITATION_INVALID');
      await refused(auth.signUp({ email: 'late@example.org', password: PASSWORD, invitationToken: 'qi_made-up' }), 'INVITATION_INVALID');
    });

    it('a signed-in person accepts an invitation into a further team', async () => {
      const { principal } = await owner();
      const open = make({ openSignup: true });
      const sam = await open.signUp({ email: 'sam@example.org', password: PASSWORD, name: 'Sam' });
      const samPrincipal = await auth.authenticate(sam.accessToken);
      const { token } = await auth.createInvitation(principal, FIRST_TEAM.id, { role: Role.Viewer });
      const membership = await auth.acceptInvitation(samPrincipal, token);
      assert.deepEqual([membership.teamId, membership.role], [FIRST_TEAM.id, 'viewer']);
      assert.deepEqual(
        (await auth.me(await auth.authenticate(sam.accessToken))).teams.map((t) => t.role),
        ['owner', 'viewer'],
      );
      await refused(auth.acceptInvitation(samPrincipal, token), 'INVITATION_INVALID');
    });

    it('only owners invite; a non-member is told the team does not exist', async () => {
      const { principal } = await owner();
      const editor = await member(principal, Role.Editor);
      await refused(auth.createInvitation(editor.principal, FIRST_TEAM.id, { role: Role.Viewer }), 'FORBIDDEN');
      const outsider = await make({ openSignup: true }).signUp({ email: 'out@example.org', password: PASSWORD });
      const outsiderPrincipal = await auth.authenticate(outsider.accessToken);
      await refused(auth.createInvitation(outsiderPrincipal, FIRST_TEAM.id, { role: Role.Viewer }), 'NOT_FOUND');
      await refused(auth.createInvitation(null, FIRST_TEAM.id, { role: Role.Viewer }), 'UNAUTHENTICATED');
    });
  });

  describe('roles', () => {
    it('the last owner can be neither demoted nor removed; with a second owner both work', async () => {
      const { session, principal } = await owner();
      const ownerId = session.user.id;
      await refused(auth.setRole(principal, FIRST_TEAM.id, ownerId, Role.Editor), 'LAST_OWNER');
      await refused(auth.removeMember(principal, FIRST_TEAM.id, ownerId), 'LAST_OWNER');

      const second = await member(principal, Role.Editor);
      const secondId = second.session.user.id;
      await auth.setRole(principal, FIRST_TEAM.id, secondId, Role.Owner);
      const demoted = await auth.setRole(principal, FIRST_TEAM.id, ownerId, Role.Viewer);
      assert.equal(demoted.role, 'viewer');
      // Roles are read per request: the demotion applies to the next one at once.
      const now = await auth.authenticate(session.accessToken);
      assert.deepEqual(now.memberships, [{ teamId: FIRST_TEAM.id, role: 'viewer' }]);
      await refused(auth.setRole(now, FIRST_TEAM.id, secondId, Role.Editor), 'FORBIDDEN');

      const newOwner = await auth.authenticate(second.session.accessToken);
      await refused(auth.removeMember(newOwner, FIRST_TEAM.id, secondId), 'LAST_OWNER');
      assert.equal(await auth.removeMember(newOwner, FIRST_TEAM.id, ownerId), true);
      assert.deepEqual((await auth.authenticate(session.accessToken)).memberships, []);
      const changes = (await store.listAudit({ teamId: FIRST_TEAM.id, limit: 20 })).map((e) => e.action);
      assert.equal(changes.filter((a) => a === AuditAction.RoleChanged).length, 2);
      assert.ok(changes.includes(AuditAction.MemberRemoved));
    });

    it('any member may leave; only owners remove others or change roles', async () => {
      const { principal } = await owner();
      const viewer = await member(principal, Role.Viewer);
      const editor = await member(principal, Role.Editor);
      await refused(auth.removeMember(editor.principal, FIRST_TEAM.id, viewer.session.user.id), 'FORBIDDEN');
      await refused(auth.setRole(editor.principal, FIRST_TEAM.id, editor.session.user.id, Role.Owner), 'FORBIDDEN');
      assert.equal(await auth.removeMember(viewer.principal, FIRST_TEAM.id, viewer.session.user.id), true);
      await refused(auth.setRole(principal, FIRST_TEAM.id, viewer.session.user.id, Role.Editor), 'NOT_FOUND');
      assert.deepEqual(
        (await auth.listMembers(principal, FIRST_TEAM.id)).map((m) => m.membership.role),
        ['owner', 'editor'],
      );
    });
  });

  describe('API keys', () => {
    it('authenticate an API key as its team and role until it is revoked', async () => {
      const { principal } = await owner();
      const { apiKey, key } = await auth.createApiKey(principal, FIRST_TEAM.id, { name: 'scanner' });
      assert.match(key, /^qk_[A-Za-z0-9_-]{43}$/);
      assert.equal(apiKey.prefix, key.slice(0, 11));
      assert.equal(apiKey.role, 'editor');
      const stored = await store.listApiKeys({ teamId: FIRST_TEAM.id });
      assert.ok(!JSON.stringify(stored).includes(key.slice(3)), 'only a hash is kept');

      const machine = await auth.authenticate(key, { ip: '192.0.2.1' });
      assert.deepEqual(machine, { kind: 'apiKey', apiKeyId: apiKey.id, memberships: [{ teamId: FIRST_TEAM.id, role: 'editor' }] });
      await refused(auth.me(machine), 'FORBIDDEN');
      await refused(auth.createApiKey(machine, FIRST_TEAM.id, { name: 'mine' }), 'FORBIDDEN');

      // Use is recorded at most once per interval.
      await auth.authenticate(key);
      clock.now += API_KEY_TOUCH_INTERVAL_MS;
      await auth.authenticate(key);
      const uses = (await store.listAudit({ teamId: FIRST_TEAM.id, limit: 20 })).filter((e) => e.action === AuditAction.ApiKeyUsed);
      assert.deepEqual(
        uses.map((e) => [e.actorApiKeyId, e.at >= 0]),
        [
          [apiKey.id, true],
          [apiKey.id, true],
        ],
      );
      assert.equal((await store.findApiKeyByHash(apiKey.keyHash))?.lastUsedAt, clock.now);

      assert.equal(await auth.revokeApiKey(principal, FIRST_TEAM.id, apiKey.id), true);
      await refused(auth.authenticate(key), 'UNAUTHENTICATED');
      assert.equal(await auth.revokeApiKey(principal, FIRST_TEAM.id, apiKey.id), false);
    });

    it('are created by owners only, as editor or viewer', async () => {
      const { principal } = await owner();
      const editor = await member(principal, Role.Editor);
      await refused(auth.createApiKey(editor.principal, FIRST_TEAM.id, { name: 'mine' }), 'FORBIDDEN');
      await refused(auth.createApiKey(principal, FIRST_TEAM.id, { name: 'root', role: Role.Owner }), 'VALIDATION_FAILED');
      const viewerKey = await auth.createApiKey(principal, FIRST_TEAM.id, { name: 'dashboard', role: Role.Viewer });
      assert.deepEqual((await auth.authenticate(viewerKey.key)).memberships, [{ teamId: FIRST_TEAM.id, role: 'viewer' }]);
      assert.deepEqual(
        (await auth.listApiKeys(principal, FIRST_TEAM.id)).map((k) => k.name),
        ['dashboard'],
      );
    });
  });

  describe('sign-in limits', () => {
    it('refuses an account after its failures, even with the right password, and forgets them after a success', async () => {
      await owner();
      auth = make({
        limits: new RateLimits({
          signIn: { failuresPerAccount: 2, failuresPerAddress: 100, windowMs: 60_000 },
          uploadsPerTeamPerMinute: 10,
        }),
      });
      await auth.signIn({ email: 'owner@example.org', password: PASSWORD });
      await refused(auth.signIn({ email: 'owner@example.org', password: 'wrong password!' }), 'INVALID_CREDENTIALS');
      await auth.signIn({ email: 'OWNER@example.org', password: PASSWORD }); // a success clears the count
      await refused(auth.signIn({ email: 'owner@example.org', password: 'wrong password!' }), 'INVALID_CREDENTIALS');
      await refused(auth.signIn({ email: 'Owner@Example.org', password: 'wrong password!' }), 'INVALID_CREDENTIALS');
      const err = await auth.signIn({ email: 'owner@example.org', password: PASSWORD }).catch((e: unknown) => e);
      assert.ok(err instanceof AppError && err.code === 'RATE_LIMITED', String(err));
      assert.ok((err.details?.retryAfterSeconds as number) >= 1 && (err.details?.retryAfterSeconds as number) <= 60);
    });

    it('refuses an address after its failures across accounts; successes do not count against it', async () => {
      const { principal } = await owner();
      await member(principal, 'viewer', 'viewer@example.org');
      auth = make({
        limits: new RateLimits({
          signIn: { failuresPerAccount: 100, failuresPerAddress: 2, windowMs: 60_000 },
          uploadsPerTeamPerMinute: 10,
        }),
      });
      const from = { ip: '198.51.100.7' };
      for (let i = 0; i < 3; i++) await auth.signIn({ email: 'owner@example.org', password: PASSWORD }, from);
      await refused(auth.signIn({ email: 'owner@example.org', password: 'wrong password!' }, from), 'INVALID_CREDENTIALS');
      await refused(auth.signIn({ email: 'nobody@example.org', password: PASSWORD }, from), 'INVALID_CREDENTIALS');
      await refused(auth.signIn({ email: 'viewer@example.org', password: PASSWORD }, from), 'RATE_LIMITED');
      await auth.signIn({ email: 'viewer@example.org', password: PASSWORD }, { ip: '198.51.100.8' });
    });
  });

  describe('current access', () => {
    it('reads roles, memberships and sessions again, reusing an answer for a second unless access changed here', async () => {
      const { principal: ownerPrincipal } = await owner();
      const viewer = await member(ownerPrincipal, 'viewer');
      const viewerId = viewer.session.user.id;
      const rolesOf = async (p: Principal) => (await auth.currentPrincipal(p)).memberships.map((m) => m.role);
      assert.deepEqual(await rolesOf(viewer.principal), ['viewer']);

      // A change made elsewhere (another hub, straight in the store) is seen once the second has passed.
      await store.setMemberRole({ teamId: FIRST_TEAM.id }, viewerId, 'editor');
      assert.deepEqual(await rolesOf(viewer.principal), ['viewer'], 'reused within the interval');
      clock.now += ACCESS_RECHECK_MS;
      assert.deepEqual(await rolesOf(viewer.principal), ['editor']);

      // A change made through this service is seen at once.
      await auth.removeMember(ownerPrincipal, FIRST_TEAM.id, viewerId);
      assert.deepEqual(await rolesOf(viewer.principal), []);
      await auth.signOut(viewer.principal, null);
      await refused(auth.currentPrincipal(viewer.principal), 'SESSION_REVOKED');
    });

    it('ends an API key once it is revoked', async () => {
      const { principal } = await owner();
      const { apiKey, key } = await auth.createApiKey(principal, FIRST_TEAM.id, { name: 'scanner', role: 'viewer' });
      const machine = await auth.authenticate(key);
      assert.deepEqual((await auth.currentPrincipal(machine)).memberships, [{ teamId: FIRST_TEAM.id, role: 'viewer' }]);
      await auth.revokeApiKey(principal, FIRST_TEAM.id, apiKey.id);
      await refused(auth.currentPrincipal(machine), 'SESSION_REVOKED');
    });
  });

  describe('audit log for owners', () => {
    it("lists the team's entries and its members' sign-ins, newest first, in pages; only owners read it", async () => {
      const { principal } = await owner();
      const viewer = await member(principal, 'viewer', 'viewer@example.org');
      await refused(auth.signIn({ email: 'viewer@example.org', password: 'wrong password!' }, { ip: '192.0.2.44' }), 'INVALID_CREDENTIALS');
      const log = await auth.listAudit(principal, FIRST_TEAM.id, { first: 10 });
      assert.deepEqual(
        log.map((e) => e.action),
        [
          AuditAction.SignInFailed,
          AuditAction.SignedUp,
          AuditAction.InvitationAccepted,
          AuditAction.InvitationCreated,
          AuditAction.SignedUp,
        ],
      );
      assert.equal(log[0]!.ip, '192.0.2.44');
      const page = await auth.listAudit(principal, FIRST_TEAM.id, { first: 2, before: String(log[1]!.id) });
      assert.deepEqual(page, log.slice(2, 4));
      await refused(auth.listAudit(viewer.principal, FIRST_TEAM.id), 'FORBIDDEN');
      await refused(auth.listAudit(principal, FIRST_TEAM.id, { first: 0 }), 'VALIDATION_FAILED');
      await refused(auth.listAudit(principal, FIRST_TEAM.id, { before: 'x' }), 'VALIDATION_FAILED');
    });
  });

  describe('prune', () => {
    it('deletes sessions and invitations that ended before the retention period, and keeps live ones', async () => {
      const { session, principal } = await owner();
      const ended = await auth.signIn({ email: 'owner@example.org', password: PASSWORD });
      await auth.signOut(null, ended.refreshToken);
      await auth.createInvitation(principal, FIRST_TEAM.id, { role: Role.Viewer });
      assert.deepEqual(await auth.prune(), { sessions: 0, invitations: 0 }, 'nothing is old enough yet');

      // A week after the invitation (a day) and the first session (an hour) expired.
      clock.now += INVITATION_TTL + 7 * 86_400_000 + 1;
      const fresh = await auth.signIn({ email: 'owner@example.org', password: PASSWORD });
      assert.deepEqual(await auth.prune(), { sessions: 2, invitations: 1 });
      await refused(auth.refreshSession(ended.refreshToken), 'UNAUTHENTICATED');
      await refused(auth.refreshSession(session.refreshToken), 'UNAUTHENTICATED');
      await auth.refreshSession(fresh.refreshToken);
    });
  });

  describe('seedOwner', () => {
    it('creates the owner on a fresh install only', async () => {
      assert.equal(await auth.seedOwner('admin@example.org', PASSWORD), 'created');
      assert.equal(await auth.seedOwner('ADMIN@example.org', PASSWORD), 'exists');
      assert.equal(await auth.seedOwner('other@example.org', PASSWORD), 'skipped');
      const signedIn = await auth.signIn({ email: 'admin@example.org', password: PASSWORD });
      assert.deepEqual((await auth.authenticate(signedIn.accessToken)).memberships, [{ teamId: FIRST_TEAM.id, role: 'owner' }]);
      await refused(auth.signUp({ email: 'late@example.org', password: PASSWORD }), 'SIGNUP_CLOSED');
    });
  });
});
