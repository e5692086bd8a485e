/**
 * Search: embeds the query with the index's model and runs a team-scoped text, vector or
 * hybrid query; and "more like this", the team's documents nearest to one of its documents.
 */
import { ConflictError, DocumentStatus, NotFoundError, ValidationError } from '@quire/kernel';
import type { Embedder } from '@quire/processors';
import { MAX_K, SearchMode, type ChunkFilters, type SearchFilter, type SearchHit, type SearchIndex } from '@quire/search';
import type { Store, TeamScope } from '../store/store.ts';

/** Most hits one query may ask for. */
export const MAX_HITS = 100;
/** Longest accepted query, in characters. */
export const MAX_QUERY_LENGTH = 2000;

/** Passages asked of the index per similar document wanted, at first: documents have several. */
const PASSAGES_PER_DOCUMENT = 8;
/** Best passages a grouped search ranks its documents and counts its facets from. */
export const GROUPED_PASSAGES = 200;
/** Most passages shown per document in a grouped search. */
export const MAX_PASSAGES_PER_DOCUMENT = 10;

/** A search request as the API takes it. */
export interface SearchInput {
  query: string;
  mode: SearchMode;
  filter?: SearchFilter;
  first?: number;
}

/** One document of a grouped search: its best passages, best first. */
export interface DocumentMatch {
  documentId: string;
  passages: SearchHit[];
  /** 1-based, by the document's best passage. */
  rank: number;
}

/** How many documents found have each value; `null` is "not classified yet". */
export interface FacetCount {
  value: string | null;
  count: number;
}

export interface DocumentSearch {
  documents: DocumentMatch[];
  facets: { passagesExamined: number; types: FacetCount[]; sensitivities: FacetCount[] };
}

/** Counts of each value among `filters`, most frequent first (ties by value, null last). */
function facetCounts(values: ReadonlyArray<string | null>): FacetCount[] {
  const counts = new Map<string | null, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts]
    .map(([value, count]) => ({ value, count }))
    .sort((a, b) => b.count - a.count || (a.value === null ? 1 : b.value === null ? -1 : a.value.localeCompare(b.value)));
}

function validateFirst(first: number, max: number, field: string): void {
  if (!Number.isInteger(first) || first < 1 || first > max) {
    throw new ValidationError(`${field} must be between 1 and ${max}`, { code: 'BAD_PAGE_SIZE', details: { field } });
  }
}

export class SearchService {
  constructor(private readonly deps: { index: SearchIndex; embedder: Embedder; store: Store }) {}

  async search(scope: TeamScope, input: SearchInput): Promise<SearchHit[]> {
    const k = input.first ?? 10;
    validateFirst(k, MAX_HITS, 'first');
    return this.#passages(scope, input, k);
  }

  /**
   * The team's documents that best match the query, ranked by their best passage, each with
   * up to `passages` of its best passages; and how many of the documents found have each type
   * and sensitivity. Documents and counts come from the {@link GROUPED_PASSAGES} best passages.
   */
  async searchDocuments(scope: TeamScope, input: SearchInput & { passages?: number }): Promise<DocumentSearch> {
    const first = input.first ?? 10;
    const perDocument = input.passages ?? 3;
    validateFirst(first, MAX_HITS, 'first');
    validateFirst(perDocument, MAX_PASSAGES_PER_DOCUMENT, 'passages');
    const hits = await this.#passages(scope, input, GROUPED_PASSAGES);
    const groups = new Map<string, { passages: SearchHit[]; filters: ChunkFilters }>();
    for (const hit of hits) {
      const group = groups.get(hit.documentId) ?? { passages: [], filters: hit.filters };
      groups.set(hit.documentId, group);
      if (group.passages.length < perDocument) group.passages.push({ ...hit, rank: group.passages.length + 1 });
    }
    const found = [...groups.values()];
    return {
      documents: [...groups].slice(0, first).map(([documentId, g], i) => ({ documentId, passages: g.passages, rank: i + 1 })),
      facets: {
        passagesExamined: hits.length,
        types: facetCounts(found.map((g) => g.filters.type)),
        sensitivities: facetCounts(found.map((g) => g.filters.sensitivity)),
      },
    };
  }

  /** The `k` best passages for the query (none for a blank one). */
  async #passages(scope: TeamScope, input: SearchInput, k: number): Promise<SearchHit[]> {
    const text = input.query.trim();
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
    validateFirst(first, MAX_HITS, 'first');
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
