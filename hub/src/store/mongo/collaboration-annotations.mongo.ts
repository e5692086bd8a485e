/**
 * AnnotationRepository on MongoDB. The operation log `annotation_ops` is the truth; the
 * `annotations` collection is a view of it, one row per annotation, that writers keep up to
 * date after each accepted operation. Design and reasons: see `collaboration.mongo.ts`.
 *
 * Imports (`quire migrate-store`, while no hub runs) write rows and log entries as they are,
 * settled (no entry pending). What the log adds to a record is derived from the log itself:
 * an entry's `fromVersion` is the version of the annotation's previous entry (0 for its
 * first), its `firstSeq` the seq of the annotation's first entry, and a row's `seq` and
 * `firstSeq` those of its annotation's last and first entries. Rows come before the log, so
 * importing entries places the rows of their annotations afresh; a row whose annotation has no
 * entry yet is at seq 0.
 */
import { randomUUID } from 'node:crypto';
import type { AnyBulkWriteOperation, Connection, Model } from 'mongoose';
import { Schema } from 'mongoose';
import type {
  AnnotationAnchor,
  AnnotationCommit,
  AnnotationOpRecord,
  AnnotationRecord,
  AnnotationReply,
  AnnotationRepository,
  TeamScope,
} from '../store.ts';
import { isDuplicateKey } from './mongo-errors.ts';

/** An accepted operation, with the annotation it produced and where that annotation was first created. */
interface AnnotationOpDocument {
  _id: string;
  teamId: string;
  documentId: string;
  seq: number;
  opId: string;
  actorId: string | null;
  at: number;
  op: Record<string, unknown>;
  annotationId: string;
  /** The version the operation was applied to (0: the annotation did not exist): unique per annotation. */
  fromVersion: number;
  /** The sequence number of the operation that created the annotation (orders lists, ties by time). */
  firstSeq: number;
  annotation: AnnotationRecord;
  /** True until the writer has brought the `annotations` row up to this operation or later. */
  pending: boolean;
}

/** The view of one annotation: its state after the operation `seq`. */
interface AnnotationRowDocument {
  teamId: string;
  documentId: string;
  id: string;
  version: number;
  seq: number;
  firstSeq: number;
  anchor: AnnotationAnchor;
  label: string | null;
  comment: string | null;
  replies: AnnotationReply[];
  resolved: boolean;
  deleted: boolean;
  createdBy: string | null;
  createdAt: number;
  updatedBy: string | null;
  updatedAt: number;
}

/** An annotation with the log positions it reflects. */
interface Positioned {
  annotation: AnnotationRecord;
  seq: number;
  firstSeq: number;
}

const nullableString = { type: String, default: null };

const opSchema = new Schema<AnnotationOpDocument>(
  {
    _id: { type: String, required: true },
    teamId: { type: String, required: true },
    documentId: { type: String, required: true },
    seq: { type: Number, required: true },
    opId: { type: String, required: true },
    actorId: nullableString,
    at: { type: Number, required: true },
    op: { type: Schema.Types.Mixed, required: true },
    annotationId: { type: String, required: true },
    fromVersion: { type: Number, required: true },
    firstSeq: { type: Number, required: true },
    annotation: { type: Schema.Types.Mixed, required: true },
    pending: { type: Boolean, required: true },
  },
  { collection: 'annotation_ops', versionKey: false, autoIndex: false, minimize: false },
);
// The three facts a commit must decide atomically, each a unique index: the next place in the
// log, the client's operation id, and the version an annotation moves on from.
opSchema.index({ teamId: 1, documentId: 1, seq: 1 }, { unique: true });
opSchema.index({ teamId: 1, documentId: 1, opId: 1 }, { unique: true });
opSchema.index({ teamId: 1, documentId: 1, annotationId: 1, fromVersion: 1 }, { unique: true });
opSchema.index({ teamId: 1, documentId: 1, annotationId: 1, seq: -1 });
opSchema.index({ teamId: 1, documentId: 1, pending: 1 });
opSchema.index({ teamId: 1, pending: 1 });

const rowSchema = new Schema<AnnotationRowDocument>(
  {
    teamId: { type: String, required: true },
    documentId: { type: String, required: true },
    id: { type: String, required: true },
    version: { type: Number, required: true },
    seq: { type: Number, required: true },
    firstSeq: { type: Number, required: true },
    anchor: { type: Schema.Types.Mixed, required: true },
    label: nullableString,
    comment: nullableString,
    replies: { type: Schema.Types.Mixed, required: true },
    resolved: { type: Boolean, required: true },
    deleted: { type: Boolean, required: true },
    createdBy: nullableString,
    createdAt: { type: Number, required: true },
    updatedBy: nullableString,
    updatedAt: { type: Number, required: true },
  },
  { collection: 'annotations', versionKey: false, autoIndex: false, minimize: false },
);
rowSchema.index({ teamId: 1, documentId: 1, id: 1 }, { unique: true });
rowSchema.index({ teamId: 1, createdAt: 1 });

/** One annotation, across documents and teams. */
interface AnnotationKey {
  teamId: string;
  documentId: string;
  annotationId: string;
}

/** What an import reads of a log entry. */
type LogEntry = Pick<AnnotationOpDocument, '_id' | 'seq' | 'fromVersion' | 'firstSeq'> & { version: number };

/** How often a commit re-reads the log after another operation took the place it tried. */
const MAX_COMMIT_ATTEMPTS = 200;
/** How often bringing a row up to the log is retried while other writers move it. */
const MAX_SETTLE_ROUNDS = 50;

export class MongoAnnotationRepository implements AnnotationRepository {
  readonly #ops: Model<AnnotationOpDocument>;
  readonly #rows: Model<AnnotationRowDocument>;

  constructor(connection: Connection) {
    this.#ops = connection.model<AnnotationOpDocument>('CollabAnnotationOp', opSchema);
    this.#rows = connection.model<AnnotationRowDocument>('CollabAnnotation', rowSchema);
  }

  /** Creates the indexes it declares. */
  async start(): Promise<void> {
    await Promise.all([this.#ops.createIndexes(), this.#rows.createIndexes()]);
  }

  async commitAnnotationOp(
    scope: TeamScope,
    input: {
      opId: string;
      actorId: string | null;
      at: number;
      op: Record<string, unknown>;
      expectedVersion: number | null;
      next: AnnotationRecord;
    },
  ): Promise<AnnotationCommit> {
    const { teamId } = scope;
    const { documentId, id: annotationId } = input.next;
    const annotation = toAnnotation({ ...input.next, teamId });
    for (let attempt = 0; attempt < MAX_COMMIT_ATTEMPTS; attempt++) {
      // Checked before every insert, and again after a refused one: whichever unique index
      // refused it, these two reads tell which outcome it was.
      const known = await this.#ops.findOne({ teamId, documentId, opId: input.opId }).lean();
      if (known) return { status: 'duplicate', record: toOpRecord(known) };
      const head = await this.#head(teamId, documentId, annotationId);
      const current = head && toAnnotation(head.annotation);
      if ((current?.version ?? null) !== input.expectedVersion) {
        // The newer state may be this very operation, accepted after the first look.
        const accepted = await this.#ops.findOne({ teamId, documentId, opId: input.opId }).lean();
        return accepted ? { status: 'duplicate', record: toOpRecord(accepted) } : { status: 'conflict', current };
      }

      const seq = (await this.lastAnnotationSeq(scope, documentId)) + 1;
      const doc: AnnotationOpDocument = {
        _id: randomUUID(),
        teamId,
        documentId,
        seq,
        opId: input.opId,
        actorId: input.actorId,
        at: input.at,
        op: input.op,
        annotationId,
        fromVersion: input.expectedVersion ?? 0,
        firstSeq: head?.firstSeq ?? seq,
        annotation,
        pending: true,
      };
      try {
        await this.#ops.create(doc);
      } catch (err) {
        if (isDuplicateKey(err)) continue;
        throw err;
      }
      await this.#settle(teamId, documentId, annotationId);
      await this.#ops.updateOne({ _id: doc._id }, { $set: { pending: false } });
      return { status: 'accepted', record: toOpRecord(doc) };
    }
    throw new Error(`annotation log of document ${documentId} stayed contended for ${MAX_COMMIT_ATTEMPTS} attempts`);
  }

  async getAnnotation(scope: TeamScope, documentId: string, id: string): Promise<AnnotationRecord | undefined> {
    const head = await this.#head(scope.teamId, documentId, id);
    return head && toAnnotation(head.annotation);
  }

  async listAnnotations(scope: TeamScope, documentId: string, options: { includeDeleted?: boolean } = {}): Promise<AnnotationRecord[]> {
    const all = await this.#current(scope.teamId, documentId);
    return inListOrder(all.filter((p) => options.includeDeleted || !p.annotation.deleted));
  }

  async listAnnotationOps(
    scope: TeamScope,
    documentId: string,
    options: { afterSeq: number; limit: number },
  ): Promise<AnnotationOpRecord[]> {
    const docs = await this.#ops
      .find({ teamId: scope.teamId, documentId, seq: { $gt: options.afterSeq } })
      .sort({ seq: 1 })
      .limit(options.limit)
      .lean();
    return docs.map(toOpRecord);
  }

  async lastAnnotationSeq(scope: TeamScope, documentId: string): Promise<number> {
    const last = await this.#ops.findOne({ teamId: scope.teamId, documentId }, { seq: 1 }).sort({ seq: -1 }).lean();
    return last?.seq ?? 0;
  }

  async getAnnotationOp(scope: TeamScope, documentId: string, opId: string): Promise<AnnotationOpRecord | undefined> {
    const doc = await this.#ops.findOne({ teamId: scope.teamId, documentId, opId }).lean();
    return doc ? toOpRecord(doc) : undefined;
  }

  async annotationSnapshot(scope: TeamScope, documentId: string): Promise<{ seq: number; annotations: AnnotationRecord[] }> {
    const { teamId } = scope;
    // The sequence number first: everything read after it is at least as new, and what is
    // newer is taken back to its state at that number, so the two agree exactly.
    const seq = await this.lastAnnotationSeq(scope, documentId);
    const all = await this.#current(teamId, documentId);
    const atSeq = await Promise.all(
      all.map(async (p): Promise<Positioned | undefined> => {
        if (p.seq <= seq) return p;
        const earlier = await this.#ops
          .findOne({ teamId, documentId, annotationId: p.annotation.id, seq: { $lte: seq } })
          .sort({ seq: -1 })
          .lean();
        return earlier ? fromOp(earlier) : undefined;
      }),
    );
    return { seq, annotations: inListOrder(atSeq.filter((p): p is Positioned => p !== undefined && !p.annotation.deleted)) };
  }

  /** How many of the team's annotations created at or after `since` are not deleted. */
  async countCreatedSince(scope: TeamScope, since: number): Promise<number> {
    const { teamId } = scope;
    const pending = await this.#pendingAnnotations({ teamId });
    const live = (a: { deleted: boolean; createdAt: number } | undefined) => (a && !a.deleted && a.createdAt >= since ? 1 : 0);
    let count = await this.#rows.countDocuments({ teamId, createdAt: { $gte: since }, deleted: false });
    for (const { documentId, annotationId } of pending) {
      const [row, head] = await Promise.all([
        this.#rows.findOne({ teamId, documentId, id: annotationId }).lean(),
        this.#head(teamId, documentId, annotationId),
      ]);
      if (head && (!row || head.seq > row.seq)) count += live(head.annotation) - live(row ?? undefined);
    }
    return count;
  }

  /** Writes annotations' rows as they are, each at the log's positions for it (see the file's comment). */
  async importAnnotations(records: readonly AnnotationRecord[]): Promise<void> {
    if (records.length === 0) return;
    const logs = await this.#logsOf(records.map((r) => ({ teamId: r.teamId, documentId: r.documentId, annotationId: r.id })));
    const rows = new Map<string, AnnotationRowDocument>();
    for (const r of records) {
      const key = keyOf({ teamId: r.teamId, documentId: r.documentId, annotationId: r.id });
      const log = logs.get(key) ?? [];
      rows.set(key, toRow({ annotation: toAnnotation(r), seq: log.at(-1)?.seq ?? 0, firstSeq: log[0]?.seq ?? 0 }));
    }
    await this.#rows.bulkWrite(
      [...rows.values()].map((row) => ({
        replaceOne: { filter: { teamId: row.teamId, documentId: row.documentId, id: row.id }, replacement: row, upsert: true },
      })),
    );
  }

  /**
   * Writes log entries as they are, settled, each replacing the entry at its place in its
   * document's log; then derives the log positions of their annotations' entries and rows
   * (see the file's comment), entries already stored included.
   */
  async importOps(records: readonly (AnnotationOpRecord & { teamId: string })[]): Promise<void> {
    if (records.length === 0) return;
    const batch = new Map<string, AnnotationOpRecord & { teamId: string }>();
    for (const r of records) batch.set(JSON.stringify([r.teamId, r.documentId, r.seq]), r);
    const incoming = new Map<string, (AnnotationOpRecord & { teamId: string })[]>();
    for (const r of batch.values()) {
      const key = keyOf({ teamId: r.teamId, documentId: r.documentId, annotationId: r.annotation.id });
      incoming.set(key, [...(incoming.get(key) ?? []), r]);
    }
    const logs = await this.#logsOf(
      [...incoming.values()].map(([r]) => ({ teamId: r!.teamId, documentId: r!.documentId, annotationId: r!.annotation.id })),
    );

    const fixes: AnyBulkWriteOperation<AnnotationOpDocument>[] = [];
    const replacements: AnyBulkWriteOperation<AnnotationOpDocument>[] = [];
    const rows: AnyBulkWriteOperation<AnnotationRowDocument>[] = [];
    for (const [key, ops] of incoming) {
      const stored = new Map((logs.get(key) ?? []).map((e) => [e.seq, e]));
      const log = [...new Set([...stored.keys(), ...ops.map((r) => r.seq)])].sort((x, y) => x - y);
      const bySeq = new Map(ops.map((r) => [r.seq, r]));
      const firstSeq = log[0]!;
      let fromVersion = 0;
      for (const seq of log) {
        const entry = stored.get(seq);
        const record = bySeq.get(seq);
        // A stored entry placed otherwise before (entries imported out of log order) moves first.
        if (entry && (entry.fromVersion !== fromVersion || entry.firstSeq !== firstSeq)) {
          fixes.push({ updateOne: { filter: { _id: entry._id }, update: { $set: { fromVersion, firstSeq } } } });
        }
        if (record) {
          const { teamId, documentId } = record;
          const doc: AnnotationOpDocument = {
            _id: entry?._id ?? JSON.stringify([teamId, documentId, seq]),
            teamId,
            documentId,
            seq,
            opId: record.opId,
            actorId: record.actorId ?? null,
            at: record.at,
            op: record.op,
            annotationId: record.annotation.id,
            fromVersion,
            firstSeq,
            annotation: toAnnotation({ ...record.annotation, teamId }),
            pending: false,
          };
          replacements.push({ replaceOne: { filter: { teamId, documentId, seq }, replacement: doc, upsert: true } });
          fromVersion = record.annotation.version;
        } else if (entry) {
          fromVersion = entry.version;
        }
      }
      const [r] = ops;
      rows.push({
        updateOne: {
          filter: { teamId: r!.teamId, documentId: r!.documentId, id: r!.annotation.id },
          update: { $set: { seq: log.at(-1)!, firstSeq } },
        },
      });
    }
    // Stored entries move first, the latest first: a stored entry's fromVersion is at most the
    // one derived here (it was derived from part of the log), so no write takes a version moved
    // from that another entry still holds.
    await this.#ops.bulkWrite([...fixes.reverse(), ...replacements]);
    await this.#rows.bulkWrite(rows);
  }

  /** Annotations as the port sees them: the rows, and those only the log holds yet. */
  async countAnnotations(): Promise<number> {
    const pending = await this.#ops.find({ pending: true }, { teamId: 1, documentId: 1, annotationId: 1 }).lean();
    const keys = new Map(pending.map((d) => [keyOf(d), d]));
    let count = await this.#rows.countDocuments();
    for (const { teamId, documentId, annotationId } of keys.values()) {
      if (!(await this.#rows.exists({ teamId, documentId, id: annotationId }))) count += 1;
    }
    return count;
  }

  /** Accepted operations. */
  async countOps(): Promise<number> {
    return this.#ops.countDocuments();
  }

  /** The stored log entries of each of `keys`' annotations, in log order. */
  async #logsOf(keys: readonly AnnotationKey[]): Promise<Map<string, LogEntry[]>> {
    const byDocument = new Map<string, { teamId: string; documentId: string; ids: Set<string> }>();
    for (const k of keys) {
      const doc = JSON.stringify([k.teamId, k.documentId]);
      const group = byDocument.get(doc) ?? { teamId: k.teamId, documentId: k.documentId, ids: new Set<string>() };
      group.ids.add(k.annotationId);
      byDocument.set(doc, group);
    }
    const logs = new Map<string, LogEntry[]>();
    for (const { teamId, documentId, ids } of byDocument.values()) {
      const entries = await this.#ops
        .find(
          { teamId, documentId, annotationId: { $in: [...ids] } },
          { _id: 1, annotationId: 1, seq: 1, fromVersion: 1, firstSeq: 1, 'annotation.version': 1 },
        )
        .sort({ seq: 1 })
        .lean();
      for (const e of entries) {
        const key = keyOf({ teamId, documentId, annotationId: e.annotationId });
        const entry: LogEntry = { _id: e._id, seq: e.seq, fromVersion: e.fromVersion, firstSeq: e.firstSeq, version: e.annotation.version };
        logs.set(key, [...(logs.get(key) ?? []), entry]);
      }
    }
    return logs;
  }

  /** The newest operation on an annotation: its state in the log. */
  async #head(teamId: string, documentId: string, annotationId: string): Promise<AnnotationOpDocument | undefined> {
    const doc = await this.#ops.findOne({ teamId, documentId, annotationId }).sort({ seq: -1 }).lean();
    return doc ?? undefined;
  }

  /** Annotations (of one document, or of the team) with an operation whose row may not be written yet. */
  async #pendingAnnotations(filter: { teamId: string; documentId?: string }): Promise<{ documentId: string; annotationId: string }[]> {
    const docs = await this.#ops.find({ ...filter, pending: true }, { documentId: 1, annotationId: 1 }).lean();
    const seen = new Map<string, { documentId: string; annotationId: string }>();
    for (const d of docs)
      seen.set(JSON.stringify([d.documentId, d.annotationId]), { documentId: d.documentId, annotationId: d.annotationId });
    return [...seen.values()];
  }

  /**
   * Every annotation of the document at its newest state: the rows, with the log's state
   * instead for annotations that have a pending operation. Pending operations are read
   * before the rows; a row behind the log always has a pending operation (writers mark theirs
   * done only once the row has caught up with the log), so no row read here is older than
   * the log was when this began.
   */
  async #current(teamId: string, documentId: string): Promise<Positioned[]> {
    const pending = await this.#pendingAnnotations({ teamId, documentId });
    const rows = await this.#rows.find({ teamId, documentId }).lean();
    const byId = new Map<string, Positioned>(rows.map((r) => [r.id, fromRow(r)]));
    const heads = await Promise.all(pending.map((p) => this.#head(teamId, documentId, p.annotationId)));
    for (const head of heads) {
      if (!head) continue;
      const row = byId.get(head.annotationId);
      if (!row || head.seq > row.seq) byId.set(head.annotationId, fromOp(head));
    }
    return [...byId.values()];
  }

  /**
   * Brings the annotation's row up to its newest operation in the log. Ends only when the row
   * and the log agree: a row written from a state that was already old when it landed (a
   * concurrent writer's, since servers such as FerretDB apply conditional updates without
   * isolation) is written again from the log.
   */
  async #settle(teamId: string, documentId: string, annotationId: string): Promise<void> {
    for (let round = 0; round < MAX_SETTLE_ROUNDS; round++) {
      const [head, row] = await Promise.all([
        this.#head(teamId, documentId, annotationId),
        this.#rows.findOne({ teamId, documentId, id: annotationId }, { seq: 1 }).lean(),
      ]);
      if (!head || row?.seq === head.seq) return;
      try {
        await this.#rows.updateOne(
          { teamId, documentId, id: annotationId, seq: { $lt: head.seq } },
          { $set: toRow(fromOp(head)) },
          { upsert: true },
        );
      } catch (err) {
        // A newer row was written meanwhile (the upsert found none older and tried an insert).
        if (!isDuplicateKey(err)) throw err;
      }
    }
    throw new Error(`annotation ${annotationId} did not settle after ${MAX_SETTLE_ROUNDS} rounds`);
  }
}

function keyOf(k: AnnotationKey): string {
  return JSON.stringify([k.teamId, k.documentId, k.annotationId]);
}

/** Oldest first: by creation time, then by the place of the creating operation in the log. */
function inListOrder(all: Positioned[]): AnnotationRecord[] {
  return all.sort((x, y) => x.annotation.createdAt - y.annotation.createdAt || x.firstSeq - y.firstSeq).map((p) => p.annotation);
}

function fromOp(doc: AnnotationOpDocument): Positioned {
  return { annotation: toAnnotation(doc.annotation), seq: doc.seq, firstSeq: doc.firstSeq };
}

function fromRow(r: AnnotationRowDocument): Positioned {
  return { annotation: toAnnotation(r), seq: r.seq, firstSeq: r.firstSeq };
}

function toRow(p: Positioned): AnnotationRowDocument {
  return { ...p.annotation, seq: p.seq, firstSeq: p.firstSeq };
}

function toAnnotation(a: AnnotationRecord): AnnotationRecord {
  return {
    id: a.id,
    teamId: a.teamId,
    documentId: a.documentId,
    version: a.version,
    anchor: a.anchor,
    label: a.label ?? null,
    comment: a.comment ?? null,
    replies: a.replies,
    resolved: a.resolved,
    deleted: a.deleted,
    createdBy: a.createdBy ?? null,
    createdAt: a.createdAt,
    updatedBy: a.updatedBy ?? null,
    updatedAt: a.updatedAt,
  };
}

function toOpRecord(doc: AnnotationOpDocument): AnnotationOpRecord {
  return {
    documentId: doc.documentId,
    seq: doc.seq,
    opId: doc.opId,
    actorId: doc.actorId ?? null,
    at: doc.at,
    op: doc.op,
    annotation: toAnnotation(doc.annotation),
  };
}
