/**
 * The composition root: reads the configuration, builds the adapters it names, wires the
 * services and starts the roles. Nothing else constructs an adapter.
 */
import { Registry, collectDefaultMetrics } from 'prom-client';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { DEFAULT_OBJECT_TTL_MS, MemoryBus, consumeQueue, type Bus, type Subscription } from '@quire/bus';
import { Queues } from '@quire/kernel';
import { DEFAULT_DOCUMENT_TYPES, DEFAULT_SENSITIVITIES, ThreadedEmbedder, busOriginals, createClassifier } from '@quire/processors';
import { openBlobStore, openSearchIndex, openStore } from './adapters.ts';
import { loadAuthSecret } from './auth/secret.ts';
import { RateLimits } from './auth/rate-limits.ts';
import type { Config } from './config.ts';
import { startHttp, type HttpHandle } from './http/server.ts';
import { Shutdown } from './lifecycle/shutdown.ts';
import { AuthService } from './services/auth.service.ts';
import { DocumentLifecycle } from './services/document-lifecycle.ts';
import { DocumentService } from './services/document.service.ts';
import { IndexerService } from './services/indexer.service.ts';
import { IngestService } from './services/ingest.service.ts';
import { LiveEvents } from './services/live-events.ts';
import { JobDispatcher, blobOriginals } from './services/job-dispatcher.ts';
import { ProgressFollower } from './services/progress-follower.ts';
import { ResultsService } from './services/results.service.ts';
import { processNodeId, startProcessing } from './roles/processing.ts';
import { natsBus, obtainModels } from './roles/shared.ts';
import { openCoordination } from './roles/coordination.nats.ts';
import { SearchService } from './services/search.service.ts';
import type { HubServices } from './services/services.ts';
import { AnnotationService } from './services/annotation.service.ts';
import { ClassificationService } from './services/classification.service.ts';
import { DashboardService } from './services/dashboard.service.ts';
import { MatchService } from './services/match.service.ts';
import { PresenceService } from './services/presence.service.ts';
import type { Store, TeamScope } from './store/store.ts';

/**
 * The install's first team, owned by its first account; documents uploaded before accounts
 * existed belong to it. In-process callers such as `quire eval` act in it directly.
 */
export const DEFAULT_TEAM: TeamScope = Object.freeze({ teamId: 'default' });

/** The services a running Quire offers, for in-process callers such as `quire eval`. */
export interface QuireServices extends HubServices {
  events: LiveEvents;
}

export interface QuireHandle {
  /** Where HTTP, GraphQL and Socket.IO listen; null when started without HTTP. */
  url: string | null;
  http: HttpHandle | null;
  services: QuireServices;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Serve HTTP, GraphQL and Socket.IO (default true). Without, only the services and workers run. */
  http?: boolean;
  /**
   * `all` (default): the hub with a processing node in this process. `hub`: the hub alone;
   * processor nodes (`quire processor`) run the pipeline, on NATS.
   */
  role?: 'all' | 'hub';
}

/** Starts a hub: HTTP, GraphQL, Socket.IO, results of processing, and (role `all`) pipeline workers. */
export async function startQuire(config: Config, logger: Logger, options: StartOptions = {}): Promise<QuireHandle> {
  const role = options.role ?? 'all';
  if (role === 'hub' && config.bus.driver !== 'nats') {
    throw new Error('quire hub leaves processing to processor nodes on NATS: set BUS=nats and NATS_URL');
  }
  const shutdown = new Shutdown(logger.child({ component: 'lifecycle' }));
  try {
    await obtainModels(config, logger);
    // Queries are embedded off the main thread: a forward pass there would stall every socket.
    const embedder = await ThreadedEmbedder.start({ modelsDir: config.models.dir, modelId: config.models.embeddingModel });
    shutdown.add('query embedder', () => embedder.close(), 90);
    const model = { modelId: embedder.modelId, dimension: embedder.dimension };

    const store = await openStore(config, shutdown);
    const firstTeam = { id: DEFAULT_TEAM.teamId, name: 'Default team' };
    await store.ensureTeam(firstTeam);

    // Replicas on a shared store coordinate through NATS: rate limits, and who recovers.
    const coordination =
      config.store.driver === 'sqlite' ? null : await openCoordination(config, logger.child({ component: 'coordination' }));
    if (coordination) shutdown.add('coordination', () => coordination.close(), 85);
    const limits = new RateLimits(config.limits, coordination?.limiters);
    const auth = new AuthService({
      store,
      secret: await loadAuthSecret({ configured: config.auth.secret, dataDir: config.store.dataDir }),
      accessTtlMs: config.auth.accessTtlMs,
      refreshTtlMs: config.auth.refreshTtlMs,
      invitationTtlMs: config.auth.invitationTtlMs,
      openSignup: config.auth.openSignup,
      limits,
      firstTeam,
    });
    // Ended sessions and invitations are deleted at start-up and hourly after.
    const prune = () =>
      auth.prune().then(
        (pruned) => logger.debug(pruned, 'pruned ended sessions and invitations'),
        (err: unknown) => logger.warn({ err }, 'pruning sessions and invitations failed'),
      );
    await prune();
    const pruning = setInterval(prune, 3_600_000);
    pruning.unref();
    shutdown.add('session pruning', async () => clearInterval(pruning), 85);
    if (config.auth.admin) {
      const seeded = await auth.seedOwner(config.auth.admin.email, config.auth.admin.password);
      const messages = {
        created: 'created the owner account from QUIRE_ADMIN_EMAIL',
        exists: 'the owner account of QUIRE_ADMIN_EMAIL exists already; its password is left as it is',
        skipped: 'accounts exist already; QUIRE_ADMIN_EMAIL is not one of them and was not created',
      } as const;
      logger[seeded === 'skipped' ? 'warn' : 'info']({ seeded }, messages[seeded]);
    }

    const { index, indexReady } = await openSearchIndex(config, model, shutdown);

    const { blobs, blobsReady } = await openBlobStore(config, shutdown);

    const bus: Bus = config.bus.driver === 'nats' ? natsBus(config, 'quire-hub') : memoryBus(store);
    await bus.start();
    shutdown.add('bus', () => bus.close(), 80);

    const events = new LiveEvents({ bus, logger: logger.child({ component: 'events' }) });
    await events.start();
    shutdown.add('live events', () => events.close(), 70);

    // Dashboards tell processing nodes apart by it; one per process.
    const nodeId = processNodeId();

    const indexer = new IndexerService({ store, index, model });
    const lifecycle = new DocumentLifecycle({
      store,
      events,
      nodeId,
      logger: logger.child({ component: 'lifecycle' }),
    });
    const classification = new ClassificationService({
      store,
      index,
      classifier: createClassifier(embedder),
      defaults: { types: DEFAULT_DOCUMENT_TYPES, sensitivities: DEFAULT_SENSITIVITIES },
    });
    const jobs = new JobDispatcher({
      bus,
      blobs,
      classifierSettings: (scope) => classification.settings(scope),
      objectTtlMs: DEFAULT_OBJECT_TTL_MS,
    });
    const ingest = new IngestService({
      store,
      blobs,
      jobs,
      lifecycle,
      logger: logger.child({ component: 'ingest' }),
      maxUploadBytes: config.limits.uploadMaxBytes,
      limits,
    });
    const documents = new DocumentService({ store, blobs, indexer, jobs, lifecycle });
    const search = new SearchService({ index, embedder, store });
    const matches = new MatchService({
      store,
      index,
      events,
      typeNames: async (scope) => (await classification.labelSet(scope)).types.map((t) => t.name),
    });
    const annotations = new AnnotationService({
      store,
      events,
      labels: (scope) => classification.labelNames(scope),
      onPublishFailed: (err) => logger.warn({ err }, 'an accepted annotation operation was not published'),
    });
    const presence = new PresenceService({ events, hubId: randomUUID(), logger: logger.child({ component: 'presence' }) });
    presence.start();
    shutdown.add('presence', () => presence.close(), 65);
    const dashboard = new DashboardService({ store, events, bus });
    await dashboard.start();
    shutdown.add('dashboard', () => dashboard.close(), 65);
    const results = new ResultsService({
      store,
      bus,
      indexer,
      lifecycle,
      jobs,
      matches,
      logger: logger.child({ component: 'results' }),
    });
    const progress = new ProgressFollower({ store, events, lifecycle, logger: logger.child({ component: 'progress' }) });
    progress.start();
    shutdown.add('progress follower', async () => progress.close(), 65);

    let http: HttpHandle | null = null;
    if (options.http !== false) {
      const metrics = new Registry();
      collectDefaultMetrics({ register: metrics });
      http = await startHttp({
        host: config.http.host,
        port: config.http.port,
        trustProxy: config.http.trustProxy,
        maxUploadBytes: config.limits.uploadMaxBytes,
        requestBodyMaxBytes: config.limits.requestBodyMaxBytes,
        graphqlLimits: config.limits.graphql,
        introspection: config.graphql.introspection,
        metricsEndpoint: config.metrics,
        services: { ingest, documents, search, auth, annotations, presence, classification, matches, dashboard },
        events,
        readiness: [
          async () => ({
            name: 'store',
            ok: await store.ping().then(
              () => true,
              () => false,
            ),
            detail: config.store.driver,
          }),
          async () => ({ name: 'blobs', ok: await blobsReady(), detail: config.blobs.driver }),
          async () => ({ name: 'search', ok: await indexReady(), detail: config.search.driver }),
          async () => ({ name: 'bus', ok: bus.connected(), detail: config.bus.driver }),
        ],
        metrics,
        webDir: config.ui.dir,
        logger: logger.child({ component: 'http' }),
      });
      const served = http;
      shutdown.add('http', () => served.close(), 10);
    }

    const consumer: Subscription = await consumeQueue(bus, Queues.DocumentResult, results.handle, {
      concurrency: 2,
      maxAttempts: 5,
      // Applying a report takes well under a second a part and heartbeats at each; a hub that
      // died while applying one leaves it to another hub (or to itself, restarted) this soon.
      leaseMs: 20_000,
      onDeadLetter: results.onDeadLetter,
    });
    shutdown.add('results consumer', () => consumer.close(), 25);
    if (role === 'all') {
      await startProcessing(config, logger, {
        bus,
        // On NATS, nodes elsewhere may take the job too: the original travels through the bus.
        originals: jobs.sharesOriginals ? busOriginals(bus) : blobOriginals(blobs),
        roles: ['hub', 'processor'],
        shutdown,
      });
    }

    // Documents accepted before a crash whose job never reached the bus are queued again, by
    // one replica at a time: another that holds the lock is doing it.
    if (coordination) await coordination.exclusively('recovery', () => ingest.recoverUnfinished());
    else await ingest.recoverUnfinished();

    const url = http?.url ?? null;
    logger.info(
      { url, role, bus: config.bus.driver, model: model.modelId },
      url ? `Quire is running at ${url}` : 'Quire is running without HTTP',
    );
    return {
      url,
      http,
      services: { auth, ingest, documents, search, annotations, presence, classification, matches, dashboard, events },
      close: () => shutdown.run(),
    };
  } catch (err) {
    await shutdown.run();
    throw err;
  }
}

/** The in-process bus, durable in the store's own database (configuration allows it with SQLite only). */
function memoryBus(store: Store): MemoryBus {
  if (!store.jobStorage) throw new Error('BUS=memory needs a store that keeps its jobs (STORE=sqlite)');
  return new MemoryBus({ storage: store.jobStorage });
}
