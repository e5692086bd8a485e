/**
 * Moving a whole installation from one store to another (`quire migrate-store`): every kind
 * of record the store keeps, in the form the Store port reads and writes them, the order in
 * which they are copied (what others refer to first), and the two capabilities an adapter
 * offers for it: a source pages through its records of a kind in a stable order; a target
 * writes records as they are, ids and timestamps included, idempotently (writing a record
 * twice leaves one), so an interrupted copy is simply run again.
 */
import type {
  AnnotationOpRecord,
  AnnotationRecord,
  ApiKeyRecord,
  AuditEvent,
  ChunkRow,
  DocumentRecord,
  InvitationRecord,
  JobRecord,
  MatchRecord,
  MatchRuleRecord,
  MembershipRecord,
  PageRecord,
  SessionRecord,
  StoredLabelSet,
  TeamRecord,
  UserRecord,
} from './store.ts';

/** A record of each kind, as it moves. */
export interface TransferRecords {
  teams: TeamRecord;
  users: UserRecord;
  memberships: MembershipRecord;
  sessions: SessionRecord;
  invitations: InvitationRecord;
  apiKeys: ApiKeyRecord;
  audit: AuditEvent;
  labelSets: StoredLabelSet & { teamId: string };
  /** With the document's embedding, when it has one. */
  documents: DocumentRecord & { vector: number[] | null };
  jobs: JobRecord;
  pages: PageRecord & { teamId: string };
  chunks: ChunkRow & { teamId: string };
  annotations: AnnotationRecord;
  annotationOps: AnnotationOpRecord & { teamId: string };
  matchRules: MatchRuleRecord;
  matches: MatchRecord;
}

export type TransferKind = keyof TransferRecords;

/** The copying order: teams and people first, then what refers to them. */
export const TRANSFER_ORDER: readonly TransferKind[] = Object.freeze([
  'teams',
  'users',
  'memberships',
  'sessions',
  'invitations',
  'apiKeys',
  'audit',
  'labelSets',
  'documents',
  'jobs',
  'pages',
  'chunks',
  'annotations',
  'annotationOps',
  'matchRules',
  'matches',
]);

/** A store records can be copied out of. */
export interface TransferSource {
  /**
   * The records of `kind` after the position `after` (null: from the first), at most `limit`,
   * in a stable order, with the position to continue from (null after the last).
   */
  exportRecords<K extends TransferKind>(
    kind: K,
    options: { after: string | null; limit: number },
  ): Promise<{ records: TransferRecords[K][]; next: string | null }>;
}

/** A store records can be copied into. */
export interface TransferTarget {
  /** Writes the records as they are; a record already there (same identity) is replaced. */
  importRecords<K extends TransferKind>(kind: K, records: readonly TransferRecords[K][]): Promise<void>;
  /** How many records of `kind` the store holds. */
  countRecords(kind: TransferKind): Promise<number>;
}
