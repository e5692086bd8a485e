/** Store contract, MembershipRepository: memberships, invitations and API keys. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe } from 'node:test';
import { ConflictError, NotFoundError } from '@quire/kernel';
import { Role } from '../store.ts';
import { sha256Hex, buildUser, buildInvitation, buildApiKey, T0, freezeClock } from './harness.ts';
import type { StoreTest } from './harness.ts';

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
  });
}
