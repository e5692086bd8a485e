/**
 * The Store port: documents, pages, chunks and jobs; users, teams, memberships, sessions,
 * invitations, API keys and the audit log. Every read and write of team data takes a
 * {@link TeamScope}; ids of another team behave exactly like ids that do not exist.
 * Adapters: `SqliteStore` (embedded default) and `MongoStore`; the rules they apply inside
 * their atomic steps are written once in `rules.ts`. All methods are async so that a networked
 * adapter fits the same contract.
 *
 * Secrets never reach the store in the clear: refresh tokens, invitation tokens and API keys
 * arrive as SHA-256 hashes, passwords as argon2id hashes; the store compares hashes only.
 */
import type { JobStorage } from '@quire/bus';
import {
  type Box,
  type Classification,
  type DocumentStatus,
  type Fields,
  type LabelDefinition,
  type PageResult,
  type TeamScope,
  ValidationError,
  type Word,
} from '@quire/kernel';

export type { TeamScope };

export interface TeamRecord {
  id: string;
  name: string;
  createdAt: number;
}

export interface DocumentRecord {
  id: string;
  teamId: string;
  filename: string;
  mimeType: string;
  size: number;
  /** Hex sha256 of the bytes; unique per team (duplicate uploads return the existing document). */
  sha256: string;
  blobKey: string;
  status: DocumentStatus;
  pageCount: number;
  chunkCount: number;
  classification: Classification | null;
  fields: Fields;
  /** Model that embedded the chunks. */
  modelId: string | null;
  /** The most recent processing job. */
  jobId: string;
  error: { code: string; message: string; stage: string | null } | null;
  createdAt: number;
  updatedAt: number;
  processedAt: number | null;
  /** Type and sensitivity set by people; each overrides the classifier's. */
  labelOverrides: LabelOverrides;
}

/** A label a person set on a document. */
export interface LabelOverride {
  label: string;
  setBy: string | null;
  setAt: number;
}

export interface LabelOverrides {
  type?: LabelOverride;
  sensitivity?: LabelOverride;
}

/** The document's type and sensitivity: a person's where set, else the classifier's. */
export function effectiveLabels(doc: Pick<DocumentRecord, 'classification' | 'labelOverrides'>): {
  type: string | null;
  sensitivity: string | null;
} {
  return {
    type: doc.labelOverrides.type?.label ?? doc.classification?.type.label ?? null,
    sensitivity: doc.labelOverrides.sensitivity?.label ?? doc.classification?.sensitivity.label ?? null,
  };
}

export type NewDocument = Pick<DocumentRecord, 'id' | 'filename' | 'mimeType' | 'size' | 'sha256' | 'blobKey' | 'jobId'>;

export type DocumentPatch = Partial<
  Pick<
    DocumentRecord,
    'status' | 'pageCount' | 'chunkCount' | 'classification' | 'fields' | 'modelId' | 'jobId' | 'error' | 'processedAt' | 'labelOverrides'
  >
>;

/** A document's embedding (the normalised mean of its chunks') with what it is labelled. */
export interface DocumentVector {
  documentId: string;
  vector: Float32Array;
  classification: Classification | null;
  labelOverrides: LabelOverrides;
}

/** A team's labels: its document types and sensitivities, each with what the classifier reads of it. */
export interface LabelSet {
  types: LabelDefinition[];
  sensitivities: LabelDefinition[];
}

/** A label set a team made its own (until then it uses the defaults). */
export interface StoredLabelSet extends LabelSet {
  /** 1 when first stored; each change adds 1. Saving names the version it changed. */
  version: number;
  updatedAt: number;
}

/** How a rule compares a field of each document. */
export type MatchComparison = 'equals' | 'amount_within' | 'date_within_days';

export interface MatchCondition {
  fieldA: string;
  fieldB: string;
  comparison: MatchComparison;
  /** amount_within: a fraction (0.01 is 1 %); date_within_days: days. */
  tolerance: number | null;
}

/** A team's rule: documents of `typeA` match documents of `typeB` when every condition holds. */
export interface MatchRuleRecord {
  id: string;
  teamId: string;
  name: string;
  typeA: string;
  typeB: string;
  conditions: MatchCondition[];
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
}

export type MatchKind = 'duplicate' | 'related' | 'rule';
export type MatchStatus = 'open' | 'confirmed' | 'rejected';

/** Similar passages of the two documents. */
export interface MatchPassage {
  chunkA: number;
  pageA: number;
  textA: string;
  chunkB: number;
  pageB: number;
  textB: string;
  similarity: number;
}

/** A condition that held, with the values compared. */
export interface MatchedField {
  fieldA: string;
  fieldB: string;
  valueA: string;
  valueB: string;
  comparison: MatchComparison;
}

export interface MatchRecord {
  id: string;
  teamId: string;
  kind: MatchKind;
  documentAId: string;
  documentBId: string;
  ruleId: string | null;
  score: number;
  passages: MatchPassage[];
  fields: MatchedField[];
  status: MatchStatus;
  /** 1 when proposed; each resolution adds 1. */
  version: number;
  canonicalDocumentId: string | null;
  resolvedBy: string | null;
  resolvedAt: number | null;
  note: string | null;
  createdAt: number;
  updatedAt: number;
}

export type NewMatch = Pick<MatchRecord, 'id' | 'kind' | 'documentAId' | 'documentBId' | 'ruleId' | 'score' | 'passages' | 'fields'>;

/** What resolving a match came to. */
export type MatchResolution = { status: 'accepted'; match: MatchRecord } | { status: 'conflict'; current: MatchRecord };

export interface PageRecord {
  documentId: string;
  page: number;
  width: number;
  height: number;
  text: string;
  source: PageResult['source'];
  confidence: number;
  words: Word[];
}

export interface ChunkRow {
  documentId: string;
  ordinal: number;
  page: number;
  text: string;
  start: number;
  end: number;
  boxes: Box[];
}

export const JobStatus = { Queued: 'queued', Running: 'running', Succeeded: 'succeeded', Failed: 'failed' } as const;
export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus];

/** A processing job as users see it: its state and latest progress. */
export interface JobRecord {
  id: string;
  teamId: string;
  documentId: string;
  status: JobStatus;
  attempts: number;
  stage: string | null;
  done: number;
  total: number;
  percent: number;
  etaMs: number | null;
  error: { code: string; message: string; stage: string | null } | null;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

export type JobPatch = Partial<
  Pick<JobRecord, 'status' | 'attempts' | 'stage' | 'done' | 'total' | 'percent' | 'etaMs' | 'error' | 'finishedAt'>
>;

export interface DocumentFilter {
  statuses?: DocumentStatus[];
  types?: string[];
  sensitivities?: string[];
  createdFrom?: number;
  createdTo?: number;
}

/**
 * How a document list is ordered. Ties are broken by id in the same direction as the key, so
 * every order is total and a cursor names exactly one place in it.
 */
export const DocumentOrder = {
  /** Created time, newest first. */
  Newest: 'newest',
  Oldest: 'oldest',
  /** File name A→Z; ASCII letters compare without case ("apple" before "Banana"). */
  Name: 'name',
  NameDesc: 'name_desc',
  /** Size in bytes, largest first. */
  Largest: 'largest',
  Smallest: 'smallest',
} as const;
export type DocumentOrder = (typeof DocumentOrder)[keyof typeof DocumentOrder];

/** The document field each order sorts by, and its direction. */
export const DOCUMENT_ORDER_KEYS: Readonly<Record<DocumentOrder, { key: 'createdAt' | 'filename' | 'size'; descending: boolean }>> =
  Object.freeze({
    newest: { key: 'createdAt', descending: true },
    oldest: { key: 'createdAt', descending: false },
    name: { key: 'filename', descending: false },
    name_desc: { key: 'filename', descending: true },
    largest: { key: 'size', descending: true },
    smallest: { key: 'size', descending: false },
  });

/** Where a document list resumes: the sort key and the id of the last document seen. */
export interface DocumentCursor {
  key: number | string;
  id: string;
}

/**
 * The opaque cursor after `doc` in `order`: the order, the document's sort key and its id, so
 * that resuming is an index seek whatever the page depth. Every adapter issues the same form.
 */
export function encodeDocumentCursor(order: DocumentOrder, doc: Pick<DocumentRecord, 'id' | 'createdAt' | 'filename' | 'size'>): string {
  return Buffer.from(JSON.stringify([order, doc[DOCUMENT_ORDER_KEYS[order].key], doc.id])).toString('base64url');
}

/**
 * The place a cursor names in `order`. A cursor that is not one of ours, or that was issued
 * for another order (its key would mean something else), is a ValidationError `BAD_CURSOR`.
 */
export function decodeDocumentCursor(order: DocumentOrder, cursor: string): DocumentCursor {
  const bad = (why: string) => new ValidationError(`The cursor ${why}`, { code: 'BAD_CURSOR' });
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad('is not one this server issued');
  }
  if (!Array.isArray(v) || v.length !== 3 || typeof v[2] !== 'string') throw bad('is not one this server issued');
  const [issuedFor, key, id] = v as [unknown, unknown, string];
  if (typeof issuedFor !== 'string' || !(Object.values(DocumentOrder) as string[]).includes(issuedFor)) {
    throw bad('is not one this server issued');
  }
  if (issuedFor !== order) throw bad(`belongs to the order ${issuedFor.toUpperCase()}, not ${order.toUpperCase()}`);
  const numeric = DOCUMENT_ORDER_KEYS[order].key !== 'filename';
  const fits = numeric ? typeof key === 'number' && Number.isFinite(key) : typeof key === 'string';
  if (!fits) throw bad('is not one this server issued');
  return { key: key as number | string, id };
}

/** One page of a list; how many items the whole list holds is asked separately (see `countDocuments`). */
export interface Page<T> {
  /** Items in order, each with the opaque cursor that resumes after it. */
  edges: { cursor: string; node: T }[];
  /** Opaque cursor of the last item; pass as `after` for the next page. */
  endCursor: string | null;
  hasNextPage: boolean;
}

/** How many documents have one value of a property. */
export interface KeyCount {
  key: string;
  count: number;
}

/** A team's documents counted for its dashboard, in one read. */
export interface DocumentCounts {
  total: number;
  /** Every status, zeros included. */
  byStatus: Record<DocumentStatus, number>;
  /**
   * Per type in force (a person's label, else the classifier's), most first, ties by name;
   * documents without a type yet are left out.
   */
  byType: KeyCount[];
  /** Per sensitivity in force, as `byType`. */
  bySensitivity: KeyCount[];
}

/** Processing jobs that finished in one interval: succeeded, and failed for good. */
export interface FinishedJobs {
  /** Start of the interval, epoch ms. */
  at: number;
  succeeded: number;
  failed: number;
}

/** What people did in a team lately: its annotation and match activity. */
export interface TeamActivity {
  /** Annotations created since the time asked for that still exist. */
  annotationsCreated: number;
  /** Matches waiting for someone to confirm or reject them. */
  matchesOpen: number;
  /** Matches confirmed or rejected since the time asked for (and not reopened since). */
  matchesResolved: number;
}

/** A document whose processing did not finish (for recovery at start-up). */
export interface UnfinishedDocument {
  teamId: string;
  documentId: string;
  jobId: string;
}

/** A team member's role, strongest first. */
export const Role = { Owner: 'owner', Editor: 'editor', Viewer: 'viewer' } as const;
export type Role = (typeof Role)[keyof typeof Role];

/** Roles ordered by what they allow: a higher rank includes everything of a lower one. */
export const ROLE_RANK: Readonly<Record<Role, number>> = Object.freeze({ viewer: 1, editor: 2, owner: 3 });

export interface UserRecord {
  id: string;
  /** As the person typed it; uniqueness ignores case (see {@link normalizeEmail}). */
  email: string;
  name: string | null;
  /** argon2id PHC string. */
  passwordHash: string;
  createdAt: number;
  updatedAt: number;
}

export type NewUser = Pick<UserRecord, 'id' | 'email' | 'name' | 'passwordHash'>;

export interface MembershipRecord {
  teamId: string;
  userId: string;
  role: Role;
  createdAt: number;
  updatedAt: number;
}

/**
 * One refresh token of a session. A session is a family of tokens: each refresh rotates the
 * current token (sets `rotatedAt`) and issues the next one in the same family.
 */
export interface SessionRecord {
  id: string;
  familyId: string;
  userId: string;
  /** Hex SHA-256 of the refresh token. */
  tokenHash: string;
  createdAt: number;
  expiresAt: number;
  rotatedAt: number | null;
  revokedAt: number | null;
  ip: string | null;
  userAgent: string | null;
}

export type NewSession = Pick<SessionRecord, 'id' | 'familyId' | 'userId' | 'tokenHash' | 'expiresAt' | 'ip' | 'userAgent'>;

export interface InvitationRecord {
  id: string;
  teamId: string;
  /** When set, only a person with this address (any case) may accept. */
  email: string | null;
  role: Role;
  /** Hex SHA-256 of the single-use token. */
  tokenHash: string;
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  acceptedAt: number | null;
  acceptedBy: string | null;
}

export type NewInvitation = Pick<InvitationRecord, 'id' | 'teamId' | 'email' | 'role' | 'tokenHash' | 'createdBy' | 'expiresAt'>;

export interface ApiKeyRecord {
  id: string;
  teamId: string;
  name: string;
  /** The key's first characters, shown in lists so people can tell keys apart. */
  prefix: string;
  /** Hex SHA-256 of the key. */
  keyHash: string;
  role: Role;
  createdBy: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export type NewApiKey = Pick<ApiKeyRecord, 'id' | 'teamId' | 'name' | 'prefix' | 'keyHash' | 'role' | 'createdBy'>;

/** Where an annotation sits: a range of a chunk's text, or a box on a page (page pixels). */
export type AnnotationAnchor =
  | { kind: 'highlight'; chunkOrdinal: number; start: number; end: number }
  | { kind: 'box'; page: number; box: { x: number; y: number; w: number; h: number } };

export interface AnnotationReply {
  id: string;
  authorId: string | null;
  text: string;
  at: number;
}

/** An annotation as it stands after the operations accepted so far. */
export interface AnnotationRecord {
  id: string;
  teamId: string;
  documentId: string;
  /** 1 when created; each accepted operation on it adds 1. Operations name the version they saw. */
  version: number;
  anchor: AnnotationAnchor;
  label: string | null;
  comment: string | null;
  replies: AnnotationReply[];
  resolved: boolean;
  /** Deleted annotations stay as tombstones so that late operations on them conflict. */
  deleted: boolean;
  createdBy: string | null;
  createdAt: number;
  updatedBy: string | null;
  updatedAt: number;
}

/** An accepted operation: its place in the document's log, and the annotation it produced. */
export interface AnnotationOpRecord {
  documentId: string;
  /** 1, 2, 3… per document, without gaps, in the order operations were accepted. */
  seq: number;
  /** The client's id of the operation: sending it again returns this record, not a new one. */
  opId: string;
  actorId: string | null;
  at: number;
  op: Record<string, unknown>;
  annotation: AnnotationRecord;
}

/** What committing an annotation operation came to. */
export type AnnotationCommit =
  | { status: 'accepted'; record: AnnotationOpRecord }
  /** The same `opId` was accepted before: its record, unchanged. */
  | { status: 'duplicate'; record: AnnotationOpRecord }
  /** The annotation is not at the expected version: its current state (undefined if absent). */
  | { status: 'conflict'; current: AnnotationRecord | undefined };

/** What the audit log records; past tense, `subject.verb`. */
export const AuditAction = {
  SignedUp: 'user.signed_up',
  SignedIn: 'user.signed_in',
  SignInFailed: 'user.sign_in_failed',
  SignedOut: 'user.signed_out',
  PasswordChanged: 'user.password_changed',
  SessionReplayed: 'session.replayed',
  InvitationCreated: 'invitation.created',
  InvitationAccepted: 'invitation.accepted',
  RoleChanged: 'member.role_changed',
  MemberRemoved: 'member.removed',
  ApiKeyCreated: 'api_key.created',
  ApiKeyRevoked: 'api_key.revoked',
  ApiKeyUsed: 'api_key.used',
  DocumentUploaded: 'document.uploaded',
  DocumentReprocessed: 'document.reprocessed',
  DocumentDeleted: 'document.deleted',
  DocumentLabelled: 'document.labelled',
  DocumentsReclassified: 'documents.reclassified',
  MatchResolved: 'match.resolved',
  MatchRuleCreated: 'match_rule.created',
  MatchRuleUpdated: 'match_rule.updated',
  MatchRuleDeleted: 'match_rule.deleted',
  LabelAdded: 'label.added',
  LabelRemoved: 'label.removed',
} as const;
export type AuditAction = (typeof AuditAction)[keyof typeof AuditAction];

export interface AuditEvent {
  /** Increases with every append; the log's order. */
  id: number;
  at: number;
  action: AuditAction;
  /** The team the action concerns, when it concerns one. */
  teamId: string | null;
  actorUserId: string | null;
  actorApiKeyId: string | null;
  targetType: string | null;
  targetId: string | null;
  ip: string | null;
  /** Small, non-secret facts (a role before and after, an address that failed to sign in). */
  details: Record<string, unknown> | null;
}

export type NewAuditEvent = Pick<AuditEvent, 'action'> & Partial<Omit<AuditEvent, 'id' | 'at' | 'action'>>;

/** Who performs an action: a person or a team's API key, and the address they came from. */
export interface Actor {
  readonly userId: string | null;
  readonly apiKeyId: string | null;
  readonly ip: string | null;
}

/**
 * A team scope the policy granted, with who acts in it. Services that change a team's data
 * record `actor` in the audit log; work Quire does by itself carries none.
 */
export interface ActingScope extends TeamScope {
  readonly actor?: Actor;
}

/** Who acts, as one id: the person, else the API key (null for in-process callers). */
export function actorIdOf(scope: ActingScope): string | null {
  return scope.actor?.userId ?? scope.actor?.apiKeyId ?? null;
}

/** The audit entry of an action on a team's `target`, by the scope's actor. */
export function auditEntry(
  scope: ActingScope,
  action: AuditAction,
  target: { type: string; id: string },
  details: Record<string, unknown> | null = null,
): NewAuditEvent {
  return {
    action,
    teamId: scope.teamId,
    actorUserId: scope.actor?.userId ?? null,
    actorApiKeyId: scope.actor?.apiKeyId ?? null,
    ip: scope.actor?.ip ?? null,
    targetType: target.type,
    targetId: target.id,
    details,
  };
}

/** The form of an e-mail address that uniqueness and look-ups use: trimmed, lower case. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * A team's label set, by version: the first repository of the store's split into one per
 * aggregate (`label-sets.contract.ts` is its contract, run on every adapter).
 */
export interface LabelSetRepository {
  /** The team's own label set; undefined while it uses the defaults. */
  getLabelSet(scope: TeamScope): Promise<StoredLabelSet | undefined>;
  /**
   * Stores the team's label set if the stored one is still at `expectedVersion` (0: none
   * stored yet), in one step, and answers it; undefined, writing nothing, when another change
   * came first. Of any number of concurrent saves from one version, exactly one succeeds.
   */
  saveLabelSet(scope: TeamScope, set: LabelSet, expectedVersion: number): Promise<StoredLabelSet | undefined>;
}

/** Teams by id. */
export interface TeamRepository {
  ensureTeam(team: { id: string; name: string }): Promise<TeamRecord>;
  getTeam(id: string): Promise<TeamRecord | undefined>;
  /** System use only (reindexing, migration): every team, oldest first. */
  listTeams(): Promise<TeamRecord[]>;
}

/** People and their sign-in sessions (refresh-token families). */
export interface AccountRepository {
  /** Inserts a user; a taken address (any case) is a ConflictError with code `EMAIL_TAKEN`. */
  insertUser(user: NewUser): Promise<UserRecord>;
  /**
   * Inserts the install's first user, the owner of `team` (created if missing), in one step.
   * Answers undefined, creating nothing, when any user exists already.
   */
  insertFirstUser(user: NewUser, team: { id: string; name: string }): Promise<UserRecord | undefined>;
  getUser(id: string): Promise<UserRecord | undefined>;
  findUserByEmail(email: string): Promise<UserRecord | undefined>;
  updateUserPassword(id: string, passwordHash: string): Promise<void>;
  /** Removes a user with their memberships and sessions. */
  deleteUser(id: string): Promise<boolean>;
  countUsers(): Promise<number>;

  // Sessions.
  insertSession(session: NewSession): Promise<SessionRecord>;
  findSessionByTokenHash(tokenHash: string): Promise<SessionRecord | undefined>;
  /**
   * Rotates `currentId` to `next` atomically: only a token neither rotated nor revoked is
   * rotated. Answers false (inserting nothing) when another rotation or a revocation won.
   */
  rotateSession(currentId: string, next: NewSession, at: number): Promise<boolean>;
  /** Revokes every token of the family; answers how many were still unrevoked. */
  revokeSessionFamily(familyId: string, at: number): Promise<number>;
  /** Revokes every session of the user except the family `keepFamilyId`. */
  revokeUserSessions(userId: string, at: number, keepFamilyId?: string): Promise<number>;
  /** Whether the family has a token that is neither revoked nor expired at `at`. */
  isSessionFamilyActive(familyId: string, at: number): Promise<boolean>;
  /** Deletes tokens that expired, or were revoked, before `before`; answers how many. */
  pruneSessions(before: number): Promise<number>;
}

/** Who belongs to a team and how they got in: memberships, invitations and API keys. */
export interface MembershipRepository {
  /** The user's memberships, oldest first (the first is the user's default team). */
  listMembershipsOfUser(userId: string): Promise<MembershipRecord[]>;
  listMembers(scope: TeamScope): Promise<MembershipRecord[]>;
  getMembership(scope: TeamScope, userId: string): Promise<MembershipRecord | undefined>;
  /** Adds a member or, for an existing one, keeps the stronger of the two roles. */
  addMember(scope: TeamScope, userId: string, role: Role): Promise<MembershipRecord>;
  /**
   * Changes a member's role. NotFoundError for a non-member; ConflictError `LAST_OWNER` when
   * it would leave the team without an owner (checked and written atomically).
   */
  setMemberRole(scope: TeamScope, userId: string, role: Role): Promise<MembershipRecord>;
  /** Removes a member; false for a non-member; ConflictError `LAST_OWNER` for the last owner. */
  removeMember(scope: TeamScope, userId: string): Promise<boolean>;

  insertInvitation(invitation: NewInvitation): Promise<InvitationRecord>;
  findInvitationByTokenHash(tokenHash: string): Promise<InvitationRecord | undefined>;
  /**
   * Marks the invitation accepted by `userId` and adds them to its team with its role, in one
   * step, if it is still unaccepted and unexpired at `at`; undefined (changing nothing) otherwise.
   */
  acceptInvitation(invitationId: string, userId: string, at: number): Promise<MembershipRecord | undefined>;
  /** Deletes invitations that expired before `before`, accepted or not; answers how many. */
  pruneInvitations(before: number): Promise<number>;

  insertApiKey(key: NewApiKey): Promise<ApiKeyRecord>;
  findApiKeyByHash(keyHash: string): Promise<ApiKeyRecord | undefined>;
  listApiKeys(scope: TeamScope): Promise<ApiKeyRecord[]>;
  /** Records a use; answers true when `lastUsedAt` moved (at most once per `minIntervalMs`). */
  touchApiKey(id: string, at: number, minIntervalMs: number): Promise<boolean>;
  /** Revokes a key of the team; false when the team has no such unrevoked key. */
  revokeApiKey(scope: TeamScope, id: string, at: number): Promise<boolean>;
}

/** The append-only audit log. */
export interface AuditRepository {
  appendAudit(event: NewAuditEvent): Promise<AuditEvent>;
  /** Newest first; filtered by team and/or actor. */
  listAudit(options: { teamId?: string; actorUserId?: string; limit: number }): Promise<AuditEvent[]>;
  /**
   * What a team's owners may read, newest first: the team's own entries and the account
   * entries (sign-ins, failed sign-ins, password changes) of its current members. `beforeId`
   * continues a page.
   */
  listTeamAudit(scope: TeamScope, options: { limit: number; beforeId?: number | null }): Promise<AuditEvent[]>;
}

/** Documents with what belongs to them alone: jobs, pages, chunks and the document vector. */
export interface DocumentRepository {
  /** Inserts a document and its first job in one transaction. */
  insertDocument(scope: TeamScope, doc: NewDocument): Promise<DocumentRecord>;
  getDocument(scope: TeamScope, id: string): Promise<DocumentRecord | undefined>;
  findDocumentBySha256(scope: TeamScope, sha256: string): Promise<DocumentRecord | undefined>;
  /**
   * A page of the team's documents in `orderBy` (default newest first), after the cursor
   * `after` issued for the same order (see {@link decodeDocumentCursor}). Each order is an
   * index walk from the cursor, so a page deep in the list costs what the first one does.
   */
  listDocuments(
    scope: TeamScope,
    options: { filter?: DocumentFilter; orderBy?: DocumentOrder; first: number; after?: string | null },
  ): Promise<Page<DocumentRecord>>;
  /**
   * How many of the team's documents match `filter`. Apart from pages: counting visits every
   * match, so only callers that show the number pay for it.
   */
  countDocuments(scope: TeamScope, filter?: DocumentFilter): Promise<number>;
  updateDocument(scope: TeamScope, id: string, patch: DocumentPatch): Promise<DocumentRecord>;
  /** Removes the document, its pages, chunks, jobs, annotations and matches. Returns false when it did not exist. */
  deleteDocument(scope: TeamScope, id: string): Promise<boolean>;

  /** Records the document's embedding (normalised mean of its chunk vectors). */
  setDocumentVector(scope: TeamScope, id: string, vector: Float32Array): Promise<void>;
  /**
   * Embeddings of the team's documents that have one: of `documentIds` when given, else of
   * all (with `labelledOnly`, only those a person labelled).
   */
  listDocumentVectors(scope: TeamScope, options?: { documentIds?: string[]; labelledOnly?: boolean }): Promise<DocumentVector[]>;

  /** Inserts or replaces pages (by page number). */
  upsertPages(scope: TeamScope, documentId: string, pages: readonly Omit<PageRecord, 'documentId'>[]): Promise<void>;
  getPages(scope: TeamScope, documentId: string): Promise<PageRecord[]>;
  /** Inserts or replaces chunks (by ordinal). */
  upsertChunks(scope: TeamScope, documentId: string, chunks: readonly Omit<ChunkRow, 'documentId'>[]): Promise<void>;
  /** Removes pages above `pageCount` and chunks at or above `chunkCount` (left from an earlier run). */
  trimDocument(scope: TeamScope, documentId: string, pageCount: number, chunkCount: number): Promise<void>;
  getChunks(scope: TeamScope, documentId: string): Promise<ChunkRow[]>;

  insertJob(scope: TeamScope, job: { id: string; documentId: string }): Promise<JobRecord>;
  getJob(scope: TeamScope, id: string): Promise<JobRecord | undefined>;
  /** The team's jobs among `ids`, in no particular order; unknown ids are left out. */
  getJobs(scope: TeamScope, ids: readonly string[]): Promise<JobRecord[]>;
  updateJob(scope: TeamScope, id: string, patch: JobPatch): Promise<JobRecord>;

  /** System use only (start-up recovery): documents still queued or processing, across teams. */
  listUnfinishedDocuments(): Promise<UnfinishedDocument[]>;
}

/** A team's live annotations and the ordered log of the operations that made them. */
export interface AnnotationRepository {
  /**
   * Writes `next` as the annotation's new state and appends the operation to the document's
   * log with the next sequence number, in one step, if the annotation is at
   * `expectedVersion` (null: it must not exist yet). A known `opId` answers `duplicate`.
   */
  commitAnnotationOp(
    scope: TeamScope,
    input: {
      opId: string;
      actorId: string | null;
      at: number;
      op: Record<string, unknown>;
      expectedVersion: number | null;
      next: AnnotationRecord;
    },
  ): Promise<AnnotationCommit>;
  getAnnotation(scope: TeamScope, documentId: string, id: string): Promise<AnnotationRecord | undefined>;
  /** The document's annotations, oldest first; tombstones only when asked. */
  listAnnotations(scope: TeamScope, documentId: string, options?: { includeDeleted?: boolean }): Promise<AnnotationRecord[]>;
  /** Accepted operations after `afterSeq`, in order, at most `limit`. */
  listAnnotationOps(scope: TeamScope, documentId: string, options: { afterSeq: number; limit: number }): Promise<AnnotationOpRecord[]>;
  /** The document's last sequence number (0 before any operation). */
  lastAnnotationSeq(scope: TeamScope, documentId: string): Promise<number>;
  /** The accepted operation with this client id, if any. */
  getAnnotationOp(scope: TeamScope, documentId: string, opId: string): Promise<AnnotationOpRecord | undefined>;
  /** The document's live annotations and the sequence number they reflect, read together. */
  annotationSnapshot(scope: TeamScope, documentId: string): Promise<{ seq: number; annotations: AnnotationRecord[] }>;
}

/** A team's match rules and the matches proposed between its documents. */
export interface MatchRepository {
  insertMatchRule(scope: TeamScope, rule: Omit<MatchRuleRecord, 'teamId' | 'createdAt' | 'updatedAt'>): Promise<MatchRuleRecord>;
  /** NotFoundError for a rule the team does not have. */
  updateMatchRule(scope: TeamScope, rule: Omit<MatchRuleRecord, 'teamId' | 'createdAt' | 'updatedAt'>): Promise<MatchRuleRecord>;
  deleteMatchRule(scope: TeamScope, id: string): Promise<boolean>;
  getMatchRule(scope: TeamScope, id: string): Promise<MatchRuleRecord | undefined>;
  listMatchRules(scope: TeamScope): Promise<MatchRuleRecord[]>;

  /**
   * Proposes a match. A pair already proposed (same kind, documents and rule) keeps its id:
   * while open its evidence is refreshed, once resolved it is left alone. Answers the
   * match and whether it is new.
   */
  proposeMatch(scope: TeamScope, match: NewMatch, at: number): Promise<{ match: MatchRecord; created: boolean }>;
  getMatch(scope: TeamScope, id: string): Promise<MatchRecord | undefined>;
  /** Newest first. */
  listMatches(scope: TeamScope, options: { status?: MatchStatus; documentId?: string; limit: number }): Promise<MatchRecord[]>;
  /** Every confirmed match of the team. */
  listConfirmedMatches(scope: TeamScope): Promise<MatchRecord[]>;
  /** Sets the match's status if it is at `expectedVersion`, in one step; else answers the current match. */
  resolveMatch(
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
  ): Promise<MatchResolution | undefined>;
}

/** Read-only figures for the team dashboard, each from one consistent read. */
export interface DashboardQueries {
  /** The team's documents counted by status, type and sensitivity, all from one consistent read. */
  documentCounts(scope: TeamScope): Promise<DocumentCounts>;
  /**
   * The team's jobs that finished in [`from`, `to`), per interval of `bucketMs` counted from
   * `from`, oldest first; intervals in which none finished are left out.
   */
  finishedJobs(scope: TeamScope, options: { from: number; to: number; bucketMs: number }): Promise<FinishedJobs[]>;
  /** The team's annotation and match activity since `since` (epoch ms). */
  teamActivity(scope: TeamScope, options: { since: number }): Promise<TeamActivity>;
}

/**
 * The whole store a hub runs on: one adapter (SQLite, MongoDB) implementing every
 * repository, started and closed as one.
 */
export interface Store
  extends
    TeamRepository,
    AccountRepository,
    MembershipRepository,
    AuditRepository,
    DocumentRepository,
    AnnotationRepository,
    LabelSetRepository,
    MatchRepository,
    DashboardQueries {
  start(): Promise<void>;
  close(): Promise<void>;
  /** Health of the connection, for readiness: throws when the store cannot answer. */
  ping(): Promise<void>;
  /** Durable job storage for the in-process bus, where the adapter offers one (SQLite). */
  readonly jobStorage?: JobStorage;
}
