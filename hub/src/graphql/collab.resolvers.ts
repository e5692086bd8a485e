/**
 * GraphQL resolvers of collaboration: annotations, presence, labels and matches. Thin
 * translations to the services, which hold every rule; each root field asks the policy for
 * its team scope.
 */
import type {
  MutationApplyAnnotationOperationArgs,
  QueryAnnotationOperationsArgs,
  QueryAnnotationsArgs,
  QueryPresenceArgs,
  SubscriptionAnnotationEventsArgs,
} from '@quire/graphql';
import { currentTeamScopeFor, teamScopeFor } from '../auth/request-auth.ts';
import type { AnnotationOpRecord, AnnotationRecord, DocumentRecord } from '../store/store.ts';
import { REVIEW_SESSION, documentSession } from '../services/presence.service.ts';
import type { GraphQLContext } from './context.ts';

const upper = (s: string) => s.toUpperCase();

/** An operation as the schema shows it: its type read from the operation itself. */
const operation = (
  r:
    | AnnotationOpRecord
    | {
        documentId: string;
        seq: number;
        opId: string;
        actorId: string | null;
        at: number;
        op: Record<string, unknown>;
        annotation: unknown;
      },
) => ({
  ...r,
  type: String(r.op.type),
});

export const collabResolvers = {
  Query: {
    annotations: (_: unknown, args: QueryAnnotationsArgs, ctx: GraphQLContext) =>
      ctx.services.annotations.list(teamScopeFor(ctx.auth, 'Query.annotations'), args.documentId),
    annotationOperations: async (_: unknown, args: QueryAnnotationOperationsArgs, ctx: GraphQLContext) => {
      const page = await ctx.services.annotations.operations(teamScopeFor(ctx.auth, 'Query.annotationOperations'), args.documentId, {
        after: args.after ?? 0,
        first: args.first ?? 100,
      });
      return { ...page, operations: page.operations.map(operation) };
    },
    presence: async (_: unknown, args: QueryPresenceArgs, ctx: GraphQLContext) => {
      const scope = teamScopeFor(ctx.auth, 'Query.presence');
      if (!args.documentId) return ctx.services.presence.list(scope.teamId, REVIEW_SESSION);
      await ctx.services.annotations.mustGetDocument(scope, args.documentId);
      return ctx.services.presence.list(scope.teamId, documentSession(args.documentId));
    },
  },

  Mutation: {
    applyAnnotationOperation: async (_: unknown, args: MutationApplyAnnotationOperationArgs, ctx: GraphQLContext) =>
      operation(
        await ctx.services.annotations.apply(teamScopeFor(ctx.auth, 'Mutation.applyAnnotationOperation'), args.documentId, args.op),
      ),
  },

  Subscription: {
    annotationEvents: {
      subscribe: async function* (_: unknown, args: SubscriptionAnnotationEventsArgs, ctx: GraphQLContext) {
        const scope = teamScopeFor(ctx.auth, 'Subscription.annotationEvents');
        if (args.documentId) await ctx.services.annotations.mustGetDocument(scope, args.documentId);
        const controller = new AbortController();
        try {
          const live = ctx.events.stream(
            (e) =>
              e.kind === 'annotation' && e.event.teamId === scope.teamId && (!args.documentId || e.event.documentId === args.documentId),
            controller.signal,
          );
          for await (const e of live) {
            if (e.kind !== 'annotation') continue;
            // Access is read again for every event: a subscriber who lost it gets the refusal.
            await currentTeamScopeFor(ctx.auth, 'Subscription.annotationEvents', ctx.services.auth);
            yield { annotationEvents: operation(e.event) };
          }
        } finally {
          controller.abort();
        }
      },
    },
  },

  AnnotationAnchor: {
    kind: (a: { kind: string }) => upper(a.kind),
  },

  Document: {
    annotations: (d: DocumentRecord, _: unknown, ctx: GraphQLContext) => ctx.services.annotations.list({ teamId: d.teamId }, d.id),
  },

  Annotation: {
    replies: (a: AnnotationRecord) => a.replies,
  },
};
