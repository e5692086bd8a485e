/**
 * Search: embeds the query with the index's model and runs a team-scoped text, vector or
 * hybrid query.
 */
import { ValidationError, type Embedder } from '@quire/processors';
import { SearchMode, type SearchFilter, type SearchHit, type SearchIndex } from '@quire/search';
import type { TeamScope } from '../store/store.ts';

/** Most hits one query may ask for. */
export const MAX_HITS = 100;
/** Longest accepted query, in characters. */
export const MAX_QUERY_LENGTH = 2000;

export class SearchService {
  constructor(private readonly deps: { index: SearchIndex; embedder: Embedder }) {}

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
}
