/** TeamRepository on MongoDB: one document per team, `_id` the team id. */
import type { Connection, Model } from 'mongoose';
import { Schema } from 'mongoose';
import type { TeamRecord, TeamRepository } from '../store.ts';
import { isDuplicateKey } from './mongo-errors.ts';

interface TeamDocument {
  _id: string;
  name: string;
  createdAt: number;
}

const teamSchema = new Schema<TeamDocument>(
  { _id: { type: String, required: true }, name: { type: String, required: true }, createdAt: { type: Number, required: true } },
  { collection: 'teams', versionKey: false, autoIndex: false },
);

export class MongoTeamRepository implements TeamRepository {
  readonly #model: Model<TeamDocument>;

  constructor(connection: Connection) {
    this.#model = connection.model<TeamDocument>('Team', teamSchema);
  }

  async start(): Promise<void> {
    await this.#model.createIndexes();
  }

  async ensureTeam(team: { id: string; name: string }): Promise<TeamRecord> {
    try {
      const created = await this.#model.create({ _id: team.id, name: team.name, createdAt: Date.now() });
      return toTeam(created.toObject());
    } catch (err) {
      // Created meanwhile, by this hub or another: the first name stays.
      if (!isDuplicateKey(err)) throw err;
    }
    const existing = await this.getTeam(team.id);
    if (!existing) throw new Error(`team ${team.id} was reported as existing but cannot be read`);
    return existing;
  }

  async getTeam(id: string): Promise<TeamRecord | undefined> {
    const doc = await this.#model.findById(id).lean();
    return doc ? toTeam(doc) : undefined;
  }

  /** Writes teams as they are (`quire migrate-store`), replacing any with the same id. */
  async importRecords(kind: 'teams', records: readonly TeamRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.#model.bulkWrite(
      records.map((t) => ({
        replaceOne: { filter: { _id: t.id }, replacement: { _id: t.id, name: t.name, createdAt: t.createdAt }, upsert: true },
      })),
    );
  }

  async countRecords(_kind: 'teams'): Promise<number> {
    return this.#model.countDocuments();
  }

  async listTeams(): Promise<TeamRecord[]> {
    return (await this.#model.find().sort({ createdAt: 1, _id: 1 }).lean()).map(toTeam);
  }
}

function toTeam(doc: TeamDocument): TeamRecord {
  return { id: doc._id, name: doc.name, createdAt: doc.createdAt };
}
