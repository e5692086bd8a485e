/**
 * One timed pass of an OCR engine over a set of images, shared by the OCR evaluation and the
 * OCR load test. The product's engine is the pipeline's own OCR stage (`ocrImage`: sharp
 * decode, grey, tesseract.js); the baseline is the native `tesseract` command. Either way
 * `workers` pages are in flight, each engine using one core per page.
 *
 * Images are read into memory before a pass so the time is recognition only. A page that
 * fails is kept with its error and an empty text: it costs quality instead of vanishing.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { TesseractOcr } from '@quire/processors';
import { ocrImage } from '@quire/processors/eval';
import { recognizeNative, type NativeTesseract } from './native-tesseract.ts';

/** An image to recognise, read before timing starts. */
export interface OcrImage {
  id: string;
  path: string;
  /** The file's bytes; null when it could not be read (`readError` says why). */
  bytes: Uint8Array | null;
  readError?: string;
}

/** What one engine made of one page. */
export interface PageOutcome {
  id: string;
  /** The recognised text; empty when the page failed. */
  text: string;
  /** Wall time of this page, queueing excluded. */
  ms: number;
  /** `CODE: message` when the page failed. */
  error?: string;
}

/** A whole pass: the pages in input order and what the pass cost. */
export interface OcrPass {
  pages: PageOutcome[];
  wallMs: number;
  /** Pages (failed ones included) per second of wall time. */
  pagesPerSecond: number;
  /**
   * CPU time of this process's threads and of the child processes it waited for, in ms per
   * page: unlike wall time it barely moves when other work shares the machine. Null where
   * `/proc/self/stat` cannot be read (children could not be counted).
   */
  cpuMsPerPage: number | null;
  failed: number;
}

/** Turns one image into text, or rejects. */
export type Recognise = (image: OcrImage) => Promise<string>;

/** Reads every image into memory; an unreadable file becomes a page that fails. */
export async function loadImages(pages: readonly { id: string; imagePath: string }[]): Promise<OcrImage[]> {
  return Promise.all(
    pages.map(async ({ id, imagePath }) => {
      try {
        return { id, path: imagePath, bytes: new Uint8Array(await readFile(imagePath)) };
      } catch (error) {
        return { id, path: imagePath, bytes: null, readError: `IMAGE_UNREADABLE: ${describe(error)}` };
      }
    }),
  );
}

/** The product's OCR stage, exactly as the pipeline calls it for an image document. */
export function productRecogniser(ocr: TesseractOcr): Recognise {
  const signal = new AbortController().signal;
  const progress = { setTotal() {}, advance() {} };
  return async (image) => {
    if (!image.bytes) throw new Error(image.readError);
    const pages = await ocrImage(image.bytes, { ocr, signal, progress });
    return pages.map((page) => page.text).join('\n\n');
  };
}

/** The native `tesseract` command on the image file. */
export function nativeRecogniser(tesseract: NativeTesseract): Recognise {
  return async (image) => {
    if (!image.bytes) throw new Error(image.readError);
    return recognizeNative(tesseract, image.path);
  };
}

/**
 * Recognises every image with `workers` in flight and times the pass. `onPage` hears of each
 * page as it finishes (for progress lines).
 */
export async function runOcrPass(
  images: readonly OcrImage[],
  options: { workers: number; recognise: Recognise; onPage?: (outcome: PageOutcome, done: number, total: number) => void },
): Promise<OcrPass> {
  const outcomes: PageOutcome[] = new Array<PageOutcome>(images.length);
  let next = 0;
  let done = 0;
  const lane = async (): Promise<void> => {
    while (next < images.length) {
      const index = next++;
      const image = images[index]!;
      const t0 = performance.now();
      let outcome: PageOutcome;
      try {
        outcome = { id: image.id, text: await options.recognise(image), ms: performance.now() - t0 };
      } catch (error) {
        outcome = { id: image.id, text: '', ms: performance.now() - t0, error: describeFailure(error) };
      }
      outcomes[index] = outcome;
      done += 1;
      options.onPage?.(outcome, done, images.length);
    }
  };
  const cpu0 = cpuMs();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(options.workers, images.length) }, lane));
  const wallMs = performance.now() - t0;
  const cpu1 = cpuMs();
  const count = Math.max(1, images.length);
  return {
    pages: outcomes,
    wallMs,
    pagesPerSecond: wallMs > 0 ? (images.length * 1000) / wallMs : 0,
    cpuMsPerPage: cpu0 === null || cpu1 === null ? null : (cpu1 - cpu0) / count,
    failed: outcomes.filter((o) => o.error !== undefined).length,
  };
}

/** Clock ticks per second of `/proc/self/stat`: USER_HZ, 100 on every mainstream Linux build. */
const USER_HZ = 100;

/** CPU ms of this process (all threads) plus its waited-for children; null off Linux. */
function cpuMs(): number | null {
  let children: number;
  try {
    // Fields after the parenthesised command name: state is the first, cutime the 14th, cstime the 15th.
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    children = ((Number(fields[13]) + Number(fields[14])) * 1000) / USER_HZ;
  } catch {
    return null;
  }
  if (!Number.isFinite(children)) return null;
  const self = process.cpuUsage();
  return (self.user + self.system) / 1000 + children;
}

function describeFailure(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  const message = describe(error);
  return typeof code === 'string' && !message.startsWith(code) ? `${code}: ${message}` : message;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
