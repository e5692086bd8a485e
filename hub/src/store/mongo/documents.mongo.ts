/** DocumentRepository on MongoDB, with the dashboard's document and job figures. */
import type { Connection } from 'mongoose';

export class MongoDocumentRepository {
  constructor(readonly connection: Connection) {}

  async start(): Promise<void> {}
}
