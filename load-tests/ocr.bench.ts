/**
 * OCR throughput: the product's OCR stage (sharp decode, grey, tesseract.js with the English
 * LSTM model, exactly as the pipeline runs it for an image) beside the native `tesseract`
 * command, on the same pages and the same number of cores.
 *
 *   node --import tsx load-tests/ocr.bench.ts <sroie-dir> [--workers 1] [--rounds 3] [--warmup 1] [--limit N]
 *                                             [--tesseract PATH] [--no-baseline]
 *
 * `<sroie-dir>` holds `images/<id>.jpg` and `boxes/<id>.csv`, as the SROIE receipts do. Both
 * engines keep `--workers` pages in flight, one core each (tesseract.js workers; native
 * processes with OMP_THREAD_LIMIT=1, whose time includes starting the process and loading
 * the model, as the command costs a caller). After `--warmup` unmeasured rounds, each of
 * `--rounds` rounds runs the product over every page and then the native command, so both
 * share the machine's state of that moment and their per-round ratio stays steady.
 *
 * Reported per engine: pages per second (median of rounds, min, max, spread), milliseconds
 * and CPU milliseconds per page (all threads and child processes: steady even on a busy
 * machine), and case-insensitive bag-of-words precision, recall and F1 of the last round
 * against the transcripts (the measure the dataset's README and earlier runs of this test
 * use), so speed is never read without quality. The ratio is product ÷ native, per round.
 * `quire eval ocr` gives the full quality figures.
 *
 * Measures, never asserts. The last line is JSON.
 */
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { TesseractOcr } from '../processors/src/engines/ocr.engine.ts';
import { AppError } from '@quire/kernel';
import { scoreCorpus, scorePage } from '../processors/src/eval/ocr-metrics.ts';
import { readSroieDataset } from '../processors/src/eval/sroie.ts';
import { findNativeTesseract, type NativeTesseract } from '../hub/src/eval/native-tesseract.ts';
import { loadImages, nativeRecogniser, productRecogniser, runOcrPass, type OcrPass } from '../hub/src/eval/ocr-pass.ts';
import { describeMachine, formatTable, jsonLine, measureRoundFigures, summarizeRounds, type RoundSummary } from '../hub/src/eval/report.ts';

const USAGE = 'usage: ocr.bench.ts <sroie-dir> [--workers N] [--rounds N] [--warmup N] [--limit N] [--tesseract PATH] [--no-baseline]';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    workers: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    limit: { type: 'string' },
    tesseract: { type: 'string' },
    'no-baseline': { type: 'boolean', default: false },
  },
});
const dir = positionals[0];
if (!dir) fail(USAGE);
const WORKERS = count('--workers', args.workers, 1);
const ROUNDS = count('--rounds', args.rounds, 1);
const WARMUP = count('--warmup', args.warmup, 0);
const LIMIT = args.limit === undefined ? undefined : count('--limit', args.limit, 1);

const dataset = await readSroieDataset(dir, { limit: LIMIT }).catch((error: unknown) =>
  fail(error instanceof AppError ? `${error.code}: ${error.message}` : String(error)),
);
const images = await loadImages(dataset);

let native: NativeTesseract | null = null;
let nativeSkipped: string | null = args['no-baseline'] ? 'native baseline turned off by --no-baseline' : null;
if (!nativeSkipped) {
  const found = await findNativeTesseract(args.tesseract);
  if ('missing' in found) {
    if (args.tesseract !== undefined) fail(`TESSERACT_NOT_FOUND: ${found.missing}`);
    nativeSkipped = `no native baseline: ${found.missing}`;
  } else {
    native = found;
  }
}
console.error(`${images.length} pages, ${WORKERS} worker(s), ${WARMUP} warm-up + ${ROUNDS} rounds, on ${describeMachine()}`);
if (nativeSkipped) console.error(nativeSkipped);

const ocr = new TesseractOcr({ workers: WORKERS });
const t0 = performance.now();
await ocr.start();
const engineStartMs = performance.now() - t0;
const recogniseProduct = productRecogniser(ocr);
const recogniseNative = native ? nativeRecogniser(native) : null;

let lastProduct: OcrPass | null = null;
let lastNative: OcrPass | null = null;
type Figure = 'product' | 'native' | 'ratio' | 'productCpu' | 'nativeCpu';
let figures: Partial<Record<Figure, RoundSummary>>;
try {
  figures = await measureRoundFigures<Figure>({
    warmup: WARMUP,
    rounds: ROUNDS,
    round: async (index) => {
      const product = await runOcrPass(images, { workers: WORKERS, recognise: recogniseProduct });
      const nativePass = recogniseNative ? await runOcrPass(images, { workers: WORKERS, recognise: recogniseNative }) : null;
      lastProduct = product;
      lastNative = nativePass;
      const label = index < 0 ? 'warm-up' : `round ${index + 1}`;
      console.error(
        `${label}: product ${product.pagesPerSecond.toFixed(3)} pages/s` +
          (nativePass ? `, native ${nativePass.pagesPerSecond.toFixed(3)} pages/s` : ''),
      );
      const out: Partial<Record<Figure, number>> = { product: product.pagesPerSecond };
      if (product.cpuMsPerPage !== null) out.productCpu = product.cpuMsPerPage;
      if (nativePass) {
        out.native = nativePass.pagesPerSecond;
        out.ratio = product.pagesPerSecond / nativePass.pagesPerSecond;
        if (nativePass.cpuMsPerPage !== null) out.nativeCpu = nativePass.cpuMsPerPage;
      }
      return out as Record<Figure, number>;
    },
  });
} finally {
  await ocr.close();
}

/** Case-insensitive bag of words of a pass against the transcripts, micro over pages. */
function quality(pass: OcrPass | null): { precision: number; recall: number; f1: number; failed: number } | null {
  if (!pass) return null;
  const { bagOfWords } = scoreCorpus(dataset.map((page, i) => scorePage(page.reference, pass.pages[i]!.text)));
  return { precision: bagOfWords.precision, recall: bagOfWords.recall, f1: bagOfWords.f1, failed: pass.failed };
}

const engine = (speed: RoundSummary | undefined, cpu: RoundSummary | undefined, pass: OcrPass | null) =>
  speed
    ? {
        pagesPerSecond: speed,
        msPerPage: 1000 / speed.median,
        cpuMsPerPage: cpu ?? null,
        bagOfWords: quality(pass),
      }
    : null;
const product = engine(figures.product, figures.productCpu, lastProduct)!;
const nativeFigures = engine(figures.native, figures.nativeCpu, lastNative);
const cpuRatio =
  figures.productCpu && figures.nativeCpu
    ? summarizeRounds(figures.productCpu.rounds.map((p, i) => p / figures.nativeCpu!.rounds[i]!))
    : null;

const row = (name: string, e: NonNullable<ReturnType<typeof engine>>) => [
  name,
  e.pagesPerSecond.median,
  e.pagesPerSecond.min,
  e.pagesPerSecond.max,
  e.pagesPerSecond.spreadPct,
  e.msPerPage,
  e.cpuMsPerPage?.median,
  e.bagOfWords?.f1,
];
console.log(
  formatTable(
    ['engine', 'pages/s', 'min', 'max', 'spread %', 'ms/page', 'CPU ms/page', 'BoW F1'],
    [
      row('product (tesseract.js)', product),
      ...(nativeFigures && native ? [row(`native (${native.version})`, nativeFigures)] : []),
      ...(figures.ratio
        ? [
            [
              'product/native',
              figures.ratio.median,
              figures.ratio.min,
              figures.ratio.max,
              figures.ratio.spreadPct,
              null,
              cpuRatio?.median,
              null,
            ],
          ]
        : []),
    ],
  ),
);
console.log(
  jsonLine('bench.ocr', {
    dataset: basename(resolve(dir)),
    pages: images.length,
    workers: WORKERS,
    warmup: WARMUP,
    rounds: ROUNDS,
    engineStartMs,
    product,
    native: nativeFigures && native ? { version: native.version, ...nativeFigures } : null,
    nativeSkipped,
    ratio: figures.ratio ? { pagesPerSecond: figures.ratio, cpuMsPerPage: cpuRatio } : null,
  }),
);

function count(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    fail(`BAD_OPTION: ${name} must be an integer of at least ${min}, got ${JSON.stringify(value)}\n${USAGE}`);
  return n;
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}
