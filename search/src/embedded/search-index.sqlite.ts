/**
 * The embedded SearchIndex: SQLite FTS5 (BM25) for text and sqlite-vec (`vec0`, cosine)
 * for vectors, in tables prefixed `search_` so they can live in the hub store's file.
 *
 * Layout:
 * - `search_meta`: schema version, recorded model id and dimension.
 * - `search_teams`: team id ↔ small integer key. The key partitions the vector table and is
 *   indexed as a token in the FTS table, so both lists are confined to one team inside the
 *   engines, and every statement also checks it on `search_chunks`.
 * - `search_chunks`: one row per chunk (provenance, filters, text); its `id` is the rowid
 *   of the FTS and vector rows.
 * - `search_fts`: FTS5 over `search_chunks` (external content, kept in step by triggers).
 * - `search_vec`: vec0 with `team_key` as partition key and the filter fields as metadata
 *   columns, so filters are applied during the k-NN scan, not after it. Created by the
 *   first `ensureModel`, when the dimension is known.
 */
import Database from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import { type Box, InternalError, MismatchError, type TeamScope, ValidationError } from '@quire/kernel';
import {
  matchesNothing,
  recordedModel,
  assertSameModel,
  validateChunk,
  validateChunkFilters,
  validateModel,
  validateScope,
  validateSearchQuery,
} from '../search-index.ts';
import type {
  ChunkFilters,
  ChunkRecord,
  IndexCapabilities,
  IndexedModel,
  SearchFilter,
  SearchHit,
  SearchIndex,
  SearchQuery,
} from '../search-index.ts';
import { matchExpression, phraseExpression, termExpressions } from './fts-query.ts';
import { hybridSettings, rankedSearch, type HybridOptions, type RankedHit } from '../ranked-search.ts';
import { MARK_CLOSE, MARK_OPEN, buildSnippet, rangesFromMarkup } from '../snippet.ts';
import { parseTextQuery, type TextQuery } from '../text-query.ts';

/** Where the index keeps its tables, and how hybrid queries treat the text list. */
export type SqliteSearchIndexOptions = (
  | {
      /** SQLite file to open (created if missing); the index owns and closes this connection. */
      filename: string;
      /** How long a write waits for another connection's lock, ms. Default 5000. */
      busyTimeoutMs?: number;
      /**
       * Bytes of the file SQLite may memory-map (`PRAGMA mmap_size`); 0 turns it off.
       * Default 1 GiB. Brute-force k-NN reads every vector of the team per query; mapped,
       * those reads skip a copy through read() and cost about 40% less CPU at 100k vectors.
       * It reserves address space, not memory: the pages are the OS file cache.
       */
      mmapSizeBytes?: number;
    }
  | {
      /**
       * An open connection (e.g. the store's); the index loads sqlite-vec into it, leaves its
       * pragmas alone (set `mmap_size` there for faster k-NN) and never closes it.
       */
      db: Database.Database;
    }
) & {
  /** How hybrid queries treat their two lists (defaults: the shipped rules); exposed so evaluations can compare rules on one index. */
  hybrid?: HybridOptions;
};

/** Schema version this code writes; a file with a newer one is refused. */
export const SEARCH_SCHEMA_VERSION = 1;

/** BM25 column weights: the team token never scores, a title hit counts twice a body hit. */
const BM25_WEIGHTS = { teamKey: 0, title: 2, body: 1 } as const;
/** vec0 refuses a larger `k`. */
const VEC_MAX_K = 4096;
/**
 * Vectors per vec0 storage chunk. Each team partition allocates whole chunks, so the
 * default 1024 costs 1.5 MB per team at 384 dimensions even for one vector; 256 costs a
 * quarter of that and measured no slower at 100k vectors.
 */
const VEC_CHUNK_SIZE = 256;
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE search_teams (
    team_key INTEGER PRIMARY KEY,
    team_id TEXT NOT NULL UNIQUE
  ) STRICT;
  CREATE TABLE search_chunks (
    id INTEGER PRIMARY KEY,
    team_key INTEGER NOT NULL,
    document_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    page INTEGER NOT NULL,
    boxes TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    doc_type TEXT,
    sensitivity TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (team_key, document_id, ordinal)
  ) STRICT;
  CREATE VIRTUAL TABLE search_fts USING fts5(
    team_key, title, body,
    content = 'search_chunks', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
  );
  CREATE TRIGGER search_chunks_ai AFTER INSERT ON search_chunks BEGIN
    INSERT INTO search_fts (rowid, team_key, title, body) VALUES (new.id, new.team_key, new.title, new.body);
  END;
  CREATE TRIGGER search_chunks_ad AFTER DELETE ON search_chunks BEGIN
    INSERT INTO search_fts (search_fts, rowid, team_key, title, body)
      VALUES ('delete', old.id, old.team_key, old.title, old.body);
  END;
  CREATE TRIGGER search_chunks_au AFTER UPDATE OF team_key, title, body ON search_chunks BEGIN
    INSERT INTO search_fts (search_fts, rowid, team_key, title, body)
      VALUES ('delete', old.id, old.team_key, old.title, old.body);
    INSERT INTO search_fts (rowid, team_key, title, body) VALUES (new.id, new.team_key, new.title, new.body);
  END;
  `,
];

/** A ranked list of chunk ids with the score that ranked them. */
type Ranked = Array<{ key: number; score: number }>;

interface ChunkRow {
  id: number;
  document_id: string;
  ordinal: number;
  page: number;
  boxes: string;
  body: string;
}

/**
 * Integers bound to virtual tables must be SQLite INTEGERs: better-sqlite3 binds JS numbers
 * as REAL, and FTS5 silently ignores `rowid = <REAL>` (returning every row) while vec0
 * refuses REAL for integer columns.
 */
function int(n: number): bigint {
  return BigInt(n);
}

function vectorBlob(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** vec0 metadata columns cannot hold NULL; '' stands for "unclassified" (filters refuse '' values). */
function metadataText(value: string | null): string {
  return value ?? '';
}

/** `created_at` is an integer: these bounds select the same rows as the real-valued ones. */
function lowerBound(createdFrom: number): bigint {
  return BigInt(Math.ceil(createdFrom));
}
function upperBound(createdTo: number): bigint {
  return BigInt(Math.ceil(createdTo));
}

/** The SearchIndex over SQLite FTS5 and sqlite-vec: the embedded default. */
export class SqliteSearchIndex implements SearchIndex {
  /** vec0 accepts up to 8192 dimensions. */
  readonly capabilities: IndexCapabilities = { hybrid: true, maxDimension: 8192 };

  readonly #options: SqliteSearchIndexOptions;
  readonly #hybrid: Required<HybridOptions>;
  #db: Database.Database | null = null;
  #model: IndexedModel | null = null;
  readonly #teamKeys = new Map<string, number>();
  readonly #statements = new Map<string, Database.Statement>();

  constructor(options: SqliteSearchIndexOptions) {
    this.#hybrid = hybridSettings(options.hybrid);
    this.#options = options;
  }

  /** Opens the connection (when given a filename), loads sqlite-vec and migrates the schema. */
  async start(): Promise<void> {
    if (this.#db) return;
    let db: Database.Database;
    if ('filename' in this.#options) {
      db = new Database(this.#options.filename);
      db.pragma('journal_mode = WAL');
      db.pragma(`busy_timeout = ${Math.trunc(this.#options.busyTimeoutMs ?? 5000)}`);
      // The index is derived data; WAL with NORMAL still survives a process crash.
      db.pragma('synchronous = NORMAL');
      db.pragma(`mmap_size = ${Math.max(0, Math.trunc(this.#options.mmapSizeBytes ?? 2 ** 30))}`);
    } else {
      db = this.#options.db;
    }
    try {
      try {
        db.prepare('SELECT vec_version()').get();
      } catch {
        sqliteVec.load(db);
      }
      this.#migrate(db);
      this.#model = this.#readModel(db);
    } catch (err) {
      if ('filename' in this.#options) db.close();
      throw err;
    }
    this.#db = db;
  }

  /** Closes the connection if the index opened it; a shared connection stays open. */
  async close(): Promise<void> {
    const db = this.#db;
    this.#db = null;
    this.#statements.clear();
    this.#teamKeys.clear();
    if (db && 'filename' in this.#options) db.close();
  }

  async ensureModel(model: IndexedModel): Promise<void> {
    const db = this.#open();
    validateModel(model, this.capabilities.maxDimension);
    const recorded = db
      .transaction((): IndexedModel => {
        const existing = this.#readModel(db);
        if (existing) return existing;
        const put = db.prepare('INSERT INTO search_meta (key, value) VALUES (?, ?)');
        put.run('model_id', model.modelId);
        put.run('dimension', String(model.dimension));
        db.exec(`
          CREATE VIRTUAL TABLE search_vec USING vec0(
            id INTEGER PRIMARY KEY,
            team_key INTEGER PARTITION KEY,
            embedding FLOAT[${model.dimension}] distance_metric=cosine,
            document_id TEXT,
            doc_type TEXT,
            sensitivity TEXT,
            created_at INTEGER,
            chunk_size=${VEC_CHUNK_SIZE}
          )`);
        return { modelId: model.modelId, dimension: model.dimension };
      })
      .immediate();
    assertSameModel(recorded, model);
    this.#model = recorded;
  }

  async upsertChunks(scope: TeamScope, chunks: readonly ChunkRecord[]): Promise<void> {
    validateScope(scope);
    const db = this.#open();
    if (chunks.length === 0) return;
    const model = this.#requireModel();
    chunks.forEach((chunk, i) => validateChunk(chunk, model.dimension, i));
    const teamKey = this.#teamKey(scope.teamId, true);
    if (teamKey === null) throw new InternalError('A team key was created but cannot be read back');
    const find = this.#prepare('SELECT id FROM search_chunks WHERE team_key = ? AND document_id = ? AND ordinal = ?');
    const insert = this.#prepare(
      `INSERT INTO search_chunks (team_key, document_id, ordinal, page, boxes, title, body, doc_type, sensitivity, created_at)
       VALUES (@teamKey, @documentId, @ordinal, @page, @boxes, @title, @body, @type, @sensitivity, @createdAt)`,
    );
    const update = this.#prepare(
      `UPDATE search_chunks SET page = @page, boxes = @boxes, title = @title, body = @body,
         doc_type = @type, sensitivity = @sensitivity, created_at = @createdAt WHERE id = @id`,
    );
    const insertVec = this.#prepare(
      `INSERT INTO search_vec (id, team_key, embedding, document_id, doc_type, sensitivity, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    const updateVec = this.#prepare('UPDATE search_vec SET embedding = ?, doc_type = ?, sensitivity = ?, created_at = ? WHERE id = ?');
    db.transaction(() => {
      for (const chunk of chunks) {
        const row = {
          teamKey,
          documentId: chunk.documentId,
          ordinal: chunk.ordinal,
          page: chunk.page,
          boxes: JSON.stringify(chunk.boxes ?? []),
          title: chunk.title,
          body: chunk.text,
          type: chunk.filters.type,
          sensitivity: chunk.filters.sensitivity,
          createdAt: chunk.filters.createdAt,
        };
        const type = metadataText(chunk.filters.type);
        const sensitivity = metadataText(chunk.filters.sensitivity);
        const existing = find.get(teamKey, chunk.documentId, chunk.ordinal) as { id: number } | undefined;
        if (existing) {
          update.run({ ...row, id: existing.id });
          updateVec.run(vectorBlob(chunk.vector), type, sensitivity, int(chunk.filters.createdAt), int(existing.id));
        } else {
          const id = Number(insert.run(row).lastInsertRowid);
          insertVec.run(int(id), int(teamKey), vectorBlob(chunk.vector), chunk.documentId, type, sensitivity, int(chunk.filters.createdAt));
        }
      }
    })();
  }

  async deleteDocument(scope: TeamScope, documentId: string): Promise<void> {
    this.#deleteWhere(scope, documentId, 0);
  }

  async truncateDocument(scope: TeamScope, documentId: string, fromOrdinal: number): Promise<void> {
    if (!Number.isSafeInteger(fromOrdinal) || fromOrdinal < 0) {
      throw new ValidationError('fromOrdinal must be an integer ≥ 0', { details: { field: 'fromOrdinal' } });
    }
    this.#deleteWhere(scope, documentId, fromOrdinal);
  }

  async updateFilters(scope: TeamScope, documentId: string, filters: Partial<ChunkFilters>): Promise<void> {
    validateScope(scope);
    validateChunkFilters(filters);
    const db = this.#open();
    const teamKey = this.#teamKey(scope.teamId, false);
    if (teamKey === null) return;
    const sets: Array<[column: string, value: string | null | bigint]> = [];
    if (filters.type !== undefined) sets.push(['doc_type', filters.type]);
    if (filters.sensitivity !== undefined) sets.push(['sensitivity', filters.sensitivity]);
    if (filters.createdAt !== undefined) sets.push(['created_at', int(filters.createdAt)]);
    if (sets.length === 0) return;
    const assignments = sets.map(([column]) => `${column} = ?`).join(', ');
    const values = sets.map(([, value]) => value);
    const vecValues = sets.map(([column, value]) => (column === 'created_at' ? value : metadataText(value as string | null)));
    const ids = this.#prepare('SELECT id FROM search_chunks WHERE team_key = ? AND document_id = ?');
    const updateChunks = this.#prepare(`UPDATE search_chunks SET ${assignments} WHERE team_key = ? AND document_id = ?`);
    db.transaction(() => {
      updateChunks.run(...values, teamKey, documentId);
      const rows = ids.all(teamKey, documentId) as Array<{ id: number }>;
      if (rows.length > 0 && this.#model) {
        const updateVec = this.#prepare(`UPDATE search_vec SET ${assignments} WHERE id = ?`);
        for (const { id } of rows) updateVec.run(...vecValues, int(id));
      }
    })();
  }

  async search(scope: TeamScope, query: SearchQuery): Promise<SearchHit[]> {
    validateScope(scope);
    this.#open();
    const q = validateSearchQuery(query, this.#currentModel()?.dimension ?? null);
    const teamKey = this.#teamKey(scope.teamId, false);
    if (teamKey === null || matchesNothing(q.filter)) return [];
    const textQuery = q.text === '' ? null : parseTextQuery(q.text);

    const ranked = await rankedSearch(q, textQuery, this.#hybrid, {
      text: (limit, minTerms) => this.#textList(teamKey, textQuery!, q.filter, limit, minTerms),
      vector: (limit) => this.#vectorList(teamKey, q.vector!, q.filter, limit),
    });
    return this.#hydrate(teamKey, ranked, textQuery);
  }

  async count(scope: TeamScope, documentId?: string): Promise<number> {
    validateScope(scope);
    this.#open();
    const teamKey = this.#teamKey(scope.teamId, false);
    if (teamKey === null) return 0;
    const row =
      documentId === undefined
        ? this.#prepare('SELECT count(*) AS n FROM search_chunks WHERE team_key = ?').get(teamKey)
        : this.#prepare('SELECT count(*) AS n FROM search_chunks WHERE team_key = ? AND document_id = ?').get(teamKey, documentId);
    return (row as { n: number }).n;
  }

  #open(): Database.Database {
    if (!this.#db) throw new InternalError('SqliteSearchIndex used before start() or after close()');
    return this.#db;
  }

  #prepare(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#open().prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #migrate(db: Database.Database): void {
    db.transaction(() => {
      db.exec('CREATE TABLE IF NOT EXISTS search_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT');
      const row = db.prepare("SELECT value FROM search_meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
      const current = row ? Number(row.value) : 0;
      if (current > SEARCH_SCHEMA_VERSION) {
        throw new MismatchError(
          'SEARCH_SCHEMA_TOO_NEW',
          `The search tables are at schema version ${current}; this build knows up to ${SEARCH_SCHEMA_VERSION}`,
        );
      }
      for (let version = current + 1; version <= SEARCH_SCHEMA_VERSION; version++) db.exec(MIGRATIONS[version - 1]!);
      db.prepare(
        "INSERT INTO search_meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      ).run(String(SEARCH_SCHEMA_VERSION));
    }).immediate();
  }

  #readModel(db: Database.Database): IndexedModel | null {
    const rows = db.prepare("SELECT key, value FROM search_meta WHERE key IN ('model_id', 'dimension')").all() as Array<{
      key: string;
      value: string;
    }>;
    const values = new Map(rows.map((r) => [r.key, r.value]));
    const modelId = values.get('model_id');
    const dimension = values.get('dimension');
    return modelId === undefined || dimension === undefined ? null : { modelId, dimension: Number(dimension) };
  }

  /** The recorded model; another connection on the same file may have recorded it since start. */
  #currentModel(): IndexedModel | null {
    this.#model ??= this.#readModel(this.#open());
    return this.#model;
  }

  #requireModel(): IndexedModel {
    return recordedModel(this.#currentModel());
  }

  /**
   * The team's integer key, created on first write. A key is cached only once it is
   * committed: a key cached from a rolled-back insert could be handed to another team.
   */
  #teamKey(teamId: string, create: boolean): number | null {
    const cached = this.#teamKeys.get(teamId);
    if (cached !== undefined) return cached;
    const db = this.#open();
    const select = this.#prepare('SELECT team_key FROM search_teams WHERE team_id = ?');
    let row = select.get(teamId) as { team_key: number } | undefined;
    if (!row && create) {
      this.#prepare('INSERT INTO search_teams (team_id) VALUES (?) ON CONFLICT (team_id) DO NOTHING').run(teamId);
      row = select.get(teamId) as { team_key: number } | undefined;
    }
    if (!row) return null;
    if (!db.inTransaction) this.#teamKeys.set(teamId, row.team_key);
    return row.team_key;
  }

  #deleteWhere(scope: TeamScope, documentId: string, fromOrdinal: number): void {
    validateScope(scope);
    const db = this.#open();
    const teamKey = this.#teamKey(scope.teamId, false);
    if (teamKey === null) return;
    const ids = this.#prepare('SELECT id FROM search_chunks WHERE team_key = ? AND document_id = ? AND ordinal >= ?');
    const deleteChunks = this.#prepare('DELETE FROM search_chunks WHERE team_key = ? AND document_id = ? AND ordinal >= ?');
    db.transaction(() => {
      const rows = ids.all(teamKey, documentId, fromOrdinal) as Array<{ id: number }>;
      if (rows.length > 0 && this.#currentModel()) {
        // vec0 deletes by rowid only; any other WHERE would scan every vector.
        const deleteVec = this.#prepare('DELETE FROM search_vec WHERE id = ?');
        for (const { id } of rows) deleteVec.run(int(id));
      }
      deleteChunks.run(teamKey, documentId, fromOrdinal);
    })();
  }

  /** Filter conditions on `search_chunks` (alias `c`), with named parameters. */
  #chunkFilterSql(f: SearchFilter, params: Record<string, unknown>): string {
    const where: string[] = [];
    if (f.types) {
      where.push('c.doc_type IN (SELECT value FROM json_each(@types))');
      params.types = JSON.stringify(f.types);
    }
    if (f.sensitivities) {
      where.push('c.sensitivity IN (SELECT value FROM json_each(@sensitivities))');
      params.sensitivities = JSON.stringify(f.sensitivities);
    }
    if (f.createdFrom !== undefined) {
      where.push('c.created_at >= @createdFrom');
      params.createdFrom = lowerBound(f.createdFrom);
    }
    if (f.createdTo !== undefined) {
      where.push('c.created_at < @createdTo');
      params.createdTo = upperBound(f.createdTo);
    }
    if (f.documentIds) {
      where.push('c.document_id IN (SELECT value FROM json_each(@documentIds))');
      params.documentIds = JSON.stringify(f.documentIds);
    }
    if (f.excludeDocumentIds && f.excludeDocumentIds.length > 0) {
      where.push('c.document_id NOT IN (SELECT value FROM json_each(@excludeDocumentIds))');
      params.excludeDocumentIds = JSON.stringify(f.excludeDocumentIds);
    }
    return where.map((w) => ` AND ${w}`).join('');
  }

  /**
   * BM25 over title and body with OR semantics, exact-phrase hits first. The FTS table is
   * the outer loop (CROSS JOIN fixes the order) so the MATCH runs once, not once per row.
   * BM25's document frequencies are those of the whole table (all teams), as in a shared
   * Elasticsearch index; only the scores, never the rows, depend on other teams.
   *
   * With `minTerms` above 1, a hit must also contain that many distinct query terms (or the
   * exact phrase). Each term's rowids are an uncorrelated `IN` subquery, which SQLite
   * materialises once per statement, so the count costs one posting-list read per term,
   * the same reads the OR itself makes.
   */
  #textList(teamKey: number, query: TextQuery, filter: SearchFilter, limit: number, minTerms = 1): Ranked {
    const params: Record<string, unknown> = { team: int(teamKey), expr: matchExpression(teamKey, query), limit: int(limit) };
    const phrase = phraseExpression(teamKey, query);
    if (phrase) params.phrase = phrase;
    const { teamKey: wTeam, title: wTitle, body: wBody } = BM25_WEIGHTS;
    const exact = phrase ? 'c.id IN (SELECT rowid FROM search_fts WHERE search_fts MATCH @phrase)' : '0';
    let enough = '';
    if (minTerms > 1) {
      const terms = termExpressions(query);
      terms.forEach((expr, i) => (params[`term${i}`] = expr));
      const matched = terms.map((_, i) => `(c.id IN (SELECT rowid FROM search_fts WHERE search_fts MATCH @term${i}))`).join(' + ');
      enough = ` AND (exact OR ${matched} >= @minTerms)`;
      params.minTerms = int(minTerms);
    }
    const sql =
      `SELECT c.id AS key, -bm25(search_fts, ${wTeam}, ${wTitle}, ${wBody}) AS score, ${exact} AS exact` +
      ' FROM search_fts CROSS JOIN search_chunks c ON c.id = search_fts.rowid' +
      ' WHERE search_fts MATCH @expr AND c.team_key = @team' +
      this.#chunkFilterSql(filter, params) +
      enough +
      ' ORDER BY exact DESC, score DESC, c.id LIMIT @limit';
    return this.#prepare(sql).all(params) as Ranked;
  }

  /**
   * Exact k-NN (cosine) within the team's vec0 partition, filters pushed into the scan so
   * `limit` hits come back whenever that many match. vec0 cannot push `NOT IN` (SQLite
   * would apply it after the top k were chosen), so excluded documents are handled by
   * fetching `limit` + their chunk count and dropping them, which is exact; past vec0's
   * k ceiling the list is computed by a full scan of the filtered rows instead.
   */
  #vectorList(teamKey: number, vector: Float32Array, filter: SearchFilter, limit: number): Ranked {
    if (!this.#currentModel()) return [];
    const excluded = filter.excludeDocumentIds ?? [];
    const excludedChunks =
      excluded.length === 0
        ? 0
        : (
            this.#prepare(
              'SELECT count(*) AS n FROM search_chunks WHERE team_key = ? AND document_id IN (SELECT value FROM json_each(?))',
            ).get(teamKey, JSON.stringify(excluded)) as { n: number }
          ).n;
    if (limit + excludedChunks > VEC_MAX_K) return this.#vectorScan(teamKey, vector, filter, limit);

    const where = ['embedding MATCH @vector', 'k = @k', 'team_key = @team'];
    const params: Record<string, unknown> = {
      vector: vectorBlob(vector),
      k: int(limit + excludedChunks),
      team: int(teamKey),
    };
    if (filter.types) {
      where.push('doc_type IN (SELECT value FROM json_each(@types))');
      params.types = JSON.stringify(filter.types);
    }
    if (filter.sensitivities) {
      where.push('sensitivity IN (SELECT value FROM json_each(@sensitivities))');
      params.sensitivities = JSON.stringify(filter.sensitivities);
    }
    if (filter.createdFrom !== undefined) {
      where.push('created_at >= @createdFrom');
      params.createdFrom = lowerBound(filter.createdFrom);
    }
    if (filter.createdTo !== undefined) {
      where.push('created_at < @createdTo');
      params.createdTo = upperBound(filter.createdTo);
    }
    if (filter.documentIds) {
      where.push('document_id IN (SELECT value FROM json_each(@documentIds))');
      params.documentIds = JSON.stringify(filter.documentIds);
    }
    const sql = `SELECT id, distance, document_id FROM search_vec WHERE ${where.join(' AND ')} ORDER BY distance`;
    const rows = this.#prepare(sql).all(params) as Array<{ id: number; distance: number; document_id: string }>;
    const skip = new Set(excluded);
    return rows
      .filter((r) => !skip.has(r.document_id))
      .slice(0, limit)
      .map((r) => ({ key: r.id, score: 1 - r.distance }));
  }

  /** Exact k-NN by scanning the filtered chunks of the team; the fallback of {@link #vectorList}. */
  #vectorScan(teamKey: number, vector: Float32Array, filter: SearchFilter, limit: number): Ranked {
    const params: Record<string, unknown> = { vector: vectorBlob(vector), team: int(teamKey), limit: int(limit) };
    const sql =
      'SELECT c.id AS key, 1 - vec_distance_cosine(v.embedding, @vector) AS score' +
      ' FROM search_chunks c CROSS JOIN search_vec v ON v.id = c.id WHERE c.team_key = @team' +
      this.#chunkFilterSql(filter, params) +
      ' ORDER BY score DESC, c.id LIMIT @limit';
    return this.#prepare(sql).all(params) as Ranked;
  }

  /** Loads the ranked chunks (still confined to the team) and cuts their snippets. */
  #hydrate(teamKey: number, ranked: ReadonlyArray<RankedHit<number>>, textQuery: TextQuery | null): SearchHit[] {
    if (ranked.length === 0) return [];
    const rows = this.#prepare(
      `SELECT id, document_id, ordinal, page, boxes, body FROM search_chunks
       WHERE team_key = ? AND id IN (SELECT value FROM json_each(?))`,
    ).all(teamKey, JSON.stringify(ranked.map((r) => r.key))) as ChunkRow[];
    const byId = new Map(rows.map((r) => [r.id, r]));
    const highlight = textQuery
      ? this.#prepare(
          'SELECT highlight(search_fts, 2, @open, @close) AS marked FROM search_fts WHERE search_fts MATCH @expr AND rowid = @id',
        )
      : null;
    const expr = textQuery ? matchExpression(teamKey, textQuery) : '';
    const hits: SearchHit[] = [];
    for (const r of ranked) {
      const row = byId.get(r.key);
      if (!row) continue;
      const marked = highlight?.get({ open: MARK_OPEN, close: MARK_CLOSE, expr, id: int(row.id) }) as { marked: string | null } | undefined;
      const matches = marked?.marked ? rangesFromMarkup(marked.marked, row.body, MARK_OPEN, MARK_CLOSE) : [];
      const { snippet, highlights } = buildSnippet(row.body, matches);
      hits.push({
        documentId: row.document_id,
        ordinal: row.ordinal,
        page: row.page,
        boxes: JSON.parse(row.boxes) as Box[],
        text: row.body,
        snippet,
        highlights,
        scores: r.scores,
        rank: hits.length + 1,
      });
    }
    return hits;
  }
}
