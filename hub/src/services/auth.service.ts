/**
 * Accounts: sign-up, sign-in, sessions, password changes, invitations, roles and API keys,
 * and turning a bearer token into a {@link Principal}. Every rule of who may do what to an
 * account or a team lives here or in `auth/policy.ts`; resolvers and routes only translate.
 *
 * Credentials: passwords as argon2id hashes (@node-rs/argon2); access tokens as short-lived
 * HS256 JWTs (jose) naming the user and the session; refresh tokens, invitation tokens and
 * API keys as random strings with a recognisable prefix, stored as SHA-256 hashes (they carry
 * 256 random bits, so a fast hash is enough; only passwords need a slow one).
 *
 * A session is a family of refresh tokens. Each refresh rotates the token; presenting a token
 * that was already rotated means it was copied, so the whole family is revoked, and access
 * tokens of a revoked family stop working at once (each request checks the family).
 */
import { createHash, createSecretKey, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { hash, verify, type Algorithm } from '@node-rs/argon2';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { z } from 'zod';
import { AuthenticationError, ForbiddenError, NotFoundError, ValidationError } from '@quire/kernel';
import { authorize, authorizeTeam, authorizeUser, principalKey, type Principal } from '../auth/policy.ts';
import type { RateLimits } from '../auth/rate-limits.ts';
import {
  AuditAction,
  Role,
  auditEntry,
  normalizeEmail,
  type ApiKeyRecord,
  type AuditEvent,
  type InvitationRecord,
  type MembershipRecord,
  type NewAuditEvent,
  type Store,
  type TeamRecord,
  type UserRecord,
} from '../store/store.ts';

/** Where a request came from, for sessions and the audit log. */
export interface RequestMeta {
  ip?: string | null;
  userAgent?: string | null;
}

/** What signing up, signing in and refreshing answer. */
export interface AuthResult {
  accessToken: string;
  accessTokenExpiresAt: number;
  refreshToken: string;
  refreshTokenExpiresAt: number;
  user: UserRecord;
}

/** argon2id cost. The defaults follow OWASP's minimum (19 MiB, 2 passes, 1 lane). */
export interface PasswordHashing {
  memoryCost: number;
  timeCost: number;
}

export interface AuthServiceOptions {
  store: Store;
  /** HS256 key for access tokens (see auth/secret.ts). */
  secret: Uint8Array;
  accessTtlMs: number;
  refreshTtlMs: number;
  invitationTtlMs: number;
  /** Whether anyone may sign up without an invitation. */
  openSignup: boolean;
  /** Failed sign-ins per account and per address. */
  limits: RateLimits;
  /** The team the install's first user owns (the embedded default's existing team). */
  firstTeam: { id: string; name: string };
  /** Tests lower the cost; production keeps the default. */
  passwordHashing?: PasswordHashing;
  /** The clock every expiry is measured on. Default `Date.now`. */
  now?: () => number;
}

/** Prefixes that make Quire's secrets recognisable (to people and to secret scanners). */
export const TokenPrefix = { ApiKey: 'qk_', Refresh: 'qr_', Invitation: 'qi_' } as const;

/** How long {@link AuthService.currentPrincipal} reuses an answer. */
export const ACCESS_RECHECK_MS = 1000;

/** Verified access tokens kept at most; past it they are all forgotten and checked again. */
const MAX_VERIFIED_TOKENS = 10_000;

/** Actions after which a connection's access must be read again. */
const ACCESS_CHANGES: ReadonlySet<string> = new Set([
  AuditAction.SignedOut,
  AuditAction.PasswordChanged,
  AuditAction.SessionReplayed,
  AuditAction.RoleChanged,
  AuditAction.MemberRemoved,
  AuditAction.InvitationAccepted,
  AuditAction.ApiKeyRevoked,
]);

/** A key's `lastUsedAt` (and its `api_key.used` audit entry) moves at most this often. */
export const API_KEY_TOUCH_INTERVAL_MS = 60_000;

const ISSUER = 'quire';
const AUDIENCE = 'quire';
const ARGON2ID = 2 as Algorithm;

const email = z.email({ error: 'Not an e-mail address' }).max(320);
const password = z
  .string({ error: 'A password is required' })
  .min(10, 'Use at least 10 characters')
  .max(1024, 'Use at most 1024 characters');
const name = z.string().trim().min(1).max(200);
const roleInput = z.enum([Role.Owner, Role.Editor, Role.Viewer]);

const signUpInput = z.object({
  email,
  password,
  name: name.nullish(),
  invitationToken: z.string().min(1).max(200).nullish(),
});
const signInInput = z.object({ email: z.string().max(320), password: z.string().max(1024) });
const changePasswordInput = z.object({ currentPassword: z.string().max(1024), newPassword: password });
const invitationInput = z.object({ role: roleInput, email: email.nullish() });
const apiKeyInput = z.object({ name, role: z.enum([Role.Editor, Role.Viewer]) });
/** Most audit entries one page returns. */
export const MAX_AUDIT_PAGE = 200;
const auditPage = z.object({
  first: z
    .number()
    .int()
    .min(1)
    .max(MAX_AUDIT_PAGE)
    .nullish()
    .transform((n) => n ?? 50),
  before: z
    .string()
    .regex(/^[1-9][0-9]{0,15}$/, { error: 'before is the id of an audit entry' })
    .nullish()
    .transform((s) => (s ? Number(s) : null)),
});

/** Parses `input`; password problems answer WEAK_PASSWORD, anything else VALIDATION_FAILED. */
function parse<T>(schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = String(issue.path[0] ?? '');
  const code = field === 'password' || field === 'newPassword' ? 'WEAK_PASSWORD' : 'VALIDATION_FAILED';
  throw new ValidationError(field ? `${field}: ${issue.message}` : issue.message, {
    code,
    details: { issues: result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
  });
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const secretToken = (prefix: string): string => `${prefix}${randomBytes(32).toString('base64url')}`;

const invalidInvitation = () =>
  new ValidationError('This invitation is not valid: it may have expired, been used, or be meant for another address', {
    code: 'INVITATION_INVALID',
  });
const invalidCredentials = () => new AuthenticationError('Wrong e-mail address or password', { code: 'INVALID_CREDENTIALS' });
const sessionRevoked = () => new AuthenticationError('This session has ended; sign in again', { code: 'SESSION_REVOKED' });
const tokenExpired = (cause?: unknown) =>
  new AuthenticationError('The access token has expired; refresh the session', { code: 'TOKEN_EXPIRED', cause });

export class AuthService {
  private readonly store: Store;
  private readonly key: KeyObject;
  private readonly now: () => number;
  private readonly hashing: PasswordHashing;
  private dummyHash: Promise<string> | undefined;
  /** Recent answers of {@link currentPrincipal}, by session or key. */
  private readonly recent = new Map<string, { at: number; principal: Promise<Principal> }>();
  /** Access tokens whose signature was checked, with their claims ({@link verifiedClaims}). */
  private readonly verified = new Map<string, { sub: string; sid: string; expiresAt: number }>();

  constructor(private readonly options: AuthServiceOptions) {
    this.store = options.store;
    // Imported once: jose would import raw key bytes again on every signature and check.
    this.key = createSecretKey(options.secret);
    this.now = options.now ?? Date.now;
    this.hashing = options.passwordHashing ?? { memoryCost: 19_456, timeCost: 2 };
  }

  /** Looks up a user for an answer already authorized (a member list, an invitation). */
  getUser(id: string): Promise<UserRecord | undefined> {
    return this.store.getUser(id);
  }

  /** Looks up a team for an answer already authorized. */
  getTeam(id: string): Promise<TeamRecord | undefined> {
    return this.store.getTeam(id);
  }

  /** Whether any account exists (a fresh install has none). */
  async hasUsers(): Promise<boolean> {
    return (await this.store.countUsers()) > 0;
  }

  /**
   * Creates an account and signs it in. The first account of an install owns the first team;
   * later ones need an invitation token, unless open sign-up is configured (then each new
   * account gets a team of its own).
   */
  async signUp(
    input: { email: string; password: string; name?: string | null; invitationToken?: string | null },
    meta: RequestMeta = {},
  ): Promise<AuthResult> {
    const data = parse(signUpInput, input);
    await this.options.limits.signUp(meta.ip);
    const invitation = data.invitationToken ? await this.pendingInvitation(data.invitationToken) : undefined;
    if (invitation?.email && normalizeEmail(invitation.email) !== normalizeEmail(data.email)) throw invalidInvitation();
    if (!invitation && !this.options.openSignup && (await this.hasUsers())) {
      throw new ForbiddenError('Sign-up needs an invitation from a team owner', { code: 'SIGNUP_CLOSED' });
    }
    const newUser = {
      id: randomUUID(),
      email: data.email.trim(),
      name: data.name ?? null,
      passwordHash: await this.hashPassword(data.password),
    };

    let user: UserRecord;
    let teamId: string;
    if (invitation) {
      user = await this.store.insertUser(newUser);
      const membership = await this.store.acceptInvitation(invitation.id, user.id, this.now());
      if (!membership) {
        // Someone else used the invitation in the meantime: the account must not outlive it.
        await this.store.deleteUser(user.id);
        throw invalidInvitation();
      }
      teamId = membership.teamId;
      await this.audit(
        {
          action: AuditAction.InvitationAccepted,
          teamId,
          actorUserId: user.id,
          targetType: 'invitation',
          targetId: invitation.id,
          details: { role: invitation.role },
        },
        meta,
      );
    } else {
      const first = await this.store.insertFirstUser(newUser, this.options.firstTeam);
      if (first) {
        user = first;
        teamId = this.options.firstTeam.id;
      } else if (this.options.openSignup) {
        user = await this.store.insertUser(newUser);
        const team = await this.store.ensureTeam({ id: randomUUID(), name: `${user.name ?? user.email.split('@')[0]}'s team` });
        await this.store.addMember({ teamId: team.id }, user.id, Role.Owner);
        teamId = team.id;
      } else {
        // The install got its first user while this request was hashing.
        throw new ForbiddenError('Sign-up needs an invitation from a team owner', { code: 'SIGNUP_CLOSED' });
      }
    }
    await this.audit({ action: AuditAction.SignedUp, teamId, actorUserId: user.id, targetType: 'user', targetId: user.id }, meta);
    return this.startSession(user, meta);
  }

  /**
   * Signs in with e-mail and password. A wrong address and a wrong password look alike; an
   * account or address with too many failures is refused (RATE_LIMITED) before either is checked.
   */
  async signIn(input: { email: string; password: string }, meta: RequestMeta = {}): Promise<AuthResult> {
    const data = parse(signInInput, input);
    await this.options.limits.beginSignIn(data.email, meta.ip);
    const user = await this.store.findUserByEmail(data.email);
    // Without an account, verify against a throwaway hash so that both cases take as long.
    const ok = await verify(user?.passwordHash ?? (await this.dummy()), data.password).catch(() => false);
    if (!user || !ok) {
      await this.audit(
        {
          action: AuditAction.SignInFailed,
          actorUserId: user?.id ?? null,
          targetType: 'user',
          targetId: user?.id ?? null,
          details: { email: normalizeEmail(data.email) },
        },
        meta,
      );
      throw invalidCredentials();
    }
    await this.options.limits.signedIn(data.email, meta.ip);
    await this.audit({ action: AuditAction.SignedIn, actorUserId: user.id, targetType: 'user', targetId: user.id }, meta);
    return this.startSession(user, meta);
  }

  /**
   * Exchanges a refresh token for a new pair. A token already exchanged is a replay: the
   * whole session ends, for whoever holds any of its tokens.
   */
  async refreshSession(refreshToken: string, meta: RequestMeta = {}): Promise<AuthResult> {
    const now = this.now();
    const current = await this.store.findSessionByTokenHash(sha256(refreshToken));
    if (!current) throw new AuthenticationError('Unknown refresh token; sign in again');
    if (current.revokedAt !== null) throw sessionRevoked();
    if (current.rotatedAt !== null) return this.replayed(current.familyId, current.userId, meta);
    if (current.expiresAt <= now) throw new AuthenticationError('The session has expired; sign in again', { code: 'TOKEN_EXPIRED' });
    const user = await this.store.getUser(current.userId);
    if (!user) throw sessionRevoked();

    const token = secretToken(TokenPrefix.Refresh);
    const next = {
      id: randomUUID(),
      familyId: current.familyId,
      userId: user.id,
      tokenHash: sha256(token),
      expiresAt: now + this.options.refreshTtlMs,
      ip: meta.ip ?? null,
      userAgent: meta.userAgent?.slice(0, 300) ?? null,
    };
    // Two refreshes racing with one token: one rotates, the other is treated as a replay.
    if (!(await this.store.rotateSession(current.id, next, now))) return this.replayed(current.familyId, current.userId, meta);
    return { ...(await this.accessToken(user.id, current.familyId)), refreshToken: token, refreshTokenExpiresAt: next.expiresAt, user };
  }

  /** Ends the session of `refreshToken` if given, else the caller's own. */
  async signOut(principal: Principal | null, refreshToken: string | null | undefined, meta: RequestMeta = {}): Promise<boolean> {
    authorize(principal, null, 'account.signOut');
    let familyId: string;
    let userId: string;
    if (refreshToken) {
      const session = await this.store.findSessionByTokenHash(sha256(refreshToken));
      if (!session) throw new AuthenticationError('Unknown refresh token');
      familyId = session.familyId;
      userId = session.userId;
    } else if (principal?.kind === 'user') {
      familyId = principal.sessionId;
      userId = principal.userId;
    } else {
      throw new AuthenticationError('Sign out needs a refresh token or a signed-in session');
    }
    const ended = await this.store.revokeSessionFamily(familyId, this.now());
    if (ended > 0)
      await this.audit({ action: AuditAction.SignedOut, actorUserId: userId, targetType: 'session', targetId: familyId }, meta);
    return ended > 0;
  }

  /** Changes the caller's password and ends every other session of theirs. */
  async changePassword(
    principal: Principal | null,
    input: { currentPassword: string; newPassword: string },
    meta: RequestMeta = {},
  ): Promise<void> {
    const me = authorizeUser(principal, 'account.changePassword');
    const data = parse(changePasswordInput, input);
    const user = await this.store.getUser(me.userId);
    if (!user) throw sessionRevoked();
    if (!(await verify(user.passwordHash, data.currentPassword).catch(() => false))) throw invalidCredentials();
    await this.store.updateUserPassword(user.id, await this.hashPassword(data.newPassword));
    const ended = await this.store.revokeUserSessions(user.id, this.now(), me.sessionId);
    await this.audit(
      {
        action: AuditAction.PasswordChanged,
        actorUserId: user.id,
        targetType: 'user',
        targetId: user.id,
        details: { sessionsEnded: ended },
      },
      meta,
    );
  }

  /** The caller's account and teams, oldest membership first. */
  async me(principal: Principal | null): Promise<{ user: UserRecord; teams: { team: TeamRecord; role: Role }[] }> {
    const me = authorizeUser(principal, 'account.read');
    const user = await this.store.getUser(me.userId);
    if (!user) throw sessionRevoked();
    return { user, teams: await this.teamsOf(await this.store.listMembershipsOfUser(user.id)) };
  }

  /** Invites someone into the team with a role; the token is answered once and kept hashed. */
  async createInvitation(
    principal: Principal | null,
    teamId: string | null,
    input: { role: Role; email?: string | null },
    meta: RequestMeta = {},
  ): Promise<{ invitation: InvitationRecord; token: string }> {
    const scope = authorizeTeam(principal, teamId, 'invitation.create');
    const data = parse(invitationInput, input);
    const token = secretToken(TokenPrefix.Invitation);
    const invitation = await this.store.insertInvitation({
      id: randomUUID(),
      teamId: scope.teamId,
      email: data.email ?? null,
      role: data.role,
      tokenHash: sha256(token),
      createdBy: actorId(principal!),
      expiresAt: this.now() + this.options.invitationTtlMs,
    });
    await this.audit(
      auditEntry(
        scope,
        AuditAction.InvitationCreated,
        { type: 'invitation', id: invitation.id },
        { role: data.role, email: data.email ?? null },
      ),
      meta,
    );
    return { invitation, token };
  }

  /** Joins the invitation's team as the signed-in caller. */
  async acceptInvitation(principal: Principal | null, token: string, meta: RequestMeta = {}): Promise<MembershipRecord> {
    const me = authorizeUser(principal, 'invitation.accept');
    const invitation = await this.pendingInvitation(token);
    const user = await this.store.getUser(me.userId);
    if (!user) throw sessionRevoked();
    if (invitation.email && normalizeEmail(invitation.email) !== normalizeEmail(user.email)) throw invalidInvitation();
    const membership = await this.store.acceptInvitation(invitation.id, user.id, this.now());
    if (!membership) throw invalidInvitation();
    await this.audit(
      {
        action: AuditAction.InvitationAccepted,
        teamId: invitation.teamId,
        actorUserId: user.id,
        targetType: 'invitation',
        targetId: invitation.id,
        details: { role: membership.role },
      },
      meta,
    );
    return membership;
  }

  /** The team's members with their accounts. */
  async listMembers(principal: Principal | null, teamId: string | null): Promise<{ membership: MembershipRecord; user: UserRecord }[]> {
    const scope = authorizeTeam(principal, teamId, 'member.read');
    const members = await this.store.listMembers(scope);
    const users = await Promise.all(members.map((m) => this.store.getUser(m.userId)));
    return members.flatMap((membership, i) => (users[i] ? [{ membership, user: users[i] }] : []));
  }

  /** Changes a member's role (owners only); the last owner cannot be demoted. */
  async setRole(
    principal: Principal | null,
    teamId: string | null,
    userId: string,
    role: Role,
    meta: RequestMeta = {},
  ): Promise<MembershipRecord> {
    const scope = authorizeTeam(principal, teamId, 'member.setRole');
    const to = parse(roleInput, role);
    const before = await this.store.getMembership(scope, userId);
    if (!before) throw new NotFoundError(`User ${userId} is not a member of this team`);
    const after = await this.store.setMemberRole(scope, userId, to);
    if (before.role !== after.role) {
      await this.audit(
        auditEntry(scope, AuditAction.RoleChanged, { type: 'user', id: userId }, { from: before.role, to: after.role }),
        meta,
      );
    }
    return after;
  }

  /**
   * Removes a member (owners), or the caller leaves (any member). The last owner cannot go.
   * Answers false when the user was not a member.
   */
  async removeMember(principal: Principal | null, teamId: string | null, userId: string, meta: RequestMeta = {}): Promise<boolean> {
    const self = principal?.kind === 'user' && principal.userId === userId;
    const scope = authorizeTeam(principal, teamId, self ? 'team.leave' : 'member.remove');
    const before = await this.store.getMembership(scope, userId);
    const removed = await this.store.removeMember(scope, userId);
    if (removed) {
      await this.audit(auditEntry(scope, AuditAction.MemberRemoved, { type: 'user', id: userId }, { role: before?.role ?? null }), meta);
    }
    return removed;
  }

  /** Creates a team API key (editor or viewer); the key itself is answered only here. */
  async createApiKey(
    principal: Principal | null,
    teamId: string | null,
    input: { name: string; role?: Role | null },
    meta: RequestMeta = {},
  ): Promise<{ apiKey: ApiKeyRecord; key: string }> {
    const scope = authorizeTeam(principal, teamId, 'apiKey.create');
    const data = parse(apiKeyInput, { name: input.name, role: input.role ?? Role.Editor });
    const key = secretToken(TokenPrefix.ApiKey);
    const apiKey = await this.store.insertApiKey({
      id: randomUUID(),
      teamId: scope.teamId,
      name: data.name,
      prefix: key.slice(0, TokenPrefix.ApiKey.length + 8),
      keyHash: sha256(key),
      role: data.role,
      createdBy: actorId(principal!),
    });
    await this.audit(
      auditEntry(scope, AuditAction.ApiKeyCreated, { type: 'api_key', id: apiKey.id }, { name: apiKey.name, role: apiKey.role }),
      meta,
    );
    return { apiKey, key };
  }

  /** The team's API keys (never the keys themselves). */
  async listApiKeys(principal: Principal | null, teamId: string | null): Promise<ApiKeyRecord[]> {
    return this.store.listApiKeys(authorizeTeam(principal, teamId, 'apiKey.read'));
  }

  /** Revokes a team API key; false when the team has no such active key. */
  async revokeApiKey(principal: Principal | null, teamId: string | null, id: string, meta: RequestMeta = {}): Promise<boolean> {
    const scope = authorizeTeam(principal, teamId, 'apiKey.revoke');
    const revoked = await this.store.revokeApiKey(scope, id, this.now());
    if (revoked) {
      await this.audit(auditEntry(scope, AuditAction.ApiKeyRevoked, { type: 'api_key', id }), meta);
    }
    return revoked;
  }

  /**
   * The team's audit log for its owners, newest first: the team's entries and the account
   * entries of its members. `before` (an entry id) continues a page.
   */
  async listAudit(
    principal: Principal | null,
    teamId: string | null,
    page: { first?: number | null; before?: string | null } = {},
  ): Promise<AuditEvent[]> {
    const scope = authorizeTeam(principal, teamId, 'audit.read');
    const { first, before } = parse(auditPage, page);
    return this.store.listTeamAudit(scope, { limit: first, beforeId: before ?? null });
  }

  /**
   * Turns a bearer token (an access token or an API key) into a principal, with its
   * memberships as they are now. Throws AuthenticationError with `TOKEN_EXPIRED`,
   * `SESSION_REVOKED` or `UNAUTHENTICATED`.
   */
  async authenticate(bearer: string, meta: RequestMeta = {}): Promise<Principal> {
    if (bearer.startsWith(TokenPrefix.ApiKey)) return this.authenticateApiKey(bearer, meta);
    const { sub, sid } = await this.verifiedClaims(bearer);
    return this.reread({ kind: 'user', userId: sub, sessionId: sid, memberships: [] });
  }

  /**
   * The subject and session of a valid access token. A token's signature is checked once and
   * its claims kept until it expires: a client sends the same token with every request for
   * its lifetime, and checking the HMAC again each time was a tenth of a GraphQL read. What
   * can change meanwhile (the session, the memberships) is read by the caller every time.
   */
  private async verifiedClaims(bearer: string): Promise<{ sub: string; sid: string }> {
    const known = this.verified.get(bearer);
    if (known) {
      if (this.now() < known.expiresAt) return known;
      this.verified.delete(bearer);
      throw tokenExpired();
    }
    let claims: { sub?: unknown; sid?: unknown; exp?: unknown };
    try {
      ({ payload: claims } = await jwtVerify(bearer, this.key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        currentDate: new Date(this.now()),
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) {
        throw tokenExpired(err);
      }
      throw new AuthenticationError('The access token is not valid', { cause: err });
    }
    const { sub, sid, exp } = claims;
    if (typeof sub !== 'string' || typeof sid !== 'string' || typeof exp !== 'number') {
      throw new AuthenticationError('The access token is not valid');
    }
    if (this.verified.size >= MAX_VERIFIED_TOKENS) this.verified.clear();
    const entry = { sub, sid, expiresAt: exp * 1000 };
    this.verified.set(bearer, entry);
    return entry;
  }

  /**
   * The caller's access as it is now, for connections that outlive a request (subscriptions,
   * Socket.IO rooms), which ask again on every event. Throws SESSION_REVOKED once the session
   * has ended or the API key was revoked. An answer is reused for ACCESS_RECHECK_MS; a change
   * of roles, members, sessions or keys made through this hub clears them all at once.
   */
  async currentPrincipal(principal: Principal): Promise<Principal> {
    const key = principalKey(principal);
    const now = this.now();
    const known = this.recent.get(key);
    if (known && now - known.at < ACCESS_RECHECK_MS) return known.principal;
    if (this.recent.size >= 10_000) this.recent.clear();
    const fresh = this.reread(principal);
    this.recent.set(key, { at: now, principal: fresh });
    // A refusal is answered to every caller that asks within the interval, not reported here.
    fresh.catch(() => undefined);
    return fresh;
  }

  /** A principal with its session or key checked and its memberships read again. */
  private async reread(principal: Principal): Promise<Principal> {
    if (principal.kind === 'apiKey') {
      const [grant] = principal.memberships;
      const key = grant && (await this.store.listApiKeys({ teamId: grant.teamId })).find((k) => k.id === principal.apiKeyId);
      if (!key || key.revokedAt !== null) throw new AuthenticationError('This API key has been revoked', { code: 'SESSION_REVOKED' });
      return { ...principal, memberships: [{ teamId: key.teamId, role: key.role }] };
    }
    // Both reads at once: on a store behind a network they cost one round trip, not two.
    const [active, memberships] = await Promise.all([
      this.store.isSessionFamilyActive(principal.sessionId, this.now()),
      this.store.listMembershipsOfUser(principal.userId),
    ]);
    if (!active) throw sessionRevoked();
    return { ...principal, memberships: memberships.map((m) => ({ teamId: m.teamId, role: m.role })) };
  }

  /**
   * Creates the owner from `QUIRE_ADMIN_EMAIL`/`QUIRE_ADMIN_PASSWORD` on a fresh install.
   * Answers `created`, `exists` (that account is there already) or `skipped` (other accounts
   * exist; nothing is changed).
   */
  async seedOwner(emailAddress: string, pass: string): Promise<'created' | 'exists' | 'skipped'> {
    if (await this.hasUsers()) return (await this.store.findUserByEmail(emailAddress)) ? 'exists' : 'skipped';
    const data = parse(signUpInput, { email: emailAddress, password: pass });
    const user = await this.store.insertFirstUser(
      { id: randomUUID(), email: data.email.trim(), name: null, passwordHash: await this.hashPassword(data.password) },
      this.options.firstTeam,
    );
    if (!user) return (await this.store.findUserByEmail(emailAddress)) ? 'exists' : 'skipped';
    await this.audit(
      {
        action: AuditAction.SignedUp,
        teamId: this.options.firstTeam.id,
        actorUserId: user.id,
        targetType: 'user',
        targetId: user.id,
        details: { seeded: true },
      },
      {},
    );
    return 'created';
  }

  /**
   * Deletes refresh tokens and invitations that ended more than `retentionMs` ago (default a
   * week: a replayed token of a recently ended session is still recognised). Each refresh adds
   * a row, so a long-running install calls this periodically.
   */
  async prune(retentionMs = 7 * 86_400_000): Promise<{ sessions: number; invitations: number }> {
    const before = this.now() - retentionMs;
    return { sessions: await this.store.pruneSessions(before), invitations: await this.store.pruneInvitations(before) };
  }

  private async authenticateApiKey(key: string, meta: RequestMeta): Promise<Principal> {
    const record = await this.store.findApiKeyByHash(sha256(key));
    if (!record || record.revokedAt !== null) throw new AuthenticationError('Unknown or revoked API key');
    // Each use is audited, at most once per interval per key, so the log stays readable.
    if (await this.store.touchApiKey(record.id, this.now(), API_KEY_TOUCH_INTERVAL_MS)) {
      await this.audit(
        { action: AuditAction.ApiKeyUsed, teamId: record.teamId, actorApiKeyId: record.id, targetType: 'api_key', targetId: record.id },
        meta,
      );
    }
    return { kind: 'apiKey', apiKeyId: record.id, memberships: [{ teamId: record.teamId, role: record.role }] };
  }

  private async pendingInvitation(token: string): Promise<InvitationRecord> {
    const invitation = await this.store.findInvitationByTokenHash(sha256(token));
    if (!invitation || invitation.acceptedAt !== null || invitation.expiresAt <= this.now()) throw invalidInvitation();
    return invitation;
  }

  private async replayed(familyId: string, userId: string, meta: RequestMeta): Promise<never> {
    await this.store.revokeSessionFamily(familyId, this.now());
    await this.audit({ action: AuditAction.SessionReplayed, actorUserId: userId, targetType: 'session', targetId: familyId }, meta);
    throw sessionRevoked();
  }

  private async startSession(user: UserRecord, meta: RequestMeta): Promise<AuthResult> {
    const refreshToken = secretToken(TokenPrefix.Refresh);
    const session = await this.store.insertSession({
      id: randomUUID(),
      familyId: randomUUID(),
      userId: user.id,
      tokenHash: sha256(refreshToken),
      expiresAt: this.now() + this.options.refreshTtlMs,
      ip: meta.ip ?? null,
      userAgent: meta.userAgent?.slice(0, 300) ?? null,
    });
    return { ...(await this.accessToken(user.id, session.familyId)), refreshToken, refreshTokenExpiresAt: session.expiresAt, user };
  }

  private async accessToken(userId: string, familyId: string): Promise<{ accessToken: string; accessTokenExpiresAt: number }> {
    const now = this.now();
    // JWT times are whole seconds; the expiry is rounded up so a token never lives shorter than configured.
    const iat = Math.floor(now / 1000);
    const exp = Math.ceil((now + this.options.accessTtlMs) / 1000);
    const accessToken = await new SignJWT({ sid: familyId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(userId)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(this.key);
    return { accessToken, accessTokenExpiresAt: exp * 1000 };
  }

  private hashPassword(plain: string): Promise<string> {
    return hash(plain, { algorithm: ARGON2ID, memoryCost: this.hashing.memoryCost, timeCost: this.hashing.timeCost, parallelism: 1 });
  }

  private dummy(): Promise<string> {
    this.dummyHash ??= this.hashPassword(randomBytes(16).toString('hex'));
    return this.dummyHash;
  }

  private async teamsOf(memberships: MembershipRecord[]): Promise<{ team: TeamRecord; role: Role }[]> {
    const teams = await Promise.all(memberships.map((m) => this.store.getTeam(m.teamId)));
    return memberships.flatMap((m, i) => (teams[i] ? [{ team: teams[i], role: m.role }] : []));
  }

  /** Records an action; one that changes someone's access also forgets every recent access answer. */
  private async audit(event: NewAuditEvent, meta: RequestMeta): Promise<void> {
    if (ACCESS_CHANGES.has(event.action)) this.recent.clear();
    await this.store.appendAudit({ ...event, ip: event.ip ?? meta.ip ?? null });
  }
}

/** Who created something, as recorded on invitations and API keys. */
function actorId(principal: Principal): string {
  return principal.kind === 'user' ? principal.userId : `api-key:${principal.apiKeyId}`;
}
