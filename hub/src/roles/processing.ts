/**
 * The processing half of the composition root: a pool of pipeline processes, the node that
 * feeds it jobs from the bus, and its announcement. `quire processor` runs only this, on NATS,
 * reading originals from the bus; `quire all` runs it inside the hub, on the same bus as the
 * hub, reading originals from the hub's blob store. Imports nothing of the hub's store, index
 * or HTTP: a processor process loads no SQLite.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Bus } from '@quire/bus';
import { NodeAnnouncer, ProcessorNode, ProcessorPool, busOriginals, type OriginalSource } from '@quire/processors';
import type { Config } from '../config.ts';
import { Shutdown } from '../lifecycle/shutdown.ts';
import { natsBus, obtainModels } from './shared.ts';

/** Wait before delivery n+1 of a failed job: the base doubled per attempt, at most 5 minutes. */
export function retryBackoff(config: Config): (attempt: number) => number {
  return (attempt) => Math.min(config.processing.retryBaseMs * 2 ** (attempt - 1), 5 * 60_000);
}

/** This process's id as a processing node (`hostname:pid`), as dashboards tell nodes apart. */
export function processNodeId(): string {
  return `${hostname()}:${process.pid}`;
}

/** Starts pipeline processes and a node consuming `document.process` on `bus`; steps go on `shutdown`. */
export async function startProcessing(
  config: Config,
  logger: Logger,
  options: { bus: Bus; originals: OriginalSource; roles: readonly string[]; shutdown: Shutdown },
): Promise<{ pool: ProcessorPool; node: ProcessorNode; announcer: NodeAnnouncer }> {
  const { bus, shutdown } = options;
  const pool = new ProcessorPool({
    size: config.processing.workers,
    modelsDir: config.models.dir,
    modelId: config.models.embeddingModel,
    ocrWorkers: config.processing.ocrWorkers,
    executionProvider: config.processing.executionProvider,
    jobTimeoutMs: config.processing.jobTimeoutMs,
    maxMemoryMb: config.processing.workerMaxMemoryMb,
    maxPages: config.processing.maxPages,
    pipeline: { maxChunks: config.processing.maxChunks },
    logger: logger.child({ component: 'processor' }),
  });
  await pool.start();
  shutdown.add('processor pool', () => pool.close(), 60);

  const nodeId = processNodeId();
  const node = new ProcessorNode({
    bus,
    runner: pool,
    originals: options.originals,
    nodeId,
    maxAttempts: config.processing.maxAttempts,
    backoffMs: retryBackoff(config),
    logger: logger.child({ component: 'node' }),
  });
  const announcer = new NodeAnnouncer({
    bus,
    nodeId,
    roles: options.roles,
    models: [config.models.embeddingModel],
    concurrency: config.processing.workers,
    stats: () => ({ executionProvider: pool.executionProvider, activeJobs: pool.busy, jobsDone: pool.jobsDone }),
    logger: logger.child({ component: 'node' }),
  });
  // Stops taking jobs first; a job still running is released for another node. The last
  // heartbeat, marked leaving, goes before the pool closes.
  shutdown.add('processor node', () => node.close(), 20);
  shutdown.add('node announcer', () => announcer.stop(), 55);
  await node.start();
  await announcer.start();
  return { pool, node, announcer };
}

export interface ProcessorHandle {
  nodeId: string;
  close(): Promise<void>;
}

/**
 * `quire processor`: a stateless processing node on NATS. It needs the NATS URL and prefix and
 * the models; no data directory, store, index or blob store.
 */
export async function startProcessorNode(config: Config, logger: Logger): Promise<ProcessorHandle> {
  if (config.bus.driver !== 'nats') {
    throw new Error('quire processor takes its jobs from NATS: set BUS=nats and NATS_URL (the hub it works for uses the same)');
  }
  const shutdown = new Shutdown(logger.child({ component: 'lifecycle' }));
  try {
    await obtainModels(config, logger);
    const bus = natsBus(config, `quire-processor-${processNodeId()}`);
    await bus.start();
    shutdown.add('bus', () => bus.close(), 80);
    await startProcessing(config, logger, { bus, originals: busOriginals(bus), roles: ['processor'], shutdown });
    const nodeId = processNodeId();
    logger.info({ nodeId, workers: config.processing.workers, nats: config.bus.natsUrl }, 'processor node is running');
    return { nodeId, close: () => shutdown.run() };
  } catch (err) {
    await shutdown.run();
    throw err;
  }
}
