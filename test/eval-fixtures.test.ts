/**
 * The three `quire eval` commands on datasets made from the project's own fixtures, so they
 * run wherever the suite runs (the tests on slices of the public datasets need those beside
 * the repository). Real models, real OCR, real pipeline; no timing assertions.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TYPE_SMOKE_SET } from '../processors/src/stages/classify.fixtures.ts';
import { ensureFixtures } from './fixtures/generate.ts';
import { FIXTURES, fixturePath, type Fixture } from './fixtures/manifest.ts';
import { runQuire } from './helpers/cli.ts';

const inUnit = (x: unknown): boolean => typeof x === 'number' && x >= 0 && x <= 1;
const text = (f: Fixture): string => (f.content ?? []).map((page) => page.join('\n')).join('\n\n');

describe('quire eval on the project fixtures', () => {
  let dir: string;
  before(async () => {
    await ensureFixtures();
    dir = mkdtempSync(join(tmpdir(), 'quire-eval-fixtures-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('search: a BEIR folder of the fixtures, each fixture query judged against its own document', { timeout: 300_000 }, async () => {
    const beir = join(dir, 'beir');
    mkdirSync(join(beir, 'qrels'), { recursive: true });
    const docs = Object.entries(FIXTURES as Record<string, Fixture>).flatMap(([id, f]) =>
      f.query && text(f).length > 0 ? [[id, { ...f, query: f.query }] as const] : [],
    );
    writeFileSync(join(beir, 'corpus.jsonl'), docs.map(([id, f]) => JSON.stringify({ _id: id, title: '', text: text(f) })).join('\n'));
    writeFileSync(join(beir, 'queries.jsonl'), docs.map(([id, f]) => JSON.stringify({ _id: `q-${id}`, text: f.query })).join('\n'));
    writeFileSync(join(beir, 'qrels', 'test.tsv'), ['query-id\tcorpus-id\tscore', ...docs.map(([id]) => `q-${id}\t${id}\t1`)].join('\n'));

    const r = await runQuire(['eval', 'search', beir]);
    assert.equal(r.code, 0, r.stderr);
    const out = r.json!;
    // The PNG and JPEG invoices hold the same text: one document in Quire, both ids scored.
    assert.equal(out.passages, docs.length);
    assert.equal(out.documents, docs.length - 1);
    const modes = out.modes as Record<string, { ndcg10: number; recall100: number; mrr10: number }>;
    for (const m of Object.values(modes)) assert.ok(inUnit(m.ndcg10) && inUnit(m.recall100) && inUnit(m.mrr10));
    // Every query paraphrases its document: meaning-based retrieval puts it near the top.
    assert.ok(modes.vector!.mrr10 >= 0.75, `vector MRR@10 ${modes.vector!.mrr10}`);
    assert.ok(modes.vector!.recall100 === 1, 'every document is among the top 100 of its query');
  });

  it('ocr: the generated scans with their known text as ground truth', { timeout: 300_000 }, async () => {
    const ocr = join(dir, 'ocr');
    mkdirSync(join(ocr, 'images'), { recursive: true });
    mkdirSync(join(ocr, 'boxes'));
    for (const name of ['scanned-invoice.png', 'scanned-letter.tiff'] as const) {
      const id = name.replace(/\.[^.]+$/, '');
      copyFileSync(fixturePath(name), join(ocr, 'images', name));
      const lines = (FIXTURES[name].content ?? []).flat().filter(Boolean);
      writeFileSync(join(ocr, 'boxes', `${id}.csv`), lines.map((line) => `0,0,0,0,0,0,0,0,${line}`).join('\n'));
    }
    const r = await runQuire(['eval', 'ocr', ocr, '--no-baseline']);
    assert.equal(r.code, 0, r.stderr);
    const product = (r.json as { product: { f1: number; cer: number; failed: number; pagesPerSecond: number } }).product;
    assert.equal(product.failed, 0);
    // Clean synthetic scans: most words come back.
    assert.ok(product.f1 > 0.8, `bag-of-words F1 ${product.f1}`);
    assert.ok(product.cer >= 0 && product.cer < 0.3, `CER ${product.cer}`);
    assert.ok(product.pagesPerSecond > 0);
  });

  it('classify: the labelled smoke set, zero-shot and with one and two examples per type', { timeout: 300_000 }, async () => {
    const file = join(dir, 'types.jsonl');
    writeFileSync(file, TYPE_SMOKE_SET.map((e, i) => JSON.stringify({ id: `ex-${i}`, label: e.label, text: e.text })).join('\n'));
    const r = await runQuire(['eval', 'classify', file, '--k', '1,2']);
    assert.equal(r.code, 0, r.stderr);
    const rows = (r.json as { rows: { k: number; scored: number; accuracy: number; macroF1: number }[] }).rows;
    const classes = new Set(TYPE_SMOKE_SET.map((e) => e.label)).size;
    assert.deepEqual(
      rows.map((row) => row.k),
      [0, 1, 2],
    );
    for (const row of rows) {
      // Two examples per class are drawn for the largest k and left out of every row.
      assert.equal(row.scored, TYPE_SMOKE_SET.length - 2 * classes);
      assert.ok(inUnit(row.accuracy) && inUnit(row.macroF1));
    }
  });
});
