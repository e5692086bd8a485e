/**
 * What the extraction, OCR, chunk and embed stages share: the page form they pass along
 * and the progress and cancellation hooks the pipeline gives each of them.
 */
import type { PageResult } from '@quire/kernel';

/** A page with the offset of each word in its text, so chunks can find their words. */
export interface ExtractedPage extends PageResult {
  /** `wordOffsets[i]` is where `words[i]` starts in `text`. */
  wordOffsets: number[];
}

/** How a stage reports its work: how many units it has, and each unit done. */
export interface StageProgress {
  /** Sets the number of units of the stage (pages, batches). */
  setTotal(total: number): void;
  /** Marks `count` more units done. */
  advance(count?: number): void;
}

/** Hooks every long stage receives. */
export interface StageContext {
  signal: AbortSignal;
  progress: StageProgress;
}

/** Strips the offsets for the wire: the result protocol carries words without them. */
export function toPageResult(page: ExtractedPage): PageResult {
  const { wordOffsets: _offsets, ...result } = page;
  return result;
}

/**
 * Cuts a page's text to `maxChars`, dropping the words past the cut. A page is one result
 * message, so a hostile page with megabytes of text must not become one.
 */
export function capPage(page: ExtractedPage, maxChars: number): ExtractedPage {
  if (page.text.length <= maxChars) return page;
  const keep = page.wordOffsets.findIndex((offset, i) => offset + (page.words[i]?.text.length ?? 0) > maxChars);
  const count = keep === -1 ? page.words.length : keep;
  return { ...page, text: page.text.slice(0, maxChars), words: page.words.slice(0, count), wordOffsets: page.wordOffsets.slice(0, count) };
}
