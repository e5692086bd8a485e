/**
 * `SqliteStore`: the embedded Store adapter on better-sqlite3 (WAL, synchronous=FULL so an
 * acknowledged write survives a crash). It also implements the in-process bus's JobStorage
 * in the same file, so an accepted upload and its job are equally durable.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { JobStorage, StoredJob } from '@quire/bus';
import { ConflictError, DocumentStatus, NotFoundError, type Classification, type Fields } from '@quire/kernel';
import { migrations } from './migrations.ts';
import { assertTeamKeepsOwner, matchPairKey, raisedRole, refreshedEvidence } from '../rules.ts';
import type { TransferKind, TransferRecords, TransferSource } from '../transfer.ts';
import {
  DOCUMENT_ORDER_KEYS,
  DocumentOrder,
  decodeDocumentCursor,
  encodeDocumentCursor,
  normalizeEmail,
  type ApiKeyRecord,
  type AnnotationAnchor,
  type DocumentVector,
  type LabelOverrides,
  type MatchCondition,
  type MatchKind,
  type MatchPassage,
  type MatchRecord,
  type MatchResolution,
  type MatchRuleRecord,
  type MatchStatus,
  type MatchedField,
  type NewMatch,
  type AnnotationCommit,
  type AnnotationOpRecord,
  type AnnotationRecord,
  type AnnotationReply,
  type AuditEvent,
  type ChunkRow,
  type DocumentCounts,
  type DocumentFilter,
  type DocumentPatch,
  type FinishedJobs,
  type KeyCount,
  type LabelSet,
  type StoredLabelSet,
  type TeamActivity,
  type DocumentRecord,
  type InvitationRecord,
  type JobPatch,
  type JobRecord,
  type MembershipRecord,
  type NewApiKey,
  type NewAuditEvent,
  type NewDocument,
  type NewInvitation,
  type NewSession,
  type NewUser,
  type Page,
  type PageRecord,
  type Role,
  type SessionRecord,
  type Store,
  type TeamRecord,
  type TeamScope,
  type UnfinishedDocument,
  type UserRecord,
} from '../store.ts';

type Row = Record<string, unknown>;

export interface SqliteStoreOptions {
  /** Path of the database file (created with its folder if missing). */
  filename: string;
}

/**
 * Prepared statements of one connection by SQL text: preparing costs more than running most
 * of these queries. Dynamic SQL here varies only by which filters are set, a bounded set.
 */
function statementCache(db: Database.Database): (sql: string) => Database.Statement {
  const statements = new Map<string, Database.Statement>();
  return (sql) => {
    let stmt = statements.get(sql);
    if (!stmt) {
      stmt = db.prepare(sql);
      statements.set(sql, stmt);
    }
    return stmt;
  };
}

export class SqliteStore implements Store, TransferSource {
  readonly db: Database.Database;
  readonly jobStorage: JobStorage;
  private readonly sql: (sql: string) => Database.Statement;

  constructor(options: SqliteStoreOptions) {
    mkdirSync(dirname(options.filename), { recursive: true });
    this.db = new Database(options.filename);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    this.sql = statementCache(this.db);
    this.migrate();
    this.jobStorage = new SqliteJobStorage(this.db);
  }

  async start(): Promise<void> {}

  async ping(): Promise<void> {
    this.sql('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private migrate(): void {
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    );
    const applied = new Set((this.sql('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.sql('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
      })();
    }
  }

  async ensureTeam(team: { id: string; name: string }): Promise<TeamRecord> {
    this.sql('INSERT OR IGNORE INTO teams (id, name, created_at) VALUES (?, ?, ?)').run(team.id, team.name, Date.now());
    const row = this.sql('SELECT * FROM teams WHERE id = ?').get(team.id) as Row;
    return { id: String(row.id), name: String(row.name), createdAt: Number(row.created_at) };
  }

  async getTeam(id: string): Promise<TeamRecord | undefined> {
    const row = this.sql('SELECT * FROM teams WHERE id = ?').get(id) as Row | undefined;
    return row && toTeam(row);
  }

  async listTeams(): Promise<TeamRecord[]> {
    return (this.sql('SELECT * FROM teams ORDER BY created_at, id').all() as Row[]).map(toTeam);
  }

  // --- users -------------------------------------------------------------------------------

  async insertUser(user: NewUser): Promise<UserRecord> {
    this.insertUserRow(user, Date.now());
    return this.mustGetUser(user.id);
  }

  async insertFirstUser(user: NewUser, team: { id: string; name: string }): Promise<UserRecord | undefined> {
    // better-sqlite3 transactions are synchronous, so the emptiness check and the inserts
    // cannot interleave with another sign-up.
    const inserted = this.db.transaction(() => {
      if (this.sql('SELECT 1 FROM users LIMIT 1').get()) return false;
      const now = Date.now();
      this.sql('INSERT OR IGNORE INTO teams (id, name, created_at) VALUES (?, ?, ?)').run(team.id, team.name, now);
      this.insertUserRow(user, now);
      this.db
        .prepare(`INSERT INTO memberships (team_id, user_id, role, created_at, updated_at) VALUES (?, ?, 'owner', ?, ?)`)
        .run(team.id, user.id, now, now);
      return true;
    })();
    return inserted ? this.mustGetUser(user.id) : undefined;
  }

  private insertUserRow(user: NewUser, now: number): void {
    try {
      this.db
        .prepare(
          `INSERT INTO users (id, email, email_normalized, name, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(user.id, user.email, normalizeEmail(user.email), user.name, user.passwordHash, now, now);
    } catch (err) {
      if (isUniqueViolation(err, 'users.email_normalized')) {
        throw new ConflictError('An account with this e-mail address exists already', { code: 'EMAIL_TAKEN', cause: err });
      }
      throw err;
    }
  }

  async getUser(id: string): Promise<UserRecord | undefined> {
    const row = this.sql('SELECT * FROM users WHERE id = ?').get(id) as Row | undefined;
    return row && toUser(row);
  }

  async findUserByEmail(email: string): Promise<UserRecord | undefined> {
    const row = this.sql('SELECT * FROM users WHERE email_normalized = ?').get(normalizeEmail(email)) as Row | undefined;
    return row && toUser(row);
  }

  async updateUserPassword(id: string, passwordHash: string): Promise<void> {
    const info = this.sql('UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?').run(passwordHash, Date.now(), id);
    if (info.changes === 0) throw new NotFoundError(`User ${id} not found`);
  }

  async deleteUser(id: string): Promise<boolean> {
    // Memberships and sessions go with the user (ON DELETE CASCADE).
    return this.sql('DELETE FROM users WHERE id = ?').run(id).changes > 0;
  }

  async countUsers(): Promise<number> {
    return (this.sql('SELECT count(*) AS n FROM users').get() as { n: number }).n;
  }

  private mustGetUser(id: string): UserRecord {
    const row = this.sql('SELECT * FROM users WHERE id = ?').get(id) as Row | undefined;
    if (!row) throw new NotFoundError(`User ${id} not found`);
    return toUser(row);
  }

  // --- memberships -------------------------------------------------------------------------

  async listMembershipsOfUser(userId: string): Promise<MembershipRecord[]> {
    const rows = this.sql('SELECT * FROM memberships WHERE user_id = ? ORDER BY created_at, rowid').all(userId) as Row[];
    return rows.map(toMembership);
  }

  async listMembers(scope: TeamScope): Promise<MembershipRecord[]> {
    const rows = this.sql('SELECT * FROM memberships WHERE team_id = ? ORDER BY created_at, rowid').all(scope.teamId) as Row[];
    return rows.map(toMembership);
  }

  async getMembership(scope: TeamScope, userId: string): Promise<MembershipRecord | undefined> {
    const row = this.sql('SELECT * FROM memberships WHERE team_id = ? AND user_id = ?').get(scope.teamId, userId) as Row | undefined;
    return row && toMembership(row);
  }

  async addMember(scope: TeamScope, userId: string, role: Role): Promise<MembershipRecord> {
    this.db.transaction(() => this.addMemberRow(scope.teamId, userId, role, Date.now()))();
    return (await this.getMembership(scope, userId))!;
  }

  /** Inserts the membership, or raises an existing one to `role` if that is stronger. */
  private addMemberRow(teamId: string, userId: string, role: Role, now: number): void {
    const existing = this.sql('SELECT role FROM memberships WHERE team_id = ? AND user_id = ?').get(teamId, userId) as
      { role: Role } | undefined;
    const raised = raisedRole(existing?.role, role);
    if (raised === null) return;
    if (!existing) {
      this.sql('INSERT INTO memberships (team_id, user_id, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?)').run(
        teamId,
        userId,
        raised,
        now,
        now,
      );
    } else {
      this.sql('UPDATE memberships SET role = ?, updated_at = ? WHERE team_id = ? AND user_id = ?').run(raised, now, teamId, userId);
    }
  }

  async setMemberRole(scope: TeamScope, userId: string, role: Role): Promise<MembershipRecord> {
    this.db.transaction(() => {
      const current = this.sql('SELECT role FROM memberships WHERE team_id = ? AND user_id = ?').get(scope.teamId, userId) as
        { role: Role } | undefined;
      if (!current) throw new NotFoundError(`User ${userId} is not a member of this team`);
      assertTeamKeepsOwner({ userId, from: current.role, to: role }, () => this.ownerIds(scope.teamId));
      this.db
        .prepare('UPDATE memberships SET role = ?, updated_at = ? WHERE team_id = ? AND user_id = ?')
        .run(role, Date.now(), scope.teamId, userId);
    })();
    return (await this.getMembership(scope, userId))!;
  }

  async removeMember(scope: TeamScope, userId: string): Promise<boolean> {
    return this.db.transaction(() => {
      const current = this.sql('SELECT role FROM memberships WHERE team_id = ? AND user_id = ?').get(scope.teamId, userId) as
        { role: Role } | undefined;
      if (!current) return false;
      assertTeamKeepsOwner({ userId, from: current.role, to: null }, () => this.ownerIds(scope.teamId));
      return this.sql('DELETE FROM memberships WHERE team_id = ? AND user_id = ?').run(scope.teamId, userId).changes > 0;
    })();
  }

  /** The team's owners, for {@link assertTeamKeepsOwner}. */
  private ownerIds(teamId: string): string[] {
    return (this.sql(`SELECT user_id FROM memberships WHERE team_id = ? AND role = 'owner'`).all(teamId) as { user_id: string }[]).map(
      (r) => r.user_id,
    );
  }

  // --- sessions ----------------------------------------------------------------------------

  async insertSession(session: NewSession): Promise<SessionRecord> {
    this.insertSessionRow(session, Date.now());
    return this.mustGetSession(session.id);
  }

  private insertSessionRow(s: NewSession, now: number): void {
    this.db
      .prepare(
        `INSERT INTO sessions (id, family_id, user_id, token_hash, created_at, expires_at, ip, user_agent)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(s.id, s.familyId, s.userId, s.tokenHash, now, s.expiresAt, s.ip, s.userAgent);
  }

  async findSessionByTokenHash(tokenHash: string): Promise<SessionRecord | undefined> {
    const row = this.sql('SELECT * FROM sessions WHERE token_hash = ?').get(tokenHash) as Row | undefined;
    return row && toSession(row);
  }

  async rotateSession(currentId: string, next: NewSession, at: number): Promise<boolean> {
    return this.db.transaction(() => {
      const won =
        this.sql('UPDATE sessions SET rotated_at = ? WHERE id = ? AND rotated_at IS NULL AND revoked_at IS NULL').run(at, currentId)
          .changes === 1;
      if (won) this.insertSessionRow(next, at);
      return won;
    })();
  }

  async revokeSessionFamily(familyId: string, at: number): Promise<number> {
    return this.sql('UPDATE sessions SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL').run(at, familyId).changes;
  }

  async revokeUserSessions(userId: string, at: number, keepFamilyId?: string): Promise<number> {
    return this.db
      .prepare('UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND family_id IS NOT ?')
      .run(at, userId, keepFamilyId ?? null).changes;
  }

  async isSessionFamilyActive(familyId: string, at: number): Promise<boolean> {
    return !!this.sql('SELECT 1 FROM sessions WHERE family_id = ? AND revoked_at IS NULL AND expires_at > ? LIMIT 1').get(familyId, at);
  }

  async pruneSessions(before: number): Promise<number> {
    return this.sql('DELETE FROM sessions WHERE expires_at < @before OR revoked_at < @before').run({ before }).changes;
  }

  private mustGetSession(id: string): SessionRecord {
    const row = this.sql('SELECT * FROM sessions WHERE id = ?').get(id) as Row | undefined;
    if (!row) throw new NotFoundError(`Session ${id} not found`);
    return toSession(row);
  }

  // --- invitations -------------------------------------------------------------------------

  async insertInvitation(inv: NewInvitation): Promise<InvitationRecord> {
    this.db
      .prepare(
        `INSERT INTO invitations (id, team_id, email, role, token_hash, created_by, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(inv.id, inv.teamId, inv.email, inv.role, inv.tokenHash, inv.createdBy, Date.now(), inv.expiresAt);
    return toInvitation(this.sql('SELECT * FROM invitations WHERE id = ?').get(inv.id) as Row);
  }

  async findInvitationByTokenHash(tokenHash: string): Promise<InvitationRecord | undefined> {
    const row = this.sql('SELECT * FROM invitations WHERE token_hash = ?').get(tokenHash) as Row | undefined;
    return row && toInvitation(row);
  }

  async acceptInvitation(invitationId: string, userId: string, at: number): Promise<MembershipRecord | undefined> {
    const teamId = this.db.transaction(() => {
      const row = this.db
        .prepare(
          `UPDATE invitations SET accepted_at = @at, accepted_by = @userId
           WHERE id = @id AND accepted_at IS NULL AND expires_at > @at RETURNING team_id, role`,
        )
        .get({ id: invitationId, userId, at }) as { team_id: string; role: Role } | undefined;
      if (!row) return undefined;
      this.addMemberRow(row.team_id, userId, row.role, at);
      return row.team_id;
    })();
    return teamId === undefined ? undefined : this.getMembership({ teamId }, userId);
  }

  async pruneInvitations(before: number): Promise<number> {
    return this.sql('DELETE FROM invitations WHERE expires_at < ?').run(before).changes;
  }

  // --- API keys ----------------------------------------------------------------------------

  async insertApiKey(key: NewApiKey): Promise<ApiKeyRecord> {
    this.db
      .prepare(`INSERT INTO api_keys (id, team_id, name, prefix, key_hash, role, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(key.id, key.teamId, key.name, key.prefix, key.keyHash, key.role, key.createdBy, Date.now());
    return toApiKey(this.sql('SELECT * FROM api_keys WHERE id = ?').get(key.id) as Row);
  }

  async findApiKeyByHash(keyHash: string): Promise<ApiKeyRecord | undefined> {
    const row = this.sql('SELECT * FROM api_keys WHERE key_hash = ?').get(keyHash) as Row | undefined;
    return row && toApiKey(row);
  }

  async listApiKeys(scope: TeamScope): Promise<ApiKeyRecord[]> {
    const rows = this.sql('SELECT * FROM api_keys WHERE team_id = ? ORDER BY created_at, rowid').all(scope.teamId) as Row[];
    return rows.map(toApiKey);
  }

  async touchApiKey(id: string, at: number, minIntervalMs: number): Promise<boolean> {
    return (
      this.db
        .prepare('UPDATE api_keys SET last_used_at = @at WHERE id = @id AND (last_used_at IS NULL OR last_used_at <= @at - @gap)')
        .run({ id, at, gap: minIntervalMs }).changes === 1
    );
  }

  async revokeApiKey(scope: TeamScope, id: string, at: number): Promise<boolean> {
    return (
      this.sql('UPDATE api_keys SET revoked_at = ? WHERE team_id = ? AND id = ? AND revoked_at IS NULL').run(at, scope.teamId, id)
        .changes === 1
    );
  }

  // --- audit log ---------------------------------------------------------------------------

  async appendAudit(e: NewAuditEvent): Promise<AuditEvent> {
    const row = this.db
      .prepare(
        `INSERT INTO audit_log (at, action, team_id, actor_user_id, actor_api_key_id, target_type, target_id, ip, details)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
      )
      .get(
        Date.now(),
        e.action,
        e.teamId ?? null,
        e.actorUserId ?? null,
        e.actorApiKeyId ?? null,
        e.targetType ?? null,
        e.targetId ?? null,
        e.ip ?? null,
        e.details ? JSON.stringify(e.details) : null,
      ) as Row;
    return toAudit(row);
  }

  async listAudit(options: { teamId?: string; actorUserId?: string; limit: number }): Promise<AuditEvent[]> {
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: options.limit };
    if (options.teamId !== undefined) {
      where.push('team_id = @team');
      params.team = options.teamId;
    }
    if (options.actorUserId !== undefined) {
      where.push('actor_user_id = @actor');
      params.actor = options.actorUserId;
    }
    const rows = this.db
      .prepare(`SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT @limit`)
      .all(params) as Row[];
    return rows.map(toAudit);
  }

  async listTeamAudit(scope: TeamScope, options: { limit: number; beforeId?: number | null }): Promise<AuditEvent[]> {
    const rows = this.sql(
      `SELECT * FROM audit_log
        WHERE (team_id = @team
               OR (team_id IS NULL AND (actor_user_id IN (SELECT user_id FROM memberships WHERE team_id = @team)
                   OR (target_type = 'user' AND target_id IN (SELECT user_id FROM memberships WHERE team_id = @team)))))
          AND id < @before
        ORDER BY id DESC LIMIT @limit`,
    ).all({ team: scope.teamId, before: options.beforeId ?? Number.MAX_SAFE_INTEGER, limit: options.limit }) as Row[];
    return rows.map(toAudit);
  }

  // --- documents ---------------------------------------------------------------------------

  async insertDocument(scope: TeamScope, doc: NewDocument): Promise<DocumentRecord> {
    const now = Date.now();
    this.db.transaction(() => {
      this.sql(
        `INSERT INTO documents (team_id, id, filename, mime_type, size, sha256, blob_key, status, job_id, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)`,
      ).run(scope.teamId, doc.id, doc.filename, doc.mimeType, doc.size, doc.sha256, doc.blobKey, doc.jobId, now, now);
      this.insertJobRow(scope, doc.jobId, doc.id, now);
    })();
    return this.mustGetDocument(scope, doc.id);
  }

  async getDocument(scope: TeamScope, id: string): Promise<DocumentRecord | undefined> {
    const row = this.sql('SELECT * FROM documents WHERE team_id = ? AND id = ?').get(scope.teamId, id) as Row | undefined;
    return row && toDocument(row);
  }

  async findDocumentBySha256(scope: TeamScope, sha256: string): Promise<DocumentRecord | undefined> {
    const row = this.sql('SELECT * FROM documents WHERE team_id = ? AND sha256 = ?').get(scope.teamId, sha256) as Row | undefined;
    return row && toDocument(row);
  }

  async listDocuments(
    scope: TeamScope,
    options: { filter?: DocumentFilter; orderBy?: DocumentOrder; first: number; after?: string | null },
  ): Promise<Page<DocumentRecord>> {
    const order = options.orderBy ?? DocumentOrder.Newest;
    const { where, params } = documentWhere(scope, options.filter);
    const { column, collate, descending } = ORDER_COLUMNS[order];
    if (options.after) {
      const cursor = decodeDocumentCursor(order, options.after);
      // A row-value comparison over the index's columns, so the walk starts at the cursor. The
      // collation goes on the cursor's side: on the column's, SQLite would scan from the start.
      where.push(`(${column}, id) ${descending ? '<' : '>'} (@cKey${collate}, @cId)`);
      params.cKey = cursor.key;
      params.cId = cursor.id;
    }
    params.limit = options.first + 1;
    const direction = descending ? 'DESC' : 'ASC';
    const rows = this.sql(
      `SELECT * FROM documents WHERE ${where.join(' AND ')} ORDER BY ${column}${collate} ${direction}, id ${direction} LIMIT @limit`,
    ).all(params) as Row[];
    const edges = rows.slice(0, options.first).map((r) => {
      const node = toDocument(r);
      return { node, cursor: encodeDocumentCursor(order, node) };
    });
    return { edges, endCursor: edges.at(-1)?.cursor ?? null, hasNextPage: rows.length > options.first };
  }

  async countDocuments(scope: TeamScope, filter?: DocumentFilter): Promise<number> {
    const { where, params } = documentWhere(scope, filter);
    return (this.sql(`SELECT count(*) AS n FROM documents WHERE ${where.join(' AND ')}`).get(params) as { n: number }).n;
  }

  async documentCounts(scope: TeamScope): Promise<DocumentCounts> {
    // One read transaction: the three groupings see the same documents.
    return this.db.transaction((): DocumentCounts => {
      const byStatus = Object.fromEntries(Object.values(DocumentStatus).map((st) => [st, 0])) as Record<DocumentStatus, number>;
      let total = 0;
      for (const r of this.sql('SELECT status, count(*) AS n FROM documents WHERE team_id = ? GROUP BY status').all(
        scope.teamId,
      ) as Row[]) {
        byStatus[r.status as DocumentStatus] = Number(r.n);
        total += Number(r.n);
      }
      const grouped = (column: string): KeyCount[] =>
        (
          this.sql(
            `SELECT ${column} AS k, count(*) AS n FROM documents WHERE team_id = ? AND ${column} IS NOT NULL GROUP BY ${column} ORDER BY n DESC, k`,
          ).all(scope.teamId) as Row[]
        ).map((r) => ({ key: String(r.k), count: Number(r.n) }));
      return { total, byStatus, byType: grouped('type_label'), bySensitivity: grouped('sensitivity_label') };
    })();
  }

  async finishedJobs(scope: TeamScope, options: { from: number; to: number; bucketMs: number }): Promise<FinishedJobs[]> {
    const rows = this.sql(
      `SELECT CAST((finished_at - @from) / @bucket AS INTEGER) AS b,
              sum(status = 'succeeded') AS succeeded, sum(status = 'failed') AS failed
         FROM jobs
        WHERE team_id = @team AND finished_at >= @from AND finished_at < @to AND status IN ('succeeded', 'failed')
        GROUP BY b ORDER BY b`,
    ).all({ team: scope.teamId, from: options.from, to: options.to, bucket: options.bucketMs }) as Row[];
    return rows.map((r) => ({
      at: options.from + Number(r.b) * options.bucketMs,
      succeeded: Number(r.succeeded),
      failed: Number(r.failed),
    }));
  }

  async teamActivity(scope: TeamScope, options: { since: number }): Promise<TeamActivity> {
    return this.db.transaction((): TeamActivity => {
      const count = (sql: string, ...args: unknown[]) => (this.sql(sql).get(scope.teamId, ...args) as { n: number }).n;
      return {
        annotationsCreated: count(
          'SELECT count(*) AS n FROM annotations WHERE team_id = ? AND created_at >= ? AND deleted = 0',
          options.since,
        ),
        matchesOpen: count(`SELECT count(*) AS n FROM matches WHERE team_id = ? AND status = 'open'`),
        matchesResolved: count(
          `SELECT count(*) AS n FROM matches WHERE team_id = ? AND resolved_at >= ? AND status IN ('confirmed', 'rejected')`,
          options.since,
        ),
      };
    })();
  }

  async updateDocument(scope: TeamScope, id: string, patch: DocumentPatch): Promise<DocumentRecord> {
    const sets: string[] = ['updated_at = @now'];
    const params: Record<string, unknown> = { team: scope.teamId, id, now: Date.now() };
    const put = (col: string, value: unknown) => {
      sets.push(`${col} = @${col}`);
      params[col] = value;
    };
    if (patch.status !== undefined) put('status', patch.status);
    if (patch.pageCount !== undefined) put('page_count', patch.pageCount);
    if (patch.chunkCount !== undefined) put('chunk_count', patch.chunkCount);
    if (patch.classification !== undefined) put('classification', patch.classification && JSON.stringify(patch.classification));
    if (patch.fields !== undefined) put('fields', JSON.stringify(patch.fields));
    if (patch.modelId !== undefined) put('model_id', patch.modelId);
    if (patch.jobId !== undefined) put('job_id', patch.jobId);
    if (patch.error !== undefined) put('error', patch.error && JSON.stringify(patch.error));
    if (patch.processedAt !== undefined) put('processed_at', patch.processedAt);
    if (patch.labelOverrides !== undefined) put('label_overrides', JSON.stringify(patch.labelOverrides));
    this.db.transaction(() => {
      const info = this.sql(`UPDATE documents SET ${sets.join(', ')} WHERE team_id = @team AND id = @id`).run(params);
      if (info.changes === 0) throw new NotFoundError(`Document ${id} not found`);
      // Filters use the labels in force: a person's, else the classifier's.
      if (patch.classification !== undefined || patch.labelOverrides !== undefined) {
        this.sql(
          `UPDATE documents SET
             type_label = COALESCE(json_extract(label_overrides, '$.type.label'), json_extract(classification, '$.type.label')),
             sensitivity_label = COALESCE(json_extract(label_overrides, '$.sensitivity.label'), json_extract(classification, '$.sensitivity.label'))
           WHERE team_id = ? AND id = ?`,
        ).run(scope.teamId, id);
      }
    })();
    return this.mustGetDocument(scope, id);
  }

  // --- annotations -------------------------------------------------------------------------

  async commitAnnotationOp(
    scope: TeamScope,
    input: {
      opId: string;
      actorId: string | null;
      at: number;
      op: Record<string, unknown>;
      expectedVersion: number | null;
      next: AnnotationRecord;
    },
  ): Promise<AnnotationCommit> {
    const { teamId } = scope;
    const documentId = input.next.documentId;
    return this.db.transaction((): AnnotationCommit => {
      const known = this.sql('SELECT * FROM annotation_ops WHERE team_id = ? AND document_id = ? AND op_id = ?').get(
        teamId,
        documentId,
        input.opId,
      ) as Row | undefined;
      if (known) return { status: 'duplicate', record: toAnnotationOp(known) };
      const row = this.sql('SELECT * FROM annotations WHERE team_id = ? AND document_id = ? AND id = ?').get(
        teamId,
        documentId,
        input.next.id,
      ) as Row | undefined;
      const current = row && toAnnotation(row);
      if ((current?.version ?? null) !== input.expectedVersion) return { status: 'conflict', current };
      const n = { ...input.next, teamId };
      this.sql(
        `INSERT OR REPLACE INTO annotations
           (team_id, document_id, id, version, anchor, label, comment, replies, resolved, deleted, created_by, created_at, updated_by, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        teamId,
        documentId,
        n.id,
        n.version,
        JSON.stringify(n.anchor),
        n.label,
        n.comment,
        JSON.stringify(n.replies),
        n.resolved ? 1 : 0,
        n.deleted ? 1 : 0,
        n.createdBy,
        n.createdAt,
        n.updatedBy,
        n.updatedAt,
      );
      const { seq } = this.sql('SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM annotation_ops WHERE team_id = ? AND document_id = ?').get(
        teamId,
        documentId,
      ) as { seq: number };
      this.sql(
        `INSERT INTO annotation_ops (team_id, document_id, seq, op_id, actor_id, at, op, annotation) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(teamId, documentId, seq, input.opId, input.actorId, input.at, JSON.stringify(input.op), JSON.stringify(n));
      return {
        status: 'accepted',
        record: { documentId, seq, opId: input.opId, actorId: input.actorId, at: input.at, op: input.op, annotation: n },
      };
    })();
  }

  async getAnnotation(scope: TeamScope, documentId: string, id: string): Promise<AnnotationRecord | undefined> {
    const row = this.sql('SELECT * FROM annotations WHERE team_id = ? AND document_id = ? AND id = ?').get(scope.teamId, documentId, id) as
      Row | undefined;
    return row && toAnnotation(row);
  }

  async listAnnotations(scope: TeamScope, documentId: string, options: { includeDeleted?: boolean } = {}): Promise<AnnotationRecord[]> {
    const rows = this.sql(
      `SELECT * FROM annotations WHERE team_id = ? AND document_id = ? ${options.includeDeleted ? '' : 'AND deleted = 0'} ORDER BY created_at, rowid`,
    ).all(scope.teamId, documentId) as Row[];
    return rows.map(toAnnotation);
  }

  async listAnnotationOps(
    scope: TeamScope,
    documentId: string,
    options: { afterSeq: number; limit: number },
  ): Promise<AnnotationOpRecord[]> {
    const rows = this.sql('SELECT * FROM annotation_ops WHERE team_id = ? AND document_id = ? AND seq > ? ORDER BY seq LIMIT ?').all(
      scope.teamId,
      documentId,
      options.afterSeq,
      options.limit,
    ) as Row[];
    return rows.map(toAnnotationOp);
  }

  async lastAnnotationSeq(scope: TeamScope, documentId: string): Promise<number> {
    const row = this.sql('SELECT COALESCE(MAX(seq), 0) AS seq FROM annotation_ops WHERE team_id = ? AND document_id = ?').get(
      scope.teamId,
      documentId,
    ) as { seq: number };
    return row.seq;
  }

  async getAnnotationOp(scope: TeamScope, documentId: string, opId: string): Promise<AnnotationOpRecord | undefined> {
    const row = this.sql('SELECT * FROM annotation_ops WHERE team_id = ? AND document_id = ? AND op_id = ?').get(
      scope.teamId,
      documentId,
      opId,
    ) as Row | undefined;
    return row && toAnnotationOp(row);
  }

  async annotationSnapshot(scope: TeamScope, documentId: string): Promise<{ seq: number; annotations: AnnotationRecord[] }> {
    return this.db.transaction(() => {
      const rows = this.sql(
        'SELECT * FROM annotations WHERE team_id = ? AND document_id = ? AND deleted = 0 ORDER BY created_at, rowid',
      ).all(scope.teamId, documentId) as Row[];
      const { seq } = this.sql('SELECT COALESCE(MAX(seq), 0) AS seq FROM annotation_ops WHERE team_id = ? AND document_id = ?').get(
        scope.teamId,
        documentId,
      ) as { seq: number };
      return { seq, annotations: rows.map(toAnnotation) };
    })();
  }

  async deleteDocument(scope: TeamScope, id: string): Promise<boolean> {
    return this.db.transaction(() => {
      const args = [scope.teamId, id];
      this.sql('DELETE FROM pages WHERE team_id = ? AND document_id = ?').run(...args);
      this.sql('DELETE FROM chunks WHERE team_id = ? AND document_id = ?').run(...args);
      this.sql('DELETE FROM jobs WHERE team_id = ? AND document_id = ?').run(...args);
      this.sql('DELETE FROM annotations WHERE team_id = ? AND document_id = ?').run(...args);
      this.sql('DELETE FROM annotation_ops WHERE team_id = ? AND document_id = ?').run(...args);
      this.sql('DELETE FROM matches WHERE team_id = ? AND (document_a = ? OR document_b = ?)').run(scope.teamId, id, id);
      return this.sql('DELETE FROM documents WHERE team_id = ? AND id = ?').run(...args).changes > 0;
    })();
  }

  // --- document vectors ----------------------------------------------------------------------

  async setDocumentVector(scope: TeamScope, id: string, vector: Float32Array): Promise<void> {
    const blob = Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
    const info = this.sql('UPDATE documents SET vector = ? WHERE team_id = ? AND id = ?').run(blob, scope.teamId, id);
    if (info.changes === 0) throw new NotFoundError(`Document ${id} not found`);
  }

  async listDocumentVectors(scope: TeamScope, options: { documentIds?: string[]; labelledOnly?: boolean } = {}): Promise<DocumentVector[]> {
    const where = ['team_id = @team', 'vector IS NOT NULL'];
    const params: Record<string, unknown> = { team: scope.teamId };
    if (options.documentIds) {
      if (options.documentIds.length === 0) return [];
      addIn(where, params, 'id', 'id', options.documentIds);
    }
    if (options.labelledOnly) where.push(`label_overrides <> '{}'`);
    const rows = this.sql(
      `SELECT id, vector, classification, label_overrides FROM documents WHERE ${where.join(' AND ')} ORDER BY created_at, id`,
    ).all(params) as Row[];
    return rows.map((r) => {
      return {
        documentId: String(r.id),
        vector: vectorOf(r.vector as Buffer),
        classification: parseJson<Classification>(r.classification),
        labelOverrides: parseJson<LabelOverrides>(r.label_overrides) ?? {},
      };
    });
  }

  // --- transfer (quire migrate-store) ------------------------------------------------------

  /** Pages through a kind's rows in insertion (rowid) order; the position is the last rowid. */
  async exportRecords<K extends TransferKind>(
    kind: K,
    options: { after: string | null; limit: number },
  ): Promise<{ records: TransferRecords[K][]; next: string | null }> {
    const { table, map } = EXPORTS[kind];
    const rows = this.sql(`SELECT rowid AS transfer_position, * FROM ${table} WHERE rowid > ? ORDER BY rowid LIMIT ?`).all(
      Number(options.after ?? 0),
      options.limit,
    ) as Row[];
    const last = rows.at(-1);
    return { records: rows.map(map), next: rows.length < options.limit || !last ? null : String(last.transfer_position) };
  }

  // --- label sets ----------------------------------------------------------------------------

  async getLabelSet(scope: TeamScope): Promise<StoredLabelSet | undefined> {
    const row = this.sql('SELECT * FROM team_label_sets WHERE team_id = ?').get(scope.teamId) as Row | undefined;
    return row && toLabelSet(row);
  }

  async saveLabelSet(scope: TeamScope, set: LabelSet, expectedVersion: number): Promise<StoredLabelSet | undefined> {
    const labels = JSON.stringify({ types: set.types, sensitivities: set.sensitivities });
    const now = Date.now();
    // Insert-or-update guarded by the version: two changes from the same version, one wins.
    const row = (
      expectedVersion === 0
        ? this.sql(
            'INSERT INTO team_label_sets (team_id, labels, version, updated_at) VALUES (?, ?, 1, ?) ON CONFLICT (team_id) DO NOTHING RETURNING *',
          ).get(scope.teamId, labels, now)
        : this.sql(
            'UPDATE team_label_sets SET labels = ?, version = version + 1, updated_at = ? WHERE team_id = ? AND version = ? RETURNING *',
          ).get(labels, now, scope.teamId, expectedVersion)
    ) as Row | undefined;
    return row && toLabelSet(row);
  }

  // --- match rules and matches ---------------------------------------------------------------

  async insertMatchRule(scope: TeamScope, rule: Omit<MatchRuleRecord, 'teamId' | 'createdAt' | 'updatedAt'>): Promise<MatchRuleRecord> {
    const now = Date.now();
    this.sql(
      `INSERT INTO match_rules (team_id, id, name, type_a, type_b, conditions, enabled, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(scope.teamId, rule.id, rule.name, rule.typeA, rule.typeB, JSON.stringify(rule.conditions), rule.enabled ? 1 : 0, now, now);
    return (await this.getMatchRule(scope, rule.id))!;
  }

  async updateMatchRule(scope: TeamScope, rule: Omit<MatchRuleRecord, 'teamId' | 'createdAt' | 'updatedAt'>): Promise<MatchRuleRecord> {
    const info = this.sql(
      `UPDATE match_rules SET name = ?, type_a = ?, type_b = ?, conditions = ?, enabled = ?, updated_at = ? WHERE team_id = ? AND id = ?`,
    ).run(rule.name, rule.typeA, rule.typeB, JSON.stringify(rule.conditions), rule.enabled ? 1 : 0, Date.now(), scope.teamId, rule.id);
    if (info.changes === 0) throw new NotFoundError(`Match rule ${rule.id} not found`);
    return (await this.getMatchRule(scope, rule.id))!;
  }

  async deleteMatchRule(scope: TeamScope, id: string): Promise<boolean> {
    return this.sql('DELETE FROM match_rules WHERE team_id = ? AND id = ?').run(scope.teamId, id).changes > 0;
  }

  async getMatchRule(scope: TeamScope, id: string): Promise<MatchRuleRecord | undefined> {
    const row = this.sql('SELECT * FROM match_rules WHERE team_id = ? AND id = ?').get(scope.teamId, id) as Row | undefined;
    return row && toMatchRule(row);
  }

  async listMatchRules(scope: TeamScope): Promise<MatchRuleRecord[]> {
    return (this.sql('SELECT * FROM match_rules WHERE team_id = ? ORDER BY created_at, id').all(scope.teamId) as Row[]).map(toMatchRule);
  }

  async proposeMatch(scope: TeamScope, match: NewMatch, at: number): Promise<{ match: MatchRecord; created: boolean }> {
    const pairKey = matchPairKey(match);
    return this.db.transaction(() => {
      const existing = this.sql('SELECT * FROM matches WHERE team_id = ? AND pair_key = ?').get(scope.teamId, pairKey) as Row | undefined;
      if (existing) {
        const evidence = refreshedEvidence({ status: existing.status as MatchStatus, documentAId: String(existing.document_a) }, match);
        if (evidence) {
          this.sql('UPDATE matches SET kind = ?, score = ?, passages = ?, fields = ?, updated_at = ? WHERE team_id = ? AND id = ?').run(
            evidence.kind,
            evidence.score,
            JSON.stringify(evidence.passages),
            JSON.stringify(evidence.fields),
            at,
            scope.teamId,
            existing.id,
          );
        }
        const row = this.sql('SELECT * FROM matches WHERE team_id = ? AND id = ?').get(scope.teamId, existing.id) as Row;
        return { match: toMatch(row), created: false };
      }
      this.sql(
        `INSERT INTO matches (team_id, id, kind, document_a, document_b, rule_id, pair_key, score, passages, fields, status, version, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', 1, ?, ?)`,
      ).run(
        scope.teamId,
        match.id,
        match.kind,
        match.documentAId,
        match.documentBId,
        match.ruleId,
        pairKey,
        match.score,
        JSON.stringify(match.passages),
        JSON.stringify(match.fields),
        at,
        at,
      );
      const row = this.sql('SELECT * FROM matches WHERE team_id = ? AND id = ?').get(scope.teamId, match.id) as Row;
      return { match: toMatch(row), created: true };
    })();
  }

  async getMatch(scope: TeamScope, id: string): Promise<MatchRecord | undefined> {
    const row = this.sql('SELECT * FROM matches WHERE team_id = ? AND id = ?').get(scope.teamId, id) as Row | undefined;
    return row && toMatch(row);
  }

  async listMatches(scope: TeamScope, options: { status?: MatchStatus; documentId?: string; limit: number }): Promise<MatchRecord[]> {
    const where = ['team_id = @team'];
    const params: Record<string, unknown> = { team: scope.teamId, limit: options.limit };
    if (options.status) {
      where.push('status = @status');
      params.status = options.status;
    }
    if (options.documentId) {
      where.push('(document_a = @doc OR document_b = @doc)');
      params.doc = options.documentId;
    }
    const rows = this.sql(`SELECT * FROM matches WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT @limit`).all(
      params,
    ) as Row[];
    return rows.map(toMatch);
  }

  async listConfirmedMatches(scope: TeamScope): Promise<MatchRecord[]> {
    const rows = this.sql(`SELECT * FROM matches WHERE team_id = ? AND status = 'confirmed' ORDER BY created_at, id`).all(
      scope.teamId,
    ) as Row[];
    return rows.map(toMatch);
  }

  async resolveMatch(
    scope: TeamScope,
    id: string,
    input: {
      expectedVersion: number;
      status: MatchStatus;
      canonicalDocumentId: string | null;
      by: string | null;
      at: number;
      note: string | null;
    },
  ): Promise<MatchResolution | undefined> {
    return this.db.transaction((): MatchResolution | undefined => {
      const row = this.sql('SELECT * FROM matches WHERE team_id = ? AND id = ?').get(scope.teamId, id) as Row | undefined;
      if (!row) return undefined;
      const current = toMatch(row);
      if (current.version !== input.expectedVersion) return { status: 'conflict', current };
      const open = input.status === 'open';
      this.sql(
        `UPDATE matches SET status = ?, version = version + 1, canonical_document_id = ?, resolved_by = ?, resolved_at = ?, note = ?, updated_at = ?
         WHERE team_id = ? AND id = ?`,
      ).run(
        input.status,
        input.canonicalDocumentId,
        open ? null : input.by,
        open ? null : input.at,
        input.note,
        input.at,
        scope.teamId,
        id,
      );
      const updated = this.sql('SELECT * FROM matches WHERE team_id = ? AND id = ?').get(scope.teamId, id) as Row;
      return { status: 'accepted', match: toMatch(updated) };
    })();
  }

  async upsertPages(scope: TeamScope, documentId: string, pages: readonly Omit<PageRecord, 'documentId'>[]): Promise<void> {
    const stmt = this.sql(
      `INSERT OR REPLACE INTO pages (team_id, document_id, page, width, height, text, source, confidence, words)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.db.transaction(() => {
      for (const p of pages) {
        stmt.run(scope.teamId, documentId, p.page, p.width, p.height, p.text, p.source, p.confidence, JSON.stringify(p.words));
      }
    })();
  }

  async getPages(scope: TeamScope, documentId: string): Promise<PageRecord[]> {
    const rows = this.sql('SELECT * FROM pages WHERE team_id = ? AND document_id = ? ORDER BY page').all(scope.teamId, documentId) as Row[];
    return rows.map(toPage);
  }

  async upsertChunks(scope: TeamScope, documentId: string, chunks: readonly Omit<ChunkRow, 'documentId'>[]): Promise<void> {
    const stmt = this.sql(
      `INSERT OR REPLACE INTO chunks (team_id, document_id, ordinal, page, text, start_offset, end_offset, boxes)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.db.transaction(() => {
      for (const c of chunks) stmt.run(scope.teamId, documentId, c.ordinal, c.page, c.text, c.start, c.end, JSON.stringify(c.boxes));
    })();
  }

  async trimDocument(scope: TeamScope, documentId: string, pageCount: number, chunkCount: number): Promise<void> {
    this.db.transaction(() => {
      this.sql('DELETE FROM pages WHERE team_id = ? AND document_id = ? AND page > ?').run(scope.teamId, documentId, pageCount);
      this.sql('DELETE FROM chunks WHERE team_id = ? AND document_id = ? AND ordinal >= ?').run(scope.teamId, documentId, chunkCount);
    })();
  }

  async getChunks(scope: TeamScope, documentId: string): Promise<ChunkRow[]> {
    const rows = this.sql('SELECT * FROM chunks WHERE team_id = ? AND document_id = ? ORDER BY ordinal').all(
      scope.teamId,
      documentId,
    ) as Row[];
    return rows.map(toChunk);
  }

  async insertJob(scope: TeamScope, job: { id: string; documentId: string }): Promise<JobRecord> {
    this.insertJobRow(scope, job.id, job.documentId, Date.now());
    return this.mustGetJob(scope, job.id);
  }

  private insertJobRow(scope: TeamScope, id: string, documentId: string, now: number): void {
    this.sql(`INSERT INTO jobs (team_id, id, document_id, status, created_at, updated_at) VALUES (?, ?, ?, 'queued', ?, ?)`).run(
      scope.teamId,
      id,
      documentId,
      now,
      now,
    );
  }

  async getJob(scope: TeamScope, id: string): Promise<JobRecord | undefined> {
    const row = this.sql('SELECT * FROM jobs WHERE team_id = ? AND id = ?').get(scope.teamId, id) as Row | undefined;
    return row && toJob(row);
  }

  async getJobs(scope: TeamScope, ids: readonly string[]): Promise<JobRecord[]> {
    if (ids.length === 0) return [];
    const where: string[] = ['team_id = @team'];
    const params: Record<string, unknown> = { team: scope.teamId };
    addIn(where, params, 'id', 'id', ids);
    return (this.sql(`SELECT * FROM jobs WHERE ${where.join(' AND ')}`).all(params) as Row[]).map(toJob);
  }

  async updateJob(scope: TeamScope, id: string, patch: JobPatch): Promise<JobRecord> {
    const sets: string[] = ['updated_at = @now'];
    const params: Record<string, unknown> = { team: scope.teamId, id, now: Date.now() };
    const cols: Record<keyof JobPatch, string> = {
      status: 'status',
      attempts: 'attempts',
      stage: 'stage',
      done: 'done',
      total: 'total',
      percent: 'percent',
      etaMs: 'eta_ms',
      error: 'error',
      finishedAt: 'finished_at',
    };
    for (const [key, col] of Object.entries(cols) as [keyof JobPatch, string][]) {
      const value = patch[key];
      if (value === undefined) continue;
      sets.push(`${col} = @${col}`);
      params[col] = key === 'error' ? value && JSON.stringify(value) : value;
    }
    const info = this.sql(`UPDATE jobs SET ${sets.join(', ')} WHERE team_id = @team AND id = @id`).run(params);
    if (info.changes === 0) throw new NotFoundError(`Job ${id} not found`);
    return this.mustGetJob(scope, id);
  }

  async listUnfinishedDocuments(): Promise<UnfinishedDocument[]> {
    const rows = this.sql(
      `SELECT team_id, id, job_id FROM documents WHERE status IN ('queued', 'processing') ORDER BY created_at`,
    ).all() as Row[];
    return rows.map((r) => ({ teamId: String(r.team_id), documentId: String(r.id), jobId: String(r.job_id) }));
  }

  private mustGetDocument(scope: TeamScope, id: string): DocumentRecord {
    const row = this.sql('SELECT * FROM documents WHERE team_id = ? AND id = ?').get(scope.teamId, id) as Row | undefined;
    if (!row) throw new NotFoundError(`Document ${id} not found`);
    return toDocument(row);
  }

  private mustGetJob(scope: TeamScope, id: string): JobRecord {
    const row = this.sql('SELECT * FROM jobs WHERE team_id = ? AND id = ?').get(scope.teamId, id) as Row | undefined;
    if (!row) throw new NotFoundError(`Job ${id} not found`);
    return toJob(row);
  }
}

/**
 * The in-process bus's queue, in the store's database. Every change to a claimed job is
 * fenced by its attempt number, so a consumer whose lease expired cannot touch a job that
 * another consumer now holds.
 */
class SqliteJobStorage implements JobStorage {
  readonly durable = true;
  private readonly claim: Database.Statement;
  private readonly held = 'id = @id AND attempts = @attempt AND lease_until IS NOT NULL';
  private readonly sql: (sql: string) => Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.sql = statementCache(db);
    this.claim = db.prepare(
      `UPDATE bus_jobs SET attempts = attempts + 1, lease_until = @leaseUntil
       WHERE id = (SELECT id FROM bus_jobs WHERE queue = @queue AND run_at <= @now
                   AND (lease_until IS NULL OR lease_until <= @now) ORDER BY run_at, rowid LIMIT 1)
       RETURNING id, queue, envelope, attempts`,
    );
  }

  insertJob(job: { id: string; queue: string; envelope: string; runAt: number }): boolean {
    return (
      this.sql('INSERT OR IGNORE INTO bus_jobs (id, queue, envelope, run_at) VALUES (?, ?, ?, ?)').run(
        job.id,
        job.queue,
        job.envelope,
        job.runAt,
      ).changes === 1
    );
  }

  claimJob(queue: string, now: number, leaseUntil: number): StoredJob | undefined {
    return this.claim.get({ queue, now, leaseUntil }) as StoredJob | undefined;
  }

  extendLease(id: string, attempt: number, leaseUntil: number): boolean {
    return this.sql(`UPDATE bus_jobs SET lease_until = @leaseUntil WHERE ${this.held}`).run({ id, attempt, leaseUntil }).changes === 1;
  }

  completeJob(id: string, attempt: number): boolean {
    return this.sql(`DELETE FROM bus_jobs WHERE ${this.held}`).run({ id, attempt }).changes === 1;
  }

  releaseJob(id: string, attempt: number, runAt: number, lastError?: string): boolean {
    return (
      this.sql(`UPDATE bus_jobs SET lease_until = NULL, run_at = @runAt, last_error = @lastError WHERE ${this.held}`).run({
        id,
        attempt,
        runAt,
        lastError: lastError ?? null,
      }).changes === 1
    );
  }

  deadLetterJob(id: string, attempt: number, code: string, message: string): boolean {
    return this.db.transaction(() => {
      const row = this.sql(`DELETE FROM bus_jobs WHERE ${this.held} RETURNING queue, envelope, attempts`).get({ id, attempt }) as
        Row | undefined;
      if (!row) return false;
      this.sql(
        'INSERT OR REPLACE INTO bus_dead_letters (id, queue, envelope, attempts, code, message, dead_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ).run(id, row.queue, row.envelope, row.attempts, code, message, Date.now());
      return true;
    })();
  }

  countPending(queue: string, now: number): number {
    const row = this.sql('SELECT count(*) AS n FROM bus_jobs WHERE queue = ? AND (lease_until IS NULL OR lease_until <= ?)').get(
      queue,
      now,
    ) as { n: number };
    return row.n;
  }

  nextRunAt(queue: string): number | undefined {
    const row = this.sql('SELECT min(max(run_at, coalesce(lease_until, run_at))) AS t FROM bus_jobs WHERE queue = ?').get(queue) as {
      t: number | null;
    };
    return row.t ?? undefined;
  }
}

function isUniqueViolation(err: unknown, column: string): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === 'SQLITE_CONSTRAINT_UNIQUE' && !!e.message?.includes(column);
}

const str = (v: unknown): string | null => (v == null ? null : String(v));
const num = (v: unknown): number | null => (v == null ? null : Number(v));

function toTeam(r: Row): TeamRecord {
  return { id: String(r.id), name: String(r.name), createdAt: Number(r.created_at) };
}

function toPage(r: Row): PageRecord {
  return {
    documentId: String(r.document_id),
    page: Number(r.page),
    width: Number(r.width),
    height: Number(r.height),
    text: String(r.text),
    source: r.source as PageRecord['source'],
    confidence: Number(r.confidence),
    words: JSON.parse(String(r.words)),
  };
}

function toChunk(r: Row): ChunkRow {
  return {
    documentId: String(r.document_id),
    ordinal: Number(r.ordinal),
    page: Number(r.page),
    text: String(r.text),
    start: Number(r.start_offset),
    end: Number(r.end_offset),
    boxes: JSON.parse(String(r.boxes)),
  };
}

/** Each kind of record as the store's tables hold it, for {@link SqliteStore.exportRecords}. */
const EXPORTS: { [K in TransferKind]: { table: string; map: (r: Row) => TransferRecords[K] } } = {
  teams: { table: 'teams', map: toTeam },
  users: { table: 'users', map: toUser },
  memberships: { table: 'memberships', map: toMembership },
  sessions: { table: 'sessions', map: toSession },
  invitations: { table: 'invitations', map: toInvitation },
  apiKeys: { table: 'api_keys', map: toApiKey },
  audit: { table: 'audit_log', map: toAudit },
  labelSets: { table: 'team_label_sets', map: (r) => ({ ...toLabelSet(r), teamId: String(r.team_id) }) },
  documents: {
    table: 'documents',
    map: (r) => ({ ...toDocument(r), vector: r.vector ? Array.from(vectorOf(r.vector as Buffer)) : null }),
  },
  jobs: { table: 'jobs', map: toJob },
  pages: { table: 'pages', map: (r) => ({ ...toPage(r), teamId: String(r.team_id) }) },
  chunks: { table: 'chunks', map: (r) => ({ ...toChunk(r), teamId: String(r.team_id) }) },
  annotations: { table: 'annotations', map: toAnnotation },
  annotationOps: { table: 'annotation_ops', map: (r) => ({ ...toAnnotationOp(r), teamId: String(r.team_id) }) },
  matchRules: { table: 'match_rules', map: toMatchRule },
  matches: { table: 'matches', map: toMatch },
};

/** A stored embedding, copied out: the driver may reuse the buffer, which need not be 4-byte aligned. */
function vectorOf(bytes: Buffer): Float32Array {
  const vector = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(vector.buffer).set(bytes);
  return vector;
}

function toUser(r: Row): UserRecord {
  return {
    id: String(r.id),
    email: String(r.email),
    name: str(r.name),
    passwordHash: String(r.password_hash),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function toMembership(r: Row): MembershipRecord {
  return {
    teamId: String(r.team_id),
    userId: String(r.user_id),
    role: r.role as Role,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function toSession(r: Row): SessionRecord {
  return {
    id: String(r.id),
    familyId: String(r.family_id),
    userId: String(r.user_id),
    tokenHash: String(r.token_hash),
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    rotatedAt: num(r.rotated_at),
    revokedAt: num(r.revoked_at),
    ip: str(r.ip),
    userAgent: str(r.user_agent),
  };
}

function toInvitation(r: Row): InvitationRecord {
  return {
    id: String(r.id),
    teamId: String(r.team_id),
    email: str(r.email),
    role: r.role as Role,
    tokenHash: String(r.token_hash),
    createdBy: String(r.created_by),
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    acceptedAt: num(r.accepted_at),
    acceptedBy: str(r.accepted_by),
  };
}

function toApiKey(r: Row): ApiKeyRecord {
  return {
    id: String(r.id),
    teamId: String(r.team_id),
    name: String(r.name),
    prefix: String(r.prefix),
    keyHash: String(r.key_hash),
    role: r.role as Role,
    createdBy: String(r.created_by),
    createdAt: Number(r.created_at),
    lastUsedAt: num(r.last_used_at),
    revokedAt: num(r.revoked_at),
  };
}

function toAnnotation(r: Row): AnnotationRecord {
  return {
    id: r.id as string,
    teamId: r.team_id as string,
    documentId: r.document_id as string,
    version: r.version as number,
    anchor: JSON.parse(r.anchor as string) as AnnotationAnchor,
    label: (r.label as string | null) ?? null,
    comment: (r.comment as string | null) ?? null,
    replies: JSON.parse(r.replies as string) as AnnotationReply[],
    resolved: r.resolved === 1,
    deleted: r.deleted === 1,
    createdBy: (r.created_by as string | null) ?? null,
    createdAt: r.created_at as number,
    updatedBy: (r.updated_by as string | null) ?? null,
    updatedAt: r.updated_at as number,
  };
}

function toAnnotationOp(r: Row): AnnotationOpRecord {
  return {
    documentId: r.document_id as string,
    seq: r.seq as number,
    opId: r.op_id as string,
    actorId: (r.actor_id as string | null) ?? null,
    at: r.at as number,
    op: JSON.parse(r.op as string) as Record<string, unknown>,
    annotation: JSON.parse(r.annotation as string) as AnnotationRecord,
  };
}

function toAudit(r: Row): AuditEvent {
  return {
    id: Number(r.id),
    at: Number(r.at),
    action: r.action as AuditEvent['action'],
    teamId: str(r.team_id),
    actorUserId: str(r.actor_user_id),
    actorApiKeyId: str(r.actor_api_key_id),
    targetType: str(r.target_type),
    targetId: str(r.target_id),
    ip: str(r.ip),
    details: parseJson(r.details),
  };
}

/** The conditions of a team's documents matching `filter`, with their parameters. */
function documentWhere(scope: TeamScope, filter: DocumentFilter = {}): { where: string[]; params: Record<string, unknown> } {
  const where = ['team_id = @team'];
  const params: Record<string, unknown> = { team: scope.teamId };
  addIn(where, params, 'status', 'st', filter.statuses);
  addIn(where, params, 'type_label', 'ty', filter.types);
  addIn(where, params, 'sensitivity_label', 'se', filter.sensitivities);
  if (filter.createdFrom !== undefined) {
    where.push('created_at >= @from');
    params.from = filter.createdFrom;
  }
  if (filter.createdTo !== undefined) {
    where.push('created_at < @to');
    params.to = filter.createdTo;
  }
  return { where, params };
}

function addIn(where: string[], params: Record<string, unknown>, col: string, prefix: string, values?: readonly string[]): void {
  if (!values?.length) return;
  const names = values.map((v, i) => {
    params[`${prefix}${i}`] = v;
    return `@${prefix}${i}`;
  });
  where.push(`${col} IN (${names.join(', ')})`);
}

/**
 * The column each document order walks, as its index (migrations 1 and 5) holds it: file names
 * without ASCII case, so that "apple" comes before "Banana".
 */
const ORDER_COLUMNS: Readonly<Record<DocumentOrder, { column: string; collate: string; descending: boolean }>> = Object.freeze(
  Object.fromEntries(
    Object.entries(DOCUMENT_ORDER_KEYS).map(([order, { key, descending }]) => [
      order,
      {
        column: { createdAt: 'created_at', filename: 'filename', size: 'size' }[key],
        collate: key === 'filename' ? ' COLLATE NOCASE' : '',
        descending,
      },
    ]),
  ) as Record<DocumentOrder, { column: string; collate: string; descending: boolean }>,
);

function parseJson<T>(v: unknown): T | null {
  return v == null ? null : (JSON.parse(String(v)) as T);
}

function toDocument(r: Row): DocumentRecord {
  return {
    id: String(r.id),
    teamId: String(r.team_id),
    filename: String(r.filename),
    mimeType: String(r.mime_type),
    size: Number(r.size),
    sha256: String(r.sha256),
    blobKey: String(r.blob_key),
    status: r.status as DocumentRecord['status'],
    pageCount: Number(r.page_count),
    chunkCount: Number(r.chunk_count),
    classification: parseJson<Classification>(r.classification),
    fields: parseJson<Fields>(r.fields) ?? {},
    modelId: r.model_id == null ? null : String(r.model_id),
    jobId: String(r.job_id),
    error: parseJson(r.error),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    processedAt: r.processed_at == null ? null : Number(r.processed_at),
    labelOverrides: parseJson<LabelOverrides>(r.label_overrides) ?? {},
  };
}

function toLabelSet(r: Row): StoredLabelSet {
  const labels = JSON.parse(String(r.labels)) as LabelSet;
  return { types: labels.types, sensitivities: labels.sensitivities, version: Number(r.version), updatedAt: Number(r.updated_at) };
}

function toMatchRule(r: Row): MatchRuleRecord {
  return {
    id: String(r.id),
    teamId: String(r.team_id),
    name: String(r.name),
    typeA: String(r.type_a),
    typeB: String(r.type_b),
    conditions: JSON.parse(r.conditions as string) as MatchCondition[],
    enabled: r.enabled === 1,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function toMatch(r: Row): MatchRecord {
  return {
    id: String(r.id),
    teamId: String(r.team_id),
    kind: r.kind as MatchKind,
    documentAId: String(r.document_a),
    documentBId: String(r.document_b),
    ruleId: r.rule_id == null ? null : String(r.rule_id),
    score: Number(r.score),
    passages: JSON.parse(r.passages as string) as MatchPassage[],
    fields: JSON.parse(r.fields as string) as MatchedField[],
    status: r.status as MatchStatus,
    version: Number(r.version),
    canonicalDocumentId: r.canonical_document_id == null ? null : String(r.canonical_document_id),
    resolvedBy: r.resolved_by == null ? null : String(r.resolved_by),
    resolvedAt: r.resolved_at == null ? null : Number(r.resolved_at),
    note: r.note == null ? null : String(r.note),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function toJob(r: Row): JobRecord {
  return {
    id: String(r.id),
    teamId: String(r.team_id),
    documentId: String(r.document_id),
    status: r.status as JobRecord['status'],
    attempts: Number(r.attempts),
    stage: r.stage == null ? null : String(r.stage),
    done: Number(r.done),
    total: Number(r.total),
    percent: Number(r.percent),
    etaMs: r.eta_ms == null ? null : Number(r.eta_ms),
    error: parseJson(r.error),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    finishedAt: r.finished_at == null ? null : Number(r.finished_at),
  };
}
