import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import type { TeamScope } from '@quire/kernel';
import { SearchMode } from '../search-index.ts';
import type { ChunkRecord, SearchFilter } from '../search-index.ts';
import { SqliteSearchIndex } from './search-index.sqlite.ts';

const DIM = 8;
const MODEL = { modelId: 'test/graph', dimension: DIM };
const TEAM: TeamScope = { teamId: 'team-graph' };
const TYPES = ['invoice', 'memo', 'contract', null];
const SENSITIVITIES = ['PUBLIC', 'INTERNAL', null];

/** A deterministic pseudo-random sequence, so a failing case can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function vector(rand: () => number): Float32Array {
  const v = Float32Array.from({ length: DIM }, () => rand() - 0.5);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

/** `documents` × `perDocument` chunks with random vectors and filter fields. */
function corpus(rand: () => number, documents: number, perDocument: number, from = 0): ChunkRecord[] {
  const chunks: ChunkRecord[] = [];
  for (let d = from; d < from + documents; d++) {
    for (let o = 0; o < perDocument; o++) {
      chunks.push({
        documentId: `doc-${d}`,
        ordinal: o,
        text: `chunk ${d} ${o}`,
        page: 1,
        boxes: [],
        vector: vector(rand),
        filters: {
          type: TYPES[Math.floor(rand() * TYPES.length)] ?? null,
          sensitivity: SENSITIVITIES[Math.floor(rand() * SENSITIVITIES.length)] ?? null,
          createdAt: Math.floor(rand() * 1000),
        },
        title: `doc-${d}.txt`,
      });
    }
  }
  return chunks;
}

function keeps(filter: SearchFilter, c: ChunkRecord): boolean {
  return (
    (!filter.types || filter.types.includes(c.filters.type ?? '')) &&
    (!filter.sensitivities || filter.sensitivities.includes(c.filters.sensitivity ?? '')) &&
    (filter.createdFrom === undefined || c.filters.createdAt >= filter.createdFrom) &&
    (filter.createdTo === undefined || c.filters.createdAt < filter.createdTo) &&
    (!filter.documentIds || filter.documentIds.includes(c.documentId)) &&
    !(filter.excludeDocumentIds ?? []).includes(c.documentId)
  );
}

const key = (c: { documentId: string; ordinal: number }): string => `${c.documentId}#${c.ordinal}`;
const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * (b[i] ?? 0), 0);

/** The exact top `k` of `chunks` that `filter` keeps. */
function exact(chunks: readonly ChunkRecord[], query: Float32Array, filter: SearchFilter, k: number): string[] {
  return chunks
    .filter((c) => keeps(filter, c))
    .map((c) => ({ key: key(c), score: dot(c.vector, query) }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k)
    .map((e) => e.key);
}

function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'quire-graph-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

async function upsertAll(index: SqliteSearchIndex, chunks: readonly ChunkRecord[]): Promise<void> {
  for (let i = 0; i < chunks.length; i += 200) await index.upsertChunks(TEAM, chunks.slice(i, i + 200));
}

/** Each chunk is the top hit of a query with its own vector. */
async function assertFindable(index: SqliteSearchIndex, chunks: readonly ChunkRecord[]): Promise<void> {
  for (const c of chunks) {
    const [hit] = await index.search(TEAM, { mode: SearchMode.Vector, vector: c.vector, k: 1 });
    assert.equal(hit && key(hit), key(c));
  }
}

describe('SqliteSearchIndex vector graphs', () => {
  test('filtered queries through the graph keep only matching chunks and find the true top k', async () => {
    const { dir, remove } = tempDir();
    const rand = random(11);
    const index = new SqliteSearchIndex({ filename: join(dir, 'quire.db'), vectors: { exactMax: 100 } });
    try {
      await index.start();
      await index.ensureModel(MODEL);
      const chunks = corpus(rand, 30, 100);
      await upsertAll(index, chunks);
      await index.upsertChunks({ teamId: 'other' }, corpus(rand, 2, 100));
      const filters: SearchFilter[] = [
        {},
        { types: ['invoice'] },
        { types: ['memo', 'contract'], sensitivities: ['PUBLIC'] },
        { createdFrom: 100, createdTo: 400 },
        { documentIds: ['doc-3', 'doc-7'] },
        // One document, 100 chunks: at most exactMax, so compared exactly.
        { documentIds: ['doc-5'], types: ['memo'] },
        { excludeDocumentIds: Array.from({ length: 20 }, (_, i) => `doc-${i}`) },
      ];
      for (const filter of filters) {
        let found = 0;
        let wanted = 0;
        for (let q = 0; q < 20; q++) {
          const query = vector(rand);
          const expected = exact(chunks, query, filter, 10);
          const hits = await index.search(TEAM, { mode: SearchMode.Vector, vector: query, filter, k: 10 });
          const byKey = new Map(chunks.map((c) => [key(c), c]));
          for (const h of hits) assert.ok(keeps(filter, byKey.get(key(h))!), `${key(h)} breaks ${JSON.stringify(filter)}`);
          assert.equal(hits.length, expected.length, JSON.stringify(filter));
          found += hits.filter((h) => expected.includes(key(h))).length;
          wanted += expected.length;
          if (filter.documentIds?.length === 1) assert.deepEqual(hits.map(key), expected);
        }
        assert.ok(found / wanted >= 0.95, `recall@10 ${found / wanted} for ${JSON.stringify(filter)}`);
      }
    } finally {
      await index.close();
      remove();
    }
  });

  test('text and hybrid lists checked against the team in memory equal those the SQL join checks', async () => {
    const { dir, remove } = tempDir();
    const filename = join(dir, 'quire.db');
    const rand = random(17);
    const words = 'invoice payment late penalty supplier contract renewal notice order delivery receipt refund'.split(' ');
    const withText = (chunks: ChunkRecord[]): ChunkRecord[] =>
      chunks.map((c) => ({
        ...c,
        text: Array.from({ length: 6 + Math.floor(rand() * 8) }, () => words[Math.floor(rand() * words.length)]).join(' '),
      }));
    const inMemory = new SqliteSearchIndex({ filename, vectors: { exactMax: 100 } });
    const joined = new SqliteSearchIndex({ filename, vectors: { exactMax: Number.MAX_SAFE_INTEGER } });
    // Hybrid text lists that need half the terms (counted), not all of them (an AND).
    const half = { minTermShare: 0.5 };
    const inMemoryHalf = new SqliteSearchIndex({ filename, vectors: { exactMax: 100 }, hybrid: half });
    const joinedHalf = new SqliteSearchIndex({ filename, vectors: { exactMax: Number.MAX_SAFE_INTEGER }, hybrid: half });
    const pairs = [
      [inMemory, joined],
      [inMemoryHalf, joinedHalf],
    ] as const;
    try {
      for (const index of [inMemory, joined, inMemoryHalf, joinedHalf]) await index.start();
      await inMemory.ensureModel(MODEL);
      await upsertAll(inMemory, withText(corpus(rand, 8, 100)));
      // Another team with the same words: never in this team's lists.
      await inMemory.upsertChunks({ teamId: 'other' }, withText(corpus(rand, 2, 100)));
      const filters: SearchFilter[] = [
        {},
        { types: ['invoice'] },
        { createdFrom: 200, createdTo: 700 },
        { excludeDocumentIds: ['doc-1', 'doc-2'] },
      ];
      const queries = [
        'late payment',
        'invoice',
        '"supplier contract" renewal',
        'refund receipt order',
        'deliv*',
        'notice penalty invoice',
        'refund quokka zebra',
      ];
      for (const filter of filters) {
        for (const text of queries) {
          for (const [mode, [left, right]] of [
            [SearchMode.Text, pairs[0]],
            [SearchMode.Hybrid, pairs[0]],
            [SearchMode.Hybrid, pairs[1]],
          ] as const) {
            const query = { mode, text, vector: vector(rand), filter, k: 20 };
            const a = await left.search(TEAM, query);
            const b = await right.search(TEAM, query);
            assert.ok(a.length > 0 || b.length === 0);
            assert.deepEqual(a.map(key), b.map(key), `${mode} ${text} ${JSON.stringify(filter)}`);
            assert.deepEqual(
              a.map((h) => h.scores.text),
              b.map((h) => h.scores.text),
            );
            a.forEach((h, i) => assert.ok(Math.abs((h.scores.vector ?? 0) - (b[i]!.scores.vector ?? 0)) < 1e-5));
          }
        }
      }
    } finally {
      for (const index of [inMemory, joined, inMemoryHalf, joinedHalf]) await index.close();
      remove();
    }
  });

  test('closing saves the graph; a reopened index loads it and applies the writes made since', async () => {
    const { dir, remove } = tempDir();
    const filename = join(dir, 'quire.db');
    const rand = random(5);
    const chunks = corpus(rand, 5, 100);
    try {
      const first = new SqliteSearchIndex({ filename, vectors: { exactMax: 100 } });
      await first.start();
      await first.ensureModel(MODEL);
      await upsertAll(first, chunks);
      await first.close();
      assert.deepEqual(readdirSync(`${filename}.vectors`).filter((f) => f.endsWith('.hnsw')).length, 1, 'one snapshot of the team');
      const db = new Database(filename);
      assert.equal((db.prepare('SELECT count(*) AS n FROM search_changes').get() as { n: number }).n, 0, 'the log is dropped once saved');
      db.close();

      const second = new SqliteSearchIndex({ filename, vectors: { exactMax: 100 } });
      await second.start();
      const later = corpus(rand, 1, 50, 5);
      await second.upsertChunks(TEAM, later);
      await second.deleteDocument(TEAM, 'doc-0');
      const kept = [...chunks.filter((c) => c.documentId !== 'doc-0'), ...later];
      await assertFindable(second, kept);
      assert.equal(await second.count(TEAM), kept.length);
      const gone = await second.search(TEAM, { mode: SearchMode.Vector, vector: chunks[0]!.vector, k: 400 });
      assert.equal(gone.length, 400, 'deleted chunks take no place in the list');
      assert.ok(!gone.some((h) => h.documentId === 'doc-0'), 'a deleted document is never found');
      await second.close();
    } finally {
      remove();
    }
  });

  test('deleted chunks leave the graph as new ones take their places, also under reused chunk ids', async () => {
    const { dir, remove } = tempDir();
    const rand = random(21);
    const index = new SqliteSearchIndex({ filename: join(dir, 'quire.db'), vectors: { exactMax: 100 } });
    try {
      await index.start();
      await index.ensureModel(MODEL);
      let live = corpus(rand, 3, 100);
      await upsertAll(index, live);
      for (let round = 0; round < 4; round++) {
        // The newest document goes (SQLite may hand its ids out again), and an older one.
        const newest = live.at(-1)!.documentId;
        const older = live[0]!.documentId;
        await index.deleteDocument(TEAM, newest);
        await index.deleteDocument(TEAM, older);
        live = live.filter((c) => c.documentId !== newest && c.documentId !== older);
        const added = [...corpus(rand, 1, 100, 10 + round * 2), ...corpus(rand, 1, 60, 11 + round * 2)];
        await upsertAll(index, added);
        live = [...live, ...added];
        await assertFindable(index, live);
        assert.equal(await index.count(TEAM), live.length);
        const all = await index.search(TEAM, { mode: SearchMode.Vector, vector: live[0]!.vector, k: live.length });
        assert.deepEqual(all.map(key).sort(), live.map(key).sort(), `round ${round}: exactly the live chunks`);
      }
    } finally {
      await index.close();
      remove();
    }
  });

  test('two indexes sharing a file see each other’s writes, also after one saved and dropped the log', async () => {
    const { dir, remove } = tempDir();
    const filename = join(dir, 'quire.db');
    const rand = random(9);
    const a = new SqliteSearchIndex({ filename, vectors: { exactMax: 100 } });
    const b = new SqliteSearchIndex({ filename, vectors: { exactMax: 100 } });
    try {
      await a.start();
      await b.start();
      await a.ensureModel(MODEL);
      const first = corpus(rand, 3, 100);
      await upsertAll(a, first);
      await assertFindable(b, first);
      const second = corpus(rand, 1, 100, 3);
      await upsertAll(a, second);
      await a.deleteDocument(TEAM, 'doc-0');
      await a.close();
      const db = new Database(filename);
      assert.equal(
        (db.prepare('SELECT count(*) AS n FROM search_changes').get() as { n: number }).n,
        0,
        'a saved the graph and dropped the log',
      );
      db.close();
      const kept = [...first.filter((c) => c.documentId !== 'doc-0'), ...second];
      await assertFindable(b, kept);
      const all = await b.search(TEAM, { mode: SearchMode.Vector, vector: first[0]!.vector, k: 300 });
      assert.equal(all.length, 300);
      assert.ok(!all.some((h) => h.documentId === 'doc-0'));
    } finally {
      await b.close();
      remove();
    }
  });

  test('a writer killed with SIGKILL loses no chunk it wrote, and an unreadable snapshot is rebuilt', { timeout: 60_000 }, async () => {
    const { dir, remove } = tempDir();
    const filename = join(dir, 'quire.db');
    try {
      // The writer saves a snapshot of 400 chunks, then writes 150 more and deletes one
      // document, and is killed without closing.
      const module = fileURLToPath(new URL('./search-index.sqlite.ts', import.meta.url));
      const script = `
        const { SqliteSearchIndex } = await import(${JSON.stringify(module)});
        const { corpus, upsert } = ${writerHelpers};
        const options = { filename: ${JSON.stringify(filename)}, vectors: { exactMax: 100 } };
        let index = new SqliteSearchIndex(options);
        await index.start();
        await index.ensureModel(${JSON.stringify(MODEL)});
        await upsert(index, corpus(0, 4));
        await index.close();
        index = new SqliteSearchIndex(options);
        await index.start();
        await upsert(index, corpus(4, 1.5));
        await index.deleteDocument(${JSON.stringify(TEAM)}, 'doc-1');
        process.stdout.write('written\\n');
        setInterval(() => {}, 1000);
      `;
      const writer = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let output = '';
      writer.stdout.on('data', (b: Buffer) => (output += b.toString()));
      while (!output.includes('written')) {
        if (writer.exitCode !== null) assert.fail(`the writer exited with ${writer.exitCode}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      writer.kill('SIGKILL');
      if (writer.exitCode === null && writer.signalCode === null) await once(writer, 'exit');

      const expected = new Function(`return ${writerHelpers}`)() as WriterHelpers;
      const all = [...expected.corpus(0, 4), ...expected.corpus(4, 1.5)].filter((c) => c.documentId !== 'doc-1');
      const reopened = new SqliteSearchIndex({ filename, vectors: { exactMax: 100 } });
      await reopened.start();
      await assertFindable(reopened, all);
      assert.equal(await reopened.count(TEAM), all.length);
      await reopened.close();

      // A snapshot cut short (a disk error, a copy interrupted) is rebuilt from the tables.
      const [snapshot] = readdirSync(`${filename}.vectors`).filter((f) => f.endsWith('.hnsw'));
      truncateSync(join(`${filename}.vectors`, snapshot!), 100);
      const rebuilt = new SqliteSearchIndex({ filename, vectors: { exactMax: 100 } });
      await rebuilt.start();
      await assertFindable(rebuilt, all);
      await rebuilt.close();
    } finally {
      remove();
    }
  });

  test('a file written with vectors in sqlite-vec (schema 1) is migrated without losing a vector', async () => {
    const { dir, remove } = tempDir();
    const filename = join(dir, 'quire.db');
    try {
      const db = new Database(filename);
      sqliteVec.load(db);
      db.exec(`
        CREATE TABLE search_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
        INSERT INTO search_meta VALUES ('schema_version', '1'), ('model_id', 'test/graph'), ('dimension', '${DIM}');
        CREATE TABLE search_teams (team_key INTEGER PRIMARY KEY, team_id TEXT NOT NULL UNIQUE) STRICT;
        INSERT INTO search_teams VALUES (1, '${TEAM.teamId}');
        CREATE TABLE search_chunks (id INTEGER PRIMARY KEY, team_key INTEGER NOT NULL, document_id TEXT NOT NULL,
          ordinal INTEGER NOT NULL, page INTEGER NOT NULL, boxes TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL,
          doc_type TEXT, sensitivity TEXT, created_at INTEGER NOT NULL, UNIQUE (team_key, document_id, ordinal)) STRICT;
        CREATE VIRTUAL TABLE search_fts USING fts5(team_key, title, body, content = 'search_chunks', content_rowid = 'id',
          tokenize = 'porter unicode61 remove_diacritics 2');
        CREATE VIRTUAL TABLE search_vec USING vec0(id INTEGER PRIMARY KEY, team_key INTEGER PARTITION KEY,
          embedding FLOAT[${DIM}] distance_metric=cosine, document_id TEXT, doc_type TEXT, sensitivity TEXT, created_at INTEGER);
      `);
      const chunks = corpus(random(3), 2, 5);
      chunks.forEach((c, i) => {
        db.prepare(`INSERT INTO search_chunks VALUES (?, 1, ?, ?, 1, '[]', ?, ?, ?, ?, ?)`).run(
          i + 1,
          c.documentId,
          c.ordinal,
          c.title,
          c.text,
          c.filters.type,
          c.filters.sensitivity,
          c.filters.createdAt,
        );
        db.prepare("INSERT INTO search_fts (rowid, team_key, title, body) VALUES (?, '1', ?, ?)").run(i + 1, c.title, c.text);
        db.prepare('INSERT INTO search_vec VALUES (?, 1, ?, ?, ?, ?, ?)').run(
          BigInt(i + 1),
          Buffer.from(c.vector.buffer),
          c.documentId,
          c.filters.type ?? '',
          c.filters.sensitivity ?? '',
          BigInt(c.filters.createdAt),
        );
      });
      db.close();

      const index = new SqliteSearchIndex({ filename });
      await index.start();
      await assertFindable(index, chunks);
      const text = await index.search(TEAM, { mode: SearchMode.Text, text: 'chunk' });
      assert.equal(text.length, chunks.length);
      await index.close();
    } finally {
      remove();
    }
  });
});

interface WriterHelpers {
  corpus(fromDocument: number, documents: number): ChunkRecord[];
  upsert(index: SqliteSearchIndex, chunks: ChunkRecord[]): Promise<void>;
}

/** Chunks the killed writer and the test both derive: 100 per document, vectors from the position. */
const writerHelpers = `({
  corpus(fromDocument, documents) {
    const out = [];
    for (let n = fromDocument * 100; n < (fromDocument + documents) * 100; n++) {
      const v = Float32Array.from({ length: ${DIM} }, (_, i) => Math.sin(n * 7.13 + i * 1.91) + Math.cos(n * 0.37 * (i + 1)));
      const norm = Math.hypot(...v);
      out.push({ documentId: 'doc-' + Math.floor(n / 100), ordinal: n % 100, text: 'chunk ' + n, page: 1, boxes: [],
        vector: v.map((x) => x / norm), filters: { type: null, sensitivity: null, createdAt: n }, title: 't' });
    }
    return out;
  },
  async upsert(index, chunks) {
    for (let i = 0; i < chunks.length; i += 50) await index.upsertChunks(${JSON.stringify(TEAM)}, chunks.slice(i, i + 50));
  },
})`;
