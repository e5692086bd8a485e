/**
 * AnnotationRepository and MatchRepository on MongoDB (mongoose), with the dashboard's team
 * activity. Written for MongoDB 7/8 and for servers of the wire protocol such as FerretDB
 * 1.24, which apply concurrent conditional updates of one document without isolation (several
 * `findOneAndUpdate({v: 0})` can all win) but refuse a duplicate of a unique index exactly
 * once. So every decision that must be atomic is a unique insert; no transaction, change
 * stream or `$lookup` is used, and no `$group` with more than one accumulator.
 *
 * Collections: `annotation_ops` (the log) and `annotations` (one row per annotation), both
 * carrying `teamId` and `documentId`; `match_rules`; `matches` (with `teamId`,
 * `documentAId`, `documentBId`); `collab_match_resolutions` (the ledger of resolutions).
 *
 * Committing an annotation operation inserts one log entry carrying the annotation's new
 * state, under three unique indexes: (document, seq) takes the next place in the log,
 * (document, opId) makes a repeated operation a duplicate, and (annotation, version moved
 * from) lets one operation move an annotation on from a version. The writer reads the log's
 * last seq and the annotation's newest entry, checks the expected version, and inserts at seq
 * + 1; when the insert is refused it reads again: a known opId answers `duplicate`, a newer
 * state `conflict`, and otherwise another operation took that seq and it tries the next one.
 * Sequence numbers therefore come without gaps, each handed out once.
 *
 * The `annotations` row is written after the entry. An entry is `pending` until its writer
 * has made the row agree with the annotation's newest entry, re-reading and writing again
 * until it does (an older state can land late where updates are not isolated). A row is only
 * ever behind the log while some entry of its annotation is pending, so readers never
 * depend on a writer having finished: a single annotation is read from the log; lists read
 * the pending entries first, then the rows, and take the log's state for annotations with a
 * pending entry. A writer that stopped between the entry and the row leaves its entry
 * pending, and readers keep taking that annotation from the log until a later writer
 * rewrites the row. A snapshot reads the last seq first and takes anything newer back to its
 * state at that seq, so the two agree exactly.
 *
 * Proposing a match inserts it under the unique (team, pair key): of concurrent proposals of
 * one pair exactly one is created, and the others read it and refresh its evidence while it
 * is open. Resolving a match from version n inserts ledger entry `<match>:<n + 1>`: of
 * concurrent resolutions from one version exactly one gets in, and the others answer
 * `conflict` with the match as the winner left it. The ledger is the truth for a match's
 * status and version; the winner then copies its resolution onto the match (pending until
 * the copy agrees, as for annotations), and readers take the ledger's newest resolution
 * instead of the copy wherever that is newer.
 */
import type { Connection } from 'mongoose';
import type { AnnotationRepository, DashboardQueries, MatchRepository, TeamActivity, TeamScope } from '../store.ts';
import type { TransferRecords } from '../transfer.ts';
import { MongoAnnotationRepository } from './collaboration-annotations.mongo.ts';
import { MongoMatchRepository } from './collaboration-matches.mongo.ts';

/** The kinds of transferred records this repository holds. */
export type CollaborationTransferKind = 'annotations' | 'annotationOps' | 'matchRules' | 'matches';

/** Annotations and matches, one repository object with the team activity they feed. */
export class MongoCollaborationRepository implements AnnotationRepository, MatchRepository, Pick<DashboardQueries, 'teamActivity'> {
  readonly #annotations: MongoAnnotationRepository;
  readonly #matches: MongoMatchRepository;

  constructor(connection: Connection) {
    this.#annotations = new MongoAnnotationRepository(connection);
    this.#matches = new MongoMatchRepository(connection);
  }

  /** Creates the indexes its schemas declare. */
  async start(): Promise<void> {
    await Promise.all([this.#annotations.start(), this.#matches.start()]);
  }

  /**
   * Writes records of `kind` as they are (`quire migrate-store`, while no hub runs), settled
   * and idempotently: see the comments of the annotation and match repositories.
   */
  async importRecords<K extends CollaborationTransferKind>(kind: K, records: readonly TransferRecords[K][]): Promise<void> {
    switch (kind) {
      case 'annotations':
        return this.#annotations.importAnnotations(records as readonly TransferRecords['annotations'][]);
      case 'annotationOps':
        return this.#annotations.importOps(records as readonly TransferRecords['annotationOps'][]);
      case 'matchRules':
        return this.#matches.importRules(records as readonly TransferRecords['matchRules'][]);
      case 'matches':
        return this.#matches.importMatches(records as readonly TransferRecords['matches'][]);
    }
    throw new Error(`not a kind of collaboration record: ${String(kind)}`);
  }

  /** How many records of `kind` the store holds, as the Store port reads them. */
  countRecords(kind: CollaborationTransferKind): Promise<number> {
    switch (kind) {
      case 'annotations':
        return this.#annotations.countAnnotations();
      case 'annotationOps':
        return this.#annotations.countOps();
      case 'matchRules':
      case 'matches':
        return this.#matches.countRecords(kind);
    }
    return Promise.reject(new Error(`not a kind of collaboration record: ${String(kind)}`));
  }

  // AnnotationRepository
  commitAnnotationOp(...a: Parameters<AnnotationRepository['commitAnnotationOp']>): ReturnType<AnnotationRepository['commitAnnotationOp']> {
    return this.#annotations.commitAnnotationOp(...a);
  }
  getAnnotation(...a: Parameters<AnnotationRepository['getAnnotation']>): ReturnType<AnnotationRepository['getAnnotation']> {
    return this.#annotations.getAnnotation(...a);
  }
  listAnnotations(...a: Parameters<AnnotationRepository['listAnnotations']>): ReturnType<AnnotationRepository['listAnnotations']> {
    return this.#annotations.listAnnotations(...a);
  }
  listAnnotationOps(...a: Parameters<AnnotationRepository['listAnnotationOps']>): ReturnType<AnnotationRepository['listAnnotationOps']> {
    return this.#annotations.listAnnotationOps(...a);
  }
  lastAnnotationSeq(...a: Parameters<AnnotationRepository['lastAnnotationSeq']>): ReturnType<AnnotationRepository['lastAnnotationSeq']> {
    return this.#annotations.lastAnnotationSeq(...a);
  }
  getAnnotationOp(...a: Parameters<AnnotationRepository['getAnnotationOp']>): ReturnType<AnnotationRepository['getAnnotationOp']> {
    return this.#annotations.getAnnotationOp(...a);
  }
  annotationSnapshot(...a: Parameters<AnnotationRepository['annotationSnapshot']>): ReturnType<AnnotationRepository['annotationSnapshot']> {
    return this.#annotations.annotationSnapshot(...a);
  }

  // MatchRepository
  insertMatchRule(...a: Parameters<MatchRepository['insertMatchRule']>): ReturnType<MatchRepository['insertMatchRule']> {
    return this.#matches.insertMatchRule(...a);
  }
  updateMatchRule(...a: Parameters<MatchRepository['updateMatchRule']>): ReturnType<MatchRepository['updateMatchRule']> {
    return this.#matches.updateMatchRule(...a);
  }
  deleteMatchRule(...a: Parameters<MatchRepository['deleteMatchRule']>): ReturnType<MatchRepository['deleteMatchRule']> {
    return this.#matches.deleteMatchRule(...a);
  }
  getMatchRule(...a: Parameters<MatchRepository['getMatchRule']>): ReturnType<MatchRepository['getMatchRule']> {
    return this.#matches.getMatchRule(...a);
  }
  listMatchRules(...a: Parameters<MatchRepository['listMatchRules']>): ReturnType<MatchRepository['listMatchRules']> {
    return this.#matches.listMatchRules(...a);
  }
  proposeMatch(...a: Parameters<MatchRepository['proposeMatch']>): ReturnType<MatchRepository['proposeMatch']> {
    return this.#matches.proposeMatch(...a);
  }
  getMatch(...a: Parameters<MatchRepository['getMatch']>): ReturnType<MatchRepository['getMatch']> {
    return this.#matches.getMatch(...a);
  }
  listMatches(...a: Parameters<MatchRepository['listMatches']>): ReturnType<MatchRepository['listMatches']> {
    return this.#matches.listMatches(...a);
  }
  listConfirmedMatches(...a: Parameters<MatchRepository['listConfirmedMatches']>): ReturnType<MatchRepository['listConfirmedMatches']> {
    return this.#matches.listConfirmedMatches(...a);
  }
  resolveMatch(...a: Parameters<MatchRepository['resolveMatch']>): ReturnType<MatchRepository['resolveMatch']> {
    return this.#matches.resolveMatch(...a);
  }

  // DashboardQueries (the part about annotations and matches)
  async teamActivity(scope: TeamScope, options: { since: number }): ReturnType<DashboardQueries['teamActivity']> {
    const [annotationsCreated, matches] = await Promise.all([
      this.#annotations.countCreatedSince(scope, options.since),
      this.#matches.countActivity(scope, options.since),
    ]);
    const activity: TeamActivity = { annotationsCreated, matchesOpen: matches.open, matchesResolved: matches.resolved };
    return activity;
  }
}
