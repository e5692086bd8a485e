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
import type { Store, TeamScope } from '../store/store.ts';
import type { DocumentLifecycle, JobRun, StageProgress } from './document-lifecycle.ts';
import type { IndexerService } from './indexer.service.ts';
import type { LiveEvents } from './live-events.ts';

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

export class ProcessingService {
  constructor(
    private readonly deps: {
      store: Store;
      blobs: BlobStore;
      runner: PipelineRunner;
      indexer: IndexerService;
      events: LiveEvents;
      /** Every status change of the document and its job goes through it. */
      lifecycle: DocumentLifecycle;
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
    const { store, lifecycle } = this.deps;
    const doc = await store.getDocument(scope, job.documentId);
    if (!doc) return { status: 'skipped', reason: 'document deleted' };
    if (doc.jobId !== job.jobId) {
      await lifecycle.superseded(scope, job.jobId);
      return { status: 'skipped', reason: 'superseded by a newer job' };
    }
    // A delivery of a job that already ended (its acknowledgement was lost in a crash) has
    // nothing left to do.
    if (doc.status === DocumentStatus.Processed || doc.status === DocumentStatus.Failed) {
      return { status: 'skipped', reason: `already ${doc.status}` };
    }

    const run = await lifecycle.started(scope, doc, { jobId: job.jobId, attempt: delivery.attempt, log });

    let data: Uint8Array;
    try {
      data = await this.deps.blobs.read(doc.blobKey);
    } catch (err) {
      log.error({ err }, 'original is missing');
      await run.failed({ code: 'BLOB_MISSING', message: 'The original file is missing', stage: 'detect' });
      return { status: 'failed', code: 'BLOB_MISSING', message: 'The original file is missing', retryable: false };
    }

    // The result part being applied: a run stopped by a delete ends only after it, so that
    // the clean-up below comes last.
    let applying: Promise<unknown> = Promise.resolve();
    const chunkVectors = new Map<number, Float32Array>();
    const outcome = await this.deps.runner.run(job, data, await this.deps.classifierSettings(scope), {
      signal: AbortSignal.any([delivery.signal, superseded]),
      onProgress: (p) => {
        if (superseded.aborted) return;
        delivery.heartbeat();
        run.progressed(p);
      },
      onResult: async (part) => {
        delivery.heartbeat();
        superseded.throwIfAborted();
        // The summary part sets the final filters, so the document as read at the start suffices.
        const applied = this.deps.indexer.apply(scope, doc, part);
        applying = applied.catch(() => undefined);
        await applied;
        run.partApplied(part);
        if (part.kind === 'chunks') for (const c of part.chunks) chunkVectors.set(c.ordinal, Float32Array.from(c.vector));
      },
    });

    if (superseded.aborted) return this.stopped(scope, job, run, superseded, applying, log);

    if (outcome.status === 'succeeded') {
      try {
        // Matches are proposed before the document is announced processed, so whoever reacts to
        // that finds them; failing to propose them does not fail the document.
        await run.processed(() => this.deps.matches.proposeFor(scope, doc.id, chunkVectors));
      } catch (err) {
        if (superseded.aborted) return this.stopped(scope, job, run, superseded, applying, log);
        throw err;
      }
      log.info('document processed');
      return { status: 'succeeded' };
    }

    const error = { code: outcome.code, message: outcome.message, stage: outcome.stage };
    const final = !outcome.retryable || delivery.attempt >= this.deps.maxAttempts;
    log.warn({ error, attempt: delivery.attempt, final }, 'processing failed');
    if (final) await run.failed(error);
    else await run.retryScheduled(error);
    return { status: 'failed', code: outcome.code, message: outcome.message, retryable: outcome.retryable };
  }

  /** Ends a run stopped because its document was deleted or given a newer job meanwhile. */
  private async stopped(
    scope: TeamScope,
    job: ProcessJob,
    run: JobRun,
    superseded: AbortSignal,
    applying: Promise<unknown>,
    log: Logger,
  ): Promise<JobOutcome> {
    const { store } = this.deps;
    run.stopped();
    await applying;
    const reason = (superseded.reason as Error).message;
    if (!(await store.getDocument(scope, job.documentId))) {
      // A part applied while the delete ran may have written rows and index entries after
      // the delete removed them: remove them again, now that nothing else is written.
      await this.deps.indexer.remove(scope, job.documentId);
      await store.deleteDocument(scope, job.documentId);
    } else {
      await this.deps.lifecycle.superseded(scope, job.jobId);
    }
    log.info({ reason }, 'processing stopped');
    return { status: 'skipped', reason };
  }

  /** Bus dead-letter hook: a job that threw until it ran out of attempts still fails its document. */
  readonly onDeadLetter = async (dead: DeadLetter): Promise<void> => {
    const parsed = processJobSchema.safeParse(dead.envelope.payload);
    if (!parsed.success) return;
    const scope: TeamScope = { teamId: parsed.data.teamId };
    const doc = await this.deps.store.getDocument(scope, parsed.data.documentId);
    if (!doc || doc.jobId !== parsed.data.jobId) return;
    if (doc.status === DocumentStatus.Queued || doc.status === DocumentStatus.Processing) {
      await this.deps.lifecycle.failed(scope, doc.id, { code: dead.code, message: dead.message, stage: null });
    }
  };
}
