/**
 * Announces a processing node on the bus: a heartbeat every `intervalMs` saying who the node
 * is (id, host, device, execution provider, models, concurrency, version) and what it is doing
 * (active jobs, jobs done), and a last one marked `leaving` when it stops, so that dashboards
 * drop a node that shuts down at once and one that died after three missed intervals.
 *
 * Heartbeats are events (at most once): one that cannot be published is logged and the next
 * one is sent on time; nothing here retries.
 */
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { pino, type Logger } from 'pino';
import { publishSystemEvent, type Bus } from '@quire/bus';
import { NodeDevice, SystemEvents, type NodeHeartbeat } from '@quire/kernel';
import { ExecutionProvider } from '../engines/embedder.transformers.ts';

/** How often a node sends a heartbeat by default: hubs forget it after three missed ones, about 6 s. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 2000;

/** Version of this package, what a node announces unless told otherwise. */
const PACKAGE_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/** What a node is doing now, read at each heartbeat. */
export interface NodeStats {
  /** onnxruntime's execution provider in use (`cpu`, `cuda`); null while no worker is ready. */
  executionProvider: ExecutionProvider | null;
  /** Jobs running now. */
  activeJobs: number;
  /** Jobs finished with the document processed since the node started. */
  jobsDone: number;
}

/** Options of {@link NodeAnnouncer}. */
export interface NodeAnnouncerOptions {
  bus: Bus;
  /** The id the node's progress events carry in `node`, so dashboards merge the two. */
  nodeId: string;
  /** What the process runs, e.g. `['hub', 'processor']` for the embedded default. */
  roles: readonly string[];
  /** Ids of the models the node has loaded. */
  models: readonly string[];
  /** Jobs the node runs at once. */
  concurrency: number;
  /** Read at each heartbeat; a ProcessorPool's `executionProvider`, `busy` and `jobsDone`. */
  stats: () => NodeStats;
  /** Milliseconds between heartbeats. Default {@link DEFAULT_HEARTBEAT_INTERVAL_MS}. */
  intervalMs?: number;
  /** Default: the version of `@quire/processors`. */
  version?: string;
  /** Default: the machine's host name. */
  host?: string;
  /** Default: this process's id. */
  pid?: number;
  /** Default: silent. */
  logger?: Logger;
}

/** Sends a processing node's heartbeats. `start()`, then `stop()` on shutdown. */
export class NodeAnnouncer {
  readonly #options: NodeAnnouncerOptions & { intervalMs: number; version: string; host: string; pid: number };
  readonly #logger: Logger;
  readonly #startedAt = Date.now();
  #timer: NodeJS.Timeout | null = null;
  /** The heartbeat being published, so that `leaving` is never overtaken by an older one. */
  #sending: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: NodeAnnouncerOptions) {
    const intervalMs = options.intervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
    if (!Number.isInteger(intervalMs) || intervalMs < 10)
      throw new RangeError(`intervalMs must be an integer of at least 10, got ${intervalMs}`);
    this.#options = {
      ...options,
      intervalMs,
      version: options.version ?? PACKAGE_VERSION,
      host: options.host ?? hostname(),
      pid: options.pid ?? process.pid,
    };
    this.#logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'node-announcer', nodeId: options.nodeId });
  }

  /** The heartbeat the node would send now. */
  heartbeat(leaving = false): NodeHeartbeat {
    const o = this.#options;
    const stats = o.stats();
    return {
      nodeId: o.nodeId,
      host: o.host,
      pid: o.pid,
      roles: [...o.roles],
      device: stats.executionProvider === ExecutionProvider.cuda ? NodeDevice.Gpu : NodeDevice.Cpu,
      executionProvider: stats.executionProvider,
      models: [...o.models],
      concurrency: o.concurrency,
      activeJobs: stats.activeJobs,
      jobsDone: stats.jobsDone,
      version: o.version,
      startedAt: this.#startedAt,
      at: Date.now(),
      intervalMs: o.intervalMs,
      ...(leaving ? { leaving: true } : {}),
    };
  }

  /** Sends the first heartbeat now and the next ones every interval. */
  async start(): Promise<void> {
    if (this.#timer || this.#stopped) return;
    // The timer must not keep a process alive that has nothing else to do.
    this.#timer = setInterval(() => void this.#send(false), this.#options.intervalMs).unref();
    await this.#send(false);
  }

  /** Stops the heartbeats and sends the last one, marked `leaving`, when it had started. Later calls do nothing. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (!this.#timer) return;
    clearInterval(this.#timer);
    this.#timer = null;
    await this.#send(true);
  }

  #send(leaving: boolean): Promise<void> {
    this.#sending = this.#sending.then(async () => {
      if (this.#stopped && !leaving) return;
      try {
        await publishSystemEvent(this.#options.bus, SystemEvents.NodeHeartbeat, this.heartbeat(leaving));
      } catch (err) {
        this.#logger.warn({ err, leaving }, 'a node heartbeat was not published');
      }
    });
    return this.#sending;
  }
}
