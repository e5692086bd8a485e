/**
 * GraphQL resolvers: thin translations between the schema and the services. Every root field
 * takes its team scope from the policy (`teamScopeFor` with its entry point); fields below the
 * root read within the team of the record they belong to. Ids of another team are not found,
 * exactly like ids that do not exist. Nothing here decides business rules.
 */
import { GraphQLScalarType, Kind } from 'graphql';
import type {
  DocumentFilter as GqlDocumentFilter,
  MutationDeleteDocumentArgs,
  MutationReprocessDocumentArgs,
  QueryDocumentArgs,
  QueryDocumentsArgs,
  QueryJobArgs,
  QueryMoreLikeThisArgs,
  QuerySearchDocumentsArgs,
  QuerySearchArgs,
  SearchFilter as GqlSearchFilter,
  SubscriptionDocumentEventsArgs,
  SubscriptionJobProgressArgs,
} from '@quire/graphql';
import { NotFoundError, ValidationError, type DocumentStatus } from '@quire/kernel';
import { SearchMode, type SearchFilter, type SearchHit } from '@quire/search';
import { currentTeamScopeFor, teamScopeFor } from '../auth/request-auth.ts';
import { DocumentOrder, type DocumentFilter, type DocumentRecord, type JobRecord, type TeamScope } from '../store/store.ts';
import { sanitizeFilename } from '../services/ingest.service.ts';
import type { LiveEvent } from '../services/live-events.ts';
import type { SearchInput } from '../services/search.service.ts';
import type { GraphQLContext } from './context.ts';

const upper = (s: string) => s.toUpperCase();

const DateTime = new GraphQLScalarType({
  name: 'DateTime',
  description: 'An ISO-8601 date-time string (epoch milliseconds are accepted as input).',
  serialize: (v) => new Date(v as number | string).toISOString(),
  parseValue: (v) => parseDate(v),
  parseLiteral: (ast) =>
    ast.kind === Kind.STRING || ast.kind === Kind.INT ? parseDate(ast.kind === Kind.INT ? Number(ast.value) : ast.value) : undefined,
});

function parseDate(v: unknown): number {
  const t = typeof v === 'number' ? v : Date.parse(String(v));
  if (!Number.isFinite(t)) throw new ValidationError(`Invalid DateTime ${JSON.stringify(v)}`, { code: 'BAD_DATETIME' });
  return t;
}

function documentFilter(f: GqlDocumentFilter | null | undefined): DocumentFilter | undefined {
  if (!f) return undefined;
  return {
    statuses: f.statuses?.map((s) => s.toLowerCase() as DocumentStatus),
    types: f.types ?? undefined,
    sensitivities: f.sensitivities ?? undefined,
    createdFrom: (f.createdFrom as unknown as number | null) ?? undefined,
    createdTo: (f.createdTo as unknown as number | null) ?? undefined,
  };
}

function searchFilter(f: GqlSearchFilter | null | undefined): SearchFilter | undefined {
  if (!f) return undefined;
  return {
    types: f.types ?? undefined,
    sensitivities: f.sensitivities ?? undefined,
    createdFrom: (f.createdFrom as unknown as number | null) ?? undefined,
    createdTo: (f.createdTo as unknown as number | null) ?? undefined,
    documentIds: f.documentIds ?? undefined,
  };
}

function progressFromJob(job: JobRecord) {
  return {
    jobId: job.id,
    documentId: job.documentId,
    stage: job.stage ?? (job.status === 'queued' ? 'queued' : 'starting'),
    done: job.done,
    total: job.total,
    percent: job.percent,
    etaMs: job.etaMs,
    at: job.updatedAt,
    status: upper(job.status),
    error: job.error,
  };
}

/** The team a record belongs to: fields below an authorized root read only within it. */
const scopeOf = (record: { teamId: string }): TeamScope => ({ teamId: record.teamId });

/** The search service's request from a search field's arguments. */
function searchInput(args: QuerySearchArgs): SearchInput {
  return {
    query: args.query,
    mode: (args.mode ?? 'HYBRID').toLowerCase() as SearchMode,
    filter: searchFilter(args.filter),
    first: args.first ?? 10,
  };
}

/** A search hit and the team scope it was found in. */
type ScopedHit = SearchHit & { scope: TeamScope };

const isTerminal = (status: string) => status === 'succeeded' || status === 'failed';

export const resolvers = {
  DateTime,

  Query: {
    document: (_: unknown, args: QueryDocumentArgs, ctx: GraphQLContext) =>
      ctx.services.documents.get(teamScopeFor(ctx.auth, 'Query.document'), args.id),
    documents: async (_: unknown, args: QueryDocumentsArgs, ctx: GraphQLContext) => {
      const scope = teamScopeFor(ctx.auth, 'Query.documents');
      const filter = documentFilter(args.filter);
      const page = await ctx.services.documents.list(scope, {
        filter,
        // The DocumentOrder resolver below maps the schema's values to the store's.
        orderBy: (args.orderBy ?? undefined) as unknown as DocumentOrder | undefined,
        first: args.first ?? 20,
        after: args.after ?? null,
      });
      return {
        nodes: page.edges.map((e) => e.node),
        edges: page.edges,
        pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage },
        // Counted only when asked for (DocumentConnection.totalCount): a count visits every match, a page only its own rows.
        count: () => ctx.services.documents.count(scope, filter),
      };
    },
    job: (_: unknown, args: QueryJobArgs, ctx: GraphQLContext) => ctx.services.documents.job(teamScopeFor(ctx.auth, 'Query.job'), args.id),
    search: async (_: unknown, args: QuerySearchArgs, ctx: GraphQLContext): Promise<ScopedHit[]> => {
      const scope = teamScopeFor(ctx.auth, 'Query.search');
      const hits = await ctx.services.search.search(scope, searchInput(args));
      return hits.map((h) => ({ ...h, scope }));
    },
    searchDocuments: async (_: unknown, args: QuerySearchDocumentsArgs, ctx: GraphQLContext) => {
      const scope = teamScopeFor(ctx.auth, 'Query.searchDocuments');
      const found = await ctx.services.search.searchDocuments(scope, { ...searchInput(args), passages: args.passages ?? 3 });
      return {
        facets: found.facets,
        documents: found.documents.map((d) => ({ ...d, scope, passages: d.passages.map((h) => ({ ...h, scope })) })),
      };
    },
    moreLikeThis: async (_: unknown, args: QueryMoreLikeThisArgs, ctx: GraphQLContext): Promise<ScopedHit[]> => {
      const scope = teamScopeFor(ctx.auth, 'Query.moreLikeThis');
      const hits = await ctx.services.search.moreLikeThis(scope, args.documentId, { first: args.first ?? 10 });
      return hits.map((h) => ({ ...h, scope }));
    },
  },

  Mutation: {
    reprocessDocument: (_: unknown, args: MutationReprocessDocumentArgs, ctx: GraphQLContext) =>
      ctx.services.documents.reprocess(teamScopeFor(ctx.auth, 'Mutation.reprocessDocument'), args.id),
    deleteDocument: (_: unknown, args: MutationDeleteDocumentArgs, ctx: GraphQLContext) =>
      ctx.services.documents.delete(teamScopeFor(ctx.auth, 'Mutation.deleteDocument'), args.id),
  },

  Subscription: {
    jobProgress: {
      subscribe: async function* (_: unknown, args: SubscriptionJobProgressArgs, ctx: GraphQLContext) {
        // Checked at subscribe time and again on every event, which is filtered by the subscriber's team.
        const scope = teamScopeFor(ctx.auth, 'Subscription.jobProgress');
        const controller = new AbortController();
        // Listen before reading the current state so that no update falls in between.
        const live = ctx.events.stream(
          (e) => e.kind === 'progress' && e.event.jobId === args.jobId && e.event.teamId === scope.teamId,
          controller.signal,
        );
        try {
          const job = await ctx.services.documents.job(scope, args.jobId);
          if (!job) throw new NotFoundError(`Job ${args.jobId} not found`);
          yield { jobProgress: progressFromJob(job) };
          if (isTerminal(job.status)) return;
          for await (const e of live) {
            if (e.kind !== 'progress') continue;
            // Access is read again for every event: a subscriber who lost it gets the refusal.
            await currentTeamScopeFor(ctx.auth, 'Subscription.jobProgress', ctx.services.auth);
            const terminal = e.event.stage === 'done' || e.event.stage === 'failed';
            const current = terminal ? await ctx.services.documents.job(scope, args.jobId) : undefined;
            yield {
              jobProgress: {
                ...e.event,
                status: current ? upper(current.status) : 'RUNNING',
                error: current?.error ?? null,
              },
            };
            if (terminal) return;
          }
        } finally {
          controller.abort();
        }
      },
    },
    documentEvents: {
      subscribe: async function* (_: unknown, args: SubscriptionDocumentEventsArgs, ctx: GraphQLContext) {
        const scope = teamScopeFor(ctx.auth, 'Subscription.documentEvents');
        const controller = new AbortController();
        const matches = (e: LiveEvent) =>
          e.kind === 'document' && e.event.teamId === scope.teamId && (!args.documentId || e.event.documentId === args.documentId);
        try {
          if (args.documentId) {
            // A late subscriber to one document first receives its current state.
            const doc = await ctx.services.documents.get(scope, args.documentId);
            if (doc)
              yield {
                documentEvents: {
                  teamId: doc.teamId,
                  documentId: doc.id,
                  jobId: doc.jobId,
                  status: upper(doc.status),
                  error: doc.error,
                  at: doc.updatedAt,
                },
              };
          }
          for await (const e of ctx.events.stream(matches, controller.signal)) {
            if (e.kind !== 'document') continue;
            await currentTeamScopeFor(ctx.auth, 'Subscription.documentEvents', ctx.services.auth);
            yield { documentEvents: { ...e.event, status: upper(e.event.status) } };
          }
        } finally {
          controller.abort();
        }
      },
    },
  },

  Document: {
    // Names stored before uploads were cleaned may still hold control or bidirectional
    // characters; every reader gets the clean name, as the file route sends it.
    filename: (d: DocumentRecord) => sanitizeFilename(d.filename),
    status: (d: DocumentRecord) => upper(d.status),
    job: (d: DocumentRecord, _: unknown, ctx: GraphQLContext) => ctx.loaders.job.load({ scope: scopeOf(d), id: d.jobId }),
    pages: async (d: DocumentRecord, _: unknown, ctx: GraphQLContext) =>
      (await ctx.services.documents.pages(scopeOf(d), d.id)).map((p) => ({ ...p, number: p.page })),
    chunks: (d: DocumentRecord, _: unknown, ctx: GraphQLContext) => ctx.services.documents.chunks(scopeOf(d), d.id),
    text: async (d: DocumentRecord, _: unknown, ctx: GraphQLContext) =>
      (await ctx.services.documents.pages(scopeOf(d), d.id)).map((p) => p.text).join('\f'),
  },

  Job: {
    status: (j: JobRecord) => upper(j.status),
  },

  DocumentConnection: {
    totalCount: (c: { count: () => Promise<number> }) => c.count(),
  },

  DocumentOrder: {
    NEWEST: DocumentOrder.Newest,
    OLDEST: DocumentOrder.Oldest,
    NAME: DocumentOrder.Name,
    NAME_DESC: DocumentOrder.NameDesc,
    LARGEST: DocumentOrder.Largest,
    SMALLEST: DocumentOrder.Smallest,
  },

  DocumentEvent: {
    document: (e: { teamId: string; documentId: string; status: string }, _: unknown, ctx: GraphQLContext) =>
      e.status === 'DELETED' ? null : ctx.services.documents.get(scopeOf(e), e.documentId),
  },

  SearchHit: {
    document: (h: ScopedHit, _: unknown, ctx: GraphQLContext) => ctx.services.documents.mustGet(h.scope, h.documentId),
    chunkOrdinal: (h: SearchHit) => h.ordinal,
  },
  DocumentHit: {
    document: (d: { documentId: string; scope: TeamScope }, _: unknown, ctx: GraphQLContext) =>
      ctx.services.documents.mustGet(d.scope, d.documentId),
  },
};
