/**
 * Follows the progress processor nodes publish (live events, straight from the node to every
 * hub's clients) for what the hub records of it: the first report of a delivery moves a
 * `queued` document to `processing` through the lifecycle, and progress is persisted on the
 * job at each stage change and at most every second ({@link ProgressThrottle}), so a page loaded
 * later shows where a job is. The `done` and `failed` reports are the lifecycle's own.
 */
import type { Logger } from 'pino';
import { DocumentStatus, type ProgressEvent } from '@quire/kernel';
import type { Store, TeamScope } from '../store/store.ts';
import { ProgressThrottle, type DocumentLifecycle } from './document-lifecycle.ts';
import type { LiveEvents } from './live-events.ts';

/** Jobs not heard of for this long are forgotten (their node died, or the job ended elsewhere). */
const FORGET_AFTER_MS = 5 * 60_000;

interface Followed {
  attempt: number;
  persisting: ProgressThrottle;
  lastHeard: number;
  /** The start of the delivery being recorded, so reports arriving meanwhile wait for it. */
  starting: Promise<void> | null;
}

export class ProgressFollower {
  readonly #jobs = new Map<string, Followed>();
  #stop: (() => void) | undefined;
  #sweep: NodeJS.Timeout | undefined;

  constructor(private readonly deps: { store: Store; events: LiveEvents; lifecycle: DocumentLifecycle; logger: Logger }) {}

  start(): void {
    this.#stop = this.deps.events.listen((live) => {
      if (live.kind === 'progress') this.#onProgress(live.event);
      else if (live.kind === 'document' && live.event.jobId && live.event.status !== 'processing') this.#jobs.delete(live.event.jobId);
    });
    this.#sweep = setInterval(() => {
      const now = Date.now();
      for (const [jobId, job] of this.#jobs) if (now - job.lastHeard > FORGET_AFTER_MS) this.#jobs.delete(jobId);
    }, 60_000);
    this.#sweep.unref();
  }

  close(): void {
    this.#stop?.();
    clearInterval(this.#sweep);
    this.#jobs.clear();
  }

  #onProgress(p: ProgressEvent): void {
    if (p.stage === 'done' || p.stage === 'failed') {
      this.#jobs.delete(p.jobId);
      return;
    }
    const now = Date.now();
    const attempt = p.attempt ?? 1;
    let job = this.#jobs.get(p.jobId);
    if (!job || attempt > job.attempt) {
      job = { attempt, persisting: new ProgressThrottle(), lastHeard: now, starting: null };
      this.#jobs.set(p.jobId, job);
      job.starting = this.#started(p, attempt).catch((err: unknown) =>
        this.deps.logger.warn({ err, jobId: p.jobId }, 'the start of a delivery was not recorded'),
      );
    }
    job.lastHeard = now;
    if (attempt < job.attempt) return;
    if (!job.persisting.due(p.stage, now)) return;
    const scope: TeamScope = { teamId: p.teamId };
    const progress = { stage: p.stage, done: p.done, total: p.total, percent: p.percent, etaMs: p.etaMs };
    void (job.starting ?? Promise.resolve())
      .then(() => this.deps.store.updateJob(scope, p.jobId, progress))
      .catch((err: unknown) => this.deps.logger.debug({ err, jobId: p.jobId }, 'progress not persisted'));
  }

  /** A delivery's first report: its document `processing`, if it is still `queued` with this job. */
  async #started(p: ProgressEvent, attempt: number): Promise<void> {
    const scope: TeamScope = { teamId: p.teamId };
    const doc = await this.deps.store.getDocument(scope, p.documentId);
    if (!doc || doc.jobId !== p.jobId || doc.status !== DocumentStatus.Queued) return;
    await this.deps.lifecycle.started(scope, doc, { jobId: p.jobId, attempt, ...(p.node ? { node: p.node } : {}) });
  }
}
