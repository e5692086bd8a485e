/**
 * The extract stage: text that is already in the document. Plain text and Markdown become
 * pages (one per form feed, long ones split at paragraph ends); PDF pages give their text
 * layer, and pages with too little text are handed to the OCR stage instead.
 */
import type { PdfDocument } from '../engines/pdf.engine.ts';
import { decodeText } from '../media-sniff.ts';
import { PipelineError, PipelineErrorCode, SupportedMime } from '@quire/kernel';
import { capPage, type ExtractedPage, type StageContext } from './stage.ts';

/** Default for {@link TextExtractOptions.maxPageChars}. */
export const DEFAULT_MAX_PAGE_CHARS = 100_000;

/** Options of {@link extractPlainText}. */
export interface TextExtractOptions {
  /**
   * Longest page. A text file without form feeds is one logical page; past this size it
   * is cut into several at paragraph ends so each page stays one modest message.
   * Default 100 000 characters.
   */
  maxPageChars?: number;
}

/**
 * Splits a text or Markdown document into pages. `input` is its text as the detect stage
 * decoded it, or its bytes: those are read as UTF-8, or in the encoding their byte order
 * mark names (UTF-8, UTF-16 LE or BE), the mark left out.
 */
export function extractPlainText(input: string | Uint8Array, options: TextExtractOptions = {}): ExtractedPage[] {
  const maxPageChars = options.maxPageChars ?? DEFAULT_MAX_PAGE_CHARS;
  const text = (typeof input === 'string' ? input : decodeOrFail(input)).replace(/\r\n?/g, '\n');
  const pages: ExtractedPage[] = [];
  for (const sheet of text.split('\f')) {
    for (const part of splitLong(sheet, maxPageChars)) {
      if (part.trim() === '' && pages.length > 0) continue;
      pages.push({ page: pages.length + 1, width: 0, height: 0, text: part, source: 'plain', confidence: 100, ...plainWords(part) });
    }
  }
  return pages;
}

function decodeOrFail(data: Uint8Array): string {
  const decoded = decodeText(data);
  if (!decoded.ok) {
    throw new PipelineError(PipelineErrorCode.UnsupportedMediaType, `the document is not text: ${decoded.reason}`, { stage: 'extract' });
  }
  return decoded.text;
}

/**
 * Words of plain text, without geometry: an empty box each. Field extraction reads words;
 * the result protocol and chunks leave these boxes out.
 */
function plainWords(text: string): Pick<ExtractedPage, 'words' | 'wordOffsets'> {
  const words: ExtractedPage['words'] = [];
  const wordOffsets: number[] = [];
  for (const match of text.matchAll(/\S+/g)) {
    words.push({ text: match[0], box: { x: 0, y: 0, w: 0, h: 0 }, confidence: 100 });
    wordOffsets.push(match.index);
  }
  return { words, wordOffsets };
}

/** Cuts `text` into parts of at most `max` characters, at a blank line, else a newline, else a space. */
function splitLong(text: string, max: number): string[] {
  const parts: string[] = [];
  let rest = text;
  while (rest.length > max) {
    const window = rest.slice(0, max);
    let cut = window.lastIndexOf('\n\n');
    if (cut < max / 2) cut = window.lastIndexOf('\n');
    if (cut < max / 2) cut = window.lastIndexOf(' ');
    if (cut < max / 2) cut = max;
    else cut += 1;
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  parts.push(rest);
  return parts;
}

/** What the text layer of a PDF gave: its pages with text, and the pages left for OCR. */
export interface PdfTextResult {
  pages: ExtractedPage[];
  /** 1-based numbers of pages without a usable text layer. */
  scanned: number[];
}

/** Options of {@link extractPdfText}. */
export interface PdfExtractOptions extends StageContext {
  /** Resolution of the page images that word boxes refer to; the OCR stage renders at the same. */
  dpi: number;
  /** See {@link TextExtractOptions.maxPageChars}. */
  maxPageChars?: number;
  /** Called after each page is read, before its progress unit is counted. */
  onPageRead?(scanned: boolean): void;
}

/** Reads every page's text layer; progress counts pages. */
export async function extractPdfText(doc: PdfDocument, options: PdfExtractOptions): Promise<PdfTextResult> {
  const { signal, progress, dpi } = options;
  const maxPageChars = options.maxPageChars ?? DEFAULT_MAX_PAGE_CHARS;
  // A PDF without pages holds nothing, like a text of whitespace; a page that gives no
  // words (a blank scan) is still a page, and its document is processed.
  if (doc.pageCount === 0) throw new PipelineError(PipelineErrorCode.EmptyDocument, 'the PDF has no pages', { stage: 'extract' });
  progress.setTotal(doc.pageCount);
  const pages: ExtractedPage[] = [];
  const scanned: number[] = [];
  for (let n = 1; n <= doc.pageCount; n += 1) {
    signal.throwIfAborted();
    let layer;
    try {
      layer = await doc.textLayer(n, dpi);
    } catch (error) {
      throw new PipelineError(PipelineErrorCode.PdfUnreadable, `page ${n} of the PDF cannot be read`, { stage: 'extract', cause: error });
    }
    if (layer.scanned) {
      scanned.push(n);
    } else {
      const page: ExtractedPage = {
        page: n,
        width: layer.width,
        height: layer.height,
        text: layer.text,
        source: 'text-layer',
        confidence: 100,
        words: layer.words,
        wordOffsets: layer.wordOffsets,
      };
      pages.push(capPage(page, maxPageChars));
    }
    options.onPageRead?.(layer.scanned);
    progress.advance();
  }
  return { pages, scanned };
}

/** Whether a detected type is read by {@link extractPlainText}. */
export function isPlainText(mime: SupportedMime): boolean {
  return mime === SupportedMime.Text || mime === SupportedMime.Markdown;
}
