/**
 * GraphQL over HTTP (Apollo Server) and over WebSocket (graphql-ws) on the same path, with one
 * error translation: an AppError's `code` becomes `extensions.code`; unexposed errors become
 * `INTERNAL` with a generic message. Both check every operation the same way before it runs:
 * who may introspect (GRAPHQL_INTROSPECTION), then the depth, alias and cost limits.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { GraphQLError, parse, validate, type DocumentNode, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Logger } from 'pino';
import { typeDefs } from '@quire/graphql';
import { AppError, RateLimitedError } from '@quire/kernel';
import { accountResolvers } from './accounts.resolvers.ts';
import { collabResolvers } from './collab.resolvers.ts';
import { dashboardResolvers } from './dashboard.resolvers.ts';
import type { IntrospectionAccess } from '../config.ts';
import { compiledExecution } from './compiled-execution.ts';
import { checkOperationLimitsCached, type OperationLimits } from './limits.ts';
import { resolvers } from './resolvers.ts';
import type { GraphQLContext } from './context.ts';

export function buildSchema(): GraphQLSchema {
  return makeExecutableSchema({ typeDefs, resolvers: [resolvers, accountResolvers, collabResolvers, dashboardResolvers] });
}

/** Translates any error raised while executing an operation into its public shape. */
export function formatError(formatted: GraphQLFormattedError, error: unknown, logger: Logger): GraphQLFormattedError {
  let original = unwrapResolverError(error);
  // graphql-ws wraps what a subscription's stream throws in a GraphQLError without a path,
  // which unwrapResolverError leaves as it is: a refused subscription keeps its code too.
  if (original instanceof GraphQLError && original.originalError instanceof AppError) original = original.originalError;
  if (original instanceof AppError) {
    return {
      ...formatted,
      message: original.expose ? original.message : 'Internal server error',
      extensions: {
        ...formatted.extensions,
        code: original.expose ? original.code : 'INTERNAL',
        ...(original.details ? { details: original.details } : {}),
      },
    };
  }
  if (original instanceof GraphQLError || formatted.extensions?.code !== 'INTERNAL_SERVER_ERROR') return formatted;
  logger.error({ err: original }, 'GraphQL operation failed');
  return { message: 'Internal server error', locations: formatted.locations, path: formatted.path, extensions: { code: 'INTERNAL' } };
}

export interface GraphQLEndpoints {
  apollo: ApolloServer<GraphQLContext>;
  wss: WebSocketServer;
  close(): Promise<void>;
}

export async function startGraphQL(deps: {
  httpServer: HttpServer;
  schema: GraphQLSchema;
  /** Depth and cost limits of one operation. */
  limits: OperationLimits;
  /** Who may introspect the schema. */
  introspection: IntrospectionAccess;
  /** Largest graphql-ws message, bytes; a larger one closes the connection (1009). */
  maxMessageBytes: number;
  /** The context of a graphql-ws operation, from the connection's parameters and address. */
  contextForSocket: (connectionParams: Record<string, unknown> | undefined, address: string | undefined) => Promise<GraphQLContext>;
  logger: Logger;
}): Promise<GraphQLEndpoints> {
  const { logger } = deps;
  const checkOperationLimits = checkOperationLimitsCached(deps.limits);
  // Upgrades are routed by path in the HTTP layer; this server takes only `/graphql`.
  const wss = new WebSocketServer({ noServer: true, maxPayload: deps.maxMessageBytes });
  const wsServer = useServer(
    {
      schema: deps.schema,
      // Parsed and validated here rather than by graphql-ws, so that the limits apply too.
      onSubscribe: async (ctx, _id, payload) => {
        let document: DocumentNode;
        try {
          document = parse(payload.query);
        } catch (err) {
          return [err instanceof GraphQLError ? err : new GraphQLError(String(err))];
        }
        const invalid = validate(deps.schema, document);
        if (invalid.length) return [...invalid];
        const contextValue = await deps.contextForSocket(
          ctx.connectionParams as Record<string, unknown> | undefined,
          (ctx.extra as { request?: IncomingMessage }).request?.socket.remoteAddress,
        );
        const refused = checkOperationLimits(
          { schema: deps.schema, document, operationName: payload.operationName, variables: payload.variables },
          { access: deps.introspection, authenticated: contextValue.auth.principal !== null },
        );
        if (refused.length) return refused;
        return { schema: deps.schema, document, operationName: payload.operationName, variableValues: payload.variables, contextValue };
      },
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors ? { ...result, errors: result.errors.map((e) => formatError(e.toJSON(), e, logger)) } : result,
      onError: (_ctx, _id, _payload, errors) => errors.map((e) => formatError(e.toJSON(), e, logger)),
    },
    wss,
  );
  const apollo = new ApolloServer<GraphQLContext>({
    gateway: compiledExecution(deps.schema),
    // Compact JSON: Apollo's default indents every response.
    stringifyResult: (result) => JSON.stringify(result),
    formatError: (formatted, error) => formatError(formatted, error, logger),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer: deps.httpServer }),
      // No HTTP caching hints are given; without this default plugin no resolver is wrapped.
      ApolloServerPluginCacheControlDisabled(),
      // Apollo's landing page loads Apollo Sandbox from a CDN, which the hub's CSP forbids.
      ApolloServerPluginLandingPageDisabled(),
      {
        async requestDidStart() {
          return {
            async didResolveOperation({ request, document, schema, contextValue }) {
              const [refused] = checkOperationLimits(
                { schema, document, operationName: request.operationName, variables: request.variables },
                { access: deps.introspection, authenticated: contextValue.auth.principal !== null },
              );
              if (refused) throw refused;
            },
            // A rate-limited operation (a sign-in) answers 429 with Retry-After, as over plain HTTP.
            async willSendResponse({ errors, response }) {
              const limited = errors?.map((e) => unwrapResolverError(e)).find((e) => e instanceof RateLimitedError);
              if (!limited) return;
              response.http.status = 429;
              response.http.headers.set('retry-after', String(limited.retryAfterSeconds));
            },
          };
        },
      },
      // Stopping Apollo disposes of the WebSocket server once, with the HTTP drain.
      {
        async serverWillStart() {
          return {
            async drainServer() {
              await wsServer.dispose();
            },
          };
        },
      },
    ],
    // Apollo lets introspection through; checkOperationLimits decides, per caller, over HTTP and graphql-ws alike.
    introspection: true,
    // Errors say what went wrong by code and message; server stack traces stay in the log.
    includeStacktraceInErrorResponses: false,
    // The process's own shutdown (lifecycle/shutdown.ts) decides the order on SIGINT/SIGTERM.
    stopOnTerminationSignals: false,
  });
  await apollo.start();
  return {
    apollo,
    wss,
    async close() {
      await apollo.stop();
      wss.close();
    },
  };
}
