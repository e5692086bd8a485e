/**
 * The Store on MongoDB (mongoose), for hubs that run as replicas: one adapter made of one
 * repository per aggregate, each owning its collections and declaring its indexes, which
 * are created at start. Written for MongoDB 7/8 and kept to what servers of the wire
 * protocol share (verified on FerretDB 1.24): single-document writes, and atomicity taken
 * from unique inserts rather than from conditional updates, since FerretDB applies
 * concurrent conditional updates of one document more than once. No multi-document
 * transactions and no change streams are needed.
 *
 * The schema version is recorded in the `quire_meta` collection: a database written by a
 * newer Quire is refused at start instead of being misread.
 */
import type { Connection } from 'mongoose';
import type { Store } from '../store.ts';
import type { TransferKind, TransferRecords, TransferTarget } from '../transfer.ts';
import { MongoAccountRepository } from './accounts.mongo.ts';
import { MongoCollaborationRepository } from './collaboration.mongo.ts';
import { MongoDocumentRepository } from './documents.mongo.ts';
import { MongoLabelSetRepository } from './label-sets.mongo.ts';
import { isDuplicateKey } from './mongo-errors.ts';
import { MongoTeamRepository } from './teams.mongo.ts';

/** The layout this code reads and writes. Raise it with any change older code would misread. */
export const MONGO_SCHEMA_VERSION = 1;

export interface MongoStoreOptions {
  /** An open mongoose connection to the hub's database; closed by {@link MongoStore.close} when `owned`. */
  connection: Connection;
  /** Whether the store closes the connection (default true). */
  owned?: boolean;
}

/** The repository that holds each kind of record. */
const PART_OF_KIND = {
  teams: 'teams',
  users: 'accounts',
  memberships: 'accounts',
  sessions: 'accounts',
  invitations: 'accounts',
  apiKeys: 'accounts',
  audit: 'accounts',
  labelSets: 'labelSets',
  documents: 'documents',
  jobs: 'documents',
  pages: 'documents',
  chunks: 'documents',
  annotations: 'collaboration',
  annotationOps: 'collaboration',
  matchRules: 'collaboration',
  matches: 'collaboration',
} as const satisfies Record<TransferKind, string>;

type TransferPart = {
  importRecords(kind: TransferKind, records: readonly unknown[]): Promise<void>;
  countRecords(kind: TransferKind): Promise<number>;
};

export class MongoStore implements Store, TransferTarget {
  readonly connection: Connection;
  readonly #owned: boolean;
  readonly #teams: MongoTeamRepository;
  readonly #accounts: MongoAccountRepository;
  readonly #documents: MongoDocumentRepository;
  readonly #collaboration: MongoCollaborationRepository;
  readonly #labelSets: MongoLabelSetRepository;

  constructor(options: MongoStoreOptions) {
    this.connection = options.connection;
    this.#owned = options.owned ?? true;
    this.#teams = new MongoTeamRepository(this.connection);
    this.#accounts = new MongoAccountRepository(this.connection, this.#teams);
    this.#documents = new MongoDocumentRepository(this.connection);
    this.#collaboration = new MongoCollaborationRepository(this.connection);
    this.#labelSets = new MongoLabelSetRepository(this.connection);
  }

  /** Checks the schema version, then creates every repository's indexes. */
  async start(): Promise<void> {
    await this.#checkSchema();
    await Promise.all(
      [this.#teams, this.#accounts, this.#documents, this.#collaboration, this.#labelSets].map((repository) => repository.start()),
    );
  }

  async close(): Promise<void> {
    if (this.#owned) await this.connection.close();
  }

  async ping(): Promise<void> {
    await this.connection.db!.command({ ping: 1 });
  }

  async importRecords<K extends TransferKind>(kind: K, records: readonly TransferRecords[K][]): Promise<void> {
    await this.#transferPart(kind).importRecords(kind, records);
  }

  countRecords(kind: TransferKind): Promise<number> {
    return this.#transferPart(kind).countRecords(kind);
  }

  #transferPart(kind: TransferKind): TransferPart {
    const parts = {
      teams: this.#teams,
      accounts: this.#accounts,
      labelSets: this.#labelSets,
      documents: this.#documents,
      collaboration: this.#collaboration,
    };
    // Each part takes the kinds PART_OF_KIND gives it.
    return parts[PART_OF_KIND[kind]] as unknown as TransferPart;
  }

  async #checkSchema(): Promise<void> {
    const meta = this.connection.collection<{ _id: string; version: number; at: number }>('quire_meta');
    try {
      await meta.insertOne({ _id: 'schema', version: MONGO_SCHEMA_VERSION, at: Date.now() });
      return;
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
    const stored = await meta.findOne({ _id: 'schema' });
    const version = stored?.version ?? 0;
    if (version > MONGO_SCHEMA_VERSION) {
      throw new Error(
        `the MongoDB database is at schema version ${version}, written by a newer Quire; this hub reads version ${MONGO_SCHEMA_VERSION}: upgrade the hub`,
      );
    }
    if (version < MONGO_SCHEMA_VERSION) {
      await meta.updateOne({ _id: 'schema' }, { $set: { version: MONGO_SCHEMA_VERSION, at: Date.now() } });
    }
  }

  // TeamRepository
  ensureTeam(...a: Parameters<Store['ensureTeam']>): ReturnType<Store['ensureTeam']> {
    return this.#teams.ensureTeam(...a);
  }
  getTeam(...a: Parameters<Store['getTeam']>): ReturnType<Store['getTeam']> {
    return this.#teams.getTeam(...a);
  }
  listTeams(...a: Parameters<Store['listTeams']>): ReturnType<Store['listTeams']> {
    return this.#teams.listTeams(...a);
  }

  // AccountRepository
  insertUser(...a: Parameters<Store['insertUser']>): ReturnType<Store['insertUser']> {
    return this.#accounts.insertUser(...a);
  }
  insertFirstUser(...a: Parameters<Store['insertFirstUser']>): ReturnType<Store['insertFirstUser']> {
    return this.#accounts.insertFirstUser(...a);
  }
  getUser(...a: Parameters<Store['getUser']>): ReturnType<Store['getUser']> {
    return this.#accounts.getUser(...a);
  }
  findUserByEmail(...a: Parameters<Store['findUserByEmail']>): ReturnType<Store['findUserByEmail']> {
    return this.#accounts.findUserByEmail(...a);
  }
  updateUserPassword(...a: Parameters<Store['updateUserPassword']>): ReturnType<Store['updateUserPassword']> {
    return this.#accounts.updateUserPassword(...a);
  }
  deleteUser(...a: Parameters<Store['deleteUser']>): ReturnType<Store['deleteUser']> {
    return this.#accounts.deleteUser(...a);
  }
  countUsers(...a: Parameters<Store['countUsers']>): ReturnType<Store['countUsers']> {
    return this.#accounts.countUsers(...a);
  }
  insertSession(...a: Parameters<Store['insertSession']>): ReturnType<Store['insertSession']> {
    return this.#accounts.insertSession(...a);
  }
  findSessionByTokenHash(...a: Parameters<Store['findSessionByTokenHash']>): ReturnType<Store['findSessionByTokenHash']> {
    return this.#accounts.findSessionByTokenHash(...a);
  }
  rotateSession(...a: Parameters<Store['rotateSession']>): ReturnType<Store['rotateSession']> {
    return this.#accounts.rotateSession(...a);
  }
  revokeSessionFamily(...a: Parameters<Store['revokeSessionFamily']>): ReturnType<Store['revokeSessionFamily']> {
    return this.#accounts.revokeSessionFamily(...a);
  }
  revokeUserSessions(...a: Parameters<Store['revokeUserSessions']>): ReturnType<Store['revokeUserSessions']> {
    return this.#accounts.revokeUserSessions(...a);
  }
  isSessionFamilyActive(...a: Parameters<Store['isSessionFamilyActive']>): ReturnType<Store['isSessionFamilyActive']> {
    return this.#accounts.isSessionFamilyActive(...a);
  }
  pruneSessions(...a: Parameters<Store['pruneSessions']>): ReturnType<Store['pruneSessions']> {
    return this.#accounts.pruneSessions(...a);
  }

  // MembershipRepository
  listMembershipsOfUser(...a: Parameters<Store['listMembershipsOfUser']>): ReturnType<Store['listMembershipsOfUser']> {
    return this.#accounts.listMembershipsOfUser(...a);
  }
  listMembers(...a: Parameters<Store['listMembers']>): ReturnType<Store['listMembers']> {
    return this.#accounts.listMembers(...a);
  }
  getMembership(...a: Parameters<Store['getMembership']>): ReturnType<Store['getMembership']> {
    return this.#accounts.getMembership(...a);
  }
  addMember(...a: Parameters<Store['addMember']>): ReturnType<Store['addMember']> {
    return this.#accounts.addMember(...a);
  }
  setMemberRole(...a: Parameters<Store['setMemberRole']>): ReturnType<Store['setMemberRole']> {
    return this.#accounts.setMemberRole(...a);
  }
  removeMember(...a: Parameters<Store['removeMember']>): ReturnType<Store['removeMember']> {
    return this.#accounts.removeMember(...a);
  }
  insertInvitation(...a: Parameters<Store['insertInvitation']>): ReturnType<Store['insertInvitation']> {
    return this.#accounts.insertInvitation(...a);
  }
  findInvitationByTokenHash(...a: Parameters<Store['findInvitationByTokenHash']>): ReturnType<Store['findInvitationByTokenHash']> {
    return this.#accounts.findInvitationByTokenHash(...a);
  }
  acceptInvitation(...a: Parameters<Store['acceptInvitation']>): ReturnType<Store['acceptInvitation']> {
    return this.#accounts.acceptInvitation(...a);
  }
  pruneInvitations(...a: Parameters<Store['pruneInvitations']>): ReturnType<Store['pruneInvitations']> {
    return this.#accounts.pruneInvitations(...a);
  }
  insertApiKey(...a: Parameters<Store['insertApiKey']>): ReturnType<Store['insertApiKey']> {
    return this.#accounts.insertApiKey(...a);
  }
  findApiKeyByHash(...a: Parameters<Store['findApiKeyByHash']>): ReturnType<Store['findApiKeyByHash']> {
    return this.#accounts.findApiKeyByHash(...a);
  }
  listApiKeys(...a: Parameters<Store['listApiKeys']>): ReturnType<Store['listApiKeys']> {
    return this.#accounts.listApiKeys(...a);
  }
  touchApiKey(...a: Parameters<Store['touchApiKey']>): ReturnType<Store['touchApiKey']> {
    return this.#accounts.touchApiKey(...a);
  }
  revokeApiKey(...a: Parameters<Store['revokeApiKey']>): ReturnType<Store['revokeApiKey']> {
    return this.#accounts.revokeApiKey(...a);
  }

  // AuditRepository
  appendAudit(...a: Parameters<Store['appendAudit']>): ReturnType<Store['appendAudit']> {
    return this.#accounts.appendAudit(...a);
  }
  listAudit(...a: Parameters<Store['listAudit']>): ReturnType<Store['listAudit']> {
    return this.#accounts.listAudit(...a);
  }
  listTeamAudit(...a: Parameters<Store['listTeamAudit']>): ReturnType<Store['listTeamAudit']> {
    return this.#accounts.listTeamAudit(...a);
  }

  // DocumentRepository
  insertDocument(...a: Parameters<Store['insertDocument']>): ReturnType<Store['insertDocument']> {
    return this.#documents.insertDocument(...a);
  }
  getDocument(...a: Parameters<Store['getDocument']>): ReturnType<Store['getDocument']> {
    return this.#documents.getDocument(...a);
  }
  findDocumentBySha256(...a: Parameters<Store['findDocumentBySha256']>): ReturnType<Store['findDocumentBySha256']> {
    return this.#documents.findDocumentBySha256(...a);
  }
  listDocuments(...a: Parameters<Store['listDocuments']>): ReturnType<Store['listDocuments']> {
    return this.#documents.listDocuments(...a);
  }
  countDocuments(...a: Parameters<Store['countDocuments']>): ReturnType<Store['countDocuments']> {
    return this.#documents.countDocuments(...a);
  }
  updateDocument(...a: Parameters<Store['updateDocument']>): ReturnType<Store['updateDocument']> {
    return this.#documents.updateDocument(...a);
  }
  deleteDocument(...a: Parameters<Store['deleteDocument']>): ReturnType<Store['deleteDocument']> {
    return this.#documents.deleteDocument(...a);
  }
  setDocumentVector(...a: Parameters<Store['setDocumentVector']>): ReturnType<Store['setDocumentVector']> {
    return this.#documents.setDocumentVector(...a);
  }
  listDocumentVectors(...a: Parameters<Store['listDocumentVectors']>): ReturnType<Store['listDocumentVectors']> {
    return this.#documents.listDocumentVectors(...a);
  }
  upsertPages(...a: Parameters<Store['upsertPages']>): ReturnType<Store['upsertPages']> {
    return this.#documents.upsertPages(...a);
  }
  getPages(...a: Parameters<Store['getPages']>): ReturnType<Store['getPages']> {
    return this.#documents.getPages(...a);
  }
  upsertChunks(...a: Parameters<Store['upsertChunks']>): ReturnType<Store['upsertChunks']> {
    return this.#documents.upsertChunks(...a);
  }
  trimDocument(...a: Parameters<Store['trimDocument']>): ReturnType<Store['trimDocument']> {
    return this.#documents.trimDocument(...a);
  }
  getChunks(...a: Parameters<Store['getChunks']>): ReturnType<Store['getChunks']> {
    return this.#documents.getChunks(...a);
  }
  insertJob(...a: Parameters<Store['insertJob']>): ReturnType<Store['insertJob']> {
    return this.#documents.insertJob(...a);
  }
  getJob(...a: Parameters<Store['getJob']>): ReturnType<Store['getJob']> {
    return this.#documents.getJob(...a);
  }
  getJobs(...a: Parameters<Store['getJobs']>): ReturnType<Store['getJobs']> {
    return this.#documents.getJobs(...a);
  }
  updateJob(...a: Parameters<Store['updateJob']>): ReturnType<Store['updateJob']> {
    return this.#documents.updateJob(...a);
  }
  listUnfinishedDocuments(...a: Parameters<Store['listUnfinishedDocuments']>): ReturnType<Store['listUnfinishedDocuments']> {
    return this.#documents.listUnfinishedDocuments(...a);
  }

  // AnnotationRepository
  commitAnnotationOp(...a: Parameters<Store['commitAnnotationOp']>): ReturnType<Store['commitAnnotationOp']> {
    return this.#collaboration.commitAnnotationOp(...a);
  }
  getAnnotation(...a: Parameters<Store['getAnnotation']>): ReturnType<Store['getAnnotation']> {
    return this.#collaboration.getAnnotation(...a);
  }
  listAnnotations(...a: Parameters<Store['listAnnotations']>): ReturnType<Store['listAnnotations']> {
    return this.#collaboration.listAnnotations(...a);
  }
  listAnnotationOps(...a: Parameters<Store['listAnnotationOps']>): ReturnType<Store['listAnnotationOps']> {
    return this.#collaboration.listAnnotationOps(...a);
  }
  lastAnnotationSeq(...a: Parameters<Store['lastAnnotationSeq']>): ReturnType<Store['lastAnnotationSeq']> {
    return this.#collaboration.lastAnnotationSeq(...a);
  }
  getAnnotationOp(...a: Parameters<Store['getAnnotationOp']>): ReturnType<Store['getAnnotationOp']> {
    return this.#collaboration.getAnnotationOp(...a);
  }
  annotationSnapshot(...a: Parameters<Store['annotationSnapshot']>): ReturnType<Store['annotationSnapshot']> {
    return this.#collaboration.annotationSnapshot(...a);
  }

  // MatchRepository
  insertMatchRule(...a: Parameters<Store['insertMatchRule']>): ReturnType<Store['insertMatchRule']> {
    return this.#collaboration.insertMatchRule(...a);
  }
  updateMatchRule(...a: Parameters<Store['updateMatchRule']>): ReturnType<Store['updateMatchRule']> {
    return this.#collaboration.updateMatchRule(...a);
  }
  deleteMatchRule(...a: Parameters<Store['deleteMatchRule']>): ReturnType<Store['deleteMatchRule']> {
    return this.#collaboration.deleteMatchRule(...a);
  }
  getMatchRule(...a: Parameters<Store['getMatchRule']>): ReturnType<Store['getMatchRule']> {
    return this.#collaboration.getMatchRule(...a);
  }
  listMatchRules(...a: Parameters<Store['listMatchRules']>): ReturnType<Store['listMatchRules']> {
    return this.#collaboration.listMatchRules(...a);
  }
  proposeMatch(...a: Parameters<Store['proposeMatch']>): ReturnType<Store['proposeMatch']> {
    return this.#collaboration.proposeMatch(...a);
  }
  getMatch(...a: Parameters<Store['getMatch']>): ReturnType<Store['getMatch']> {
    return this.#collaboration.getMatch(...a);
  }
  listMatches(...a: Parameters<Store['listMatches']>): ReturnType<Store['listMatches']> {
    return this.#collaboration.listMatches(...a);
  }
  listConfirmedMatches(...a: Parameters<Store['listConfirmedMatches']>): ReturnType<Store['listConfirmedMatches']> {
    return this.#collaboration.listConfirmedMatches(...a);
  }
  resolveMatch(...a: Parameters<Store['resolveMatch']>): ReturnType<Store['resolveMatch']> {
    return this.#collaboration.resolveMatch(...a);
  }

  // LabelSetRepository
  getLabelSet(...a: Parameters<Store['getLabelSet']>): ReturnType<Store['getLabelSet']> {
    return this.#labelSets.getLabelSet(...a);
  }
  saveLabelSet(...a: Parameters<Store['saveLabelSet']>): ReturnType<Store['saveLabelSet']> {
    return this.#labelSets.saveLabelSet(...a);
  }

  // DashboardQueries
  documentCounts(...a: Parameters<Store['documentCounts']>): ReturnType<Store['documentCounts']> {
    return this.#documents.documentCounts(...a);
  }
  finishedJobs(...a: Parameters<Store['finishedJobs']>): ReturnType<Store['finishedJobs']> {
    return this.#documents.finishedJobs(...a);
  }
  teamActivity(...a: Parameters<Store['teamActivity']>): ReturnType<Store['teamActivity']> {
    return this.#collaboration.teamActivity(...a);
  }
}
