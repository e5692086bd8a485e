import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { InternalError, MismatchError, type TeamScope, ValidationError } from '@quire/kernel';
import { defineSearchIndexContract } from '../contract.ts';
import { SearchMode } from '../search-index.ts';
import type { ChunkRecord, SearchFilter } from '../search-index.ts';
import { SEARCH_SCHEMA_VERSION, SqliteSearchIndex } from './search-index.sqlite.ts';

function tempDir(): { dir: string; remove: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'quire-search-'));
  return { dir, remove: async () => rmSync(dir, { recursive: true, force: true }) };
}

defineSearchIndexContract('SqliteSearchIndex on its own connection', async () => {
  const { dir, remove } = tempDir();
  return { index: new SqliteSearchIndex({ filename: join(dir, 'quire.db') }), cleanup: remove };
});

defineSearchIndexContract('SqliteSearchIndex on a shared connection', async () => {
  const { dir, remove } = tempDir();
  const db = new Database(join(dir, 'quire.db'));
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE documents (id TEXT PRIMARY KEY, title TEXT NOT NULL)');
  return {
    index: new SqliteSearchIndex({ db }),
    cleanup: async () => {
      db.close();
      await remove();
    },
  };
});

const MODEL = { modelId: 'test/minilm', dimension: 4 };
const TEAM: TeamScope = { teamId: 'team-1' };

function unit(values: number[]): Float32Array {
  const norm = Math.hypot(...values);
  return Float32Array.from(values, (x) => x / norm);
}

function chunk(
  documentId: string,
  ordinal: number,
  text: string,
  vector: Float32Array,
  filters?: Partial<ChunkRecord['filters']>,
): ChunkRecord {
  return {
    documentId,
    ordinal,
    text,
    page: 1,
    boxes: [],
    vector,
    filters: { type: null, sensitivity: null, createdAt: 0, ...filters },
    title: `${documentId}.txt`,
  };
}

/** A deterministic pseudo-random sequence, so a failing case can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('SqliteSearchIndex', () => {
  test('data and the recorded model survive reopening the file', async () => {
    const { dir, remove } = tempDir();
    const filename = join(dir, 'quire.db');
    try {
      const first = new SqliteSearchIndex({ filename });
      await first.start();
      await first.ensureModel(MODEL);
      await first.upsertChunks(TEAM, [
        chunk('doc', 0, 'persisted invoice text', unit([1, 0, 0, 0]), { type: 'invoice' }),
        chunk('doc', 1, 'second chunk', unit([0, 1, 0, 0])),
      ]);
      await first.close();

      const second = new SqliteSearchIndex({ filename });
      await second.start();
      assert.equal(await second.count(TEAM), 2);
      const text = await second.search(TEAM, { mode: SearchMode.Text, text: 'invoices', filter: { types: ['invoice'] } });
      assert.deepEqual(
        text.map((h) => h.ordinal),
        [0],
      );
      const vector = await second.search(TEAM, { mode: SearchMode.Vector, vector: unit([0, 1, 0, 0]), k: 1 });
      assert.equal(vector[0]?.ordinal, 1);
      // The recorded model is known without calling ensureModel again.
      await second.upsertChunks(TEAM, [chunk('doc', 2, 'third', unit([0, 0, 1, 0]))]);
      await assert.rejects(second.ensureModel({ modelId: 'other/model', dimension: 4 }), MismatchError);
      await second.ensureModel(MODEL);
      await second.close();
    } finally {
      await remove();
    }
  });

  test('shares its file with the store tables and leaves a shared connection open', async () => {
    const { dir, remove } = tempDir();
    const filename = join(dir, 'quire.db');
    const store = new Database(filename);
    try {
      store.pragma('journal_mode = WAL');
      store.exec('CREATE TABLE documents (id TEXT PRIMARY KEY, title TEXT NOT NULL)');
      store.prepare('INSERT INTO documents VALUES (?, ?)').run('doc', 'Lease.pdf');

      const own = new SqliteSearchIndex({ filename });
      await own.start();
      await own.ensureModel(MODEL);
      await own.upsertChunks(TEAM, [chunk('doc', 0, 'lease agreement', unit([1, 1, 0, 0]))]);
      // The store keeps writing while the index holds its own connection.
      store.prepare('INSERT INTO documents VALUES (?, ?)').run('doc-2', 'Memo.pdf');
      await own.upsertChunks(TEAM, [chunk('doc-2', 0, 'memo about the lease', unit([1, 0, 0, 0]))]);
      await own.close();

      const shared = new SqliteSearchIndex({ db: store });
      await shared.start();
      assert.equal(await shared.count(TEAM), 2);
      const hits = await shared.search(TEAM, { mode: SearchMode.Hybrid, text: 'lease agreement', vector: unit([1, 1, 0, 0]) });
      assert.equal(hits[0]?.documentId, 'doc');
      await shared.close();

      assert.ok(store.open, 'a shared connection is not closed by the index');
      assert.equal((store.prepare('SELECT count(*) AS n FROM documents').get() as { n: number }).n, 2);
      const tables = store
        .prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') AND name NOT LIKE 'sqlite_%'")
        .all() as Array<{
        name: string;
      }>;
      const foreign = tables.map((t) => t.name).filter((name) => name !== 'documents' && !name.startsWith('search_'));
      assert.deepEqual(foreign, [], 'every table of the index is prefixed search_');
      await assert.rejects(shared.count(TEAM), InternalError, 'unusable after close');
    } finally {
      store.close();
      await remove();
    }
  });

  test('two connections on one file agree on teams and see each other’s writes', async () => {
    const { dir, remove } = tempDir();
    const filename = join(dir, 'quire.db');
    const a = new SqliteSearchIndex({ filename });
    const b = new SqliteSearchIndex({ filename });
    try {
      await a.start();
      await b.start();
      await a.ensureModel(MODEL);
      await a.upsertChunks({ teamId: 'x' }, [chunk('dx', 0, 'alpha', unit([1, 0, 0, 0]))]);
      await b.upsertChunks({ teamId: 'y' }, [chunk('dy', 0, 'alpha', unit([1, 0, 0, 0]))]);
      for (const index of [a, b]) {
        const x = await index.search({ teamId: 'x' }, { mode: SearchMode.Hybrid, text: 'alpha', vector: unit([1, 0, 0, 0]) });
        const y = await index.search({ teamId: 'y' }, { mode: SearchMode.Hybrid, text: 'alpha', vector: unit([1, 0, 0, 0]) });
        assert.deepEqual(
          x.map((h) => h.documentId),
          ['dx'],
        );
        assert.deepEqual(
          y.map((h) => h.documentId),
          ['dy'],
        );
      }
      await assert.rejects(b.ensureModel({ modelId: MODEL.modelId, dimension: 8 }), MismatchError);
    } finally {
      await a.close();
      await b.close();
      await remove();
    }
  });

  test('records its schema version and refuses a newer one', async () => {
    const { dir, remove } = tempDir();
    const filename = join(dir, 'quire.db');
    try {
      const index = new SqliteSearchIndex({ filename });
      await index.start();
      await index.close();
      const db = new Database(filename);
      assert.equal(
        (db.prepare("SELECT value FROM search_meta WHERE key = 'schema_version'").get() as { value: string }).value,
        String(SEARCH_SCHEMA_VERSION),
      );
      db.prepare("UPDATE search_meta SET value = '99' WHERE key = 'schema_version'").run();
      db.close();
      await assert.rejects(new SqliteSearchIndex({ filename }).start(), (err: unknown) => {
        assert.ok(err instanceof MismatchError);
        assert.equal(err.code, 'SEARCH_SCHEMA_TOO_NEW');
        return true;
      });
    } finally {
      await remove();
    }
  });

  test('refuses to index before a model is recorded, but can be searched', async () => {
    const { dir, remove } = tempDir();
    const index = new SqliteSearchIndex({ filename: join(dir, 'quire.db') });
    try {
      await assert.rejects(index.count(TEAM), InternalError, 'not started');
      await index.start();
      await assert.rejects(index.upsertChunks(TEAM, [chunk('d', 0, 'text', unit([1, 0, 0, 0]))]), (err: unknown) => {
        assert.ok(err instanceof ValidationError);
        assert.equal(err.code, 'EMBEDDING_MODEL_NOT_RECORDED');
        return true;
      });
      assert.deepEqual(await index.search(TEAM, { mode: SearchMode.Text, text: 'text' }), []);
      assert.deepEqual(await index.search(TEAM, { mode: SearchMode.Vector, vector: unit([1, 0, 0, 0]) }), []);
    } finally {
      await index.close();
      await remove();
    }
  });

  test('filtered k-NN returns exactly the nearest matching chunks, including past vec0’s k ceiling', async () => {
    const { dir, remove } = tempDir();
    const index = new SqliteSearchIndex({ filename: join(dir, 'quire.db') });
    const rand = random(42);
    const types = ['invoice', 'memo', 'contract', null];
    const sensitivities = ['PUBLIC', 'INTERNAL', null];
    const stored: ChunkRecord[] = [];
    try {
      await index.start();
      await index.ensureModel(MODEL);
      // 4,400 chunks in 44 documents: excluding most of them pushes k + excluded past 4096.
      for (let d = 0; d < 44; d++) {
        const batch: ChunkRecord[] = [];
        for (let o = 0; o < 100; o++) {
          batch.push(
            chunk(`doc-${d}`, o, `chunk ${d}/${o}`, unit([rand() - 0.5, rand() - 0.5, rand() - 0.5, rand() - 0.5]), {
              type: types[Math.floor(rand() * types.length)] ?? null,
              sensitivity: sensitivities[Math.floor(rand() * sensitivities.length)] ?? null,
              createdAt: Math.floor(rand() * 1000),
            }),
          );
        }
        await index.upsertChunks(TEAM, batch);
        stored.push(...batch);
      }
      await index.upsertChunks({ teamId: 'noise' }, [chunk('doc-0', 0, 'other team', unit([1, 0, 0, 0]))]);

      const docs = (n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => `doc-${from + i}`);
      const filters: SearchFilter[] = [
        {},
        { types: ['invoice'] },
        { types: ['memo', 'contract'], sensitivities: ['PUBLIC'] },
        { createdFrom: 100, createdTo: 130 },
        { documentIds: ['doc-3', 'doc-7'] },
        { excludeDocumentIds: docs(5) },
        { types: ['contract'], excludeDocumentIds: docs(20), createdFrom: 500 },
        { excludeDocumentIds: docs(42) },
        { excludeDocumentIds: docs(43), sensitivities: ['INTERNAL'] },
      ];
      const cosine = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * (b[i] ?? 0), 0);
      for (const [i, filter] of filters.entries()) {
        const query = unit([rand() - 0.5, rand() - 0.5, rand() - 0.5, rand() - 0.5]);
        const k = i % 2 === 0 ? 10 : 37;
        const expected = stored
          .filter(
            (c) =>
              (!filter.types || filter.types.includes(c.filters.type ?? '')) &&
              (!filter.sensitivities || filter.sensitivities.includes(c.filters.sensitivity ?? '')) &&
              (filter.createdFrom === undefined || c.filters.createdAt >= filter.createdFrom) &&
              (filter.createdTo === undefined || c.filters.createdAt < filter.createdTo) &&
              (!filter.documentIds || filter.documentIds.includes(c.documentId)) &&
              !(filter.excludeDocumentIds ?? []).includes(c.documentId),
          )
          .map((c) => ({ key: `${c.documentId}#${c.ordinal}`, score: cosine(c.vector, query) }))
          .sort((a, b) => b.score - a.score)
          .slice(0, k);
        const hits = await index.search(TEAM, { mode: SearchMode.Vector, vector: query, filter, k });
        assert.deepEqual(
          hits.map((h) => `${h.documentId}#${h.ordinal}`),
          expected.map((e) => e.key),
          JSON.stringify(filter),
        );
        hits.forEach((h, j) => assert.ok(Math.abs((h.scores.vector ?? 0) - expected[j]!.score) < 1e-5));
      }
    } finally {
      await index.close();
      await remove();
    }
  });

  test('an exact phrase outranks a chunk with a higher BM25 score', async () => {
    const { dir, remove } = tempDir();
    const index = new SqliteSearchIndex({ filename: join(dir, 'quire.db') });
    try {
      await index.start();
      await index.ensureModel(MODEL);
      await index.upsertChunks(TEAM, [
        chunk('dense', 0, 'payment is due; terms apply; payment plan; terms listed; payment schedule; terms', unit([1, 0, 0, 0])),
        chunk(
          'phrase',
          0,
          'The agreed payment terms of the long and winding supplier contract are attached below for review by the board.',
          unit([0, 1, 0, 0]),
        ),
        ...['weather report', 'menu of the week', 'parking rules', 'holiday calendar', 'fire drill'].map((text, i) =>
          chunk(`filler-${i}`, 0, text, unit([0, 0, 1, 0])),
        ),
      ]);
      const hits = await index.search(TEAM, { mode: SearchMode.Text, text: 'payment terms' });
      assert.deepEqual(
        hits.map((h) => h.documentId),
        ['phrase', 'dense'],
      );
      assert.ok((hits[0]?.scores.text ?? 0) < (hits[1]?.scores.text ?? 0), 'BM25 alone would have put "dense" first');
    } finally {
      await index.close();
      await remove();
    }
  });
});
