/**
 * The embedded SearchIndex: SQLite FTS5 (BM25) for text, and for vectors an HNSW graph per
 * team (vector-partition.ts) over vectors kept in SQLite, in tables prefixed `search_` so
 * they can live in the hub store's file.
 *
 * Layout:
 * - `search_meta`: schema version, recorded model id and dimension.
 * - `search_teams`: team id ↔ small integer key. The key names the team's vector partition
 *   and is indexed as a token in the FTS table, so both lists are confined to one team
 *   inside the engines, and every statement also checks it on `search_chunks`.
 * - `search_chunks`: one row per chunk (provenance, filters, text); its `id` is the rowid
 *   of the FTS and vector rows.
 * - `search_fts`: FTS5 over `search_chunks` (external content, kept in step by triggers).
 * - `search_vectors`: one embedding per chunk (float32 blob), same id.
 * - `search_changes`: the log of chunk writes (triggers, same transaction), from which the
 *   in-memory vector partitions catch up; `search_snapshots`: the log entry each team's
 *   saved graph has applied (entries every snapshot has applied are dropped).
 *
 * A team with at most `exactMax` chunks, or a filter keeping at most that many, is searched
 * exactly by comparing vectors; a larger one through its HNSW graph with the filter applied
 * during the graph search.
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
import { allTermsExpression, matchExpression, phraseExpression, termExpressions } from './fts-query.ts';
import { hybridSettings, rankedSearch, type HybridOptions, type RankedHit } from '../ranked-search.ts';
import { MARK_CLOSE, MARK_OPEN, buildSnippet, rangesFromMarkup } from '../snippet.ts';
import { parseTextQuery, termCount, type TextQuery } from '../text-query.ts';
import { type GraphParameters, VectorPartition, unit, vectorBlob } from './vector-partition.ts';

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
      /** An open connection (e.g. the store's); the index loads sqlite-vec into it, leaves its pragmas alone and never closes it. */
      db: Database.Database;
    }
) & {
  /** How hybrid queries treat their two lists (defaults: the shipped rules); exposed so evaluations can compare rules on one index. */
  hybrid?: HybridOptions;
  /** How vectors are searched (defaults suit a million chunks per team on two cores). */
  vectors?: VectorOptions;
};

/** How the embedded index searches vectors. */
export interface VectorOptions extends Partial<GraphParameters> {
  /**
   * A team, or a filter, keeping at most this many chunks is searched exactly; above it, by
   * the team's HNSW graph. Default {@link EXACT_MAX}.
   */
  exactMax?: number;
  /**
   * Folder for the graphs' snapshots. Default: `<database file>.vectors` beside the file; an
   * in-memory database keeps none (graphs are rebuilt from the tables after a restart).
   */
  snapshotDir?: string;
}

/** Default of {@link VectorOptions.exactMax}: an exact scan of this many vectors takes a few ms. */
export const EXACT_MAX = 5000;
/** Default graph parameters: at efSearch 96 recall@10 was 0.998 at 100k chunks but 0.943 at 1M (load-tests/search.bench.ts), hence 160. */
export const GRAPH_DEFAULTS: GraphParameters = { m: 16, efConstruction: 100, efSearch: 160 };
/**
 * A team's graph is saved after this many changes since its last snapshot, or half its size
 * if larger: a restart replays a bounded log, and a growing team rewrites its snapshot a
 * bounded number of times (about three times its final size in all).
 */
const SAVE_AFTER_CHANGES = 20_000;

/** Schema version this code writes; a file with a newer one is refused. */
export const SEARCH_SCHEMA_VERSION = 2;

/** BM25 with column weights: the team token never scores, a title hit counts twice a body hit. */
const BM25 = '-bm25(search_fts, 0, 2, 1)';
/** Each migration takes the schema from the version before it to its own (index + 1). */
const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [
  (db) =>
    db.exec(`
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
  `),
  // Version 2: vectors move from sqlite-vec's vec0 table to a plain table searched through
  // in-memory graphs, and chunk writes are logged for those graphs to catch up from.
  (db) => {
    db.exec(`
    CREATE TABLE search_vectors (id INTEGER PRIMARY KEY, embedding BLOB NOT NULL) STRICT;
    CREATE TABLE search_changes (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      team_key INTEGER NOT NULL,
      id INTEGER NOT NULL,
      deleted INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX search_changes_team ON search_changes (team_key, seq);
    CREATE TABLE search_snapshots (team_key INTEGER PRIMARY KEY, seq INTEGER NOT NULL) STRICT;
    CREATE INDEX search_chunks_filters ON search_chunks (team_key, id, document_id, doc_type, sensitivity, created_at);
    CREATE TRIGGER search_chunks_log_ai AFTER INSERT ON search_chunks BEGIN
      INSERT INTO search_changes (team_key, id, deleted) VALUES (new.team_key, new.id, 0);
    END;
    CREATE TRIGGER search_chunks_log_au AFTER UPDATE ON search_chunks BEGIN
      INSERT INTO search_changes (team_key, id, deleted) VALUES (new.team_key, new.id, 0);
    END;
    CREATE TRIGGER search_chunks_log_ad AFTER DELETE ON search_chunks BEGIN
      DELETE FROM search_vectors WHERE id = old.id;
      INSERT INTO search_changes (team_key, id, deleted) VALUES (old.team_key, old.id, 1);
    END;
    `);
    const vec0 = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'search_vec'").get();
    if (vec0) {
      db.exec('INSERT INTO search_vectors (id, embedding) SELECT id, embedding FROM search_vec; DROP TABLE search_vec;');
    }
  },
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
  doc_type: string | null;
  sensitivity: string | null;
  created_at: number;
}

/**
 * Integers bound to virtual tables must be SQLite INTEGERs: better-sqlite3 binds JS numbers
 * as REAL, and FTS5 silently ignores `rowid = <REAL>` (returning every row).
 */
function int(n: number): bigint {
  return BigInt(n);
}

/** `created_at` is an integer: these bounds select the same rows as the real-valued ones. */
function lowerBound(createdFrom: number): bigint {
  return BigInt(Math.ceil(createdFrom));
}
function upperBound(createdTo: number): bigint {
  return BigInt(Math.ceil(createdTo));
}

/**
 * The parts of an OR list's statement over `search_fts`, with their parameters set in
 * `params`: `@expr` (the MATCH, with the team's key token unless `teamKey` is null), `exact`
 * (1 for an exact-phrase hit) and `enough` (at least `minTerms` of the terms, or the phrase).
 */
function anyTermClauses(
  teamKey: number | null,
  query: TextQuery,
  minTerms: number,
  params: Record<string, unknown>,
): { exact: string; enough: string } {
  params.expr = matchExpression(teamKey, query);
  const phrase = phraseExpression(teamKey, query);
  if (phrase) params.phrase = phrase;
  const exact = phrase ? 'search_fts.rowid IN (SELECT rowid FROM search_fts WHERE search_fts MATCH @phrase)' : '0';
  if (minTerms <= 1) return { exact, enough: '' };
  const terms = termExpressions(query);
  terms.forEach((expr, i) => (params[`term${i}`] = expr));
  const matched = terms.map((_, i) => `(search_fts.rowid IN (SELECT rowid FROM search_fts WHERE search_fts MATCH @term${i}))`).join(' + ');
  params.minTerms = int(minTerms);
  return { exact, enough: ` AND (exact OR ${matched} >= @minTerms)` };
}

/** The SearchIndex over SQLite FTS5 and per-team HNSW graphs: the embedded default. */
export class SqliteSearchIndex implements SearchIndex {
  readonly capabilities: IndexCapabilities = { hybrid: true, maxDimension: 8192 };

  readonly #options: SqliteSearchIndexOptions;
  readonly #hybrid: Required<HybridOptions>;
  #db: Database.Database | null = null;
  #model: IndexedModel | null = null;
  readonly #teamKeys = new Map<string, number>();
  readonly #statements = new Map<string, Database.Statement>();
  readonly #vectors: Required<Omit<VectorOptions, 'snapshotDir'>> & { snapshotDir: string | null };
  /** Vector partitions of the teams above `exactMax` chunks, by team key, opened on first use. */
  readonly #partitions = new Map<number, VectorPartition>();

  constructor(options: SqliteSearchIndexOptions) {
    this.#hybrid = hybridSettings(options.hybrid);
    this.#options = options;
    const v = options.vectors ?? {};
    const exactMax = v.exactMax ?? EXACT_MAX;
    if (!(Number.isSafeInteger(exactMax) && exactMax >= 0)) {
      throw new ValidationError('vectors.exactMax must be an integer ≥ 0', { details: { field: 'vectors.exactMax' } });
    }
    this.#vectors = {
      exactMax,
      m: v.m ?? GRAPH_DEFAULTS.m,
      efConstruction: v.efConstruction ?? GRAPH_DEFAULTS.efConstruction,
      efSearch: v.efSearch ?? GRAPH_DEFAULTS.efSearch,
      snapshotDir: v.snapshotDir ?? null,
    };
  }

  /** Opens the connection (when given a filename), loads sqlite-vec (exact cosine) and migrates the schema. */
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

  /**
   * Saves the graphs changed since their last snapshot, then closes the connection if the
   * index opened it; a shared connection stays open.
   */
  async close(): Promise<void> {
    const db = this.#db;
    if (db) for (const partition of this.#partitions.values()) if (partition.unsaved > 0) this.#save(partition);
    this.#partitions.clear();
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
    const putVector = this.#prepare(
      'INSERT INTO search_vectors (id, embedding) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET embedding = excluded.embedding',
    );
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
        const existing = find.get(teamKey, chunk.documentId, chunk.ordinal) as { id: number } | undefined;
        let id: number;
        if (existing) {
          id = existing.id;
          update.run({ ...row, id });
        } else {
          id = Number(insert.run(row).lastInsertRowid);
        }
        putVector.run(id, vectorBlob(chunk.vector));
      }
    })();
    this.#written(teamKey);
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
    this.#open();
    const teamKey = this.#teamKey(scope.teamId, false);
    if (teamKey === null) return;
    const sets: Array<[column: string, value: string | null | bigint]> = [];
    if (filters.type !== undefined) sets.push(['doc_type', filters.type]);
    if (filters.sensitivity !== undefined) sets.push(['sensitivity', filters.sensitivity]);
    if (filters.createdAt !== undefined) sets.push(['created_at', int(filters.createdAt)]);
    if (sets.length === 0) return;
    const assignments = sets.map(([column]) => `${column} = ?`).join(', ');
    const values = sets.map(([, value]) => value);
    this.#prepare(`UPDATE search_chunks SET ${assignments} WHERE team_key = ? AND document_id = ?`).run(...values, teamKey, documentId);
    this.#written(teamKey);
  }

  async search(scope: TeamScope, query: SearchQuery): Promise<SearchHit[]> {
    validateScope(scope);
    this.#open();
    const q = validateSearchQuery(query, this.#currentModel()?.dimension ?? null);
    const teamKey = this.#teamKey(scope.teamId, false);
    if (teamKey === null || matchesNothing(q.filter)) return [];
    const textQuery = q.text === '' ? null : parseTextQuery(q.text);
    // Caught up with the log once for both lists.
    const partition = this.#partition(teamKey);

    const ranked = await rankedSearch(q, textQuery, this.#hybrid, {
      text: (limit, minTerms) => this.#textList(teamKey, partition, textQuery!, q.filter, limit, minTerms),
      vector: (limit) => this.#vectorList(teamKey, partition, q.vector!, q.filter, limit),
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
      for (let version = current + 1; version <= SEARCH_SCHEMA_VERSION; version++) MIGRATIONS[version - 1]!(db);
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
    this.#open();
    const teamKey = this.#teamKey(scope.teamId, false);
    if (teamKey === null) return;
    // The delete trigger removes each chunk's vector and logs the change.
    this.#prepare('DELETE FROM search_chunks WHERE team_key = ? AND document_id = ? AND ordinal >= ?').run(
      teamKey,
      documentId,
      fromOrdinal,
    );
    this.#written(teamKey);
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
   * BM25 over title and body, exact-phrase hits first; every hit holds each quoted phrase.
   * BM25's document frequencies are those of the whole table (all teams), as in a shared
   * Elasticsearch index; only the scores, never the rows, depend on other teams.
   *
   * With `minTerms` of every term (hybrid's default), hits hold all the terms: an AND, and the
   * phrase tier, are two small queries whose rows are checked against the team one by one.
   * Otherwise the terms are OR-ed and the team's key token in the MATCH confines the rows,
   * cheaper than checking each of the many rows an OR matches; `search_chunks` is joined only
   * when the filter needs its columns, and hydration checks the team again on the rows kept.
   * With `minTerms` between 1 and all, each term's rowids are an uncorrelated `IN` subquery,
   * which SQLite materialises once per statement, so counting costs one posting-list read per
   * term, the same reads the OR itself makes.
   */
  #textList(
    teamKey: number,
    partition: VectorPartition | null,
    query: TextQuery,
    filter: SearchFilter,
    limit: number,
    minTerms = 1,
  ): Ranked {
    const every = minTerms > 1 && minTerms >= termCount(query);
    if (every) return this.#everyTermList(teamKey, query, filter, limit, partition);
    if (partition) return this.#anyTermListInMemory(partition, query, filter, limit, minTerms);
    const params: Record<string, unknown> = { limit: int(limit) };
    const { exact, enough } = anyTermClauses(teamKey, query, minTerms, params);
    const filterSql = this.#chunkFilterSql(filter, params);
    if (filterSql !== '') params.team = int(teamKey);
    const sql =
      `SELECT search_fts.rowid AS key, ${BM25} AS score, ${exact} AS exact` +
      (filterSql === ''
        ? ' FROM search_fts WHERE search_fts MATCH @expr'
        : ' FROM search_fts CROSS JOIN search_chunks c ON c.id = search_fts.rowid WHERE search_fts MATCH @expr AND c.team_key = @team' +
          filterSql) +
      enough +
      ' ORDER BY exact DESC, score DESC, key LIMIT @limit';
    return this.#prepare(sql).all(params) as Ranked;
  }

  /**
   * The hits holding every term and prefix, after those holding the whole query as a phrase
   * (ordered by their phrase score, as Elasticsearch's phrase query orders them); a hit's
   * score is its BM25 for the terms when it has one. Rows are checked against the team (and
   * the filter) in memory when the team has a vector partition, else by a join.
   */
  #everyTermList(teamKey: number, query: TextQuery, filter: SearchFilter, limit: number, partition: VectorPartition | null): Ranked {
    const ranked = (expr: string): Ranked => {
      if (partition)
        return this.#keptInOrder(
          `SELECT rowid AS key, ${BM25} AS score FROM search_fts WHERE search_fts MATCH @expr ORDER BY score DESC, key`,
          { expr },
          partition.keeper(filter),
          limit,
        );
      const params: Record<string, unknown> = { expr, team: int(teamKey), limit: int(limit) };
      const sql =
        `SELECT search_fts.rowid AS key, ${BM25} AS score` +
        ' FROM search_fts CROSS JOIN search_chunks c ON c.id = search_fts.rowid WHERE search_fts MATCH @expr AND c.team_key = @team' +
        this.#chunkFilterSql(filter, params) +
        ' ORDER BY score DESC, key LIMIT @limit';
      return this.#prepare(sql).all(params) as Ranked;
    };
    const terms = ranked(allTermsExpression(null, query));
    const phrase = phraseExpression(null, query);
    if (!phrase) return terms;
    const termScores = new Map(terms.map((h) => [h.key, h.score]));
    const seen = new Set<number>();
    const list: Ranked = [];
    for (const hit of [...ranked(phrase), ...terms]) {
      if (seen.has(hit.key) || list.length >= limit) continue;
      seen.add(hit.key);
      list.push({ key: hit.key, score: termScores.get(hit.key) ?? hit.score });
    }
    return list;
  }

  /**
   * The OR list of a team with a vector partition: no team token in the MATCH (its posting
   * list holds every chunk of the team, and intersecting it costs more than the query), rows
   * checked against the team and the filter in memory, best first.
   */
  #anyTermListInMemory(partition: VectorPartition, query: TextQuery, filter: SearchFilter, limit: number, minTerms: number): Ranked {
    const params: Record<string, unknown> = {};
    const { exact, enough } = anyTermClauses(null, query, minTerms, params);
    const sql =
      `SELECT search_fts.rowid AS key, ${BM25} AS score, ${exact} AS exact FROM search_fts WHERE search_fts MATCH @expr` +
      enough +
      ' ORDER BY exact DESC, score DESC, key';
    return this.#keptInOrder(sql, params, partition.keeper(filter), limit);
  }

  /** The first `limit` rows of `sql` (ranked: `key`, `score`) that `keep` accepts; the rest are never read. */
  #keptInOrder(sql: string, params: Record<string, unknown>, keep: (id: number) => boolean, limit: number): Ranked {
    const out: Ranked = [];
    if (limit <= 0) return out;
    for (const row of this.#prepare(sql).iterate(params) as IterableIterator<{ key: number; score: number }>) {
      if (!keep(row.key)) continue;
      out.push({ key: row.key, score: row.score });
      if (out.length >= limit) break;
    }
    return out;
  }

  /**
   * Cosine k-NN within the team and the filter. A team with a vector partition (more than
   * `exactMax` chunks) is searched through it; a smaller one by comparing every vector the
   * filter keeps.
   */
  #vectorList(teamKey: number, partition: VectorPartition | null, vector: Float32Array, filter: SearchFilter, limit: number): Ranked {
    if (!this.#currentModel()) return [];
    const query = unit(vector);
    if (partition) return partition.nearest(query, filter, limit, this.#vectors.exactMax);
    const params: Record<string, unknown> = { team: int(teamKey), vector: vectorBlob(query), limit: int(limit) };
    return this.#prepare(
      'SELECT c.id AS key, 1 - vec_distance_cosine(v.embedding, @vector) AS score' +
        ' FROM search_chunks c CROSS JOIN search_vectors v ON v.id = c.id WHERE c.team_key = @team' +
        this.#chunkFilterSql(filter, params) +
        ' ORDER BY score DESC, c.id LIMIT @limit',
    ).all(params) as Ranked;
  }

  /**
   * The team's vector partition, caught up with the log; opened (loaded or built) once the
   * team has more than `exactMax` chunks. Null for a smaller team.
   */
  #partition(teamKey: number): VectorPartition | null {
    let partition = this.#partitions.get(teamKey);
    const pruned = partition ? this.#prunedThrough() : 0;
    if (partition && pruned <= partition.seq) {
      partition.catchUp();
    } else {
      // No partition yet, or another process sharing the file dropped log entries this one has not applied.
      this.#partitions.delete(teamKey);
      const model = this.#currentModel();
      if (!model) return null;
      const size = this.#prepare('SELECT count(*) AS n FROM (SELECT 1 FROM search_chunks WHERE team_key = ? LIMIT ?)').get(
        teamKey,
        this.#vectors.exactMax + 1,
      ) as { n: number };
      if (size.n <= this.#vectors.exactMax) return null;
      partition = VectorPartition.open(this.#open(), teamKey, model.dimension, this.#vectors, this.#snapshotDir());
      this.#partitions.set(teamKey, partition);
    }
    if (partition.unsaved >= Math.max(SAVE_AFTER_CHANGES, partition.size / 2)) this.#save(partition);
    return partition;
  }

  /** Log entries up to this one may have been dropped (see VectorPartition.save). */
  #prunedThrough(): number {
    const row = this.#prepare("SELECT value FROM search_meta WHERE key = 'changes_pruned_through'").get() as { value: string } | undefined;
    return row ? Number(row.value) : 0;
  }

  /** After a committed write: a team's open partition applies it now, so queries need not. */
  #written(teamKey: number): void {
    if (this.#partitions.has(teamKey) || this.#currentModel()) this.#partition(teamKey);
  }

  #save(partition: VectorPartition): void {
    const dir = this.#snapshotDir();
    if (dir) partition.save(dir);
  }

  /** Where graph snapshots go: the option, or beside the database file; null for an in-memory database. */
  #snapshotDir(): string | null {
    if (this.#vectors.snapshotDir) return this.#vectors.snapshotDir;
    const name = this.#open().name;
    return name === '' || name === ':memory:' ? null : `${name}.vectors`;
  }

  /** Loads the ranked chunks (still confined to the team) and cuts their snippets. */
  #hydrate(teamKey: number, ranked: ReadonlyArray<RankedHit<number>>, textQuery: TextQuery | null): SearchHit[] {
    if (ranked.length === 0) return [];
    const rows = this.#prepare(
      `SELECT id, document_id, ordinal, page, boxes, body, doc_type, sensitivity, created_at FROM search_chunks
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
        filters: { type: row.doc_type, sensitivity: row.sensitivity, createdAt: row.created_at },
        rank: hits.length + 1,
      });
    }
    return hits;
  }
}
