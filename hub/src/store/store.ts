/**
 * The Store port: documents, pages, chunks and jobs. Every read and write of team data takes
 * a {@link TeamScope}; ids of another team behave exactly like ids that do not exist.
 * Adapters: `SqliteStore` (embedded default). All methods are async so that a networked
 * adapter fits the same contract.
 */
import type { Box, Classification, DocumentStatus, Fields, JobStorage, PageResult, Word } from '@quire/processors';
import type { TeamScope } from '@quire/search';

export type { TeamScope };

export interface TeamRecord {
  id: string;
  name: string;
  createdAt: number;
}

export interface DocumentRecord {
  id: string;
  teamId: string;
  filename: string;
  mimeType: string;
  size: number;
  /** Hex sha256 of the bytes; unique per team (duplicate uploads return the existing document). */
  sha256: string;
  blobKey: string;
  status: DocumentStatus;
  pageCount: number;
  chunkCount: number;
  classification: Classification | null;
  fields: Fields;
  /** Model that embedded the chunks. */
  modelId: string | null;
  /** The most recent processing job. */
  jobId: string;
  error: { code: string; message: string; stage: string | null } | null;
  createdAt: number;
  updatedAt: number;
  processedAt: number | null;
}

export type NewDocument = Pick<DocumentRecord, 'id' | 'filename' | 'mimeType' | 'size' | 'sha256' | 'blobKey' | 'jobId'>;

export type DocumentPatch = Partial<
  Pick<DocumentRecord, 'status' | 'pageCount' | 'chunkCount' | 'classification' | 'fields' | 'modelId' | 'jobId' | 'error' | 'processedAt'>
>;

export interface PageRecord {
  documentId: string;
  page: number;
  width: number;
  height: number;
  text: string;
  source: PageResult['source'];
  confidence: number;
  words: Word[];
}

export interface ChunkRow {
  documentId: string;
  ordinal: number;
  page: number;
  text: string;
  start: number;
  end: number;
  boxes: Box[];
}

export const JobStatus = { Queued: 'queued', Running: 'running', Succeeded: 'succeeded', Failed: 'failed' } as const;
export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus];

/** A processing job as users see it: its state and latest progress. */
export interface JobRecord {
  id: string;
  teamId: string;
  documentId: string;
  status: JobStatus;
  attempts: number;
  stage: string | null;
  done: number;
  total: number;
  percent: number;
  etaMs: number | null;
  error: { code: string; message: string; stage: string | null } | null;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

export type JobPatch = Partial<
  Pick<JobRecord, 'status' | 'attempts' | 'stage' | 'done' | 'total' | 'percent' | 'etaMs' | 'error' | 'finishedAt'>
>;

export interface DocumentFilter {
  statuses?: DocumentStatus[];
  types?: string[];
  sensitivities?: string[];
  createdFrom?: number;
  createdTo?: number;
}

export interface Page<T> {
  /** Items in order, each with the opaque cursor that resumes after it. */
  edges: { cursor: string; node: T }[];
  /** Opaque cursor of the last item; pass as `after` for the next page. */
  endCursor: string | null;
  hasNextPage: boolean;
  totalCount: number;
}

/** A document whose processing did not finish (for recovery at start-up). */
export interface UnfinishedDocument {
  teamId: string;
  documentId: string;
  jobId: string;
}

export interface Store {
  start(): Promise<void>;
  close(): Promise<void>;
  /** Durable job storage for the in-process bus (same database, same durability). */
  readonly jobStorage: JobStorage;

  ensureTeam(team: { id: string; name: string }): Promise<TeamRecord>;

  /** Inserts a document and its first job in one transaction. */
  insertDocument(scope: TeamScope, doc: NewDocument): Promise<DocumentRecord>;
  getDocument(scope: TeamScope, id: string): Promise<DocumentRecord | undefined>;
  findDocumentBySha256(scope: TeamScope, sha256: string): Promise<DocumentRecord | undefined>;
  listDocuments(
    scope: TeamScope,
    options: { filter?: DocumentFilter; first: number; after?: string | null },
  ): Promise<Page<DocumentRecord>>;
  updateDocument(scope: TeamScope, id: string, patch: DocumentPatch): Promise<DocumentRecord>;
  /** Removes the document, its pages, chunks and jobs. Returns false when it did not exist. */
  deleteDocument(scope: TeamScope, id: string): Promise<boolean>;

  /** Inserts or replaces pages (by page number). */
  upsertPages(scope: TeamScope, documentId: string, pages: readonly Omit<PageRecord, 'documentId'>[]): Promise<void>;
  getPages(scope: TeamScope, documentId: string): Promise<PageRecord[]>;
  /** Inserts or replaces chunks (by ordinal). */
  upsertChunks(scope: TeamScope, documentId: string, chunks: readonly Omit<ChunkRow, 'documentId'>[]): Promise<void>;
  /** Removes pages above `pageCount` and chunks at or above `chunkCount` (left from an earlier run). */
  trimDocument(scope: TeamScope, documentId: string, pageCount: number, chunkCount: number): Promise<void>;
  getChunks(scope: TeamScope, documentId: string): Promise<ChunkRow[]>;

  insertJob(scope: TeamScope, job: { id: string; documentId: string }): Promise<JobRecord>;
  getJob(scope: TeamScope, id: string): Promise<JobRecord | undefined>;
  updateJob(scope: TeamScope, id: string, patch: JobPatch): Promise<JobRecord>;

  /** System use only (start-up recovery): documents still queued or processing, across teams. */
  listUnfinishedDocuments(): Promise<UnfinishedDocument[]>;
}
