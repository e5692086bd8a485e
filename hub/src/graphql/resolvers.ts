/**
 * GraphQL resolvers: thin translations between the schema and the services. Every resolver
 * takes its team scope from the context; nothing here decides business rules.
 */
import { GraphQLScalarType, Kind } from 'graphql';
import type {
  DocumentFilter as GqlDocumentFilter,
  MutationDeleteDocumentArgs,
  MutationReprocessDocumentArgs,
  QueryDocumentArgs,
  QueryDocumentsArgs,
  QueryJobArgs,
  QuerySearchArgs,
  SearchFilter as GqlSearchFilter,
  SubscriptionDocumentEventsArgs,
  SubscriptionJobProgressArgs,
} from '@quire/graphql';
import { NotFoundError, ValidationError, type DocumentStatus } from '@quire/processors';
import { SearchMode, type SearchFilter, type SearchHit } from '@quire/search';
import type { DocumentFilter, DocumentRecord, JobRecord } from '../store/store.ts';
import type { LiveEvent } from '../services/live-events.ts';
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

const isTerminal = (status: string) => status === 'succeeded' || status === 'failed';

export const resolvers = {
  DateTime,

  Query: {
    document: (_: unknown, args: QueryDocumentArgs, ctx: GraphQLContext) => ctx.services.documents.get(ctx.scope, args.id),
    documents: async (_: unknown, args: QueryDocumentsArgs, ctx: GraphQLContext) => {
      const page = await ctx.services.documents.list(ctx.scope, {
        filter: documentFilter(args.filter),
        first: args.first ?? 20,
        after: args.after ?? null,
      });
      return {
        nodes: page.edges.map((e) => e.node),
        edges: page.edges,
        pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage },
        totalCount: page.totalCount,
      };
    },
    job: (_: unknown, args: QueryJobArgs, ctx: GraphQLContext) => ctx.services.documents.job(ctx.scope, args.id),
    search: (_: unknown, args: QuerySearchArgs, ctx: GraphQLContext) =>
      ctx.services.search.search(ctx.scope, {
        query: args.query,
        mode: (args.mode ?? 'HYBRID').toLowerCase() as SearchMode,
        filter: searchFilter(args.filter),
        first: args.first ?? 10,
      }),
  },

  Mutation: {
    reprocessDocument: (_: unknown, args: MutationReprocessDocumentArgs, ctx: GraphQLContext) =>
      ctx.services.documents.reprocess(ctx.scope, args.id),
    deleteDocument: (_: unknown, args: MutationDeleteDocumentArgs, ctx: GraphQLContext) =>
      ctx.services.documents.delete(ctx.scope, args.id),
  },

  Subscription: {
    jobProgress: {
      subscribe: async function* (_: unknown, args: SubscriptionJobProgressArgs, ctx: GraphQLContext) {
        const controller = new AbortController();
        // Listen before reading the current state so that no update falls in between.
        const live = ctx.events.stream(
          (e) => e.kind === 'progress' && e.event.jobId === args.jobId && e.event.teamId === ctx.scope.teamId,
          controller.signal,
        );
        try {
          const job = await ctx.services.documents.job(ctx.scope, args.jobId);
          if (!job) throw new NotFoundError(`Job ${args.jobId} not found`);
          yield { jobProgress: progressFromJob(job) };
          if (isTerminal(job.status)) return;
          for await (const e of live) {
            if (e.kind !== 'progress') continue;
            const terminal = e.event.stage === 'done' || e.event.stage === 'failed';
            const current = terminal ? await ctx.services.documents.job(ctx.scope, args.jobId) : undefined;
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
        const controller = new AbortController();
        const matches = (e: LiveEvent) =>
          e.kind === 'document' && e.event.teamId === ctx.scope.teamId && (!args.documentId || e.event.documentId === args.documentId);
        try {
          if (args.documentId) {
            // A late subscriber to one document first receives its current state.
            const doc = await ctx.services.documents.get(ctx.scope, args.documentId);
            if (doc)
              yield {
                documentEvents: { documentId: doc.id, jobId: doc.jobId, status: upper(doc.status), error: doc.error, at: doc.updatedAt },
              };
          }
          for await (const e of ctx.events.stream(matches, controller.signal)) {
            if (e.kind !== 'document') continue;
            yield { documentEvents: { ...e.event, status: upper(e.event.status) } };
          }
        } finally {
          controller.abort();
        }
      },
    },
  },

  Document: {
    status: (d: DocumentRecord) => upper(d.status),
    job: (d: DocumentRecord, _: unknown, ctx: GraphQLContext) => ctx.services.documents.job(ctx.scope, d.jobId),
    pages: async (d: DocumentRecord, _: unknown, ctx: GraphQLContext) =>
      (await ctx.services.documents.pages(ctx.scope, d.id)).map((p) => ({ ...p, number: p.page })),
    chunks: (d: DocumentRecord, _: unknown, ctx: GraphQLContext) => ctx.services.documents.chunks(ctx.scope, d.id),
    text: async (d: DocumentRecord, _: unknown, ctx: GraphQLContext) =>
      (await ctx.services.documents.pages(ctx.scope, d.id)).map((p) => p.text).join('\f'),
  },

  Job: {
    status: (j: JobRecord) => upper(j.status),
  },

  DocumentEvent: {
    document: (e: { documentId: string; status: string }, _: unknown, ctx: GraphQLContext) =>
      e.status === 'DELETED' ? null : ctx.services.documents.get(ctx.scope, e.documentId),
  },

  SearchHit: {
    document: (h: SearchHit, _: unknown, ctx: GraphQLContext) => ctx.services.documents.mustGet(ctx.scope, h.documentId),
    chunkOrdinal: (h: SearchHit) => h.ordinal,
  },
};
