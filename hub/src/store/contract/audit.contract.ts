/** Store contract, AuditRepository: the append-only audit log. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe } from 'node:test';
import { AuditAction } from '../store.ts';
import { buildUser, T0, freezeClock } from './harness.ts';
import type { StoreTest } from './harness.ts';

export function auditContract(it: StoreTest): void {
  describe('audit log', () => {
    it('appends events in order and lists them newest first, by team or by actor', async ({ store, a, b }, t) => {
      freezeClock(t);
      const actor = randomUUID();
      const signedIn = await store.appendAudit({ action: AuditAction.SignedIn, actorUserId: actor, ip: '198.51.100.4' });
      assert.deepEqual(signedIn, {
        id: signedIn.id,
        at: T0,
        action: 'user.signed_in',
        teamId: null,
        actorUserId: actor,
        actorApiKeyId: null,
        targetType: null,
        targetId: null,
        ip: '198.51.100.4',
        details: null,
      });
      t.mock.timers.tick(1);
      const roleChanged = await store.appendAudit({
        action: AuditAction.RoleChanged,
        teamId: a.teamId,
        actorUserId: actor,
        targetType: 'user',
        targetId: 'u-2',
        details: { from: 'viewer', to: 'editor' },
      });
      t.mock.timers.tick(1);
      const keyUsed = await store.appendAudit({ action: AuditAction.ApiKeyUsed, teamId: b.teamId, actorApiKeyId: 'k-1' });
      assert.ok(signedIn.id < roleChanged.id && roleChanged.id < keyUsed.id);
      assert.deepEqual(await store.listAudit({ teamId: a.teamId, limit: 10 }), [roleChanged]);
      assert.deepEqual(await store.listAudit({ actorUserId: actor, limit: 10 }), [roleChanged, signedIn]);
      assert.deepEqual(await store.listAudit({ actorUserId: actor, limit: 1 }), [roleChanged]);
      assert.deepEqual(await store.listAudit({ teamId: b.teamId, limit: 10 }), [keyUsed]);
      assert.equal(roleChanged.details?.to, 'editor');
    });

    it("a team's log holds its own entries and the account entries of its current members, in pages", async ({ store, a, b }) => {
      const member = await store.insertUser(buildUser());
      const outsider = await store.insertUser(buildUser());
      await store.addMember(a, member.id, 'viewer');
      await store.addMember(b, outsider.id, 'owner');
      const mine = [
        await store.appendAudit({ action: AuditAction.SignedIn, actorUserId: member.id }),
        await store.appendAudit({ action: AuditAction.SignInFailed, targetType: 'user', targetId: member.id }),
        await store.appendAudit({ action: AuditAction.RoleChanged, teamId: a.teamId, actorUserId: outsider.id }),
      ];
      await store.appendAudit({ action: AuditAction.SignedIn, actorUserId: outsider.id });
      await store.appendAudit({ action: AuditAction.ApiKeyUsed, teamId: b.teamId, actorApiKeyId: 'k-1' });
      await store.appendAudit({ action: AuditAction.SignInFailed, targetType: 'user', targetId: null, details: { email: 'x@y.z' } });
      const newestFirst = [...mine].reverse();
      assert.deepEqual(await store.listTeamAudit(a, { limit: 10 }), newestFirst);
      const first = await store.listTeamAudit(a, { limit: 2 });
      assert.deepEqual(first, newestFirst.slice(0, 2));
      assert.deepEqual(await store.listTeamAudit(a, { limit: 2, beforeId: first[1]!.id }), newestFirst.slice(2));
      await store.removeMember(a, member.id);
      assert.deepEqual(await store.listTeamAudit(a, { limit: 10 }), [mine[2]], "a former member's sign-ins leave the view");
    });

    it('appendAudit under concurrency: 20 appends at once get 20 distinct, increasing ids', async ({ store, a }) => {
      const actor = randomUUID();
      const before = await store.appendAudit({ action: AuditAction.SignedIn, actorUserId: actor });
      const appended = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.appendAudit({ action: AuditAction.DocumentUploaded, teamId: a.teamId, actorUserId: actor, targetId: `d-${i}` }),
        ),
      );
      const idsOf = appended.map((e) => e.id);
      assert.equal(new Set(idsOf).size, 20, `ids never repeat: ${idsOf.join(', ')}`);
      assert.ok(
        idsOf.every((id) => Number.isInteger(id) && id > before.id),
        'later appends get greater ids',
      );
      const after = await store.appendAudit({ action: AuditAction.SignedOut, actorUserId: actor });
      assert.ok(idsOf.every((id) => id < after.id));
      const newestFirst = [after, ...[...appended].sort((x, y) => y.id - x.id), before];
      assert.deepEqual(await store.listAudit({ actorUserId: actor, limit: 100 }), newestFirst);
    });
  });
}
