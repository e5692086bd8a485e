/**
 * The SearchIndex port: chunks of text with vectors, filters and provenance, queried in
 * `text` (BM25), `vector` (k-NN) or `hybrid` (reciprocal rank fusion of both) mode.
 * Every call takes a {@link TeamScope}: no query can be written without a team.
 */
import type { Box } from '@quire/processors';

/** The team a call is confined to. Built only by the hub's request context. */
export interface TeamScope {
  readonly teamId: string;
}

export const SearchMode = { Text: 'text', Vector: 'vector', Hybrid: 'hybrid' } as const;
export type SearchMode = (typeof SearchMode)[keyof typeof SearchMode];

/** Values a query can filter on; stored with every chunk of a document. */
export interface ChunkFilters {
  /** Document type label (e.g. `invoice`); null until classified. */
  type: string | null;
  /** Sensitivity label (e.g. `INTERNAL`); null until classified. */
  sensitivity: string | null;
  /** Document creation time, epoch ms. */
  createdAt: number;
}

/** One chunk to index. `(documentId, ordinal)` is its identity: upserting it again replaces it. */
export interface ChunkRecord {
  documentId: string;
  ordinal: number;
  text: string;
  /** 1-based page. */
  page: number;
  boxes: Box[];
  vector: Float32Array;
  filters: ChunkFilters;
  /** Document title (file name), indexed with the text. */
  title: string;
}

export interface SearchFilter {
  types?: string[];
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

export interface SearchQuery {
  mode: SearchMode;
  /** Query text; required for `text` and `hybrid`. */
  text?: string;
  /** Query vector (already embedded with the index's model); required for `vector` and `hybrid`. */
  vector?: Float32Array;
  filter?: SearchFilter;
  /** Number of hits to return. Default 10, at most 1000. */
  k?: number;
}

/** Character range within a hit's `snippet` that matched the query. */
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
  /** A short excerpt around the best match (the chunk itself when short). */
  snippet: string;
  /** Query terms found in `snippet`. */
  highlights: Highlight[];
  /** Per-mode scores: BM25 (higher is better), cosine similarity, RRF. Absent when the mode did not rank it. */
  scores: { text?: number; vector?: number; hybrid?: number };
  /** 1-based rank in the returned list. */
  rank: number;
}

export interface IndexCapabilities {
  /** Supports `hybrid` mode. */
  hybrid: boolean;
  /** Largest vector dimension accepted. */
  maxDimension: number;
}

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
   * dimension with a `MismatchError` (`EMBEDDING_MODEL_MISMATCH`).
   */
  ensureModel(model: IndexedModel): Promise<void>;
  /** Inserts or replaces chunks (idempotent per documentId + ordinal). */
  upsertChunks(scope: TeamScope, chunks: readonly ChunkRecord[]): Promise<void>;
  /** Removes every chunk of a document. */
  deleteDocument(scope: TeamScope, documentId: string): Promise<void>;
  /** Removes chunks of a document with ordinal ≥ `fromOrdinal` (after a reprocess shrank it). */
  truncateDocument(scope: TeamScope, documentId: string, fromOrdinal: number): Promise<void>;
  /** Updates the filters of all chunks of a document (after classification or a manual label). */
  updateFilters(scope: TeamScope, documentId: string, filters: Partial<ChunkFilters>): Promise<void>;
  search(scope: TeamScope, query: SearchQuery): Promise<SearchHit[]>;
  /** Number of chunks of the team (or of one document). */
  count(scope: TeamScope, documentId?: string): Promise<number>;
}

/** Reciprocal rank fusion constant (as in the original RRF paper and Elasticsearch). */
export const RRF_K = 60;
