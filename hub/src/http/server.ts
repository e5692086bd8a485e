/**
 * The hub's one HTTP port: Express (upload, health, metrics, UI), Apollo Server at `/graphql`,
 * graphql-ws on the same path, and Socket.IO at `/socket.io`; every answer carries the
 * security headers (security-headers.ts). `/metrics` may have a port of its own instead.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import express, { type Request, type RequestHandler } from 'express';
import { expressMiddleware } from '@as-integrations/express5';
import { AuthenticationError } from '@quire/kernel';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { TEAM_HEADER, resolveRequestAuth, teamScopeFor, type RequestAuth } from '../auth/request-auth.ts';
import type { IntrospectionAccess } from '../config.ts';
import { createLoaders, type GraphQLContext } from '../graphql/context.ts';
import { buildSchema, startGraphQL, type GraphQLEndpoints } from '../graphql/server.ts';
import { attachCollab } from '../realtime/collab.ts';
import { startSocketServer } from '../realtime/socket.ts';
import type { LiveEvents } from '../services/live-events.ts';
import type { HubServices } from '../services/services.ts';
import { documentsRouter } from './documents.router.ts';
import { errorMiddleware } from './errors.ts';
import { healthRouter, type ReadinessCheck } from './health.router.ts';
import { securityHeaders, uiScriptHashes } from './security-headers.ts';

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
  /** Who may introspect the GraphQL schema. */
  introspection: IntrospectionAccess;
  /**
   * Where `/metrics` is served: on a port of its own (`port`, on `host`; the main port then
   * answers 404 there) or, with `port` null, on the main port; with `token`, only to
   * `Authorization: Bearer <token>`.
   */
  metricsEndpoint: { port: number | null; host: string; token: string | null };
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
  /** Where `/metrics` is served when it has a port of its own; null otherwise. */
  metricsUrl: string | null;
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

  app.use(securityHeaders(uiScriptHashes(deps.webDir, logger)));
  app.use((req, res, next) => {
    const requestId = (req.headers['x-request-id'] as string | undefined)?.slice(0, 100) || randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('x-request-id', requestId);
    next();
  });

  // Before callers are resolved: a metrics token is no account's token.
  const metrics = metricsHandler(deps.metrics, deps.metricsEndpoint.token);
  if (deps.metricsEndpoint.port === null) app.get('/metrics', metrics);
  else app.get('/metrics', (_req, res) => notFound(res));

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

  const graphql: GraphQLEndpoints = await startGraphQL({
    httpServer: server,
    schema: buildSchema(),
    limits: deps.graphqlLimits,
    introspection: deps.introspection,
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
    loaders: createLoaders(deps.services),
  });
  // First after the caller: the API's busiest path passes no other router on its way.
  app.use(
    '/graphql',
    express.json({ limit: deps.requestBodyMaxBytes }),
    expressMiddleware(graphql.apollo, { context: async ({ req }) => context(authOf(req)) }),
  );

  app.use(healthRouter({ checks: deps.readiness, isShuttingDown: () => shuttingDown }));
  app.use(
    documentsRouter({
      ingest: deps.services.ingest,
      documents: deps.services.documents,
      maxUploadBytes: deps.maxUploadBytes,
      scopeFor: (req, route) => teamScopeFor(authOf(req), route),
    }),
  );

  app.use(express.static(deps.webDir, { index: 'index.html', maxAge: '1h' }));
  // The UI routes on the client: unknown GET paths outside the API get its shell.
  app.get(/^\/(?!api\/|graphql|socket\.io).*/, (req, res, next) => {
    if (!req.accepts('html')) return next();
    res.sendFile('index.html', { root: deps.webDir }, (err) => err && next());
  });
  app.use((_req, res) => notFound(res));
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

  let metricsServer: HttpServer | null = null;
  const close = async () => {
    shuttingDown = true;
    if (metricsServer) await closeServer(metricsServer);
    collab.close();
    await sockets.close().catch((err) => logger.warn({ err }, 'socket.io close failed'));
    await graphql.close().catch((err) => logger.warn({ err }, 'graphql close failed'));
    await closeServer(server);
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(deps.port, deps.host, () => resolve());
    });
    const { port: metricsPort, host: metricsHost } = deps.metricsEndpoint;
    if (metricsPort !== null)
      metricsServer = await listenMetrics({ port: metricsPort, host: metricsHost }, metrics, logger.child({ component: 'metrics' }));
  } catch (err) {
    // A port that is taken: what was started here is stopped, so the caller's shutdown has nothing left behind.
    await close().catch((closeErr: unknown) => logger.warn({ err: closeErr }, 'closing after a failed start failed'));
    throw err;
  }
  const metricsUrl = metricsServer && urlOf(metricsServer, deps.metricsEndpoint.host, '/metrics');
  if (metricsUrl) logger.info({ url: metricsUrl }, 'metrics served on a port of their own');
  return { server, url: urlOf(server, deps.host), metricsUrl, close };
}

/** Ends a server's connections and waits until it no longer listens. */
async function closeServer(server: HttpServer): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
}

/** The address a listening server is reached at. */
function urlOf(server: HttpServer, host: string, path = ''): string {
  const { port } = server.address() as AddressInfo;
  const name = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${name}:${port}${path}`;
}

function notFound(res: express.Response): void {
  res.status(404).json({ error: { code: 'NOT_FOUND', message: 'No such route', requestId: res.locals.requestId } });
}

/** `GET /metrics`: the Prometheus registry, to anyone, or with `token` only to `Authorization: Bearer <token>`. */
function metricsHandler(registry: Registry, token: string | null): RequestHandler {
  // Compared as digests, in constant time, so neither the length nor a prefix leaks.
  const expected = token === null ? null : createHash('sha256').update(token).digest();
  return async (req, res, next) => {
    try {
      if (expected) {
        const sent = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
        if (!timingSafeEqual(createHash('sha256').update(sent).digest(), expected)) {
          next(new AuthenticationError('Send the metrics token as Authorization: Bearer <token>'));
          return;
        }
      }
      res.setHeader('Content-Type', registry.contentType);
      res.send(await registry.metrics());
    } catch (err) {
      next(err);
    }
  };
}

/** A server of its own for `/metrics` (everything else answers 404). */
async function listenMetrics(endpoint: { port: number; host: string }, metrics: RequestHandler, logger: Logger): Promise<HttpServer> {
  const app = express();
  app.disable('x-powered-by');
  app.use(securityHeaders([]));
  app.get('/metrics', metrics);
  app.use((_req, res) => notFound(res));
  app.use(errorMiddleware(logger));
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(endpoint.port, endpoint.host, () => resolve());
  });
  return server;
}

/** The first value of a header that may repeat. */
function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** A connection parameter, when it is a string. */
function stringParam(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
