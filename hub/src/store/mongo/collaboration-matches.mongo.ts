/**
 * MatchRepository on MongoDB: match rules, and matches with the ledger of their resolutions
 * (`collab_match_resolutions`), which is the truth for a match's status and version; the
 * `matches` document carries the evidence and a copy of the newest resolution. Design and
 * reasons: see `collaboration.mongo.ts`.
 *
 * Imports (`quire migrate-store`, while no hub runs) write rules and matches as they are, a
 * match keeping the `_id` it has when already stored. A match's ledger is left settled at the
 * match's version: the entry of that version (from 2 on: version 1 is the proposal) carries
 * the match's resolution, and no other entry remains, so the next resolution, from that
 * version, is entry `<match>:<version + 1>`.
 */
import { randomUUID } from 'node:crypto';
import type { AnyBulkWriteOperation, Connection, Model } from 'mongoose';
import { Schema } from 'mongoose';
import { ConflictError, NotFoundError } from '@quire/kernel';
import { matchPairKey, refreshedEvidence } from '../rules.ts';
import type {
  MatchCondition,
  MatchedField,
  MatchKind,
  MatchPassage,
  MatchRecord,
  MatchRepository,
  MatchResolution,
  MatchRuleRecord,
  MatchStatus,
  NewMatch,
  TeamScope,
} from '../store.ts';
import { isDuplicateKey } from './mongo-errors.ts';

interface MatchRuleDocument {
  teamId: string;
  id: string;
  name: string;
  typeA: string;
  typeB: string;
  conditions: MatchCondition[];
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
}

/** A match. `_id` is new for every match ever inserted, so a ledger never outlives its match's identity. */
interface MatchDocument extends Omit<MatchRecord, 'teamId'> {
  _id: string;
  teamId: string;
  pairKey: string;
}

/** The fields a resolution sets. */
type Resolution = Pick<MatchRecord, 'status' | 'version' | 'canonicalDocumentId' | 'resolvedBy' | 'resolvedAt' | 'note' | 'updatedAt'>;

/** One accepted resolution: `_id` `<match _id>:<version>`, so one version is taken once. */
interface ResolutionDocument extends Resolution {
  _id: string;
  teamId: string;
  matchKey: string;
  /** True until the writer has copied this resolution (or a newer one) onto the match. */
  pending: boolean;
}

type MatchFilter = { status?: MatchStatus; documentId?: string };

const nullableString = { type: String, default: null };
const nullableNumber = { type: Number, default: null };

const ruleSchema = new Schema<MatchRuleDocument>(
  {
    teamId: { type: String, required: true },
    id: { type: String, required: true },
    name: { type: String, required: true },
    typeA: { type: String, required: true },
    typeB: { type: String, required: true },
    conditions: { type: Schema.Types.Mixed, required: true },
    enabled: { type: Boolean, required: true },
    createdAt: { type: Number, required: true },
    updatedAt: { type: Number, required: true },
  },
  { collection: 'match_rules', versionKey: false, autoIndex: false, minimize: false },
);
ruleSchema.index({ teamId: 1, id: 1 }, { unique: true });
ruleSchema.index({ teamId: 1, createdAt: 1, id: 1 });

const matchSchema = new Schema<MatchDocument>(
  {
    _id: { type: String, required: true },
    teamId: { type: String, required: true },
    id: { type: String, required: true },
    pairKey: { type: String, required: true },
    kind: { type: String, required: true },
    documentAId: { type: String, required: true },
    documentBId: { type: String, required: true },
    ruleId: nullableString,
    score: { type: Number, required: true },
    passages: { type: Schema.Types.Mixed, required: true },
    fields: { type: Schema.Types.Mixed, required: true },
    status: { type: String, required: true },
    version: { type: Number, required: true },
    canonicalDocumentId: nullableString,
    resolvedBy: nullableString,
    resolvedAt: nullableNumber,
    note: nullableString,
    createdAt: { type: Number, required: true },
    updatedAt: { type: Number, required: true },
  },
  { collection: 'matches', versionKey: false, autoIndex: false, minimize: false },
);
matchSchema.index({ teamId: 1, id: 1 }, { unique: true });
// One match per pair: of concurrent proposals of a pair exactly one insert gets in.
matchSchema.index({ teamId: 1, pairKey: 1 }, { unique: true });
matchSchema.index({ teamId: 1, documentAId: 1 });
matchSchema.index({ teamId: 1, documentBId: 1 });
matchSchema.index({ teamId: 1, status: 1, createdAt: -1 });
matchSchema.index({ teamId: 1, resolvedAt: 1 });

const resolutionSchema = new Schema<ResolutionDocument>(
  {
    _id: { type: String, required: true },
    teamId: { type: String, required: true },
    matchKey: { type: String, required: true },
    status: { type: String, required: true },
    version: { type: Number, required: true },
    canonicalDocumentId: nullableString,
    resolvedBy: nullableString,
    resolvedAt: nullableNumber,
    note: nullableString,
    updatedAt: { type: Number, required: true },
    pending: { type: Boolean, required: true },
  },
  { collection: 'collab_match_resolutions', versionKey: false, autoIndex: false },
);
resolutionSchema.index({ matchKey: 1, version: -1 });
resolutionSchema.index({ teamId: 1, pending: 1 });

/** How often copying the newest resolution onto a match is retried while other writers move it. */
const MAX_SETTLE_ROUNDS = 50;

export class MongoMatchRepository implements MatchRepository {
  readonly #rules: Model<MatchRuleDocument>;
  readonly #matches: Model<MatchDocument>;
  readonly #resolutions: Model<ResolutionDocument>;

  constructor(connection: Connection) {
    this.#rules = connection.model<MatchRuleDocument>('CollabMatchRule', ruleSchema);
    this.#matches = connection.model<MatchDocument>('CollabMatch', matchSchema);
    this.#resolutions = connection.model<ResolutionDocument>('CollabMatchResolution', resolutionSchema);
  }

  /** Creates the indexes it declares. */
  async start(): Promise<void> {
    await Promise.all([this.#rules.createIndexes(), this.#matches.createIndexes(), this.#resolutions.createIndexes()]);
  }

  // --- rules -------------------------------------------------------------------------------

  async insertMatchRule(scope: TeamScope, rule: Omit<MatchRuleRecord, 'teamId' | 'createdAt' | 'updatedAt'>): Promise<MatchRuleRecord> {
    const now = Date.now();
    const doc: MatchRuleDocument = { ...ruleFields(rule), teamId: scope.teamId, id: rule.id, createdAt: now, updatedAt: now };
    try {
      await this.#rules.create(doc);
    } catch (err) {
      if (isDuplicateKey(err)) throw new ConflictError(`Match rule ${rule.id} exists`, { cause: err, code: 'MATCH_RULE_EXISTS' });
      throw err;
    }
    return toRule(doc);
  }

  async updateMatchRule(scope: TeamScope, rule: Omit<MatchRuleRecord, 'teamId' | 'createdAt' | 'updatedAt'>): Promise<MatchRuleRecord> {
    const doc = await this.#rules
      .findOneAndUpdate({ teamId: scope.teamId, id: rule.id }, { $set: { ...ruleFields(rule), updatedAt: Date.now() } }, { new: true })
      .lean();
    if (!doc) throw new NotFoundError(`Match rule ${rule.id} not found`);
    return toRule(doc);
  }

  async deleteMatchRule(scope: TeamScope, id: string): Promise<boolean> {
    return (await this.#rules.deleteOne({ teamId: scope.teamId, id })).deletedCount > 0;
  }

  async getMatchRule(scope: TeamScope, id: string): Promise<MatchRuleRecord | undefined> {
    const doc = await this.#rules.findOne({ teamId: scope.teamId, id }).lean();
    return doc ? toRule(doc) : undefined;
  }

  async listMatchRules(scope: TeamScope): Promise<MatchRuleRecord[]> {
    return (await this.#rules.find({ teamId: scope.teamId }).sort({ createdAt: 1, id: 1 }).lean()).map(toRule);
  }

  /** Writes rules as they are, replacing a team's rule of the same id. */
  async importRules(records: readonly MatchRuleRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.#rules.bulkWrite(
      records.map((r) => {
        const doc: MatchRuleDocument = {
          ...ruleFields(r),
          teamId: r.teamId,
          id: r.id,
          createdAt: r.createdAt,
          updatedAt: r.updatedAt,
        };
        return { replaceOne: { filter: { teamId: r.teamId, id: r.id }, replacement: doc, upsert: true } };
      }),
    );
  }

  /** Writes matches as they are, replacing a team's match of the same id, each with its ledger settled. */
  async importMatches(records: readonly MatchRecord[]): Promise<void> {
    if (records.length === 0) return;
    const batch = new Map(records.map((r) => [JSON.stringify([r.teamId, r.id]), r]));
    const byTeam = new Map<string, string[]>();
    for (const r of batch.values()) byTeam.set(r.teamId, [...(byTeam.get(r.teamId) ?? []), r.id]);
    const keys = new Map<string, string>();
    for (const [teamId, ids] of byTeam) {
      const stored = await this.#matches.find({ teamId, id: { $in: ids } }, { _id: 1, id: 1 }).lean();
      for (const d of stored) keys.set(JSON.stringify([teamId, d.id]), d._id);
    }
    const docs = [...batch].map(([key, r]): MatchDocument => {
      const identity = { _id: keys.get(key) ?? randomUUID(), pairKey: matchPairKey(r) };
      return { ...toMatch({ ...r, ...identity }), ...identity };
    });
    await this.#matches.bulkWrite(docs.map((doc) => ({ replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } })));
    await this.#resolutions.bulkWrite(
      docs.flatMap((doc): AnyBulkWriteOperation<ResolutionDocument>[] => {
        const entryId = `${doc._id}:${doc.version}`;
        const others: AnyBulkWriteOperation<ResolutionDocument> = { deleteMany: { filter: { matchKey: doc._id, _id: { $ne: entryId } } } };
        if (doc.version < 2) return [others];
        const entry: ResolutionDocument = { ...resolutionOf(doc), _id: entryId, teamId: doc.teamId, matchKey: doc._id, pending: false };
        return [others, { replaceOne: { filter: { _id: entryId }, replacement: entry, upsert: true } }];
      }),
    );
  }

  /** Rules, or matches: how many are stored. */
  async countRecords(kind: 'matchRules' | 'matches'): Promise<number> {
    return kind === 'matchRules' ? this.#rules.countDocuments() : this.#matches.countDocuments();
  }

  // --- matches -----------------------------------------------------------------------------

  async proposeMatch(scope: TeamScope, match: NewMatch, at: number): Promise<{ match: MatchRecord; created: boolean }> {
    const { teamId } = scope;
    const pairKey = matchPairKey(match);
    let existing = await this.#matches.findOne({ teamId, pairKey }).lean();
    if (!existing) {
      const doc: MatchDocument = {
        _id: randomUUID(),
        teamId,
        id: match.id,
        pairKey,
        kind: match.kind,
        documentAId: match.documentAId,
        documentBId: match.documentBId,
        ruleId: match.ruleId,
        score: match.score,
        passages: match.passages,
        fields: match.fields,
        status: 'open',
        version: 1,
        canonicalDocumentId: null,
        resolvedBy: null,
        resolvedAt: null,
        note: null,
        createdAt: at,
        updatedAt: at,
      };
      try {
        await this.#matches.create(doc);
        return { match: toMatch(doc), created: true };
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
      // Another proposal of the pair got in first: it is this match, refreshed below.
      existing = await this.#matches.findOne({ teamId, pairKey }).lean();
      if (!existing) throw new ConflictError(`Match ${match.id} exists for another pair`, { code: 'MATCH_EXISTS' });
    }
    // The match's copy of its newest resolution first, so that the refresh below goes by it.
    await this.#settle(existing._id);
    const current = await this.#withNewestResolution(existing);
    const evidence = refreshedEvidence(current, match);
    if (evidence) {
      await this.#matches.updateOne(
        { _id: existing._id, status: 'open', version: current.version },
        { $set: { ...evidence, updatedAt: at } },
      );
      // A server that updates without isolation may have written back a status a concurrent
      // resolution had just replaced: the ledger puts it right.
      await this.#settle(existing._id);
    }
    const after = await this.#matches.findById(existing._id).lean();
    return { match: toMatch(await this.#withNewestResolution(after ?? existing)), created: false };
  }

  async getMatch(scope: TeamScope, id: string): Promise<MatchRecord | undefined> {
    const doc = await this.#matches.findOne({ teamId: scope.teamId, id }).lean();
    return doc ? toMatch(await this.#withNewestResolution(doc)) : undefined;
  }

  async listMatches(scope: TeamScope, options: { status?: MatchStatus; documentId?: string; limit: number }): Promise<MatchRecord[]> {
    const found = await this.#find(scope.teamId, options, options.limit);
    return found
      .sort((x, y) => y.createdAt - x.createdAt || (x.id < y.id ? 1 : x.id > y.id ? -1 : 0))
      .slice(0, options.limit)
      .map(toMatch);
  }

  async listConfirmedMatches(scope: TeamScope): Promise<MatchRecord[]> {
    const found = await this.#find(scope.teamId, { status: 'confirmed' });
    return found.sort((x, y) => x.createdAt - y.createdAt || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0)).map(toMatch);
  }

  async resolveMatch(
    scope: TeamScope,
    id: string,
    input: {
      expectedVersion: number;
      status: MatchStatus;
      canonicalDocumentId: string | null;
      by: string | null;
      at: number;
      note: string | null;
    },
  ): Promise<MatchResolution | undefined> {
    const doc = await this.#matches.findOne({ teamId: scope.teamId, id }).lean();
    if (!doc) return undefined;
    const current = await this.#withNewestResolution(doc);
    if (current.version !== input.expectedVersion) return { status: 'conflict', current: toMatch(current) };
    const open = input.status === 'open';
    const resolution: Resolution = {
      status: input.status,
      version: input.expectedVersion + 1,
      canonicalDocumentId: input.canonicalDocumentId,
      resolvedBy: open ? null : input.by,
      resolvedAt: open ? null : input.at,
      note: input.note,
      updatedAt: input.at,
    };
    const entryId = `${doc._id}:${resolution.version}`;
    try {
      await this.#resolutions.create({ ...resolution, _id: entryId, teamId: scope.teamId, matchKey: doc._id, pending: true });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      // Another resolution from the same version got in first: answer its outcome.
      const winner = await this.#matches.findById(doc._id).lean();
      return { status: 'conflict', current: toMatch(await this.#withNewestResolution(winner ?? doc)) };
    }
    await this.#settle(doc._id);
    await this.#resolutions.updateOne({ _id: entryId }, { $set: { pending: false } });
    const after = await this.#matches.findById(doc._id).lean();
    return { status: 'accepted', match: toMatch({ ...(after ?? doc), ...resolution }) };
  }

  /**
   * Matches open, and matches confirmed or rejected at or after `since`, counted from the
   * matches with the ledger's newest resolution instead for those with a pending one.
   */
  async countActivity(scope: TeamScope, since: number): Promise<{ open: number; resolved: number }> {
    const { teamId } = scope;
    const pending = await this.#pendingKeys(teamId);
    const isOpen = (m: Resolution | undefined) => (m?.status === 'open' ? 1 : 0);
    const isResolved = (m: Resolution | undefined) => (m && m.status !== 'open' && m.resolvedAt !== null && m.resolvedAt >= since ? 1 : 0);
    let [open, resolved] = await Promise.all([
      this.#matches.countDocuments({ teamId, status: 'open' }),
      this.#matches.countDocuments({ teamId, status: { $in: ['confirmed', 'rejected'] }, resolvedAt: { $gte: since } }),
    ]);
    // The pending matches and their ledgers in two reads, however many are pending.
    const docs = pending.length ? await this.#matches.find({ _id: { $in: pending } }).lean() : [];
    const current = await this.#withNewestResolutions(docs);
    docs.forEach((doc, i) => {
      open += isOpen(current[i]) - isOpen(doc);
      resolved += isResolved(current[i]) - isResolved(doc);
    });
    return { open, resolved };
  }

  /**
   * The team's matches that pass `filter`, each with its newest resolution. Matches with a
   * pending resolution are read by key, whatever their stored status, and judged by the
   * ledger; the pending entries are read first, so a match whose copy of its status is behind
   * the ledger is always among them.
   */
  async #find(teamId: string, filter: MatchFilter, limit?: number): Promise<MatchDocument[]> {
    const pending = await this.#pendingKeys(teamId);
    const query: Record<string, unknown> = { teamId };
    if (filter.status) query.status = filter.status;
    if (filter.documentId) query.$or = [{ documentAId: filter.documentId }, { documentBId: filter.documentId }];
    let cursor = this.#matches.find(query).sort({ createdAt: -1, id: -1 });
    if (limit !== undefined) cursor = cursor.limit(limit + pending.length);
    const [stored, unsettled] = await Promise.all([
      cursor.lean(),
      pending.length ? this.#matches.find({ _id: { $in: pending } }).lean() : Promise.resolve([]),
    ]);
    const byKey = new Map<string, MatchDocument>([...stored, ...unsettled].map((d) => [d._id, d]));
    const current = await this.#withNewestResolutions([...byKey.values()]);
    return current.filter(
      (m) =>
        (!filter.status || m.status === filter.status) &&
        (!filter.documentId || m.documentAId === filter.documentId || m.documentBId === filter.documentId),
    );
  }

  async #pendingKeys(teamId: string): Promise<string[]> {
    const entries = await this.#resolutions.find({ teamId, pending: true }, { matchKey: 1 }).lean();
    return [...new Set(entries.map((e) => e.matchKey))];
  }

  async #newestResolution(matchKey: string): Promise<ResolutionDocument | undefined> {
    return (await this.#resolutions.findOne({ matchKey }).sort({ version: -1 }).lean()) ?? undefined;
  }

  /** The match with the ledger's newest resolution, where that is newer than the match's copy. */
  async #withNewestResolution(doc: MatchDocument): Promise<MatchDocument> {
    return withResolution(doc, await this.#newestResolution(doc._id));
  }

  /** As {@link #withNewestResolution}, for many matches in one read of the ledger. */
  async #withNewestResolutions(docs: MatchDocument[]): Promise<MatchDocument[]> {
    if (docs.length === 0) return [];
    const entries = await this.#resolutions.find({ matchKey: { $in: docs.map((d) => d._id) } }).lean();
    const newest = new Map<string, ResolutionDocument>();
    for (const e of entries) if (e.version > (newest.get(e.matchKey)?.version ?? 0)) newest.set(e.matchKey, e);
    return docs.map((doc) => withResolution(doc, newest.get(doc._id)));
  }

  /**
   * Copies the ledger's newest resolution onto the match until the two agree: a copy a
   * concurrent writer overwrote with an older state (possible where conditional updates are
   * not isolated) is written again.
   */
  async #settle(matchKey: string): Promise<void> {
    for (let round = 0; round < MAX_SETTLE_ROUNDS; round++) {
      const [newest, doc] = await Promise.all([this.#newestResolution(matchKey), this.#matches.findById(matchKey, { version: 1 }).lean()]);
      if (!newest || !doc || doc.version >= newest.version) return;
      await this.#matches.updateOne({ _id: matchKey, version: { $lt: newest.version } }, { $set: resolutionOf(newest) });
    }
    throw new Error(`match ${matchKey} did not settle after ${MAX_SETTLE_ROUNDS} rounds`);
  }
}

/** The match as the ledger entry leaves it, where the entry is newer than the match's copy. */
function withResolution(doc: MatchDocument, entry: ResolutionDocument | undefined): MatchDocument {
  return entry && entry.version > doc.version ? { ...doc, ...resolutionOf(entry) } : doc;
}

function resolutionOf(r: Resolution): Resolution {
  return {
    status: r.status,
    version: r.version,
    canonicalDocumentId: r.canonicalDocumentId ?? null,
    resolvedBy: r.resolvedBy ?? null,
    resolvedAt: r.resolvedAt ?? null,
    note: r.note ?? null,
    updatedAt: r.updatedAt,
  };
}

function ruleFields(
  rule: Omit<MatchRuleRecord, 'teamId' | 'createdAt' | 'updatedAt'>,
): Pick<MatchRuleDocument, 'name' | 'typeA' | 'typeB' | 'conditions' | 'enabled'> {
  return { name: rule.name, typeA: rule.typeA, typeB: rule.typeB, conditions: rule.conditions, enabled: rule.enabled };
}

function toRule(doc: MatchRuleDocument): MatchRuleRecord {
  return {
    id: doc.id,
    teamId: doc.teamId,
    name: doc.name,
    typeA: doc.typeA,
    typeB: doc.typeB,
    conditions: doc.conditions.map((c) => ({
      fieldA: c.fieldA,
      fieldB: c.fieldB,
      comparison: c.comparison,
      tolerance: c.tolerance ?? null,
    })),
    enabled: doc.enabled,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
  };
}

function toMatch(doc: MatchDocument): MatchRecord {
  return {
    id: doc.id,
    teamId: doc.teamId,
    kind: doc.kind as MatchKind,
    documentAId: doc.documentAId,
    documentBId: doc.documentBId,
    ruleId: doc.ruleId ?? null,
    score: doc.score,
    passages: doc.passages as MatchPassage[],
    fields: doc.fields as MatchedField[],
    status: doc.status as MatchStatus,
    version: doc.version,
    canonicalDocumentId: doc.canonicalDocumentId ?? null,
    resolvedBy: doc.resolvedBy ?? null,
    resolvedAt: doc.resolvedAt ?? null,
    note: doc.note ?? null,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
  };
}
