/**
 * `quire migrate-store`: copies an embedded installation (the SQLite store and the original
 * files under DATA_DIR) into MongoDB and GridFS at MONGODB_URL, so a team that started with
 * `npm start` keeps its data when it moves to hub replicas.
 *
 * Every kind of record is copied in batches, in the order of {@link TRANSFER_ORDER}, then every
 * original. After each batch the position reached is recorded in the target (collection
 * `quire_migration`), so a copy that was interrupted continues where it stopped; writes are
 * idempotent, so a batch copied twice is copied once. At the end the copy is verified: for
 * each kind, the count in the target and a SHA-256 over every record as the target's Store
 * answers it, against the same over the source; each original is read back from GridFS and
 * its SHA-256 compared with the document's. Hubs must be stopped while it runs.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { gridFsOn, openFsBlobs, openMongoStore, openSqliteStore } from '../adapters.ts';
import type { BlobStore } from '../blobs/blob-store.ts';
import type { Config } from '../config.ts';
import type { Store } from '../store/store.ts';
import { TRANSFER_ORDER, type TransferKind, type TransferRecords, type TransferSource, type TransferTarget } from '../store/transfer.ts';

/** Reads and writes in flight at once: a server answers many in the time of one round trip. */
const CONCURRENCY = 16;

export const MIGRATE_USAGE = `Usage: quire migrate-store [--batch N] [--verify-only]

Copies the embedded installation in DATA_DIR (SQLite store and original files) into MongoDB
and GridFS at MONGODB_URL, then verifies the copy by counts and checksums. Stop every hub
first. Run it again to continue an interrupted copy; what was copied is not copied twice.

  --batch N       records per batch (default 500)
  --verify-only   only compare the source and the target`;

/** What the verification found for one kind of record (or for the originals). */
export interface KindReport {
  kind: TransferKind | 'originals';
  source: number;
  target: number;
  /** SHA-256 over the source's records, and over the target's answers for the same records. */
  sourceSum: string;
  targetSum: string;
  /** Ids of records whose copy differs or is missing (the first few). */
  differing: string[];
}

export async function runMigrateStoreCommand(argv: string[], ctx: { config: Config; logger: Logger }): Promise<number> {
  const options = parseOptions(argv);
  if ('error' in options) {
    process.stderr.write(`${options.error}\n\n${MIGRATE_USAGE}\n`);
    return 2;
  }
  const { config } = ctx;
  if (!config.store.mongodbUrl) {
    process.stderr.write(`quire migrate-store: set MONGODB_URL to the MongoDB database to copy into\n`);
    return 2;
  }
  if (!existsSync(config.store.sqlitePath)) {
    process.stderr.write(`quire migrate-store: no embedded store at ${config.store.sqlitePath} (set DATA_DIR)\n`);
    return 2;
  }
  const source = await openSqliteStore(config.store.sqlitePath);
  const sourceBlobs = await openFsBlobs(config.store.blobDir);
  const target = await openMongoStore(config.store.mongodbUrl);
  // GridFS on the store's own connection.
  const targetBlobs = await gridFsOn(target.connection);
  try {
    const say = (line: string) => process.stderr.write(`${line}\n`);
    if (!options.verifyOnly) await copyInstallation({ source, sourceBlobs, target, targetBlobs, batch: options.batch, say });
    const reports = await verifyCopy({ source, sourceBlobs, target, targetBlobs, batch: options.batch });
    let ok = true;
    for (const r of reports) {
      const same = r.source === r.target && r.sourceSum === r.targetSum && r.differing.length === 0;
      ok &&= same;
      say(
        `${same ? 'ok  ' : 'DIFF'} ${r.kind.padEnd(13)} ${String(r.source).padStart(7)} → ${String(r.target).padStart(7)}  sha256 ${r.sourceSum.slice(0, 12)}${same ? '' : ` ≠ ${r.targetSum.slice(0, 12)} (${r.differing.slice(0, 5).join(', ')})`}`,
      );
    }
    say(ok ? 'The copy is complete and verified.' : 'The copy differs from the source; run the command again to continue it.');
    return ok ? 0 : 1;
  } finally {
    await target.close();
    await sourceBlobs.close();
    await source.close();
  }
}

function parseOptions(argv: string[]): { batch: number; verifyOnly: boolean } | { error: string } {
  let batch = 500;
  let verifyOnly = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--verify-only') verifyOnly = true;
    else if (arg === '--batch') {
      batch = Number(argv[++i]);
      if (!Number.isInteger(batch) || batch < 1 || batch > 10_000) return { error: '--batch takes a whole number from 1 to 10000' };
    } else return { error: `unknown option ${JSON.stringify(arg)}` };
  }
  return { batch, verifyOnly };
}

type SourceStore = Store & TransferSource;
type TargetStore = Store & TransferTarget & { connection: import('mongoose').Connection };

interface Checkpoint {
  _id: string;
  after: string | null;
  done: boolean;
  copied: number;
}

/** Copies every kind of record, then every original, continuing from the recorded positions. */
export async function copyInstallation(deps: {
  source: SourceStore;
  sourceBlobs: BlobStore;
  target: TargetStore;
  targetBlobs: BlobStore;
  batch: number;
  say: (line: string) => void;
}): Promise<void> {
  const { source, target, batch, say } = deps;
  const checkpoints = target.connection.collection<Checkpoint>('quire_migration');
  const load = async (id: string): Promise<Checkpoint> =>
    (await checkpoints.findOne({ _id: id })) ?? { _id: id, after: null, done: false, copied: 0 };
  const save = (c: Checkpoint) => checkpoints.replaceOne({ _id: c._id }, c, { upsert: true });

  for (const kind of TRANSFER_ORDER) {
    const at = await load(kind);
    if (at.done) continue;
    for (;;) {
      const { records, next } = await source.exportRecords(kind, { after: at.after, limit: batch });
      await target.importRecords(kind, records);
      at.copied += records.length;
      at.after = next ?? at.after;
      at.done = next === null;
      await save(at);
      say(`${kind}: ${at.copied} copied${at.done ? '' : '…'}`);
      if (at.done) break;
    }
  }

  // Originals: one per document, under the document's blob key, skipped when already there.
  const at = await load('originals');
  if (at.done) return;
  for (;;) {
    const { records, next } = await source.exportRecords('documents', { after: at.after, limit: batch });
    const limit = pLimit(CONCURRENCY);
    await Promise.all(
      records.map((doc) =>
        limit(async () => {
          if (await deps.targetBlobs.exists(doc.blobKey)) return;
          if (!(await deps.sourceBlobs.exists(doc.blobKey))) return;
          await deps.targetBlobs.put(doc.blobKey, await deps.sourceBlobs.get(doc.blobKey));
          at.copied += 1;
        }),
      ),
    );
    at.after = next ?? at.after;
    at.done = next === null;
    await save(at);
    say(`originals: ${at.copied} copied${at.done ? '' : '…'}`);
    if (at.done) return;
  }
}

/** Compares the target with the source, kind by kind, and the originals. */
export async function verifyCopy(deps: {
  source: SourceStore;
  sourceBlobs: BlobStore;
  target: TargetStore;
  targetBlobs: BlobStore;
  batch: number;
}): Promise<KindReport[]> {
  const { source, target } = deps;
  const reports: KindReport[] = [];
  for (const kind of TRANSFER_ORDER) {
    const sourceSum = createHash('sha256');
    const targetSum = createHash('sha256');
    const differing: string[] = [];
    let count = 0;
    const readBack = await readerOf(kind, target);
    for (let after: string | null = null; ;) {
      const { records, next }: { records: TransferRecords[typeof kind][]; next: string | null } = await source.exportRecords(kind, {
        after,
        limit: deps.batch,
      });
      // Read back concurrently, compared in order: the sums do not depend on timing.
      const limit = pLimit(CONCURRENCY);
      const answers = await Promise.all(records.map((record) => limit(() => readBack(record as never))));
      for (const [i, record] of records.entries()) {
        count += 1;
        const expected = canonical(comparable(kind, record));
        const answer = answers[i];
        const actual = answer === undefined ? 'missing' : canonical(answer);
        sourceSum.update(expected);
        targetSum.update(actual);
        if (actual !== expected && differing.length < 20) differing.push(identity(kind, record));
      }
      if (next === null) break;
      after = next;
    }
    reports.push({
      kind,
      source: count,
      target: await target.countRecords(kind),
      sourceSum: sourceSum.digest('hex'),
      targetSum: targetSum.digest('hex'),
      differing,
    });
  }
  reports.push(await verifyOriginals(deps));
  return reports;
}

/** Each original read back from the target and hashed, against the document's SHA-256. */
async function verifyOriginals(deps: {
  source: SourceStore;
  sourceBlobs: BlobStore;
  targetBlobs: BlobStore;
  batch: number;
}): Promise<KindReport> {
  const sourceSum = createHash('sha256');
  const targetSum = createHash('sha256');
  const differing: string[] = [];
  let source = 0;
  let target = 0;
  for (let after: string | null = null; ;) {
    const page: { records: TransferRecords['documents'][]; next: string | null } = await deps.source.exportRecords('documents', {
      after,
      limit: deps.batch,
    });
    const { records, next } = page;
    const limit = pLimit(CONCURRENCY);
    const found = await Promise.all(
      records.map((doc) =>
        limit(async () => {
          if (!(await deps.sourceBlobs.exists(doc.blobKey))) return null;
          return (await deps.targetBlobs.exists(doc.blobKey)) ? hashOf(await deps.targetBlobs.get(doc.blobKey)) : 'missing';
        }),
      ),
    );
    for (const [i, copied] of found.entries()) {
      if (copied === null) continue;
      const doc = records[i]!;
      source += 1;
      sourceSum.update(doc.sha256);
      if (copied !== 'missing') target += 1;
      targetSum.update(copied);
      if (copied !== doc.sha256 && differing.length < 20) differing.push(doc.id);
    }
    if (next === null) break;
    after = next;
  }
  return { kind: 'originals', source, target, sourceSum: sourceSum.digest('hex'), targetSum: targetSum.digest('hex'), differing };
}

async function hashOf(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk);
  return hash.digest('hex');
}

/** A record as the target's Store getters answer it (transfer-only fields left out). */
function comparable<K extends TransferKind>(kind: K, record: TransferRecords[K]): unknown {
  switch (kind) {
    case 'labelSets':
    case 'pages':
    case 'chunks':
    case 'annotationOps': {
      const { teamId: _teamId, ...rest } = record as { teamId: string };
      return rest;
    }
    default:
      return record;
  }
}

/** A record's identity, for the report. */
function identity(kind: TransferKind, record: unknown): string {
  const r = record as Record<string, unknown>;
  if (kind === 'pages') return `${String(r.documentId)}#${String(r.page)}`;
  if (kind === 'chunks') return `${String(r.documentId)}#${String(r.ordinal)}`;
  if (kind === 'annotationOps') return `${String(r.documentId)}#${String(r.seq)}`;
  if (kind === 'memberships') return `${String(r.teamId)}/${String(r.userId)}`;
  if (kind === 'labelSets') return String(r.teamId);
  return String(r.id);
}

/**
 * How the target answers one record of `kind` through the Store port: the getter a hub would
 * use. Per-document lists are read once per document and kept for its next records.
 */
async function readerOf(kind: TransferKind, target: Store): Promise<(record: any) => Promise<unknown>> {
  const perDocument = <T>(load: (teamId: string, documentId: string) => Promise<T[]>) => {
    // Records of one document come together: only the last few documents are kept.
    const cache = new Map<string, Promise<T[]>>();
    return (teamId: string, documentId: string) => {
      const key = `${teamId}/${documentId}`;
      let rows = cache.get(key);
      if (!rows) {
        rows = load(teamId, documentId);
        cache.set(key, rows);
        if (cache.size > 4 * CONCURRENCY) cache.delete(cache.keys().next().value!);
      }
      return rows;
    };
  };
  switch (kind) {
    case 'teams':
      return (r) => target.getTeam(r.id);
    case 'users':
      return (r) => target.getUser(r.id);
    case 'memberships':
      return (r) => target.getMembership({ teamId: r.teamId }, r.userId);
    case 'sessions':
      return (r) => target.findSessionByTokenHash(r.tokenHash);
    case 'invitations':
      return (r) => target.findInvitationByTokenHash(r.tokenHash);
    case 'apiKeys':
      return (r) => target.findApiKeyByHash(r.keyHash);
    case 'audit': {
      const all = new Map((await target.listAudit({ limit: Number.MAX_SAFE_INTEGER })).map((e) => [e.id, e]));
      return async (r) => all.get(r.id);
    }
    case 'labelSets':
      return (r) => target.getLabelSet({ teamId: r.teamId });
    case 'documents':
      return async (r) => {
        const doc = await target.getDocument({ teamId: r.teamId }, r.id);
        if (!doc) return undefined;
        const [stored] = await target.listDocumentVectors({ teamId: r.teamId }, { documentIds: [r.id] });
        return { ...doc, vector: stored ? Array.from(stored.vector) : null };
      };
    case 'jobs':
      return (r) => target.getJob({ teamId: r.teamId }, r.id);
    case 'pages': {
      const pages = perDocument((teamId, documentId) => target.getPages({ teamId }, documentId));
      return async (r) => (await pages(r.teamId, r.documentId)).find((p) => p.page === r.page);
    }
    case 'chunks': {
      const chunks = perDocument((teamId, documentId) => target.getChunks({ teamId }, documentId));
      return async (r) => (await chunks(r.teamId, r.documentId)).find((c) => c.ordinal === r.ordinal);
    }
    case 'annotations':
      return (r) => target.getAnnotation({ teamId: r.teamId }, r.documentId, r.id);
    case 'annotationOps':
      return (r) => target.getAnnotationOp({ teamId: r.teamId }, r.documentId, r.opId);
    case 'matchRules':
      return (r) => target.getMatchRule({ teamId: r.teamId }, r.id);
    case 'matches':
      return (r) => target.getMatch({ teamId: r.teamId }, r.id);
  }
}

/** JSON with object keys sorted and undefined left out, so equal records hash equally. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
