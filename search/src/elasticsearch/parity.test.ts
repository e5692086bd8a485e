/**
 * The embedded index and the Elasticsearch index answer alike: the same chunks, indexed in
 * both, give the same hits with the same snippets, highlights, pages and boxes, in every mode
 * and under filters; vector mode ranks them in the same order with the same cosines. BM25 is
 * each engine's own (FTS5's and Lucene's length normalisation differ), so text and hybrid
 * answers are compared as sets, asked for every chunk so that no cut-off differs.
 * The Elasticsearch side is the services script's node (ELASTICSEARCH_URL, default
 * 127.0.0.1:9200).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from '@elastic/elasticsearch';
import { SqliteSearchIndex } from '../embedded/search-index.sqlite.ts';
import { SearchMode, type ChunkRecord, type SearchHit, type SearchIndex, type SearchQuery } from '../search-index.ts';
import { ElasticsearchSearchIndex, deleteIndexes } from './search-index.elasticsearch.ts';

const ELASTICSEARCH_URL = process.env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:9200';
const DIM = 16;
const MODEL = { modelId: 'parity/seeded-vectors', dimension: DIM };
const TEAM = { teamId: 'team-parity' };
const T0 = Date.UTC(2025, 0, 1);

/** A deterministic generator (mulberry32), so both indexes and every run see the same vectors. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = seeded(7);
const vector = (): Float32Array => Float32Array.from({ length: DIM }, () => random() * 2 - 1);

const TEXTS = [
  ['invoice-0042.pdf', 'Invoice 0042 from Northwind Traders: 12 crates of harbour rope, total due 1,240.00 EUR by 30 June.'],
  ['invoice-0043.pdf', 'Invoice 0043 from Northwind Traders for ferry berth dues in June; payment terms net 30 days.'],
  ['order-7781.pdf', 'Purchase order 7781 to Northwind Traders: harbour rope, 12 crates, delivery to the east pier.'],
  ['minutes-board.txt', 'Minutes of the board meeting: the café lease was renewed and the harbour master reported on berth dues.'],
  ['contract-lease.pdf', 'Lease contract for the café on the east pier, signed in March; the rent is reviewed every year.'],
  ['report-q2.pdf', 'Quarterly report Q2: revenue from berth dues rose 8 %, rope purchases fell; the ferry timetable changed.'],
  ['memo-safety.txt', 'Safety memo: inspect every mooring rope before the storm season; report frayed rope to the harbour master.'],
  ['letter-résumé.txt', 'Cover letter with a résumé attached, applying for the harbour office role; references on request.'],
] as const;

const chunks: ChunkRecord[] = TEXTS.flatMap(([title, text], d) =>
  // Two chunks per document: the sentence, and the sentence's second half on page 2.
  [text, text.slice(Math.floor(text.length / 2))].map((body, ordinal) => ({
    documentId: `doc-${d}`,
    ordinal,
    text: body,
    page: ordinal + 1,
    boxes: [{ x: 10 * d, y: 20 * ordinal, w: 300, h: 40 }],
    vector: vector(),
    filters: { type: d < 3 ? 'invoice' : 'other', sensitivity: d % 2 ? 'INTERNAL' : 'PUBLIC', createdAt: T0 + d * 86_400_000 },
    title,
  })),
);

const QUERIES: { name: string; query: SearchQuery }[] = [
  ...['harbour rope', 'Northwind invoice June', 'cafe lease', 'berth dues', 'resume', 'ferry timetable changed', 'storm'].flatMap(
    (text) => [
      { name: `text "${text}"`, query: { mode: SearchMode.Text, text, k: chunks.length } },
      { name: `hybrid "${text}"`, query: { mode: SearchMode.Hybrid, text, vector: vector(), k: chunks.length } },
    ],
  ),
  { name: 'vector', query: { mode: SearchMode.Vector, vector: vector(), k: 8 } },
  { name: 'vector, invoices only', query: { mode: SearchMode.Vector, vector: vector(), k: 8, filter: { types: ['invoice'] } } },
  {
    name: 'text, PUBLIC from the third day, one document left out',
    query: {
      mode: SearchMode.Text,
      text: 'harbour',
      k: 10,
      filter: { sensitivities: ['PUBLIC'], createdFrom: T0 + 2 * 86_400_000, excludeDocumentIds: ['doc-6'] },
    },
  },
  {
    name: 'hybrid within two documents',
    query: { mode: SearchMode.Hybrid, text: 'rope', vector: vector(), k: chunks.length, filter: { documentIds: ['doc-0', 'doc-6'] } },
  },
];

/** What both indexes must agree on: everything but the BM25 score. */
function comparable(hits: SearchHit[]) {
  return hits.map((h) => ({
    hit: `${h.documentId}/${h.ordinal}`,
    page: h.page,
    boxes: h.boxes,
    snippet: h.snippet,
    marked: h.highlights.map((r) => h.snippet.slice(r.start, r.end)),
    ranked: { text: h.scores.text !== undefined, vector: h.scores.vector !== undefined },
  }));
}

/** The same hits, in the same order or as sets, depending on what the mode's order rests on. */
function assertAlike(mode: SearchMode, elasticsearch: SearchHit[], embedded: SearchHit[]): void {
  const [b, a] = [comparable(elasticsearch), comparable(embedded)];
  if (mode === SearchMode.Vector) {
    assert.deepEqual(b, a);
    return;
  }
  const byHit = (hits: typeof a) => [...hits].sort((x, y) => (x.hit < y.hit ? -1 : 1));
  assert.deepEqual(byHit(b), byHit(a));
}

describe('the embedded and the Elasticsearch index answer alike', () => {
  let dir: string;
  let embedded: SearchIndex;
  let elasticsearch: SearchIndex;
  const prefix = `parity-${randomUUID().slice(0, 8)}`;
  const admin = new Client({ node: ELASTICSEARCH_URL });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quire-parity-'));
    embedded = new SqliteSearchIndex({ filename: join(dir, 'index.sqlite') });
    elasticsearch = new ElasticsearchSearchIndex({ node: ELASTICSEARCH_URL, indexPrefix: prefix, replicas: 0 });
    for (const index of [embedded, elasticsearch]) {
      await index.start();
      await index.ensureModel(MODEL);
      await index.upsertChunks(TEAM, chunks);
    }
  });

  after(async () => {
    await embedded?.close();
    await elasticsearch?.close();
    await rm(dir, { recursive: true, force: true });
    await deleteIndexes(admin, prefix);
    await admin.close();
  });

  for (const { name, query } of QUERIES) {
    test(name, async () => {
      const [a, b] = await Promise.all([embedded.search(TEAM, query), elasticsearch.search(TEAM, query)]);
      assert.ok(a.length > 0, 'the query finds something');
      assertAlike(query.mode, b, a);
      const cosines = new Map(b.map((h) => [`${h.documentId}/${h.ordinal}`, h.scores.vector]));
      for (const hit of a) {
        if (hit.scores.vector === undefined) continue;
        const other = cosines.get(`${hit.documentId}/${hit.ordinal}`)!;
        assert.ok(Math.abs(other - hit.scores.vector) < 1e-4, `${hit.documentId}/${hit.ordinal}: cosine ${other} ≈ ${hit.scores.vector}`);
      }
    });
  }
});
