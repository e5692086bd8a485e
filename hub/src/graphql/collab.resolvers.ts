/**
 * GraphQL resolvers of collaboration: annotations, presence, labels and matches. Thin
 * translations to the services, which hold every rule; each root field asks the policy for
 * its team scope.
 */
import type {
  MutationAddLabelArgs,
  MutationApplyAnnotationOperationArgs,
  MutationCreateMatchRuleArgs,
  MutationDeleteMatchRuleArgs,
  MutationRemoveLabelArgs,
  MutationResolveMatchArgs,
  MutationSetDocumentLabelArgs,
  MutationUpdateMatchRuleArgs,
  QueryAnnotationOperationsArgs,
  QueryAnnotationsArgs,
  QueryMatchArgs,
  QueryMatchesArgs,
  QueryPresenceArgs,
  SubscriptionAnnotationEventsArgs,
  SubscriptionMatchEventsArgs,
} from '@quire/graphql';
import { teamScopeFor } from '../auth/request-auth.ts';
import type { LabelKind } from '../services/classification.service.ts';
import type { MatchDecision } from '../services/match.service.ts';
import {
  effectiveLabels,
  type AnnotationRecord,
  type DocumentRecord,
  type MatchRecord,
  type MatchStatus,
  type TeamScope,
} from '../store/store.ts';
import { REVIEW_SESSION, documentSession } from '../services/presence.service.ts';
import type { GraphQLContext } from './context.ts';
import { follow } from './live.ts';

/** The schema's enums carry the services' values (MatchStatus.OPEN ↔ 'open'); the generated types name the schema's form, hence these casts. */
const as = <T>(v: unknown) => v as T;
const scopeOf = (r: { teamId: string }): TeamScope => ({ teamId: r.teamId });

/** An operation as the schema shows it (a stored record or a live event): its type read from the operation itself. */
const operation = <T extends { op: Record<string, unknown> }>(r: T) => ({ ...r, type: String(r.op.type) });

export const collabResolvers = {
  Query: {
    labels: (_: unknown, _args: unknown, ctx: GraphQLContext) =>
      ctx.services.classification.labelSet(teamScopeFor(ctx.auth, 'Query.labels')),
    matches: (_: unknown, args: QueryMatchesArgs, ctx: GraphQLContext) =>
      ctx.services.matches.list(teamScopeFor(ctx.auth, 'Query.matches'), {
        status: args.status ? as<MatchStatus>(args.status) : undefined,
        documentId: args.documentId ?? undefined,
        first: args.first ?? 50,
      }),
    match: async (_: unknown, args: QueryMatchArgs, ctx: GraphQLContext) =>
      (await ctx.services.matches.get(teamScopeFor(ctx.auth, 'Query.match'), args.id)) ?? null,
    matchedSets: async (_: unknown, _args: unknown, ctx: GraphQLContext) => {
      const scope = teamScopeFor(ctx.auth, 'Query.matchedSets');
      return (await ctx.services.matches.matchedSets(scope)).map((s) => ({ ...s, teamId: scope.teamId }));
    },
    matchRules: (_: unknown, _args: unknown, ctx: GraphQLContext) =>
      ctx.services.matches.listRules(teamScopeFor(ctx.auth, 'Query.matchRules')),
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
    setDocumentLabel: (_: unknown, args: MutationSetDocumentLabelArgs, ctx: GraphQLContext) =>
      ctx.services.classification.setLabel(
        teamScopeFor(ctx.auth, 'Mutation.setDocumentLabel'),
        args.documentId,
        as<LabelKind>(args.kind),
        args.label ?? null,
      ),
    reclassifyDocuments: (_: unknown, _args: unknown, ctx: GraphQLContext) =>
      ctx.services.classification.reclassify(teamScopeFor(ctx.auth, 'Mutation.reclassifyDocuments')),
    addLabel: (_: unknown, args: MutationAddLabelArgs, ctx: GraphQLContext) =>
      ctx.services.classification.addLabel(
        teamScopeFor(ctx.auth, 'Mutation.addLabel'),
        as<LabelKind>(args.kind),
        args.name,
        args.description,
      ),
    removeLabel: (_: unknown, args: MutationRemoveLabelArgs, ctx: GraphQLContext) =>
      ctx.services.classification.removeLabel(teamScopeFor(ctx.auth, 'Mutation.removeLabel'), as<LabelKind>(args.kind), args.name),
    resolveMatch: (_: unknown, args: MutationResolveMatchArgs, ctx: GraphQLContext) =>
      ctx.services.matches.resolve(teamScopeFor(ctx.auth, 'Mutation.resolveMatch'), args.id, {
        decision: as<MatchDecision>(args.decision),
        baseVersion: args.baseVersion,
        canonicalDocumentId: args.canonicalDocumentId ?? null,
        note: args.note ?? null,
      }),
    createMatchRule: (_: unknown, args: MutationCreateMatchRuleArgs, ctx: GraphQLContext) =>
      ctx.services.matches.createRule(teamScopeFor(ctx.auth, 'Mutation.createMatchRule'), args.input),
    updateMatchRule: (_: unknown, args: MutationUpdateMatchRuleArgs, ctx: GraphQLContext) =>
      ctx.services.matches.updateRule(teamScopeFor(ctx.auth, 'Mutation.updateMatchRule'), args.id, args.input),
    deleteMatchRule: (_: unknown, args: MutationDeleteMatchRuleArgs, ctx: GraphQLContext) =>
      ctx.services.matches.deleteRule(teamScopeFor(ctx.auth, 'Mutation.deleteMatchRule'), args.id),
    applyAnnotationOperation: async (_: unknown, args: MutationApplyAnnotationOperationArgs, ctx: GraphQLContext) =>
      operation(
        await ctx.services.annotations.apply(teamScopeFor(ctx.auth, 'Mutation.applyAnnotationOperation'), args.documentId, args.op),
      ),
  },

  Subscription: {
    matchEvents: {
      subscribe: async function* (_: unknown, args: SubscriptionMatchEventsArgs, ctx: GraphQLContext) {
        const scope = teamScopeFor(ctx.auth, 'Subscription.matchEvents');
        if (args.documentId) await ctx.services.documents.mustGet(scope, args.documentId);
        const concerns = (m: Record<string, unknown>) =>
          !args.documentId || m.documentAId === args.documentId || m.documentBId === args.documentId;
        yield* follow(ctx, 'Subscription.matchEvents', (e) =>
          e.kind === 'match' && e.event.teamId === scope.teamId && concerns(e.event.match)
            ? { matchEvents: { action: e.event.action, match: e.event.match } }
            : undefined,
        );
      },
    },
    annotationEvents: {
      subscribe: async function* (_: unknown, args: SubscriptionAnnotationEventsArgs, ctx: GraphQLContext) {
        const scope = teamScopeFor(ctx.auth, 'Subscription.annotationEvents');
        if (args.documentId) await ctx.services.annotations.mustGetDocument(scope, args.documentId);
        yield* follow(ctx, 'Subscription.annotationEvents', (e) =>
          e.kind === 'annotation' && e.event.teamId === scope.teamId && (!args.documentId || e.event.documentId === args.documentId)
            ? { annotationEvents: operation(e.event) }
            : undefined,
        );
      },
    },
  },

  AnnotationKind: { HIGHLIGHT: 'highlight', BOX: 'box' },
  LabelKind: { TYPE: 'type', SENSITIVITY: 'sensitivity' },
  MatchKind: { DUPLICATE: 'duplicate', RELATED: 'related', RULE: 'rule' },
  MatchStatus: { OPEN: 'open', CONFIRMED: 'confirmed', REJECTED: 'rejected' },
  MatchDecision: { CONFIRM: 'confirm', REJECT: 'reject', REOPEN: 'reopen' },
  MatchComparison: { EQUALS: 'equals', AMOUNT_WITHIN: 'amount_within', DATE_WITHIN_DAYS: 'date_within_days' },

  Document: {
    annotations: (d: DocumentRecord, _: unknown, ctx: GraphQLContext) => ctx.services.annotations.list(scopeOf(d), d.id),
    type: (d: DocumentRecord) => effectiveLabels(d).type,
    sensitivity: (d: DocumentRecord) => effectiveLabels(d).sensitivity,
    typeOverride: (d: DocumentRecord) => d.labelOverrides.type ?? null,
    sensitivityOverride: (d: DocumentRecord) => d.labelOverrides.sensitivity ?? null,
  },

  Match: {
    documentA: (m: MatchRecord, _: unknown, ctx: GraphQLContext) => ctx.services.documents.get(scopeOf(m), m.documentAId),
    documentB: (m: MatchRecord, _: unknown, ctx: GraphQLContext) => ctx.services.documents.get(scopeOf(m), m.documentBId),
    rule: async (m: MatchRecord, _: unknown, ctx: GraphQLContext) =>
      m.ruleId ? ((await ctx.services.matches.listRules(scopeOf(m))).find((r) => r.id === m.ruleId) ?? null) : null,
  },

  MatchedSet: {
    documents: async (s: { teamId: string; documentIds: string[] }, _: unknown, ctx: GraphQLContext) =>
      (await Promise.all(s.documentIds.map((id) => ctx.services.documents.get(scopeOf(s), id)))).filter((d) => d !== undefined),
  },

  Annotation: {
    replies: (a: AnnotationRecord) => a.replies,
  },
};
