/**
 * Annotations on a document: highlights of a chunk's text or boxes on a page, each with a
 * label from the team's label set, a comment, replies and a resolved flag.
 *
 * Every change is an operation that names the version of the annotation it was based on.
 * An operation based on a version that is no longer current is refused with `CONFLICT` and
 * the current state, never applied over it; replies are the exception, since adding one
 * overwrites nothing. Accepted operations are persisted with the document's next sequence
 * number and only then published, so a client that saw sequence n can always ask for
 * exactly what came after it ({@link AnnotationService.since}). Sending an operation id
 * again answers the operation accepted the first time: a client that lost an
 * acknowledgement can resend safely.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '@quire/kernel';
import {
  actorIdOf,
  type ActingScope,
  type AnnotationAnchor,
  type AnnotationOpRecord,
  type AnnotationRecord,
  type DocumentRecord,
  type Store,
  type TeamScope,
} from '../store/store.ts';
import type { LiveEvents } from './live-events.ts';

/** Ids that clients make up (operations, new annotations): short, and safe in any key. */
const clientId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_:-]+$/, 'letters, digits, _, : or -');
const version = z.number().int().positive();
const label = z.string().trim().min(1).max(100).nullable();
const comment = z.string().max(10_000).nullable();

const anchorSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('highlight'),
    chunkOrdinal: z.number().int().nonnegative(),
    start: z.number().int().nonnegative(),
    end: z.number().int().positive(),
  }),
  z.object({
    kind: z.literal('box'),
    page: z.number().int().positive(),
    box: z.object({ x: z.number().nonnegative(), y: z.number().nonnegative(), w: z.number().positive(), h: z.number().positive() }),
  }),
]);

/** Every operation a client may send. */
export const annotationOpSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('create'),
    opId: clientId,
    /** The new annotation's id, chosen by the client (so it can refer to it at once); else one is made. */
    annotationId: clientId.optional(),
    anchor: anchorSchema,
    label: label.default(null),
    comment: comment.default(null),
  }),
  z
    .object({
      type: z.literal('edit'),
      opId: clientId,
      annotationId: clientId,
      baseVersion: version,
      anchor: anchorSchema.optional(),
      label: label.optional(),
      comment: comment.optional(),
    })
    .refine(
      (op) => op.anchor !== undefined || op.label !== undefined || op.comment !== undefined,
      'an edit changes anchor, label or comment',
    ),
  z.object({ type: z.literal('delete'), opId: clientId, annotationId: clientId, baseVersion: version }),
  z.object({
    type: z.literal('resolve'),
    opId: clientId,
    annotationId: clientId,
    baseVersion: version,
    resolved: z.boolean().default(true),
  }),
  z.object({
    type: z.literal('reply'),
    opId: clientId,
    annotationId: clientId,
    baseVersion: version,
    text: z.string().trim().min(1).max(10_000),
  }),
]);
export type AnnotationOp = z.infer<typeof annotationOpSchema>;

/** What a client needs to catch up: the operations it missed, or the whole state when that is shorter. */
export type CatchUp =
  { kind: 'ops'; ops: AnnotationOpRecord[]; seq: number } | { kind: 'snapshot'; annotations: AnnotationRecord[]; seq: number };

/** Past this many missed operations a client receives the current state instead. */
export const SNAPSHOT_AFTER = 200;

/** Replies one annotation holds: each event carries the whole annotation, which must fit a bus message. */
export const MAX_REPLIES = 50;

/** Most operations in one page of the log. */
export const MAX_OPERATIONS_PAGE = 1000;

/** Concurrent replies to one annotation each retry this often before giving up. */
const REPLY_ATTEMPTS = 5;

export class AnnotationService {
  constructor(
    private readonly deps: {
      store: Store;
      events: LiveEvents;
      /** The labels a team may use: its document types and sensitivities. */
      labels: (scope: TeamScope) => Promise<readonly string[]>;
      /** Told when an accepted operation could not be published (it stays in the log). */
      onPublishFailed?: (err: unknown) => void;
    },
  ) {}

  /** The document's live annotations, oldest first. */
  async list(scope: TeamScope, documentId: string): Promise<AnnotationRecord[]> {
    await this.mustGetDocument(scope, documentId);
    return this.deps.store.listAnnotations(scope, documentId);
  }

  /**
   * Validates and applies one operation. Answers the accepted operation (also when it had
   * been accepted before). ValidationError for a malformed one, NotFoundError for a missing
   * document or annotation, ConflictError `CONFLICT` with `details.current` for a stale one.
   */
  async apply(scope: ActingScope, documentId: string, raw: unknown): Promise<AnnotationOpRecord> {
    const parsed = annotationOpSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ValidationError(`Invalid annotation operation: ${issue.path.join('.') || 'op'}: ${issue.message}`, {
        code: 'BAD_ANNOTATION_OP',
      });
    }
    const op = parsed.data;
    const { store } = this.deps;
    const doc = await this.mustGetDocument(scope, documentId);
    const known = await store.getAnnotationOp(scope, documentId, op.opId);
    if (known) {
      // Published again: the first publication may be what failed. Clients skip sequence
      // numbers they have.
      await this.publish(scope, known);
      return known;
    }
    if (op.type === 'reply') {
      const current = await store.getAnnotation(scope, documentId, op.annotationId);
      if (current && current.replies.length >= MAX_REPLIES) {
        throw new ValidationError(`An annotation holds at most ${MAX_REPLIES} replies`, { code: 'TOO_MANY_REPLIES' });
      }
    }
    if (op.type === 'create' || op.type === 'edit') {
      if (op.anchor) await this.checkAnchor(scope, doc, op.anchor);
      if (op.label) await this.checkLabel(scope, op.label);
    }

    for (let attempt = 1; ; attempt += 1) {
      const annotationId = op.type === 'create' ? (op.annotationId ?? randomUUID()) : op.annotationId;
      const current = op.type === 'create' && !op.annotationId ? undefined : await store.getAnnotation(scope, documentId, annotationId);
      if (op.type !== 'create' && !current) throw new NotFoundError(`Annotation ${annotationId} not found`);
      // Replies add to the thread and overwrite nothing: they apply to the current version.
      const base = op.type === 'create' ? null : op.type === 'reply' ? current!.version : op.baseVersion;
      if ((current?.version ?? null) !== base || current?.deleted) throw conflict(current);
      const next = nextState(scope, documentId, annotationId, op, current, Date.now());
      const commit = await store.commitAnnotationOp(scope, {
        opId: op.opId,
        actorId: actorIdOf(scope),
        at: next.updatedAt,
        op: { ...op, annotationId },
        expectedVersion: base,
        next,
      });
      if (commit.status === 'conflict') {
        if (op.type === 'reply' && attempt < REPLY_ATTEMPTS && commit.current && !commit.current.deleted) continue;
        throw conflict(commit.current);
      }
      await this.publish(scope, commit.record);
      return commit.record;
    }
  }

  /** A page of the document's log: the operations after `after`, at most `first`, and the last sequence number. */
  async operations(
    scope: TeamScope,
    documentId: string,
    options: { after: number; first: number },
  ): Promise<{ operations: AnnotationOpRecord[]; lastSeq: number }> {
    await this.mustGetDocument(scope, documentId);
    if (!Number.isInteger(options.first) || options.first < 1 || options.first > MAX_OPERATIONS_PAGE) {
      throw new ValidationError(`first must be between 1 and ${MAX_OPERATIONS_PAGE}`, { code: 'BAD_PAGE_SIZE' });
    }
    if (!Number.isInteger(options.after) || options.after < 0) throw new ValidationError('after must be 0 or more', { code: 'BAD_SEQ' });
    const { store } = this.deps;
    const operations = await store.listAnnotationOps(scope, documentId, { afterSeq: options.after, limit: options.first });
    return { operations, lastSeq: await store.lastAnnotationSeq(scope, documentId) };
  }

  /**
   * What a client that has seen the document's operations up to `afterSeq` missed: the
   * operations after it, in order, or (when there are more than {@link SNAPSHOT_AFTER}, or
   * the client has seen nothing) the current annotations with the sequence they reflect.
   */
  async since(scope: TeamScope, documentId: string, afterSeq: number | null): Promise<CatchUp> {
    await this.mustGetDocument(scope, documentId);
    const { store } = this.deps;
    if (afterSeq !== null) {
      if (!Number.isInteger(afterSeq) || afterSeq < 0)
        throw new ValidationError('since must be a sequence number (0 or more)', { code: 'BAD_SEQ' });
      const ops = await store.listAnnotationOps(scope, documentId, { afterSeq, limit: SNAPSHOT_AFTER + 1 });
      if (ops.length <= SNAPSHOT_AFTER) {
        // A client ahead of the log (the document was deleted and made again, say) starts over.
        const last = ops.at(-1)?.seq ?? (await store.lastAnnotationSeq(scope, documentId));
        if (last >= afterSeq) return { kind: 'ops', ops, seq: last };
      }
    }
    const snapshot = await store.annotationSnapshot(scope, documentId);
    return { kind: 'snapshot', annotations: snapshot.annotations, seq: snapshot.seq };
  }

  /**
   * Tells every hub about an accepted operation. It is stored already, so a failure here is
   * not the client's: clients that miss it find the gap and read it from the log.
   */
  private async publish(scope: TeamScope, record: AnnotationOpRecord): Promise<void> {
    await this.deps.events
      .annotationChanged({
        teamId: scope.teamId,
        documentId: record.documentId,
        seq: record.seq,
        opId: record.opId,
        actorId: record.actorId,
        at: record.at,
        op: record.op,
        annotation: { ...record.annotation },
      })
      .catch((err: unknown) => this.deps.onPublishFailed?.(err));
  }

  /** The document annotations are asked of; NotFoundError when the team has no such document. */
  async mustGetDocument(scope: TeamScope, documentId: string): Promise<DocumentRecord> {
    const doc = await this.deps.store.getDocument(scope, documentId);
    if (!doc) throw new NotFoundError(`Document ${documentId} not found`);
    return doc;
  }

  private async checkLabel(scope: TeamScope, name: string): Promise<void> {
    const labels = await this.deps.labels(scope);
    if (!labels.includes(name)) {
      throw new ValidationError(`Unknown label ${JSON.stringify(name)}; the team's labels are: ${labels.join(', ')}`, {
        code: 'UNKNOWN_LABEL',
      });
    }
  }

  private async checkAnchor(scope: TeamScope, doc: DocumentRecord, anchor: AnnotationAnchor): Promise<void> {
    const outOfRange = (message: string) => new ValidationError(message, { code: 'ANCHOR_OUT_OF_RANGE' });
    if (anchor.kind === 'box') {
      if (anchor.page > doc.pageCount) throw outOfRange(`Page ${anchor.page} is beyond the document's ${doc.pageCount} pages`);
      return;
    }
    if (anchor.chunkOrdinal >= doc.chunkCount) {
      throw outOfRange(`Chunk ${anchor.chunkOrdinal} is beyond the document's ${doc.chunkCount} chunks`);
    }
    const chunk = (await this.deps.store.getChunks(scope, doc.id)).find((c) => c.ordinal === anchor.chunkOrdinal);
    const length = chunk?.text.length ?? 0;
    if (anchor.start >= anchor.end || anchor.end > length) {
      throw outOfRange(`A highlight needs 0 <= start < end <= ${length} (the chunk's length)`);
    }
  }
}

function conflict(current: AnnotationRecord | undefined): ConflictError {
  const why = !current ? 'it does not exist' : current.deleted ? 'it was deleted' : `it is at version ${current.version}`;
  return new ConflictError(`The annotation changed since you saw it: ${why}`, { code: 'CONFLICT', details: { current: current ?? null } });
}

/** The annotation after `op`: its next version. */
function nextState(
  scope: ActingScope,
  documentId: string,
  id: string,
  op: AnnotationOp,
  current: AnnotationRecord | undefined,
  at: number,
): AnnotationRecord {
  const by = actorIdOf(scope);
  if (op.type === 'create') {
    return {
      id,
      teamId: scope.teamId,
      documentId,
      version: 1,
      anchor: op.anchor,
      label: op.label,
      comment: op.comment,
      replies: [],
      resolved: false,
      deleted: false,
      createdBy: by,
      createdAt: at,
      updatedBy: by,
      updatedAt: at,
    };
  }
  const base = { ...current!, version: current!.version + 1, updatedBy: by, updatedAt: at };
  switch (op.type) {
    case 'edit':
      return {
        ...base,
        anchor: op.anchor ?? base.anchor,
        label: op.label === undefined ? base.label : op.label,
        comment: op.comment === undefined ? base.comment : op.comment,
      };
    case 'delete':
      return { ...base, deleted: true };
    case 'resolve':
      return { ...base, resolved: op.resolved };
    case 'reply':
      return { ...base, replies: [...base.replies, { id: op.opId, authorId: by, text: op.text, at }] };
  }
}
