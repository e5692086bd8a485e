/**
 * The documents and schemas of `MongoAccountRepository`: people, sessions, memberships,
 * invitations, API keys and the audit log, with the insert-only collections (`accounts_*`)
 * whose unique `_id`s make its atomic methods atomic. Every schema has explicit collection
 * names and `autoIndex: false`: the repository's `start()` creates the indexes declared here.
 */
import type { Connection, Model } from 'mongoose';
import { Schema } from 'mongoose';
import type { AuditAction, Role } from '../store.ts';

/** A person; `_id` the user id. */
export interface UserDocument {
  _id: string;
  email: string;
  /** The address as uniqueness and look-ups see it (see `normalizeEmail`); unique. */
  emailNormalized: string;
  name: string | null;
  passwordHash: string;
  createdAt: number;
  updatedAt: number;
}

/**
 * One refresh token; `_id` the token id. Only revocations write to it after the insert, so
 * that no two kinds of writer race on one document (FerretDB rewrites the whole document on
 * update, and concurrent updates of different fields can lose one). Its rotation lives in
 * {@link SessionRotationDocument}.
 */
export interface SessionDocument {
  _id: string;
  familyId: string;
  userId: string;
  tokenHash: string;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
  ip: string | null;
  userAgent: string | null;
}

/** The one rotation of a token: `_id` the rotated token's id, so a token rotates once. */
export interface SessionRotationDocument {
  _id: string;
  familyId: string;
  userId: string;
  /** The token issued in its place; null for a rotation copied from another store, which does not say. */
  nextId: string | null;
  /** When the token was rotated: its `rotatedAt`. */
  at: number;
}

/** The state a membership took at one version of its team's ledger (role null: removed). */
export interface MembershipState {
  role: Role | null;
  createdAt: number;
  updatedAt: number;
  /** Orders memberships created at the same millisecond: an ObjectId in hex, taken at creation. */
  seq: string;
}

/**
 * A membership as of one version of its team's ledger; `_id` `[team, user, version]` as JSON.
 * Never updated: each change inserts the next version and readers take the newest per team and
 * user, so that a late write of an old version cannot undo a newer one. Version 0 is a
 * membership copied in from another store, for a team whose ledger had no entry yet.
 */
export interface MembershipDocument extends MembershipState {
  _id: string;
  teamId: string;
  userId: string;
  version: number;
}

/**
 * One change of a team's memberships; `_id` `<team>:<version>`. Versions count 1, 2, 3… per
 * team, and the unique `_id` lets exactly one change in at each: the team's memberships
 * change one at a time.
 */
export interface MembershipLedgerDocument extends MembershipState {
  _id: string;
  teamId: string;
  version: number;
  /** The member the change is about, and (in the state fields) what their membership became. */
  userId: string;
  /** The team's owners once this change is made. */
  owners: string[];
  at: number;
}

/** An invitation; `_id` its id. Only its accepter writes to it after the insert. */
export interface InvitationDocument {
  _id: string;
  teamId: string;
  email: string | null;
  role: Role;
  tokenHash: string;
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  acceptedAt: number | null;
  acceptedBy: string | null;
}

/** The one acceptance of an invitation; `_id` the invitation id. */
export interface InvitationAcceptanceDocument {
  _id: string;
  /** The accepter; null only for an acceptance copied from a store that no longer knew them. */
  userId: string | null;
  at: number;
}

/** An API key; `_id` its id. Only its revoker writes to it after the insert; uses are kept apart. */
export interface ApiKeyDocument {
  _id: string;
  teamId: string;
  name: string;
  prefix: string;
  keyHash: string;
  role: Role;
  createdBy: string;
  createdAt: number;
  /** Orders keys created at the same millisecond: an ObjectId in hex. */
  seq: string;
  revokedAt: number | null;
}

/**
 * One recorded use of a key: the one that moved `lastUsedAt` on from `from`. `_id`
 * `<key>:<from>`, so that of the touches that saw the same last use exactly one records the next.
 */
export interface ApiKeyUseDocument {
  _id: string;
  keyId: string;
  /** The `lastUsedAt` this use moved on from ({@link NEVER_USED} for a key never used). */
  from: number;
  /** The new `lastUsedAt`. */
  at: number;
}

/** `from` of a key's first use. */
export const NEVER_USED = Number.MIN_SAFE_INTEGER;

/** The one revocation of an API key; `_id` the key id. */
export interface ApiKeyRevocationDocument {
  _id: string;
  at: number;
}

/** An audit entry; `_id` its numeric id, one more than the last when it was appended. */
export interface AuditDocument {
  _id: number;
  at: number;
  action: AuditAction;
  teamId: string | null;
  actorUserId: string | null;
  actorApiKeyId: string | null;
  targetType: string | null;
  targetId: string | null;
  ip: string | null;
  details: Record<string, unknown> | null;
}

/**
 * The claim of the install's first user; `_id` `first-user:<generation>`. A generation is
 * taken by one sign-up only; the next is opened when the previous one finished and its user is
 * gone, or was abandoned midway.
 */
export interface FirstUserDocument {
  _id: string;
  generation: number;
  userId: string;
  at: number;
  done: boolean;
}

const options = { versionKey: false, autoIndex: false } as const;
const nullableString = { type: String, default: null };
const nullableNumber = { type: Number, default: null };
const roleField = { type: String, enum: ['owner', 'editor', 'viewer'], required: true };

const userSchema = new Schema<UserDocument>(
  {
    _id: { type: String, required: true },
    email: { type: String, required: true },
    emailNormalized: { type: String, required: true },
    name: nullableString,
    passwordHash: { type: String, required: true },
    createdAt: { type: Number, required: true },
    updatedAt: { type: Number, required: true },
  },
  { ...options, collection: 'users' },
);
userSchema.index({ emailNormalized: 1 }, { unique: true });

const sessionSchema = new Schema<SessionDocument>(
  {
    _id: { type: String, required: true },
    familyId: { type: String, required: true },
    userId: { type: String, required: true },
    tokenHash: { type: String, required: true },
    createdAt: { type: Number, required: true },
    expiresAt: { type: Number, required: true },
    revokedAt: nullableNumber,
    ip: nullableString,
    userAgent: nullableString,
  },
  { ...options, collection: 'sessions' },
);
sessionSchema.index({ tokenHash: 1 }, { unique: true });
sessionSchema.index({ familyId: 1 });
sessionSchema.index({ userId: 1 });
sessionSchema.index({ expiresAt: 1 });
sessionSchema.index({ revokedAt: 1 });

const sessionRotationSchema = new Schema<SessionRotationDocument>(
  {
    _id: { type: String, required: true },
    familyId: { type: String, required: true },
    userId: { type: String, required: true },
    nextId: nullableString,
    at: { type: Number, required: true },
  },
  { ...options, collection: 'accounts_session_rotations' },
);
sessionRotationSchema.index({ userId: 1 });

const membershipStateFields = {
  role: nullableString,
  createdAt: { type: Number, required: true },
  updatedAt: { type: Number, required: true },
  seq: { type: String, required: true },
};

const membershipSchema = new Schema<MembershipDocument>(
  {
    _id: { type: String, required: true },
    teamId: { type: String, required: true },
    userId: { type: String, required: true },
    version: { type: Number, required: true },
    ...membershipStateFields,
  },
  { ...options, collection: 'memberships' },
);
membershipSchema.index({ teamId: 1, userId: 1, version: -1 });
membershipSchema.index({ userId: 1 });

const membershipLedgerSchema = new Schema<MembershipLedgerDocument>(
  {
    _id: { type: String, required: true },
    teamId: { type: String, required: true },
    version: { type: Number, required: true },
    userId: { type: String, required: true },
    ...membershipStateFields,
    owners: { type: [String], required: true },
    at: { type: Number, required: true },
  },
  { ...options, collection: 'accounts_membership_ledger' },
);
membershipLedgerSchema.index({ teamId: 1, version: -1 });

const invitationSchema = new Schema<InvitationDocument>(
  {
    _id: { type: String, required: true },
    teamId: { type: String, required: true },
    email: nullableString,
    role: roleField,
    tokenHash: { type: String, required: true },
    createdBy: { type: String, required: true },
    createdAt: { type: Number, required: true },
    expiresAt: { type: Number, required: true },
    acceptedAt: nullableNumber,
    acceptedBy: nullableString,
  },
  { ...options, collection: 'invitations' },
);
invitationSchema.index({ tokenHash: 1 }, { unique: true });
invitationSchema.index({ expiresAt: 1 });

const invitationAcceptanceSchema = new Schema<InvitationAcceptanceDocument>(
  { _id: { type: String, required: true }, userId: nullableString, at: { type: Number, required: true } },
  { ...options, collection: 'accounts_invitation_acceptances' },
);

const apiKeySchema = new Schema<ApiKeyDocument>(
  {
    _id: { type: String, required: true },
    teamId: { type: String, required: true },
    // Not `required`: mongoose refuses an empty string there, which a name may be.
    name: { type: String, default: '' },
    prefix: { type: String, default: '' },
    keyHash: { type: String, required: true },
    role: roleField,
    createdBy: { type: String, required: true },
    createdAt: { type: Number, required: true },
    seq: { type: String, required: true },
    revokedAt: nullableNumber,
  },
  { ...options, collection: 'api_keys' },
);
apiKeySchema.index({ keyHash: 1 }, { unique: true });
apiKeySchema.index({ teamId: 1, createdAt: 1, seq: 1 });

const apiKeyUseSchema = new Schema<ApiKeyUseDocument>(
  {
    _id: { type: String, required: true },
    keyId: { type: String, required: true },
    from: { type: Number, required: true },
    at: { type: Number, required: true },
  },
  { ...options, collection: 'accounts_api_key_uses' },
);
apiKeyUseSchema.index({ keyId: 1, at: -1, from: -1 });

const apiKeyRevocationSchema = new Schema<ApiKeyRevocationDocument>(
  { _id: { type: String, required: true }, at: { type: Number, required: true } },
  { ...options, collection: 'accounts_api_key_revocations' },
);

const auditSchema = new Schema<AuditDocument>(
  {
    _id: { type: Number, required: true },
    at: { type: Number, required: true },
    action: { type: String, required: true },
    teamId: nullableString,
    actorUserId: nullableString,
    actorApiKeyId: nullableString,
    targetType: nullableString,
    targetId: nullableString,
    ip: nullableString,
    details: { type: Schema.Types.Mixed, default: null },
  },
  // `minimize: false` keeps empty `details` as `{}` rather than dropping them.
  { ...options, collection: 'audit', minimize: false },
);
auditSchema.index({ teamId: 1, _id: -1 });
auditSchema.index({ actorUserId: 1, _id: -1 });
auditSchema.index({ targetId: 1, _id: -1 });

const firstUserSchema = new Schema<FirstUserDocument>(
  {
    _id: { type: String, required: true },
    generation: { type: Number, required: true },
    userId: { type: String, required: true },
    at: { type: Number, required: true },
    done: { type: Boolean, required: true },
  },
  { ...options, collection: 'accounts_first_user' },
);
firstUserSchema.index({ generation: -1 });

/** The models of every collection the account repository owns. */
export interface AccountModels {
  users: Model<UserDocument>;
  sessions: Model<SessionDocument>;
  sessionRotations: Model<SessionRotationDocument>;
  memberships: Model<MembershipDocument>;
  membershipLedger: Model<MembershipLedgerDocument>;
  invitations: Model<InvitationDocument>;
  invitationAcceptances: Model<InvitationAcceptanceDocument>;
  apiKeys: Model<ApiKeyDocument>;
  apiKeyUses: Model<ApiKeyUseDocument>;
  apiKeyRevocations: Model<ApiKeyRevocationDocument>;
  audit: Model<AuditDocument>;
  firstUser: Model<FirstUserDocument>;
}

/** Registers the account models on `connection`. */
export function accountModels(connection: Connection): AccountModels {
  return {
    users: connection.model<UserDocument>('User', userSchema),
    sessions: connection.model<SessionDocument>('Session', sessionSchema),
    sessionRotations: connection.model<SessionRotationDocument>('SessionRotation', sessionRotationSchema),
    memberships: connection.model<MembershipDocument>('Membership', membershipSchema),
    membershipLedger: connection.model<MembershipLedgerDocument>('MembershipLedgerEntry', membershipLedgerSchema),
    invitations: connection.model<InvitationDocument>('Invitation', invitationSchema),
    invitationAcceptances: connection.model<InvitationAcceptanceDocument>('InvitationAcceptance', invitationAcceptanceSchema),
    apiKeys: connection.model<ApiKeyDocument>('ApiKey', apiKeySchema),
    apiKeyUses: connection.model<ApiKeyUseDocument>('ApiKeyUse', apiKeyUseSchema),
    apiKeyRevocations: connection.model<ApiKeyRevocationDocument>('ApiKeyRevocation', apiKeyRevocationSchema),
    audit: connection.model<AuditDocument>('AuditEvent', auditSchema),
    firstUser: connection.model<FirstUserDocument>('FirstUserClaim', firstUserSchema),
  };
}
