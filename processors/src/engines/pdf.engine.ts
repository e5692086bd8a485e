/**
 * PDF engine: pdfjs-dist (its legacy build, the one meant for Node) reads the text layer
 * and renders pages for OCR. Text-layer word boxes and rendered pixels share one scale per
 * page, so boxes from either source line up on the same page image.
 *
 * Hardened for untrusted input: no `eval` of font programs, no font or network fetches
 * (standard fonts and decoders come from the installed package), a bounded page count and
 * a pixel budget per page and per embedded image.
 */
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import type { PDFDocumentProxy, PDFPageProxy } from 'pdfjs-dist/legacy/build/pdf.mjs';
import type { TextItem, TextStyle } from 'pdfjs-dist/types/src/display/api.js';
import type { Word } from '@quire/kernel';
import type { CanvasLike } from './raster.ts';

const require = createRequire(import.meta.url);
const pdfjsDir = dirname(require.resolve('pdfjs-dist/package.json'));

/** Options of {@link openPdf}. */
export interface PdfOptions {
  /** Refuse documents with more pages than this. Default 2000. */
  maxPages?: number;
  /**
   * Most pixels one page image may have. Pages whose size at the requested DPI would be
   * larger are rendered (and their text boxes scaled) at a lower resolution. Default 12 M
   * (a Letter page at 200 DPI is 3.7 M).
   */
  maxPagePixels?: number;
  /**
   * Pages whose text layer has fewer visible characters than this are treated as scanned
   * and sent to OCR. Default 16: a stray page number or stamp is not a text layer.
   */
  minTextChars?: number;
}

/** Why a PDF could not be opened. */
export type PdfErrorKind = 'unreadable' | 'encrypted' | 'too-many-pages';

/** Opening or reading a PDF failed; `kind` says why. */
export class PdfError extends Error {
  readonly kind: PdfErrorKind;
  constructor(kind: PdfErrorKind, message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'PdfError';
    this.kind = kind;
  }
}

/** One page's text layer, in the pixel coordinates of the page rendered at `scale`. */
export interface PdfTextPage {
  /** 1-based page number. */
  page: number;
  /** Page image size in pixels at `scale`. */
  width: number;
  height: number;
  /** Pixels per PDF point (DPI / 72, lowered for oversized pages). */
  scale: number;
  /** Lines joined by newlines; a blank line where the vertical gap says a paragraph ends. */
  text: string;
  words: Word[];
  /** Where each word starts in `text`. */
  wordOffsets: number[];
  /** Visible (non-whitespace) characters in the text layer. */
  visibleChars: number;
  /** Too little text to be a real text layer: render and OCR it instead. */
  scanned: boolean;
}

/** A rendered page. Call `release()` once its pixels are read: page canvases are large. */
export interface RenderedPage {
  page: number;
  width: number;
  height: number;
  scale: number;
  /** A canvas of the `@napi-rs/canvas` copy pdfjs loads; `encode('png')` gives PNG bytes. */
  canvas: CanvasLike & { encode(format: 'png'): Promise<Uint8Array> };
  /** Frees the canvas memory. */
  release(): void;
}

type Pdfjs = typeof import('pdfjs-dist/legacy/build/pdf.mjs');
let pdfjs: Promise<Pdfjs> | undefined;

/**
 * Imports a pdfjs module, keeping the process's own JSON functions. pdfjs's legacy build
 * bundles core-js polyfills that replace the global `JSON.stringify` and `JSON.parse` with
 * script versions wherever `JSON.rawJSON` is missing (Node 20); every log line, GraphQL answer
 * and bus message of the process would then pay for them. pdfjs works with the native ones.
 */
async function importKeepingJson<T>(load: () => Promise<T>): Promise<T> {
  const { stringify, parse } = JSON;
  try {
    return await load();
  } finally {
    JSON.stringify = stringify;
    JSON.parse = parse;
  }
}

/**
 * pdfjs and its parser, loaded on first use: a process that never opens a PDF (the hub) never
 * loads them. The parser module registers itself on `globalThis.pdfjsWorker`, where pdfjs
 * looks first; loaded here, pdfjs does not import it (and its polyfills) on its own.
 */
function loadPdfjs(): Promise<Pdfjs> {
  pdfjs ??= importKeepingJson(async () => {
    const parser = 'pdfjs-dist/legacy/build/pdf.worker.mjs';
    await import(parser);
    return import('pdfjs-dist/legacy/build/pdf.mjs');
  });
  return pdfjs;
}

/**
 * Loads pdfjs up front. Otherwise the first `openPdf` loads it, which would put seconds of
 * module loading into the first job a worker takes.
 */
export async function preloadPdfEngine(): Promise<void> {
  await loadPdfjs();
}

/** Opens a PDF from bytes. pdfjs may take ownership of `bytes`; do not reuse them. */
export async function openPdf(bytes: Uint8Array, options: PdfOptions = {}): Promise<PdfDocument> {
  const maxPages = options.maxPages ?? 2000;
  const maxPagePixels = options.maxPagePixels ?? 12_000_000;
  const { getDocument } = await loadPdfjs();
  const task = getDocument({
    data: bytes,
    isEvalSupported: false,
    disableFontFace: true,
    useSystemFonts: false,
    useWorkerFetch: false,
    isOffscreenCanvasSupported: false,
    isImageDecoderSupported: false,
    standardFontDataUrl: join(pdfjsDir, 'standard_fonts') + sep,
    cMapUrl: join(pdfjsDir, 'cmaps') + sep,
    cMapPacked: true,
    wasmUrl: join(pdfjsDir, 'wasm') + sep,
    iccUrl: join(pdfjsDir, 'iccs') + sep,
    // An embedded image larger than a page may ever be is a decompression bomb, not a scan.
    maxImageSize: maxPagePixels * 4,
    enableXfa: false,
    verbosity: 0,
  });
  let proxy: PDFDocumentProxy;
  try {
    proxy = await task.promise;
  } catch (error) {
    await task.destroy().catch(() => {});
    const name = (error as { name?: string } | null)?.name;
    if (name === 'PasswordException') throw new PdfError('encrypted', 'the PDF is password-protected', { cause: error });
    throw new PdfError('unreadable', `the PDF cannot be read: ${(error as Error)?.message ?? String(error)}`, { cause: error });
  }
  if (proxy.numPages > maxPages) {
    await proxy.destroy();
    throw new PdfError('too-many-pages', `the PDF has ${proxy.numPages} pages, more than the limit of ${maxPages}`);
  }
  return new PdfDocument(proxy, { maxPagePixels, minTextChars: options.minTextChars ?? 16 });
}

/** An open PDF. Read pages one at a time; `close()` frees the document. */
export class PdfDocument {
  readonly #proxy: PDFDocumentProxy;
  readonly #maxPagePixels: number;
  readonly #minTextChars: number;

  /** Use {@link openPdf}. */
  constructor(proxy: PDFDocumentProxy, options: { maxPagePixels: number; minTextChars: number }) {
    this.#proxy = proxy;
    this.#maxPagePixels = options.maxPagePixels;
    this.#minTextChars = options.minTextChars;
  }

  /** Number of pages. */
  get pageCount(): number {
    return this.#proxy.numPages;
  }

  /** The pixels-per-point scale page `pageNumber` is rendered at for `dpi`, within the pixel budget. */
  async scaleFor(pageNumber: number, dpi: number): Promise<number> {
    return this.#scale(await this.#page(pageNumber), dpi);
  }

  /** Reads a page's text layer as words with boxes in the page image's pixels at `dpi`. */
  async textLayer(pageNumber: number, dpi: number): Promise<PdfTextPage> {
    const page = await this.#page(pageNumber);
    try {
      const scale = this.#scale(page, dpi);
      const viewport = page.getViewport({ scale });
      const content = await page.getTextContent({ includeMarkedContent: false });
      const items = content.items.filter((item): item is TextItem => 'str' in item);
      const laid = layoutTextItems(items, content.styles, viewport.transform);
      const visibleChars = laid.text.replace(/\s+/g, '').length;
      return {
        page: pageNumber,
        width: Math.round(viewport.width),
        height: Math.round(viewport.height),
        scale,
        ...laid,
        visibleChars,
        scanned: visibleChars < this.#minTextChars,
      };
    } finally {
      page.cleanup();
    }
  }

  /** Renders a page at `dpi` (lowered to fit the pixel budget) on a white background. */
  async render(pageNumber: number, dpi: number): Promise<RenderedPage> {
    const page = await this.#page(pageNumber);
    try {
      const scale = this.#scale(page, dpi);
      const viewport = page.getViewport({ scale });
      const width = Math.max(1, Math.round(viewport.width));
      const height = Math.max(1, Math.round(viewport.height));
      // pdfjs draws with the @napi-rs/canvas copy it resolves itself; its paths and
      // matrices are only valid on canvases of that same copy, so the canvas comes from
      // pdfjs's own factory rather than from this package's import of the library.
      const factory = this.#proxy.canvasFactory as CanvasFactory;
      const { canvas, context } = factory.create(width, height);
      try {
        await page.render({ canvas: canvas as unknown as HTMLCanvasElement, canvasContext: context, viewport, background: '#ffffff' })
          .promise;
      } catch (error) {
        factory.destroy({ canvas, context });
        throw error;
      }
      return {
        page: pageNumber,
        width,
        height,
        scale,
        canvas: canvas as RenderedPage['canvas'],
        release: () => factory.destroy({ canvas, context }),
      };
    } finally {
      page.cleanup();
    }
  }

  /** Frees the document and everything pdfjs cached for it. */
  async close(): Promise<void> {
    await this.#proxy.destroy();
  }

  async #page(pageNumber: number): Promise<PDFPageProxy> {
    if (!Number.isInteger(pageNumber) || pageNumber < 1 || pageNumber > this.pageCount) {
      throw new RangeError(`page ${pageNumber} is outside 1..${this.pageCount}`);
    }
    return this.#proxy.getPage(pageNumber);
  }

  #scale(page: PDFPageProxy, dpi: number): number {
    const base = page.getViewport({ scale: 1 });
    const wanted = dpi / 72;
    const area = base.width * base.height;
    if (!(area > 0)) return wanted;
    return Math.min(wanted, Math.sqrt(this.#maxPagePixels / area));
  }
}

interface CanvasFactory {
  create(width: number, height: number): { canvas: CanvasLike; context: CanvasRenderingContext2D };
  destroy(entry: { canvas: CanvasLike; context: CanvasRenderingContext2D }): void;
}

/**
 * Advance widths of Helvetica (per 1000 em) for printable ASCII. A text item carries only
 * its total width; these proportions place each word inside it, exactly for the standard
 * sans fonts and closely enough for other proportional fonts.
 */
const HELVETICA_WIDTHS = [
  278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278,
  278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722,
  667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556,
  556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

function charWidth(ch: string): number {
  const code = ch.codePointAt(0) ?? 0;
  return HELVETICA_WIDTHS[code - 32] ?? 556;
}

interface Token {
  text: string;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

interface Line {
  tokens: Token[];
  /** Baseline position across the line direction, in pixels. */
  baseline: number;
  fontHeight: number;
  /** Whether the last token may continue into the next item without a space. */
  open: boolean;
  endX: number;
}

/**
 * Turns pdfjs text items into lines of words. Items are runs of text in content order;
 * a run may hold several words or part of one, so words are cut out of runs by their
 * characters' proportional widths and glued back across runs that touch.
 */
export function layoutTextItems(
  items: readonly TextItem[],
  styles: Record<string, TextStyle>,
  viewportTransform: readonly number[],
): { text: string; words: Word[]; wordOffsets: number[] } {
  const [vt0 = 1, vt1 = 0, vt2 = 0, vt3 = 1, vt4 = 0, vt5 = 0] = viewportTransform;
  const lines: Line[] = [];
  let current: Line | null = null;
  let breakNext = false;

  for (const item of items) {
    const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0] = item.transform as number[];
    const fontSize = Math.hypot(c, d);
    const advanceLength = Math.hypot(a, b);
    if (!item.str || fontSize === 0 || advanceLength === 0) {
      if (item.hasEOL) breakNext = true;
      continue;
    }
    const style = styles[item.fontName];
    const ascent = style && style.ascent > 0 ? style.ascent : 0.8;
    const descent = style && style.descent < 0 ? style.descent : -0.2;
    const ux = a / advanceLength;
    const uy = b / advanceLength;
    // Item width is in user-space units along the baseline.
    const runWidth = item.width > 0 ? item.width : fontSize * 0.5 * item.str.length;
    const chars = Array.from(item.str);
    const weights = chars.map(charWidth);
    const totalWeight = weights.reduce((sum, w) => sum + w, 0) || 1;

    const toPixels = (t: number, v: number): [number, number] => {
      const px = e + t * ux + v * c;
      const py = f + t * uy + v * d;
      return [px * vt0 + py * vt2 + vt4, px * vt1 + py * vt3 + vt5];
    };
    const origin = toPixels(0, 0);
    const end = toPixels(runWidth, 0);
    const up = toPixels(0, 1);
    const pixelFont = Math.hypot(up[0] - origin[0], up[1] - origin[1]);

    const sameLine =
      current !== null &&
      !breakNext &&
      Math.abs(origin[1] - current.baseline) < 0.5 * Math.max(pixelFont, current.fontHeight) &&
      origin[0] > current.endX - pixelFont;
    if (!sameLine || !current) {
      current = { tokens: [], baseline: origin[1], fontHeight: pixelFont, open: false, endX: origin[0] };
      lines.push(current);
    }
    const line: Line = current;
    // A run that starts right where the previous one ended continues its word.
    const touching = line.open && !/^\s/.test(item.str) && origin[0] - line.endX < 0.15 * pixelFont;

    let offset = 0;
    const prefix: number[] = [];
    for (const w of weights) {
      prefix.push(offset);
      offset += w;
    }
    let index = 0;
    for (const match of item.str.matchAll(/\S+/g)) {
      const startChar = Array.from(item.str.slice(0, match.index)).length;
      const tokenChars = Array.from(match[0]).length;
      const t0 = ((prefix[startChar] ?? 0) / totalWeight) * runWidth;
      const t1 = (((prefix[startChar + tokenChars - 1] ?? 0) + (weights[startChar + tokenChars - 1] ?? 0)) / totalWeight) * runWidth;
      const corners = [toPixels(t0, descent), toPixels(t1, descent), toPixels(t0, ascent), toPixels(t1, ascent)];
      const xs = corners.map((p) => p[0]);
      const ys = corners.map((p) => p[1]);
      const token: Token = {
        text: match[0],
        x0: Math.min(...xs),
        y0: Math.min(...ys),
        x1: Math.max(...xs),
        y1: Math.max(...ys),
      };
      const last = line.tokens.at(-1);
      if (index === 0 && match.index === 0 && touching && last) {
        last.text += token.text;
        last.x0 = Math.min(last.x0, token.x0);
        last.y0 = Math.min(last.y0, token.y0);
        last.x1 = Math.max(last.x1, token.x1);
        last.y1 = Math.max(last.y1, token.y1);
      } else {
        line.tokens.push(token);
      }
      index += 1;
    }
    line.open = !/\s$/.test(item.str);
    line.endX = end[0];
    line.fontHeight = Math.max(line.fontHeight, pixelFont);
    breakNext = item.hasEOL;
  }

  const words: Word[] = [];
  const wordOffsets: number[] = [];
  let text = '';
  const kept = lines.filter((line) => line.tokens.length > 0);
  // The line pitch inside paragraphs tells a paragraph gap from ordinary (even 1.5 or
  // double) spacing. A low percentile, not the median: in a page of short paragraphs most
  // pitches are paragraph gaps.
  const pitches = kept
    .slice(1)
    .map((line, i) => Math.abs(line.baseline - kept[i]!.baseline))
    .filter((pitch) => pitch > 0)
    .sort((x, y) => x - y);
  const typicalPitch = pitches[Math.floor(pitches.length / 5)] ?? 0;
  kept.forEach((line, index) => {
    const previous = kept[index - 1];
    if (previous) {
      const gap = Math.abs(line.baseline - previous.baseline);
      const tallest = Math.max(previous.fontHeight, line.fontHeight);
      text += gap > Math.max(1.4 * typicalPitch, 1.15 * tallest) ? '\n\n' : '\n';
    }
    line.tokens.forEach((token, i) => {
      if (i > 0) text += ' ';
      wordOffsets.push(text.length);
      text += token.text;
      const x = Math.floor(token.x0);
      const y = Math.floor(token.y0);
      words.push({
        text: token.text,
        box: { x, y, w: Math.ceil(token.x1) - x, h: Math.ceil(token.y1) - y },
        confidence: 100,
      });
    });
  });
  return { text, words, wordOffsets };
}
