/** Store contract, MembershipRepository: memberships, invitations and API keys. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe } from 'node:test';
import { ConflictError, NotFoundError } from '@quire/kernel';
import { Role } from '../store.ts';
import type { Store, TeamScope } from '../store.ts';
import { sha256Hex, buildUser, buildInvitation, buildApiKey, T0, freezeClock, settle } from './harness.ts';
import type { Settled } from './harness.ts';
import type { StoreTest } from './harness.ts';

const isLastOwner = (err: unknown): boolean => err instanceof ConflictError && err.code === 'LAST_OWNER';

/** A new team with the given members, each a new user. */
async function teamWith(store: Store, roles: Role[]): Promise<{ scope: TeamScope; users: string[] }> {
  const scope = { teamId: `team-${randomUUID()}` };
  await store.ensureTeam({ id: scope.teamId, name: 'Racing' });
  const users: string[] = [];
  for (const role of roles) {
    const user = await store.insertUser(buildUser());
    await store.addMember(scope, user.id, role);
    users.push(user.id);
  }
  return { scope, users };
}

async function ownersOf(store: Store, scope: TeamScope): Promise<string[]> {
  return (await store.listMembers(scope)).filter((m) => m.role === Role.Owner).map((m) => m.userId);
}

/** Asserts that of `outcomes` exactly `ok` succeeded and every other one is a LAST_OWNER conflict. */
function assertOnlyLastOwner(outcomes: Settled[], ok: number, what: string): void {
  assert.equal(outcomes.filter((o) => o.ok).length, ok, what);
  for (const o of outcomes) if (!o.ok) assert.ok(isLastOwner(o.error), `LAST_OWNER, not ${String(o.error)}`);
}

export function membershipsContract(it: StoreTest): void {
  describe('memberships', () => {
    it('a user belongs to several teams with a role in each, oldest membership first', async ({ store, a, b }, t) => {
      freezeClock(t);
      const user = await store.insertUser(buildUser());
      const other = await store.insertUser(buildUser());
      await store.addMember(b, user.id, Role.Viewer);
      t.mock.timers.tick(10);
      await store.addMember(a, user.id, Role.Editor);
      await store.addMember(a, other.id, Role.Owner);
      assert.deepEqual(await store.listMembershipsOfUser(user.id), [
        { teamId: b.teamId, userId: user.id, role: 'viewer', createdAt: T0, updatedAt: T0 },
        { teamId: a.teamId, userId: user.id, role: 'editor', createdAt: T0 + 10, updatedAt: T0 + 10 },
      ]);
      assert.deepEqual(
        (await store.listMembers(a)).map((m) => [m.userId, m.role]),
        [
          [user.id, 'editor'],
          [other.id, 'owner'],
        ],
      );
      assert.equal((await store.getMembership(b, user.id))?.role, 'viewer');
      assert.equal(await store.getMembership(b, other.id), undefined);
    });

    it('addMember keeps the stronger role of an existing member', async ({ store, a }) => {
      const user = await store.insertUser(buildUser());
      await store.addMember(a, user.id, Role.Editor);
      assert.equal((await store.addMember(a, user.id, Role.Viewer)).role, 'editor');
      assert.equal((await store.addMember(a, user.id, Role.Owner)).role, 'owner');
      assert.equal((await store.listMembers(a)).length, 1);
    });

    it('setMemberRole and removeMember never leave a team without an owner', async ({ store, a }) => {
      const owner = await store.insertUser(buildUser());
      const editor = await store.insertUser(buildUser());
      await store.addMember(a, owner.id, Role.Owner);
      await store.addMember(a, editor.id, Role.Editor);
      const lastOwner = (err: unknown) => err instanceof ConflictError && err.code === 'LAST_OWNER';

      await assert.rejects(store.setMemberRole(a, owner.id, Role.Editor), lastOwner);
      await assert.rejects(store.removeMember(a, owner.id), lastOwner);
      assert.equal((await store.getMembership(a, owner.id))?.role, 'owner', 'nothing changed');

      assert.equal((await store.setMemberRole(a, editor.id, Role.Owner)).role, 'owner');
      assert.equal((await store.setMemberRole(a, owner.id, Role.Viewer)).role, 'viewer', 'another owner exists now');
      await assert.rejects(store.removeMember(a, editor.id), lastOwner);
      assert.equal(await store.removeMember(a, owner.id), true);
      assert.equal(await store.removeMember(a, owner.id), false);
      await assert.rejects(store.setMemberRole(a, owner.id, Role.Editor), NotFoundError);
      assert.deepEqual(
        (await store.listMembers(a)).map((m) => [m.userId, m.role]),
        [[editor.id, 'owner']],
      );
    });

    it('addMember under concurrency: 20 people joining at once all stay; one person added with every role at once ends an owner', async ({
      store,
      a,
    }) => {
      const roles = [Role.Viewer, Role.Editor, Role.Owner];
      const users = await Promise.all(Array.from({ length: 20 }, () => store.insertUser(buildUser())));
      await Promise.all(users.map((u, i) => store.addMember(a, u.id, roles[i % 3]!)));
      assert.deepEqual(
        (await store.listMembers(a)).map((m) => [m.userId, m.role]).sort(),
        users.map((u, i) => [u.id, roles[i % 3]]).sort(),
      );
      const one = await store.insertUser(buildUser());
      await Promise.all(Array.from({ length: 21 }, (_, i) => store.addMember(a, one.id, roles[i % 3]!)));
      assert.equal((await store.getMembership(a, one.id))?.role, 'owner', 'the strongest role wins');
    });

    it('two owners demoting or removing each other at once leave the team one owner', async ({ store }) => {
      const moves: [string, (s: Store, scope: TeamScope, user: string) => Promise<unknown>][] = [
        ['demote', (s, scope, user) => s.setMemberRole(scope, user, Role.Editor)],
        ['remove', (s, scope, user) => s.removeMember(scope, user)],
      ];
      for (let round = 0; round < 8; round++) {
        const [first, second] = [moves[round % 2]!, moves[Math.floor(round / 2) % 2]!];
        const { scope, users } = await teamWith(store, [Role.Owner, Role.Owner]);
        const [x, y] = users as [string, string];
        const outcomes = await Promise.all([settle(first[1](store, scope, y)), settle(second[1](store, scope, x))]);
        assertOnlyLastOwner(outcomes, 1, `${first[0]} and ${second[0]}: exactly one succeeds`);
        assert.equal((await ownersOf(store, scope)).length, 1, `${first[0]} and ${second[0]}: one owner remains`);
      }
    });

    it('20 owners stepping down at once: all but one go, and the team keeps that one', async ({ store }) => {
      const { scope, users } = await teamWith(
        store,
        Array.from({ length: 20 }, () => Role.Owner),
      );
      const outcomes = await Promise.all(
        users.map((u, i) => settle(i % 2 ? store.removeMember(scope, u) : store.setMemberRole(scope, u, Role.Viewer))),
      );
      assertOnlyLastOwner(outcomes, 19, 'all but one step down');
      const owners = await ownersOf(store, scope);
      assert.equal(owners.length, 1);
      const kept = users.findIndex((u) => u === owners[0]);
      assert.equal(outcomes[kept]!.ok, false, 'the owner left is the one refused');
      for (const [i, u] of users.entries()) {
        if (i === kept) continue;
        assert.equal((await store.getMembership(scope, u))?.role, i % 2 ? undefined : 'viewer');
      }
    });

    it("another team's members are out of reach", async ({ store, a, b }) => {
      const owner = await store.insertUser(buildUser());
      const member = await store.insertUser(buildUser());
      await store.addMember(a, owner.id, Role.Owner);
      await store.addMember(a, member.id, Role.Editor);
      assert.deepEqual(await store.listMembers(b), []);
      assert.equal(await store.getMembership(b, member.id), undefined);
      await assert.rejects(store.setMemberRole(b, member.id, Role.Viewer), NotFoundError);
      assert.equal(await store.removeMember(b, member.id), false);
      assert.equal((await store.getMembership(a, member.id))?.role, 'editor');
    });
  });

  describe('invitations', () => {
    it('acceptInvitation adds the member with the invited role, once, and not after expiry', async ({ store, a }, t) => {
      freezeClock(t);
      const owner = await store.insertUser(buildUser());
      await store.addMember(a, owner.id, Role.Owner);
      const input = buildInvitation(a, owner.id, { role: Role.Editor, email: 'Grace@Example.org', expiresAt: T0 + 60_000 });
      const invitation = await store.insertInvitation(input);
      assert.deepEqual(invitation, { ...input, createdAt: T0, acceptedAt: null, acceptedBy: null });
      assert.deepEqual(await store.findInvitationByTokenHash(input.tokenHash), invitation);
      assert.equal(await store.findInvitationByTokenHash(sha256Hex(randomUUID())), undefined);

      const grace = await store.insertUser(buildUser());
      const late = await store.insertUser(buildUser());
      const membership = await store.acceptInvitation(invitation.id, grace.id, T0 + 1000);
      assert.deepEqual(membership, { teamId: a.teamId, userId: grace.id, role: 'editor', createdAt: T0 + 1000, updatedAt: T0 + 1000 });
      assert.deepEqual(await store.findInvitationByTokenHash(input.tokenHash), {
        ...invitation,
        acceptedAt: T0 + 1000,
        acceptedBy: grace.id,
      });
      assert.equal(await store.acceptInvitation(invitation.id, late.id, T0 + 2000), undefined, 'single use');
      assert.equal(await store.getMembership(a, late.id), undefined);

      const expiring = await store.insertInvitation(buildInvitation(a, owner.id, { expiresAt: T0 + 60_000 }));
      assert.equal(await store.acceptInvitation(expiring.id, late.id, T0 + 60_000), undefined, 'expired at expiresAt');
      assert.equal(await store.getMembership(a, late.id), undefined);
      assert.equal((await store.findInvitationByTokenHash(expiring.tokenHash))?.acceptedAt, null);
    });

    it('acceptInvitation under concurrency: of 20 people accepting one invitation exactly one joins', async ({ store, a }) => {
      const owner = await store.insertUser(buildUser());
      await store.addMember(a, owner.id, Role.Owner);
      const invitation = await store.insertInvitation(buildInvitation(a, owner.id, { role: Role.Editor }));
      const people = await Promise.all(Array.from({ length: 20 }, () => store.insertUser(buildUser())));
      const results = await Promise.all(people.map((p) => store.acceptInvitation(invitation.id, p.id, T0 + 1000)));
      const joined = people.filter((_, i) => results[i] !== undefined);
      assert.equal(joined.length, 1, 'accepted once');
      assert.deepEqual(
        (await store.listMembers(a)).map((m) => [m.userId, m.role]).sort(),
        [
          [owner.id, 'owner'],
          [joined[0]!.id, 'editor'],
        ].sort(),
      );
      const stored = await store.findInvitationByTokenHash(invitation.tokenHash);
      assert.equal(stored?.acceptedBy, joined[0]!.id);
      assert.equal(stored?.acceptedAt, T0 + 1000);
    });
  });

  describe('API keys', () => {
    it('keeps a key by its hash, lists the team’s keys, records use at most once per interval, and revokes', async ({ store, a, b }, t) => {
      freezeClock(t);
      const owner = await store.insertUser(buildUser());
      const input = buildApiKey(a, owner.id);
      const key = await store.insertApiKey(input);
      assert.deepEqual(key, { ...input, createdAt: T0, lastUsedAt: null, revokedAt: null });
      assert.deepEqual(await store.findApiKeyByHash(input.keyHash), key);
      assert.equal(await store.findApiKeyByHash(sha256Hex(randomUUID())), undefined);
      const second = await store.insertApiKey(buildApiKey(a, owner.id, { name: 'scanner' }));
      await store.insertApiKey(buildApiKey(b, owner.id));
      assert.deepEqual(
        (await store.listApiKeys(a)).map((k) => k.id),
        [key.id, second.id],
      );

      assert.equal(await store.touchApiKey(key.id, T0 + 1000, 60_000), true);
      assert.equal(await store.touchApiKey(key.id, T0 + 2000, 60_000), false, 'within the interval');
      assert.equal((await store.findApiKeyByHash(input.keyHash))?.lastUsedAt, T0 + 1000);
      assert.equal(await store.touchApiKey(key.id, T0 + 61_000, 60_000), true);
      assert.equal((await store.findApiKeyByHash(input.keyHash))?.lastUsedAt, T0 + 61_000);

      assert.equal(await store.revokeApiKey(b, key.id, T0), false, "another team's key looks missing");
      assert.equal((await store.findApiKeyByHash(input.keyHash))?.revokedAt, null);
      assert.equal(await store.revokeApiKey(a, key.id, T0 + 5), true);
      assert.equal((await store.findApiKeyByHash(input.keyHash))?.revokedAt, T0 + 5);
      assert.equal(await store.revokeApiKey(a, key.id, T0 + 6), false, 'already revoked');
      assert.equal(await store.revokeApiKey(a, randomUUID(), T0), false);
    });

    it('touchApiKey under concurrency: of 20 touches at one instant exactly one records the use', async ({ store, a }) => {
      const owner = await store.insertUser(buildUser());
      const key = await store.insertApiKey(buildApiKey(a, owner.id));
      for (const at of [T0 + 1000, T0 + 61_000]) {
        const results = await Promise.all(Array.from({ length: 20 }, () => store.touchApiKey(key.id, at, 60_000)));
        assert.equal(results.filter(Boolean).length, 1, `exactly one touch at ${at - T0} moves lastUsedAt`);
        assert.equal((await store.findApiKeyByHash(key.keyHash))?.lastUsedAt, at);
      }
    });

    it('revokeApiKey racing touches and other revocations: revoked once, and it stays revoked', async ({ store, a }) => {
      const owner = await store.insertUser(buildUser());
      for (let round = 0; round < 3; round++) {
        const key = await store.insertApiKey(buildApiKey(a, owner.id));
        const calls = Array.from({ length: 20 }, (_, i) =>
          i % 4 === round ? store.revokeApiKey(a, key.id, T0 + 5) : store.touchApiKey(key.id, T0 + 1000 * i, 500),
        );
        const results = await Promise.all(calls);
        assert.equal(results.filter((r, i) => r && i % 4 === round).length, 1, 'exactly one revocation succeeds');
        const stored = await store.findApiKeyByHash(key.keyHash);
        assert.equal(stored?.revokedAt, T0 + 5, 'no touch undoes the revocation');
        assert.notEqual(stored?.lastUsedAt, null);
      }
    });
  });
}
