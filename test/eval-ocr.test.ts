/**
 * `quire eval ocr` end to end on two SROIE receipts: the scans go through the product's OCR
 * stage (and the native tesseract command where it is installed) and every figure comes out,
 * per page and overall. No timing assertions.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runQuire } from './helpers/cli.ts';
import { sharedDataset } from './helpers/shared-data.ts';

const dataset = sharedDataset('ocr/sroie_receipts_subset');
const skip = 'skip' in dataset ? dataset.skip : false;
if (skip) console.log(`# eval ocr on SROIE skipped: ${skip}`);

const hasNativeTesseract = ((): boolean => {
  try {
    execFileSync('tesseract', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!hasNativeTesseract) console.log('# eval ocr: no tesseract command on PATH, the native baseline is not checked');

type Figures = Record<'cer' | 'wer' | 'cerIgnoreCase' | 'werIgnoreCase' | 'precision' | 'recall' | 'f1', number>;

/** Plausible values for a readable receipt: rates in [0, 1.5], scores in (0, 1]. */
function assertPlausible(where: string, f: Figures): void {
  for (const key of ['cer', 'wer', 'cerIgnoreCase', 'werIgnoreCase'] as const) {
    assert.ok(typeof f[key] === 'number' && f[key] >= 0 && f[key] <= 1.5, `${where} ${key} = ${f[key]}`);
  }
  for (const key of ['precision', 'recall', 'f1'] as const) {
    assert.ok(typeof f[key] === 'number' && f[key] > 0 && f[key] <= 1, `${where} ${key} = ${f[key]}`);
  }
  assert.ok(f.cerIgnoreCase <= f.cer, `${where}: folding case removes errors, never adds them`);
}

/** A fresh, empty SROIE-shaped folder, removed after the test. */
function tempDataset(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'quire-eval-ocr-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'images'));
  mkdirSync(join(dir, 'boxes'));
  return dir;
}

describe('quire eval ocr', () => {
  it('reads two receipts through the OCR stage and reports every figure', { skip, timeout: 300_000 }, async (t) => {
    const source = 'path' in dataset ? dataset.path : '';
    const dir = tempDataset(t);
    const images = readdirSync(join(source, 'images')).sort().slice(0, 2);
    const ids = images.map((name) => name.replace(/\.[^.]+$/, ''));
    for (const [i, name] of images.entries()) {
      copyFileSync(join(source, 'images', name), join(dir, 'images', name));
      copyFileSync(join(source, 'boxes', `${ids[i]}.csv`), join(dir, 'boxes', `${ids[i]}.csv`));
    }

    const r = await runQuire(['eval', 'ocr', dir]);
    assert.equal(r.code, 0, r.stderr);
    const out = r.json as Record<string, any> | undefined;
    assert.ok(out, `the last line is JSON:\n${r.stdout.slice(-2000)}`);
    assert.equal(out.name, 'eval.ocr');
    assert.equal(out.pages, 2);
    assert.equal(out.workers, 1);

    assert.equal(out.product.pages, 2);
    assert.equal(out.product.failed, 0);
    assertPlausible('product', out.product);
    assertPlausible('product mean', out.product.mean);
    assert.ok(out.product.pagesPerSecond > 0 && out.product.msPerPage > 0);
    assert.ok(out.product.counts.referenceWords > 0 && out.product.counts.hypothesisWords > 0);

    assert.deepEqual(
      out.perPage.map((p: { id: string }) => p.id),
      ids,
    );
    for (const page of out.perPage) {
      assert.ok(page.referenceWords > 0 && page.referenceCharacters > page.referenceWords);
      assertPlausible(`page ${page.id}`, page.product);
      assert.equal(page.product.error, undefined);
      assert.ok(page.product.ms > 0);
    }

    if (hasNativeTesseract) {
      assert.equal(out.nativeSkipped, null);
      assert.match(out.native.engine, /tesseract \d/);
      assert.equal(out.native.failed, 0);
      assertPlausible('native', out.native);
      assert.ok(out.native.pagesPerSecond > 0);
      for (const page of out.perPage) assertPlausible(`native page ${page.id}`, page.native);
      for (const key of ['f1', 'cer', 'wer', 'pagesPerSecond'] as const) {
        assert.ok(typeof out.ratios[key] === 'number' && out.ratios[key] > 0, `ratio ${key} = ${out.ratios[key]}`);
      }
      // The product runs the same Tesseract LSTM engine: its quality is of the same order.
      assert.ok(out.ratios.f1 > 0.5 && out.ratios.f1 < 2, `F1 ratio ${out.ratios.f1}`);
    } else {
      assert.equal(out.native, null);
      assert.equal(out.ratios, null);
    }
    assert.match(r.stdout, /bag-of-words F1/);
  });

  it('reports an unreadable image on its page instead of stopping', { skip, timeout: 300_000 }, async (t) => {
    const source = 'path' in dataset ? dataset.path : '';
    const dir = tempDataset(t);
    const [first] = readdirSync(join(source, 'images')).sort();
    const id = first!.replace(/\.[^.]+$/, '');
    copyFileSync(join(source, 'images', first!), join(dir, 'images', first!));
    copyFileSync(join(source, 'boxes', `${id}.csv`), join(dir, 'boxes', `${id}.csv`));
    writeFileSync(join(dir, 'images', 'zz-broken.jpg'), 'not a jpeg');
    writeFileSync(join(dir, 'boxes', 'zz-broken.csv'), '0,0,9,0,9,9,0,9,TOTAL 1.00\n');

    const r = await runQuire(['eval', 'ocr', dir, '--no-baseline']);
    assert.equal(r.code, 0, r.stderr);
    const out = r.json as Record<string, any>;
    assert.equal(out.pages, 2);
    assert.equal(out.product.failed, 1);
    assert.equal(out.native, null);
    assert.match(out.nativeSkipped, /--no-baseline/);
    const broken = out.perPage.find((p: { id: string }) => p.id === 'zz-broken');
    assert.match(broken.product.error, /^IMAGE_UNREADABLE: /);
    assert.equal(broken.product.recall, 0);
  });

  it('refuses a missing folder, a folder without images and an image without ground truth', async (t) => {
    const dir = tempDataset(t);
    const missing = await runQuire(['eval', 'ocr', join(dir, 'absent')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /DATASET_NOT_FOUND: no dataset folder at /);

    const empty = await runQuire(['eval', 'ocr', dir]);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /DATASET_NO_IMAGES: /);

    writeFileSync(join(dir, 'images', 'a.png'), '');
    const orphan = await runQuire(['eval', 'ocr', dir]);
    assert.equal(orphan.code, 2);
    assert.match(orphan.stderr, /GROUND_TRUTH_MISSING: image a\.png has no ground truth/);

    const badOption = await runQuire(['eval', 'ocr', dir, '--workers', 'zero']);
    assert.equal(badOption.code, 2);
    assert.match(badOption.stderr, /BAD_OPTION: --workers must be a positive integer/);
  });
});
