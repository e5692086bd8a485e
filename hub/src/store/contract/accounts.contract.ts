/** Store contract, TeamRepository and AccountRepository: teams, people and their sign-in sessions. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe } from 'node:test';
import { ConflictError, NotFoundError } from '@quire/kernel';
import { Role } from '../store.ts';
import { sha256Hex, buildUser, buildSession, buildInvitation, T0, freezeClock, settle } from './harness.ts';
import type { StoreTest } from './harness.ts';

export function accountsContract(it: StoreTest): void {
  describe('teams', () => {
    it('ensureTeam creates a team once and returns the existing one afterwards', async ({ store }, t) => {
      freezeClock(t);
      const id = `team-${randomUUID()}`;
      const created = await store.ensureTeam({ id, name: 'Legal' });
      assert.deepEqual(created, { id, name: 'Legal', createdAt: T0 });
      t.mock.timers.tick(5000);
      assert.deepEqual(await store.ensureTeam({ id, name: 'Legal (renamed)' }), created);
      assert.deepEqual(await store.getTeam(id), created);
      assert.equal(await store.getTeam(`team-${randomUUID()}`), undefined);
    });
  });

  describe('users', () => {
    it('insertUser keeps the address as typed, finds it in any case, and refuses it again in another case', async ({ store }, t) => {
      freezeClock(t);
      const user = buildUser({ email: `Ada.${randomUUID()}@Example.org` });
      const created = await store.insertUser(user);
      assert.deepEqual(created, { ...user, createdAt: T0, updatedAt: T0 });
      assert.deepEqual(await store.getUser(user.id), created);
      assert.deepEqual(await store.findUserByEmail(user.email.toUpperCase()), created);
      assert.deepEqual(await store.findUserByEmail(`  ${user.email.toLowerCase()} `), created);
      await assert.rejects(
        store.insertUser(buildUser({ email: user.email.toLowerCase() })),
        (err: unknown) => err instanceof ConflictError && err.code === 'EMAIL_TAKEN',
      );
      assert.equal(await store.findUserByEmail(`nobody-${randomUUID()}@example.org`), undefined);
      assert.equal(await store.getUser(randomUUID()), undefined);
    });

    it('updateUserPassword replaces the hash; deleteUser removes the user with memberships and sessions', async ({ store, a }, t) => {
      freezeClock(t);
      const user = await store.insertUser(buildUser());
      await store.addMember(a, user.id, Role.Editor);
      const session = await store.insertSession(buildSession(user.id));
      t.mock.timers.tick(1000);
      await store.updateUserPassword(user.id, '$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3');
      assert.deepEqual(await store.getUser(user.id), {
        ...user,
        passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3',
        updatedAt: T0 + 1000,
      });
      await assert.rejects(store.updateUserPassword(randomUUID(), 'x'), NotFoundError);

      assert.equal(await store.deleteUser(user.id), true);
      assert.equal(await store.getUser(user.id), undefined);
      assert.deepEqual(await store.listMembers(a), []);
      assert.equal(await store.findSessionByTokenHash(session.tokenHash), undefined);
      assert.equal(await store.deleteUser(user.id), false);
      // The address is free again.
      await store.insertUser(buildUser({ email: user.email }));
    });

    it('insertFirstUser makes the first user owner of the first team, and only the first', async ({ store }, t) => {
      if ((await store.countUsers()) > 0) return t.skip('this store holds users already');
      const team = { id: `team-first-${randomUUID()}`, name: 'First team' };
      const first = await store.insertFirstUser(buildUser(), team);
      assert.ok(first);
      assert.equal(await store.countUsers(), 1);
      assert.equal((await store.getTeam(team.id))?.name, 'First team');
      assert.deepEqual(
        (await store.listMembershipsOfUser(first.id)).map((m) => [m.teamId, m.role]),
        [[team.id, 'owner']],
      );
      const second = buildUser();
      assert.equal(await store.insertFirstUser(second, { id: `team-other-${randomUUID()}`, name: 'Other' }), undefined);
      assert.equal(await store.getUser(second.id), undefined);
      assert.equal(await store.countUsers(), 1);
    });
    it('insertUser under concurrency: of 20 sign-ups with one address in different cases, exactly one succeeds', async ({ store }) => {
      const local = `grace.${randomUUID()}`;
      const users = Array.from({ length: 20 }, (_, i) =>
        buildUser({ email: i % 2 ? `${local}@example.org` : `${local.toUpperCase()}@EXAMPLE.org` }),
      );
      const outcomes = await Promise.all(users.map((u) => settle(store.insertUser(u))));
      const winners = users.filter((_, i) => outcomes[i]!.ok);
      assert.equal(winners.length, 1, 'exactly one sign-up succeeds');
      for (const o of outcomes.filter((o) => !o.ok)) {
        assert.ok(o.error instanceof ConflictError && o.error.code === 'EMAIL_TAKEN', `EMAIL_TAKEN, not ${String(o.error)}`);
      }
      assert.equal((await store.findUserByEmail(`${local}@example.org`))?.id, winners[0]!.id);
      for (const u of users) if (u !== winners[0]) assert.equal(await store.getUser(u.id), undefined);
    });

    it('insertFirstUser under concurrency: of 20 first sign-ups exactly one creates a user, and only its team', async ({ store }, t) => {
      if ((await store.countUsers()) > 0) return t.skip('this store holds users already');
      const attempts = Array.from({ length: 20 }, () => ({
        user: buildUser(),
        team: { id: `team-first-${randomUUID()}`, name: 'First team' },
      }));
      const results = await Promise.all(attempts.map((x) => store.insertFirstUser(x.user, x.team)));
      const won = attempts.filter((_, i) => results[i] !== undefined);
      assert.equal(won.length, 1, 'exactly one first user');
      assert.equal(await store.countUsers(), 1);
      const [winner] = won;
      assert.deepEqual(
        (await store.listMembers({ teamId: winner!.team.id })).map((m) => [m.userId, m.role]),
        [[winner!.user.id, 'owner']],
      );
      for (const x of attempts) {
        if (x === winner) continue;
        assert.equal(await store.getUser(x.user.id), undefined);
        assert.equal(await store.getTeam(x.team.id), undefined, 'a losing sign-up creates no team');
      }
    });
  });

  describe('sessions', () => {
    it('insertSession and findSessionByTokenHash keep a refresh token by its hash', async ({ store }, t) => {
      freezeClock(t);
      const user = await store.insertUser(buildUser());
      const input = buildSession(user.id, { ip: '203.0.113.7', userAgent: 'curl/8' });
      const session = await store.insertSession(input);
      assert.deepEqual(session, { ...input, createdAt: T0, rotatedAt: null, revokedAt: null });
      assert.deepEqual(await store.findSessionByTokenHash(input.tokenHash), session);
      assert.equal(await store.findSessionByTokenHash(sha256Hex(randomUUID())), undefined);
      assert.equal(await store.isSessionFamilyActive(input.familyId, T0), true);
      assert.equal(await store.isSessionFamilyActive(randomUUID(), T0), false);
      assert.equal(await store.isSessionFamilyActive(input.familyId, input.expiresAt), false, 'a session ends when its token expires');
    });

    it('rotateSession rotates a token once; a second rotation of it loses and inserts nothing', async ({ store }) => {
      const user = await store.insertUser(buildUser());
      const first = await store.insertSession(buildSession(user.id));
      const second = buildSession(user.id, { familyId: first.familyId });
      const rival = buildSession(user.id, { familyId: first.familyId });
      assert.equal(await store.rotateSession(first.id, second, T0 + 5), true);
      assert.equal((await store.findSessionByTokenHash(first.tokenHash))?.rotatedAt, T0 + 5);
      assert.equal((await store.findSessionByTokenHash(second.tokenHash))?.rotatedAt, null);
      assert.equal(await store.rotateSession(first.id, rival, T0 + 6), false);
      assert.equal(await store.findSessionByTokenHash(rival.tokenHash), undefined);
    });

    it('revokeSessionFamily revokes every token of one family only', async ({ store }) => {
      const user = await store.insertUser(buildUser());
      const first = await store.insertSession(buildSession(user.id));
      const next = buildSession(user.id, { familyId: first.familyId });
      await store.rotateSession(first.id, next, T0);
      const otherFamily = await store.insertSession(buildSession(user.id));
      assert.equal(await store.revokeSessionFamily(first.familyId, T0 + 1), 2);
      assert.equal((await store.findSessionByTokenHash(first.tokenHash))?.revokedAt, T0 + 1);
      assert.equal((await store.findSessionByTokenHash(next.tokenHash))?.revokedAt, T0 + 1);
      assert.equal(await store.isSessionFamilyActive(first.familyId, T0), false);
      assert.equal(await store.isSessionFamilyActive(otherFamily.familyId, T0), true);
      assert.equal(await store.revokeSessionFamily(first.familyId, T0 + 2), 0, 'already revoked');
      assert.equal(await store.rotateSession(next.id, buildSession(user.id, { familyId: first.familyId }), T0 + 3), false);
    });

    it("revokeUserSessions ends the user's sessions except the one kept, and nobody else's", async ({ store }) => {
      const user = await store.insertUser(buildUser());
      const someoneElse = await store.insertUser(buildUser());
      const kept = await store.insertSession(buildSession(user.id));
      const ended = [await store.insertSession(buildSession(user.id)), await store.insertSession(buildSession(user.id))];
      const theirs = await store.insertSession(buildSession(someoneElse.id));
      assert.equal(await store.revokeUserSessions(user.id, T0, kept.familyId), 2);
      assert.equal(await store.isSessionFamilyActive(kept.familyId, T0), true);
      for (const s of ended) assert.equal(await store.isSessionFamilyActive(s.familyId, T0), false);
      assert.equal(await store.isSessionFamilyActive(theirs.familyId, T0), true);
      assert.equal(await store.revokeUserSessions(user.id, T0), 1, 'without an exception, the kept one goes too');
      assert.equal(await store.isSessionFamilyActive(kept.familyId, T0), false);
    });
    it('rotateSession under concurrency: of 20 rotations of one token exactly one wins and inserts its token', async ({ store }) => {
      const user = await store.insertUser(buildUser());
      const first = await store.insertSession(buildSession(user.id));
      const rivals = Array.from({ length: 20 }, () => buildSession(user.id, { familyId: first.familyId }));
      const results = await Promise.all(rivals.map((next, i) => store.rotateSession(first.id, next, T0 + i)));
      assert.equal(results.filter(Boolean).length, 1, 'exactly one rotation wins');
      const winner = results.indexOf(true);
      for (const [i, next] of rivals.entries()) {
        assert.equal(!!(await store.findSessionByTokenHash(next.tokenHash)), i === winner, 'only the winner inserts its token');
      }
      assert.equal((await store.findSessionByTokenHash(first.tokenHash))?.rotatedAt, T0 + winner);
    });

    it('rotateSession racing revokeSessionFamily: a revoked token never rotates, and the family ends', async ({ store }) => {
      const user = await store.insertUser(buildUser());
      for (let round = 0; round < 5; round++) {
        const first = await store.insertSession(buildSession(user.id));
        const rivals = Array.from({ length: 20 }, () => buildSession(user.id, { familyId: first.familyId }));
        const calls: Promise<unknown>[] = rivals.map((next) => store.rotateSession(first.id, next, T0));
        calls.splice(round * 4, 0, store.revokeSessionFamily(first.familyId, T0));
        const results = await Promise.all(calls);
        assert.ok(results.filter((r) => r === true).length <= 1, 'at most one rotation wins');
        assert.equal(await store.isSessionFamilyActive(first.familyId, T0), false, 'no token of the family outlives the revocation');
        for (const next of rivals) {
          const found = await store.findSessionByTokenHash(next.tokenHash);
          if (found) assert.notEqual(found.revokedAt, null, 'a token issued by a rotation is revoked with its family');
        }
      }
    });
  });

  describe('pruning', () => {
    it('pruneSessions deletes tokens expired or revoked before the cut-off, and nothing else', async ({ store }) => {
      const user = await store.insertUser(buildUser());
      const expired = await store.insertSession(buildSession(user.id, { expiresAt: T0 - 1 }));
      const revoked = await store.insertSession(buildSession(user.id));
      await store.revokeSessionFamily(revoked.familyId, T0 - 1);
      const revokedLater = await store.insertSession(buildSession(user.id));
      await store.revokeSessionFamily(revokedLater.familyId, T0);
      const live = await store.insertSession(buildSession(user.id));
      assert.ok((await store.pruneSessions(T0)) >= 2);
      assert.equal(await store.findSessionByTokenHash(expired.tokenHash), undefined);
      assert.equal(await store.findSessionByTokenHash(revoked.tokenHash), undefined);
      assert.ok(await store.findSessionByTokenHash(revokedLater.tokenHash), 'revoked at the cut-off: kept');
      assert.ok(await store.findSessionByTokenHash(live.tokenHash));
    });

    it('pruneInvitations deletes invitations expired before the cut-off', async ({ store, a }) => {
      const owner = await store.insertUser(buildUser());
      const old = await store.insertInvitation(buildInvitation(a, owner.id, { expiresAt: T0 - 1 }));
      const current = await store.insertInvitation(buildInvitation(a, owner.id, { expiresAt: T0 }));
      assert.ok((await store.pruneInvitations(T0)) >= 1);
      assert.equal(await store.findInvitationByTokenHash(old.tokenHash), undefined);
      assert.ok(await store.findInvitationByTokenHash(current.tokenHash));
    });
  });
}
