/**
 * Ingest: an upload stream becomes a stored blob, a `queued` document and a durable job,
 * in that order, before the caller is answered. Duplicate bytes in the same team return
 * the existing document.
 */
import { randomUUID } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import type { RateLimits } from '../auth/rate-limits.ts';
import type { BlobStore } from '../blobs/blob-store.ts';
import { AuditAction, auditEntry, type ActingScope, type DocumentRecord, type Store, type TeamScope } from '../store/store.ts';
import { DocumentStatus } from '@quire/kernel';
import { IllegalTransitionError, type DocumentLifecycle } from './document-lifecycle.ts';
import type { JobDispatcher } from './job-dispatcher.ts';
import { classifyUpload, UploadInspector } from './upload-inspector.ts';

export interface UploadInput {
  filename: string;
  declaredMime: string | undefined;
  stream: Readable;
}

export interface UploadAccepted {
  documentId: string;
  jobId: string;
  /** Set when the same bytes were already uploaded to this team: the existing document's id. */
  duplicateOf?: string;
}

export class IngestService {
  constructor(
    private readonly deps: {
      store: Store;
      blobs: BlobStore;
      /** Puts processing jobs, with their inputs, on the bus. */
      jobs: JobDispatcher;
      /** Stores and announces an accepted upload, and a recovered one, as `queued`. */
      lifecycle: DocumentLifecycle;
      logger: Logger;
      maxUploadBytes: number;
      /** Uploads per team per minute. */
      limits: RateLimits;
    },
  ) {}

  /** Whether the team may upload now; throws RATE_LIMITED, before any byte is read, when it may not. */
  async admit(scope: ActingScope): Promise<void> {
    await this.deps.limits.upload(scope.teamId);
  }

  /** Stores an upload and queues it; every accepted upload, duplicate or not, is audited. */
  async upload(scope: ActingScope, input: UploadInput): Promise<UploadAccepted> {
    const accepted = await this.receive(scope, input);
    await this.deps.store.appendAudit(
      auditEntry(
        scope,
        AuditAction.DocumentUploaded,
        { type: 'document', id: accepted.documentId },
        {
          filename: sanitizeFilename(input.filename),
          ...(accepted.duplicateOf ? { duplicate: true } : {}),
        },
      ),
    );
    return accepted;
  }

  private async receive(scope: TeamScope, input: UploadInput): Promise<UploadAccepted> {
    const { store, blobs, maxUploadBytes } = this.deps;
    const documentId = randomUUID();
    const blobKey = `${scope.teamId}/${documentId}`;
    const inspector = new UploadInspector(maxUploadBytes);
    const through = new PassThrough();
    // The inspector sits between the request and the blob store, so the file is streamed to
    // disk once while it is hashed, sized and sniffed; nothing holds it whole in memory.
    const stored = blobs.put(blobKey, through);
    try {
      await Promise.all([pipeline(input.stream, inspector, through), stored]);
    } catch (err) {
      through.destroy();
      await stored.catch(() => undefined);
      await blobs.delete(blobKey);
      throw err;
    }

    let mimeType: string;
    try {
      mimeType = await classifyUpload({
        filename: input.filename,
        declaredMime: input.declaredMime,
        size: inspector.size,
        head: inspector.head,
        tail: inspector.tail,
      });
    } catch (err) {
      await blobs.delete(blobKey);
      throw err;
    }

    const sha256 = inspector.digest();
    const existing = await store.findDocumentBySha256(scope, sha256);
    if (existing) {
      await blobs.delete(blobKey);
      return { documentId: existing.id, jobId: existing.jobId, duplicateOf: existing.id };
    }

    const jobId = randomUUID();
    let doc: DocumentRecord;
    try {
      doc = await this.deps.lifecycle.uploaded(scope, {
        id: documentId,
        filename: sanitizeFilename(input.filename),
        mimeType,
        size: inspector.size,
        sha256,
        blobKey,
        jobId,
      });
    } catch (err) {
      // A concurrent upload of the same bytes won the unique (team, sha256) constraint.
      const winner = await store.findDocumentBySha256(scope, sha256);
      await blobs.delete(blobKey);
      if (winner) return { documentId: winner.id, jobId: winner.jobId, duplicateOf: winner.id };
      throw err;
    }
    await this.deps.jobs.dispatch(scope, doc, jobId);
    return { documentId, jobId };
  }

  /**
   * Puts the job of every document left `queued` or `processing` by a stop back on the bus,
   * at start-up. Jobs already on the bus are idempotent by id, so re-enqueueing them is harmless.
   */
  async recoverUnfinished(): Promise<void> {
    const { store, lifecycle } = this.deps;
    for (const u of await store.listUnfinishedDocuments()) {
      const scope: TeamScope = { teamId: u.teamId };
      const doc = await store.getDocument(scope, u.documentId);
      // Results that other nodes finished meanwhile may have been applied already.
      if (!doc || (doc.status !== DocumentStatus.Queued && doc.status !== DocumentStatus.Processing)) continue;
      // On a bus shared by hubs and nodes, a document being processed has its job in flight
      // there, and the bus delivers it again should its node die: sent again, it would run twice.
      if (doc.status === DocumentStatus.Processing && this.deps.jobs.sharesOriginals) continue;
      try {
        await lifecycle.recovered(scope, doc);
      } catch (err) {
        if (err instanceof IllegalTransitionError) continue;
        throw err;
      }
      await this.deps.jobs.dispatch(scope, doc, doc.jobId);
    }
  }
}

/**
 * Characters removed from file names: every control character (C0, DEL, C1) and the
 * bidirectional marks, embeddings, overrides and isolates (U+061C, U+200E, U+200F,
 * U+202A–U+202E, U+2066–U+2069), which can make `invoice\u202Efdp.exe` read as `invoiceexe.pdf`.
 */
const UNSAFE_FILENAME_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Longest file name kept, in characters (code points). */
const MAX_FILENAME_CHARACTERS = 255;

/**
 * Keeps the base name only, without control or bidirectional formatting characters, at most
 * 255 characters; a name cut there never ends in half a surrogate pair.
 */
export function sanitizeFilename(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  const clean = Array.from(base.replace(UNSAFE_FILENAME_CHARACTERS, '').trim()).slice(0, MAX_FILENAME_CHARACTERS).join('').trim();
  return clean || 'upload';
}
