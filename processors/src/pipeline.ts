/**
 * The processing pipeline: one document's bytes in, result parts and progress reports out.
 *
 *   detect → extract (text, PDF text layer) and/or OCR (images, scanned PDF pages)
 *          → chunk → embed → classify → fields
 *
 * Results leave as parts as soon as they exist (page batches after extraction and OCR,
 * chunk batches after embedding, one summary last), each part well under the bus's message
 * limit. Progress is reported at every stage change, after units of work, and at least every
 * `progressIntervalMs` while a long unit runs. Failures are {@link PipelineError}s naming
 * the stage and whether a retry can help.
 */
import type { Logger } from 'pino';
import type { Embedder } from './engines/embedder.ts';
import type { TesseractOcr } from './engines/ocr.engine.ts';
import { openPdf, PdfError, type PdfDocument } from './engines/pdf.engine.ts';
import {
  type ChunkResult,
  type Classification,
  type ClassifierSettings,
  type FailedStage,
  type Fields,
  MAX_MESSAGE_BYTES,
  type PageResult,
  PipelineError,
  PipelineErrorCode,
  type ProcessJob,
  type ResultPart,
  Stage,
  SupportedMime,
} from '@quire/kernel';
import { ProgressTracker, type PipelineProgress } from './progress-tracker.ts';
import { chunkPages, type ChunkOptions } from './stages/chunk.stage.ts';
import { createClassifier, type Classifier } from './stages/classify.stage.ts';
import { detect } from './stages/detect.stage.ts';
import { embedTexts, vectorToJson } from './stages/embed.stage.ts';
import { DEFAULT_MAX_PAGE_CHARS, extractPdfText, extractPlainText, isPlainText } from './stages/extract.stage.ts';
import { extractFields } from './stages/fields.stage.ts';
import { ocrImage, ocrPdfPages } from './stages/ocr.stage.ts';
import { toPageResult, type ExtractedPage, type StageProgress } from './stages/stage.ts';

export type { PipelineProgress } from './progress-tracker.ts';

/** Limits and tuning of a pipeline run. Every field has a default that suits one CPU node. */
export interface PipelineOptions {
  /** Largest document in bytes. Default 100 MiB. */
  maxBytes?: number;
  /** Most pages (PDF pages, TIFF pages). Default 2000. */
  maxPages?: number;
  /** Resolution scanned PDF pages are rendered at, and text-layer boxes refer to. Default 200. */
  dpi?: number;
  /** Most pixels per page image; larger pages are rendered or scaled smaller. Default 12 M. */
  maxPagePixels?: number;
  /** A PDF page with fewer visible text-layer characters is OCR'd. Default 16. */
  minTextChars?: number;
  /** Longest page text kept. Default 100 000 characters. */
  maxPageChars?: number;
  /** Chunk sizes. Default 500 target, 1000 maximum characters. */
  chunk?: ChunkOptions;
  /**
   * Most passages (chunks) one document may have. Embedding is the slowest stage per
   * character, so this bounds a run's work before it starts: a longer document fails with
   * `DOCUMENT_TOO_LONG` instead of occupying a worker for an hour. Default 10 000
   * (about 5 million characters of text).
   */
  maxChunks?: number;
  /** Longest one embedding call should take; batch sizes adapt to it. Default 250 ms. */
  embedBatchBudgetMs?: number;
  /** Serialized size above which a page or chunk batch is split into more parts. Default 512 KiB. */
  maxPartBytes?: number;
  /** Longest silence between progress reports while a stage runs. Default 250 ms. */
  progressIntervalMs?: number;
}

/** What a pipeline run needs besides the job and its bytes. */
export interface PipelineContext {
  embedder: Embedder;
  ocr: TesseractOcr;
  /** Label sets and examples for the classify stage. */
  classifier: ClassifierSettings;
  /** Aborting it stops the run with `JOB_CANCELLED` at the next unit of work. */
  signal: AbortSignal;
  onProgress(progress: PipelineProgress): void;
  /** Receives each result part in order; the run waits for a returned promise. */
  onResult(part: ResultPart): void | Promise<void>;
  options?: PipelineOptions;
  logger?: Logger;
}

const STAGE_ORDER = [Stage.Detect, Stage.Extract, Stage.Ocr, Stage.Chunk, Stage.Embed, Stage.Classify, Stage.Fields] as const;
/** Default of {@link PipelineOptions.maxChunks}. */
const DEFAULT_MAX_CHUNKS = 10_000;
/** Chunks per page assumed before chunking has run, to price the embed stage. */
const CHUNKS_PER_PAGE_GUESS = 2;
/** Room for the part envelope (kind, ids) around the pages or chunks of a part. */
const ENVELOPE_BYTES = 1024;

// One classifier per embedder: it caches label embeddings across jobs.
const classifiers = new WeakMap<Embedder, Classifier>();

function classifierFor(embedder: Embedder): Classifier {
  let classifier = classifiers.get(embedder);
  if (!classifier) {
    classifier = createClassifier(embedder);
    classifiers.set(embedder, classifier);
  }
  return classifier;
}

/**
 * Embeds a label set ahead of the first job that uses it. The first classification with a
 * label set embeds all its descriptions and prompts in one long model call; a worker does
 * that at start rather than in the middle of a job.
 */
export async function warmUpClassifier(embedder: Embedder, settings: ClassifierSettings): Promise<void> {
  const [probe] = await embedder.embedDocuments(['warm-up']);
  if (probe) await classifierFor(embedder).classify(probe, [], settings);
}

/**
 * Runs the pipeline over one document.
 * @param data the document's bytes; the PDF reader may take ownership of them
 * @throws PipelineError on any failure, with the failing stage and `retryable`
 */
export async function runPipeline(job: ProcessJob, data: Uint8Array, ctx: PipelineContext): Promise<void> {
  const options = ctx.options ?? {};
  const maxPartBytes = Math.min(options.maxPartBytes ?? 512 * 1024, MAX_MESSAGE_BYTES - ENVELOPE_BYTES);
  const dpi = options.dpi ?? 200;
  const maxPages = options.maxPages ?? 2000;
  const maxPagePixels = options.maxPagePixels ?? 12_000_000;
  const maxPageChars = options.maxPageChars ?? DEFAULT_MAX_PAGE_CHARS;
  const ids = { jobId: job.jobId, documentId: job.documentId, teamId: job.teamId };
  const { signal } = ctx;
  const tracker = new ProgressTracker(STAGE_ORDER);
  const deliver = async (part: ResultPart): Promise<void> => {
    try {
      await ctx.onResult(part);
    } catch (error) {
      if (error instanceof PipelineError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new PipelineError(PipelineErrorCode.ResultDeliveryFailed, `a result part could not be delivered: ${message}`, {
        stage: tracker.stage,
        retryable: true,
        cause: error,
      });
    }
  };

  const timings: Record<string, number> = {};
  let stageStart = performance.now();
  let lastEmit = 0;
  const emit = (): void => {
    lastEmit = performance.now();
    try {
      ctx.onProgress(tracker.snapshot());
    } catch (error) {
      ctx.logger?.warn({ err: error }, 'progress listener failed');
    }
  };
  const enter = (stage: Stage): void => {
    const now = performance.now();
    if (tracker.stage !== stage) timings[tracker.stage] = (timings[tracker.stage] ?? 0) + (now - stageStart);
    stageStart = now;
    tracker.enter(stage);
    emit();
  };
  const progress: StageProgress = {
    setTotal: (total) => tracker.setTotal(total),
    advance: (count) => {
      tracker.advance(count);
      // Units can be tiny (a text-layer page); the ticker covers the gaps between reports.
      if (performance.now() - lastEmit >= 100) emit();
    },
  };
  const interval = options.progressIntervalMs ?? 250;
  const ticker = setInterval(() => {
    if (performance.now() - lastEmit >= interval * 0.8) emit();
  }, interval / 2);

  let pdf: PdfDocument | null = null;
  try {
    tracker.enter(Stage.Detect);
    emit();
    const { mime, text: decodedText } = await detect(data, job, options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes });
    signal.throwIfAborted();

    // Price the stages this document will go through; later stages refine their totals.
    let pages: ExtractedPage[];
    if (isPlainText(mime)) {
      tracker.setTotal(0, Stage.Ocr);
      enter(Stage.Extract);
      pages = extractPlainText(decodedText ?? data, { maxPageChars });
      tracker.advance();
    } else if (mime === SupportedMime.Pdf) {
      enter(Stage.Extract);
      pdf = await openPdfOrFail(data, { maxPages, maxPagePixels, minTextChars: options.minTextChars ?? 16 });
      const pageCount = pdf.pageCount;
      tracker.setTotal(pageCount, Stage.Ocr);
      tracker.setTotal(pageCount * CHUNKS_PER_PAGE_GUESS, Stage.Embed);
      let read = 0;
      let scannedSoFar = 0;
      const text = await extractPdfText(pdf, {
        signal,
        dpi,
        maxPageChars,
        progress,
        onPageRead: (scanned) => {
          read += 1;
          if (scanned) scannedSoFar += 1;
          // Until every page is read, assume the rest is scanned in the same proportion.
          tracker.setTotal(Math.round((scannedSoFar / read) * pageCount), Stage.Ocr);
        },
      });
      tracker.setTotal(text.scanned.length, Stage.Ocr);
      pages = text.pages;
      if (text.scanned.length > 0) {
        enter(Stage.Ocr);
        const scanned = await ocrPdfPages(pdf, text.scanned, { ocr: ctx.ocr, signal, progress, dpi, maxPageChars });
        pages = [...pages, ...scanned].sort((a, b) => a.page - b.page);
      }
      await pdf.close();
      pdf = null;
    } else {
      tracker.setTotal(0, Stage.Extract);
      enter(Stage.Ocr);
      pages = await ocrImage(data, { ocr: ctx.ocr, signal, progress, maxPagePixels, maxPages, maxPageChars });
    }
    signal.throwIfAborted();
    await emitPages(pages, ids, maxPartBytes, deliver);

    enter(Stage.Chunk);
    const chunks = chunkPages(
      // Plain text has no geometry: its chunks carry offsets only.
      pages.map((page) => (page.source === 'plain' ? { ...page, words: [], wordOffsets: [] } : page)),
      options.chunk,
    );
    const maxChunks = options.maxChunks ?? DEFAULT_MAX_CHUNKS;
    if (chunks.length > maxChunks) {
      throw new PipelineError(
        PipelineErrorCode.DocumentTooLong,
        `the document's text makes ${chunks.length} passages, more than the limit of ${maxChunks}`,
        { stage: 'chunk', details: { chunks: chunks.length, maxChunks } },
      );
    }
    tracker.setTotal(chunks.length, Stage.Embed);
    tracker.advance();

    enter(Stage.Embed);
    const texts = chunks.map((chunk) => chunk.text);
    const vectors = await embedTexts(texts, {
      embedder: ctx.embedder,
      signal,
      progress,
      ...(options.embedBatchBudgetMs === undefined ? {} : { batchBudgetMs: options.embedBatchBudgetMs }),
    });
    const chunkResults: ChunkResult[] = chunks.map((chunk, i) => ({ ...chunk, vector: vectorToJson(vectors[i]!) }));
    await emitBatches(chunkResults, maxPartBytes, (batch) => deliver({ kind: 'chunks', ...ids, chunks: batch }));

    enter(Stage.Classify);
    const classification = await classifyDocument(ctx, vectors, texts);
    tracker.advance();

    enter(Stage.Fields);
    let fields: Fields;
    try {
      fields = extractFields(pages, classification.type.label);
    } catch (error) {
      throw new PipelineError(PipelineErrorCode.FieldExtractionFailed, 'field extraction failed', { stage: 'fields', cause: error });
    }
    tracker.advance();
    timings[Stage.Fields] = (timings[Stage.Fields] ?? 0) + (performance.now() - stageStart);

    await deliver({
      kind: 'summary',
      ...ids,
      pageCount: pages.length,
      chunkCount: chunkResults.length,
      classification,
      fields,
      model: { modelId: ctx.embedder.modelId, dimension: ctx.embedder.dimension },
      timings: Object.fromEntries(Object.entries(timings).map(([stage, ms]) => [stage, Math.round(ms)])),
    });
    tracker.finish();
    emit();
  } catch (error) {
    throw asPipelineError(error, tracker.stage, signal);
  } finally {
    clearInterval(ticker);
    if (pdf) await pdf.close().catch(() => {});
  }
}

async function openPdfOrFail(data: Uint8Array, options: Parameters<typeof openPdf>[1]): Promise<PdfDocument> {
  try {
    return await openPdf(data, options);
  } catch (error) {
    if (error instanceof PdfError) {
      const code =
        error.kind === 'encrypted'
          ? PipelineErrorCode.PdfEncrypted
          : error.kind === 'too-many-pages'
            ? PipelineErrorCode.DocumentTooLarge
            : PipelineErrorCode.PdfUnreadable;
      throw new PipelineError(code, error.message, { stage: 'extract', cause: error });
    }
    throw error;
  }
}

async function classifyDocument(ctx: PipelineContext, vectors: Float32Array[], texts: string[]): Promise<Classification> {
  const classifier = classifierFor(ctx.embedder);
  try {
    // A document without any text still gets a (low-confidence) decision: the empty text's vector.
    const input = vectors.length > 0 ? vectors : await ctx.embedder.embedDocuments(['']);
    return await classifier.classify(input, texts, ctx.classifier);
  } catch (error) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    throw new PipelineError(PipelineErrorCode.ClassificationFailed, 'classification failed', {
      stage: 'classify',
      retryable: true,
      cause: error,
    });
  }
}

async function emitPages(
  pages: readonly ExtractedPage[],
  ids: { jobId: string; documentId: string; teamId: string },
  maxPartBytes: number,
  deliver: (part: ResultPart) => Promise<void>,
): Promise<void> {
  const results = pages.map((page) =>
    fitPage(page.source === 'plain' ? { ...toPageResult(page), words: [] } : toPageResult(page), maxPartBytes),
  );
  await emitBatches(results, maxPartBytes, (batch) => deliver({ kind: 'pages', ...ids, pages: batch }));
}

/** Drops words, then text, from a page that alone would not fit in a part. */
function fitPage(page: PageResult, maxBytes: number): PageResult {
  let fitted = page;
  while (byteSize(fitted) > maxBytes) {
    if (fitted.words.length > 0) fitted = { ...fitted, words: fitted.words.slice(0, Math.floor(fitted.words.length / 2)) };
    else fitted = { ...fitted, text: fitted.text.slice(0, Math.floor(fitted.text.length / 2)) };
  }
  return fitted;
}

/** Sends `items` in batches whose serialized size stays under `maxBytes`. */
async function emitBatches<T>(items: readonly T[], maxBytes: number, send: (batch: T[]) => void | Promise<void>): Promise<void> {
  let batch: T[] = [];
  let size = 0;
  for (const item of items) {
    const itemSize = byteSize(item) + 1;
    if (batch.length > 0 && size + itemSize > maxBytes) {
      await send(batch);
      batch = [];
      size = 0;
    }
    batch.push(item);
    size += itemSize;
  }
  if (batch.length > 0) await send(batch);
}

function byteSize(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

function asPipelineError(error: unknown, stage: FailedStage, signal: AbortSignal): PipelineError {
  if (error instanceof PipelineError) return error;
  if (signal.aborted) {
    return new PipelineError(PipelineErrorCode.Cancelled, 'the job was cancelled', { stage, retryable: true, cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new PipelineError(PipelineErrorCode.Internal, `the ${stage} stage failed: ${message}`, { stage, cause: error });
}
