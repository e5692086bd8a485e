/**
 * Who a request comes from, worked out once per request (HTTP) or connection (graphql-ws)
 * from its bearer token, and the team it acts in. A refused token does not fail the request
 * here: the reason is kept, and an operation that needs a principal throws it, so that
 * operations open to everyone (sign-in with a stale token still in the header) keep working.
 */
import { AppError, AuthenticationError } from '@quire/kernel';
import type { AuthService, RequestMeta } from '../services/auth.service.ts';
import { ENTRY_POINTS, authorizeTeam, chooseTeam, type EntryPoint, type Principal } from './policy.ts';
import type { ActingScope } from '../store/store.ts';

/** Header that names the team a request acts in. */
export const TEAM_HEADER = 'x-quire-team';

export interface RequestAuth {
  /** The authenticated caller, or null (no token, or a refused one). */
  principal: Principal | null;
  /** Why the presented token was refused, if it was. */
  error: AppError | null;
  /** The team the request acts in: the one it names, else the principal's first; null without one. */
  teamId: string | null;
  meta: RequestMeta;
}

/** The token of an `Authorization: Bearer <token>` header (a bare token is accepted too, for socket parameters). */
export function bearerToken(header: string | null | undefined): string | null | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (m) return m[1]!;
  return /\s/.test(header.trim()) ? null : header.trim();
}

export async function resolveRequestAuth(
  auth: AuthService,
  credentials: { authorization?: string | null; team?: string | null; ip?: string | null; userAgent?: string | null },
): Promise<RequestAuth> {
  const meta: RequestMeta = { ip: credentials.ip ?? null, userAgent: credentials.userAgent ?? null };
  const team = credentials.team?.trim() || null;
  const token = bearerToken(credentials.authorization);
  if (token === undefined) return { principal: null, error: null, teamId: team, meta };
  if (token === null) {
    return { principal: null, error: new AuthenticationError('Send credentials as Authorization: Bearer <token>'), teamId: team, meta };
  }
  try {
    const principal = await auth.authenticate(token, meta);
    return { principal, error: null, teamId: chooseTeam(principal, team), meta };
  } catch (err) {
    // Only refusals are kept for later; a failing store is the request's failure now.
    if (err instanceof AuthenticationError) return { principal: null, error: err, teamId: team, meta };
    throw err;
  }
}

/** The principal, or null when no token was sent; throws the refusal of a token that was. */
export function principalOf(auth: RequestAuth): Principal | null {
  if (auth.error) throw auth.error;
  return auth.principal;
}

/**
 * The team scope a request may use at `entry`, by the policy's row for it: throws the refusal
 * of a presented token, UNAUTHENTICATED without one, NOT_FOUND for a team the caller is not in
 * and FORBIDDEN for a role too low.
 */
export function teamScopeFor(auth: RequestAuth, entry: EntryPoint): ActingScope {
  return withAddress(auth, authorizeTeam(principalOf(auth), auth.teamId, ENTRY_POINTS[entry]));
}

/**
 * {@link teamScopeFor} with the caller's access as it is now rather than when the connection
 * opened: subscriptions and Socket.IO rooms ask this on every event, so a member removed, a
 * role lowered, a session ended or a key revoked stops receiving at once.
 */
export async function currentTeamScopeFor(auth: RequestAuth, entry: EntryPoint, accounts: AuthService): Promise<ActingScope> {
  const principal = principalOf(auth);
  const current = principal && (await accounts.currentPrincipal(principal));
  return withAddress(auth, authorizeTeam(current, auth.teamId, ENTRY_POINTS[entry]));
}

function withAddress(auth: RequestAuth, scope: ActingScope): ActingScope {
  return scope.actor ? { ...scope, actor: { ...scope.actor, ip: auth.meta.ip ?? null } } : scope;
}
