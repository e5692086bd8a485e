/**
 * Field extraction accuracy on SROIE-style receipts: for each receipt, its line-level
 * transcripts and boxes (`boxes/<id>.csv`) become a page of words, `extractFields(…,
 * 'receipt')` runs on it, and total, date and company are compared with `keys/<id>.json`.
 *
 *   node --import tsx load-tests/fields.eval.ts <sroie-folder> [--ocr] [--verbose]
 *
 * By default the words come from the dataset's transcripts, not from OCR, so this measures
 * the extraction heuristics on realistic layouts with clean text; words get boxes by
 * splitting each line's box in proportion to character counts. With `--ocr` the receipt
 * images go through Tesseract (the OCR engine the pipeline uses) instead, which measures
 * the whole way from scan to fields.
 *
 * Scoring: total matches when the amounts are equal; date when the ISO dates are equal (the
 * truth is read day-first, as Malaysian receipts print it); company exactly when upper-cased
 * letters and digits are equal, and loosely when the edit similarity is at least 0.8 (the
 * truth corrects OCR-style slips that the transcripts keep). The last line is JSON.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { format, isValid, parse } from 'date-fns';
import { TesseractOcr } from '../processors/src/engines/ocr.engine.ts';
import { parseSroieBoxes, sroieReferenceText } from '../processors/src/eval/sroie.ts';
import { extractFields, parseAmount } from '../processors/src/stages/fields.stage.ts';
import type { PageResult, Word } from '@quire/kernel';

/** Turns an ICDAR line CSV (`x1,y1,…,y4,transcript`) into a page of words. */
export function pageFromSroieCsv(csv: string, page = 1): PageResult {
  const lines = parseSroieBoxes(csv);
  const words: Word[] = [];
  let width = 0;
  let height = 0;
  for (const { quad, text: transcript } of lines) {
    const text = transcript.trim();
    if (text === '') continue;
    const xs = [quad[0], quad[2], quad[4], quad[6]];
    const ys = [quad[1], quad[3], quad[5], quad[7]];
    const x0 = Math.min(...xs);
    const x1 = Math.max(...xs);
    const y0 = Math.min(...ys);
    const y1 = Math.max(...ys);
    width = Math.max(width, x1);
    height = Math.max(height, y1);
    const perChar = (x1 - x0) / Math.max(text.length, 1);
    let at = 0;
    for (const w of text.split(' ')) {
      if (w !== '') words.push({ text: w, box: { x: x0 + at * perChar, y: y0, w: w.length * perChar, h: y1 - y0 }, confidence: 100 });
      at += w.length + 1;
    }
  }
  return { page, width, height, text: sroieReferenceText(lines), source: 'ocr', confidence: 100, words };
}

async function ocrPage(ocr: TesseractOcr, image: Uint8Array): Promise<PageResult> {
  const r = await ocr.recognize(image);
  return { page: 1, width: r.width, height: r.height, text: r.text, source: 'ocr', confidence: r.confidence, words: r.words };
}

function truthDate(s: string): string | undefined {
  const t = s.trim().replace(/\s+/g, ' ');
  for (const f of [
    'd/M/yyyy',
    'd/M/yy',
    'd-M-yyyy',
    'd-M-yy',
    'd.M.yyyy',
    'yyyy-M-d',
    'd MMM yyyy',
    'd MMM yy',
    'MMM d, yyyy',
    'd-MMM-yyyy',
    'd-MMM-yy',
    'd/MMM/yyyy',
  ]) {
    const d = parse(t, f, new Date(2000, 0, 1));
    if (isValid(d) && d.getFullYear() >= 1970) return format(d, 'yyyy-MM-dd');
  }
  return undefined;
}

function squash(s: string): string {
  return s.toUpperCase().replace(/[^A-Z0-9]/g, '');
}

function similarity(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  if (m === 0 && n === 0) return 1;
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur = [i];
    for (let j = 1; j <= n; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return 1 - prev[n]! / Math.max(m, n);
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  const verbose = process.argv.includes('--verbose');
  const ocr = process.argv.includes('--ocr') ? new TesseractOcr() : undefined;
  if (!dir || dir.startsWith('--')) {
    console.error('usage: node --import tsx load-tests/fields.eval.ts <sroie-folder> [--ocr] [--verbose]');
    process.exit(2);
  }
  const ids = readdirSync(join(dir, 'keys'))
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .sort();
  const hits = { total: 0, date: 0, companyExact: 0, companyLoose: 0, currency: 0 };
  const found = { total: 0, date: 0, company: 0 };
  for (const id of ids) {
    const truth = JSON.parse(readFileSync(join(dir, 'keys', `${id}.json`), 'utf8')) as Record<string, string>;
    const page = ocr
      ? await ocrPage(ocr, readFileSync(join(dir, 'images', `${id}.jpg`)))
      : pageFromSroieCsv(readFileSync(join(dir, 'boxes', `${id}.csv`), 'utf8'));
    const fields = extractFields([page], 'receipt');
    const total = fields.total && parseAmount(fields.total.value)?.value === parseAmount(truth.total ?? '')?.value;
    const date = fields.date?.value === truthDate(truth.date ?? '');
    const company = squash(fields.counterparty?.value ?? '');
    const companyExact = company !== '' && company === squash(truth.company ?? '');
    const companyLoose = company !== '' && similarity(company, squash(truth.company ?? '')) >= 0.8;
    hits.total += Number(Boolean(total));
    hits.date += Number(date);
    hits.companyExact += Number(companyExact);
    hits.companyLoose += Number(companyLoose);
    hits.currency += Number(fields.currency?.value === 'MYR');
    found.total += Number(fields.total !== undefined);
    found.date += Number(fields.date !== undefined);
    found.company += Number(fields.counterparty !== undefined);
    if (verbose) {
      const mark = (ok: boolean | undefined) => (ok ? 'ok ' : 'BAD');
      console.log(`${id} total ${mark(total)} ${fields.total?.value ?? '-'} / ${truth.total}`);
      console.log(`${id} date  ${mark(date)} ${fields.date?.value ?? '-'} / ${truth.date}`);
      console.log(`${id} comp  ${mark(companyLoose)} ${fields.counterparty?.value ?? '-'} / ${truth.company}`);
    }
  }
  await ocr?.close();
  const n = ids.length;
  const pct = (x: number) => Math.round((x / n) * 1000) / 1000;
  const result = {
    receipts: n,
    words: ocr ? 'tesseract' : 'transcripts',
    totalAccuracy: pct(hits.total),
    dateAccuracy: pct(hits.date),
    companyExactAccuracy: pct(hits.companyExact),
    companyLooseAccuracy: pct(hits.companyLoose),
    currencyMyrRate: pct(hits.currency),
    coverage: { total: pct(found.total), date: pct(found.date), company: pct(found.company) },
  };
  console.log(JSON.stringify(result));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
