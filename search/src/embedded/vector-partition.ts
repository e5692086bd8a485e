/**
 * One team's approximate nearest-neighbour index for the embedded SearchIndex: an HNSW graph
 * (hnswlib-node) over the team's vectors, with the filter fields of every chunk held in
 * columns beside it so that a filtered query is answered inside the graph search.
 *
 * The partition is derived data. SQLite holds the truth (`search_chunks`, `search_vectors`)
 * and a change log (`search_changes`, written by triggers in the same transaction as the
 * change); a partition remembers the last log entry it applied and catches up from there.
 * Snapshots of the graph are written beside the database file (write to a temporary file,
 * fsync, rename), so after a crash the newest complete snapshot is loaded and the log
 * replayed; a missing or unreadable snapshot is rebuilt from the tables.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import hnswlib from 'hnswlib-node';
import type { SearchFilter } from '../search-index.ts';

const { HierarchicalNSW } = hnswlib;
type Graph = InstanceType<typeof HierarchicalNSW>;

/** Graph parameters, fixed when a partition is built. */
export interface GraphParameters {
  /** Links per node (HNSW `M`). */
  m: number;
  /** Candidate list while inserting (HNSW `efConstruction`). */
  efConstruction: number;
  /** Candidate list while searching; raised to `k` when `k` is larger. */
  efSearch: number;
}

/** A ranked list of chunk ids with their cosine similarity. */
export type Neighbours = Array<{ key: number; score: number }>;

/** One row of the change log with what the partition needs to apply it. */
interface ChangedRow {
  seq: number;
  id: number;
  deleted: number;
  document_id: string | null;
  doc_type: string | null;
  sensitivity: string | null;
  created_at: number | null;
  embedding: Buffer | null;
}

/** A string's small integer code within one partition (codes are never reused). */
class Codes {
  readonly #codes = new Map<string | null, number>();
  code(value: string | null): number {
    let code = this.#codes.get(value);
    if (code === undefined) {
      code = this.#codes.size;
      this.#codes.set(value, code);
    }
    return code;
  }
  /** Codes of `values` already seen (a value never seen matches no chunk). */
  known(values: readonly string[]): Set<number> {
    const out = new Set<number>();
    for (const v of values) {
      const code = this.#codes.get(v);
      if (code !== undefined) out.add(code);
    }
    return out;
  }
}

/** Filter columns of the live chunks, by slot; a chunk id maps to its slot. */
class Columns {
  readonly slots = new Map<number, number>();
  readonly documents = new Codes();
  readonly types = new Codes();
  readonly sensitivities = new Codes();
  /** Chunk id of each slot; -1 for a free slot. */
  ids = new Float64Array(1024).fill(-1);
  document = new Int32Array(1024);
  type = new Int32Array(1024);
  sensitivity = new Int32Array(1024);
  createdAt = new Float64Array(1024);
  readonly #free: number[] = [];
  #next = 0;

  get size(): number {
    return this.slots.size;
  }

  set(id: number, documentId: string, type: string | null, sensitivity: string | null, createdAt: number): void {
    let slot = this.slots.get(id);
    if (slot === undefined) {
      slot = this.#free.pop() ?? this.#next++;
      if (slot >= this.ids.length) this.#grow();
      this.slots.set(id, slot);
    }
    this.ids[slot] = id;
    this.document[slot] = this.documents.code(documentId);
    this.type[slot] = this.types.code(type);
    this.sensitivity[slot] = this.sensitivities.code(sensitivity);
    this.createdAt[slot] = createdAt;
  }

  /** Forgets `id`; true when it was live. */
  delete(id: number): boolean {
    const slot = this.slots.get(id);
    if (slot === undefined) return false;
    this.slots.delete(id);
    this.ids[slot] = -1;
    this.#free.push(slot);
    return true;
  }

  /** A predicate over slots for `filter`, or null when the filter keeps every chunk. */
  predicate(filter: SearchFilter): ((slot: number) => boolean) | null {
    const types = filter.types ? this.types.known(filter.types) : null;
    const sensitivities = filter.sensitivities ? this.sensitivities.known(filter.sensitivities) : null;
    const documents = filter.documentIds ? this.documents.known(filter.documentIds) : null;
    const excluded = filter.excludeDocumentIds?.length ? this.documents.known(filter.excludeDocumentIds) : null;
    const from = filter.createdFrom ?? Number.NEGATIVE_INFINITY;
    const to = filter.createdTo ?? Number.POSITIVE_INFINITY;
    const bounded = filter.createdFrom !== undefined || filter.createdTo !== undefined;
    if (!types && !sensitivities && !documents && !excluded && !bounded) return null;
    return (slot: number): boolean => {
      if (types && !types.has(this.type[slot]!)) return false;
      if (sensitivities && !sensitivities.has(this.sensitivity[slot]!)) return false;
      if (documents && !documents.has(this.document[slot]!)) return false;
      if (excluded && excluded.has(this.document[slot]!)) return false;
      const created = this.createdAt[slot]!;
      return created >= from && created < to;
    };
  }

  /** The same predicate over chunk ids, for the graph search: it never throws (a throw there aborts the process). */
  byId(keep: (slot: number) => boolean): (id: number) => boolean {
    return (id: number): boolean => {
      const slot = this.slots.get(id);
      return slot !== undefined && keep(slot);
    };
  }

  /** Ids of the live chunks `keep` accepts, or null as soon as more than `max` are found. */
  matching(keep: (slot: number) => boolean, max: number): number[] | null {
    const out: number[] = [];
    const ids = this.ids;
    for (let slot = 0; slot < this.#next; slot++) {
      if (ids[slot]! < 0 || !keep(slot)) continue;
      if (out.length === max) return null;
      out.push(ids[slot]!);
    }
    return out;
  }

  #grow(): void {
    const size = this.ids.length * 2;
    const grow = <T extends Float64Array | Int32Array>(a: T, b: T): T => {
      b.set(a);
      return b;
    };
    this.ids = grow(this.ids, new Float64Array(size).fill(-1));
    this.document = grow(this.document, new Int32Array(size));
    this.type = grow(this.type, new Int32Array(size));
    this.sensitivity = grow(this.sensitivity, new Int32Array(size));
    this.createdAt = grow(this.createdAt, new Float64Array(size));
  }
}

/** A stored embedding as floats, without copying. */
function floats(blob: Buffer): Float32Array {
  return blob.byteOffset % 4 === 0
    ? new Float32Array(blob.buffer, blob.byteOffset, blob.byteLength / 4)
    : new Float32Array(Uint8Array.from(blob).buffer);
}

/** `vector` scaled to unit length (a zero vector stays zero). */
export function unit(vector: Float32Array): Float32Array {
  let norm = 0;
  for (const x of vector) norm += x * x;
  norm = Math.sqrt(norm);
  return norm === 0 ? vector : vector.map((x) => x / norm);
}

/** Snapshot file names: `team-<key>-<seq>.hnsw`. */
const SNAPSHOT = /^team-(\d+)-(\d+)\.hnsw$/;

/** The ANN partition of one team. */
export class VectorPartition {
  readonly teamKey: number;
  readonly #db: Database.Database;
  readonly #dimension: number;
  readonly #params: GraphParameters;
  #columns = new Columns();
  #graph: Graph;
  /** Last change-log entry applied. */
  #seq = 0;
  /**
   * Labels of graph nodes marked deleted. hnswlib hands their places to new labels
   * (`allowReplaceDeleted`), forgetting the old label; this set may still hold such a label,
   * which is harmless: adding it again then makes a new node.
   */
  #deletedNodes = new Set<number>();
  /** Changes applied since the last snapshot. */
  #unsaved = 0;

  private constructor(db: Database.Database, teamKey: number, dimension: number, params: GraphParameters) {
    this.#db = db;
    this.teamKey = teamKey;
    this.#dimension = dimension;
    this.#params = params;
    this.#graph = this.#emptyGraph(1024);
  }

  /**
   * The team's partition: the newest snapshot in `dir` (when given and readable) caught up
   * from the change log, or else built from the tables.
   */
  static open(db: Database.Database, teamKey: number, dimension: number, params: GraphParameters, dir: string | null): VectorPartition {
    const partition = new VectorPartition(db, teamKey, dimension, params);
    const recorded = db.prepare('SELECT seq FROM search_snapshots WHERE team_key = ?').get(teamKey) as { seq: number } | undefined;
    const file = dir && recorded ? join(dir, `team-${teamKey}-${recorded.seq}.hnsw`) : null;
    if (file && partition.#load(file, recorded!.seq)) return partition;
    partition.#build();
    return partition;
  }

  /** Live chunks in the partition. */
  get size(): number {
    return this.#columns.size;
  }

  /** The last change-log entry applied. */
  get seq(): number {
    return this.#seq;
  }

  /** Changes applied since the last snapshot. */
  get unsaved(): number {
    return this.#unsaved;
  }

  /**
   * Applies the change-log entries written since the last one applied: this team's, up to
   * the newest entry of any team, which becomes the partition's position in the log.
   */
  catchUp(): void {
    const top = (this.#db.prepare('SELECT coalesce(max(seq), 0) AS seq FROM search_changes').get() as { seq: number }).seq;
    if (top <= this.#seq) return;
    const rows = this.#db
      .prepare(
        `SELECT l.seq, l.id, l.deleted, c.document_id, c.doc_type, c.sensitivity, c.created_at, v.embedding
         FROM search_changes l
         LEFT JOIN search_chunks c ON c.id = l.id AND l.deleted = 0
         LEFT JOIN search_vectors v ON v.id = c.id
         WHERE l.team_key = ? AND l.seq > ? AND l.seq <= ? ORDER BY l.seq`,
      )
      .all(this.teamKey, this.#seq, top) as ChangedRow[];
    this.#seq = top;
    if (rows.length === 0) return;
    // Only the last change of each chunk matters, and only its current row is read.
    const last = new Map<number, ChangedRow>();
    for (const row of rows) last.set(row.id, row);
    for (const row of last.values()) this.#apply(row);
    this.#unsaved += last.size;
    // Nodes of deleted chunks cost memory and search time until new chunks take their places;
    // when they outnumber the live ones (a mass deletion), the graph is built again.
    if (this.#graph.getCurrentCount() - this.size > Math.max(1000, this.size)) this.#build();
  }

  /** Whether a chunk id is one of the team's live chunks that `filter` keeps: the team and filter check of text lists. */
  keeper(filter: SearchFilter): (id: number) => boolean {
    const keep = this.#columns.predicate(filter);
    return keep ? this.#columns.byId(keep) : (id) => this.#columns.slots.has(id);
  }

  /**
   * The `limit` chunks nearest to `query` (unit length) among those `filter` keeps, and
   * whether the list is exact: when the filter keeps at most `exactMax` chunks their
   * vectors are compared one by one, otherwise the graph is searched with the filter.
   */
  nearest(query: Float32Array, filter: SearchFilter, limit: number, exactMax: number): Neighbours {
    const keep = this.#columns.predicate(filter);
    if (keep) {
      const ids = this.#columns.matching(keep, exactMax);
      if (ids) return exactNeighbours(this.#db, ids, query, limit);
    }
    const live = this.size;
    if (live === 0) return [];
    const k = Math.min(limit, live);
    this.#graph.setEf(Math.max(this.#params.efSearch, k));
    const found = this.#graph.searchKnn(Array.from(query), k, keep ? this.#columns.byId(keep) : undefined);
    return found.neighbors.map((key, i) => ({ key, score: 1 - found.distances[i]! }));
  }

  /**
   * Writes a snapshot to `dir` and records it (a snapshot older than the recorded one, which
   * another process sharing the file may have written, is not recorded); then drops the log
   * entries every recorded snapshot has applied, noting how far (`changes_pruned_through`)
   * so that a process whose partition is older reloads it, and the team's older snapshots.
   */
  save(dir: string): void {
    mkdirSync(dir, { recursive: true });
    const name = `team-${this.teamKey}-${this.#seq}.hnsw`;
    const temporary = join(dir, `${name}.${process.pid}.tmp`);
    this.#graph.writeIndexSync(temporary);
    const fd = openSync(temporary, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, join(dir, name));
    const recorded = this.#db.transaction((): number => {
      this.#db
        .prepare(
          `INSERT INTO search_snapshots (team_key, seq) VALUES (?, ?)
           ON CONFLICT (team_key) DO UPDATE SET seq = max(seq, excluded.seq)`,
        )
        .run(this.teamKey, this.#seq);
      const floor = this.#db.prepare('SELECT min(seq) AS seq FROM search_snapshots').get() as { seq: number };
      this.#db.prepare('DELETE FROM search_changes WHERE seq <= ?').run(floor.seq);
      this.#db
        .prepare(
          `INSERT INTO search_meta (key, value) VALUES ('changes_pruned_through', ?)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        )
        .run(String(floor.seq));
      return (this.#db.prepare('SELECT seq FROM search_snapshots WHERE team_key = ?').get(this.teamKey) as { seq: number }).seq;
    })();
    this.#unsaved = 0;
    const stale = Date.now() - 3_600_000;
    for (const file of readdirSync(dir)) {
      const path = join(dir, file);
      const snapshot = SNAPSHOT.exec(file);
      if (snapshot && Number(snapshot[1]) === this.teamKey && Number(snapshot[2]) < recorded) rmSync(path, { force: true });
      // A temporary file of a writer that crashed; one being written now is younger.
      else if (file.endsWith('.tmp') && (statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? stale) < stale)
        rmSync(path, { force: true });
    }
  }

  #emptyGraph(capacity: number): Graph {
    const graph = new HierarchicalNSW('cosine', this.#dimension);
    graph.initIndex({
      maxElements: capacity,
      m: this.#params.m,
      efConstruction: this.#params.efConstruction,
      randomSeed: 100,
      allowReplaceDeleted: true,
    });
    return graph;
  }

  /** Loads `file` (written at log entry `seq`) and catches up; false when it cannot be read. */
  #load(file: string, seq: number): boolean {
    const graph = new HierarchicalNSW('cosine', this.#dimension);
    try {
      graph.readIndexSync(file, true);
    } catch {
      return false;
    }
    if (graph.getNumDimensions() !== this.#dimension) return false;
    this.#graph = graph;
    this.#db.transaction(() => {
      this.#loadColumns();
      this.#seq = seq;
      // Nodes of chunks deleted before the snapshot are marked already; those deleted since are in the log.
      this.#deletedNodes = new Set(graph.getIdsList().filter((id) => !this.#columns.slots.has(id)));
      this.catchUp();
    })();
    this.#unsaved = 0;
    return true;
  }

  /** Builds the graph from the tables, as of the newest log entry. */
  #build(): void {
    this.#db.transaction(() => {
      const max = this.#db.prepare('SELECT coalesce(max(seq), 0) AS seq FROM search_changes').get() as { seq: number };
      this.#loadColumns();
      this.#graph = this.#emptyGraph(Math.max(1024, Math.ceil(this.size * 1.25)));
      this.#deletedNodes = new Set();
      const rows = this.#db
        .prepare('SELECT c.id, v.embedding FROM search_chunks c JOIN search_vectors v ON v.id = c.id WHERE c.team_key = ?')
        .iterate(this.teamKey) as IterableIterator<{ id: number; embedding: Buffer }>;
      for (const row of rows) this.#graph.addPoint(Array.from(floats(row.embedding)), row.id);
      this.#seq = max.seq;
    })();
    this.#unsaved = this.size;
  }

  #loadColumns(): void {
    this.#columns = new Columns();
    const rows = this.#db
      .prepare('SELECT id, document_id, doc_type, sensitivity, created_at FROM search_chunks WHERE team_key = ?')
      .iterate(this.teamKey) as IterableIterator<{
      id: number;
      document_id: string;
      doc_type: string | null;
      sensitivity: string | null;
      created_at: number;
    }>;
    for (const r of rows) this.#columns.set(r.id, r.document_id, r.doc_type, r.sensitivity, r.created_at);
  }

  #apply(row: ChangedRow): void {
    const graph = this.#graph;
    if (row.document_id === null || row.embedding === null) {
      if (this.#columns.delete(row.id)) {
        graph.markDelete(row.id);
        this.#deletedNodes.add(row.id);
      }
      return;
    }
    const known = this.#columns.slots.has(row.id);
    this.#columns.set(row.id, row.document_id, row.doc_type, row.sensitivity, row.created_at ?? 0);
    if (!known && graph.getCurrentCount() >= graph.getMaxElements()) graph.resizeIndex(graph.getMaxElements() * 2);
    const vector = Array.from(floats(row.embedding));
    if (known) {
      graph.addPoint(vector, row.id); // updated in place
      return;
    }
    if (this.#deletedNodes.delete(row.id)) {
      try {
        // Its node is still there: brought back and updated in place.
        graph.unmarkDelete(row.id);
        graph.addPoint(vector, row.id);
        return;
      } catch {
        // Its node's place went to another label: the label is new to the graph.
      }
    }
    // A label new to the graph takes the place of a deleted node when there is one. (Only
    // then: replacing under a label hnswlib still maps would leave two nodes with it.)
    graph.addPoint(vector, row.id, true);
  }
}

/**
 * Exact cosine top-`limit` among `ids`, computed inside SQLite by sqlite-vec's
 * `vec_distance_cosine` (loaded by the index): no vector is copied out to JavaScript.
 */
export function exactNeighbours(db: Database.Database, ids: readonly number[], query: Float32Array, limit: number): Neighbours {
  if (ids.length === 0) return [];
  return db
    .prepare(
      `SELECT id AS key, 1 - vec_distance_cosine(embedding, ?) AS score FROM search_vectors
       WHERE id IN (SELECT value FROM json_each(?)) ORDER BY score DESC, id LIMIT ?`,
    )
    .all(vectorBlob(query), JSON.stringify(ids), limit) as Neighbours;
}

/** A vector as the blob SQLite stores, without copying. */
export function vectorBlob(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}
