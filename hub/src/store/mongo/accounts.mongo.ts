/**
 * AccountRepository, MembershipRepository and AuditRepository on MongoDB through mongoose.
 *
 * Every method the port calls atomic takes its atomicity from a unique insert, never from a
 * conditional update: a unique insert has exactly one winner on MongoDB and on FerretDB 1.24
 * alike, while FerretDB applies concurrent conditional updates of one document more than once
 * and rewrites whole documents on update (so concurrent updates of different fields of one
 * document can lose one). Hence, besides the insert-only claims below, each document has at
 * most one kind of writer after its insert.
 *
 * - `insertUser`: a unique index on the normalised address; a duplicate is `EMAIL_TAKEN`.
 * - `insertFirstUser`: the sign-up that inserts the claim `first-user:<generation>` in
 *   `accounts_first_user` creates the user, the team and the owner membership; the others
 *   answer undefined. A generation whose user was deleted, or that was abandoned midway for
 *   longer than {@link FIRST_USER_LEASE_MS}, gives way to the next.
 * - `rotateSession`: the rotation that inserts `accounts_session_rotations` `_id` = the
 *   rotated token's id wins (that record is the token's `rotatedAt`). A revoked token is not
 *   rotated; a revocation landing between the claim and the new token's insert is caught by
 *   reading the token again afterwards, and the rotation then takes itself back. A revocation
 *   whose update read the family before the new token's insert, but wrote the rotated token
 *   only after the rotation's check, catches the new token itself: it passes over the family
 *   again until a pass finds no unrevoked token. Revocations are the only updates of a session
 *   document.
 * - Memberships: all changes of one team's memberships go through its ledger
 *   (`accounts_membership_ledger`, `_id` `<team>:<version>`). A change reads the newest entry
 *   (version n, carrying the team's owners after it), first makes sure that entry's effect is
 *   written, decides from that state (`NotFoundError`, `LAST_OWNER`, or the membership it
 *   leaves), and inserts version n + 1 carrying the membership and the owner set it leaves.
 *   Of concurrent changes exactly one gets n + 1; the others start again from the new state,
 *   so two owners demoting or removing each other at once leave one owner. Membership
 *   documents are written after the entry, versioned and never updated (readers take each
 *   member's newest version, removals leave a tombstone), so a late or repeated write of an
 *   entry's effect cannot undo a newer one. Entries older than {@link LEDGER_KEPT} versions
 *   are pruned; an insert that succeeds only because its version was pruned finds a newer
 *   entry and withdraws.
 * - `acceptInvitation`: the accepter that inserts `accounts_invitation_acceptances` `_id` =
 *   the invitation id wins; it then records the acceptance and adds the member.
 * - `touchApiKey`: a use is recorded in `accounts_api_key_uses` as `<key>:<the last use it
 *   saw>`, so of the touches that saw the same last use exactly one moves `lastUsedAt` (the
 *   newest use). `revokeApiKey` inserts `accounts_api_key_revocations` `_id` = the key id, and
 *   only its winner (or a later caller finishing its work) writes the key's `revokedAt`.
 * - `appendAudit`: an entry is inserted with `_id` one more than the newest; on a duplicate it
 *   reads the newest again and retries, so ids increase and never repeat.
 * - `importRecords` (`quire migrate-store`, while no hub runs) writes records as they are,
 *   replacing those with the same identity, in the layout above: a session's `rotatedAt` as its
 *   rotation, an invitation's acceptance as its claim, a key's `lastUsedAt` as its one use and
 *   its `revokedAt` as its revocation (each removed where the record has none). Memberships of a
 *   team whose ledger has no entry yet are written as version 0 and leave the ledger empty: such
 *   a team's first change takes the owners from its memberships and writes version 1. A team
 *   with ledger entries takes each differing membership as a change through its ledger instead.
 *   Keys and memberships new to the store get their `seq` in the order they arrive, which keeps
 *   those created in one millisecond in the source's order; a record already there keeps its.
 *   The first-user claim is not written: `insertFirstUser` defers to any existing user.
 *
 * Not covered, as on MongoDB without transactions: a sign-up racing `insertFirstUser` at its
 * first instant, and a user deleted while another call adds a membership or session for them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection, Model, RootFilterQuery } from 'mongoose';
import { Types } from 'mongoose';
import { ConflictError, NotFoundError } from '@quire/kernel';
import {
  type AccountRepository,
  type ApiKeyRecord,
  type AuditEvent,
  type AuditRepository,
  type InvitationRecord,
  type MembershipRecord,
  type MembershipRepository,
  type NewApiKey,
  type NewAuditEvent,
  type NewInvitation,
  type NewSession,
  type NewUser,
  normalizeEmail,
  Role,
  type SessionRecord,
  type TeamScope,
  type UserRecord,
} from '../store.ts';
import { assertTeamKeepsOwner, raisedRole } from '../rules.ts';
import type { TransferKind, TransferRecords } from '../transfer.ts';
import {
  type AccountModels,
  accountModels,
  type ApiKeyDocument,
  type ApiKeyUseDocument,
  type AuditDocument,
  type InvitationDocument,
  type MembershipDocument,
  type MembershipLedgerDocument,
  type MembershipState,
  NEVER_USED,
  type SessionDocument,
  type UserDocument,
} from './accounts-schemas.ts';
import { isDuplicateKey } from './mongo-errors.ts';
import type { MongoTeamRepository } from './teams.mongo.ts';

/** The kinds of `quire migrate-store` records this repository holds. */
export type AccountTransferKind = Extract<TransferKind, 'users' | 'memberships' | 'sessions' | 'invitations' | 'apiKeys' | 'audit'>;

/** How long a first-user claim that never finished blocks the next one (ms). */
export const FIRST_USER_LEASE_MS = 60_000;

/** How many of a team's newest ledger entries are kept; older ones are pruned. */
export const LEDGER_KEPT = 32;

/** Attempts at a contended insert (ledger version, audit id) before giving up. */
const MAX_ATTEMPTS = 1000;

/** What a membership change does: give the member a role, remove them, or leave them as they are. */
type MembershipChange = Role | 'remove' | 'keep';

/** People, sessions, memberships, invitations, API keys and the audit log on one mongoose connection. */
export class MongoAccountRepository implements AccountRepository, MembershipRepository, AuditRepository {
  readonly #models: AccountModels;

  constructor(
    readonly connection: Connection,
    readonly teams: MongoTeamRepository,
  ) {
    this.#models = accountModels(connection);
  }

  /** Creates the indexes its schemas declare. */
  async start(): Promise<void> {
    await Promise.all(Object.values(this.#models).map((model: AccountModels[keyof AccountModels]) => model.createIndexes()));
  }

  // --- users -------------------------------------------------------------------------------

  async insertUser(user: NewUser): Promise<UserRecord> {
    const now = Date.now();
    const doc: UserDocument = {
      _id: user.id,
      email: user.email,
      emailNormalized: normalizeEmail(user.email),
      name: user.name,
      passwordHash: user.passwordHash,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await this.#models.users.create(doc);
    } catch (err) {
      // FerretDB does not say which index refused the insert: ask whether the address is taken.
      if (isDuplicateKey(err) && (await this.#models.users.exists({ emailNormalized: doc.emailNormalized }))) {
        throw new ConflictError('An account with this e-mail address exists already', { code: 'EMAIL_TAKEN', cause: err });
      }
      throw err;
    }
    return toUser(doc);
  }

  async insertFirstUser(user: NewUser, team: { id: string; name: string }): Promise<UserRecord | undefined> {
    if ((await this.countUsers()) > 0) return undefined;
    const claims = this.#models.firstUser;
    const latest = await claims.findOne().sort({ generation: -1 }).lean();
    // No user exists: a finished claim's user was deleted; an unfinished one may still be running.
    if (latest && !latest.done && latest.at > Date.now() - FIRST_USER_LEASE_MS) return undefined;
    const id = `first-user:${(latest?.generation ?? 0) + 1}`;
    try {
      await claims.create({ _id: id, generation: (latest?.generation ?? 0) + 1, userId: user.id, at: Date.now(), done: false });
    } catch (err) {
      if (isDuplicateKey(err)) return undefined;
      throw err;
    }
    // A finished claim read above may belong to a user inserted after the count.
    if ((await this.countUsers()) > 0) return undefined;
    let created: UserRecord;
    try {
      created = await this.insertUser(user);
    } catch (err) {
      if (err instanceof ConflictError) return undefined;
      await claims.deleteOne({ _id: id });
      throw err;
    }
    await this.teams.ensureTeam(team);
    await this.#changeMembership(team.id, user.id, created.createdAt, () => Role.Owner);
    await claims.updateOne({ _id: id }, { $set: { done: true } });
    return created;
  }

  async getUser(id: string): Promise<UserRecord | undefined> {
    const doc = await this.#models.users.findById(id).lean();
    return doc ? toUser(doc) : undefined;
  }

  async findUserByEmail(email: string): Promise<UserRecord | undefined> {
    const doc = await this.#models.users.findOne({ emailNormalized: normalizeEmail(email) }).lean();
    return doc ? toUser(doc) : undefined;
  }

  async updateUserPassword(id: string, passwordHash: string): Promise<void> {
    const result = await this.#models.users.updateOne({ _id: id }, { $set: { passwordHash, updatedAt: Date.now() } });
    if (result.matchedCount === 0) throw new NotFoundError(`User ${id} not found`);
  }

  async deleteUser(id: string): Promise<boolean> {
    // Sessions and memberships first: a deletion cut short leaves the user to delete again.
    await this.#models.sessions.deleteMany({ userId: id });
    await this.#models.sessionRotations.deleteMany({ userId: id });
    for (const membership of await this.listMembershipsOfUser(id)) {
      await this.#changeMembership(membership.teamId, id, Date.now(), (current) => (current ? 'remove' : 'keep'));
    }
    return (await this.#models.users.deleteOne({ _id: id })).deletedCount > 0;
  }

  async countUsers(): Promise<number> {
    return this.#models.users.countDocuments();
  }

  // --- sessions ----------------------------------------------------------------------------

  async insertSession(session: NewSession): Promise<SessionRecord> {
    const doc = sessionDocument(session, Date.now());
    await this.#models.sessions.create(doc);
    return toSession(doc, null);
  }

  async findSessionByTokenHash(tokenHash: string): Promise<SessionRecord | undefined> {
    const doc = await this.#models.sessions.findOne({ tokenHash }).lean();
    if (!doc) return undefined;
    const rotation = await this.#models.sessionRotations.findById(doc._id).lean();
    return toSession(doc, rotation?.at ?? null);
  }

  async rotateSession(currentId: string, next: NewSession, at: number): Promise<boolean> {
    const { sessions, sessionRotations } = this.#models;
    const current = await sessions.findById(currentId).lean();
    if (!current || current.revokedAt !== null) return false;
    try {
      await sessionRotations.create({ _id: currentId, familyId: current.familyId, userId: current.userId, nextId: next.id, at });
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
    try {
      await sessions.create(sessionDocument(next, at));
    } catch (err) {
      await sessionRotations.deleteOne({ _id: currentId });
      throw err;
    }
    // A revocation that read the family before the new token existed has revoked the current
    // token by now; the rotation then loses to it and takes itself back.
    const after = await sessions.findById(currentId, { revokedAt: 1 }).lean();
    if (!after || after.revokedAt !== null) {
      await sessions.deleteOne({ _id: next.id });
      await sessionRotations.deleteOne({ _id: currentId });
      return false;
    }
    return true;
  }

  async revokeSessionFamily(familyId: string, at: number): Promise<number> {
    return this.#revokeFamilies([familyId], at);
  }

  async revokeUserSessions(userId: string, at: number, keepFamilyId?: string): Promise<number> {
    const filter = keepFamilyId === undefined ? { userId, revokedAt: null } : { userId, revokedAt: null, familyId: { $ne: keepFamilyId } };
    const familyIds = await this.#models.sessions.distinct('familyId', filter);
    return familyIds.length === 0 ? 0 : this.#revokeFamilies(familyIds, at);
  }

  /**
   * Revokes every token of the families, passing over them again until a pass finds none
   * unrevoked. An update reads the matching documents before it writes them, so a token that a
   * rotation inserts between the two is missed by that pass; the rotation's own check of the
   * rotated token can still see it unrevoked, but then the pass's write of that token comes
   * after the new token's insert, and the next pass revokes the new token.
   */
  async #revokeFamilies(familyIds: readonly string[], at: number): Promise<number> {
    let revoked = 0;
    for (;;) {
      const { modifiedCount } = await this.#models.sessions.updateMany(
        { familyId: { $in: familyIds }, revokedAt: null },
        { $set: { revokedAt: at } },
      );
      if (modifiedCount === 0) return revoked;
      revoked += modifiedCount;
    }
  }

  async isSessionFamilyActive(familyId: string, at: number): Promise<boolean> {
    return !!(await this.#models.sessions.exists({ familyId, revokedAt: null, expiresAt: { $gt: at } }));
  }

  async pruneSessions(before: number): Promise<number> {
    const { sessions, sessionRotations } = this.#models;
    const ids = (await sessions.find({ $or: [{ expiresAt: { $lt: before } }, { revokedAt: { $lt: before } }] }, { _id: 1 }).lean()).map(
      (d) => d._id,
    );
    if (ids.length === 0) return 0;
    const { deletedCount } = await sessions.deleteMany({ _id: { $in: ids } });
    await sessionRotations.deleteMany({ _id: { $in: ids } });
    return deletedCount;
  }

  // --- memberships -------------------------------------------------------------------------

  async listMembershipsOfUser(userId: string): Promise<MembershipRecord[]> {
    const docs = await this.#models.memberships.find({ userId }).lean();
    return live(docs, (d) => d.teamId);
  }

  async listMembers(scope: TeamScope): Promise<MembershipRecord[]> {
    const docs = await this.#models.memberships.find({ teamId: scope.teamId }).lean();
    return live(docs, (d) => d.userId);
  }

  async getMembership(scope: TeamScope, userId: string): Promise<MembershipRecord | undefined> {
    return (await this.#currentMembership(scope.teamId, userId))?.record;
  }

  async addMember(scope: TeamScope, userId: string, role: Role): Promise<MembershipRecord> {
    return (await this.#changeMembership(scope.teamId, userId, Date.now(), (current) => stronger(current, role)))!;
  }

  async setMemberRole(scope: TeamScope, userId: string, role: Role): Promise<MembershipRecord> {
    const changed = await this.#changeMembership(scope.teamId, userId, Date.now(), (current, owners) => {
      if (!current) throw new NotFoundError(`User ${userId} is not a member of this team`);
      assertTeamKeepsOwner({ userId, from: current.role, to: role }, () => owners);
      return role;
    });
    return changed!;
  }

  async removeMember(scope: TeamScope, userId: string): Promise<boolean> {
    let removed = false;
    await this.#changeMembership(scope.teamId, userId, Date.now(), (current, owners) => {
      removed = false;
      if (!current) return 'keep';
      assertTeamKeepsOwner({ userId, from: current.role, to: null }, () => owners);
      removed = true;
      return 'remove';
    });
    return removed;
  }

  /**
   * Applies one change to the team's memberships through its ledger (see the file's comment)
   * and answers the membership it leaves. `decide` sees the member's membership and the team's
   * owners as of the newest entry; it may run several times, and may throw to refuse.
   * `createdAt` sets the membership's creation time (a copied membership); by default a
   * member keeps theirs and a new one is created `at`.
   */
  async #changeMembership(
    teamId: string,
    userId: string,
    at: number,
    decide: (current: MembershipRecord | undefined, owners: ReadonlySet<string>) => MembershipChange,
    createdAt?: number,
  ): Promise<MembershipRecord | undefined> {
    const ledger = this.#models.membershipLedger;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const latest = await ledger.findOne({ teamId }).sort({ version: -1 }).lean();
      if (latest) await this.#applyLedgerEntry(latest);
      const version = latest?.version ?? 0;
      const owners = new Set(latest ? latest.owners : await this.#ownersFromMemberships(teamId));
      const found = await this.#currentMembership(teamId, userId);
      const change = decide(found?.record, owners);
      if (change === 'keep') return found?.record;

      const state: MembershipState = {
        role: change === 'remove' ? null : change,
        createdAt: createdAt ?? found?.record.createdAt ?? at,
        updatedAt: at,
        seq: found?.seq ?? new Types.ObjectId().toHexString(),
      };
      if (state.role === Role.Owner) owners.add(userId);
      else owners.delete(userId);
      const entry: MembershipLedgerDocument = {
        _id: `${teamId}:${version + 1}`,
        teamId,
        version: version + 1,
        userId,
        ...state,
        owners: [...owners].sort(),
        at,
      };
      try {
        await ledger.create(entry);
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        // Another change of the team came first: start again from its state.
        await sleep(Math.random() * Math.min(attempt, 10));
        continue;
      }
      // Free only because it was pruned: this change was decided on an old state.
      if (await ledger.exists({ teamId, version: { $gt: entry.version } })) {
        await ledger.deleteOne({ _id: entry._id });
        continue;
      }
      await this.#applyLedgerEntry(entry);
      if (entry.version % LEDGER_KEPT === 0) await ledger.deleteMany({ teamId, version: { $lte: entry.version - LEDGER_KEPT } });
      return state.role === null ? undefined : toMembership(teamId, userId, state);
    }
    throw new Error(`the memberships of team ${teamId} changed ${MAX_ATTEMPTS} times during one change`);
  }

  /** Writes the membership a ledger entry leaves, if not written yet (by its author or another caller). */
  async #applyLedgerEntry(entry: MembershipLedgerDocument): Promise<void> {
    const { teamId, userId, version } = entry;
    const doc: MembershipDocument = {
      _id: JSON.stringify([teamId, userId, version]),
      teamId,
      userId,
      version,
      role: entry.role,
      createdAt: entry.createdAt,
      updatedAt: entry.updatedAt,
      seq: entry.seq,
    };
    try {
      await this.#models.memberships.create(doc);
    } catch (err) {
      if (isDuplicateKey(err)) return;
      throw err;
    }
    await this.#models.memberships.deleteMany({ teamId, userId, version: { $lt: version } });
  }

  async #currentMembership(teamId: string, userId: string): Promise<{ record: MembershipRecord; seq: string } | undefined> {
    const doc = await this.#models.memberships.findOne({ teamId, userId }).sort({ version: -1 }).lean();
    return doc && doc.role !== null ? { record: toMembership(teamId, userId, doc), seq: doc.seq } : undefined;
  }

  /** A team's owners read from its memberships, for a team whose ledger has no entry yet. */
  async #ownersFromMemberships(teamId: string): Promise<string[]> {
    return (await this.listMembers({ teamId })).filter((m) => m.role === Role.Owner).map((m) => m.userId);
  }

  // --- invitations -------------------------------------------------------------------------

  async insertInvitation(invitation: NewInvitation): Promise<InvitationRecord> {
    const doc: InvitationDocument = {
      _id: invitation.id,
      teamId: invitation.teamId,
      email: invitation.email,
      role: invitation.role,
      tokenHash: invitation.tokenHash,
      createdBy: invitation.createdBy,
      createdAt: Date.now(),
      expiresAt: invitation.expiresAt,
      acceptedAt: null,
      acceptedBy: null,
    };
    await this.#models.invitations.create(doc);
    return toInvitation(doc);
  }

  async findInvitationByTokenHash(tokenHash: string): Promise<InvitationRecord | undefined> {
    const doc = await this.#models.invitations.findOne({ tokenHash }).lean();
    return doc ? toInvitation(doc) : undefined;
  }

  async acceptInvitation(invitationId: string, userId: string, at: number): Promise<MembershipRecord | undefined> {
    const { invitations, invitationAcceptances } = this.#models;
    const invitation = await invitations.findById(invitationId).lean();
    if (!invitation || invitation.acceptedAt !== null || invitation.expiresAt <= at) return undefined;
    try {
      await invitationAcceptances.create({ _id: invitationId, userId, at });
    } catch (err) {
      if (isDuplicateKey(err)) return undefined;
      throw err;
    }
    await invitations.updateOne({ _id: invitationId }, { $set: { acceptedAt: at, acceptedBy: userId } });
    return this.#changeMembership(invitation.teamId, userId, at, (current) => stronger(current, invitation.role));
  }

  async pruneInvitations(before: number): Promise<number> {
    const { invitations, invitationAcceptances } = this.#models;
    const ids = (await invitations.find({ expiresAt: { $lt: before } }, { _id: 1 }).lean()).map((d) => d._id);
    if (ids.length === 0) return 0;
    const { deletedCount } = await invitations.deleteMany({ _id: { $in: ids } });
    await invitationAcceptances.deleteMany({ _id: { $in: ids } });
    return deletedCount;
  }

  // --- API keys ----------------------------------------------------------------------------

  async insertApiKey(key: NewApiKey): Promise<ApiKeyRecord> {
    const doc: ApiKeyDocument = {
      _id: key.id,
      teamId: key.teamId,
      name: key.name,
      prefix: key.prefix,
      keyHash: key.keyHash,
      role: key.role,
      createdBy: key.createdBy,
      createdAt: Date.now(),
      seq: new Types.ObjectId().toHexString(),
      revokedAt: null,
    };
    await this.#models.apiKeys.create(doc);
    return toApiKey(doc, null);
  }

  async findApiKeyByHash(keyHash: string): Promise<ApiKeyRecord | undefined> {
    const doc = await this.#models.apiKeys.findOne({ keyHash }).lean();
    return doc ? toApiKey(doc, (await this.#lastUse(doc._id))?.at ?? null) : undefined;
  }

  async listApiKeys(scope: TeamScope): Promise<ApiKeyRecord[]> {
    const docs = await this.#models.apiKeys.find({ teamId: scope.teamId }).sort({ createdAt: 1, seq: 1 }).lean();
    const uses = await this.#models.apiKeyUses.find({ keyId: { $in: docs.map((d) => d._id) } }).lean();
    const lastUsed = new Map<string, number>();
    for (const use of uses) lastUsed.set(use.keyId, Math.max(use.at, lastUsed.get(use.keyId) ?? -Infinity));
    return docs.map((d) => toApiKey(d, lastUsed.get(d._id) ?? null));
  }

  async touchApiKey(id: string, at: number, minIntervalMs: number): Promise<boolean> {
    const uses = this.#models.apiKeyUses;
    if (!(await this.#models.apiKeys.exists({ _id: id }))) return false;
    const last = await this.#lastUse(id);
    if (last && last.at > at - minIntervalMs) return false;
    const from = last?.at ?? NEVER_USED;
    const use: ApiKeyUseDocument = { _id: `${id}:${from}`, keyId: id, from, at };
    try {
      await uses.create(use);
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
    // Free only because it was pruned: this touch saw an old last use.
    if (await uses.exists({ keyId: id, from: { $gt: from } })) {
      await uses.deleteOne({ _id: use._id });
      return false;
    }
    await uses.deleteMany({ keyId: id, at: { $lt: at } });
    return true;
  }

  async revokeApiKey(scope: TeamScope, id: string, at: number): Promise<boolean> {
    const { apiKeys, apiKeyRevocations } = this.#models;
    const key = await apiKeys.findOne({ _id: id, teamId: scope.teamId }).lean();
    if (!key || key.revokedAt !== null) return false;
    try {
      await apiKeyRevocations.create({ _id: id, at });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      // Another revocation won; make sure its time is on the key even if it stopped short.
      const won = await apiKeyRevocations.findById(id).lean();
      if (won) await apiKeys.updateOne({ _id: id, revokedAt: null }, { $set: { revokedAt: won.at } });
      return false;
    }
    await apiKeys.updateOne({ _id: id }, { $set: { revokedAt: at } });
    return true;
  }

  /** The key's newest use: the one that set its `lastUsedAt`. */
  async #lastUse(keyId: string): Promise<ApiKeyUseDocument | null> {
    return this.#models.apiKeyUses.findOne({ keyId }).sort({ at: -1, from: -1 }).lean();
  }

  // --- audit log ---------------------------------------------------------------------------

  async appendAudit(event: NewAuditEvent): Promise<AuditEvent> {
    const audit = this.#models.audit;
    const at = Date.now();
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const newest = await audit.findOne({}, { _id: 1 }).sort({ _id: -1 }).lean();
      const doc: AuditDocument = {
        _id: (newest?._id ?? 0) + 1,
        at,
        action: event.action,
        teamId: event.teamId ?? null,
        actorUserId: event.actorUserId ?? null,
        actorApiKeyId: event.actorApiKeyId ?? null,
        targetType: event.targetType ?? null,
        targetId: event.targetId ?? null,
        ip: event.ip ?? null,
        details: event.details ?? null,
      };
      try {
        await audit.create(doc);
        return toAudit(doc);
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
    }
    throw new Error(`no free audit id after ${MAX_ATTEMPTS} attempts`);
  }

  async listAudit(options: { teamId?: string; actorUserId?: string; limit: number }): Promise<AuditEvent[]> {
    const filter: Record<string, string> = {};
    if (options.teamId !== undefined) filter.teamId = options.teamId;
    if (options.actorUserId !== undefined) filter.actorUserId = options.actorUserId;
    const docs = await this.#models.audit.find(filter).sort({ _id: -1 }).limit(options.limit).lean();
    return docs.map(toAudit);
  }

  async listTeamAudit(scope: TeamScope, options: { limit: number; beforeId?: number | null }): Promise<AuditEvent[]> {
    const members = (await this.listMembers(scope)).map((m) => m.userId);
    const docs = await this.#models.audit
      .find({
        _id: { $lt: options.beforeId ?? Number.MAX_SAFE_INTEGER },
        $or: [
          { teamId: scope.teamId },
          { teamId: null, actorUserId: { $in: members } },
          { teamId: null, targetType: 'user', targetId: { $in: members } },
        ],
      })
      .sort({ _id: -1 })
      .limit(options.limit)
      .lean();
    return docs.map(toAudit);
  }

  // --- transfer (quire migrate-store) ------------------------------------------------------

  /** Writes records of `kind` as they are, replacing those with the same identity (see the file's comment). */
  async importRecords<K extends AccountTransferKind>(kind: K, records: readonly TransferRecords[K][]): Promise<void> {
    if (records.length === 0) return;
    const imports: { [Kind in AccountTransferKind]: (records: readonly TransferRecords[Kind][]) => Promise<void> } = {
      users: (r) => this.#importUsers(r),
      memberships: (r) => this.#importMemberships(r),
      sessions: (r) => this.#importSessions(r),
      invitations: (r) => this.#importInvitations(r),
      apiKeys: (r) => this.#importApiKeys(r),
      audit: (r) => this.#importAudit(r),
    };
    const write = imports[kind] as ((records: readonly TransferRecords[K][]) => Promise<void>) | undefined;
    if (!write) throw new Error(`the account repository holds no ${String(kind)}`);
    await write(records);
  }

  /** How many records of `kind` the Store port sees: live memberships only, not their versions or removals. */
  async countRecords(kind: AccountTransferKind): Promise<number> {
    const m = this.#models;
    switch (kind) {
      case 'users':
        return m.users.countDocuments();
      case 'memberships':
        return this.#countLiveMemberships();
      case 'sessions':
        return m.sessions.countDocuments();
      case 'invitations':
        return m.invitations.countDocuments();
      case 'apiKeys':
        return m.apiKeys.countDocuments();
      case 'audit':
        return m.audit.countDocuments();
      default:
        throw new Error(`the account repository holds no ${String(kind)}`);
    }
  }

  async #importUsers(records: readonly UserRecord[]): Promise<void> {
    await replaceAll(
      this.#models.users,
      records.map((u) => ({
        _id: u.id,
        email: u.email,
        emailNormalized: normalizeEmail(u.email),
        name: u.name,
        passwordHash: u.passwordHash,
        createdAt: u.createdAt,
        updatedAt: u.updatedAt,
      })),
    );
  }

  async #importMemberships(records: readonly MembershipRecord[]): Promise<void> {
    const { memberships, membershipLedger } = this.#models;
    const teamIds = [...new Set(records.map((r) => r.teamId))];
    const ledgered = new Set<string>(await membershipLedger.distinct('teamId', { teamId: { $in: teamIds } }));
    const direct = records.filter((r) => !ledgered.has(r.teamId));
    const ids = direct.map((r) => JSON.stringify([r.teamId, r.userId, 0]));
    const seqs = await existingSeqs(memberships, ids);
    await replaceAll(
      memberships,
      direct.map((r, i) => ({
        _id: ids[i]!,
        teamId: r.teamId,
        userId: r.userId,
        version: 0,
        role: r.role,
        createdAt: r.createdAt,
        updatedAt: r.updatedAt,
        seq: seqs.get(ids[i]!) ?? new Types.ObjectId().toHexString(),
      })),
    );
    // The ledger keeps the owners of these teams: each differing membership becomes a change.
    for (const r of records.filter((record) => ledgered.has(record.teamId))) {
      await this.#changeMembership(
        r.teamId,
        r.userId,
        r.updatedAt,
        (current) => (sameMembership(current, r) ? 'keep' : r.role),
        r.createdAt,
      );
    }
  }

  async #countLiveMemberships(): Promise<number> {
    const newest = new Map<string, { version: number; live: boolean }>();
    const docs = this.#models.memberships.find({}, { teamId: 1, userId: 1, version: 1, role: 1 }).lean().cursor();
    for await (const doc of docs) {
      const key = JSON.stringify([doc.teamId, doc.userId]);
      const seen = newest.get(key);
      if (!seen || doc.version > seen.version) newest.set(key, { version: doc.version, live: doc.role !== null });
    }
    return [...newest.values()].filter((m) => m.live).length;
  }

  async #importSessions(records: readonly SessionRecord[]): Promise<void> {
    const { sessions, sessionRotations } = this.#models;
    await replaceAll(
      sessions,
      records.map((s) => ({
        _id: s.id,
        familyId: s.familyId,
        userId: s.userId,
        tokenHash: s.tokenHash,
        createdAt: s.createdAt,
        expiresAt: s.expiresAt,
        revokedAt: s.revokedAt,
        ip: s.ip,
        userAgent: s.userAgent,
      })),
    );
    await replaceAll(
      sessionRotations,
      records.flatMap((s) =>
        s.rotatedAt === null ? [] : [{ _id: s.id, familyId: s.familyId, userId: s.userId, nextId: null, at: s.rotatedAt }],
      ),
    );
    await deleteIds(
      sessionRotations,
      records.filter((s) => s.rotatedAt === null).map((s) => s.id),
    );
  }

  async #importInvitations(records: readonly InvitationRecord[]): Promise<void> {
    const { invitations, invitationAcceptances } = this.#models;
    await replaceAll(
      invitations,
      records.map((i) => ({
        _id: i.id,
        teamId: i.teamId,
        email: i.email,
        role: i.role,
        tokenHash: i.tokenHash,
        createdBy: i.createdBy,
        createdAt: i.createdAt,
        expiresAt: i.expiresAt,
        acceptedAt: i.acceptedAt,
        acceptedBy: i.acceptedBy,
      })),
    );
    await replaceAll(
      invitationAcceptances,
      records.flatMap((i) => (i.acceptedAt === null ? [] : [{ _id: i.id, userId: i.acceptedBy, at: i.acceptedAt }])),
    );
    await deleteIds(
      invitationAcceptances,
      records.filter((i) => i.acceptedAt === null).map((i) => i.id),
    );
  }

  async #importApiKeys(records: readonly ApiKeyRecord[]): Promise<void> {
    const { apiKeys, apiKeyUses, apiKeyRevocations } = this.#models;
    const ids = records.map((k) => k.id);
    const seqs = await existingSeqs(apiKeys, ids);
    await replaceAll(
      apiKeys,
      records.map((k) => ({
        _id: k.id,
        teamId: k.teamId,
        name: k.name,
        prefix: k.prefix,
        keyHash: k.keyHash,
        role: k.role,
        createdBy: k.createdBy,
        createdAt: k.createdAt,
        seq: seqs.get(k.id) ?? new Types.ObjectId().toHexString(),
        revokedAt: k.revokedAt,
      })),
    );
    // A key's last use becomes its one recorded use, as if it were its first.
    const uses: ApiKeyUseDocument[] = records.flatMap((k) =>
      k.lastUsedAt === null ? [] : [{ _id: `${k.id}:${NEVER_USED}`, keyId: k.id, from: NEVER_USED, at: k.lastUsedAt }],
    );
    await replaceAll(apiKeyUses, uses);
    await apiKeyUses.deleteMany({ keyId: { $in: ids }, _id: { $nin: uses.map((u) => u._id) } });
    await replaceAll(
      apiKeyRevocations,
      records.flatMap((k) => (k.revokedAt === null ? [] : [{ _id: k.id, at: k.revokedAt }])),
    );
    await deleteIds(
      apiKeyRevocations,
      records.filter((k) => k.revokedAt === null).map((k) => k.id),
    );
  }

  async #importAudit(records: readonly AuditEvent[]): Promise<void> {
    await replaceAll(
      this.#models.audit,
      records.map((e) => ({
        _id: e.id,
        at: e.at,
        action: e.action,
        teamId: e.teamId,
        actorUserId: e.actorUserId,
        actorApiKeyId: e.actorApiKeyId,
        targetType: e.targetType,
        targetId: e.targetId,
        ip: e.ip,
        details: e.details,
      })),
    );
  }
}

/** `role` for a member who has none, or whose role is weaker; else no change. */
function stronger(current: MembershipRecord | undefined, role: Role): MembershipChange {
  return raisedRole(current?.role, role) ?? 'keep';
}

/** Whether `current` is exactly the membership `record` describes. */
function sameMembership(current: MembershipRecord | undefined, record: MembershipRecord): boolean {
  return (
    current !== undefined &&
    current.role === record.role &&
    current.createdAt === record.createdAt &&
    current.updatedAt === record.updatedAt
  );
}

/** Writes `docs` as they are in one unordered bulk write, replacing or inserting each by `_id`. */
async function replaceAll<T extends { _id: string | number }>(model: Model<T>, docs: readonly T[]): Promise<void> {
  if (docs.length === 0) return;
  const ops = docs.map((doc) => ({ replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } }));
  await model.bulkWrite(ops as Parameters<Model<T>['bulkWrite']>[0], { ordered: false });
}

/** The `seq` of those of `ids` already stored, so that importing again keeps their order. */
async function existingSeqs<T extends { _id: string; seq: string }>(model: Model<T>, ids: readonly string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const docs = (await model.find({ _id: { $in: ids } } as RootFilterQuery<T>, { seq: 1 }).lean()) as { _id: string; seq: string }[];
  return new Map(docs.map((d) => [d._id, d.seq]));
}

async function deleteIds<T extends { _id: string }>(model: Model<T>, ids: readonly string[]): Promise<void> {
  if (ids.length > 0) await model.deleteMany({ _id: { $in: ids } });
}

/**
 * The live memberships among `docs`, oldest first: each key's newest version, tombstones left
 * out; `seq` orders those created in one millisecond.
 */
function live(docs: MembershipDocument[], key: (doc: MembershipDocument) => string): MembershipRecord[] {
  const newest = new Map<string, MembershipDocument>();
  for (const doc of docs) {
    const seen = newest.get(key(doc));
    if (!seen || doc.version > seen.version) newest.set(key(doc), doc);
  }
  return [...newest.values()]
    .filter((d) => d.role !== null)
    .sort((x, y) => x.createdAt - y.createdAt || (x.seq < y.seq ? -1 : x.seq > y.seq ? 1 : 0))
    .map((d) => toMembership(d.teamId, d.userId, d));
}

function toUser(doc: UserDocument): UserRecord {
  return {
    id: doc._id,
    email: doc.email,
    name: doc.name ?? null,
    passwordHash: doc.passwordHash,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
  };
}

function toMembership(teamId: string, userId: string, state: MembershipState): MembershipRecord {
  return { teamId, userId, role: state.role!, createdAt: state.createdAt, updatedAt: state.updatedAt };
}

function sessionDocument(session: NewSession, now: number): SessionDocument {
  return {
    _id: session.id,
    familyId: session.familyId,
    userId: session.userId,
    tokenHash: session.tokenHash,
    createdAt: now,
    expiresAt: session.expiresAt,
    revokedAt: null,
    ip: session.ip,
    userAgent: session.userAgent,
  };
}

function toSession(doc: SessionDocument, rotatedAt: number | null): SessionRecord {
  return {
    id: doc._id,
    familyId: doc.familyId,
    userId: doc.userId,
    tokenHash: doc.tokenHash,
    createdAt: doc.createdAt,
    expiresAt: doc.expiresAt,
    rotatedAt,
    revokedAt: doc.revokedAt ?? null,
    ip: doc.ip ?? null,
    userAgent: doc.userAgent ?? null,
  };
}

function toInvitation(doc: InvitationDocument): InvitationRecord {
  return {
    id: doc._id,
    teamId: doc.teamId,
    email: doc.email ?? null,
    role: doc.role,
    tokenHash: doc.tokenHash,
    createdBy: doc.createdBy,
    createdAt: doc.createdAt,
    expiresAt: doc.expiresAt,
    acceptedAt: doc.acceptedAt ?? null,
    acceptedBy: doc.acceptedBy ?? null,
  };
}

function toApiKey(doc: ApiKeyDocument, lastUsedAt: number | null): ApiKeyRecord {
  return {
    id: doc._id,
    teamId: doc.teamId,
    name: doc.name,
    prefix: doc.prefix,
    keyHash: doc.keyHash,
    role: doc.role,
    createdBy: doc.createdBy,
    createdAt: doc.createdAt,
    lastUsedAt,
    revokedAt: doc.revokedAt ?? null,
  };
}

function toAudit(doc: AuditDocument): AuditEvent {
  return {
    id: doc._id,
    at: doc.at,
    action: doc.action,
    teamId: doc.teamId ?? null,
    actorUserId: doc.actorUserId ?? null,
    actorApiKeyId: doc.actorApiKeyId ?? null,
    targetType: doc.targetType ?? null,
    targetId: doc.targetId ?? null,
    ip: doc.ip ?? null,
    details: doc.details ?? null,
  };
}
