/**
 * The one behavioural suite every SearchIndex adapter passes. An adapter's test file calls
 * {@link defineSearchIndexContract} with a factory for fresh, empty indexes; an adapter
 * whose server is not reachable returns `{ skip }` and the suite shows one skipped test
 * with the reason instead of passing silently.
 *
 * The vectors are small unit vectors built here: the index is model-agnostic, so angles in
 * eight dimensions exercise the same code as 384-dimensional embeddings.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MismatchError, type TeamScope, ValidationError } from '@quire/kernel';
import { HYBRID_VECTOR_WEIGHT } from './ranked-search.ts';
import { MAX_K, RRF_K, SearchMode } from './search-index.ts';
import type { ChunkRecord, IndexedModel, SearchFilter, SearchHit, SearchIndex, SearchQuery } from './search-index.ts';

/** A fresh, empty, not yet started index and how to dispose of what it created. */
export interface SearchIndexFixture {
  index: SearchIndex;
  /** Called after `index.close()`: remove files, drop the server-side index. */
  cleanup(): Promise<void>;
}

/** Builds one fixture per test, or says why the adapter cannot be tested here. */
export type SearchIndexFactory = () => Promise<SearchIndexFixture> | { skip: string };

const DIM = 8;
const MODEL: IndexedModel = { modelId: 'contract/unit-vectors', dimension: DIM };
const TEAM_A: TeamScope = { teamId: 'team-a' };
const TEAM_B: TeamScope = { teamId: 'team-b' };
const T0 = Date.UTC(2024, 0, 1);

/** The unit vector at `angle` radians from axis 0 towards `towards`. */
function angled(angle: number, towards = 1): Float32Array {
  const v = new Float32Array(DIM);
  v[0] = Math.cos(angle);
  v[towards] = (v[towards] ?? 0) + Math.sin(angle);
  return v;
}

/** The unit vector along `axis`. */
function axis(n: number): Float32Array {
  const v = new Float32Array(DIM);
  v[n] = 1;
  return v;
}

function chunk(overrides: Partial<ChunkRecord> & { documentId: string }): ChunkRecord {
  return {
    ordinal: 0,
    text: 'placeholder text',
    page: 1,
    boxes: [{ x: 10, y: 20, w: 300, h: 40 }],
    vector: axis(0),
    filters: { type: null, sensitivity: null, createdAt: T0 },
    title: `${overrides.documentId}.pdf`,
    ...overrides,
  };
}

function ids(hits: readonly SearchHit[]): string[] {
  return hits.map((h) => h.documentId);
}

function sorted(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

/** Ranks run 1..n and every hit carries the score of each list that ranked it. */
function assertWellFormed(hits: readonly SearchHit[], mode: SearchMode): void {
  hits.forEach((h, i) => {
    assert.equal(h.rank, i + 1);
    if (mode === SearchMode.Text) assert.equal(typeof h.scores.text, 'number');
    if (mode === SearchMode.Vector) assert.equal(typeof h.scores.vector, 'number');
    if (mode === SearchMode.Hybrid) assert.equal(typeof h.scores.hybrid, 'number');
    for (const hl of h.highlights) {
      assert.ok(hl.start >= 0 && hl.end <= h.snippet.length && hl.start < hl.end, `highlight ${hl.start}-${hl.end} inside snippet`);
    }
  });
}

async function search(index: SearchIndex, scope: TeamScope, query: SearchQuery): Promise<SearchHit[]> {
  const hits = await index.search(scope, query);
  assertWellFormed(hits, query.mode);
  return hits;
}

const MODES = [SearchMode.Text, SearchMode.Vector, SearchMode.Hybrid] as const;

/** The same question in each mode: `text` for the BM25 list, `vector` for the k-NN list. */
function inMode(mode: SearchMode, text: string, vector: Float32Array, extra: Partial<SearchQuery> = {}): SearchQuery {
  switch (mode) {
    case SearchMode.Text:
      return { mode, text, ...extra };
    case SearchMode.Vector:
      return { mode, vector, ...extra };
    case SearchMode.Hybrid:
      return { mode, text, vector, ...extra };
  }
}

/**
 * Registers the contract suite under `name`. `make` is called once per test for a fresh
 * index (and once up front to learn whether the adapter can run here at all).
 */
export function defineSearchIndexContract(name: string, make: SearchIndexFactory): void {
  const first = make();
  if ('skip' in first) {
    test(`${name}: SearchIndex contract`, { skip: `skipped: ${first.skip}` }, () => {});
    return;
  }
  // The probe's fixture serves the first test; if no test runs it is still disposed of.
  let pending: Promise<SearchIndexFixture> | null = first;
  pending.catch(() => {});
  after(async () => {
    if (pending) {
      const fixture = await pending.catch(() => null);
      pending = null;
      await fixture?.cleanup();
    }
  });

  async function nextFixture(): Promise<SearchIndexFixture> {
    if (pending) {
      const p = pending;
      pending = null;
      return p;
    }
    const made = make();
    if ('skip' in made) throw new Error(`the factory stopped working mid-suite: ${made.skip}`);
    return made;
  }

  async function withIndex(fn: (index: SearchIndex) => Promise<void>): Promise<void> {
    const { index, cleanup } = await nextFixture();
    try {
      await index.start();
      await index.ensureModel(MODEL);
      await fn(index);
    } finally {
      try {
        await index.close();
      } finally {
        await cleanup();
      }
    }
  }

  describe(`${name}: SearchIndex contract`, () => {
    test('declares hybrid support and a dimension ceiling', async () => {
      await withIndex(async (index) => {
        assert.equal(typeof index.capabilities.hybrid, 'boolean');
        assert.ok(index.capabilities.maxDimension >= 384);
      });
    });

    test('records the embedding model and refuses another model or dimension', async () => {
      await withIndex(async (index) => {
        await index.ensureModel(MODEL);
        const other = { modelId: 'other/model', dimension: DIM };
        await assert.rejects(index.ensureModel(other), (err: unknown) => {
          assert.ok(err instanceof MismatchError);
          assert.equal(err.code, 'EMBEDDING_MODEL_MISMATCH');
          assert.match(err.message, /contract\/unit-vectors/);
          assert.match(err.message, /other\/model/);
          return true;
        });
        await assert.rejects(index.ensureModel({ modelId: MODEL.modelId, dimension: DIM * 2 }), (err: unknown) => {
          assert.ok(err instanceof MismatchError);
          assert.equal(err.code, 'EMBEDDING_MODEL_MISMATCH');
          return true;
        });
        const wrongLength = new Float32Array(DIM * 2).fill(0.25);
        await assert.rejects(index.upsertChunks(TEAM_A, [chunk({ documentId: 'd', vector: wrongLength })]), ValidationError);
        await assert.rejects(index.search(TEAM_A, { mode: SearchMode.Vector, vector: wrongLength }), ValidationError);
        await assert.rejects(
          index.upsertChunks(TEAM_A, [chunk({ documentId: 'd', vector: new Float32Array(DIM) })]),
          ValidationError,
          'a zero vector has no direction to rank by',
        );
        assert.equal(await index.count(TEAM_A), 0);
      });
    });

    test('keeps teams apart in every mode, even for an exact phrase or an identical vector', async () => {
      await withIndex(async (index) => {
        const phrase = 'quarterly kangaroo audit for the harbour office';
        await index.upsertChunks(TEAM_A, [
          chunk({
            documentId: 'shared-id',
            text: `Summary: ${phrase}.`,
            vector: axis(2),
            filters: { type: 'audit', sensitivity: 'SECRET', createdAt: T0 },
          }),
          chunk({ documentId: 'a-only', text: 'kangaroo audit appendix', vector: axis(3) }),
        ]);
        await index.upsertChunks(TEAM_B, [chunk({ documentId: 'b-doc', text: 'garden hose inventory', vector: axis(5) })]);

        for (const mode of MODES) {
          const hits = await search(index, TEAM_B, inMode(mode, phrase, axis(2), { k: 50 }));
          assert.ok(!ids(hits).includes('shared-id') && !ids(hits).includes('a-only'), `${mode}: team B sees team A`);
          const filtered = await search(index, TEAM_B, inMode(mode, phrase, axis(2), { filter: { documentIds: ['shared-id', 'a-only'] } }));
          assert.deepEqual(filtered, [], `${mode}: naming team A's documents in a filter`);
          const stranger = await search(index, { teamId: 'team-c' }, inMode(mode, phrase, axis(2)));
          assert.deepEqual(stranger, [], `${mode}: a team with no chunks`);
          const own = await search(index, TEAM_A, inMode(mode, phrase, axis(2)));
          assert.equal(own[0]?.documentId, 'shared-id', `${mode}: team A finds its own`);
        }
        assert.equal(await index.count(TEAM_B), 1);
        assert.equal(await index.count({ teamId: 'team-c' }), 0);

        // Team A's chunks are nearer and better matches, yet team B still gets k of its own.
        await index.upsertChunks(
          TEAM_A,
          Array.from({ length: 12 }, (_, ordinal) =>
            chunk({ documentId: 'a-crowd', ordinal, text: `garden hose ${ordinal}`, vector: axis(5) }),
          ),
        );
        await index.upsertChunks(
          TEAM_B,
          Array.from({ length: 3 }, (_, ordinal) => chunk({ documentId: 'b-far', ordinal, text: 'hose', vector: angled(1.4, 5) })),
        );
        for (const mode of MODES) {
          const hits = await search(index, TEAM_B, inMode(mode, 'garden hose', axis(5), { k: 4 }));
          assert.deepEqual(sorted(ids(hits)), ['b-doc', 'b-far'], `${mode}: team B's own hits`);
          assert.equal(hits.length, 4, `${mode}: k hits from team B`);
        }
        await index.deleteDocument(TEAM_A, 'a-crowd');
        await index.deleteDocument(TEAM_B, 'b-far');

        // The same document id in team B is another document: writes there leave A's alone.
        await index.upsertChunks(TEAM_B, [chunk({ documentId: 'shared-id', text: 'team b version', vector: axis(5) })]);
        await index.updateFilters(TEAM_B, 'shared-id', { type: 'memo' });
        await index.truncateDocument(TEAM_B, 'shared-id', 0);
        await index.deleteDocument(TEAM_B, 'shared-id');
        await index.deleteDocument(TEAM_B, 'a-only');
        assert.equal(await index.count(TEAM_A, 'shared-id'), 1);
        assert.equal(await index.count(TEAM_A), 2);
        const stillAudit = await search(index, TEAM_A, { mode: SearchMode.Text, text: 'kangaroo', filter: { types: ['audit'] } });
        assert.deepEqual(ids(stillAudit), ['shared-id']);
      });
    });

    test('upserting the same chunk twice keeps one chunk with the new content', async () => {
      await withIndex(async (index) => {
        await index.upsertChunks(TEAM_A, [chunk({ documentId: 'doc', text: 'alpha original wording', vector: axis(1) })]);
        await index.upsertChunks(TEAM_A, [
          chunk({
            documentId: 'doc',
            text: 'beta replacement wording',
            vector: axis(3),
            page: 4,
            filters: { type: 'letter', sensitivity: null, createdAt: T0 },
          }),
        ]);
        assert.equal(await index.count(TEAM_A), 1);
        assert.deepEqual(await search(index, TEAM_A, { mode: SearchMode.Text, text: 'alpha original' }), []);
        const hits = await search(index, TEAM_A, { mode: SearchMode.Text, text: 'replacement' });
        assert.equal(hits.length, 1);
        assert.equal(hits[0]?.text, 'beta replacement wording');
        assert.equal(hits[0]?.page, 4);
        const byVector = await search(index, TEAM_A, { mode: SearchMode.Vector, vector: axis(3) });
        assert.equal(byVector.length, 1);
        assert.ok(Math.abs((byVector[0]?.scores.vector ?? 0) - 1) < 1e-5, 'the vector was replaced');
        assert.deepEqual(ids(await search(index, TEAM_A, { mode: SearchMode.Text, text: 'beta', filter: { types: ['letter'] } })), ['doc']);

        await index.upsertChunks(TEAM_A, [
          chunk({ documentId: 'doc', ordinal: 0, text: 'beta replacement wording' }),
          chunk({ documentId: 'doc', ordinal: 1, text: 'second chunk' }),
        ]);
        assert.equal(await index.count(TEAM_A, 'doc'), 2);
      });
    });

    test('returns provenance as indexed', async () => {
      await withIndex(async (index) => {
        const boxes = [
          { x: 1, y: 2, w: 3, h: 4 },
          { x: 5.5, y: 6, w: 7, h: 8 },
        ];
        await index.upsertChunks(TEAM_A, [
          chunk({ documentId: 'scan', ordinal: 7, page: 3, boxes, text: 'Provenance of the scanned receipt' }),
        ]);
        const [hit] = await search(index, TEAM_A, { mode: SearchMode.Text, text: 'receipt' });
        assert.ok(hit);
        assert.deepEqual(
          { documentId: hit.documentId, ordinal: hit.ordinal, page: hit.page, boxes: hit.boxes, text: hit.text },
          { documentId: 'scan', ordinal: 7, page: 3, boxes, text: 'Provenance of the scanned receipt' },
        );
      });
    });

    test('text mode ranks an exact phrase above chunks that only share its words', async () => {
      await withIndex(async (index) => {
        await index.upsertChunks(TEAM_A, [
          // Short and repetitive: BM25 alone ranks it above the longer chunk holding the phrase.
          chunk({ documentId: 'scattered', text: 'penalty: late; payment late; penalty payment; late penalty; payment' }),
          chunk({
            documentId: 'phrase',
            text: 'Please review the late payment penalty described in section four of the supplier agreement before the board meets on Friday.',
          }),
          chunk({ documentId: 'one-word', text: 'A penalty was waived.' }),
          ...['weather report', 'menu of the week', 'parking rules', 'holiday calendar', 'fire drill'].map((text, i) =>
            chunk({ documentId: `none-${i}`, text }),
          ),
        ]);
        const hits = await search(index, TEAM_A, { mode: SearchMode.Text, text: 'late payment penalty' });
        assert.equal(hits[0]?.documentId, 'phrase');
        assert.deepEqual(sorted(ids(hits)), ['one-word', 'phrase', 'scattered'], 'any shared word matches (OR)');
      });
    });

    test('text mode matches paraphrases, stems words and highlights them in the snippet', async () => {
      await withIndex(async (index) => {
        await index.upsertChunks(TEAM_A, [
          chunk({ documentId: 'inv', text: 'This invoice was settled by the café in March.' }),
          chunk({ documentId: 'other', text: 'Minutes of the board meeting.' }),
        ]);
        const paraphrase = await search(index, TEAM_A, {
          mode: SearchMode.Text,
          text: 'could you find the documents where unpaid invoices from the cafe were discussed',
        });
        assert.equal(paraphrase[0]?.documentId, 'inv');
        const [hit] = await search(index, TEAM_A, { mode: SearchMode.Text, text: 'invoices' });
        assert.ok(hit);
        const marked = hit.highlights.map((h) => hit.snippet.slice(h.start, h.end).toLowerCase());
        assert.deepEqual(marked, ['invoice']);
        const [accented] = await search(index, TEAM_A, { mode: SearchMode.Text, text: 'CAFE' });
        assert.deepEqual(
          accented?.highlights.map((h) => accented.snippet.slice(h.start, h.end)),
          ['café'],
          'case and diacritics fold',
        );
        const title = await search(index, TEAM_A, { mode: SearchMode.Text, text: 'inv.pdf' });
        assert.equal(title[0]?.documentId, 'inv', 'the title is searchable');
      });
    });

    test('a quoted phrase must appear word for word, and a word with * matches the words it begins', async () => {
      await withIndex(async (index) => {
        await index.upsertChunks(TEAM_A, [
          chunk({ documentId: 'exact', text: 'A late payment penalty applies to this invoice.', vector: angled(0.3) }),
          chunk({ documentId: 'scattered', text: 'Payment arrived late, so a penalty applies.', vector: angled(0) }),
          chunk({ documentId: 'invoicing', text: 'The invoicing schedule for suppliers.', vector: angled(0.6) }),
          chunk({ documentId: 'voice', text: 'A voice memo about the schedule.', vector: angled(0.9) }),
        ]);
        const text = async (q: string): Promise<string[]> =>
          ids(await search(index, TEAM_A, { mode: SearchMode.Text, text: q, k: 10 })).sort();
        assert.deepEqual(await text('late payment penalty'), ['exact', 'scattered'], 'without quotes the words may be apart');
        assert.deepEqual(await text('"late payment" penalty'), ['exact']);
        assert.deepEqual(await text('“arrived late”'), ['scattered'], 'typographic quotes too');
        assert.deepEqual(await text('"late payment" "voice memo"'), [], 'every quoted phrase must appear');
        assert.deepEqual(await text('"late payment'), ['exact', 'scattered'], 'an unpaired quote is a separator');
        assert.deepEqual(await text('invoic*'), ['exact', 'invoicing'], 'a prefix matches invoice and invoicing');
        assert.deepEqual(await text('sched*'), ['invoicing', 'voice']);
        assert.deepEqual(await text('voice sched*'), ['invoicing', 'voice'], 'words and prefixes are alternatives');
        assert.deepEqual(await text('s*'), [], 'a one-letter prefix is the word itself');
        const [hit] = await search(index, TEAM_A, { mode: SearchMode.Text, text: 'invoi* suppliers' });
        assert.deepEqual(
          hit?.highlights.map((h) => hit.snippet.slice(h.start, h.end)),
          ['invoicing', 'suppliers'],
          'the words a prefix matched are highlighted',
        );
        // In hybrid mode they shape the text list: the scattered words stay below the phrase.
        const hybrid = await search(index, TEAM_A, { mode: SearchMode.Hybrid, text: '"late payment" penalty', vector: angled(0), k: 4 });
        assert.equal(hybrid[0]?.documentId, 'exact');
        assert.equal(hybrid[0]?.scores.text !== undefined && hybrid.find((h) => h.documentId === 'scattered')?.scores.text, undefined);
      });
    });

    test('snippets are a short window around the densest match', async () => {
      await withIndex(async (index) => {
        const filler = (n: number, seed: number): string =>
          Array.from({ length: n }, (_, i) => ['lorem', 'ipsum', 'dolor', 'amet', 'sit', 'consectetur'][(i * 7 + seed) % 6]).join(' ');
        const text = `Crossing guard notes. ${filler(80, 1)} The zebra crossing near the zebra enclosure was repainted. ${filler(80, 2)} End.`;
        await index.upsertChunks(TEAM_A, [
          chunk({ documentId: 'long', text, vector: axis(0) }),
          chunk({ documentId: 'short', ordinal: 0, text: 'zebra', vector: angled(0.3) }),
        ]);
        const [hit] = await search(index, TEAM_A, { mode: SearchMode.Text, text: 'zebra crossing', filter: { documentIds: ['long'] } });
        assert.ok(hit);
        assert.equal(hit.text, text);
        assert.ok(hit.snippet.length <= 230, `snippet of ${hit.snippet.length} chars`);
        assert.ok(hit.snippet.includes('zebra crossing near the zebra enclosure'), hit.snippet);
        const marked = hit.highlights.map((h) => hit.snippet.slice(h.start, h.end).toLowerCase());
        assert.ok(marked.length >= 2, `highlights: ${JSON.stringify(marked)}`);
        for (const m of marked) assert.match(m, /zebra|crossing/);

        const [short] = await search(index, TEAM_A, { mode: SearchMode.Text, text: 'zebra', filter: { documentIds: ['short'] } });
        assert.equal(short?.snippet, 'zebra');
        assert.deepEqual(short?.highlights, [{ start: 0, end: 5 }]);

        const [byVector] = await search(index, TEAM_A, { mode: SearchMode.Vector, vector: axis(0), k: 1 });
        assert.equal(byVector?.documentId, 'long');
        assert.deepEqual(byVector?.highlights, []);
        assert.ok(byVector && byVector.snippet.length > 0 && byVector.snippet.length <= 230);
      });
    });

    test('vector mode ranks by cosine similarity', async () => {
      await withIndex(async (index) => {
        const angles = { a0: 0, a1: 0.2, a2: 0.5, a3: 1.1, a4: 2.0, opposite: Math.PI };
        await index.upsertChunks(
          TEAM_A,
          Object.entries(angles).map(([documentId, angle]) => chunk({ documentId, vector: angled(angle), text: `chunk ${documentId}` })),
        );
        // A query vector need not be unit length: cosine ignores magnitude.
        const query = angled(0).map((x) => x * 3);
        const hits = await search(index, TEAM_A, { mode: SearchMode.Vector, vector: query, k: 10 });
        assert.deepEqual(ids(hits), ['a0', 'a1', 'a2', 'a3', 'a4', 'opposite']);
        for (const hit of hits) {
          const expected = Math.cos(angles[hit.documentId as keyof typeof angles]);
          assert.ok(Math.abs((hit.scores.vector ?? NaN) - expected) < 1e-4, `${hit.documentId}: ${hit.scores.vector} ≈ ${expected}`);
          assert.equal(hit.scores.text, undefined);
        }
        // Off a3's own angle, so that no two chunks tie (a1 and a4 are equally far from 1.1).
        const top3 = await search(index, TEAM_A, { mode: SearchMode.Vector, vector: angled(1.15), k: 3 });
        assert.deepEqual(ids(top3), ['a3', 'a2', 'a4']);
      });
    });

    test('hybrid mode fuses both lists by reciprocal rank', async () => {
      await withIndex(async (index) => {
        await index.upsertChunks(TEAM_A, [
          chunk({ documentId: 'both', text: 'Solar turbine maintenance schedule.', vector: angled(0) }),
          chunk({ documentId: 'text-only', text: 'Turbine blades; solar panels.', vector: angled(1.5, 3) }),
          chunk({ documentId: 'vector-only', text: 'Quarterly staffing plan.', vector: angled(0.1) }),
          chunk({ documentId: 'neither', text: 'Cafeteria menu.', vector: angled(2.5, 4) }),
        ]);
        const hits = await search(index, TEAM_A, { mode: SearchMode.Hybrid, text: 'solar turbine', vector: angled(0) });
        assert.equal(hits[0]?.documentId, 'both');
        const top = hits[0]!;
        assert.ok(Math.abs((top.scores.hybrid ?? 0) - (1 + HYBRID_VECTOR_WEIGHT) / (RRF_K + 1)) < 1e-9, 'first in both lists');
        assert.equal(typeof top.scores.text, 'number');
        assert.ok(Math.abs((top.scores.vector ?? 0) - 1) < 1e-5);
        assert.deepEqual(sorted(ids(hits.slice(1, 3))), ['text-only', 'vector-only']);
        const vectorOnly = hits.find((h) => h.documentId === 'vector-only');
        assert.equal(vectorOnly?.scores.text, undefined, 'no text score where the text list did not rank it');
        assert.ok(hits.every((h, i) => i === 0 || (hits[i - 1]!.scores.hybrid ?? 0) >= (h.scores.hybrid ?? 0)));

        const noWords = await search(index, TEAM_A, { mode: SearchMode.Hybrid, text: '  ?! ', vector: angled(0.1) });
        assert.equal(noWords[0]?.documentId, 'vector-only', 'text without words leaves the vector list');
      });
    });

    test('hybrid mode fuses only text hits with enough of the query words, so a paraphrase wins', async () => {
      await withIndex(async (index) => {
        await index.upsertChunks(TEAM_A, [
          // Top in vector, shares no content word with the question.
          chunk({ documentId: 'invoice', text: 'Invoice 4471 from Paperline Supplies: balance due 310.00.', vector: angled(0.2) }),
          // One word each of six, and weak in vector.
          chunk({ documentId: 'order', text: 'Purchase order sent to a new vendor.', vector: angled(1.3, 2) }),
          chunk({ documentId: 'report', text: 'What the hives yielded this spring.', vector: angled(1.4, 3) }),
          // Every word: a real lexical match still takes part in the fusion.
          chunk({ documentId: 'full', text: 'What do we owe the stationery vendor? Ask finance.', vector: angled(1.0, 4) }),
        ]);
        const text = 'what do we owe the stationery vendor';
        const lexical = await search(index, TEAM_A, { mode: SearchMode.Text, text });
        assert.deepEqual(sorted(ids(lexical)), ['full', 'order', 'report'], 'text mode keeps OR semantics');

        const hits = await search(index, TEAM_A, { mode: SearchMode.Hybrid, text, vector: angled(0) });
        const rank = (id: string): number => hits.findIndex((h) => h.documentId === id);
        assert.ok(rank('invoice') >= 0 && rank('invoice') < rank('order') && rank('invoice') < rank('report'), JSON.stringify(ids(hits)));
        assert.equal(typeof hits.find((h) => h.documentId === 'full')?.scores.text, 'number');
        for (const weak of ['order', 'report']) {
          assert.equal(hits.find((h) => h.documentId === weak)?.scores.text, undefined, `${weak} is not in the fused text list`);
        }
      });
    });

    test('every filter applies in every mode', async () => {
      await withIndex(async (index) => {
        const docs = [
          { documentId: 'inv-1', type: 'invoice', sensitivity: 'INTERNAL', createdAt: T0 },
          { documentId: 'memo', type: 'memo', sensitivity: 'PUBLIC', createdAt: T0 + 1000 },
          { documentId: 'unlabelled', type: null, sensitivity: null, createdAt: T0 + 2000 },
          { documentId: 'inv-2', type: 'invoice', sensitivity: 'PUBLIC', createdAt: T0 + 3000 },
        ];
        await index.upsertChunks(
          TEAM_A,
          docs.map((d, i) =>
            chunk({
              documentId: d.documentId,
              text: `Annual report section ${i}`,
              vector: angled(0.1 * i),
              filters: { type: d.type, sensitivity: d.sensitivity, createdAt: d.createdAt },
            }),
          ),
        );
        const cases: Array<[SearchFilter, string[]]> = [
          [{}, ['inv-1', 'inv-2', 'memo', 'unlabelled']],
          [{ types: ['invoice'] }, ['inv-1', 'inv-2']],
          [{ types: ['invoice', 'memo'] }, ['inv-1', 'inv-2', 'memo']],
          [{ sensitivities: ['PUBLIC'] }, ['inv-2', 'memo']],
          [{ createdFrom: T0 + 1000 }, ['inv-2', 'memo', 'unlabelled']],
          [{ createdTo: T0 + 2000 }, ['inv-1', 'memo']],
          [{ createdFrom: T0 + 1000, createdTo: T0 + 3000 }, ['memo', 'unlabelled']],
          [{ createdFrom: T0 + 999.5 }, ['inv-2', 'memo', 'unlabelled']],
          [{ createdTo: T0 + 1000.5 }, ['inv-1', 'memo']],
          [{ documentIds: ['memo', 'unlabelled', 'missing'] }, ['memo', 'unlabelled']],
          [{ excludeDocumentIds: ['inv-1', 'memo'] }, ['inv-2', 'unlabelled']],
          [{ types: ['invoice'], excludeDocumentIds: ['inv-1'] }, ['inv-2']],
          [{ types: ['invoice'], sensitivities: ['PUBLIC'], createdFrom: T0, documentIds: ['inv-1', 'inv-2'] }, ['inv-2']],
          [{ documentIds: [] }, []],
          [{ types: [] }, []],
          [{ sensitivities: [] }, []],
          [{ excludeDocumentIds: [] }, ['inv-1', 'inv-2', 'memo', 'unlabelled']],
        ];
        for (const mode of MODES) {
          for (const [filter, expected] of cases) {
            const hits = await search(index, TEAM_A, inMode(mode, 'annual report', angled(0), { filter, k: 20 }));
            assert.deepEqual(sorted(ids(hits)), expected, `${mode} ${JSON.stringify(filter)}`);
          }
        }
        await assert.rejects(search(index, TEAM_A, { mode: SearchMode.Text, text: 'report', filter: { types: [''] } }), ValidationError);
        await assert.rejects(
          search(index, TEAM_A, { mode: SearchMode.Text, text: 'report', filter: { createdFrom: Number.NaN } }),
          ValidationError,
        );
      });
    });

    test('a selective filter still returns k hits', async () => {
      await withIndex(async (index) => {
        // Thirty memos crowd the query's neighbourhood; the ten invoices lie far from it.
        const chunks: ChunkRecord[] = [];
        for (let i = 0; i < 30; i++) {
          chunks.push(
            chunk({
              documentId: `memo-${i}`,
              text: 'ledger ledger ledger memo',
              vector: angled(0.01 * i),
              filters: { type: 'memo', sensitivity: null, createdAt: T0 },
            }),
          );
        }
        for (let i = 0; i < 10; i++) {
          chunks.push(
            chunk({
              documentId: `inv-${i}`,
              text: 'ledger invoice',
              vector: angled(1.2 + 0.05 * i, 2),
              filters: { type: 'invoice', sensitivity: null, createdAt: T0 },
            }),
          );
        }
        await index.upsertChunks(TEAM_A, chunks);
        for (const mode of MODES) {
          const hits = await search(index, TEAM_A, inMode(mode, 'ledger', angled(0), { filter: { types: ['invoice'] }, k: 5 }));
          assert.equal(hits.length, 5, mode);
          assert.ok(
            ids(hits).every((id) => id.startsWith('inv-')),
            mode,
          );
          const excluding = await search(
            index,
            TEAM_A,
            inMode(mode, 'ledger', angled(0), { filter: { excludeDocumentIds: Array.from({ length: 29 }, (_, i) => `memo-${i}`) }, k: 5 }),
          );
          assert.equal(excluding.length, 5, `${mode} with exclusions`);
          assert.ok(
            ids(excluding).every((id) => id === 'memo-29' || id.startsWith('inv-')),
            mode,
          );
        }
        const nearest = await search(index, TEAM_A, { mode: SearchMode.Vector, vector: angled(0), filter: { types: ['invoice'] }, k: 3 });
        assert.deepEqual(ids(nearest), ['inv-0', 'inv-1', 'inv-2']);
      });
    });

    test('truncateDocument and deleteDocument remove chunks from every mode', async () => {
      await withIndex(async (index) => {
        await index.upsertChunks(
          TEAM_A,
          Array.from({ length: 5 }, (_, ordinal) =>
            chunk({ documentId: 'doc', ordinal, text: `section ${ordinal} word${ordinal} common`, vector: angled(0.1 * ordinal) }),
          ),
        );
        await index.upsertChunks(TEAM_A, [chunk({ documentId: 'keep', text: 'common keeper', vector: angled(0.05) })]);
        await index.truncateDocument(TEAM_A, 'doc', 3);
        assert.equal(await index.count(TEAM_A, 'doc'), 3);
        assert.deepEqual(await search(index, TEAM_A, { mode: SearchMode.Text, text: 'word4' }), []);
        for (const mode of MODES) {
          const hits = await search(index, TEAM_A, inMode(mode, 'common', angled(0.4), { k: 20 }));
          const ordinals = hits
            .filter((h) => h.documentId === 'doc')
            .map((h) => h.ordinal)
            .sort();
          assert.deepEqual(ordinals, [0, 1, 2], mode);
        }
        await index.deleteDocument(TEAM_A, 'doc');
        await index.deleteDocument(TEAM_A, 'never-indexed');
        assert.equal(await index.count(TEAM_A, 'doc'), 0);
        assert.equal(await index.count(TEAM_A), 1);
        for (const mode of MODES) {
          assert.deepEqual(ids(await search(index, TEAM_A, inMode(mode, 'common section', angled(0), { k: 20 }))), ['keep'], mode);
        }
        // A deleted document can come back (a reprocess).
        await index.upsertChunks(TEAM_A, [chunk({ documentId: 'doc', text: 'returned common', vector: angled(0) })]);
        assert.equal((await search(index, TEAM_A, { mode: SearchMode.Vector, vector: angled(0), k: 1 }))[0]?.documentId, 'doc');
      });
    });

    test('updateFilters relabels every chunk of a document and keeps unnamed fields', async () => {
      await withIndex(async (index) => {
        await index.upsertChunks(TEAM_A, [
          chunk({ documentId: 'doc', ordinal: 0, text: 'terms of the lease', vector: angled(0) }),
          chunk({ documentId: 'doc', ordinal: 1, text: 'lease renewal clause', vector: angled(0.1) }),
          chunk({ documentId: 'other', text: 'lease summary', vector: angled(0.2) }),
        ]);
        await index.updateFilters(TEAM_A, 'doc', { type: 'contract' });
        await index.updateFilters(TEAM_A, 'doc', { sensitivity: 'SECRET' });
        await index.updateFilters(TEAM_A, 'doc', { createdAt: T0 + 5000 });
        for (const mode of MODES) {
          const q = (filter: SearchFilter): SearchQuery => inMode(mode, 'lease', angled(0), { filter, k: 10 });
          const contract = await search(index, TEAM_A, q({ types: ['contract'], sensitivities: ['SECRET'], createdFrom: T0 + 5000 }));
          assert.deepEqual(contract.map((h) => `${h.documentId}#${h.ordinal}`).sort(), ['doc#0', 'doc#1'], mode);
          for (const hit of contract) {
            assert.deepEqual(
              hit.filters,
              { type: 'contract', sensitivity: 'SECRET', createdAt: T0 + 5000 },
              'hits carry their filter values',
            );
          }
          assert.deepEqual(ids(await search(index, TEAM_A, q({ createdTo: T0 + 5000 }))), ['other'], mode);
        }
        await index.updateFilters(TEAM_A, 'doc', { type: null });
        assert.deepEqual(await search(index, TEAM_A, { mode: SearchMode.Vector, vector: angled(0), filter: { types: ['contract'] } }), []);
        assert.equal(
          (await search(index, TEAM_A, { mode: SearchMode.Vector, vector: angled(0), filter: { sensitivities: ['SECRET'] } })).length,
          2,
          'sensitivity kept when only the type changed',
        );
      });
    });

    test('any query string is searched as text, never as syntax', async () => {
      await withIndex(async (index) => {
        await index.upsertChunks(TEAM_A, [
          chunk({ documentId: 'report', text: 'The NEAR field report and the title: Ünïcødé résumé 東京 notes.' }),
          chunk({ documentId: 'other', text: 'Unrelated chunk.', vector: angled(0.3) }),
        ]);
        const hostile = [
          '"',
          '""',
          "'",
          'AND(',
          'AND',
          'OR',
          'NOT',
          'NEAR(report, 2)',
          '*',
          'report*',
          '-report',
          '^report',
          'title:report',
          '{title}:report',
          'body : report',
          '(report',
          'report)',
          '"report',
          'report"',
          '\\',
          '%',
          '_',
          ';',
          '--',
          "'; DROP TABLE search_chunks; --",
          '\u0000',
          '\u0001\u0002\u0003',
          '😀',
          '東京',
          'résumé',
          'ÜNÏCØDÉ',
          'a'.repeat(10_000),
          'report '.repeat(500),
          '+',
          ':',
          '.',
          ',',
        ];
        for (const text of hostile) {
          for (const mode of [SearchMode.Text, SearchMode.Hybrid] as const) {
            const hits = await search(index, TEAM_A, mode === SearchMode.Text ? { mode, text } : { mode, text, vector: angled(0) });
            assert.ok(Array.isArray(hits), `${mode} ${JSON.stringify(text.slice(0, 20))}`);
          }
        }
        for (const text of ['', '   ', '"', '*', '-', '()', '😀', ':', '\u0000']) {
          assert.deepEqual(await search(index, TEAM_A, { mode: SearchMode.Text, text }), [], `no words in ${JSON.stringify(text)}`);
        }
        for (const text of ['NEAR(report, 2)', '"report', 'title:report', '-report', 'report*', '東京', 'resume']) {
          assert.equal((await search(index, TEAM_A, { mode: SearchMode.Text, text }))[0]?.documentId, 'report', text);
        }
        assert.equal(await index.count(TEAM_A), 2);
      });
    });

    test('k bounds the number of hits and is validated', async () => {
      await withIndex(async (index) => {
        await index.upsertChunks(
          TEAM_A,
          Array.from({ length: 15 }, (_, i) => chunk({ documentId: `d${i}`, text: `shared word ${i}`, vector: angled(0.05 * i) })),
        );
        for (const mode of MODES) {
          assert.equal((await search(index, TEAM_A, inMode(mode, 'shared', angled(0)))).length, 10, `${mode} default k`);
          assert.equal((await search(index, TEAM_A, inMode(mode, 'shared', angled(0), { k: 3 }))).length, 3, mode);
          assert.equal((await search(index, TEAM_A, inMode(mode, 'shared', angled(0), { k: 1 }))).length, 1, mode);
          assert.equal((await search(index, TEAM_A, inMode(mode, 'shared', angled(0), { k: MAX_K }))).length, 15, mode);
          for (const k of [0, -1, 2.5, MAX_K + 1, Number.NaN]) {
            await assert.rejects(search(index, TEAM_A, inMode(mode, 'shared', angled(0), { k })), ValidationError, `${mode} k=${k}`);
          }
        }
      });
    });

    test('refuses malformed requests', async () => {
      await withIndex(async (index) => {
        await assert.rejects(index.search(TEAM_A, { mode: SearchMode.Text }), ValidationError);
        await assert.rejects(index.search(TEAM_A, { mode: SearchMode.Vector }), ValidationError);
        await assert.rejects(index.search(TEAM_A, { mode: SearchMode.Hybrid, text: 'x' }), ValidationError);
        await assert.rejects(index.search(TEAM_A, { mode: 'fuzzy' as SearchMode, text: 'x' }), ValidationError);
        await assert.rejects(index.search({ teamId: '' }, { mode: SearchMode.Text, text: 'x' }), ValidationError);
        await assert.rejects(index.upsertChunks({ teamId: ' ' }, [chunk({ documentId: 'd' })]), ValidationError);
        await assert.rejects(index.upsertChunks(TEAM_A, [chunk({ documentId: '' })]), ValidationError);
        await assert.rejects(index.upsertChunks(TEAM_A, [chunk({ documentId: 'd', ordinal: -1 })]), ValidationError);
        await assert.rejects(
          index.upsertChunks(TEAM_A, [chunk({ documentId: 'd', filters: { type: '', sensitivity: null, createdAt: T0 } })]),
          ValidationError,
          'an empty label could never be selected by a filter',
        );
        await assert.rejects(index.updateFilters(TEAM_A, 'd', { sensitivity: '' }), ValidationError);
        await assert.rejects(index.updateFilters(TEAM_A, 'd', { createdAt: 1.5 }), ValidationError);
        const nan = angled(0);
        nan[1] = Number.NaN;
        await assert.rejects(index.upsertChunks(TEAM_A, [chunk({ documentId: 'd', vector: nan })]), ValidationError);
        // A batch is all or nothing: the valid first chunk is not written either.
        await assert.rejects(
          index.upsertChunks(TEAM_A, [chunk({ documentId: 'ok' }), chunk({ documentId: 'bad', page: 0 })]),
          ValidationError,
        );
        assert.equal(await index.count(TEAM_A), 0);
      });
    });
  });
}
