/**
 * Rebuilds the search index from the store: every processed document of every team, its
 * chunks embedded again from their stored text (the store keeps text and boxes, not vectors).
 * Useful after moving to another store or index, after changing the embedding model, or when
 * an index drifted. Idempotent: a run stopped midway is simply run again.
 */
import { DocumentStatus } from '@quire/kernel';
import type { Embedder } from '@quire/processors';
import type { Store } from '../store/store.ts';
import type { IndexerService } from './indexer.service.ts';

/** Chunks embedded per call: large enough to keep the model busy, small enough to report often. */
const EMBED_BATCH = 64;

export interface ReindexProgress {
  team: string;
  /** Processed documents of all teams reindexed so far, and chunks. */
  documents: number;
  chunks: number;
}

export class ReindexService {
  constructor(private readonly deps: { store: Store; indexer: IndexerService; embedder: Pick<Embedder, 'embedDocuments'> }) {}

  /** Reindexes every team's processed documents; answers what it did. */
  async run(onProgress: (p: ReindexProgress) => void = () => {}): Promise<{ teams: number; documents: number; chunks: number }> {
    const { store, indexer, embedder } = this.deps;
    const teams = await store.listTeams();
    let documents = 0;
    let chunks = 0;
    for (const team of teams) {
      const scope = { teamId: team.id };
      for (let after: string | null = null; ;) {
        const page = await store.listDocuments(scope, { filter: { statuses: [DocumentStatus.Processed] }, first: 100, after });
        for (const { node: doc } of page.edges) {
          const rows = await store.getChunks(scope, doc.id);
          const vectors = [];
          for (let i = 0; i < rows.length; i += EMBED_BATCH) {
            vectors.push(...(await embedder.embedDocuments(rows.slice(i, i + EMBED_BATCH).map((c) => c.text))));
          }
          await indexer.reindex(scope, doc, rows, vectors);
          documents += 1;
          chunks += rows.length;
          onProgress({ team: team.id, documents, chunks });
        }
        if (!page.hasNextPage) break;
        after = page.endCursor;
      }
    }
    return { teams: teams.length, documents, chunks };
  }
}
