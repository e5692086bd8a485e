/**
 * The hub's one HTTP port: Express (upload, health, metrics), Apollo Server at `/graphql`,
 * graphql-ws on the same path, and Socket.IO at `/socket.io`.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import express, { type Request } from 'express';
import { expressMiddleware } from '@as-integrations/express5';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { TEAM_HEADER, resolveRequestAuth, teamScopeFor, type RequestAuth } from '../auth/request-auth.ts';
import type { GraphQLContext } from '../graphql/context.ts';
import { buildSchema, startGraphQL, type GraphQLEndpoints } from '../graphql/server.ts';
import { attachCollab } from '../realtime/collab.ts';
import { startSocketServer } from '../realtime/socket.ts';
import type { LiveEvents } from '../services/live-events.ts';
import type { HubServices } from '../services/services.ts';
import { documentsRouter } from './documents.router.ts';
import { errorMiddleware } from './errors.ts';
import { healthRouter, type ReadinessCheck } from './health.router.ts';

export interface HttpDeps {
  host: string;
  port: number;
  /** Express's `trust proxy`: which proxies may name the client's address. */
  trustProxy: boolean | number | string;
  maxUploadBytes: number;
  /** Largest GraphQL body, graphql-ws message and Socket.IO message. */
  requestBodyMaxBytes: number;
  /** The most nested and the most costly GraphQL operation accepted. */
  graphqlLimits: { maxDepth: number; maxCost: number };
  services: HubServices;
  events: LiveEvents;
  readiness: ReadinessCheck[];
  /** Built UI served at `/`. */
  webDir: string;
  metrics: Registry;
  logger: Logger;
}

export interface HttpHandle {
  server: HttpServer;
  url: string;
  /** Stops accepting connections, drains GraphQL and sockets, then closes the port. */
  close(): Promise<void>;
}

export async function startHttp(deps: HttpDeps): Promise<HttpHandle> {
  const { logger } = deps;
  let shuttingDown = false;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.trustProxy);
  const server = createServer(app);

  app.use((req, res, next) => {
    const requestId = (req.headers['x-request-id'] as string | undefined)?.slice(0, 100) || randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('x-request-id', requestId);
    next();
  });

  type Resolved = Request & { auth: RequestAuth };
  const authOf = (req: Request) => (req as Resolved).auth;
  app.use(async (req, _res, next) => {
    try {
      // The caller is worked out for every request; each route asks the policy what it may do.
      (req as Resolved).auth = await resolveRequestAuth(deps.services.auth, {
        authorization: req.headers.authorization,
        team: header(req.headers[TEAM_HEADER]),
        ip: req.ip,
        userAgent: req.headers['user-agent'],
      });
      next();
    } catch (err) {
      next(err);
    }
  });

  app.use(healthRouter({ checks: deps.readiness, isShuttingDown: () => shuttingDown }));
  app.get('/metrics', async (_req, res) => {
    res.setHeader('content-type', deps.metrics.contentType);
    res.send(await deps.metrics.metrics());
  });
  app.use(
    documentsRouter({
      ingest: deps.services.ingest,
      documents: deps.services.documents,
      maxUploadBytes: deps.maxUploadBytes,
      scopeFor: (req, route) => teamScopeFor(authOf(req), route),
    }),
  );

  const graphql: GraphQLEndpoints = await startGraphQL({
    httpServer: server,
    schema: buildSchema(),
    limits: deps.graphqlLimits,
    maxMessageBytes: deps.requestBodyMaxBytes,
    contextForSocket: async (params, address) =>
      context(
        await resolveRequestAuth(deps.services.auth, {
          authorization: stringParam(params?.authorization) ?? stringParam(params?.token),
          team: stringParam(params?.team),
          ip: address,
        }),
      ),
    logger: logger.child({ component: 'graphql' }),
  });
  const context = (auth: RequestAuth): GraphQLContext => ({
    auth,
    services: deps.services,
    events: deps.events,
  });
  app.use(
    '/graphql',
    express.json({ limit: deps.requestBodyMaxBytes }),
    expressMiddleware(graphql.apollo, { context: async ({ req }) => context(authOf(req)) }),
  );

  app.use(express.static(deps.webDir, { index: 'index.html', maxAge: '1h' }));
  // The UI routes on the client: unknown GET paths outside the API get its shell.
  app.get(/^\/(?!api\/|graphql|socket\.io).*/, (req, res, next) => {
    if (!req.accepts('html')) return next();
    res.sendFile('index.html', { root: deps.webDir }, (err) => err && next());
  });
  app.use((_req, res) => {
    res.status(404).json({ error: { code: 'NOT_FOUND', message: 'No such route', requestId: res.locals.requestId } });
  });
  app.use(errorMiddleware(logger.child({ component: 'http' })));

  const authForHandshake = (auth: Record<string, unknown>, address: string) =>
    resolveRequestAuth(deps.services.auth, {
      authorization: stringParam(auth.token) ?? stringParam(auth.authorization),
      team: stringParam(auth.team),
      ip: address,
    });
  const sockets = startSocketServer({
    httpServer: server,
    events: deps.events,
    documents: deps.services.documents,
    accounts: deps.services.auth,
    maxMessageBytes: deps.requestBodyMaxBytes,
    authForHandshake,
    logger: logger.child({ component: 'socket.io' }),
  });
  const collab = attachCollab(sockets.io, {
    events: deps.events,
    annotations: deps.services.annotations,
    presence: deps.services.presence,
    accounts: deps.services.auth,
    authForHandshake,
    logger: logger.child({ component: 'collab' }),
  });

  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/graphql') return;
    graphql.wss.handleUpgrade(req, socket, head, (ws) => graphql.wss.emit('connection', ws, req));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(deps.port, deps.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = deps.host === '0.0.0.0' || deps.host === '::' ? 'localhost' : deps.host;
  return {
    server,
    url: `http://${host}:${address.port}`,
    async close() {
      shuttingDown = true;
      collab.close();
      await sockets.close().catch((err) => logger.warn({ err }, 'socket.io close failed'));
      await graphql.close().catch((err) => logger.warn({ err }, 'graphql close failed'));
      server.closeAllConnections();
      await new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
    },
  };
}

/** The first value of a header that may repeat. */
function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** A connection parameter, when it is a string. */
function stringParam(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
