/**
 * Results: the hub's side of processing. Processor nodes (in this process or on other
 * machines) report the end of each delivery of a job on the durable `document.result` queue,
 * which any hub consumes; this service applies what they report through the document
 * lifecycle. A hub holds no lease while a node works: only while it applies a report.
 *
 * - `succeeded`: the result object's parts (JSON lines) are checked one by one against the
 *   protocol and applied in order; writes are keyed by document and page or chunk ordinal, so a
 *   report applied twice (redelivered after a crash) writes the same rows. Matches are
 *   proposed, then the document is `processed`.
 * - `failed`: the document is queued again (a retry follows on the bus) or failed for good.
 * - `input-missing`: the inputs are put on the bus again with a new delivery of the job.
 *
 * A report of a job that is no longer its document's current one, or of a document already
 * finished or deleted, changes nothing.
 */
import type { Logger } from 'pino';
import type { Bus, DeadLetter, Delivery, JobOutcome } from '@quire/bus';
import {
  DocumentStatus,
  MAX_MESSAGE_BYTES,
  processResultSchema,
  resultPartSchema,
  type ProcessResult,
  type ResultPart,
} from '@quire/kernel';
import type { DocumentRecord, Store, TeamScope } from '../store/store.ts';
import type { DocumentLifecycle, JobRun } from './document-lifecycle.ts';
import type { IndexerService } from './indexer.service.ts';
import type { JobDispatcher } from './job-dispatcher.ts';

/** A result object that breaks the protocol: the job fails with code `RESULT_INVALID`. */
class InvalidResult extends Error {}

export class ResultsService {
  constructor(
    private readonly deps: {
      store: Store;
      bus: Bus;
      indexer: IndexerService;
      lifecycle: DocumentLifecycle;
      jobs: JobDispatcher;
      /** Proposes matches of a document just processed, from its chunk vectors by ordinal. */
      matches: { proposeFor(scope: TeamScope, documentId: string, chunkVectors: ReadonlyMap<number, Float32Array>): Promise<unknown> };
      logger: Logger;
    },
  ) {}

  /** Bus handler for one report on `document.result`. */
  readonly handle = async (delivery: Delivery<ProcessResult>): Promise<JobOutcome> => {
    const result = delivery.envelope.payload;
    const scope: TeamScope = { teamId: result.teamId };
    const log = this.deps.logger.child({ documentId: result.documentId, jobId: result.jobId, attempt: result.attempt, node: result.node });
    const { store, lifecycle } = this.deps;

    const doc = await store.getDocument(scope, result.documentId);
    const skip = async (reason: string): Promise<JobOutcome> => {
      await this.discard(result);
      log.debug({ reason, status: result.status }, 'result report skipped');
      return { status: 'skipped', reason };
    };
    if (!doc) return skip('document deleted');
    if (doc.jobId !== result.jobId) {
      await lifecycle.superseded(scope, result.jobId);
      return skip('superseded by a newer job');
    }
    if (doc.status === DocumentStatus.Processed || doc.status === DocumentStatus.Failed) return skip(`already ${doc.status}`);

    switch (result.status) {
      case 'input-missing':
        log.info({ missing: result.missing }, 'an input of the job had expired; the job runs again');
        return this.runAgain(scope, doc, result, log);
      case 'failed': {
        const job = await store.getJob(scope, result.jobId);
        // A later delivery started already: this report is stale unless it is the last word.
        if (!result.final && job && job.attempts > result.attempt) return skip('a later delivery runs');
        const run = await this.start(scope, doc, result, log);
        const error = { code: result.code, message: result.message, stage: result.stage };
        log.warn({ error, final: result.final }, 'processing failed');
        if (result.final) await run.failed(error);
        else await run.retryScheduled(error);
        if (result.final) await this.deps.jobs.forget(result.jobId);
        return { status: 'succeeded' };
      }
      case 'succeeded':
        return this.applyResult(scope, doc, result, delivery, log);
    }
  };

  private async applyResult(
    scope: TeamScope,
    doc: DocumentRecord,
    result: Extract<ProcessResult, { status: 'succeeded' }>,
    delivery: Delivery<ProcessResult>,
    log: Logger,
  ): Promise<JobOutcome> {
    const { bus, store } = this.deps;
    const bytes = await bus.getObject(result.resultKey);
    if (!bytes) {
      // Gone before any hub applied it (it outlived its lifetime).
      log.warn('result object is missing; the job runs again');
      return this.runAgain(scope, doc, result, log);
    }

    let parts: ResultPart[];
    try {
      parts = parseParts(bytes, result);
    } catch (err) {
      if (!(err instanceof InvalidResult)) throw err;
      log.error({ err }, 'result refused');
      const run = await this.start(scope, doc, result, log);
      await run.failed({ code: 'RESULT_INVALID', message: err.message, stage: 'index' });
      await this.discard(result);
      return { status: 'succeeded' };
    }

    const run = await this.start(scope, doc, result, log);
    const chunkVectors = new Map<number, Float32Array>();
    for (const part of parts) {
      delivery.heartbeat();
      // The summary sets the final filters, so the document as read at the start suffices.
      await this.deps.indexer.apply(scope, doc, part);
      run.partApplied(part);
      if (part.kind === 'chunks') for (const c of part.chunks) chunkVectors.set(c.ordinal, Float32Array.from(c.vector));
    }
    if (!(await store.getDocument(scope, doc.id))) {
      // Deleted while the parts were written: remove what was written after the delete.
      run.stopped();
      await this.deps.indexer.remove(scope, doc.id);
      await store.deleteDocument(scope, doc.id);
      await this.discard(result);
      return { status: 'skipped', reason: 'document deleted' };
    }
    // Matches are proposed before the document is announced processed, so whoever reacts to
    // that finds them; failing to propose them does not fail the document.
    await run.processed(() => this.deps.matches.proposeFor(scope, doc.id, chunkVectors));
    await this.discard(result);
    log.info('document processed');
    return { status: 'succeeded' };
  }

  /** Bus dead-letter hook: a report no hub could apply still ends its document, failed. */
  readonly onDeadLetter = async (dead: DeadLetter): Promise<void> => {
    const parsed = processResultSchema.safeParse(dead.envelope.payload);
    if (!parsed.success) return;
    const result = parsed.data;
    const scope: TeamScope = { teamId: result.teamId };
    const doc = await this.deps.store.getDocument(scope, result.documentId);
    if (!doc || doc.jobId !== result.jobId) return;
    if (doc.status === DocumentStatus.Queued || doc.status === DocumentStatus.Processing) {
      await this.deps.lifecycle.failed(scope, doc.id, { code: dead.code, message: dead.message, stage: 'index' }, result.node);
    }
  };

  /** The current job's run, `processing` (again) for the delivery that reported. */
  private start(scope: TeamScope, doc: DocumentRecord, result: ProcessResult, log: Logger): Promise<JobRun> {
    return this.deps.lifecycle.started(scope, doc, { jobId: result.jobId, attempt: result.attempt, node: result.node, log });
  }

  /** Puts the job's inputs on the bus again with a new delivery; fails the document when its original is gone. */
  private async runAgain(scope: TeamScope, doc: DocumentRecord, result: ProcessResult, log: Logger): Promise<JobOutcome> {
    if (!(await this.deps.jobs.redispatch(scope, doc))) {
      const run = await this.start(scope, doc, result, log);
      await run.failed({ code: 'BLOB_MISSING', message: 'The original file is missing', stage: 'detect' });
    }
    return { status: 'succeeded' };
  }

  /** Removes what the report left on the bus: its result object and, once done with, the original. */
  private async discard(result: ProcessResult): Promise<void> {
    if (result.status === 'succeeded') await this.deps.bus.deleteObject(result.resultKey);
    if (result.status !== 'input-missing') await this.deps.jobs.forget(result.jobId);
  }
}

/** The parts of a result object, each checked; throws {@link InvalidResult} on the first that breaks the protocol. */
function parseParts(bytes: Uint8Array, result: Extract<ProcessResult, { status: 'succeeded' }>): ResultPart[] {
  if (bytes.byteLength !== result.bytes) {
    throw new InvalidResult(`the result holds ${bytes.byteLength} bytes, its report says ${result.bytes}`);
  }
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const parts: ResultPart[] = [];
  let start = 0;
  while (start < bytes.byteLength) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.byteLength;
    if (end - start > MAX_MESSAGE_BYTES) throw new InvalidResult(`result part ${parts.length + 1} is over ${MAX_MESSAGE_BYTES} bytes`);
    let value: unknown;
    try {
      value = JSON.parse(decoder.decode(bytes.subarray(start, end)));
    } catch {
      throw new InvalidResult(`result part ${parts.length + 1} is not JSON`);
    }
    const parsed = resultPartSchema.safeParse(value);
    if (!parsed.success) throw new InvalidResult(`result part ${parts.length + 1} is malformed: ${parsed.error.message.slice(0, 300)}`);
    const part = parsed.data;
    if (part.jobId !== result.jobId || part.documentId !== result.documentId || part.teamId !== result.teamId) {
      throw new InvalidResult(`result part ${parts.length + 1} belongs to another job`);
    }
    parts.push(part);
    start = end + 1;
  }
  if (parts.length !== result.parts) throw new InvalidResult(`the result holds ${parts.length} parts, its report says ${result.parts}`);
  return parts;
}
