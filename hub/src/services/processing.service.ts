/**
 * Processing: the bus handler for `document.process`. It hands the document's bytes to the
 * pipeline runner (worker threads in the embedded default), relays progress as live events,
 * feeds result parts to the indexer, and records the outcome. Expected outcomes are return
 * values; the bus retries retryable failures with backoff and dead-letters the rest.
 */
import type { Logger } from 'pino';
import type { DeadLetter, Delivery, JobOutcome } from '@quire/bus';
import { DocumentStatus, processJobSchema, type ClassifierSettings, type ProcessJob, type ResultPart } from '@quire/kernel';
import type { BlobStore } from '../blobs/blob-store.ts';
import { JobStatus, type DocumentRecord, type Store, type TeamScope } from '../store/store.ts';
import type { IndexerService } from './indexer.service.ts';
import type { LiveEvents } from './live-events.ts';

/** Progress as a pipeline reports it (the hub adds job, document, team and time). */
export interface StageProgress {
  stage: string;
  done: number;
  total: number;
  percent: number;
  etaMs: number | null;
}

export type RunOutcome =
  { status: 'succeeded' } | { status: 'failed'; code: string; message: string; stage: string | null; retryable: boolean };

/** Runs the processing pipeline on a document's bytes (a worker pool, or a remote node). */
export interface PipelineRunner {
  run(
    job: ProcessJob,
    data: Uint8Array,
    classifier: ClassifierSettings,
    hooks: { onProgress(p: StageProgress): void; onResult(part: ResultPart): Promise<void>; signal: AbortSignal },
  ): Promise<RunOutcome>;
}

/** Writes of job progress to the store are throttled; live events are not. */
const PROGRESS_PERSIST_MS = 1000;

export class ProcessingService {
  constructor(
    private readonly deps: {
      store: Store;
      blobs: BlobStore;
      runner: PipelineRunner;
      indexer: IndexerService;
      events: LiveEvents;
      /** This processing node's id (`hostname:pid`), sent with every progress event so that dashboards can tell nodes apart. */
      nodeId: string;
      classifierSettings: (scope: TeamScope) => Promise<ClassifierSettings>;
      /** Proposes matches of a document just processed, from its chunk vectors by ordinal. */
      matches: { proposeFor(scope: TeamScope, documentId: string, chunkVectors: ReadonlyMap<number, Float32Array>): Promise<unknown> };
      maxAttempts: number;
      logger: Logger;
    },
  ) {}

  /** Bus handler for one delivery of a processing job. */
  readonly handle = async (delivery: Delivery<ProcessJob>): Promise<JobOutcome> => {
    const parsed = processJobSchema.safeParse(delivery.envelope.payload);
    if (!parsed.success) {
      return { status: 'failed', code: 'BAD_JOB', message: parsed.error.message, retryable: false };
    }
    const job = parsed.data;
    const scope: TeamScope = { teamId: job.teamId };
    const log = this.deps.logger.child({ correlationId: job.correlationId, documentId: job.documentId, jobId: job.jobId });
    const { events } = this.deps;

    // A document deleted, or given a newer job, while this one runs (on any hub: the events
    // come over the bus) stops the run at once rather than at its timeout. Listening starts
    // before the document is read, so no such change falls between the two.
    const superseded = new AbortController();
    const stopListening = events.listen((live) => {
      if (live.kind !== 'document' || live.event.documentId !== job.documentId || live.event.teamId !== scope.teamId) return;
      if (live.event.status === 'deleted' || (live.event.jobId !== null && live.event.jobId !== job.jobId)) {
        superseded.abort(new Error(live.event.status === 'deleted' ? 'document deleted' : 'superseded by a newer job'));
      }
    });
    try {
      return await this.processJob(job, scope, delivery, superseded.signal, log);
    } finally {
      stopListening();
    }
  };

  private async processJob(
    job: ProcessJob,
    scope: TeamScope,
    delivery: Delivery<ProcessJob>,
    superseded: AbortSignal,
    log: Logger,
  ): Promise<JobOutcome> {
    const { store, events } = this.deps;
    const doc = await store.getDocument(scope, job.documentId);
    if (!doc) return { status: 'skipped', reason: 'document deleted' };
    if (doc.jobId !== job.jobId) return { status: 'skipped', reason: 'superseded by a newer job' };

    await store.updateJob(scope, job.jobId, { status: JobStatus.Running, attempts: delivery.attempt, error: null });
    await store.updateDocument(scope, doc.id, { status: DocumentStatus.Processing });
    await events.documentChanged(scope, { documentId: doc.id, jobId: job.jobId, status: DocumentStatus.Processing });

    let data: Uint8Array;
    try {
      data = await this.deps.blobs.read(doc.blobKey);
    } catch (err) {
      log.error({ err }, 'original is missing');
      await this.fail(scope, doc, { code: 'BLOB_MISSING', message: 'The original file is missing', stage: 'detect' });
      return { status: 'failed', code: 'BLOB_MISSING', message: 'The original file is missing', retryable: false };
    }

    let lastPersist = 0;
    // The result part being applied: a run stopped by a delete ends only after it, so that
    // the clean-up below comes last.
    let applying: Promise<unknown> = Promise.resolve();
    let lastStage = '';
    const chunkVectors = new Map<number, Float32Array>();
    const outcome = await this.deps.runner.run(job, data, await this.deps.classifierSettings(scope), {
      signal: AbortSignal.any([delivery.signal, superseded]),
      onProgress: (p) => {
        if (superseded.aborted) return;
        delivery.heartbeat();
        const now = Date.now();
        void events
          .progress({ jobId: job.jobId, documentId: job.documentId, teamId: job.teamId, ...p, at: now, node: this.deps.nodeId })
          .catch((err) => log.warn({ err }, 'progress event not published'));
        if (p.stage !== lastStage || now - lastPersist >= PROGRESS_PERSIST_MS) {
          lastStage = p.stage;
          lastPersist = now;
          void store
            .updateJob(scope, job.jobId, { stage: p.stage, done: p.done, total: p.total, percent: p.percent, etaMs: p.etaMs })
            .catch((err) => log.warn({ err }, 'progress not persisted'));
        }
      },
      onResult: async (part) => {
        delivery.heartbeat();
        superseded.throwIfAborted();
        // The summary part sets the final filters, so the document as read at the start suffices.
        const applied = this.deps.indexer.apply(scope, doc, part);
        applying = applied.catch(() => undefined);
        await applied;
        if (part.kind === 'chunks') for (const c of part.chunks) chunkVectors.set(c.ordinal, Float32Array.from(c.vector));
      },
    });

    if (superseded.aborted) {
      await applying;
      const reason = (superseded.reason as Error).message;
      if (!(await store.getDocument(scope, doc.id))) {
        // A part applied while the delete ran may have written rows and index entries after
        // the delete removed them: remove them again, now that nothing else is written.
        await this.deps.indexer.remove(scope, doc.id);
        await store.deleteDocument(scope, doc.id);
      }
      log.info({ reason }, 'processing stopped');
      return { status: 'skipped', reason };
    }

    if (outcome.status === 'succeeded') {
      const now = Date.now();
      await store.updateJob(scope, job.jobId, { status: JobStatus.Succeeded, percent: 100, etaMs: 0, stage: 'done', finishedAt: now });
      await events.progress({
        jobId: job.jobId,
        documentId: job.documentId,
        teamId: job.teamId,
        stage: 'done',
        done: 1,
        total: 1,
        percent: 100,
        etaMs: 0,
        at: now,
        node: this.deps.nodeId,
      });
      // Matches are proposed before the document is announced processed, so whoever reacts to
      // that finds them; failing to propose them does not fail the document.
      await this.deps.matches
        .proposeFor(scope, doc.id, chunkVectors)
        .catch((err: unknown) => log.error({ err }, 'proposing matches failed'));
      await events.documentChanged(scope, { documentId: doc.id, jobId: job.jobId, status: DocumentStatus.Processed });
      log.info('document processed');
      return { status: 'succeeded' };
    }

    const error = { code: outcome.code, message: outcome.message, stage: outcome.stage };
    const final = !outcome.retryable || delivery.attempt >= this.deps.maxAttempts;
    log.warn({ error, attempt: delivery.attempt, final }, 'processing failed');
    if (final) {
      await this.fail(scope, doc, error);
    } else {
      await store.updateJob(scope, job.jobId, { status: JobStatus.Queued, error });
      await store.updateDocument(scope, doc.id, { status: DocumentStatus.Queued });
      await events.documentChanged(scope, { documentId: doc.id, jobId: job.jobId, status: DocumentStatus.Queued, error });
    }
    return { status: 'failed', code: outcome.code, message: outcome.message, retryable: outcome.retryable };
  }

  /** Bus dead-letter hook: a job that threw until it ran out of attempts still fails its document. */
  readonly onDeadLetter = async (dead: DeadLetter): Promise<void> => {
    const parsed = processJobSchema.safeParse(dead.envelope.payload);
    if (!parsed.success) return;
    const scope: TeamScope = { teamId: parsed.data.teamId };
    const doc = await this.deps.store.getDocument(scope, parsed.data.documentId);
    if (doc && doc.jobId === parsed.data.jobId && doc.status !== DocumentStatus.Failed) {
      await this.fail(scope, doc, { code: dead.code, message: dead.message, stage: null });
    }
  };

  private async fail(scope: TeamScope, doc: DocumentRecord, error: { code: string; message: string; stage: string | null }): Promise<void> {
    const { store, events } = this.deps;
    await store.updateJob(scope, doc.jobId, { status: JobStatus.Failed, error, finishedAt: Date.now() });
    const job = await store.getJob(scope, doc.jobId);
    await store.updateDocument(scope, doc.id, { status: DocumentStatus.Failed, error });
    await events.progress({
      jobId: doc.jobId,
      documentId: doc.id,
      teamId: scope.teamId,
      stage: 'failed',
      done: job?.done ?? 0,
      total: job?.total ?? 0,
      percent: job?.percent ?? 0,
      etaMs: null,
      at: Date.now(),
      node: this.deps.nodeId,
    });
    await events.documentChanged(scope, { documentId: doc.id, jobId: doc.jobId, status: DocumentStatus.Failed, error });
  }
}
