/**
 * GraphQL resolvers of the team's dashboard: thin translations to the DashboardService. The
 * root fields answer the team's scope; each field below reads only what it shows, so a client
 * asking for the counts alone does not pay for throughput or activity.
 */
import type { DashboardThroughputArgs, ProcessingDevice } from '@quire/graphql';
import { DocumentStatus } from '@quire/kernel';
import { teamScopeFor } from '../auth/request-auth.ts';
import type { DashboardSummary, ProcessingNodeView } from '../services/dashboard.service.ts';
import type { TeamScope } from '../store/store.ts';
import type { GraphQLContext } from './context.ts';
import { recheckEach } from './live.ts';

/** What a Dashboard object carries down to its fields: the team it is of. */
type DashboardSource = TeamScope;

const summary = (d: DashboardSource, ctx: GraphQLContext) => ctx.services.dashboard.summary(d);
const field =
  <T>(pick: (s: DashboardSummary) => T) =>
  async (d: DashboardSource, _: unknown, ctx: GraphQLContext): Promise<T> =>
    pick(await summary(d, ctx));

export const dashboardResolvers = {
  Query: {
    dashboard: (_: unknown, _args: unknown, ctx: GraphQLContext): DashboardSource => ({
      teamId: teamScopeFor(ctx.auth, 'Query.dashboard').teamId,
    }),
  },

  Subscription: {
    dashboard: {
      subscribe: async function* (_: unknown, _args: unknown, ctx: GraphQLContext) {
        const scope = teamScopeFor(ctx.auth, 'Subscription.dashboard');
        const payload = () => ({ dashboard: { teamId: scope.teamId } satisfies DashboardSource });
        // The current dashboard first; each later one after access was read again.
        yield* recheckEach(
          ctx,
          'Subscription.dashboard',
          async function* (signal) {
            for await (const _ of ctx.services.dashboard.updates(scope, signal)) yield payload();
          },
          payload,
        );
      },
    },
  },

  Dashboard: {
    total: field((s) => s.total),
    byStatus: field((s) => Object.values(DocumentStatus).map((st) => ({ key: st.toUpperCase(), count: s.byStatus[st] }))),
    byType: field((s) => s.byType),
    bySensitivity: field((s) => s.bySensitivity),
    queueDepth: field((s) => s.queueDepth),
    processing: field((s) => s.processing),
    throughput: (d: DashboardSource, args: DashboardThroughputArgs, ctx: GraphQLContext) =>
      ctx.services.dashboard.throughput(d, args.minutes ?? 60),
    nodes: (d: DashboardSource, _: unknown, ctx: GraphQLContext) => ctx.services.dashboard.nodes(d),
    activity: (d: DashboardSource, _: unknown, ctx: GraphQLContext) => ctx.services.dashboard.activity(d),
  },

  ProcessingNode: {
    device: (n: ProcessingNodeView): ProcessingDevice | null => (n.device === null ? null : (n.device.toUpperCase() as ProcessingDevice)),
  },
};
