/**
 * A team's dashboard: its documents counted by status, type and sensitivity, the queue, the
 * jobs finished per minute, the processing nodes at work and what people did lately.
 *
 * Counts come from the store. Processing nodes are known from two sources every hub replica
 * receives. Their heartbeats (`node.heartbeat`) say which nodes are alive and what they are
 * (host, device, execution provider, models, concurrency, version): a node is shown to every
 * team from its first heartbeat until it says it is leaving or misses three intervals. Live
 * progress events name the node running each job: a node's jobs are active from their first
 * progress until stage `done` or `failed`, counted per team, so a node shared by several teams
 * shows each team only its own jobs. A node that sends progress but no heartbeat (one that
 * does not announce itself) is shown to the teams it works for while it sends progress.
 *
 * Live dashboards are sent again after each of the team's events (documents, progress,
 * annotations, matches) and whenever the set of nodes or what they are changes, at most once a
 * second, and at least every five seconds while anything is queued or processing, so that
 * node liveness moves on even without events.
 */
import { subscribeSystemEvent, type Bus, type Subscription } from '@quire/bus';
import { SystemEvents, ValidationError, type NodeDevice, type NodeHeartbeat, type ProgressEvent } from '@quire/kernel';
import type { DocumentCounts, Store, TeamActivity, TeamScope } from '../store/store.ts';
import type { LiveEvent, LiveEvents } from './live-events.ts';

/** Nodes (and their jobs) not heard from for this long are left out: they stopped or died. */
export const NODE_WINDOW_MS = 60_000;
/** A node that announced itself is forgotten after this many heartbeat intervals without one. */
export const MISSED_HEARTBEATS = 3;
/** Live dashboards are sent at most this often, however many events arrive. */
export const MIN_UPDATE_INTERVAL_MS = 1000;
/** …and at least this often while anything is queued or processing. */
export const BUSY_UPDATE_INTERVAL_MS = 5000;
/** Most minutes of throughput one dashboard may ask for: a day. */
export const MAX_THROUGHPUT_MINUTES = 1440;
/** The period of `annotationsLastDay` and `matchesResolvedLastDay`. */
const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

/** Events that change what a dashboard shows; presence does not. */
const SHOWN_EVENTS: ReadonlySet<LiveEvent['kind']> = new Set(['document', 'progress', 'annotation', 'match']);
/** Progress stages that end a job (published by the document lifecycle). */
const FINAL_STAGES: ReadonlySet<string> = new Set(['done', 'failed']);

/** The document counts of a dashboard. */
export interface DashboardSummary extends DocumentCounts {
  /** Documents waiting for a processing node. */
  queueDepth: number;
  /** Documents being processed now. */
  processing: number;
}

/** Jobs that finished in one minute. */
export interface ThroughputMinute {
  /** The minute's start, epoch ms. */
  at: number;
  processed: number;
  failed: number;
}

/**
 * A processing node as one team sees it. What the node is comes from its heartbeats and is
 * null (models empty) for a node known only from progress events.
 */
export interface ProcessingNodeView {
  /** `hostname:pid` of the process running the pipeline. */
  id: string;
  host: string | null;
  device: NodeDevice | null;
  /** onnxruntime's execution provider, e.g. `cpu` or `cuda`. */
  executionProvider: string | null;
  /** Ids of the models it has loaded. */
  models: string[];
  /** Jobs it runs at once. */
  concurrency: number | null;
  /** Version of the processing code it runs. */
  version: string | null;
  /** When it started (epoch ms, its clock). */
  startedAt: number | null;
  /** The team's jobs it is working on. */
  activeJobs: number;
  /** The team's jobs it finished since this hub started listening. */
  jobsDone: number;
  /** When this hub last heard from it: a heartbeat or the team's progress. */
  lastSeenAt: number;
}

/** Recent activity of people in the team. */
export interface DashboardActivity {
  annotationsLastDay: number;
  matchesOpen: number;
  matchesResolvedLastDay: number;
}

interface NodeState {
  id: string;
  /** Active jobs by id, with when each was last heard of. */
  active: Map<string, number>;
  jobsDone: number;
  lastSeenAt: number;
}

/** A node that announced itself: its last heartbeat, when it arrived, and its expiry. */
interface AnnouncedNode {
  beat: NodeHeartbeat;
  receivedAt: number;
  expiry: NodeJS.Timeout;
}

export class DashboardService {
  /** Per team, per node id: what progress events tell. */
  private readonly nodesByTeam = new Map<string, Map<string, NodeState>>();
  /** Nodes alive by their heartbeats, by id; shown to every team. */
  private readonly announced = new Map<string, AnnouncedNode>();
  /**
   * Nodes that left or missed their heartbeats, with the node's time of their last heartbeat:
   * progress they still send (a job cancelled on the way out) does not bring them back, an
   * older heartbeat delivered late neither; a newer heartbeat does.
   */
  private readonly departed = new Map<string, { at: number; departedAt: number }>();
  /** Called whenever the set of announced nodes, or what one of them is, changes. */
  private readonly nodeListeners = new Set<() => void>();
  /** Each team's summary while fresh: shared by every reader until the team's next event or for a second. */
  private readonly summaries = new Map<string, { at: number; value: Promise<DashboardSummary> }>();
  private stopListening: (() => void) | undefined;
  private heartbeats: Subscription | undefined;

  constructor(
    private readonly deps: {
      store: Store;
      events: LiveEvents;
      /** Where nodes' heartbeats arrive. Without it, nodes are known from progress events only. */
      bus?: Bus;
      /** The hub's clock (epoch ms); injectable so that minute buckets can be tested. Default Date.now. */
      now?: () => number;
    },
  ) {}

  /**
   * Starts following live events and nodes' heartbeats; before this, nodes are unknown and
   * summaries are not shared.
   */
  async start(): Promise<void> {
    this.stopListening = this.deps.events.listen((e) => this.observe(e));
    if (this.deps.bus)
      this.heartbeats = await subscribeSystemEvent(this.deps.bus, SystemEvents.NodeHeartbeat, (beat) => this.recordHeartbeat(beat));
  }

  async close(): Promise<void> {
    this.stopListening?.();
    this.stopListening = undefined;
    const heartbeats = this.heartbeats;
    this.heartbeats = undefined;
    await heartbeats?.close();
    for (const node of this.announced.values()) clearTimeout(node.expiry);
    this.announced.clear();
    this.departed.clear();
    this.nodesByTeam.clear();
    this.summaries.clear();
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** The team's document counts, queue depth and documents in processing. */
  summary(scope: TeamScope): Promise<DashboardSummary> {
    const cached = this.summaries.get(scope.teamId);
    if (cached && this.now() - cached.at < MIN_UPDATE_INTERVAL_MS && this.stopListening) return cached.value;
    const value = this.deps.store.documentCounts(scope).then((counts) => ({
      ...counts,
      queueDepth: counts.byStatus.queued,
      processing: counts.byStatus.processing,
    }));
    // A failed read is not kept: the next reader tries again.
    value.catch(() => this.summaries.delete(scope.teamId));
    this.summaries.set(scope.teamId, { at: this.now(), value });
    return value;
  }

  /**
   * The jobs of the team that finished in each of the last `minutes` minutes (1 to
   * {@link MAX_THROUGHPUT_MINUTES}), oldest first, the current minute last; every minute is
   * there, with zeros when nothing finished.
   */
  async throughput(scope: TeamScope, minutes: number): Promise<ThroughputMinute[]> {
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_THROUGHPUT_MINUTES) {
      throw new ValidationError(`minutes must be between 1 and ${MAX_THROUGHPUT_MINUTES}`, { code: 'BAD_MINUTES' });
    }
    const current = Math.floor(this.now() / MINUTE_MS) * MINUTE_MS;
    const from = current - (minutes - 1) * MINUTE_MS;
    const finished = await this.deps.store.finishedJobs(scope, { from, to: current + MINUTE_MS, bucketMs: MINUTE_MS });
    const byMinute = new Map(finished.map((f) => [f.at, f]));
    return Array.from({ length: minutes }, (_, i) => {
      const at = from + i * MINUTE_MS;
      const f = byMinute.get(at);
      return { at, processed: f?.succeeded ?? 0, failed: f?.failed ?? 0 };
    });
  }

  /**
   * The processing nodes alive by their heartbeats, and those that sent the team's progress in
   * the last {@link NODE_WINDOW_MS} without announcing themselves: one entry per node id, by id.
   */
  nodes(scope: TeamScope): ProcessingNodeView[] {
    const now = this.now();
    this.forgetSilentNodes(now);
    const out = new Map<string, ProcessingNodeView>();
    const nodes = this.nodesByTeam.get(scope.teamId);
    for (const node of nodes?.values() ?? []) {
      if (now - node.lastSeenAt > NODE_WINDOW_MS || (this.departed.has(node.id) && !this.announced.has(node.id))) {
        nodes!.delete(node.id);
        continue;
      }
      // A job unheard of for the window was lost with its node or retried elsewhere.
      for (const [jobId, at] of node.active) if (now - at > NODE_WINDOW_MS) node.active.delete(jobId);
      out.set(node.id, {
        id: node.id,
        host: null,
        device: null,
        executionProvider: null,
        models: [],
        concurrency: null,
        version: null,
        startedAt: null,
        activeJobs: node.active.size,
        jobsDone: node.jobsDone,
        lastSeenAt: node.lastSeenAt,
      });
    }
    if (nodes?.size === 0) this.nodesByTeam.delete(scope.teamId);
    for (const { beat, receivedAt } of this.announced.values()) {
      const seen = out.get(beat.nodeId);
      out.set(beat.nodeId, {
        id: beat.nodeId,
        host: beat.host,
        device: beat.device,
        executionProvider: beat.executionProvider,
        models: [...beat.models],
        concurrency: beat.concurrency,
        version: beat.version,
        startedAt: beat.startedAt,
        activeJobs: seen?.activeJobs ?? 0,
        jobsDone: seen?.jobsDone ?? 0,
        lastSeenAt: Math.max(receivedAt, seen?.lastSeenAt ?? 0),
      });
    }
    return [...out.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Annotations created and matches resolved in the last day, and the matches still open. */
  async activity(scope: TeamScope): Promise<DashboardActivity> {
    const a: TeamActivity = await this.deps.store.teamActivity(scope, { since: this.now() - DAY_MS });
    return { annotationsLastDay: a.annotationsCreated, matchesOpen: a.matchesOpen, matchesResolvedLastDay: a.matchesResolved };
  }

  /**
   * When a live dashboard of the team should be sent again: after each of the team's events,
   * at most once per {@link MIN_UPDATE_INTERVAL_MS} (events in between are folded into one),
   * and every {@link BUSY_UPDATE_INTERVAL_MS} while documents are queued or processing. It
   * listens from the moment it is called, so that an event arriving while the caller sends
   * the current dashboard is not missed; it ends when `signal` aborts.
   */
  updates(scope: TeamScope, signal: AbortSignal): AsyncIterable<void> {
    let dirty = false;
    let wake: (() => void) | undefined;
    const stopEvents = this.deps.events.listen((e) => {
      if (e.event.teamId !== scope.teamId || !SHOWN_EVENTS.has(e.kind)) return;
      dirty = true;
      wake?.();
    });
    // Every team sees the announced nodes: a change of them is news to all.
    const onNodes = () => {
      dirty = true;
      wake?.();
    };
    this.nodeListeners.add(onNodes);
    const onAbort = () => {
      stopEvents();
      this.nodeListeners.delete(onNodes);
      wake?.();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    /** Resolves on the next event (or abort), or after `ms` when given. */
    const woken = (ms: number | null) =>
      new Promise<void>((resolve) => {
        const timer = ms === null ? undefined : setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        }
        wake = done;
      });
    const pause = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });
    const busy = async () => {
      const s = await this.summary(scope);
      return s.queueDepth + s.processing > 0 || this.nodes(scope).some((n) => n.activeJobs > 0);
    };
    // The caller has just sent the current dashboard: that counts as the last one.
    const now = () => this.now();
    let last = now();
    return (async function* () {
      try {
        while (!signal.aborted) {
          if (!dirty) {
            const heartbeat = (await busy()) ? Math.max(0, last + BUSY_UPDATE_INTERVAL_MS - now()) : null;
            if (!dirty && !signal.aborted) await woken(heartbeat);
            if (signal.aborted) return;
            if (!dirty && heartbeat === null) continue;
          }
          const wait = last + MIN_UPDATE_INTERVAL_MS - now();
          if (wait > 0) await pause(wait);
          if (signal.aborted) return;
          dirty = false;
          last = now();
          yield;
        }
      } finally {
        onAbort();
        signal.removeEventListener('abort', onAbort);
      }
    })();
  }

  private observe(e: LiveEvent): void {
    if (!SHOWN_EVENTS.has(e.kind)) return;
    // Whatever the team's dashboard counts may have changed.
    this.summaries.delete(e.event.teamId);
    if (e.kind === 'progress') this.recordProgress(e.event);
  }

  private recordHeartbeat(beat: NodeHeartbeat): void {
    const now = this.now();
    const id = beat.nodeId;
    const gone = this.departed.get(id);
    // Older than the heartbeat it left or went silent with: delivered late, not a comeback.
    if (gone && beat.at <= gone.at) return;
    const known = this.announced.get(id);
    if (known && beat.at < known.beat.at) return;
    if (known) clearTimeout(known.expiry);
    if (beat.leaving) {
      this.depart(id, beat.at, now);
      return;
    }
    this.departed.delete(id);
    const expiry = setTimeout(() => {
      const node = this.announced.get(id);
      if (node?.beat === beat) this.depart(id, beat.at, this.now());
    }, MISSED_HEARTBEATS * beat.intervalMs);
    // Forgetting a node is no reason to keep the hub running.
    expiry.unref();
    this.announced.set(id, { beat, receivedAt: now, expiry });
    if (!known || describe(known.beat) !== describe(beat)) this.nodesChanged();
  }

  /** Forgets an announced node now: it left, or missed {@link MISSED_HEARTBEATS} heartbeats. */
  private depart(id: string, lastBeatAt: number, now: number): void {
    const node = this.announced.get(id);
    if (node) clearTimeout(node.expiry);
    this.announced.delete(id);
    this.departed.set(id, { at: lastBeatAt, departedAt: now });
    // Its active jobs went with it; its counts would come back only with its progress.
    for (const nodes of this.nodesByTeam.values()) nodes.delete(id);
    for (const [gone, { departedAt }] of this.departed) if (now - departedAt > NODE_WINDOW_MS) this.departed.delete(gone);
    if (node) this.nodesChanged();
  }

  /**
   * Forgets announced nodes silent for {@link MISSED_HEARTBEATS} intervals by the hub's clock;
   * their timers do the same in real time, this catches a clock that moved on faster.
   */
  private forgetSilentNodes(now: number): void {
    for (const [id, node] of this.announced) {
      if (now - node.receivedAt > MISSED_HEARTBEATS * node.beat.intervalMs) this.depart(id, node.beat.at, now);
    }
  }

  private nodesChanged(): void {
    for (const listener of this.nodeListeners) listener();
  }

  private recordProgress(e: ProgressEvent): void {
    if (!e.node) return;
    const gone = this.departed.get(e.node);
    // A departed node's last words (a job it cancelled on its way out) do not bring it back.
    if (gone && !this.announced.has(e.node) && this.now() - gone.departedAt <= NODE_WINDOW_MS) return;
    const now = this.now();
    let nodes = this.nodesByTeam.get(e.teamId);
    if (!nodes) this.nodesByTeam.set(e.teamId, (nodes = new Map()));
    let node = nodes.get(e.node);
    if (!node) nodes.set(e.node, (node = { id: e.node, active: new Map(), jobsDone: 0, lastSeenAt: now }));
    node.lastSeenAt = now;
    for (const [jobId, at] of node.active) if (now - at > NODE_WINDOW_MS) node.active.delete(jobId);
    if (!FINAL_STAGES.has(e.stage)) {
      node.active.set(e.jobId, now);
      return;
    }
    node.active.delete(e.jobId);
    if (e.stage === 'done') node.jobsDone += 1;
  }
}

/** What a dashboard shows of an announced node, apart from its counts: a change of it is sent to clients. */
function describe(beat: NodeHeartbeat): string {
  const { nodeId, host, device, executionProvider, models, concurrency, version, startedAt } = beat;
  return JSON.stringify([nodeId, host, device, executionProvider, models, concurrency, version, startedAt]);
}
