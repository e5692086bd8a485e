/**
 * Search: embeds the query with the index's model and runs a team-scoped text, vector or
 * hybrid query; and "more like this", the team's documents nearest to one of its documents.
 */
import { ConflictError, DocumentStatus, NotFoundError, ValidationError } from '@quire/kernel';
import type { Embedder } from '@quire/processors';
import { MAX_K, SearchMode, type SearchFilter, type SearchHit, type SearchIndex } from '@quire/search';
import type { Store, TeamScope } from '../store/store.ts';

/** Most hits one query may ask for. */
export const MAX_HITS = 100;
/** Longest accepted query, in characters. */
export const MAX_QUERY_LENGTH = 2000;

/** Passages asked of the index per similar document wanted, at first: documents have several. */
const PASSAGES_PER_DOCUMENT = 8;

export class SearchService {
  constructor(private readonly deps: { index: SearchIndex; embedder: Embedder; store: Store }) {}

  async search(scope: TeamScope, input: { query: string; mode: SearchMode; filter?: SearchFilter; first?: number }): Promise<SearchHit[]> {
    const text = input.query.trim();
    const k = input.first ?? 10;
    if (!Number.isInteger(k) || k < 1 || k > MAX_HITS) {
      throw new ValidationError(`first must be between 1 and ${MAX_HITS}`, { code: 'BAD_PAGE_SIZE' });
    }
    if (text.length > MAX_QUERY_LENGTH) {
      throw new ValidationError(`The query is longer than ${MAX_QUERY_LENGTH} characters`, { code: 'QUERY_TOO_LONG' });
    }
    if (!text) return [];
    const vector = input.mode === SearchMode.Text ? undefined : await this.deps.embedder.embedQuery(text);
    return this.deps.index.search(scope, { mode: input.mode, text, vector, filter: input.filter, k });
  }

  /**
   * The team's other documents most similar to `documentId`, most similar first: the
   * passages nearest to the document's embedding (the normalised mean of its chunks'), one hit
   * per document, its best passage. NOT_FOUND for a document the team does not have;
   * ConflictError `NOT_PROCESSED` while it has no embedding yet, `NO_EMBEDDING` when it was
   * processed without text to embed.
   */
  async moreLikeThis(scope: TeamScope, documentId: string, options: { first?: number } = {}): Promise<SearchHit[]> {
    const first = options.first ?? 10;
    if (!Number.isInteger(first) || first < 1 || first > MAX_HITS) {
      throw new ValidationError(`first must be between 1 and ${MAX_HITS}`, { code: 'BAD_PAGE_SIZE' });
    }
    const { store, index } = this.deps;
    const doc = await store.getDocument(scope, documentId);
    if (!doc) throw new NotFoundError(`Document ${documentId} not found`);
    const [own] = await store.listDocumentVectors(scope, { documentIds: [documentId] });
    if (!own) {
      throw doc.status === DocumentStatus.Processed
        ? new ConflictError(`Document ${documentId} has no text to compare with others`, { code: 'NO_EMBEDDING' })
        : new ConflictError(`Document ${documentId} is not processed (it is ${doc.status}); similar documents are found once it is`, {
            code: 'NOT_PROCESSED',
            details: { status: doc.status },
          });
    }
    // Passages are ranked, documents wanted: ask for more passages until enough documents
    // are among them or the team has no more.
    for (let k = Math.min(MAX_K, first * PASSAGES_PER_DOCUMENT); ; k = Math.min(MAX_K, k * 4)) {
      const hits = await index.search(scope, {
        mode: SearchMode.Vector,
        vector: own.vector,
        k,
        filter: { excludeDocumentIds: [documentId] },
      });
      const best = new Map<string, SearchHit>();
      for (const hit of hits) if (!best.has(hit.documentId)) best.set(hit.documentId, hit);
      if (best.size >= first || hits.length < k || k === MAX_K) {
        return [...best.values()].slice(0, first).map((hit, i) => ({ ...hit, rank: i + 1 }));
      }
    }
  }
}
