/**
 * The Elasticsearch SearchIndex (`@elastic/elasticsearch`), for hubs that scale out: every
 * replica reads and writes one index.
 *
 * Layout: one index per installation behind the alias `<prefix>-chunks` (reads and writes go
 * through the alias, so a rebuilt index can take its place in one alias swap). One document
 * per chunk, its id `<team>/<document>/<ordinal>` (each part URI-encoded); `text` fields with
 * an English analyzer that folds case and diacritics (`title`, `body`; highlighting reads
 * `body`'s offsets), `keyword`
 * filters (team, document, type, sensitivity), `createdAt` as a long, and a `dense_vector`
 * (cosine, HNSW; the quantisation is an option). The embedding model and dimension are kept
 * in the mapping's `_meta`, so another model is refused by every replica.
 *
 * Teams: every chunk is routed by its team (all of a team's chunks live on one shard, which a
 * query alone visits), and every query, k-NN included, filters on the team as well: routing
 * places, the filter confines. Ranking follows the shared pipeline (ranked-search.ts): BM25
 * over title and body (`combined_fields`, exact-phrase hits first, from a second query in the
 * same `_msearch`), filtered k-NN, and reciprocal rank fusion computed here rather than by
 * Elasticsearch's RRF retriever (a paid feature). Deletes and relabels go by the ids a query
 * finds, in `_bulk` requests, without `_delete_by_query` or `_update_by_query`; every write
 * waits for a refresh (`refresh: wait_for`), so what a call wrote is searchable when it returns.
 */
import { Client, errors, type estypes } from '@elastic/elasticsearch';
import { type Box, InternalError, MismatchError, type TeamScope, ValidationError } from '@quire/kernel';
import { hybridSettings, rankedSearch, type HybridOptions, type ListEntry, type RankedHit } from '../ranked-search.ts';
import {
  matchesNothing,
  recordedModel,
  assertSameModel,
  validateChunk,
  validateChunkFilters,
  validateModel,
  validateScope,
  validateSearchQuery,
  type ChunkFilters,
  type ChunkRecord,
  type IndexCapabilities,
  type IndexedModel,
  type SearchFilter,
  type SearchHit,
  type SearchIndex,
  type SearchQuery,
} from '../search-index.ts';
import { MARK_CLOSE, MARK_OPEN, buildSnippet, rangesFromMarkup } from '../snippet.ts';
import { parseTextQuery, termCount, type TextQuery } from '../text-query.ts';

/** Version of the index layout; a layout this build does not know is refused. */
export const ELASTICSEARCH_SCHEMA_VERSION = 1;

/** HNSW variants of the vector field: float32, or quantised to int8, int4 or one bit (BBQ). */
export type VectorIndexType = 'hnsw' | 'int8_hnsw' | 'int4_hnsw' | 'bbq_hnsw';

export interface ElasticsearchSearchIndexOptions {
  /** The cluster's URL(s); credentials may be in the URL. Ignored when `client` is given. */
  node?: string | string[];
  /** An API key (Elasticsearch's `id:key` base64 form). Ignored when `client` is given. */
  apiKey?: string;
  /** A client to use instead of making one; the index leaves it open on close. */
  client?: Client;
  /** Names: the alias `<prefix>-chunks` and the indexes behind it. Default `quire`. */
  indexPrefix?: string;
  /** HNSW variant of new indexes. Default `int8_hnsw` (Elasticsearch's default for 384 dimensions before 9.0). */
  vectorIndexType?: VectorIndexType;
  /** Shards and replicas of new indexes; Elasticsearch's defaults when absent. */
  shards?: number;
  replicas?: number;
  /** How hybrid queries treat their two lists (defaults: the shipped rules). */
  hybrid?: HybridOptions;
}

/** The `_source` of one chunk. */
interface ChunkSource {
  teamId: string;
  documentId: string;
  ordinal: number;
  page: number;
  boxes: Box[];
  /** The file name, as {@link indexedWords} splits it. */
  title: string;
  /** The chunk's text as {@link indexedWords} splits it: what is searched and highlighted. */
  body: string;
  /** The chunk's text as it was given. */
  text: string;
  type: string | null;
  sensitivity: string | null;
  createdAt: number;
  vector?: number[];
}

/** What a hit of either list brings back for hydration. */
interface Found {
  source: ChunkSource;
  /** `body` with the query's words marked, when the text query matched it. */
  marked: string | null;
}

/** Chunks fetched per page when collecting a document's ids. */
const ID_PAGE = 1_000;
/** k-NN candidates per shard: `k` × this, at least {@link MIN_CANDIDATES}, at most Elasticsearch's 10,000. */
const CANDIDATES_PER_HIT = 10;
const MIN_CANDIDATES = 100;
const MAX_CANDIDATES = 10_000;
/**
 * How title and body are analysed: English stop words and Porter stems as the `english`
 * analyzer, with case and diacritics folded ('CAFE' finds 'café'), as the embedded index's
 * unicode61 tokenizer folds them.
 */
const ANALYZER = 'quire_english';
const ANALYSIS: estypes.IndicesIndexSettingsAnalysis = {
  filter: { quire_english_stop: { type: 'stop', stopwords: '_english_' } },
  analyzer: {
    [ANALYZER]: { type: 'custom', tokenizer: 'standard', filter: ['lowercase', 'asciifolding', 'quire_english_stop', 'porter_stem'] },
  },
};
/**
 * Quantised candidates are scored again with the stored float vectors, this many times `k`
 * of them, so the scores returned are exact cosines and the order is that of the floats.
 */
const RESCORE_OVERSAMPLE = 3;
/** Fields every hit returns; the vector stays on the server, and `body` is derived from `text`. */
const SOURCE_FIELDS = ['documentId', 'ordinal', 'page', 'boxes', 'text', 'type', 'sensitivity', 'createdAt'];

export class ElasticsearchSearchIndex implements SearchIndex {
  /** Elasticsearch's dense_vector accepts up to 4096 dimensions. */
  readonly capabilities: IndexCapabilities = { hybrid: true, maxDimension: 4096 };

  readonly #options: ElasticsearchSearchIndexOptions;
  readonly #alias: string;
  readonly #hybrid: Required<HybridOptions>;
  readonly #vectorIndexType: VectorIndexType;
  #client: Client | null = null;
  #model: IndexedModel | null = null;

  constructor(options: ElasticsearchSearchIndexOptions) {
    if (!options.client && !options.node)
      throw new ValidationError('An Elasticsearch node URL is required', { details: { field: 'node' } });
    this.#hybrid = hybridSettings(options.hybrid);
    const prefix = options.indexPrefix ?? 'quire';
    if (!/^[a-z0-9][a-z0-9_-]*$/.test(prefix)) {
      throw new ValidationError('indexPrefix must be lowercase letters, digits, - and _', { details: { field: 'indexPrefix' } });
    }
    this.#options = options;
    this.#alias = `${prefix}-chunks`;
    this.#vectorIndexType = options.vectorIndexType ?? 'int8_hnsw';
  }

  /** Connects and reads the recorded model, if an index exists already. */
  async start(): Promise<void> {
    if (this.#client) return;
    const client =
      this.#options.client ??
      new Client({ node: this.#options.node!, ...(this.#options.apiKey ? { auth: { apiKey: this.#options.apiKey } } : {}) });
    try {
      await client.info();
      this.#client = client;
      this.#model = await this.#readModel();
    } catch (err) {
      this.#client = null;
      if (!this.#options.client) await client.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = null;
    if (client && !this.#options.client) await client.close();
  }

  /** Answers whether the cluster answers; for readiness checks. */
  async ping(): Promise<boolean> {
    try {
      return await this.#open().ping();
    } catch {
      return false;
    }
  }

  /**
   * Creates the index for `model` on first use (another replica may win the race: its index
   * is then read back), and refuses any other model afterwards.
   */
  async ensureModel(model: IndexedModel): Promise<void> {
    const client = this.#open();
    validateModel(model, this.capabilities.maxDimension);
    let recorded = this.#model ?? (await this.#readModel());
    if (!recorded) {
      try {
        await client.indices.create({
          // The first index of the alias; a rebuild puts the next one behind it.
          index: `${this.#alias}-1`,
          aliases: { [this.#alias]: { is_write_index: true } },
          settings: {
            analysis: ANALYSIS,
            ...(this.#options.shards !== undefined ? { number_of_shards: this.#options.shards } : {}),
            ...(this.#options.replicas !== undefined ? { number_of_replicas: this.#options.replicas } : {}),
          },
          mappings: this.#mappings(model),
        });
      } catch (err) {
        if (!isAlreadyThere(err)) throw err;
      }
      recorded = await this.#readModel();
      if (!recorded) throw new InternalError(`The index behind ${this.#alias} was created but its model cannot be read back`);
    }
    assertSameModel(recorded, model);
    this.#model = recorded;
  }

  async upsertChunks(scope: TeamScope, chunks: readonly ChunkRecord[]): Promise<void> {
    validateScope(scope);
    this.#open();
    if (chunks.length === 0) return;
    const model = recordedModel(this.#model);
    chunks.forEach((chunk, i) => validateChunk(chunk, model.dimension, i));
    await this.#bulk(
      chunks.flatMap((chunk) => [
        { index: { _index: this.#alias, _id: chunkId(scope.teamId, chunk.documentId, chunk.ordinal), routing: scope.teamId } },
        {
          teamId: scope.teamId,
          documentId: chunk.documentId,
          ordinal: chunk.ordinal,
          page: chunk.page,
          boxes: chunk.boxes ?? [],
          title: indexedWords(chunk.title),
          body: indexedWords(chunk.text),
          text: chunk.text,
          type: chunk.filters.type,
          sensitivity: chunk.filters.sensitivity,
          createdAt: chunk.filters.createdAt,
          vector: Array.from(chunk.vector),
        } satisfies ChunkSource,
      ]),
    );
  }

  async deleteDocument(scope: TeamScope, documentId: string): Promise<void> {
    await this.#deleteFrom(scope, documentId, 0);
  }

  async truncateDocument(scope: TeamScope, documentId: string, fromOrdinal: number): Promise<void> {
    if (!Number.isSafeInteger(fromOrdinal) || fromOrdinal < 0) {
      throw new ValidationError('fromOrdinal must be an integer ≥ 0', { details: { field: 'fromOrdinal' } });
    }
    await this.#deleteFrom(scope, documentId, fromOrdinal);
  }

  async updateFilters(scope: TeamScope, documentId: string, filters: Partial<ChunkFilters>): Promise<void> {
    validateScope(scope);
    this.#open();
    validateChunkFilters(filters);
    const doc: Partial<ChunkSource> = {};
    if (filters.type !== undefined) doc.type = filters.type;
    if (filters.sensitivity !== undefined) doc.sensitivity = filters.sensitivity;
    if (filters.createdAt !== undefined) doc.createdAt = filters.createdAt;
    if (Object.keys(doc).length === 0 || !this.#model) return;
    const ids = await this.#idsOf(scope, documentId, 0);
    await this.#bulk(ids.flatMap((id) => [{ update: { _index: this.#alias, _id: id, routing: scope.teamId } }, { doc }]));
  }

  async search(scope: TeamScope, query: SearchQuery): Promise<SearchHit[]> {
    validateScope(scope);
    this.#open();
    const q = validateSearchQuery(query, this.#model?.dimension ?? null);
    if (!this.#model || matchesNothing(q.filter)) return [];
    const textQuery = q.text === '' ? null : parseTextQuery(q.text);
    const found = new Map<string, Found>();
    const ranked = await rankedSearch(q, textQuery, this.#hybrid, {
      text: (limit, minTerms) => this.#textList(scope, textQuery!, q.filter, limit, minTerms, found),
      vector: (limit) => this.#vectorList(scope, q.vector!, q.filter, limit, textQuery, found),
    });
    return hydrate(ranked, found);
  }

  async count(scope: TeamScope, documentId?: string): Promise<number> {
    validateScope(scope);
    const client = this.#open();
    if (!this.#model) return 0;
    const filter: estypes.QueryDslQueryContainer[] = [{ term: { teamId: scope.teamId } }];
    if (documentId !== undefined) filter.push({ term: { documentId } });
    const { count } = await client.count({ index: this.#alias, routing: scope.teamId, query: { bool: { filter } } });
    return count;
  }

  // --- lists ----------------------------------------------------------------------------------

  /**
   * BM25 over title and body: the hits with at least `minTerms` of the query's terms, after
   * the exact-phrase hits (a second query of the same `_msearch`), at most `limit`; every hit
   * contains each quoted phrase. Terms are counted after analysis (stop words fall out), so
   * "all but n" is what is asked for. Prefixes are `bool_prefix` matches (the prefix analysed
   * as indexed, as FTS5 does), required with the terms when all are, else any one suffices.
   */
  async #textList(
    scope: TeamScope,
    query: TextQuery,
    filter: SearchFilter,
    limit: number,
    minTerms: number,
    found: Map<string, Found>,
  ): Promise<ListEntry<string>[]> {
    const confine = this.#filterClauses(scope, filter);
    const all = minTerms >= termCount(query);
    const words: estypes.QueryDslQueryContainer[] = query.terms.length
      ? [
          {
            combined_fields: {
              query: query.terms.join(' '),
              fields: ['title^2', 'body'],
              operator: 'or',
              minimum_should_match: all ? '100%' : query.prefixes.length ? '1' : `-${query.terms.length - minTerms}`,
            },
          },
        ]
      : [];
    const prefixes: estypes.QueryDslQueryContainer[] = query.prefixes.map((p) => ({
      multi_match: { query: p, type: 'bool_prefix', fields: ['title^2', 'body'] },
    }));
    const terms: estypes.QueryDslQueryContainer =
      prefixes.length === 0
        ? words[0]!
        : all
          ? { bool: { must: [...words, ...prefixes] } }
          : { bool: { should: [...words, ...prefixes], minimum_should_match: 1 } };
    const required = query.required.map((p): estypes.QueryDslQueryContainer => ({
      multi_match: { query: p.join(' '), type: 'phrase', fields: ['title', 'body'] },
    }));
    const body = (match: estypes.QueryDslQueryContainer): estypes.SearchSearchRequestBody => ({
      size: limit,
      query: { bool: { filter: confine, must: [match, ...required] } },
      sort: [{ _score: { order: 'desc' } }, { documentId: { order: 'asc' } }, { ordinal: { order: 'asc' } }],
      track_scores: true,
      _source: SOURCE_FIELDS,
      highlight: highlightOf(query),
    });
    const searches: estypes.MsearchRequestItem[] = [{ index: this.#alias, routing: scope.teamId }, body(terms)];
    if (query.phrase) {
      const phrase: estypes.QueryDslQueryContainer = {
        multi_match: { query: query.phrase.join(' '), type: 'phrase', fields: ['title', 'body'] },
      };
      searches.push({ index: this.#alias, routing: scope.teamId }, body(phrase));
    }
    const { responses } = await this.#open().msearch<ChunkSource>({ searches });
    const [byTerms, byPhrase] = responses.map((r) => hitsOf(r));
    const termScores = new Map((byTerms ?? []).map((h) => [h._id!, h._score ?? 0]));
    const list: ListEntry<string>[] = [];
    const seen = new Set<string>();
    for (const hit of [...(byPhrase ?? []), ...(byTerms ?? [])]) {
      const key = hit._id!;
      if (seen.has(key) || list.length >= limit) continue;
      seen.add(key);
      remember(found, hit);
      list.push({ key, score: termScores.get(key) ?? hit._score ?? 0 });
    }
    return list;
  }

  /** Filtered k-NN: the `limit` chunks nearest by cosine, with Elasticsearch's score turned back into a cosine. */
  async #vectorList(
    scope: TeamScope,
    vector: Float32Array,
    filter: SearchFilter,
    limit: number,
    textQuery: TextQuery | null,
    found: Map<string, Found>,
  ): Promise<ListEntry<string>[]> {
    const response = await this.#open().search<ChunkSource>({
      index: this.#alias,
      routing: scope.teamId,
      size: limit,
      knn: {
        field: 'vector',
        query_vector: Array.from(vector),
        k: limit,
        num_candidates: Math.min(MAX_CANDIDATES, Math.max(MIN_CANDIDATES, limit * CANDIDATES_PER_HIT)),
        ...(this.#vectorIndexType === 'hnsw' ? {} : { rescore_vector: { oversample: RESCORE_OVERSAMPLE } }),
        filter: { bool: { filter: this.#filterClauses(scope, filter) } },
      },
      _source: SOURCE_FIELDS,
      ...(textQuery ? { highlight: highlightOf(textQuery) } : {}),
    });
    return response.hits.hits.map((hit) => {
      remember(found, hit);
      // Elasticsearch scores cosine similarity as (1 + cosine) / 2.
      return { key: hit._id!, score: 2 * (hit._score ?? 0) - 1 };
    });
  }

  /** The clauses that confine a list (text or k-NN) to the team and the filter. */
  #filterClauses(scope: TeamScope, f: SearchFilter): estypes.QueryDslQueryContainer[] {
    const clauses: estypes.QueryDslQueryContainer[] = [{ term: { teamId: scope.teamId } }];
    if (f.types) clauses.push({ terms: { type: f.types } });
    if (f.sensitivities) clauses.push({ terms: { sensitivity: f.sensitivities } });
    // createdAt is whole milliseconds: a fractional bound is the next whole one, both ways.
    if (f.createdFrom !== undefined || f.createdTo !== undefined) {
      clauses.push({
        range: {
          createdAt: {
            ...(f.createdFrom !== undefined ? { gte: Math.ceil(f.createdFrom) } : {}),
            ...(f.createdTo !== undefined ? { lt: Math.ceil(f.createdTo) } : {}),
          },
        },
      });
    }
    if (f.documentIds) clauses.push({ terms: { documentId: f.documentIds } });
    if (f.excludeDocumentIds?.length) clauses.push({ bool: { must_not: [{ terms: { documentId: f.excludeDocumentIds } }] } });
    return clauses;
  }

  // --- writes ---------------------------------------------------------------------------------

  async #deleteFrom(scope: TeamScope, documentId: string, fromOrdinal: number): Promise<void> {
    validateScope(scope);
    this.#open();
    if (!this.#model) return;
    const ids = await this.#idsOf(scope, documentId, fromOrdinal);
    await this.#bulk(ids.map((id) => ({ delete: { _index: this.#alias, _id: id, routing: scope.teamId } })));
  }

  /** The ids of a document's chunks from `fromOrdinal` on, paged by ordinal. */
  async #idsOf(scope: TeamScope, documentId: string, fromOrdinal: number): Promise<string[]> {
    const ids: string[] = [];
    let after: estypes.SortResults | undefined;
    for (;;) {
      const { hits } = await this.#open().search({
        index: this.#alias,
        routing: scope.teamId,
        size: ID_PAGE,
        _source: false,
        query: {
          bool: {
            filter: [{ term: { teamId: scope.teamId } }, { term: { documentId } }, { range: { ordinal: { gte: fromOrdinal } } }],
          },
        },
        sort: [{ ordinal: 'asc' }],
        ...(after ? { search_after: after } : {}),
      });
      for (const hit of hits.hits) ids.push(hit._id!);
      if (hits.hits.length < ID_PAGE) return ids;
      after = hits.hits.at(-1)!.sort;
    }
  }

  /** One `_bulk` request that waits for a refresh; any item refused fails the call, naming the first. */
  async #bulk(operations: estypes.BulkRequest['operations']): Promise<void> {
    if (!operations?.length) return;
    const response = await this.#open().bulk({ operations, refresh: 'wait_for' });
    if (!response.errors) return;
    const failed = response.items.map((item) => Object.values(item)[0]).filter((r) => r?.error && r.status !== 404);
    if (failed.length === 0) return;
    const first = failed[0]!.error!;
    throw new InternalError(
      `Elasticsearch refused ${failed.length} of ${response.items.length} writes: ${first.type}: ${first.reason ?? ''}`,
    );
  }

  // --- index and model ------------------------------------------------------------------------

  #mappings(model: IndexedModel): estypes.MappingTypeMapping {
    return {
      dynamic: 'strict',
      _meta: { quire: { schemaVersion: ELASTICSEARCH_SCHEMA_VERSION, modelId: model.modelId, dimension: model.dimension } },
      properties: {
        teamId: { type: 'keyword' },
        documentId: { type: 'keyword' },
        ordinal: { type: 'integer' },
        page: { type: 'integer', index: false },
        boxes: { type: 'object', enabled: false },
        title: { type: 'text', analyzer: ANALYZER },
        body: { type: 'text', analyzer: ANALYZER, index_options: 'offsets' },
        text: { type: 'text', index: false },
        type: { type: 'keyword' },
        sensitivity: { type: 'keyword' },
        createdAt: { type: 'long' },
        vector: {
          type: 'dense_vector',
          dims: model.dimension,
          similarity: 'cosine',
          index: true,
          index_options: { type: this.#vectorIndexType },
        },
      },
    };
  }

  /** The model recorded in the mapping of the index behind the alias; null when there is none. */
  async #readModel(): Promise<IndexedModel | null> {
    let mappings: estypes.IndicesGetMappingResponse;
    try {
      mappings = await this.#open().indices.getMapping({ index: this.#alias });
    } catch (err) {
      if (err instanceof errors.ResponseError && err.statusCode === 404) return null;
      throw err;
    }
    const metas = Object.values(mappings).map((m) => (m.mappings._meta as { quire?: Record<string, unknown> } | undefined)?.quire);
    const meta = metas[0];
    if (!meta) throw new InternalError(`${this.#alias} points at an index Quire did not create`);
    if (Number(meta.schemaVersion) > ELASTICSEARCH_SCHEMA_VERSION) {
      throw new MismatchError(
        'SEARCH_SCHEMA_TOO_NEW',
        `The index behind ${this.#alias} has layout version ${String(meta.schemaVersion)}; this build knows up to ${ELASTICSEARCH_SCHEMA_VERSION}`,
      );
    }
    return { modelId: String(meta.modelId), dimension: Number(meta.dimension) };
  }

  #open(): Client {
    if (!this.#client) throw new InternalError('ElasticsearchSearchIndex used before start() or after close()');
    return this.#client;
  }
}

/**
 * `text` with every character that is not part of a word (letters, digits, combining marks)
 * replaced by spaces, code unit for code unit: words split where the query parser splits
 * them ('inv.pdf' is 'inv' and 'pdf', as in the embedded index), and offsets stay those of
 * `text`. Elasticsearch's standard tokenizer alone keeps 'inv.pdf' one token.
 */
export function indexedWords(text: string): string {
  return text.replace(/[^\p{L}\p{N}\p{M}]+/gu, (gap) => ' '.repeat(gap.length));
}

/**
 * Deletes every index of `indexPrefix` (the alias's current and earlier ones), by name: a
 * server refuses wildcard deletes by default. For tests and for removing an installation.
 */
export async function deleteIndexes(client: Client, indexPrefix: string): Promise<void> {
  const { indices } = await client.indices.resolveIndex({ name: `${indexPrefix}-chunks*` });
  if (indices.length) await client.indices.delete({ index: indices.map((i) => i.name) });
}

/** A chunk's document id: team, document and ordinal, unambiguous whatever the ids hold. */
function chunkId(teamId: string, documentId: string, ordinal: number): string {
  return `${encodeURIComponent(teamId)}/${encodeURIComponent(documentId)}/${ordinal}`;
}

/** Marks the query's words (stemmed as indexed) over the whole body, for snippets cut here. */
function highlightOf(query: TextQuery): estypes.SearchHighlight {
  return {
    fields: { body: { type: 'unified', number_of_fragments: 0, pre_tags: [MARK_OPEN], post_tags: [MARK_CLOSE] } },
    highlight_query: {
      bool: {
        should: [
          ...(query.terms.length ? [{ match: { body: { query: query.terms.join(' '), operator: 'or' as const } } }] : []),
          ...query.prefixes.map((p) => ({ match_bool_prefix: { body: p } })),
        ],
      },
    },
  };
}

function hitsOf(response: estypes.MsearchResponseItem<ChunkSource>): estypes.SearchHit<ChunkSource>[] {
  if ('error' in response) {
    throw new InternalError(`Elasticsearch refused a search: ${response.error.type}: ${response.error.reason ?? ''}`);
  }
  return response.hits.hits;
}

function remember(found: Map<string, Found>, hit: estypes.SearchHit<ChunkSource>): void {
  const marked = hit.highlight?.body?.[0] ?? null;
  const known = found.get(hit._id!);
  if (!known || (!known.marked && marked)) found.set(hit._id!, { source: hit._source!, marked });
}

function hydrate(ranked: readonly RankedHit<string>[], found: Map<string, Found>): SearchHit[] {
  const hits: SearchHit[] = [];
  for (const r of ranked) {
    const chunk = found.get(r.key);
    if (!chunk) continue;
    const { source, marked } = chunk;
    // The marked `body` is `text` split as indexed, of the same length: its ranges are those of `text`.
    const ranges = marked ? rangesFromMarkup(marked, indexedWords(source.text), MARK_OPEN, MARK_CLOSE) : [];
    const { snippet, highlights } = buildSnippet(source.text, ranges);
    hits.push({
      documentId: source.documentId,
      ordinal: source.ordinal,
      page: source.page,
      boxes: source.boxes,
      text: source.text,
      snippet,
      highlights,
      scores: r.scores,
      filters: { type: source.type ?? null, sensitivity: source.sensitivity ?? null, createdAt: source.createdAt },
      rank: hits.length + 1,
    });
  }
  return hits;
}

function isAlreadyThere(err: unknown): boolean {
  if (!(err instanceof errors.ResponseError)) return false;
  const type = (err.body as { error?: { type?: string } } | undefined)?.error?.type;
  return type === 'resource_already_exists_exception' || type === 'invalid_alias_name_exception';
}
