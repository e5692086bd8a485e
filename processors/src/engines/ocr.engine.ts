/**
 * OCR engine: a pool of tesseract.js workers (each one a worker thread running the
 * Tesseract WebAssembly build) behind one scheduler. Everything is loaded from installed
 * packages: the core from `tesseract.js-core`, the English LSTM model from
 * `@tesseract.js-data/eng`; nothing is fetched and nothing is cached on disk.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type Tesseract from 'tesseract.js';
import type { Logger } from 'pino';
import type { Word } from '@quire/kernel';
import { canvasToGrey, encodePgm, isCanvasLike, type CanvasLike, type GreyImage } from './raster.ts';

const require = createRequire(import.meta.url);

/** What {@link TesseractOcr} reads: encoded image bytes (PNG, JPEG, WebP, BMP, PNM), raw grey pixels or a canvas. */
export type OcrInput = Uint8Array | GreyImage | CanvasLike;

/** One recognised image. Boxes are in the pixels of the image as given. */
export interface OcrResult {
  /** Words in reading order, each with its box and confidence (0..100). */
  words: Word[];
  /**
   * The words laid out as text: words of a line joined by a space, lines by a newline,
   * paragraphs and blocks by a blank line. `wordOffsets[i]` is where `words[i]` starts in it.
   */
  text: string;
  wordOffsets: number[];
  /** Mean word confidence, 0..100; 0 when nothing was recognised. */
  confidence: number;
  width: number;
  height: number;
}

/** Options of {@link TesseractOcr}. */
export interface TesseractOcrOptions {
  /**
   * Number of Tesseract worker threads. Default 1: one recognition saturates a core, and
   * the processor shares the machine with the embedder.
   */
  workers?: number;
  /**
   * Folder holding `eng.traineddata.gz`. Default: the integerised "best" LSTM model
   * shipped in `@tesseract.js-data/eng`, the same model tesseract.js itself would fetch.
   */
  langPath?: string;
  /** Logger for worker start and failures. Default: silent. */
  logger?: Logger;
}

interface TesseractBbox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}
interface TesseractWord {
  text: string;
  confidence: number;
  bbox: TesseractBbox;
}
interface TesseractLine {
  words: TesseractWord[];
  bbox: TesseractBbox;
}
interface TesseractBlock {
  paragraphs: { lines: TesseractLine[] }[];
}

/** The English model folder inside `@tesseract.js-data/eng`. */
export function defaultLangPath(): string {
  return join(dirname(require.resolve('@tesseract.js-data/eng/package.json')), '4.0.0_best_int');
}

/**
 * A pool of tesseract.js workers. `start()` loads the model into every worker;
 * `recognize()` queues an image on the first free one.
 */
export class TesseractOcr {
  readonly #options: Required<Omit<TesseractOcrOptions, 'logger'>> & { logger: Logger | undefined };
  #scheduler: Tesseract.Scheduler | null = null;
  #starting: Promise<void> | null = null;
  #closed = false;

  constructor(options: TesseractOcrOptions = {}) {
    const workers = options.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be a positive integer, got ${workers}`);
    this.#options = { workers, langPath: options.langPath ?? defaultLangPath(), logger: options.logger };
  }

  /** Number of Tesseract workers in the pool. */
  get workers(): number {
    return this.#options.workers;
  }

  /** Starts the workers and loads the model into each. Idempotent; refused after `close()`. */
  start(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('OCR engine is closed'));
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    // Loaded here, not with this module: a hub imports the pipeline's types but runs no OCR.
    const { default: Tesseract } = await import('tesseract.js');
    const scheduler = Tesseract.createScheduler();
    try {
      const started = await Promise.allSettled(
        Array.from({ length: this.#options.workers }, () =>
          Tesseract.createWorker('eng', Tesseract.OEM.LSTM_ONLY, {
            langPath: this.#options.langPath,
            gzip: true,
            cacheMethod: 'none',
            logger: () => {},
            // Without a handler tesseract.js rethrows a failed job from its message listener,
            // which would take the whole process down; the job's promise already rejects.
            errorHandler: (error: unknown) => this.#options.logger?.debug({ err: String(error) }, 'tesseract job failed'),
          }),
        ),
      );
      // Workers that did start join the scheduler either way, so terminating it stops them all.
      for (const result of started) if (result.status === 'fulfilled') scheduler.addWorker(result.value);
      const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed) throw failed.reason;
    } catch (error) {
      await scheduler.terminate().catch(() => {});
      this.#starting = null;
      throw new Error(`tesseract.js failed to start: ${describe(error)}`, { cause: error });
    }
    this.#scheduler = scheduler;
    this.#options.logger?.debug({ workers: this.#options.workers }, 'tesseract workers ready');
  }

  /**
   * Recognises one image. An aborted signal rejects at once with the signal's reason; a
   * recognition already running in a worker is not interrupted and finishes unobserved.
   */
  async recognize(image: OcrInput, options: { signal?: AbortSignal } = {}): Promise<OcrResult> {
    const { signal } = options;
    signal?.throwIfAborted();
    await this.start();
    signal?.throwIfAborted();
    const scheduler = this.#scheduler;
    if (!scheduler) throw new Error('OCR engine is closed');

    const { bytes, width, height } = toTesseractInput(image);
    const job = scheduler.addJob('recognize', bytes as unknown as Buffer, {}, { blocks: true, text: false });
    const result = await abortable(job, signal).catch((error: unknown) => {
      if (signal?.aborted) throw signal.reason;
      throw new Error(`recognition failed: ${describe(error)}`, { cause: error });
    });
    const blocks = (result.data.blocks ?? []) as unknown as TesseractBlock[];
    return layout(blocks, width ?? 0, height ?? 0);
  }

  /** Terminates every worker. Pending recognitions reject. */
  async close(): Promise<void> {
    this.#closed = true;
    const starting = this.#starting;
    this.#starting = null;
    if (starting) await starting.catch(() => {});
    const scheduler = this.#scheduler;
    this.#scheduler = null;
    if (scheduler) await scheduler.terminate();
  }
}

function toTesseractInput(image: OcrInput): { bytes: Uint8Array; width?: number; height?: number } {
  if (image instanceof Uint8Array) {
    const size = imageSize(image);
    return { bytes: image, ...size };
  }
  const grey = isCanvasLike(image) ? canvasToGrey(image) : image;
  return { bytes: encodePgm(grey), width: grey.width, height: grey.height };
}

/** Reads the pixel size from a PNG, JPEG or PGM header, so results carry the image size. */
export function imageSize(bytes: Uint8Array): { width: number; height: number } | Record<string, never> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length >= 24 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    return { width: view.getUint32(16), height: view.getUint32(20) };
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    let i = 2;
    while (i + 9 < bytes.length) {
      if (bytes[i] !== 0xff) return {};
      const marker = bytes[i + 1]!;
      const length = view.getUint16(i + 2);
      // SOF0..SOF15 carry the frame size; DHT (C4), JPG (C8) and DAC (CC) share the range.
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { height: view.getUint16(i + 5), width: view.getUint16(i + 7) };
      }
      i += 2 + length;
    }
    return {};
  }
  if (bytes.length > 2 && bytes[0] === 0x50 && (bytes[1] === 0x35 || bytes[1] === 0x36)) {
    const head = new TextDecoder().decode(bytes.subarray(0, Math.min(bytes.length, 64)));
    const match = /^P[56]\s+(\d+)\s+(\d+)/.exec(head);
    if (match) return { width: Number(match[1]), height: Number(match[2]) };
  }
  return {};
}

/**
 * Lays recognised words out as text, keeping each word's offset in it. Tesseract's own
 * paragraphs often swallow a visible gap between lines, so a gap taller than a line also
 * starts a new paragraph: the chunker splits on blank lines.
 */
function layout(blocks: readonly TesseractBlock[], width: number, height: number): OcrResult {
  const words: Word[] = [];
  const wordOffsets: number[] = [];
  let text = '';
  let confidenceSum = 0;
  let separator = '';
  let previousLine: TesseractBbox | null = null;
  for (const block of blocks) {
    for (const paragraph of block.paragraphs) {
      if (text) separator = '\n\n';
      for (const line of paragraph.lines) {
        const kept = line.words.filter((word) => word.text.trim());
        if (kept.length === 0) continue;
        if (previousLine && separator === '\n' && line.bbox.y0 - previousLine.y1 > previousLine.y1 - previousLine.y0) separator = '\n\n';
        for (const word of kept) {
          const value = word.text.trim();
          text += separator;
          separator = ' ';
          wordOffsets.push(text.length);
          text += value;
          const { x0, y0, x1, y1 } = word.bbox;
          words.push({ text: value, box: { x: x0, y: y0, w: x1 - x0, h: y1 - y0 }, confidence: word.confidence });
          confidenceSum += word.confidence;
        }
        separator = '\n';
        previousLine = line.bbox;
      }
    }
  }
  const confidence = words.length ? confidenceSum / words.length : 0;
  return { words, text, wordOffsets, confidence, width, height };
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
