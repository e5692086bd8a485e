/**
 * The one authorization policy of Quire: every operation, the least access that may perform
 * it, and every way in (GraphQL field, HTTP route, Socket.IO event) mapped to its operation.
 * Resolvers, routes and socket handlers ask {@link authorize}; none decides on its own.
 *
 * A principal that is not a member of the team it names gets NotFoundError, exactly as for a
 * team that does not exist; a member whose role is too low gets ForbiddenError.
 */
import { AuthenticationError, ForbiddenError, NotFoundError } from '@quire/kernel';
import { ROLE_RANK, type ActingScope, type Actor, type Role } from '../store/store.ts';

/** A team the principal may act in, and with which role. */
export interface Grant {
  teamId: string;
  role: Role;
}

/** Who is calling: a signed-in person (one session) or a team's API key. */
export type Principal =
  | {
      kind: 'user';
      userId: string;
      /** The session (refresh-token family) the access token belongs to. */
      sessionId: string;
      /** The user's teams, oldest first; read per request, so role changes apply at once. */
      memberships: readonly Grant[];
    }
  | {
      kind: 'apiKey';
      apiKeyId: string;
      /** Exactly one grant: the key's team and role. */
      memberships: readonly Grant[];
    };

/** A signed-in person. */
export type UserPrincipal = Extract<Principal, { kind: 'user' }>;

/** The least a caller needs: nothing, a signed-in person, or a role in the team. */
export const Access = {
  /** Anyone, signed in or not. */
  Public: 'public',
  /** A signed-in person (not an API key), whatever their teams. */
  User: 'user',
  Viewer: 'viewer',
  Editor: 'editor',
  Owner: 'owner',
} as const;
export type Access = (typeof Access)[keyof typeof Access];

/** Every operation and the least access it takes. */
export const POLICY = {
  'account.signUp': Access.Public,
  'account.signIn': Access.Public,
  'account.refresh': Access.Public,
  /** Needs a refresh token or a session; either identifies what ends. */
  'account.signOut': Access.Public,
  'account.read': Access.User,
  'account.changePassword': Access.User,
  'invitation.accept': Access.User,
  'team.leave': Access.Viewer,
  'member.read': Access.Viewer,
  'invitation.create': Access.Owner,
  'member.setRole': Access.Owner,
  'member.remove': Access.Owner,
  'apiKey.read': Access.Owner,
  'apiKey.create': Access.Owner,
  'apiKey.revoke': Access.Owner,
  'audit.read': Access.Owner,
  'document.read': Access.Viewer,
  'document.search': Access.Viewer,
  /** The original file as uploaded. */
  'document.download': Access.Viewer,
  /** Live progress and document events: subscriptions and Socket.IO rooms. */
  'document.watch': Access.Viewer,
  'document.upload': Access.Editor,
  'document.reprocess': Access.Editor,
  'document.delete': Access.Editor,
  /** A person's document type or sensitivity, over the classifier's. */
  'document.label': Access.Editor,
  /** Classifying the team's documents again with its labelled examples. */
  'document.reclassify': Access.Editor,
  /** Annotations, live sessions on documents and who is in them. */
  'annotation.read': Access.Viewer,
  'annotation.write': Access.Editor,
  /** Proposed matches, matched sets, match rules and the match review session. */
  'match.read': Access.Viewer,
  'match.resolve': Access.Editor,
  'match.manageRules': Access.Editor,
  /** The team's document types and sensitivities: what the classifier chooses from. */
  'label.manage': Access.Owner,
} as const satisfies Record<string, Access>;
export type Operation = keyof typeof POLICY;

/**
 * Every way into Quire and the operation it performs. GraphQL root fields are named
 * `Query.x`, `Mutation.x`, `Subscription.x`; a test fails when the schema has a root field
 * without a row here, so a new operation cannot be forgotten.
 */
export const ENTRY_POINTS = {
  'Query.me': 'account.read',
  'Query.members': 'member.read',
  'Query.apiKeys': 'apiKey.read',
  'Query.auditLog': 'audit.read',
  'Query.document': 'document.read',
  'Query.documents': 'document.read',
  'Query.job': 'document.read',
  'Query.search': 'document.search',
  'Query.moreLikeThis': 'document.search',
  'Query.searchDocuments': 'document.search',
  'Mutation.signUp': 'account.signUp',
  'Mutation.signIn': 'account.signIn',
  'Mutation.refreshSession': 'account.refresh',
  'Mutation.signOut': 'account.signOut',
  'Mutation.changePassword': 'account.changePassword',
  'Mutation.createInvitation': 'invitation.create',
  'Mutation.acceptInvitation': 'invitation.accept',
  'Mutation.setMemberRole': 'member.setRole',
  /** Removing oneself is `team.leave`; see AuthService.removeMember. */
  'Mutation.removeMember': 'member.remove',
  'Mutation.createApiKey': 'apiKey.create',
  'Mutation.revokeApiKey': 'apiKey.revoke',
  'Mutation.reprocessDocument': 'document.reprocess',
  'Mutation.deleteDocument': 'document.delete',
  'Subscription.jobProgress': 'document.watch',
  'Subscription.documentEvents': 'document.watch',
  'Query.annotations': 'annotation.read',
  'Query.annotationOperations': 'annotation.read',
  'Query.presence': 'annotation.read',
  'Query.labels': 'document.read',
  'Query.matches': 'match.read',
  'Query.match': 'match.read',
  'Query.matchedSets': 'match.read',
  'Query.matchRules': 'match.read',
  'Mutation.applyAnnotationOperation': 'annotation.write',
  'Mutation.setDocumentLabel': 'document.label',
  'Mutation.reclassifyDocuments': 'document.reclassify',
  'Mutation.addLabel': 'label.manage',
  'Mutation.removeLabel': 'label.manage',
  'Mutation.resolveMatch': 'match.resolve',
  'Mutation.createMatchRule': 'match.manageRules',
  'Mutation.updateMatchRule': 'match.manageRules',
  'Mutation.deleteMatchRule': 'match.manageRules',
  'Subscription.annotationEvents': 'annotation.read',
  'Subscription.matchEvents': 'match.read',
  /** Counts of the team's documents, its queue, throughput, processing nodes and activity. */
  'Query.dashboard': 'document.read',
  'Subscription.dashboard': 'document.read',
  'POST /api/documents': 'document.upload',
  'GET /api/documents/:id/file': 'document.download',
  'socket.io subscribe': 'document.watch',
  /** `/collab` `join` and `sync`: a document's live session and its annotation log. */
  'socket.io join': 'annotation.read',
  /** `/collab` `op`: an annotation operation. */
  'socket.io op': 'annotation.write',
  /** `/collab` `review:join`: the team's match review session. */
  'socket.io review': 'match.read',
} as const satisfies Record<string, Operation>;
export type EntryPoint = keyof typeof ENTRY_POINTS;

/** The principal's role in a team, or undefined when it is not a member. */
export function roleIn(principal: Principal | null, teamId: string | null): Role | undefined {
  if (!principal || teamId === null) return undefined;
  return principal.memberships.find((m) => m.teamId === teamId)?.role;
}

/** The team a request acts in: the one it asks for, else the principal's first team. */
export function chooseTeam(principal: Principal | null, requested?: string | null): string | null {
  if (requested) return requested;
  return principal?.memberships[0]?.teamId ?? null;
}

/**
 * Checks that `principal` may perform `operation` in `teamId`, and answers the team scope to
 * use (null for operations that are not about a team). Throws AuthenticationError without a
 * principal, NotFoundError for a team the principal is not in, ForbiddenError otherwise.
 */
export function authorize(principal: Principal | null, teamId: string | null, operation: Operation): ActingScope | null {
  const access: Access = POLICY[operation];
  if (access === Access.Public) return null;
  if (!principal) throw new AuthenticationError();
  if (access === Access.User) {
    if (principal.kind !== 'user') throw new ForbiddenError('An API key cannot do this; sign in as a person');
    return null;
  }
  if (teamId === null) throw new NotFoundError('No team: join a team or name one');
  const role = roleIn(principal, teamId);
  if (!role) throw new NotFoundError(`Team ${teamId} not found`);
  if (ROLE_RANK[role] < ROLE_RANK[access]) {
    throw new ForbiddenError(`This needs the ${access} role in the team; you are ${role === 'editor' ? 'an' : 'a'} ${role}`);
  }
  return { teamId, actor: actorOf(principal) };
}

/** What identifies a principal's access: its session, or its key. */
export function principalKey(principal: Principal): string {
  return principal.kind === 'user' ? `session:${principal.sessionId}` : `key:${principal.apiKeyId}`;
}

/** The principal as the audit log names it; the address is the request's to add. */
export function actorOf(principal: Principal, ip: string | null = null): Actor {
  return principal.kind === 'user' ? { userId: principal.userId, apiKeyId: null, ip } : { userId: null, apiKeyId: principal.apiKeyId, ip };
}

/** {@link authorize} for an operation of a signed-in person (Access.User); answers that person. */
export function authorizeUser(principal: Principal | null, operation: Operation): UserPrincipal {
  if (POLICY[operation] !== Access.User) throw new Error(`${operation} is not an operation of a signed-in person`);
  authorize(principal, null, operation);
  return principal as UserPrincipal;
}

/** {@link authorize} for an operation within a team (a role is needed); answers the team scope. */
export function authorizeTeam(principal: Principal | null, teamId: string | null, operation: Operation): ActingScope {
  const scope = authorize(principal, teamId, operation);
  if (!scope) throw new Error(`${operation} is not an operation within a team`);
  return scope;
}
