/**
 * The SearchIndex port: chunks of text with vectors, filters and provenance, queried in
 * `text` (BM25), `vector` (k-NN) or `hybrid` (reciprocal rank fusion of both) mode.
 * Every call takes a {@link TeamScope}: no query can be written without a team.
 *
 * Rules every adapter shares (validation, result depth, fusion) live at the bottom of this
 * file so that the embedded and the Elasticsearch adapters rank and refuse alike.
 */
import { type Box, MismatchError, type TeamScope, ValidationError } from '@quire/kernel';

/** How a query ranks: BM25 over the text, k-NN over the vectors, or both fused by RRF. */
export const SearchMode = { Text: 'text', Vector: 'vector', Hybrid: 'hybrid' } as const;
export type SearchMode = (typeof SearchMode)[keyof typeof SearchMode];

/** Values a query can filter on; stored with every chunk of a document. */
export interface ChunkFilters {
  /** Document type label (e.g. `invoice`); null until classified. */
  type: string | null;
  /** Sensitivity label (e.g. `INTERNAL`); null until classified. */
  sensitivity: string | null;
  /** Document creation time, epoch ms (an integer). */
  createdAt: number;
}

/**
 * One chunk to index. `(team, documentId, ordinal)` is its identity: upserting it again
 * replaces text, vector, filters and provenance. The same document id in two teams names
 * two unrelated documents.
 */
export interface ChunkRecord {
  documentId: string;
  /** Position of the chunk in its document, from 0. */
  ordinal: number;
  text: string;
  /** 1-based page. */
  page: number;
  boxes: Box[];
  /** Embedding with the recorded model; its length must equal the recorded dimension. */
  vector: Float32Array;
  filters: ChunkFilters;
  /** Document title (file name), indexed with the text and weighted above it. */
  title: string;
}

/**
 * Restrictions applied to every ranked list of a query (text and vector alike), before
 * `k` is counted, so a selective filter still yields `k` hits when that many exist.
 * Absent fields do not restrict. An empty include list (`types: []`, `documentIds: []`)
 * matches nothing: a caller that computed "no allowed documents" must not get all of them.
 */
export interface SearchFilter {
  /** Keep chunks whose type is one of these (unclassified chunks never match). */
  types?: string[];
  /** Keep chunks whose sensitivity is one of these (unclassified chunks never match). */
  sensitivities?: string[];
  /** Inclusive lower bound on createdAt, epoch ms. */
  createdFrom?: number;
  /** Exclusive upper bound on createdAt, epoch ms. */
  createdTo?: number;
  /** Restrict to these documents. */
  documentIds?: string[];
  /** Leave these documents out (e.g. the document itself in "more like this"). */
  excludeDocumentIds?: string[];
}

/** One search request. Invalid requests are refused with a `ValidationError`. */
export interface SearchQuery {
  mode: SearchMode;
  /**
   * Free user text; required for `text` and `hybrid`. Any string is accepted: double quotes
   * (a phrase that must appear) and a word's trailing `*` (a prefix) are its only syntax
   * (text-query.ts), and nothing in it reaches an engine as syntax. Text with no words in it
   * ranks nothing (an empty text list), which is not an error.
   */
  text?: string;
  /**
   * Query vector (already embedded with the index's model); required for `vector` and
   * `hybrid`. Its length must equal the recorded dimension; it must be finite and non-zero.
   */
  vector?: Float32Array;
  filter?: SearchFilter;
  /** Number of hits to return: an integer from 1 to {@link MAX_K}. Default {@link DEFAULT_K}. */
  k?: number;
}

/** Character range within a hit's `snippet` that matched the query (UTF-16 offsets, `end` exclusive). */
export interface Highlight {
  start: number;
  end: number;
}

export interface SearchHit {
  documentId: string;
  ordinal: number;
  page: number;
  boxes: Box[];
  /** The whole chunk text. */
  text: string;
  /** A short excerpt (about 200 characters) around the densest match; the chunk itself when short. */
  snippet: string;
  /** Query terms found in `snippet`, stem-aware ('invoices' marks 'invoice'); empty without query text. */
  highlights: Highlight[];
  /**
   * Per-mode scores, absent when that mode did not rank the hit:
   * `text` is BM25 (higher is better; hits containing the query as an exact phrase rank
   * above all others, so within a list the order is phrase first, then `text`), `vector` is
   * cosine similarity in [-1, 1], `hybrid` is Σ weight/({@link RRF_K} + rank) over both lists
   * (the text list's weight 1, the vector list's HYBRID_VECTOR_WEIGHT unless configured).
   * In hybrid mode the text list holds only hits with enough of the query's terms (see
   * {@link minimumTermsToMatch}), so a hybrid hit may lack a `text` score it has in text mode.
   */
  scores: { text?: number; vector?: number; hybrid?: number };
  /** The filter values the chunk was indexed with (its document's type, sensitivity and time). */
  filters: ChunkFilters;
  /** 1-based rank in the returned list. */
  rank: number;
}

export interface IndexCapabilities {
  /** Supports `hybrid` mode. */
  hybrid: boolean;
  /** Largest vector dimension accepted. */
  maxDimension: number;
}

/** The embedding model whose vectors an index holds. */
export interface IndexedModel {
  modelId: string;
  dimension: number;
}

export interface SearchIndex {
  readonly capabilities: IndexCapabilities;
  start(): Promise<void>;
  close(): Promise<void>;
  /**
   * Records the embedding model on first use; afterwards refuses any other model id or
   * dimension with a `MismatchError` (`EMBEDDING_MODEL_MISMATCH`). Must be called before
   * the first upsert.
   */
  ensureModel(model: IndexedModel): Promise<void>;
  /** Inserts or replaces chunks (idempotent per team + documentId + ordinal), all or none. */
  upsertChunks(scope: TeamScope, chunks: readonly ChunkRecord[]): Promise<void>;
  /** Removes every chunk of a document. */
  deleteDocument(scope: TeamScope, documentId: string): Promise<void>;
  /** Removes chunks of a document with ordinal ≥ `fromOrdinal` (after a reprocess shrank it). */
  truncateDocument(scope: TeamScope, documentId: string, fromOrdinal: number): Promise<void>;
  /** Updates the filters of all chunks of a document (after classification or a manual label). */
  updateFilters(scope: TeamScope, documentId: string, filters: Partial<ChunkFilters>): Promise<void>;
  /** Ranked hits of the team, at most `k`, ranks 1..n. */
  search(scope: TeamScope, query: SearchQuery): Promise<SearchHit[]>;
  /** Number of chunks of the team (or of one document). */
  count(scope: TeamScope, documentId?: string): Promise<number>;
}

/** Reciprocal rank fusion constant (as in the original RRF paper and Elasticsearch). */
export const RRF_K = 60;
/** Hits returned when a query names no `k`. */
export const DEFAULT_K = 10;
/** Largest `k` a query may ask for; bounds the work one request can cause. */
export const MAX_K = 1000;

/**
 * How deep each list is taken before hybrid fusion. Deeper than `k` so that a hit ranked
 * modestly in both lists can still surface; at least 50 so small `k` fuse over enough.
 */
export function hybridDepth(k: number): number {
  return Math.max(k * 4, 50);
}

/**
 * Share of a query's distinct content terms a BM25 hit must contain to take part in hybrid
 * fusion, in the manner of Elasticsearch's `minimum_should_match` on the lexical clause of a
 * hybrid query. RRF scores by rank alone, so without it a chunk that shares one incidental
 * word ("vendor", "what") with a long query ranks in the text list as if it were a real
 * lexical match and pushes the semantically right chunk down.
 *
 * 1 (every content term, i.e. AND, or the exact phrase) was tuned on the DBpedia-Entity and
 * MS MARCO subsets with load-tests/hybrid.eval.ts and all-MiniLM-L6-v2: hybrid nDCG@10
 * 0.475 → 0.482 and 0.791 → 0.796 against plain OR. Partial shares did worse (0.5: 0.456 and
 * 0.778; 0.75 helped DBpedia, 0.498, but cost MS MARCO, 0.787). 40 and 43 queries: the gains
 * are small; the rule's main effect is on short corpora, where one shared word is a rank.
 */
export const HYBRID_MIN_TERM_SHARE = 1;

/**
 * How many of `termCount` distinct content terms a text hit must contain to enter hybrid
 * fusion with `share` ({@link HYBRID_MIN_TERM_SHARE} by default). Queries of one or two
 * terms need all of them: half of two would be one word, the case the rule is there to
 * stop. A `share` of 0 needs one term, the plain OR of text mode. An exact-phrase hit
 * always enters, whatever this says.
 */
export function minimumTermsToMatch(termCount: number, share: number = HYBRID_MIN_TERM_SHARE): number {
  if (termCount <= 1 || share <= 0) return Math.min(1, termCount);
  if (termCount <= 2) return termCount;
  return Math.min(termCount, Math.max(1, Math.ceil(share * termCount - 1e-9)));
}

/** A query after {@link validateSearchQuery}: defaults applied, every field checked. */
export interface ValidatedQuery {
  mode: SearchMode;
  text: string;
  vector: Float32Array | null;
  filter: SearchFilter;
  k: number;
}

function invalid(message: string, field: string): ValidationError {
  return new ValidationError(message, { details: { field } });
}

/** Refuses a model without an id, or whose dimension is not an integer from 1 to `maxDimension`. */
export function validateModel(model: IndexedModel, maxDimension: number): void {
  if (typeof model?.modelId !== 'string' || model.modelId === '') {
    throw new ValidationError('modelId is required', { details: { field: 'modelId' } });
  }
  if (!Number.isInteger(model.dimension) || model.dimension < 1 || model.dimension > maxDimension) {
    throw new ValidationError(`dimension must be an integer from 1 to ${maxDimension}`, { details: { field: 'dimension' } });
  }
}

/** Refuses (`EMBEDDING_MODEL_MISMATCH`) `requested` for an index that holds vectors of another model. */
export function assertSameModel(recorded: IndexedModel, requested: IndexedModel): void {
  if (recorded.modelId === requested.modelId && recorded.dimension === requested.dimension) return;
  throw new MismatchError(
    'EMBEDDING_MODEL_MISMATCH',
    `The search index holds vectors of ${recorded.modelId} (${recorded.dimension} dimensions); ` +
      `refusing ${requested.modelId} (${requested.dimension} dimensions). Re-index with one model.`,
    { details: { recorded, requested: { modelId: requested.modelId, dimension: requested.dimension } } },
  );
}

/** The recorded model, or the refusal to index before one is recorded (`EMBEDDING_MODEL_NOT_RECORDED`). */
export function recordedModel(model: IndexedModel | null): IndexedModel {
  if (!model) {
    throw new ValidationError('No embedding model is recorded; call ensureModel before indexing', {
      code: 'EMBEDDING_MODEL_NOT_RECORDED',
    });
  }
  return model;
}

/** Whether a filter names an empty include list, which matches nothing (see {@link SearchFilter}). */
export function matchesNothing(f: SearchFilter): boolean {
  return [f.types, f.sensitivities, f.documentIds].some((list) => list !== undefined && list.length === 0);
}

/** Refuses a missing or blank team id. */
export function validateScope(scope: TeamScope): void {
  if (typeof scope?.teamId !== 'string' || scope.teamId.trim() === '') {
    throw invalid('A team scope with a non-empty teamId is required', 'teamId');
  }
}

/** Refuses a vector that is not a finite, non-zero Float32Array of `dimension` values. */
export function validateVector(vector: unknown, dimension: number | null, field: string): asserts vector is Float32Array {
  if (!(vector instanceof Float32Array)) throw invalid(`${field} must be a Float32Array`, field);
  if (dimension !== null && vector.length !== dimension) {
    throw new ValidationError(`${field} has ${vector.length} dimensions; the index holds ${dimension}`, {
      details: { field, expected: dimension, actual: vector.length },
    });
  }
  let norm = 0;
  for (const x of vector) {
    if (!Number.isFinite(x)) throw invalid(`${field} contains a non-finite value`, field);
    norm += x * x;
  }
  // Cosine similarity is undefined for a zero vector; storing one would poison every ranking.
  if (norm === 0) throw invalid(`${field} is the zero vector`, field);
}

function validateList(list: unknown, field: string): void {
  if (list === undefined) return;
  if (!Array.isArray(list) || list.some((v) => typeof v !== 'string' || v === '')) {
    throw invalid(`filter.${field} must be a list of non-empty strings`, `filter.${field}`);
  }
}

function validateTime(value: unknown, field: string): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
    throw invalid(`filter.${field} must be a finite number (epoch ms)`, `filter.${field}`);
  }
}

/** Checks a filter's shape; see {@link SearchFilter} for the meaning of each field. */
export function validateFilter(filter: SearchFilter | undefined): SearchFilter {
  const f = filter ?? {};
  validateList(f.types, 'types');
  validateList(f.sensitivities, 'sensitivities');
  validateList(f.documentIds, 'documentIds');
  validateList(f.excludeDocumentIds, 'excludeDocumentIds');
  validateTime(f.createdFrom, 'createdFrom');
  validateTime(f.createdTo, 'createdTo');
  return f;
}

/**
 * Validates a query and applies defaults. `dimension` is the recorded one (null when no
 * model is recorded yet, in which case the vector's length cannot be checked).
 */
export function validateSearchQuery(query: SearchQuery, dimension: number | null): ValidatedQuery {
  const modes: readonly string[] = Object.values(SearchMode);
  if (!modes.includes(query?.mode)) throw invalid(`mode must be one of ${modes.join(', ')}`, 'mode');
  const k = query.k ?? DEFAULT_K;
  if (!Number.isInteger(k) || k < 1 || k > MAX_K) throw invalid(`k must be an integer from 1 to ${MAX_K}`, 'k');
  const needsText = query.mode !== SearchMode.Vector;
  const needsVector = query.mode !== SearchMode.Text;
  if (needsText && typeof query.text !== 'string') throw invalid(`${query.mode} mode needs text`, 'text');
  if (needsVector) validateVector(query.vector, dimension, 'vector');
  return {
    mode: query.mode,
    text: needsText ? (query.text ?? '') : '',
    vector: needsVector ? (query.vector ?? null) : null,
    filter: validateFilter(query.filter),
    k,
  };
}

/**
 * Refuses filter values a query could not select consistently: labels are null
 * (unclassified) or non-empty strings, `createdAt` is integer epoch ms. Fields left out of
 * a partial update are not checked.
 */
export function validateChunkFilters(filters: Partial<ChunkFilters>, at = 'filters'): void {
  for (const field of ['type', 'sensitivity'] as const) {
    const value = filters[field];
    if (value !== undefined && value !== null && (typeof value !== 'string' || value === '')) {
      throw invalid(`${at}.${field} must be null or a non-empty string`, field);
    }
  }
  if (filters.createdAt !== undefined && !Number.isSafeInteger(filters.createdAt)) {
    throw invalid(`${at}.createdAt must be integer epoch ms`, 'createdAt');
  }
}

/** Refuses a chunk that could not be indexed faithfully. */
export function validateChunk(chunk: ChunkRecord, dimension: number, index: number): void {
  const at = `chunks[${index}]`;
  if (typeof chunk.documentId !== 'string' || chunk.documentId === '') throw invalid(`${at}.documentId is required`, 'documentId');
  if (!Number.isSafeInteger(chunk.ordinal) || chunk.ordinal < 0) throw invalid(`${at}.ordinal must be an integer ≥ 0`, 'ordinal');
  if (!Number.isSafeInteger(chunk.page) || chunk.page < 1) throw invalid(`${at}.page must be an integer ≥ 1`, 'page');
  if (typeof chunk.text !== 'string') throw invalid(`${at}.text must be a string`, 'text');
  if (typeof chunk.title !== 'string') throw invalid(`${at}.title must be a string`, 'title');
  if (typeof chunk.filters !== 'object' || chunk.filters === null || chunk.filters.createdAt === undefined) {
    throw invalid(`${at}.filters with createdAt is required`, 'filters');
  }
  validateChunkFilters(chunk.filters, `${at}.filters`);
  validateVector(chunk.vector, dimension, `${at}.vector`);
}

/** One entry of a fused list: the key, its RRF score and its 1-based rank in each input list. */
export interface FusedEntry<K> {
  key: K;
  score: number;
  ranks: (number | undefined)[];
}

/**
 * Reciprocal rank fusion: each key scores Σ weight/(RRF_K + rank) over the lists it appears
 * in (every weight 1 unless given). Ties go to the better single rank, then to earlier lists,
 * so the order is deterministic.
 */
export function fuseReciprocalRank<K>(lists: readonly (readonly K[])[], weights?: readonly number[]): FusedEntry<K>[] {
  const byKey = new Map<K, FusedEntry<K>>();
  lists.forEach((list, listIndex) => {
    list.forEach((key, position) => {
      let entry = byKey.get(key);
      if (!entry) {
        entry = { key, score: 0, ranks: lists.map(() => undefined) };
        byKey.set(key, entry);
      }
      entry.ranks[listIndex] = position + 1;
      entry.score += (weights?.[listIndex] ?? 1) / (RRF_K + position + 1);
    });
  });
  const best = (e: FusedEntry<K>): number => Math.min(...e.ranks.map((r) => r ?? Infinity));
  const firstList = (e: FusedEntry<K>): number => e.ranks.findIndex((r) => r !== undefined);
  return [...byKey.values()].sort((a, b) => b.score - a.score || best(a) - best(b) || firstList(a) - firstList(b));
}
