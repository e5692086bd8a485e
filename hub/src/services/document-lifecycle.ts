/**
 * The document lifecycle: the one owner of every status change of a document and its
 * processing job. Each change is a method; each checks the move against
 * {@link DOCUMENT_TRANSITIONS} and {@link JOB_TRANSITIONS}, persists it through the store and
 * emits its live event. Services say what happened (uploaded, started, failed, …); they never
 * write a status or announce one themselves.
 *
 * A job's run is followed by a {@link JobRun}: it relays progress, records every result part
 * applied, and moves the document to `processed` only once every page and chunk the summary
 * counts was applied and matches were proposed.
 */
import type { Logger } from 'pino';
import { AppError, DocumentStatus, UnreachableCaseError, type ResultPart } from '@quire/kernel';
import { JobStatus, type DocumentRecord, type JobRecord, type NewDocument, type Store, type TeamScope } from '../store/store.ts';
import type { LiveEvents } from './live-events.ts';

/** A document's state in the lifecycle: its stored status, before it exists, or after it was deleted. */
export type LifecycleState = DocumentStatus | 'new' | 'deleted';

/** Why processing failed, as stored on the job and the document. */
export interface JobError {
  code: string;
  message: string;
  stage: string | null;
}

/** Progress as a pipeline reports it (the lifecycle adds job, document, team, node and time). */
export interface StageProgress {
  stage: string;
  done: number;
  total: number;
  percent: number;
  etaMs: number | null;
}

/**
 * Every document transition: the states it may start from and the one it ends in. A move
 * that is not listed is refused with {@link IllegalTransitionError}.
 */
export const DOCUMENT_TRANSITIONS = {
  /** An upload is accepted: the document and its first job are stored. */
  uploaded: { from: ['new'], to: DocumentStatus.Queued },
  /** Someone asks for a finished document to be processed again, with a new job. */
  reprocessed: { from: [DocumentStatus.Processed, DocumentStatus.Failed], to: DocumentStatus.Queued },
  /**
   * At start-up, an unfinished document's job is put on the bus again. Its stored status is
   * kept: the job may already have been redelivered and be running on this very hub.
   */
  recovered: { from: [DocumentStatus.Queued, DocumentStatus.Processing], to: 'unchanged' },
  /** A delivery of the current job starts (again, after a lost lease: `processing` → `processing`). */
  started: { from: [DocumentStatus.Queued, DocumentStatus.Processing], to: DocumentStatus.Processing },
  /** A retryable failure with attempts left: the bus delivers the job again after a backoff. */
  retryScheduled: { from: [DocumentStatus.Processing], to: DocumentStatus.Queued },
  /** Every result part was applied and matches were proposed. */
  processed: { from: [DocumentStatus.Processing], to: DocumentStatus.Processed },
  /** A final failure (no attempts left, or not retryable), or the bus dead-lettered the job. */
  failed: { from: [DocumentStatus.Queued, DocumentStatus.Processing], to: DocumentStatus.Failed },
  /** The document is deleted everywhere. */
  deleted: {
    from: [DocumentStatus.Queued, DocumentStatus.Processing, DocumentStatus.Processed, DocumentStatus.Failed],
    to: 'deleted',
  },
} as const satisfies Record<string, { from: readonly LifecycleState[]; to: LifecycleState | 'unchanged' }>;

export type DocumentTransition = keyof typeof DOCUMENT_TRANSITIONS;

/** Every job transition, as {@link DOCUMENT_TRANSITIONS} (a job starts `queued` when stored). */
export const JOB_TRANSITIONS = {
  started: { from: [JobStatus.Queued, JobStatus.Running], to: JobStatus.Running },
  retryScheduled: { from: [JobStatus.Running], to: JobStatus.Queued },
  succeeded: { from: [JobStatus.Running], to: JobStatus.Succeeded },
  failed: { from: [JobStatus.Queued, JobStatus.Running], to: JobStatus.Failed },
  /** A job that is no longer its document's current one ends failed with `SUPERSEDED`. */
  superseded: { from: [JobStatus.Queued, JobStatus.Running], to: JobStatus.Failed },
} as const satisfies Record<string, { from: readonly JobStatus[]; to: JobStatus }>;

export type JobTransition = keyof typeof JOB_TRANSITIONS;

/** A move the lifecycle does not allow (e.g. `processed` → `processing`). Code `ILLEGAL_TRANSITION`. */
export class IllegalTransitionError extends AppError {
  constructor(message: string, details: Record<string, unknown>) {
    super('ILLEGAL_TRANSITION', message, { expose: false, details });
  }
}

/** `processed` asked for before every result part was applied. Code `RESULT_INCOMPLETE`. */
export class ResultIncompleteError extends AppError {
  constructor(message: string, details: Record<string, unknown>) {
    super('RESULT_INCOMPLETE', message, { expose: false, details });
  }
}

/** Writes of job progress to the store are throttled (and at each stage change); live events are not. */
export const PROGRESS_PERSIST_MS = 1000;

/** Says when a job's progress is due to be written: at each stage change, else every {@link PROGRESS_PERSIST_MS}. */
export class ProgressThrottle {
  #stage = '';
  #at = 0;

  /** Whether progress in `stage` at `now` is to be written; if so, counts it as written. */
  due(stage: string, now: number): boolean {
    if (stage === this.#stage && now - this.#at < PROGRESS_PERSIST_MS) return false;
    this.#stage = stage;
    this.#at = now;
    return true;
  }
}

/** What a superseded job's error says. */
const SUPERSEDED_ERROR: JobError = { code: 'SUPERSEDED', message: 'superseded by a newer job', stage: null };

export class DocumentLifecycle {
  /** Per team, the last "propose matches, then mark processed" step; see {@link JobRun.processed}. */
  private readonly finishing = new Map<string, Promise<unknown>>();

  constructor(
    private readonly deps: {
      store: Store;
      events: LiveEvents;
      /** This processing node's id (`hostname:pid`), sent with every progress event so that dashboards can tell nodes apart. */
      nodeId: string;
      logger: Logger;
    },
  ) {}

  /** Stores an accepted upload and its first job, both `queued`, and announces it. Throws what the store throws (e.g. a duplicate). */
  async uploaded(scope: TeamScope, doc: NewDocument): Promise<DocumentRecord> {
    check('uploaded', 'new', { documentId: doc.id, jobId: doc.jobId });
    const stored = await this.deps.store.insertDocument(scope, doc);
    await this.announce(scope, stored.id, stored.jobId, DocumentStatus.Queued);
    return stored;
  }

  /** Gives a finished document a new `queued` job and announces it. */
  async reprocessed(scope: TeamScope, doc: DocumentRecord, jobId: string): Promise<{ document: DocumentRecord; job: JobRecord }> {
    check('reprocessed', doc.status, { documentId: doc.id, jobId });
    const { store } = this.deps;
    const job = await store.insertJob(scope, { id: jobId, documentId: doc.id });
    const document = await store.updateDocument(scope, doc.id, { status: DocumentStatus.Queued, jobId, error: null });
    await this.announce(scope, doc.id, jobId, DocumentStatus.Queued);
    return { document, job };
  }

  /** Announces an unfinished document's job as queued again after a restart; see {@link DOCUMENT_TRANSITIONS}. */
  async recovered(scope: TeamScope, doc: DocumentRecord): Promise<void> {
    check('recovered', doc.status, { documentId: doc.id, jobId: doc.jobId });
    await this.announce(scope, doc.id, doc.jobId, DocumentStatus.Queued);
  }

  /**
   * A delivery of the document's current job starts: the job `running` (attempt `attempt`), the
   * document `processing`. Returns the run that follows it to its end.
   */
  async started(
    scope: TeamScope,
    doc: DocumentRecord,
    options: { jobId: string; attempt: number; node?: string; log?: Logger },
  ): Promise<JobRun> {
    const { store } = this.deps;
    const { jobId, attempt } = options;
    if (doc.jobId !== jobId) {
      throw new IllegalTransitionError(`Job ${jobId} is not the current job of document ${doc.id}`, {
        transition: 'started',
        documentId: doc.id,
        jobId,
        currentJobId: doc.jobId,
      });
    }
    check('started', doc.status, { documentId: doc.id, jobId });
    const job = await this.mustGetJob(scope, jobId);
    checkJob('started', job, doc.id);
    // Reports of deliveries may arrive out of order: an earlier one never lowers the count.
    await store.updateJob(scope, jobId, { status: JobStatus.Running, attempts: Math.max(attempt, job.attempts), error: null });
    await store.updateDocument(scope, doc.id, { status: DocumentStatus.Processing });
    await this.announce(scope, doc.id, jobId, DocumentStatus.Processing);
    const log = options.log ?? this.deps.logger.child({ documentId: doc.id, jobId });
    return new JobRun(this, this.deps, scope, doc.id, jobId, options.node ?? this.deps.nodeId, log);
  }

  /**
   * Fails the document's current job and the document, finally (no retry follows), and
   * announces it: a `failed` progress event, then the document event.
   */
  async failed(scope: TeamScope, documentId: string, error: JobError, node = this.deps.nodeId): Promise<void> {
    const { store } = this.deps;
    const current = await this.mustGetDocument(scope, documentId);
    check('failed', current.status, { documentId, jobId: current.jobId });
    const job = await this.mustGetJob(scope, current.jobId);
    checkJob('failed', job, documentId);
    const now = Date.now();
    await store.updateJob(scope, job.id, { status: JobStatus.Failed, error, finishedAt: now });
    await store.updateDocument(scope, documentId, { status: DocumentStatus.Failed, error });
    await this.publishProgress(
      scope,
      documentId,
      job.id,
      { stage: 'failed', done: job.done, total: job.total, percent: job.percent, etaMs: null },
      now,
      node,
    );
    await this.announce(scope, documentId, job.id, DocumentStatus.Failed, error);
  }

  /**
   * A job that is no longer its document's current one (the document was given a newer job)
   * ends `failed` with `SUPERSEDED` if it was still open; the document is not changed. A job
   * already finished, or gone with its document, is left as it is.
   */
  async superseded(scope: TeamScope, jobId: string): Promise<void> {
    const { store } = this.deps;
    const job = await store.getJob(scope, jobId);
    if (!job || (job.status !== JobStatus.Queued && job.status !== JobStatus.Running)) return;
    const doc = await store.getDocument(scope, job.documentId);
    if (doc?.jobId === jobId) {
      throw new IllegalTransitionError(`Job ${jobId} is the current job of document ${doc.id}, not superseded`, {
        transition: 'superseded',
        documentId: doc.id,
        jobId,
      });
    }
    await store.updateJob(scope, jobId, { status: JobStatus.Failed, error: SUPERSEDED_ERROR, finishedAt: Date.now() });
  }

  /**
   * Deletes the document's rows (with its jobs, pages, chunks, annotations and matches), runs
   * `cleanUp` (what else goes with it: the blob, the audit entry), then announces `deleted`.
   * Returns false, announcing nothing, when there was no such document.
   */
  async deleted(scope: TeamScope, doc: DocumentRecord, cleanUp: () => Promise<void> = async () => {}): Promise<boolean> {
    const current = await this.deps.store.getDocument(scope, doc.id);
    if (!current) return false;
    check('deleted', current.status, { documentId: doc.id, jobId: current.jobId });
    await this.deps.store.deleteDocument(scope, doc.id);
    await cleanUp();
    await this.announce(scope, doc.id, current.jobId, 'deleted');
    return true;
  }

  /** @internal For {@link JobRun}: the retry-scheduled move of the document and its job. */
  async retryScheduled(scope: TeamScope, documentId: string, jobId: string, error: JobError): Promise<void> {
    const { store } = this.deps;
    const doc = await this.mustGetDocument(scope, documentId);
    check('retryScheduled', doc.status, { documentId, jobId });
    checkJob('retryScheduled', await this.mustGetJob(scope, jobId), documentId);
    await store.updateJob(scope, jobId, { status: JobStatus.Queued, error });
    await store.updateDocument(scope, documentId, { status: DocumentStatus.Queued });
    await this.announce(scope, documentId, jobId, DocumentStatus.Queued, error);
  }

  /** @internal For {@link JobRun}: the job `succeeded`, then matches, then the document `processed`. */
  async finish(scope: TeamScope, documentId: string, jobId: string, node: string, proposeMatches: () => Promise<void>): Promise<void> {
    const { store } = this.deps;
    const doc = await this.mustGetDocument(scope, documentId);
    check('processed', doc.status, { documentId, jobId });
    checkJob('succeeded', await this.mustGetJob(scope, jobId), documentId);
    const now = Date.now();
    await store.updateJob(scope, jobId, { status: JobStatus.Succeeded, percent: 100, etaMs: 0, stage: 'done', finishedAt: now });
    await this.publishProgress(scope, documentId, jobId, { stage: 'done', done: 1, total: 1, percent: 100, etaMs: 0 }, now, node);
    // Rules match a document only with documents already `processed`. Within a team, one
    // document at a time proposes its matches and then becomes `processed`, so of two
    // documents finishing together the second sees the first.
    const previous = this.finishing.get(scope.teamId) ?? Promise.resolve();
    const step = previous.then(async () => {
      await proposeMatches();
      const current = await this.mustGetDocument(scope, documentId);
      check('processed', current.status, { documentId, jobId });
      await store.updateDocument(scope, documentId, { status: DocumentStatus.Processed, error: null, processedAt: Date.now() });
    });
    const settled = step.catch(() => undefined);
    this.finishing.set(scope.teamId, settled);
    try {
      await step;
    } finally {
      if (this.finishing.get(scope.teamId) === settled) this.finishing.delete(scope.teamId);
    }
    await this.announce(scope, documentId, jobId, DocumentStatus.Processed);
  }

  /** @internal Publishes a job's progress as the node's that runs it (default this one), at `at`. */
  publishProgress(
    scope: TeamScope,
    documentId: string,
    jobId: string,
    progress: StageProgress,
    at = Date.now(),
    node = this.deps.nodeId,
  ): Promise<void> {
    return this.deps.events.progress({ jobId, documentId, teamId: scope.teamId, ...progress, at, node });
  }

  private async announce(
    scope: TeamScope,
    documentId: string,
    jobId: string,
    status: DocumentStatus | 'deleted',
    error?: JobError,
  ): Promise<void> {
    await this.deps.events.documentChanged(scope, { documentId, jobId, status, ...(error ? { error } : {}) });
  }

  private async mustGetDocument(scope: TeamScope, id: string): Promise<DocumentRecord> {
    const doc = await this.deps.store.getDocument(scope, id);
    if (!doc) throw new IllegalTransitionError(`Document ${id} was deleted`, { documentId: id, from: 'deleted' });
    return doc;
  }

  private async mustGetJob(scope: TeamScope, id: string): Promise<JobRecord> {
    const job = await this.deps.store.getJob(scope, id);
    if (!job) throw new IllegalTransitionError(`Job ${id} does not exist`, { jobId: id, from: 'deleted' });
    return job;
  }
}

/** Where a run is: results coming in, or ended (processed, failed or retry scheduled). */
type RunPhase = 'running' | 'finishing' | 'ended';

/**
 * One delivery of a job, from `started` to its end: relays progress, records the result
 * parts applied and ends the run in exactly one of `processed`, `retryScheduled` or `failed`.
 */
export class JobRun {
  private phase: RunPhase = 'running';
  private readonly pages = new Set<number>();
  private readonly ordinals = new Set<number>();
  private summary: { pageCount: number; chunkCount: number } | null = null;
  private readonly persisting = new ProgressThrottle();

  /** @internal Built by {@link DocumentLifecycle.started}. */
  constructor(
    private readonly lifecycle: DocumentLifecycle,
    private readonly deps: { store: Store },
    readonly scope: TeamScope,
    readonly documentId: string,
    readonly jobId: string,
    /** The node that runs the job: its id goes with the run's progress events. */
    readonly node: string,
    private readonly log: Logger,
  ) {}

  /** Whether the run still takes progress and result parts. */
  get running(): boolean {
    return this.phase === 'running';
  }

  /**
   * Relays progress as a live event and persists it on the job at each stage change and at
   * most every {@link PROGRESS_PERSIST_MS}. Progress after the run ended (a worker's late
   * report) is dropped: returns false.
   */
  progressed(p: StageProgress): boolean {
    if (this.phase !== 'running') return false;
    const { store } = this.deps;
    const now = Date.now();
    void this.lifecycle
      .publishProgress(this.scope, this.documentId, this.jobId, p, now, this.node)
      .catch((err: unknown) => this.log.warn({ err }, 'progress event not published'));
    if (this.persisting.due(p.stage, now)) {
      void store
        .updateJob(this.scope, this.jobId, { stage: p.stage, done: p.done, total: p.total, percent: p.percent, etaMs: p.etaMs })
        .catch((err: unknown) => this.log.warn({ err }, 'progress not persisted'));
    }
    return true;
  }

  /** Records a result part of this job as applied. An unknown kind, or a part of another job, is refused. */
  partApplied(part: ResultPart): void {
    this.expect('running', 'partApplied');
    if (part.jobId !== this.jobId || part.documentId !== this.documentId || part.teamId !== this.scope.teamId) {
      throw new IllegalTransitionError(`A result part of job ${part.jobId} was given to the run of job ${this.jobId}`, {
        transition: 'partApplied',
        documentId: this.documentId,
        jobId: this.jobId,
        partJobId: part.jobId,
      });
    }
    switch (part.kind) {
      case 'pages':
        for (const p of part.pages) this.pages.add(p.page);
        return;
      case 'chunks':
        for (const c of part.chunks) this.ordinals.add(c.ordinal);
        return;
      case 'summary':
        this.summary = { pageCount: part.pageCount, chunkCount: part.chunkCount };
        return;
      default:
        throw new UnreachableCaseError(part);
    }
  }

  /**
   * Ends the run: checks that the summary and every page and chunk it counts were applied,
   * marks the job `succeeded` (a `done` progress event), runs `proposeMatches` (a failure is
   * logged, it does not fail the document), then marks the document `processed` and
   * announces it. Refused with {@link ResultIncompleteError} while parts are missing.
   */
  async processed(proposeMatches: () => Promise<unknown>): Promise<void> {
    this.expect('running', 'processed');
    const missing = this.missing();
    if (missing) {
      throw new ResultIncompleteError(`Job ${this.jobId} is missing result parts: ${missing.text}`, {
        documentId: this.documentId,
        jobId: this.jobId,
        ...missing.details,
      });
    }
    this.phase = 'finishing';
    try {
      await this.lifecycle.finish(this.scope, this.documentId, this.jobId, this.node, async () => {
        await proposeMatches().catch((err: unknown) => this.log.error({ err }, 'proposing matches failed'));
      });
    } finally {
      this.phase = 'ended';
    }
  }

  /** Ends the run with a retryable failure: the job and the document `queued` again until the bus redelivers it. */
  async retryScheduled(error: JobError): Promise<void> {
    this.expect('running', 'retryScheduled');
    this.phase = 'ended';
    await this.lifecycle.retryScheduled(this.scope, this.documentId, this.jobId, error);
  }

  /** Ends the run with a final failure. */
  async failed(error: JobError): Promise<void> {
    this.expect('running', 'failed');
    this.phase = 'ended';
    await this.lifecycle.failed(this.scope, this.documentId, error, this.node);
  }

  /** Ends the run without a status change: the document was deleted or given a newer job meanwhile. */
  stopped(): void {
    this.phase = 'ended';
  }

  private expect(phase: RunPhase, transition: string): void {
    if (this.phase !== phase) {
      throw new IllegalTransitionError(`The run of job ${this.jobId} is ${this.phase}; ${transition} is not allowed`, {
        transition,
        documentId: this.documentId,
        jobId: this.jobId,
        from: this.phase,
      });
    }
  }

  private missing(): { text: string; details: Record<string, unknown> } | null {
    if (!this.summary) return { text: 'no summary', details: { summary: false } };
    const pages: number[] = [];
    for (let p = 1; p <= this.summary.pageCount; p++) if (!this.pages.has(p)) pages.push(p);
    const chunks: number[] = [];
    for (let o = 0; o < this.summary.chunkCount; o++) if (!this.ordinals.has(o)) chunks.push(o);
    if (pages.length === 0 && chunks.length === 0) return null;
    return {
      text: `${pages.length} of ${this.summary.pageCount} pages and ${chunks.length} of ${this.summary.chunkCount} chunks`,
      details: { missingPages: pages.slice(0, 20), missingChunks: chunks.slice(0, 20) },
    };
  }
}

/** Refuses a document move not in {@link DOCUMENT_TRANSITIONS}. */
function check(transition: DocumentTransition, from: LifecycleState, ids: { documentId: string; jobId: string }): void {
  const allowed: readonly LifecycleState[] = DOCUMENT_TRANSITIONS[transition].from;
  if (!allowed.includes(from)) {
    const to = DOCUMENT_TRANSITIONS[transition].to;
    throw new IllegalTransitionError(`Document ${ids.documentId} cannot go from ${from} to ${to} (${transition})`, {
      transition,
      from,
      to,
      ...ids,
    });
  }
}

/** Refuses a job move not in {@link JOB_TRANSITIONS}, or a job of another document. */
function checkJob(transition: JobTransition, job: JobRecord, documentId: string): void {
  const allowed: readonly JobStatus[] = JOB_TRANSITIONS[transition].from;
  if (job.documentId !== documentId || !allowed.includes(job.status)) {
    const to = JOB_TRANSITIONS[transition].to;
    throw new IllegalTransitionError(`Job ${job.id} cannot go from ${job.status} to ${to} (${transition})`, {
      transition,
      from: job.status,
      to,
      documentId,
      jobId: job.id,
    });
  }
}
