/**
 * The chunk stage: cuts each page's text into paragraph-sized chunks for embedding and
 * search. A chunk never spans pages, so its provenance is one page, a character range of
 * that page's text and the boxes of the words inside the range.
 *
 * Paragraphs are the runs of text between blank lines (the extract and OCR stages turn
 * layout gaps into blank lines). Short paragraphs are packed together until a chunk
 * reaches the target size; a paragraph longer than the maximum is cut at sentence ends, and
 * a sentence longer than the maximum at spaces.
 */
import type { Box } from '@quire/kernel';
import type { ExtractedPage } from './stage.ts';

/** A chunk before embedding. `text` is exactly `pageText.slice(start, end)`. */
export interface Chunk {
  /** 0-based position in the document. */
  ordinal: number;
  page: number;
  text: string;
  start: number;
  end: number;
  /** Boxes of the words that start inside `[start, end)`, in reading order. */
  boxes: Box[];
}

/** Options of {@link chunkPages}. */
export interface ChunkOptions {
  /** A chunk stops taking paragraphs once it has this many characters. Default 500. */
  targetChars?: number;
  /** No chunk is longer than this. Default 1000. */
  maxChars?: number;
}

interface Span {
  start: number;
  end: number;
}

/** Chunks every page, in page order; ordinals run across the document. */
export function chunkPages(pages: readonly ExtractedPage[], options: ChunkOptions = {}): Chunk[] {
  const targetChars = options.targetChars ?? 500;
  const maxChars = options.maxChars ?? 1000;
  if (!(maxChars >= targetChars && targetChars > 0)) throw new RangeError('need 0 < targetChars <= maxChars');
  const chunks: Chunk[] = [];
  for (const page of [...pages].sort((a, b) => a.page - b.page)) {
    for (const span of pageSpans(page.text, targetChars, maxChars)) {
      chunks.push({
        ordinal: chunks.length,
        page: page.page,
        text: page.text.slice(span.start, span.end),
        start: span.start,
        end: span.end,
        boxes: boxesIn(page, span),
      });
    }
  }
  return chunks;
}

/** The chunk ranges of one page's text. */
export function pageSpans(text: string, targetChars: number, maxChars: number): Span[] {
  const units: Span[] = [];
  for (const paragraph of paragraphs(text)) {
    if (paragraph.end - paragraph.start <= maxChars) units.push(paragraph);
    else units.push(...splitParagraph(text, paragraph, maxChars));
  }

  const spans: Span[] = [];
  let current: Span | null = null;
  for (const unit of units) {
    if (current && current.end - current.start < targetChars && unit.end - current.start <= maxChars) {
      current.end = unit.end;
      continue;
    }
    if (current) spans.push(current);
    current = { ...unit };
  }
  if (current) {
    // A short tail joins the chunk before it when both fit: a lone closing line says little.
    const previous = spans.at(-1);
    if (previous && current.end - current.start < targetChars / 4 && current.end - previous.start <= maxChars) previous.end = current.end;
    else spans.push(current);
  }
  return spans;
}

/** Runs of text between blank lines, trimmed. */
function paragraphs(text: string): Span[] {
  const spans: Span[] = [];
  const separator = /\n[ \t]*\n\s*/g;
  let start = 0;
  for (const match of text.matchAll(separator)) {
    pushTrimmed(text, start, match.index, spans);
    start = match.index + match[0].length;
  }
  pushTrimmed(text, start, text.length, spans);
  return spans;
}

function pushTrimmed(text: string, start: number, end: number, out: Span[]): void {
  while (start < end && /\s/.test(text[start]!)) start += 1;
  while (end > start && /\s/.test(text[end - 1]!)) end -= 1;
  if (end > start) out.push({ start, end });
}

/** Cuts a long paragraph into pieces of at most `maxChars`, preferring sentence ends. */
function splitParagraph(text: string, paragraph: Span, maxChars: number): Span[] {
  const sentences: Span[] = [];
  const boundary = /[.!?…]["')\]’”]*\s+/g;
  boundary.lastIndex = paragraph.start;
  let start = paragraph.start;
  for (let match = boundary.exec(text); match && match.index < paragraph.end; match = boundary.exec(text)) {
    const end = Math.min(match.index + match[0].length, paragraph.end);
    pushTrimmed(text, start, end, sentences);
    start = end;
  }
  pushTrimmed(text, start, paragraph.end, sentences);

  const pieces: Span[] = [];
  let current: Span | null = null;
  for (const sentence of sentences.flatMap((s) => (s.end - s.start > maxChars ? splitAtSpaces(text, s, maxChars) : [s]))) {
    if (current && sentence.end - current.start <= maxChars) {
      current.end = sentence.end;
      continue;
    }
    if (current) pieces.push(current);
    current = { ...sentence };
  }
  if (current) pieces.push(current);
  return pieces;
}

function splitAtSpaces(text: string, span: Span, maxChars: number): Span[] {
  const pieces: Span[] = [];
  let start = span.start;
  while (span.end - start > maxChars) {
    let cut = start + maxChars;
    while (cut > start && !/\s/.test(text[cut]!)) cut -= 1;
    if (cut <= start) cut = start + maxChars;
    pushTrimmed(text, start, cut, pieces);
    start = cut;
  }
  pushTrimmed(text, start, span.end, pieces);
  return pieces;
}

function boxesIn(page: ExtractedPage, span: Span): Box[] {
  const boxes: Box[] = [];
  const offsets = page.wordOffsets;
  // Offsets are ascending: find the first word at or after the start, then walk.
  let lo = 0;
  let hi = offsets.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (offsets[mid]! < span.start) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < offsets.length && offsets[i]! < span.end; i += 1) boxes.push(page.words[i]!.box);
  return boxes;
}
