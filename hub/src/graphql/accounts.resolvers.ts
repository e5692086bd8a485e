/**
 * GraphQL resolvers of accounts, teams, invitations and API keys: thin translations to
 * AuthService, which holds every rule. Team-level operations take an optional `teamId`,
 * defaulting to the team the request acts in.
 */
import type {
  MutationAcceptInvitationArgs,
  MutationChangePasswordArgs,
  MutationCreateApiKeyArgs,
  MutationCreateInvitationArgs,
  MutationRefreshSessionArgs,
  MutationRemoveMemberArgs,
  MutationRevokeApiKeyArgs,
  MutationSetMemberRoleArgs,
  MutationSignInArgs,
  MutationSignOutArgs,
  MutationSignUpArgs,
  QueryApiKeysArgs,
  QueryAuditLogArgs,
  QueryMembersArgs,
} from '@quire/graphql';
import { principalOf } from '../auth/request-auth.ts';
import { Role, type AuditEvent, type InvitationRecord, type MembershipRecord, type UserRecord } from '../store/store.ts';
import type { GraphQLContext } from './context.ts';

/**
 * The schema's Role enum maps to the store's values (OWNER ↔ 'owner'), so role arguments
 * arrive, and role fields leave, in the store's form; the generated types still name the
 * schema's form, hence this one cast.
 */
const asRole = (r: unknown): Role => r as Role;

const teamOf = (ctx: GraphQLContext, teamId: string | null | undefined): string | null => teamId ?? ctx.auth.teamId;

type MemberParent = MembershipRecord & { user?: UserRecord };

export const accountResolvers = {
  Role: { OWNER: Role.Owner, EDITOR: Role.Editor, VIEWER: Role.Viewer },

  Query: {
    me: async (_: unknown, __: unknown, ctx: GraphQLContext) => {
      const me = await ctx.services.auth.me(principalOf(ctx.auth));
      return { ...me, currentTeam: me.teams.find((t) => t.team.id === ctx.auth.teamId)?.team ?? null };
    },
    members: async (_: unknown, args: QueryMembersArgs, ctx: GraphQLContext): Promise<MemberParent[]> =>
      (await ctx.services.auth.listMembers(principalOf(ctx.auth), teamOf(ctx, args.teamId))).map((m) => ({
        ...m.membership,
        user: m.user,
      })),
    apiKeys: (_: unknown, args: QueryApiKeysArgs, ctx: GraphQLContext) =>
      ctx.services.auth.listApiKeys(principalOf(ctx.auth), teamOf(ctx, args.teamId)),
    auditLog: (_: unknown, args: QueryAuditLogArgs, ctx: GraphQLContext) =>
      ctx.services.auth.listAudit(principalOf(ctx.auth), teamOf(ctx, args.teamId), { first: args.first, before: args.before }),
  },

  Mutation: {
    signUp: (_: unknown, args: MutationSignUpArgs, ctx: GraphQLContext) => ctx.services.auth.signUp(args.input, ctx.auth.meta),
    signIn: (_: unknown, args: MutationSignInArgs, ctx: GraphQLContext) => ctx.services.auth.signIn(args, ctx.auth.meta),
    refreshSession: (_: unknown, args: MutationRefreshSessionArgs, ctx: GraphQLContext) =>
      ctx.services.auth.refreshSession(args.refreshToken, ctx.auth.meta),
    // A stale access token must not stop a sign-out by refresh token, so the refusal is not thrown here.
    signOut: (_: unknown, args: MutationSignOutArgs, ctx: GraphQLContext) =>
      ctx.services.auth.signOut(ctx.auth.principal, args.refreshToken, ctx.auth.meta),
    changePassword: async (_: unknown, args: MutationChangePasswordArgs, ctx: GraphQLContext) => {
      await ctx.services.auth.changePassword(principalOf(ctx.auth), args, ctx.auth.meta);
      return true;
    },
    createInvitation: (_: unknown, args: MutationCreateInvitationArgs, ctx: GraphQLContext) =>
      ctx.services.auth.createInvitation(
        principalOf(ctx.auth),
        teamOf(ctx, args.teamId),
        { role: asRole(args.role), email: args.email },
        ctx.auth.meta,
      ),
    acceptInvitation: async (_: unknown, args: MutationAcceptInvitationArgs, ctx: GraphQLContext) => {
      const membership = await ctx.services.auth.acceptInvitation(principalOf(ctx.auth), args.token, ctx.auth.meta);
      return { team: await ctx.services.auth.getTeam(membership.teamId), role: membership.role };
    },
    setMemberRole: (_: unknown, args: MutationSetMemberRoleArgs, ctx: GraphQLContext): Promise<MemberParent> =>
      ctx.services.auth.setRole(principalOf(ctx.auth), teamOf(ctx, args.teamId), args.userId, asRole(args.role), ctx.auth.meta),
    removeMember: (_: unknown, args: MutationRemoveMemberArgs, ctx: GraphQLContext) =>
      ctx.services.auth.removeMember(principalOf(ctx.auth), teamOf(ctx, args.teamId), args.userId, ctx.auth.meta),
    createApiKey: (_: unknown, args: MutationCreateApiKeyArgs, ctx: GraphQLContext) =>
      ctx.services.auth.createApiKey(
        principalOf(ctx.auth),
        teamOf(ctx, args.teamId),
        { name: args.name, role: args.role ? asRole(args.role) : null },
        ctx.auth.meta,
      ),
    revokeApiKey: (_: unknown, args: MutationRevokeApiKeyArgs, ctx: GraphQLContext) =>
      ctx.services.auth.revokeApiKey(principalOf(ctx.auth), teamOf(ctx, args.teamId), args.id, ctx.auth.meta),
  },

  Member: {
    user: (m: MemberParent, _: unknown, ctx: GraphQLContext) => m.user ?? ctx.services.auth.getUser(m.userId),
    joinedAt: (m: MemberParent) => m.createdAt,
  },

  AuditEntry: {
    actor: (e: AuditEvent, _: unknown, ctx: GraphQLContext) => (e.actorUserId ? ctx.services.auth.getUser(e.actorUserId) : null),
  },

  Invitation: {
    team: (i: InvitationRecord, _: unknown, ctx: GraphQLContext) => ctx.services.auth.getTeam(i.teamId),
  },
};
