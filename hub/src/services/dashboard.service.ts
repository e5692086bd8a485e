/**
 * A team's dashboard: its documents counted by status, type and sensitivity, the queue, the
 * jobs finished per minute, the processing nodes at work and what people did lately.
 *
 * Counts come from the store. Processing nodes are known only from live progress events,
 * which every hub replica receives: each event names the node running the job, and a node's
 * jobs are active from their first progress until stage `done` or `failed`. The view is kept
 * per team, so a node shared by several teams shows each team only its own jobs.
 *
 * Live dashboards are sent again after each of the team's events (documents, progress,
 * annotations, matches), at most once a second, and at least every five seconds while
 * anything is queued or processing, so that node liveness moves on even without events.
 */
import { ValidationError, type ProgressEvent } from '@quire/kernel';
import type { DocumentCounts, Store, TeamActivity, TeamScope } from '../store/store.ts';
import type { LiveEvent, LiveEvents } from './live-events.ts';

/** Nodes (and their jobs) not heard from for this long are left out: they stopped or died. */
export const NODE_WINDOW_MS = 60_000;
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
/** Progress stages that end a job (see ProcessingService). */
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

/** A processing node as one team sees it. */
export interface ProcessingNodeView {
  /** `hostname:pid` of the hub process running the pipeline. */
  id: string;
  /** The team's jobs it is working on. */
  activeJobs: number;
  /** The team's jobs it finished since this hub started listening. */
  jobsDone: number;
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

export class DashboardService {
  /** Per team, per node id. */
  private readonly nodesByTeam = new Map<string, Map<string, NodeState>>();
  /** Each team's summary while fresh: shared by every reader until the team's next event or for a second. */
  private readonly summaries = new Map<string, { at: number; value: Promise<DashboardSummary> }>();
  private stopListening: (() => void) | undefined;

  constructor(
    private readonly deps: {
      store: Store;
      events: LiveEvents;
      /** The hub's clock (epoch ms); injectable so that minute buckets can be tested. Default Date.now. */
      now?: () => number;
    },
  ) {}

  /** Starts following live events; before this, nodes are unknown and summaries are not shared. */
  start(): void {
    this.stopListening = this.deps.events.listen((e) => this.observe(e));
  }

  close(): void {
    this.stopListening?.();
    this.stopListening = undefined;
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

  /** The processing nodes that sent the team's progress in the last {@link NODE_WINDOW_MS}, by id. */
  nodes(scope: TeamScope): ProcessingNodeView[] {
    const nodes = this.nodesByTeam.get(scope.teamId);
    if (!nodes) return [];
    const now = this.now();
    const out: ProcessingNodeView[] = [];
    for (const node of nodes.values()) {
      if (now - node.lastSeenAt > NODE_WINDOW_MS) {
        nodes.delete(node.id);
        continue;
      }
      // A job unheard of for the window was lost with its node or retried elsewhere.
      for (const [jobId, at] of node.active) if (now - at > NODE_WINDOW_MS) node.active.delete(jobId);
      out.push({ id: node.id, activeJobs: node.active.size, jobsDone: node.jobsDone, lastSeenAt: node.lastSeenAt });
    }
    if (nodes.size === 0) this.nodesByTeam.delete(scope.teamId);
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
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
    const stop = this.deps.events.listen((e) => {
      if (e.event.teamId !== scope.teamId || !SHOWN_EVENTS.has(e.kind)) return;
      dirty = true;
      wake?.();
    });
    const onAbort = () => {
      stop();
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

  private recordProgress(e: ProgressEvent): void {
    if (!e.node) return;
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
