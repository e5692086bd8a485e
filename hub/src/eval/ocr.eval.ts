/**
 * `quire eval ocr <dir>`: OCR quality and speed of the product's OCR stage on a dataset laid
 * out as SROIE (`images/<id>.jpg`, `boxes/<id>.csv`), beside the native `tesseract` command
 * on the same pages with the same number of cores.
 *
 * Per page and overall: CER and WER (case-sensitive, and case-folded), bag-of-words
 * precision, recall and F1 (case-insensitive, as the SROIE README states its Tesseract
 * baseline); see processors/src/eval/ocr-metrics.ts for the definitions and edge cases.
 * Overall figures are micro (total edits over total reference length, summed word counts),
 * with the mean of the per-page values beside them. Speed is pages per second of one pass,
 * engine start excluded. Ratios are product ÷ native: above 1 is better for F1 and speed,
 * below 1 is better for CER and WER.
 *
 * Exit codes: 0 done; 1 every page failed in the product; 2 bad options or dataset.
 */
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AppError } from '@quire/kernel';
import { TesseractOcr } from '@quire/processors';
import { readSroieDataset, scoreCorpus, scorePage, type PageScore, type SroiePage, type TextScores } from '@quire/processors/eval';
import type { EvalContext } from './eval.command.ts';
import { findNativeTesseract, type NativeTesseract } from './native-tesseract.ts';
import { loadImages, nativeRecogniser, productRecogniser, runOcrPass, type OcrPass, type PageOutcome } from './ocr-pass.ts';
import { describeMachine, formatTable, jsonLine, type Cell } from './report.ts';

const USAGE = `Usage: quire eval ocr <dir> [options]

<dir> holds images/<id>.jpg|png|tiff|webp and boxes/<id>.csv (x1,y1,…,x4,y4,transcript per
line), as the SROIE receipts dataset does.

Options:
  --limit N           only the first N images, in name order (default: all)
  --workers N         pages in flight, one core each, for the product and the baseline (default 1)
  --no-baseline       skip the native tesseract baseline
  --tesseract PATH    the native tesseract command (default: tesseract on PATH, skipped if absent)
  --help              show this text

Prints a table per page, an overall table, and a last line of JSON holding every figure.`;

/** The figures of one page for one engine, flat for the JSON line. */
export interface PageFigures extends TextScores {
  ms: number;
  error?: string;
}

/** Overall figures of one engine. */
export interface EngineFigures extends TextScores {
  engine: string;
  pages: number;
  failed: number;
  /** Means of the per-page values. */
  mean: TextScores;
  /** The sums behind the micro figures. */
  counts: {
    characterErrors: number;
    referenceCharacters: number;
    wordErrors: number;
    referenceWords: number;
    matchedWords: number;
    hypothesisWords: number;
  };
  pagesPerSecond: number;
  msPerPage: number;
  cpuMsPerPage: number | null;
  wallMs: number;
}

interface Options {
  dir: string;
  limit: number | undefined;
  workers: number;
  baseline: boolean;
  tesseract: string | undefined;
}

export async function runOcrEval(argv: string[], ctx: EvalContext): Promise<number> {
  let options: Options | 'help';
  try {
    options = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`eval ocr: BAD_OPTION: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }

  let dataset: SroiePage[];
  try {
    dataset = await readSroieDataset(options.dir, { limit: options.limit });
  } catch (error) {
    if (error instanceof AppError) {
      process.stderr.write(`eval ocr: ${error.code}: ${error.message}\n`);
      return 2;
    }
    throw error;
  }

  let native: NativeTesseract | null = null;
  let nativeSkipped: string | null = null;
  if (!options.baseline) {
    nativeSkipped = 'native baseline turned off by --no-baseline';
  } else {
    const found = await findNativeTesseract(options.tesseract);
    if ('missing' in found) {
      if (options.tesseract !== undefined) {
        process.stderr.write(`eval ocr: TESSERACT_NOT_FOUND: ${found.missing}\n`);
        return 2;
      }
      nativeSkipped = `no native baseline: ${found.missing}`;
      process.stderr.write(`${nativeSkipped}\n`);
    } else {
      native = found;
    }
  }

  const images = await loadImages(dataset);
  process.stderr.write(`OCR of ${images.length} pages from ${options.dir}, ${options.workers} worker(s), on ${describeMachine()}\n`);

  const ocr = new TesseractOcr({ workers: options.workers, logger: ctx.logger.child({ component: 'ocr' }) });
  let product: OcrPass;
  let startMs: number;
  try {
    const t0 = performance.now();
    await ocr.start();
    startMs = performance.now() - t0;
    product = await runOcrPass(images, { workers: options.workers, recognise: productRecogniser(ocr), onPage: progress('product') });
  } finally {
    await ocr.close();
  }
  const nativePass = native
    ? await runOcrPass(images, { workers: options.workers, recognise: nativeRecogniser(native), onPage: progress('native') })
    : null;

  const productScores = scorePages(dataset, product.pages);
  const nativeScores = nativePass ? scorePages(dataset, nativePass.pages) : null;
  const productFigures = engineFigures('product (tesseract.js)', product, productScores);
  const nativeFigures = nativePass && nativeScores && native ? engineFigures(`native (${native.version})`, nativePass, nativeScores) : null;
  const ratios = nativeFigures
    ? {
        f1: productFigures.f1 / nativeFigures.f1,
        cer: productFigures.cer / nativeFigures.cer,
        wer: productFigures.wer / nativeFigures.wer,
        cerIgnoreCase: productFigures.cerIgnoreCase / nativeFigures.cerIgnoreCase,
        werIgnoreCase: productFigures.werIgnoreCase / nativeFigures.werIgnoreCase,
        pagesPerSecond: productFigures.pagesPerSecond / nativeFigures.pagesPerSecond,
        cpuMsPerPage:
          productFigures.cpuMsPerPage !== null && nativeFigures.cpuMsPerPage !== null
            ? productFigures.cpuMsPerPage / nativeFigures.cpuMsPerPage
            : null,
      }
    : null;

  const perPage = dataset.map((page, i) => ({
    id: page.id,
    referenceCharacters: productScores[i]!.cer.referenceLength,
    referenceWords: productScores[i]!.wer.referenceLength,
    product: pageFigures(productScores[i]!, product.pages[i]!),
    native: nativeScores && nativePass ? pageFigures(nativeScores[i]!, nativePass.pages[i]!) : null,
  }));

  process.stdout.write(`\nPer page (CER, WER case-sensitive; bag of words case-insensitive)\n\n`);
  process.stdout.write(
    `${formatTable(
      [
        'page',
        'ref words',
        'CER',
        'WER',
        'P',
        'R',
        'F1',
        'ms',
        ...(nativeFigures ? ['native CER', 'native WER', 'native F1', 'native ms'] : []),
        'error',
      ],
      perPage.map((p) => [
        p.id,
        p.referenceWords,
        p.product.cer,
        p.product.wer,
        p.product.precision,
        p.product.recall,
        p.product.f1,
        Math.round(p.product.ms),
        ...(p.native ? [p.native.cer, p.native.wer, p.native.f1, Math.round(p.native.ms)] : []),
        [p.product.error && `product ${p.product.error}`, p.native?.error && `native ${p.native.error}`].filter(Boolean).join('; '),
      ]),
    )}\n`,
  );

  process.stdout.write(`\nOverall, ${dataset.length} pages, ${options.workers} worker(s) each (micro: summed over pages)\n\n`);
  process.stdout.write(
    `${formatTable(['measure', 'product', 'native', 'product/native'], overallRows(productFigures, nativeFigures, startMs))}\n`,
  );
  if (nativeFigures) {
    process.stdout.write('\nproduct/native: above 1 is better for precision, recall, F1 and pages/s; below 1 for error rates and times.\n');
  }
  if (nativeSkipped) process.stdout.write(`\n${nativeSkipped}\n`);

  process.stdout.write(
    `${jsonLine('eval.ocr', {
      dataset: basename(resolve(options.dir)),
      pages: dataset.length,
      workers: options.workers,
      product: { ...productFigures, engineStartMs: startMs },
      native: nativeFigures,
      nativeSkipped,
      ratios,
      perPage,
    })}\n`,
  );
  if (product.failed === images.length) {
    process.stderr.write(`eval ocr: every page failed in the product's OCR stage\n`);
    return 1;
  }
  return 0;
}

function parseOptions(argv: string[]): Options | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      limit: { type: 'string' },
      workers: { type: 'string', default: '1' },
      'no-baseline': { type: 'boolean', default: false },
      tesseract: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  if (positionals.length !== 1) throw new Error(`expected one dataset folder, got ${positionals.length}`);
  return {
    dir: positionals[0]!,
    limit: values.limit === undefined ? undefined : positiveInteger('--limit', values.limit),
    workers: positiveInteger('--workers', values.workers),
    baseline: !values['no-baseline'],
    tesseract: values.tesseract,
  };
}

function positiveInteger(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

function progress(engine: string): (outcome: PageOutcome, done: number, total: number) => void {
  return (outcome, done, total) =>
    process.stderr.write(
      `${engine} ${done}/${total} ${outcome.id} ${Math.round(outcome.ms)} ms${outcome.error ? ` ${outcome.error}` : ''}\n`,
    );
}

function scorePages(dataset: readonly SroiePage[], outcomes: readonly PageOutcome[]): PageScore[] {
  return dataset.map((page, i) => scorePage(page.reference, outcomes[i]!.text));
}

function pageFigures(score: PageScore, outcome: PageOutcome): PageFigures {
  return {
    cer: score.cer.rate,
    wer: score.wer.rate,
    cerIgnoreCase: score.cerIgnoreCase.rate,
    werIgnoreCase: score.werIgnoreCase.rate,
    precision: score.bagOfWords.precision,
    recall: score.bagOfWords.recall,
    f1: score.bagOfWords.f1,
    ms: outcome.ms,
    ...(outcome.error ? { error: outcome.error } : {}),
  };
}

function engineFigures(engine: string, pass: OcrPass, scores: readonly PageScore[]): EngineFigures {
  const corpus = scoreCorpus(scores);
  return {
    engine,
    pages: corpus.pages,
    failed: pass.failed,
    cer: corpus.cer.rate,
    wer: corpus.wer.rate,
    cerIgnoreCase: corpus.cerIgnoreCase.rate,
    werIgnoreCase: corpus.werIgnoreCase.rate,
    precision: corpus.bagOfWords.precision,
    recall: corpus.bagOfWords.recall,
    f1: corpus.bagOfWords.f1,
    mean: corpus.mean,
    counts: {
      characterErrors: corpus.cer.errors,
      referenceCharacters: corpus.cer.referenceLength,
      wordErrors: corpus.wer.errors,
      referenceWords: corpus.wer.referenceLength,
      matchedWords: corpus.bagOfWords.matched,
      hypothesisWords: corpus.bagOfWords.hypothesisWords,
    },
    pagesPerSecond: pass.pagesPerSecond,
    msPerPage: pass.pagesPerSecond > 0 ? 1000 / pass.pagesPerSecond : Number.NaN,
    cpuMsPerPage: pass.cpuMsPerPage,
    wallMs: pass.wallMs,
  };
}

function overallRows(product: EngineFigures, native: EngineFigures | null, startMs: number): Cell[][] {
  const row = (label: string, pick: (f: EngineFigures) => number | null): Cell[] => {
    const p = pick(product);
    const n = native ? pick(native) : null;
    return [label, p, n, p !== null && n !== null && n !== 0 ? p / n : null];
  };
  return [
    row('CER', (f) => f.cer),
    row('WER', (f) => f.wer),
    row('CER, case folded', (f) => f.cerIgnoreCase),
    row('WER, case folded', (f) => f.werIgnoreCase),
    row('bag-of-words precision', (f) => f.precision),
    row('bag-of-words recall', (f) => f.recall),
    row('bag-of-words F1', (f) => f.f1),
    row('mean page CER', (f) => f.mean.cer),
    row('mean page WER', (f) => f.mean.wer),
    row('mean page F1', (f) => f.mean.f1),
    row('pages/s', (f) => f.pagesPerSecond),
    row('ms/page', (f) => f.msPerPage),
    row('CPU ms/page', (f) => f.cpuMsPerPage),
    ['failed pages', product.failed, native?.failed, null],
    ['engine start ms', startMs, null, null],
  ];
}
