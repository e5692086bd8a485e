/**
 * Snippets: a window of a chunk around its densest cluster of matches, with the match
 * ranges moved into the window's coordinates.
 */
import type { Highlight } from './search-index.ts';

/**
 * The marks an engine's highlighter puts around matches, for {@link rangesFromMarkup}:
 * control characters that chunk text does not hold.
 */
export const MARK_OPEN = '\u0001\u0002\u0003';
export const MARK_CLOSE = '\u0003\u0002\u0001';

/** Target snippet length in characters. */
export const SNIPPET_CHARS = 200;
/** A chunk up to this long is its own snippet: cutting it would save little. */
const WHOLE_CHUNK_CHARS = 240;
/** How far an edge may move to avoid cutting a word. */
const WORD_SNAP_CHARS = 24;
const ELLIPSIS = '…';

/**
 * Matches in order, those separated by white space only joined into one: the words of a
 * phrase read as one mark, however an engine's highlighter marked them (FTS5 marks a phrase
 * match whole, Lucene's unified highlighter word by word).
 */
function joinAdjacent(text: string, matches: readonly Highlight[]): Highlight[] {
  const joined: Highlight[] = [];
  for (const m of [...matches].sort((a, b) => a.start - b.start)) {
    const last = joined.at(-1);
    if (last && m.start >= last.end && /^\s*$/.test(text.slice(last.end, m.start))) last.end = Math.max(last.end, m.end);
    else joined.push({ ...m });
  }
  return joined;
}

/** A snippet and the match ranges within it. */
export interface Snippet {
  snippet: string;
  highlights: Highlight[];
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** Moves a window edge onto whitespace nearby (and never between surrogate halves). */
function snapStart(text: string, start: number, limit: number): number {
  if (start <= 0) return 0;
  for (let i = start; i <= Math.min(limit, start + WORD_SNAP_CHARS); i++) {
    if (/\s/.test(text[i - 1] ?? '')) return i;
  }
  return isHighSurrogate(text.charCodeAt(start - 1)) ? start + 1 : start;
}

function snapEnd(text: string, end: number, limit: number): number {
  if (end >= text.length) return text.length;
  for (let i = end; i >= Math.max(limit, end - WORD_SNAP_CHARS); i--) {
    if (/\s/.test(text[i] ?? '')) return i;
  }
  return isHighSurrogate(text.charCodeAt(end - 1)) ? end - 1 : end;
}

/**
 * Picks the window of about `width` characters holding the most matches (the earliest
 * such window on ties), centres it on them, snaps its edges to word boundaries and marks
 * cut edges with an ellipsis. `found` are disjoint ranges in `text`; those apart by white space
 * only are joined.
 */
export function buildSnippet(text: string, found: readonly Highlight[], width = SNIPPET_CHARS): Snippet {
  const matches = joinAdjacent(text, found);
  if (text.length <= Math.max(width, WHOLE_CHUNK_CHARS)) return { snippet: text, highlights: matches };

  let spanStart = 0;
  let spanEnd = 0;
  let bestCount = 0;
  for (let i = 0, j = 0; i < matches.length; i++) {
    const first = matches[i]!;
    j = Math.max(j, i);
    while (j + 1 < matches.length && matches[j + 1]!.end - first.start <= width) j++;
    if (j - i + 1 > bestCount) {
      bestCount = j - i + 1;
      spanStart = first.start;
      spanEnd = Math.min(matches[j]!.end, first.start + width);
    }
  }

  const pad = Math.floor((width - (spanEnd - spanStart)) / 2);
  let start = Math.max(0, spanStart - pad);
  let end = Math.min(text.length, start + width);
  start = Math.max(0, end - width);
  start = snapStart(text, start, bestCount > 0 ? spanStart : end);
  end = snapEnd(text, end, bestCount > 0 ? spanEnd : start);

  const prefix = start > 0 ? ELLIPSIS : '';
  const suffix = end < text.length ? ELLIPSIS : '';
  const shift = prefix.length - start;
  const highlights = matches
    .filter((m) => m.end > start && m.start < end)
    .map((m) => ({ start: Math.max(m.start, start) + shift, end: Math.min(m.end, end) + shift }));
  return { snippet: prefix + text.slice(start, end) + suffix, highlights };
}

/**
 * Recovers match ranges from text an engine's highlighter (FTS5's `highlight()`, Lucene's
 * unified highlighter) marked up with `open`/`close` markers. The markup is the original with markers inserted, so walking both side by side
 * gives exact offsets; a marker string that also occurs in the original is told apart by
 * the original not having it at that point. Returns no ranges if the two do not line up.
 */
export function rangesFromMarkup(marked: string, original: string, open: string, close: string): Highlight[] {
  const ranges: Highlight[] = [];
  let i = 0;
  let j = 0;
  let openAt = -1;
  while (i < marked.length) {
    if (openAt < 0 && marked.startsWith(open, i) && !original.startsWith(open, j)) {
      openAt = j;
      i += open.length;
    } else if (openAt >= 0 && marked.startsWith(close, i) && !original.startsWith(close, j)) {
      if (j > openAt) ranges.push({ start: openAt, end: j });
      openAt = -1;
      i += close.length;
    } else {
      if (marked[i] !== original[j]) return [];
      i++;
      j++;
    }
  }
  return j === original.length ? ranges : [];
}
