/** AccountRepository, MembershipRepository and AuditRepository on MongoDB. */
import type { Connection } from 'mongoose';
import type { MongoTeamRepository } from './teams.mongo.ts';

export class MongoAccountRepository {
  constructor(
    readonly connection: Connection,
    readonly teams: MongoTeamRepository,
  ) {}

  async start(): Promise<void> {}
}
