/**
 * Throughput of the OCR stage on real scans: the SROIE receipt images.
 *
 *   node --import tsx load-tests/ocr.bench.ts <images-dir> [--workers 1] [--rounds 3] [--warmup 3] [--limit N]
 *
 * Every image goes through the OCR stage as a one-page document (sharp decode, grey,
 * Tesseract via tesseract.js with the English model), with `--workers` Tesseract threads and
 * as many images in flight. One warm-up pass over `--warmup` images, then `--rounds` timed
 * passes over all of them. Reported: pages per second (median of rounds), milliseconds per
 * page, CPU milliseconds per page (all threads; steady even on a busy machine), mean word
 * confidence, and, where `<images-dir>/../boxes/<id>.csv` ground truth exists,
 * case-insensitive bag-of-words precision, recall and F1 of the recognised words against the
 * annotated transcripts (the measure the dataset's README uses).
 *
 * Measures, never asserts. The last line is JSON.
 */
import { readdir, readFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import { basename, extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { TesseractOcr } from '../processors/src/engines/ocr.engine.ts';
import { ocrImage } from '../processors/src/stages/ocr.stage.ts';
import type { ExtractedPage } from '../processors/src/stages/stage.ts';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    workers: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '3' },
    limit: { type: 'string' },
  },
});
const dir = positionals[0];
if (!dir) {
  console.error('usage: ocr.bench.ts <images-dir> [--workers N] [--rounds N] [--warmup N] [--limit N]');
  process.exit(2);
}
const WORKERS = Number(args.workers);
const ROUNDS = Number(args.rounds);
const WARMUP = Number(args.warmup);

const names = (await readdir(dir)).filter((n) => /\.(jpe?g|png|tiff?)$/i.test(n)).sort();
const selected = args.limit ? names.slice(0, Number(args.limit)) : names;
if (selected.length === 0) {
  console.error(`no images in ${dir}`);
  process.exit(2);
}
const images = await Promise.all(selected.map(async (name) => ({ name, bytes: new Uint8Array(await readFile(join(dir, name))) })));

const ocr = new TesseractOcr({ workers: WORKERS });
const startedAt = performance.now();
await ocr.start();
const startMs = performance.now() - startedAt;
const signal = new AbortController().signal;
const progress = { setTotal() {}, advance() {} };

/** OCRs every image with `WORKERS` in flight; returns the pages by image name. */
async function pass(list: typeof images): Promise<Map<string, ExtractedPage>> {
  const out = new Map<string, ExtractedPage>();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < list.length) {
      const image = list[next++]!;
      const [page] = await ocrImage(image.bytes, { ocr, signal, progress });
      if (page) out.set(image.name, page);
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, lane));
  return out;
}

await pass(images.slice(0, WARMUP));

const rounds: { ms: number; pagesPerSecond: number; cpuMsPerPage: number }[] = [];
let last = new Map<string, ExtractedPage>();
for (let r = 0; r < ROUNDS; r += 1) {
  const t0 = performance.now();
  // CPU time of the whole process, Tesseract's threads included: a figure that, unlike wall
  // time, does not depend on what else the machine is running.
  const cpu0 = process.cpuUsage();
  last = await pass(images);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  rounds.push({
    ms: Math.round(ms),
    pagesPerSecond: round((images.length * 1000) / ms, 3),
    cpuMsPerPage: Math.round((cpu.user + cpu.system) / 1000 / images.length),
  });
  console.log(`round ${r + 1}: ${images.length} pages in ${Math.round(ms)} ms, ${round((images.length * 1000) / ms, 3)} pages/s`);
}
await ocr.close();

// Quality against the line transcripts, where the dataset has them.
let truthTokens = 0;
let foundTokens = 0;
let matched = 0;
const boxesDir = resolve(dir, '..', 'boxes');
for (const [name, page] of last) {
  const truthText = await readFile(join(boxesDir, `${basename(name, extname(name))}.csv`), 'utf8').catch(() => null);
  if (truthText === null) continue;
  // Each row: eight coordinates, then the transcript (which may hold commas).
  const truth = truthText
    .split('\n')
    .map((row) => row.split(',').slice(8).join(','))
    .join(' ');
  const counts = bag(truth);
  const found = bag(page.text);
  for (const n of counts.values()) truthTokens += n;
  for (const [token, n] of found) {
    foundTokens += n;
    matched += Math.min(n, counts.get(token) ?? 0);
  }
}
const precision = foundTokens ? matched / foundTokens : null;
const recall = truthTokens ? matched / truthTokens : null;
const f1 = precision !== null && recall !== null && precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : null;

const median = medianOf(rounds.map((r) => r.pagesPerSecond));
const pages = [...last.values()];
console.log(
  JSON.stringify({
    bench: 'ocr',
    images: images.length,
    workers: WORKERS,
    rounds,
    pagesPerSecond: median,
    msPerPage: round(1000 / median, 1),
    cpuMsPerPage: medianOf(rounds.map((r) => r.cpuMsPerPage)),
    engineStartMs: Math.round(startMs),
    meanWordConfidence: round(pages.reduce((s, p) => s + p.confidence, 0) / Math.max(1, pages.length), 1),
    meanPixels: Math.round(pages.reduce((s, p) => s + p.width * p.height, 0) / Math.max(1, pages.length)),
    bagOfWords:
      f1 === null ? null : { precision: round(precision!, 4), recall: round(recall!, 4), f1: round(f1, 4), caseInsensitive: true },
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    node: process.version,
  }),
);

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : round((sorted[mid - 1]! + sorted[mid]!) / 2, 3);
}

function bag(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const token of text.toLowerCase().split(/\s+/).filter(Boolean)) out.set(token, (out.get(token) ?? 0) + 1);
  return out;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
