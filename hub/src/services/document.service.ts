/**
 * Documents as users see them: reading, listing, reprocessing and deleting, always within
 * a team. Deleting removes the blob, the rows and the index entries.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ConflictError, DocumentStatus, NotFoundError, ValidationError } from '@quire/kernel';
import type { BlobStore } from '../blobs/blob-store.ts';
import {
  AuditAction,
  DocumentOrder,
  auditEntry,
  type ActingScope,
  type DocumentFilter,
  type DocumentRecord,
  type JobRecord,
  type Page,
  type Store,
  type TeamScope,
} from '../store/store.ts';
import type { DocumentLifecycle } from './document-lifecycle.ts';
import type { IndexerService } from './indexer.service.ts';
import type { JobDispatcher } from './job-dispatcher.ts';

/** Most documents returned by one `documents` page. */
export const MAX_PAGE_SIZE = 200;

export class DocumentService {
  constructor(
    private readonly deps: {
      store: Store;
      blobs: BlobStore;
      indexer: IndexerService;
      /** Puts a reprocessing job on the bus; what the bus holds for a job (its original) goes with its document. */
      jobs: Pick<JobDispatcher, 'dispatch' | 'forget'>;
      /** Every status change of a document goes through it. */
      lifecycle: DocumentLifecycle;
    },
  ) {}

  async get(scope: TeamScope, id: string): Promise<DocumentRecord | undefined> {
    return this.deps.store.getDocument(scope, id);
  }

  async mustGet(scope: TeamScope, id: string): Promise<DocumentRecord> {
    const doc = await this.deps.store.getDocument(scope, id);
    if (!doc) throw new NotFoundError(`Document ${id} not found`);
    return doc;
  }

  /** The original bytes of a document, as uploaded. */
  async openOriginal(scope: TeamScope, id: string): Promise<{ document: DocumentRecord; stream: Readable }> {
    const document = await this.mustGet(scope, id);
    return { document, stream: await this.deps.blobs.get(document.blobKey) };
  }

  /** A page of the team's documents in `orderBy` (newest first by default). */
  async list(
    scope: TeamScope,
    options: { filter?: DocumentFilter; orderBy?: DocumentOrder; first?: number; after?: string | null },
  ): Promise<Page<DocumentRecord>> {
    const first = options.first ?? 20;
    if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
      throw new ValidationError(`first must be between 1 and ${MAX_PAGE_SIZE}`, { code: 'BAD_PAGE_SIZE' });
    }
    return this.deps.store.listDocuments(scope, {
      filter: options.filter,
      orderBy: options.orderBy ?? DocumentOrder.Newest,
      first,
      after: options.after ?? null,
    });
  }

  /** How many of the team's documents match `filter`. */
  count(scope: TeamScope, filter?: DocumentFilter): Promise<number> {
    return this.deps.store.countDocuments(scope, filter);
  }

  async job(scope: TeamScope, id: string): Promise<JobRecord | undefined> {
    return this.deps.store.getJob(scope, id);
  }

  /** The team's jobs among `ids` (in no particular order), in one read. */
  async jobs(scope: TeamScope, ids: readonly string[]): Promise<JobRecord[]> {
    return this.deps.store.getJobs(scope, ids);
  }

  pages(scope: TeamScope, documentId: string) {
    return this.deps.store.getPages(scope, documentId);
  }

  chunks(scope: TeamScope, documentId: string) {
    return this.deps.store.getChunks(scope, documentId);
  }

  /** Starts a new processing job; a document still queued or processing is refused. */
  async reprocess(scope: ActingScope, id: string): Promise<{ document: DocumentRecord; job: JobRecord }> {
    const { store } = this.deps;
    const doc = await this.mustGet(scope, id);
    if (doc.status === DocumentStatus.Queued || doc.status === DocumentStatus.Processing) {
      throw new ConflictError(`Document ${id} is already ${doc.status}`, { code: 'ALREADY_PROCESSING', details: { status: doc.status } });
    }
    const jobId = randomUUID();
    const { document, job } = await this.deps.lifecycle.reprocessed(scope, doc, jobId);
    await this.deps.jobs.dispatch(scope, document, jobId);
    await store.appendAudit(auditEntry(scope, AuditAction.DocumentReprocessed, { type: 'document', id }, { jobId }));
    return { document, job };
  }

  /** Deletes a document everywhere. Returns false when there was no such document. */
  async delete(scope: ActingScope, id: string): Promise<boolean> {
    const doc = await this.deps.store.getDocument(scope, id);
    if (!doc) return false;
    // Index first, then rows, then the blob: a crash in between leaves a row that a retry can
    // delete, never an index entry pointing at nothing.
    await this.deps.indexer.remove(scope, id);
    return this.deps.lifecycle.deleted(scope, doc, async () => {
      await this.deps.blobs.delete(doc.blobKey);
      // A node that has not started the job yet finds no original, and runs nothing.
      await this.deps.jobs.forget(doc.jobId);
      await this.deps.store.appendAudit(
        auditEntry(scope, AuditAction.DocumentDeleted, { type: 'document', id }, { filename: doc.filename }),
      );
    });
  }
}
