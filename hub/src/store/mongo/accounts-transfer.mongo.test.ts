/**
 * Copying people, memberships, sessions, invitations, API keys and the audit log from a SQLite
 * store into MongoDB (`quire migrate-store`): the records arrive as the Store port reads them on
 * SQLite, the Store port reads the same on MongoDB, and the hub's own operations go on from
 * there. MONGODB_URL, or the services script's FerretDB on 127.0.0.1:27017; each test gets a
 * database of its own, dropped after.
 */
import assert from 'node:assert/strict';
import { after, describe, it, mock } from 'node:test';
import { AuditAction, Role, type Store } from '../store.ts';
import type { SqliteStore } from '../sqlite/store.sqlite.ts';
import type { MongoStore } from './store.mongo.ts';
import { allRecords, exportPages, importPages, storeFixtures, type TransferPages } from './testing.ts';

/** The kinds this test copies, in the copying order. */
const KINDS = ['teams', 'users', 'memberships', 'sessions', 'invitations', 'apiKeys', 'audit'] as const;
type Kind = (typeof KINDS)[number];
type Pages = TransferPages<Kind>;

const fixtures = storeFixtures();
after(() => fixtures.close());
const openSqlite = () => fixtures.openSqlite();
const openMongo = () => fixtures.openMongo('transfer');

const HOUR = 3_600_000;

/**
 * A SQLite installation with several owners, rotated and revoked sessions, used and revoked
 * keys. The clock stands still while it is filled, so that records created together share
 * their millisecond and only their order tells them apart.
 */
async function fill(store: SqliteStore): Promise<void> {
  const now = Date.now();
  mock.timers.enable({ apis: ['Date'], now });
  try {
    await fillAt(store, now);
  } finally {
    mock.timers.reset();
  }
}

async function fillAt(store: SqliteStore, now: number): Promise<void> {
  await store.ensureTeam({ id: 'team-a', name: 'Team A' });
  await store.ensureTeam({ id: 'team-b', name: 'Team B' });
  const users = ['ann', 'bob', 'cat', 'dan', 'eve', 'fay'];
  for (const [i, id] of users.entries()) {
    await store.insertUser({
      id,
      email: `${id.toUpperCase()}@Example.com`,
      name: i === 2 ? null : `Name ${id}`,
      passwordHash: `hash-${id}`,
    });
  }
  // Several members in one millisecond: their order is the order they were added in.
  await store.addMember({ teamId: 'team-a' }, 'ann', Role.Owner);
  await store.addMember({ teamId: 'team-a' }, 'bob', Role.Owner);
  await store.addMember({ teamId: 'team-a' }, 'cat', Role.Viewer);
  await store.addMember({ teamId: 'team-a' }, 'dan', Role.Viewer);
  await store.addMember({ teamId: 'team-b' }, 'cat', Role.Owner);
  await store.addMember({ teamId: 'team-b' }, 'ann', Role.Editor);
  await store.addMember({ teamId: 'team-b' }, 'fay', Role.Viewer);
  await store.setMemberRole({ teamId: 'team-a' }, 'dan', Role.Editor);
  await store.removeMember({ teamId: 'team-b' }, 'fay');

  const session = (id: string, userId: string, familyId = id) => ({
    id,
    familyId,
    userId,
    tokenHash: `token-${id}`,
    expiresAt: now + 24 * HOUR,
    ip: id === 's1' ? '10.0.0.1' : null,
    userAgent: id === 's1' ? 'test agent' : null,
  });
  await store.insertSession(session('s1', 'ann'));
  assert.equal(await store.rotateSession('s1', session('s2', 'ann', 's1'), now + 1000), true);
  await store.insertSession(session('s3', 'bob'));
  await store.revokeSessionFamily('s3', now + 2000);
  await store.insertSession(session('s4', 'cat'));
  await store.insertSession(session('s5', 'dan'));

  await store.insertInvitation({
    id: 'i1',
    teamId: 'team-b',
    email: 'eve@example.com',
    role: Role.Editor,
    tokenHash: 'inv-i1',
    createdBy: 'cat',
    expiresAt: now + HOUR,
  });
  assert.ok(await store.acceptInvitation('i1', 'eve', now + 3000));
  await store.insertInvitation({
    id: 'i2',
    teamId: 'team-a',
    email: null,
    role: Role.Viewer,
    tokenHash: 'inv-i2',
    createdBy: 'ann',
    expiresAt: now + HOUR,
  });

  for (const id of ['k1', 'k2', 'k3', 'k4']) {
    await store.insertApiKey({
      id,
      teamId: id === 'k4' ? 'team-b' : 'team-a',
      name: id === 'k3' ? '' : `key ${id}`,
      prefix: `qk_${id}`,
      keyHash: `key-${id}`,
      role: Role.Editor,
      createdBy: 'ann',
    });
  }
  assert.equal(await store.touchApiKey('k1', now + 4000, 0), true);
  assert.equal(await store.revokeApiKey({ teamId: 'team-a' }, 'k2', now + 5000), true);

  await store.appendAudit({
    action: AuditAction.RoleChanged,
    teamId: 'team-a',
    actorUserId: 'ann',
    targetType: 'user',
    targetId: 'dan',
    details: { from: 'viewer', to: 'editor' },
  });
  await store.appendAudit({ action: AuditAction.InvitationAccepted, teamId: 'team-b', actorUserId: 'eve', details: {} });
  await store.appendAudit({ action: AuditAction.ApiKeyRevoked, teamId: 'team-a', actorApiKeyId: 'k1', ip: '10.0.0.2' });
  await store.appendAudit({ action: AuditAction.SessionReplayed, actorUserId: 'bob', details: { nested: { list: [1, 'two', null] } } });
}

/** Every record of each kind, in pages of `limit`. */
const exportAll = (source: SqliteStore, limit: number): Promise<Pages> => exportPages(source, KINDS, limit);

/** Imports the pages of `kinds`, every kind this test copies by default. */
const importAll = (target: MongoStore, pages: Pages, kinds: readonly Kind[] = KINDS): Promise<void> => importPages(target, pages, kinds);

/** What the Store port answers about everything in `pages`. */
async function view(store: Store, pages: Pages): Promise<unknown> {
  const users = allRecords(pages, 'users');
  const teams = allRecords(pages, 'teams');
  return {
    teams: await Promise.all(teams.map((t) => store.getTeam(t.id))),
    users: await Promise.all(
      users.map(async (u) => [await store.getUser(u.id), await store.findUserByEmail(` ${u.email.toLowerCase()} `)]),
    ),
    countUsers: await store.countUsers(),
    members: await Promise.all(teams.map((t) => store.listMembers({ teamId: t.id }))),
    membershipsOfUsers: await Promise.all(users.map((u) => store.listMembershipsOfUser(u.id))),
    membership: await Promise.all(allRecords(pages, 'memberships').map((m) => store.getMembership({ teamId: m.teamId }, m.userId))),
    sessions: await Promise.all(allRecords(pages, 'sessions').map((s) => store.findSessionByTokenHash(s.tokenHash))),
    activeFamilies: await Promise.all(allRecords(pages, 'sessions').map((s) => store.isSessionFamilyActive(s.familyId, Date.now()))),
    invitations: await Promise.all(allRecords(pages, 'invitations').map((i) => store.findInvitationByTokenHash(i.tokenHash))),
    apiKeys: await Promise.all(allRecords(pages, 'apiKeys').map((k) => store.findApiKeyByHash(k.keyHash))),
    apiKeyLists: await Promise.all(teams.map((t) => store.listApiKeys({ teamId: t.id }))),
    audit: await store.listAudit({ limit: 100 }),
    auditOfActor: await store.listAudit({ actorUserId: 'ann', limit: 100 }),
    teamAudit: await Promise.all(teams.map((t) => store.listTeamAudit({ teamId: t.id }, { limit: 100 }))),
  };
}

describe('MongoAccountRepository transfer', () => {
  it('imports every account record as the SQLite store reads it, idempotently', async () => {
    const source = await openSqlite();
    await fill(source);
    const pages = await exportAll(source, 2);
    const target = await openMongo();
    await importAll(target, pages);
    await importAll(target, pages);

    assert.deepEqual(await view(target, pages), await view(source, pages));
    for (const kind of KINDS) {
      assert.equal(await target.countRecords(kind), allRecords(pages, kind).length, kind);
    }
    // The state that moved with the records, spelled out.
    const s1 = await target.findSessionByTokenHash('token-s1');
    assert.ok(s1?.rotatedAt !== null && s1?.revokedAt === null);
    assert.notEqual((await target.findSessionByTokenHash('token-s3'))?.revokedAt, null);
    assert.equal((await target.findInvitationByTokenHash('inv-i1'))?.acceptedBy, 'eve');
    assert.notEqual((await target.findApiKeyByHash('key-k1'))?.lastUsedAt, null);
    assert.notEqual((await target.findApiKeyByHash('key-k2'))?.revokedAt, null);
    assert.deepEqual((await target.listAudit({ limit: 100 })).find((e) => e.action === AuditAction.InvitationAccepted)?.details, {});
  });

  it('ends identical when an interrupted copy is run again', async () => {
    const source = await openSqlite();
    await fill(source);
    const pages = await exportAll(source, 2);
    const target = await openMongo();
    // Cut off after the first page of memberships.
    await importAll(target, pages, ['teams', 'users']);
    await target.importRecords('memberships', pages.memberships[0]!);
    await importAll(target, pages);

    assert.deepEqual(await view(target, pages), await view(source, pages));
    for (const kind of KINDS) {
      assert.equal(await target.countRecords(kind), allRecords(pages, kind).length, kind);
    }
  });

  it('goes on with the hub operations on imported records', async () => {
    const source = await openSqlite();
    await fill(source);
    const pages = await exportAll(source, 3);
    const target = await openMongo();
    await importAll(target, pages);
    const teamA = { teamId: 'team-a' };
    const now = Date.now();

    // Memberships: the owners imported are the ledger's; one owner always stays.
    await assert.rejects(target.setMemberRole({ teamId: 'team-b' }, 'cat', Role.Editor), { code: 'LAST_OWNER' });
    assert.equal((await target.setMemberRole(teamA, 'ann', Role.Editor)).role, Role.Editor);
    await assert.rejects(target.setMemberRole(teamA, 'bob', Role.Viewer), { code: 'LAST_OWNER' });
    await assert.rejects(target.removeMember(teamA, 'bob'), { code: 'LAST_OWNER' });
    await target.addMember(teamA, 'fay', Role.Viewer);
    assert.deepEqual(
      (await target.listMembers(teamA)).map((m) => [m.userId, m.role]),
      [
        ['ann', Role.Editor],
        ['bob', Role.Owner],
        ['cat', Role.Viewer],
        ['dan', Role.Editor],
        ['fay', Role.Viewer],
      ],
    );
    assert.equal(await target.countRecords('memberships'), allRecords(pages, 'memberships').length + 1);
    // Importing again into a team with ledger entries replaces the memberships through the ledger.
    await importAll(target, pages, ['memberships']);
    const members = await target.listMembers(teamA);
    assert.deepEqual(
      members.filter((m) => m.userId !== 'fay'),
      await source.listMembers(teamA),
    );
    await target.setMemberRole(teamA, 'bob', Role.Viewer);
    await assert.rejects(target.setMemberRole(teamA, 'ann', Role.Viewer), { code: 'LAST_OWNER' });
    assert.equal(await target.removeMember(teamA, 'cat'), true);
    assert.equal(await target.countRecords('memberships'), allRecords(pages, 'memberships').length);

    // Sessions: an imported token rotates once; a rotated or revoked one does not.
    const next = { id: 's6', familyId: 's4', userId: 'cat', tokenHash: 'token-s6', expiresAt: now + HOUR, ip: null, userAgent: null };
    assert.equal(await target.rotateSession('s4', next, now), true);
    assert.equal(await target.rotateSession('s4', { ...next, id: 's7', tokenHash: 'token-s7' }, now), false);
    assert.equal(await target.rotateSession('s1', { ...next, id: 's8', tokenHash: 'token-s8', familyId: 's1' }, now), false);
    assert.equal(await target.rotateSession('s3', { ...next, id: 's9', tokenHash: 'token-s9', familyId: 's3' }, now), false);
    assert.equal((await target.findSessionByTokenHash('token-s4'))?.rotatedAt, now);

    // Invitations: an accepted one is not accepted again.
    assert.equal(await target.acceptInvitation('i1', 'fay', now), undefined);
    assert.ok(await target.acceptInvitation('i2', 'eve', now));

    // API keys: uses go on from the imported last use; a revoked key stays revoked.
    const k1 = (await target.findApiKeyByHash('key-k1'))!;
    assert.equal(await target.touchApiKey('k1', k1.lastUsedAt! + 1, 60_000), false);
    assert.equal(await target.touchApiKey('k1', k1.lastUsedAt! + 60_000, 60_000), true);
    assert.equal((await target.findApiKeyByHash('key-k1'))?.lastUsedAt, k1.lastUsedAt! + 60_000);
    assert.equal(await target.revokeApiKey(teamA, 'k2', now), false);
    assert.equal(await target.revokeApiKey(teamA, 'k3', now), true);

    // Importing again replaces what those operations changed: rotation, use and revocation.
    await importAll(target, pages, ['sessions', 'invitations', 'apiKeys']);
    for (const hash of ['token-s1', 'token-s3', 'token-s4']) {
      assert.deepEqual(await target.findSessionByTokenHash(hash), await source.findSessionByTokenHash(hash));
    }
    assert.deepEqual(await target.findInvitationByTokenHash('inv-i2'), await source.findInvitationByTokenHash('inv-i2'));
    assert.deepEqual(await target.listApiKeys(teamA), await source.listApiKeys(teamA));
    assert.equal(await target.rotateSession('s4', { ...next, id: 's10', tokenHash: 'token-s10' }, now), true);
    assert.equal(await target.revokeApiKey(teamA, 'k3', now), true);

    // Audit: ids go on after the highest imported one.
    const highest = Math.max(...allRecords(pages, 'audit').map((e) => e.id));
    assert.equal((await target.appendAudit({ action: AuditAction.MemberRemoved, teamId: 'team-a' })).id, highest + 1);
  });
});
