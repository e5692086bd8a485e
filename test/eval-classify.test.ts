/**
 * `quire eval classify` as a user runs it, on small slices of the BBC News topic set: every
 * row (zero-shot, k = 1, 4, 16) reports accuracy, macro-F1 and per-class figures on the same
 * documents, `--train` scores the whole input, and bad input stops with exit code 2 naming
 * the line. The slices keep the model's work to a few hundred short chunks; nothing here
 * asserts a time.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runQuire } from './helpers/cli.ts';
import { sharedDataset } from './helpers/shared-data.ts';

const dataset = sharedDataset('classification/bbc_news');
if ('skip' in dataset) console.log(`# eval classify on BBC News skipped: ${dataset.skip}`);
const CLASSES = ['business', 'entertainment', 'politics', 'sport', 'tech'];
/** Articles are cut to this many characters: one or two chunks each. */
const ARTICLE_CHARS = 600;

interface Article {
  id: string;
  label: string;
  text: string;
}

/** Articles per class in file order, cut short, without duplicates (which the command would drop). */
function articlesByClass(file: string): Map<string, Article[]> {
  const seen = new Set<string>();
  const out = new Map<string, Article[]>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const row = JSON.parse(line) as Article;
    const text = row.text.slice(0, ARTICLE_CHARS);
    const key = text.replace(/\s+/g, ' ').trim();
    if (seen.has(key)) continue;
    seen.add(key);
    out.set(row.label, [...(out.get(row.label) ?? []), { id: row.id, label: row.label, text }]);
  }
  return out;
}

function writeJsonl(path: string, articles: readonly Article[]): void {
  writeFileSync(path, articles.map((a) => JSON.stringify(a)).join('\n') + '\n');
}

interface Row {
  mode: string;
  k: number;
  examples: number;
  scored: number;
  accuracy: number;
  macroF1: number;
  perClass: Record<string, { precision: number; recall: number; f1: number; support: number }>;
}

function assertUnit(value: unknown, what: string): void {
  assert.equal(typeof value, 'number', `${what} is not a number: ${JSON.stringify(value)}`);
  assert.ok((value as number) >= 0 && (value as number) <= 1, `${what} = ${String(value)} is outside [0, 1]`);
}

function assertRow(row: Row, expected: { mode: string; k: number; scored: number }): void {
  const what = `${row.mode} k=${row.k}`;
  assert.equal(row.mode, expected.mode);
  assert.equal(row.k, expected.k);
  assert.equal(row.examples, CLASSES.length * expected.k, `${what}: examples`);
  assert.equal(row.scored, expected.scored, `${what}: scored`);
  assertUnit(row.accuracy, `${what} accuracy`);
  assertUnit(row.macroF1, `${what} macro-F1`);
  for (const label of CLASSES) {
    const c = row.perClass[label];
    assert.ok(c, `${what}: no per-class figures for ${label}`);
    assertUnit(c.precision, `${what} ${label} precision`);
    assertUnit(c.recall, `${what} ${label} recall`);
    assertUnit(c.f1, `${what} ${label} F1`);
  }
  const support = Object.values(row.perClass).reduce((n, c) => n + c.support, 0);
  assert.equal(support, expected.scored, `${what}: per-class support adds up to the scored documents`);
}

describe('quire eval classify', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'quire-eval-classify-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('zero-shot and k = 1, 4, 16 score the same documents, the sixteen examples per class left out', async (t) => {
    if ('skip' in dataset) {
      t.skip(dataset.skip);
      return;
    }
    const byClass = articlesByClass(join(dataset.path, 'bbc_news.jsonl'));
    const slice = CLASSES.flatMap((label) => (byClass.get(label) ?? []).slice(0, 18));
    assert.equal(slice.length, 5 * 18);
    const file = join(dir, 'slice.jsonl');
    writeJsonl(file, slice);

    const res = await runQuire(['eval', 'classify', file]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /mode\s+k\s+scored\s+accuracy\s+macro-F1/);
    const json = res.json as {
      name: string;
      labels: string[];
      documents: { scored: number };
      embedding: { documents: number };
      rows: Row[];
    };
    assert.ok(json, `the last stdout line is not JSON:\n${res.stdout}`);
    assert.equal(json.name, 'eval.classify');
    assert.deepEqual(json.labels, CLASSES);
    const scored = slice.length - 5 * 16;
    assert.equal(json.documents.scored, scored);
    assert.equal(json.embedding.documents, slice.length);
    assert.equal(json.rows.length, 4);
    assertRow(json.rows[0]!, { mode: 'zero-shot', k: 0, scored });
    [1, 4, 16].forEach((k, i) => assertRow(json.rows[i + 1]!, { mode: 'k-shot', k, scored }));
  });

  test('--train takes the examples from another file and scores the whole input', async (t) => {
    if ('skip' in dataset) {
      t.skip(dataset.skip);
      return;
    }
    const byClass = articlesByClass(join(dataset.path, 'bbc_news.jsonl'));
    const train = CLASSES.flatMap((label) => (byClass.get(label) ?? []).slice(20, 24));
    const input = CLASSES.flatMap((label) => (byClass.get(label) ?? []).slice(24, 27));
    const trainFile = join(dir, 'train.jsonl');
    const inputFile = join(dir, 'input.jsonl');
    writeJsonl(trainFile, train);
    writeJsonl(inputFile, input);

    const res = await runQuire(['eval', 'classify', inputFile, '--train', trainFile, '--k', '1,4']);
    assert.equal(res.code, 0, res.stderr);
    const json = res.json as { train: string; documents: { scored: number }; rows: Row[] };
    assert.ok(json, `the last stdout line is not JSON:\n${res.stdout}`);
    assert.equal(json.train, 'train.jsonl');
    assert.equal(json.documents.scored, input.length);
    assert.equal(json.rows.length, 3);
    assertRow(json.rows[0]!, { mode: 'zero-shot', k: 0, scored: input.length });
    assertRow(json.rows[1]!, { mode: 'k-shot', k: 1, scored: input.length });
    assertRow(json.rows[2]!, { mode: 'k-shot', k: 4, scored: input.length });
  });

  test('bad input stops with exit code 2 and names the line', async () => {
    const notJson = join(dir, 'not-json.jsonl');
    writeFileSync(notJson, '{"label": "sport", "text": "A match report."}\n\n{"label": "tech", "text": \n');
    const broken = await runQuire(['eval', 'classify', notJson]);
    assert.equal(broken.code, 2, broken.stderr);
    assert.match(broken.stderr, /line 3/);

    const noText = join(dir, 'no-text.jsonl');
    writeFileSync(noText, '{"label": "sport", "text": "A match report."}\n{"label": "tech"}\n');
    const missing = await runQuire(['eval', 'classify', noText]);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /line 2/);
    assert.match(missing.stderr, /text/);

    const tooFew = join(dir, 'too-few.jsonl');
    writeFileSync(tooFew, ['one', 'two', 'three'].map((w) => JSON.stringify({ label: 'sport', text: `Match ${w}.` })).join('\n'));
    const few = await runQuire(['eval', 'classify', tooFew, '--k', '4']);
    assert.equal(few.code, 2, few.stderr);
    assert.match(few.stderr, /class "sport" has 3 documents; k = 4 needs at least 5/);
  });
});
