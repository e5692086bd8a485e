/**
 * LabelSetRepository on MongoDB through mongoose. Every version of a team's set is its own
 * document, `_id` `<team>:<version>`: a save from version n inserts version n + 1, and the
 * unique `_id` lets exactly one of several concurrent saves in. Atomicity comes from the
 * insert, not from a conditional update, because servers of the wire protocol differ there
 * (FerretDB 1.24 applies concurrent conditional updates to one document more than once);
 * a unique insert is atomic on MongoDB and on them alike. Older versions are removed after a
 * save; readers take the newest.
 */
import type { Connection, Model } from 'mongoose';
import { Schema } from 'mongoose';
import type { LabelDefinition } from '@quire/kernel';
import type { LabelSet, LabelSetRepository, StoredLabelSet, TeamScope } from '../store.ts';
import { isDuplicateKey } from './mongo-errors.ts';

interface LabelSetDocument {
  _id: string;
  teamId: string;
  version: number;
  types: LabelDefinition[];
  sensitivities: LabelDefinition[];
  updatedAt: number;
}

const labelSchema = new Schema<LabelDefinition>(
  { name: { type: String, required: true }, description: { type: String, required: true }, prompts: [String], keywords: [String] },
  { _id: false },
);

const labelSetSchema = new Schema<LabelSetDocument>(
  {
    _id: { type: String, required: true },
    teamId: { type: String, required: true },
    version: { type: Number, required: true },
    types: { type: [labelSchema], required: true },
    sensitivities: { type: [labelSchema], required: true },
    updatedAt: { type: Number, required: true },
  },
  { collection: 'label_sets', versionKey: false, autoIndex: false },
);
labelSetSchema.index({ teamId: 1, version: -1 });

export class MongoLabelSetRepository implements LabelSetRepository {
  readonly #model: Model<LabelSetDocument>;

  constructor(connection: Connection) {
    this.#model = connection.model<LabelSetDocument>('LabelSet', labelSetSchema);
  }

  /** Creates the indexes it declares. */
  async start(): Promise<void> {
    await this.#model.createIndexes();
  }

  async getLabelSet(scope: TeamScope): Promise<StoredLabelSet | undefined> {
    const doc = await this.#model.findOne({ teamId: scope.teamId }).sort({ version: -1 }).lean();
    return doc ? toLabelSet(doc) : undefined;
  }

  /** Writes teams' current sets as they are (`quire migrate-store`), replacing any of that version. */
  async importRecords(kind: 'labelSets', records: readonly (StoredLabelSet & { teamId: string })[]): Promise<void> {
    if (records.length === 0) return;
    await this.#model.bulkWrite(
      records.map((set) => {
        const doc = toLabelSetFromImport(set);
        return { replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } };
      }),
    );
    for (const set of records) await this.#model.deleteMany({ teamId: set.teamId, version: { $lt: set.version } });
  }

  /** Teams with a set of their own. */
  async countRecords(_kind: 'labelSets'): Promise<number> {
    return (await this.#model.distinct('teamId')).length;
  }

  async saveLabelSet(scope: TeamScope, set: LabelSet, expectedVersion: number): Promise<StoredLabelSet | undefined> {
    const current = await this.getLabelSet(scope);
    if ((current?.version ?? 0) !== expectedVersion) return undefined;
    const version = expectedVersion + 1;
    const doc: LabelSetDocument = {
      _id: `${scope.teamId}:${version}`,
      teamId: scope.teamId,
      version,
      types: set.types,
      sensitivities: set.sensitivities,
      updatedAt: Date.now(),
    };
    try {
      await this.#model.create(doc);
    } catch (err) {
      if (isDuplicateKey(err)) return undefined;
      throw err;
    }
    await this.#model.deleteMany({ teamId: scope.teamId, version: { $lt: version } });
    return toLabelSet(doc);
  }
}

function toLabelSetFromImport(set: StoredLabelSet & { teamId: string }): LabelSetDocument {
  return {
    _id: `${set.teamId}:${set.version}`,
    teamId: set.teamId,
    version: set.version,
    types: set.types,
    sensitivities: set.sensitivities,
    updatedAt: set.updatedAt,
  };
}

function toLabelSet(doc: LabelSetDocument): StoredLabelSet {
  return { types: doc.types.map(clean), sensitivities: doc.sensitivities.map(clean), version: doc.version, updatedAt: doc.updatedAt };
}

/** A label as stored, without the empty lists a schema default would add. */
function clean(label: LabelDefinition): LabelDefinition {
  return {
    name: label.name,
    description: label.description,
    ...(label.prompts?.length ? { prompts: [...label.prompts] } : {}),
    ...(label.keywords?.length ? { keywords: [...label.keywords] } : {}),
  };
}
