/**
 * DocumentRepository on MongoDB through mongoose, with the dashboard's document and job
 * figures. It owns the collections `documents` (`_id` the document id), `jobs` (`_id` the job
 * id), `pages` and `chunks` (`_id` a key of team, document and page or ordinal, so that a
 * page or chunk can exist once only).
 *
 * Kept to what MongoDB 7/8 and FerretDB 1.24 share: no transactions, and no atomicity taken
 * from conditional updates (FerretDB applies concurrent ones to one document more than once).
 * What must happen once is decided by a unique insert; what spans several documents is
 * ordered so that a write that stops midway leaves nothing a reader can trip over, and can be
 * retried:
 * - `insertDocument` writes the job first, then the document: a reader never sees a document
 *   without its job. A retry adopts a job an earlier try left behind; a document refused by
 *   its unique keys takes back the job written for it.
 * - `deleteDocument` removes what belongs to the document first and the document last, so a
 *   delete that stops midway leaves the document visible and deletable again.
 * - Pages and chunks written while their document is deleted are removed again by whichever
 *   of the two finishes last (see {@link MongoDocumentRepository.upsertChunks}).
 * - `importRecords` (`quire migrate-store`, while no hub runs) replaces each record by its
 *   `_id`, so writing a batch twice leaves it once (see there).
 *
 * A document's labels in force (a person's, else the classifier's) are not stored apart:
 * filters and counts read both, so a patch never reads before it writes.
 */
import type { Connection, Model } from 'mongoose';
import { Schema } from 'mongoose';
import { type Classification, ConflictError, DocumentStatus, type Fields, NotFoundError } from '@quire/kernel';
import {
  type ChunkRow,
  type DocumentCounts,
  type DocumentFilter,
  DocumentOrder,
  type DocumentPatch,
  type DocumentRecord,
  type DocumentRepository,
  type DocumentVector,
  type FinishedJobs,
  type JobPatch,
  type JobRecord,
  type KeyCount,
  type LabelOverrides,
  type NewDocument,
  type Page,
  type PageRecord,
  type TeamScope,
  type UnfinishedDocument,
  DOCUMENT_ORDER_KEYS,
  decodeDocumentCursor,
  encodeDocumentCursor,
} from '../store.ts';
import type { TransferKind, TransferRecords } from '../transfer.ts';
import { isDuplicateKey } from './mongo-errors.ts';

type StoredError = DocumentRecord['error'];

/** The kinds of record `quire migrate-store` copies through this repository. */
export type DocumentTransferKind = Extract<TransferKind, 'documents' | 'jobs' | 'pages' | 'chunks'>;

interface DocumentDoc {
  _id: string;
  teamId: string;
  filename: string;
  /** The file name with ASCII letters in lower case: the name orders sort by it (as SQLite's NOCASE). */
  nameKey: string;
  mimeType: string;
  size: number;
  sha256: string;
  blobKey: string;
  status: DocumentStatus;
  pageCount: number;
  chunkCount: number;
  classification: Classification | null;
  fields: Fields;
  modelId: string | null;
  jobId: string;
  error: StoredError;
  createdAt: number;
  updatedAt: number;
  processedAt: number | null;
  labelOverrides: LabelOverrides;
  /** Float32 values, little-endian; absent until the document is embedded. */
  vector?: Buffer;
}

interface JobDoc {
  _id: string;
  teamId: string;
  documentId: string;
  status: JobRecord['status'];
  attempts: number;
  stage: string | null;
  done: number;
  total: number;
  percent: number;
  etaMs: number | null;
  error: StoredError;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

interface PageDoc extends PageRecord {
  _id: string;
  teamId: string;
}

interface ChunkDoc extends ChunkRow {
  _id: string;
  teamId: string;
}

const { Mixed } = Schema.Types;
const requiredString = { type: String, required: true };
const requiredNumber = { type: Number, required: true };
const requiredMixed = { type: Mixed, required: true };
const nullableString = { type: String, default: null };
const nullableNumber = { type: Number, default: null };
const nullableMixed = { type: Mixed, default: null };

/** The keys of a job, page or chunk: its own, and its document's in its team. */
const documentPartKeys = { _id: requiredString, teamId: requiredString, documentId: requiredString };

/**
 * The options of every schema here: the repository's `start()` creates the indexes, and
 * `minimize: false` keeps empty objects (a document's `fields` and `labelOverrides`) as written.
 */
function schemaOptions(collection: string) {
  return { collection, versionKey: false, autoIndex: false, minimize: false } as const;
}

const documentSchema = new Schema<DocumentDoc>(
  {
    _id: requiredString,
    teamId: requiredString,
    filename: requiredString,
    nameKey: requiredString,
    mimeType: requiredString,
    size: requiredNumber,
    sha256: requiredString,
    blobKey: requiredString,
    status: requiredString,
    pageCount: requiredNumber,
    chunkCount: requiredNumber,
    classification: nullableMixed,
    fields: requiredMixed,
    modelId: nullableString,
    jobId: requiredString,
    error: nullableMixed,
    createdAt: requiredNumber,
    updatedAt: requiredNumber,
    processedAt: nullableNumber,
    labelOverrides: requiredMixed,
    vector: { type: Buffer },
  },
  schemaOptions('documents'),
);
documentSchema.index({ teamId: 1, sha256: 1 }, { unique: true });
// One index per order, each ending in `_id` so that a cursor is an index seek. The created
// order's keys never change after insert: documentCounts walks it (see there).
documentSchema.index({ teamId: 1, createdAt: -1, _id: -1 });
documentSchema.index({ teamId: 1, nameKey: 1, _id: 1 });
documentSchema.index({ teamId: 1, size: 1, _id: 1 });
documentSchema.index({ teamId: 1, status: 1 });
documentSchema.index({ status: 1, createdAt: 1 });

/**
 * Reads of documents leave the vector out: it is most of a document's bytes, and only
 * listDocumentVectors wants it. (Not `select: false` in the schema: FerretDB refuses a
 * projection on findAndModify.)
 */
const NO_VECTOR = { vector: 0 } as const;

/** The created-order index, named where a query must walk it. */
const BY_CREATED = { teamId: 1, createdAt: -1, _id: -1 } as const;

const jobSchema = new Schema<JobDoc>(
  {
    ...documentPartKeys,
    status: requiredString,
    attempts: requiredNumber,
    stage: nullableString,
    done: requiredNumber,
    total: requiredNumber,
    percent: requiredNumber,
    etaMs: nullableNumber,
    error: nullableMixed,
    createdAt: requiredNumber,
    updatedAt: requiredNumber,
    finishedAt: nullableNumber,
  },
  schemaOptions('jobs'),
);
jobSchema.index({ teamId: 1, documentId: 1 });
jobSchema.index({ teamId: 1, finishedAt: 1, status: 1 });

const pageSchema = new Schema<PageDoc>(
  {
    ...documentPartKeys,
    page: requiredNumber,
    width: requiredNumber,
    height: requiredNumber,
    text: requiredString,
    source: requiredString,
    confidence: requiredNumber,
    words: requiredMixed,
  },
  schemaOptions('pages'),
);
pageSchema.index({ teamId: 1, documentId: 1, page: 1 });

const chunkSchema = new Schema<ChunkDoc>(
  {
    ...documentPartKeys,
    ordinal: requiredNumber,
    page: requiredNumber,
    text: requiredString,
    start: requiredNumber,
    end: requiredNumber,
    boxes: requiredMixed,
  },
  schemaOptions('chunks'),
);
chunkSchema.index({ teamId: 1, documentId: 1, ordinal: 1 });

/** How often a batch of page or chunk upserts is sent again after losing an insert race. */
const UPSERT_ATTEMPTS = 5;

/** The statuses of a document whose processing has not finished. */
const UNFINISHED: readonly DocumentStatus[] = [DocumentStatus.Queued, DocumentStatus.Processing];

/** What documentCounts groups by: the status and both sources of each label. */
interface CountKey {
  status?: DocumentStatus;
  typeOverride?: string | null;
  typeClassified?: string | null;
  sensitivityOverride?: string | null;
  sensitivityClassified?: string | null;
}

export class MongoDocumentRepository implements DocumentRepository {
  readonly #connection: Connection;
  readonly #documents: Model<DocumentDoc>;
  readonly #jobs: Model<JobDoc>;
  readonly #pages: Model<PageDoc>;
  readonly #chunks: Model<ChunkDoc>;

  constructor(connection: Connection) {
    this.#connection = connection;
    this.#documents = connection.model<DocumentDoc>('Document', documentSchema);
    this.#jobs = connection.model<JobDoc>('Job', jobSchema);
    this.#pages = connection.model<PageDoc>('DocumentPage', pageSchema);
    this.#chunks = connection.model<ChunkDoc>('DocumentChunk', chunkSchema);
  }

  /** Creates the indexes its schemas declare. */
  async start(): Promise<void> {
    await Promise.all([this.#documents, this.#jobs, this.#pages, this.#chunks].map((model) => model.createIndexes()));
  }

  // --- documents ---------------------------------------------------------------------------

  async insertDocument(scope: TeamScope, doc: NewDocument): Promise<DocumentRecord> {
    const now = Date.now();
    // The job first: once the document is visible, so is its job.
    try {
      await this.#jobs.create(newJob(scope, { id: doc.jobId, documentId: doc.id }, now));
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      // A job of this document that an earlier try wrote before it stopped is adopted; any
      // other holder of the id is a conflict.
      const existing = await this.#jobs.findById(doc.jobId, { teamId: 1, documentId: 1 }).lean();
      if (existing?.teamId !== scope.teamId || existing.documentId !== doc.id) {
        throw new ConflictError(`Job ${doc.jobId} exists already`, { code: 'JOB_EXISTS', cause: err });
      }
    }
    const stored = toDocumentDoc(newDocument(scope, doc, now));
    try {
      await this.#documents.create(stored);
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      // Refused by the id or the team's sha256. The job goes too, unless a concurrent insert
      // of this very document (same id, same job) won: then the job is the winner's.
      const owner = await this.#documents.exists({ _id: doc.id, teamId: scope.teamId, jobId: doc.jobId });
      if (!owner) await this.#jobs.deleteOne({ _id: doc.jobId, teamId: scope.teamId, documentId: doc.id });
      throw new ConflictError(`Document ${doc.id} or one with the same content exists already`, {
        code: 'DOCUMENT_EXISTS',
        cause: err,
      });
    }
    return toDocument(stored);
  }

  async getDocument(scope: TeamScope, id: string): Promise<DocumentRecord | undefined> {
    const doc = await this.#documents.findOne({ _id: id, teamId: scope.teamId }, NO_VECTOR).lean<DocumentDoc>();
    return doc ? toDocument(doc) : undefined;
  }

  async findDocumentBySha256(scope: TeamScope, sha256: string): Promise<DocumentRecord | undefined> {
    const doc = await this.#documents.findOne({ teamId: scope.teamId, sha256 }, NO_VECTOR).lean<DocumentDoc>();
    return doc ? toDocument(doc) : undefined;
  }

  async listDocuments(
    scope: TeamScope,
    options: { filter?: DocumentFilter; orderBy?: DocumentOrder; first: number; after?: string | null },
  ): Promise<Page<DocumentRecord>> {
    const order = options.orderBy ?? DocumentOrder.Newest;
    const { key, descending } = DOCUMENT_ORDER_KEYS[order];
    const field = key === 'filename' ? 'nameKey' : key;
    const query = documentQuery(scope, options.filter);
    if (options.after) {
      // Keyset: strictly after (key, id) in the order's direction, which its index serves.
      const cursor = decodeDocumentCursor(order, options.after);
      const cKey = key === 'filename' ? nameKey(cursor.key as string) : cursor.key;
      const past = descending ? '$lt' : '$gt';
      (query.$and ??= []).push({ $or: [{ [field]: { [past]: cKey } }, { [field]: cKey, _id: { [past]: cursor.id } }] });
    }
    const direction = descending ? -1 : 1;
    const docs = await this.#documents
      .find(query, NO_VECTOR)
      .sort({ [field]: direction, _id: direction })
      .limit(options.first + 1)
      .lean<DocumentDoc[]>();
    const edges = docs.slice(0, options.first).map((d) => {
      const node = toDocument(d);
      return { node, cursor: encodeDocumentCursor(order, node) };
    });
    return { edges, endCursor: edges.at(-1)?.cursor ?? null, hasNextPage: docs.length > options.first };
  }

  async countDocuments(scope: TeamScope, filter?: DocumentFilter): Promise<number> {
    return this.#documents.countDocuments(documentQuery(scope, filter));
  }

  /**
   * One `$set` of the patched fields, which reads nothing first. MongoDB applies it atomically;
   * FerretDB rewrites the whole document, so of two patches of one document at the same moment
   * the later may undo the other's fields.
   */
  async updateDocument(scope: TeamScope, id: string, patch: DocumentPatch): Promise<DocumentRecord> {
    const set = patchSet(patch, DOCUMENT_PATCH_KEYS);
    const doc = await this.#documents.findOneAndUpdate({ _id: id, teamId: scope.teamId }, { $set: set }, { new: true }).lean<DocumentDoc>();
    if (!doc) throw new NotFoundError(`Document ${id} not found`);
    return toDocument(doc);
  }

  async deleteDocument(scope: TeamScope, id: string): Promise<boolean> {
    const teamId = scope.teamId;
    if (!(await this.#documents.exists({ _id: id, teamId }))) return false;
    const of = { teamId, documentId: id };
    // What belongs to the document first, the document last: a delete that stops midway
    // leaves the document listed, to be deleted again.
    await Promise.all([
      this.#pages.deleteMany(of),
      this.#chunks.deleteMany(of),
      this.#jobs.deleteMany(of),
      this.#connection.collection('annotations').deleteMany(of),
      this.#connection.collection('annotation_ops').deleteMany(of),
      this.#connection.collection('matches').deleteMany({ teamId, $or: [{ documentAId: id }, { documentBId: id }] }),
    ]);
    const { deletedCount } = await this.#documents.deleteOne({ _id: id, teamId });
    // Pages and chunks that a concurrent upsert wrote after the first sweep; one that writes
    // later still finds the document gone and removes its own (see upsertChunks).
    await this.#sweep(scope, id);
    return deletedCount > 0;
  }

  // --- document vectors ----------------------------------------------------------------------

  async setDocumentVector(scope: TeamScope, id: string, vector: Float32Array): Promise<void> {
    const { matchedCount } = await this.#documents.updateOne({ _id: id, teamId: scope.teamId }, { $set: { vector: vectorBytes(vector) } });
    if (matchedCount === 0) throw new NotFoundError(`Document ${id} not found`);
  }

  async listDocumentVectors(scope: TeamScope, options: { documentIds?: string[]; labelledOnly?: boolean } = {}): Promise<DocumentVector[]> {
    const query: Record<string, unknown> = { teamId: scope.teamId, vector: { $ne: null } };
    if (options.documentIds) {
      if (options.documentIds.length === 0) return [];
      query._id = { $in: options.documentIds };
    }
    // Labelled: a person set either label (overrides are stored without empty members).
    if (options.labelledOnly)
      query.$or = [{ 'labelOverrides.type': { $exists: true } }, { 'labelOverrides.sensitivity': { $exists: true } }];
    const docs = await this.#documents
      .find(query, { _id: 1, vector: 1, classification: 1, labelOverrides: 1 })
      .sort({ createdAt: 1, _id: 1 })
      .lean<Pick<DocumentDoc, '_id' | 'vector' | 'classification' | 'labelOverrides'>[]>();
    return docs.map((d) => ({
      documentId: d._id,
      vector: toFloat32(d.vector),
      classification: d.classification ?? null,
      labelOverrides: d.labelOverrides ?? {},
    }));
  }

  // --- pages and chunks ----------------------------------------------------------------------

  async upsertPages(scope: TeamScope, documentId: string, pages: readonly Omit<PageRecord, 'documentId'>[]): Promise<void> {
    const docs = pages.map((p) => toPageDoc(scope, documentId, p));
    await this.#upsertParts(scope, documentId, this.#pages, docs);
  }

  async getPages(scope: TeamScope, documentId: string): Promise<PageRecord[]> {
    return (await this.#partsOf(scope, documentId, this.#pages, 'page')).map(toPage);
  }

  /**
   * Writes the chunks, then checks that the document still exists and, when it does not,
   * removes the document's chunks again. With deleteDocument's sweep after it removes the
   * document, no chunk outlives its document whichever finishes first.
   */
  async upsertChunks(scope: TeamScope, documentId: string, chunks: readonly Omit<ChunkRow, 'documentId'>[]): Promise<void> {
    const docs = chunks.map((c) => toChunkDoc(scope, documentId, c));
    await this.#upsertParts(scope, documentId, this.#chunks, docs);
  }

  async trimDocument(scope: TeamScope, documentId: string, pageCount: number, chunkCount: number): Promise<void> {
    const of = { teamId: scope.teamId, documentId };
    await Promise.all([
      this.#pages.deleteMany({ ...of, page: { $gt: pageCount } }),
      this.#chunks.deleteMany({ ...of, ordinal: { $gte: chunkCount } }),
    ]);
  }

  async getChunks(scope: TeamScope, documentId: string): Promise<ChunkRow[]> {
    return (await this.#partsOf(scope, documentId, this.#chunks, 'ordinal')).map(toChunk);
  }

  /**
   * Replaces or inserts each part by its `_id`. Two writers inserting one new part race on
   * the unique `_id`: the loser's insert is refused (FerretDB does not retry it as MongoDB
   * does) and the batch is sent again, now replacing. Then the document's existence is checked,
   * as {@link upsertChunks} says.
   */
  async #upsertParts<T extends PageDoc | ChunkDoc>(scope: TeamScope, documentId: string, model: Model<T>, docs: T[]): Promise<void> {
    if (docs.length === 0) return;
    await replaceAll(model, docs);
    if (!(await this.#documents.exists({ _id: documentId, teamId: scope.teamId }))) await this.#sweep(scope, documentId);
  }

  /**
   * The document's pages or chunks in `order`, none where the document does not exist: read
   * beside the document, so that parts a stopped write left of a deleted one stay unseen.
   */
  async #partsOf<T extends PageDoc | ChunkDoc>(
    scope: TeamScope,
    documentId: string,
    model: Model<T>,
    order: 'page' | 'ordinal',
  ): Promise<T[]> {
    const [exists, docs] = await Promise.all([
      this.#documents.exists({ _id: documentId, teamId: scope.teamId }),
      model
        .find({ teamId: scope.teamId, documentId })
        .sort({ [order]: 1 })
        .lean<T[]>(),
    ]);
    return exists ? docs : [];
  }

  /** Removes the document's pages and chunks. */
  async #sweep(scope: TeamScope, documentId: string): Promise<void> {
    const of = { teamId: scope.teamId, documentId };
    await Promise.all([this.#pages.deleteMany(of), this.#chunks.deleteMany(of)]);
  }

  // --- jobs ----------------------------------------------------------------------------------

  async insertJob(scope: TeamScope, job: { id: string; documentId: string }): Promise<JobRecord> {
    const stored = newJob(scope, job, Date.now());
    try {
      await this.#jobs.create(stored);
    } catch (err) {
      if (isDuplicateKey(err)) throw new ConflictError(`Job ${job.id} exists already`, { code: 'JOB_EXISTS', cause: err });
      throw err;
    }
    return toJob(stored);
  }

  async getJob(scope: TeamScope, id: string): Promise<JobRecord | undefined> {
    const job = await this.#jobs.findOne({ _id: id, teamId: scope.teamId }).lean<JobDoc>();
    return job ? toJob(job) : undefined;
  }

  async getJobs(scope: TeamScope, ids: readonly string[]): Promise<JobRecord[]> {
    if (ids.length === 0) return [];
    return (await this.#jobs.find({ _id: { $in: [...ids] }, teamId: scope.teamId }).lean<JobDoc[]>()).map(toJob);
  }

  async updateJob(scope: TeamScope, id: string, patch: JobPatch): Promise<JobRecord> {
    const set = patchSet(patch, JOB_PATCH_KEYS);
    const job = await this.#jobs.findOneAndUpdate({ _id: id, teamId: scope.teamId }, { $set: set }, { new: true }).lean<JobDoc>();
    if (!job) throw new NotFoundError(`Job ${id} not found`);
    return toJob(job);
  }

  async listUnfinishedDocuments(): Promise<UnfinishedDocument[]> {
    const docs = await this.#documents
      .find({ status: { $in: UNFINISHED } }, { _id: 1, teamId: 1, jobId: 1 })
      .sort({ createdAt: 1, _id: 1 })
      .lean<Pick<DocumentDoc, '_id' | 'teamId' | 'jobId'>[]>();
    return docs.map((d) => ({ teamId: d.teamId, documentId: d._id, jobId: d.jobId }));
  }

  // --- dashboard -----------------------------------------------------------------------------

  /**
   * One aggregation, one `$group` with its one accumulator (FerretDB computes only the first
   * of several), keyed by the status and both sources of each label; the figures are summed
   * from its groups here, so all come from the same pass. That pass walks the created-order
   * index, whose keys no update changes, so a document updated meanwhile is counted exactly
   * once, as it was when reached. A point-in-time snapshot would take a transaction, which
   * FerretDB lacks.
   */
  async documentCounts(scope: TeamScope): Promise<DocumentCounts> {
    const groups = await this.#documents.aggregate<{ _id: CountKey; n: number }>(
      [
        { $match: { teamId: scope.teamId } },
        {
          $group: {
            _id: {
              status: '$status',
              typeOverride: '$labelOverrides.type.label',
              typeClassified: '$classification.type.label',
              sensitivityOverride: '$labelOverrides.sensitivity.label',
              sensitivityClassified: '$classification.sensitivity.label',
            },
            n: { $sum: 1 },
          },
        },
      ],
      { hint: BY_CREATED },
    );
    const byStatus = Object.fromEntries(Object.values(DocumentStatus).map((s) => [s, 0])) as Record<DocumentStatus, number>;
    const types = new Map<string, number>();
    const sensitivities = new Map<string, number>();
    let total = 0;
    const add = (counts: Map<string, number>, key: string | null | undefined, n: number) => {
      if (key != null) counts.set(key, (counts.get(key) ?? 0) + n);
    };
    for (const { _id: k, n } of groups) {
      total += n;
      if (k.status !== undefined && k.status in byStatus) byStatus[k.status] += n;
      add(types, k.typeOverride ?? k.typeClassified, n);
      add(sensitivities, k.sensitivityOverride ?? k.sensitivityClassified, n);
    }
    return { total, byStatus, byType: mostFirst(types), bySensitivity: mostFirst(sensitivities) };
  }

  /**
   * One query for the finished jobs in range, counted into intervals here: FerretDB's `$group`
   * cannot compute an interval (no `$floor`) nor two sums at once.
   */
  async finishedJobs(scope: TeamScope, options: { from: number; to: number; bucketMs: number }): Promise<FinishedJobs[]> {
    const jobs = await this.#jobs
      .find(
        { teamId: scope.teamId, finishedAt: { $gte: options.from, $lt: options.to }, status: { $in: ['succeeded', 'failed'] } },
        { _id: 0, finishedAt: 1, status: 1 },
      )
      .lean<Pick<JobDoc, 'finishedAt' | 'status'>[]>();
    const buckets = new Map<number, FinishedJobs>();
    for (const job of jobs) {
      const b = Math.floor((job.finishedAt! - options.from) / options.bucketMs);
      let bucket = buckets.get(b);
      if (!bucket) buckets.set(b, (bucket = { at: options.from + b * options.bucketMs, succeeded: 0, failed: 0 }));
      if (job.status === 'succeeded') bucket.succeeded++;
      else bucket.failed++;
    }
    return [...buckets.values()].sort((x, y) => x.at - y.at);
  }

  // --- transfer ------------------------------------------------------------------------------

  /**
   * Writes records of `kind` as they are (ids, statuses, timestamps and all) in this
   * repository's layout, with what it derives (a document's `nameKey`, its vector's bytes; a
   * page's or chunk's `_id`), each replacing the one with its `_id`: writing them twice leaves
   * them once. Documents come before their jobs, pages and chunks. A page or chunk whose
   * document this store lacks is not written: the Store port would never show it.
   */
  async importRecords<K extends DocumentTransferKind>(kind: K, records: readonly TransferRecords[K][]): Promise<void> {
    if (records.length === 0) return;
    switch (kind) {
      case 'documents':
        return replaceAll(this.#documents, (records as readonly TransferRecords['documents'][]).map(importedDocument));
      case 'jobs':
        return replaceAll(this.#jobs, (records as readonly TransferRecords['jobs'][]).map(toJobDoc));
      case 'pages': {
        const pages = await this.#ofExisting(records as readonly TransferRecords['pages'][]);
        return replaceAll(this.#pages, pages.map(importedPage));
      }
      case 'chunks': {
        const chunks = await this.#ofExisting(records as readonly TransferRecords['chunks'][]);
        return replaceAll(this.#chunks, chunks.map(importedChunk));
      }
      default:
        throw new Error(`the document repository holds no ${String(kind)}`);
    }
  }

  /**
   * How many records of `kind` the Store port sees: every document and job; the pages and
   * chunks of documents that exist (getPages and getChunks show no others).
   */
  async countRecords(kind: DocumentTransferKind): Promise<number> {
    switch (kind) {
      case 'documents':
        return this.#documents.countDocuments();
      case 'jobs':
        return this.#jobs.countDocuments();
      case 'pages':
        return this.#countOfExisting(this.#pages);
      case 'chunks':
        return this.#countOfExisting(this.#chunks);
      default:
        throw new Error(`the document repository holds no ${String(kind)}`);
    }
  }

  /** The records whose document exists in their team. */
  async #ofExisting<T extends { teamId: string; documentId: string }>(records: readonly T[]): Promise<T[]> {
    const existing = await this.#existingDocuments(records);
    return records.filter((r) => existing.has(ownerKey(r)));
  }

  /** Of the given team and document pairs, those whose document exists, by {@link ownerKey}. */
  async #existingDocuments(owners: readonly { teamId: string; documentId: string }[]): Promise<Set<string>> {
    const ids = [...new Set(owners.map((o) => o.documentId))];
    const docs = await this.#documents.find({ _id: { $in: ids } }, { _id: 1, teamId: 1 }).lean<Pick<DocumentDoc, '_id' | 'teamId'>[]>();
    return new Set(docs.map((d) => ownerKey({ teamId: d.teamId, documentId: d._id })));
  }

  /**
   * The pages or chunks whose document exists: counted per team and document in one `$group`,
   * then the documents looked up a slice at a time.
   */
  async #countOfExisting(model: Model<PageDoc> | Model<ChunkDoc>): Promise<number> {
    const groups = await (model as Model<PageDoc>).aggregate<{ _id: { teamId: string; documentId: string }; n: number }>([
      { $group: { _id: { teamId: '$teamId', documentId: '$documentId' }, n: { $sum: 1 } } },
    ]);
    let count = 0;
    for (let i = 0; i < groups.length; i += COUNT_SLICE) {
      const slice = groups.slice(i, i + COUNT_SLICE);
      const existing = await this.#existingDocuments(slice.map((g) => g._id));
      for (const g of slice) if (existing.has(ownerKey(g._id))) count += g.n;
    }
    return count;
  }
}

/** How many documents countRecords looks up at once. */
const COUNT_SLICE = 1000;

/** A team and document pair as one string. */
function ownerKey(owner: { teamId: string; documentId: string }): string {
  return JSON.stringify([owner.teamId, owner.documentId]);
}

/** A copied document in this layout: with its `nameKey`, and its vector's bytes where it has one. */
function importedDocument(r: TransferRecords['documents']): DocumentDoc {
  const doc = toDocumentDoc(r);
  if (r.vector) doc.vector = vectorBytes(Float32Array.from(r.vector));
  return doc;
}

/** A copied page in this layout; the record names its own team and document. */
function importedPage(r: TransferRecords['pages']): PageDoc {
  return toPageDoc(r, r.documentId, r);
}

/** A copied chunk in this layout; the record names its own team and document. */
function importedChunk(r: TransferRecords['chunks']): ChunkDoc {
  return toChunkDoc(r, r.documentId, r);
}

/** A vector as stored: its Float32 values' bytes, little-endian (the platform's order). */
function vectorBytes(vector: Float32Array): Buffer {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
}

/** The document fields a patch may set. */
const DOCUMENT_PATCH_KEYS: readonly (keyof DocumentPatch)[] = [
  'status',
  'pageCount',
  'chunkCount',
  'classification',
  'fields',
  'modelId',
  'jobId',
  'error',
  'processedAt',
  'labelOverrides',
];

/** The job fields a patch may set. */
const JOB_PATCH_KEYS: readonly (keyof JobPatch)[] = [
  'status',
  'attempts',
  'stage',
  'done',
  'total',
  'percent',
  'etaMs',
  'error',
  'finishedAt',
];

/** The fields whose values are JSON objects, stored {@link plain}. */
const JSON_FIELDS: ReadonlySet<string> = new Set(['classification', 'fields', 'error', 'labelOverrides']);

/**
 * One `$set` of `updatedAt` and each of `keys` that `patch` defines, JSON objects made
 * {@link plain}.
 */
function patchSet<P extends object>(patch: P, keys: readonly (keyof P & string)[]): Record<string, unknown> {
  const set: Record<string, unknown> = { updatedAt: Date.now() };
  for (const key of keys) {
    const value = patch[key];
    if (value !== undefined) set[key] = JSON_FIELDS.has(key) ? plain(value) : value;
  }
  return set;
}

/**
 * A team's documents matching `filter`. A type or sensitivity filter reads the label in
 * force: the person's where set, else the classifier's.
 */
function documentQuery(scope: TeamScope, filter: DocumentFilter = {}): Record<string, unknown> & { $and?: object[] } {
  const query: Record<string, unknown> & { $and?: object[] } = { teamId: scope.teamId };
  if (filter.statuses?.length) query.status = { $in: filter.statuses };
  if (filter.createdFrom !== undefined || filter.createdTo !== undefined) {
    query.createdAt = {
      ...(filter.createdFrom !== undefined ? { $gte: filter.createdFrom } : {}),
      ...(filter.createdTo !== undefined ? { $lt: filter.createdTo } : {}),
    };
  }
  const inForce = (label: 'type' | 'sensitivity', values: string[]) => ({
    $or: [
      { [`labelOverrides.${label}.label`]: { $in: values } },
      { [`labelOverrides.${label}`]: { $exists: false }, [`classification.${label}.label`]: { $in: values } },
    ],
  });
  const and: object[] = [];
  if (filter.types?.length) and.push(inForce('type', filter.types));
  if (filter.sensitivities?.length) and.push(inForce('sensitivity', filter.sensitivities));
  if (and.length) query.$and = and;
  return query;
}

/** The name orders' sort key: ASCII letters without case, everything else as it is (SQLite's NOCASE). */
function nameKey(filename: string): string {
  return filename.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** The `_id` of a document's page or chunk: unique per team, document and number. */
function partKey(scope: TeamScope, documentId: string, n: number): string {
  return JSON.stringify([scope.teamId, documentId, n]);
}

/**
 * A value as JSON has it, as the SQLite adapter stores it: members that are undefined are
 * left out rather than written as null.
 */
function plain<T>(value: T): T {
  return value == null ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/**
 * Replaces or inserts each of `docs` by its `_id`, written as built (the driver's collection,
 * without mongoose's casting). A batch that lost an insert race on an `_id` is sent again.
 */
async function replaceAll<T extends { _id: string }>(model: Model<T>, docs: readonly T[]): Promise<void> {
  if (docs.length === 0) return;
  const ops = docs.map((d) => ({ replaceOne: { filter: { _id: d._id }, replacement: d, upsert: true } }));
  for (let attempt = 1; ; attempt++) {
    try {
      await model.collection.bulkWrite(ops as never, { ordered: false });
      return;
    } catch (err) {
      if (attempt >= UPSERT_ATTEMPTS || !onlyDuplicateKeys(err)) throw err;
    }
  }
}

/** Whether every write a bulk write refused was refused as a duplicate key. */
function onlyDuplicateKeys(err: unknown): boolean {
  const writeErrors = (err as { writeErrors?: unknown } | null)?.writeErrors;
  if (Array.isArray(writeErrors) && writeErrors.length > 0) return writeErrors.every(isDuplicateKey);
  return isDuplicateKey(err);
}

/** The vector's bytes as floats, copied out: the driver's buffer need not be 4-byte aligned. */
function toFloat32(stored: unknown): Float32Array {
  // A Buffer, or the driver's Binary, whose `value()` is its bytes without spare capacity.
  const bytes: Uint8Array = stored instanceof Uint8Array ? stored : (stored as { value(): Uint8Array }).value();
  const vector = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(vector.buffer).set(bytes);
  return vector;
}

/** Counts most first, ties by key. */
function mostFirst(counts: Map<string, number>): KeyCount[] {
  return [...counts]
    .map(([key, count]) => ({ key, count }))
    .sort((x, y) => y.count - x.count || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
}

/** A new document as insertDocument writes it: queued, with nothing derived yet. */
function newDocument(scope: TeamScope, doc: NewDocument, now: number): DocumentRecord {
  return {
    ...doc,
    teamId: scope.teamId,
    status: DocumentStatus.Queued,
    pageCount: 0,
    chunkCount: 0,
    classification: null,
    fields: {},
    modelId: null,
    error: null,
    createdAt: now,
    updatedAt: now,
    processedAt: null,
    labelOverrides: {},
  };
}

function newJob(scope: TeamScope, job: { id: string; documentId: string }, now: number): JobDoc {
  return toJobDoc({
    id: job.id,
    teamId: scope.teamId,
    documentId: job.documentId,
    status: 'queued',
    attempts: 0,
    stage: null,
    done: 0,
    total: 0,
    percent: 0,
    etaMs: null,
    error: null,
    createdAt: now,
    updatedAt: now,
    finishedAt: null,
  });
}

function toDocument(d: DocumentDoc): DocumentRecord {
  return {
    id: d._id,
    teamId: d.teamId,
    filename: d.filename,
    mimeType: d.mimeType,
    size: d.size,
    sha256: d.sha256,
    blobKey: d.blobKey,
    status: d.status,
    pageCount: d.pageCount,
    chunkCount: d.chunkCount,
    classification: d.classification ?? null,
    fields: d.fields ?? {},
    modelId: d.modelId ?? null,
    jobId: d.jobId,
    error: d.error ?? null,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
    processedAt: d.processedAt ?? null,
    labelOverrides: d.labelOverrides ?? {},
  };
}

function toJob(j: JobDoc): JobRecord {
  return {
    id: j._id,
    teamId: j.teamId,
    documentId: j.documentId,
    status: j.status,
    attempts: j.attempts,
    stage: j.stage ?? null,
    done: j.done,
    total: j.total,
    percent: j.percent,
    etaMs: j.etaMs ?? null,
    error: j.error ?? null,
    createdAt: j.createdAt,
    updatedAt: j.updatedAt,
    finishedAt: j.finishedAt ?? null,
  };
}

/** A document in this layout, with its `nameKey`; its vector is written apart. */
function toDocumentDoc(r: DocumentRecord): DocumentDoc {
  return {
    _id: r.id,
    teamId: r.teamId,
    filename: r.filename,
    nameKey: nameKey(r.filename),
    mimeType: r.mimeType,
    size: r.size,
    sha256: r.sha256,
    blobKey: r.blobKey,
    status: r.status,
    pageCount: r.pageCount,
    chunkCount: r.chunkCount,
    classification: plain(r.classification),
    fields: plain(r.fields),
    modelId: r.modelId,
    jobId: r.jobId,
    error: plain(r.error),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    processedAt: r.processedAt,
    labelOverrides: plain(r.labelOverrides),
  };
}

function toJobDoc(r: JobRecord): JobDoc {
  return {
    _id: r.id,
    teamId: r.teamId,
    documentId: r.documentId,
    status: r.status,
    attempts: r.attempts,
    stage: r.stage,
    done: r.done,
    total: r.total,
    percent: r.percent,
    etaMs: r.etaMs,
    error: plain(r.error),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    finishedAt: r.finishedAt,
  };
}

/** A page's own fields, without its document. */
function pageFields(p: Omit<PageRecord, 'documentId'>): Omit<PageRecord, 'documentId'> {
  return { page: p.page, width: p.width, height: p.height, text: p.text, source: p.source, confidence: p.confidence, words: p.words };
}

/** A page of the team's document in this layout, keyed by {@link partKey}. */
function toPageDoc(scope: TeamScope, documentId: string, p: Omit<PageRecord, 'documentId'>): PageDoc {
  return { _id: partKey(scope, documentId, p.page), teamId: scope.teamId, documentId, ...pageFields(p), words: plain(p.words) };
}

function toPage(p: PageDoc): PageRecord {
  return { documentId: p.documentId, ...pageFields(p) };
}

/** A chunk's own fields, without its document. */
function chunkFields(c: Omit<ChunkRow, 'documentId'>): Omit<ChunkRow, 'documentId'> {
  return { ordinal: c.ordinal, page: c.page, text: c.text, start: c.start, end: c.end, boxes: c.boxes };
}

/** A chunk of the team's document in this layout, keyed by {@link partKey}. */
function toChunkDoc(scope: TeamScope, documentId: string, c: Omit<ChunkRow, 'documentId'>): ChunkDoc {
  return { _id: partKey(scope, documentId, c.ordinal), teamId: scope.teamId, documentId, ...chunkFields(c), boxes: plain(c.boxes) };
}

function toChunk(c: ChunkDoc): ChunkRow {
  return { documentId: c.documentId, ...chunkFields(c) };
}
