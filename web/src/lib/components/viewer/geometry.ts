/**
 * Page geometry and text offsets for the viewer: boxes in page pixels placed as percentages
 * of the page, the words a character range covers, and character offsets of a DOM selection
 * within a passage's text.
 */
import type { AnnotationAnchor } from '$lib/stores/collab.svelte.ts';
import type { Box, Chunk, Page } from './document.ts';

/** CSS placing a page-pixel box over a page of `width`×`height`, in percentages (so it scales). */
export function boxStyle(box: Box, page: { width: number; height: number }): string {
  const pc = (v: number, of: number) => `${((v / of) * 100).toFixed(4)}%`;
  return `left:${pc(box.x, page.width)};top:${pc(box.y, page.height)};width:${pc(box.w, page.width)};height:${pc(box.h, page.height)}`;
}

/** CSS placing a point of the page. */
export function pointStyle(p: { x: number; y: number }, page: { width: number; height: number }): string {
  return `left:${((p.x / page.width) * 100).toFixed(4)}%;top:${((p.y / page.height) * 100).toFixed(4)}%`;
}

const offsetsCache = new WeakMap<Page, number[]>();

/** Where each word starts in its page's text (-1 when it cannot be found). */
export function wordOffsets(page: Page): number[] {
  const known = offsetsCache.get(page);
  if (known) return known;
  const offsets: number[] = [];
  let at = 0;
  for (const w of page.words) {
    const i = page.text.indexOf(w.text, at);
    offsets.push(i);
    if (i >= 0) at = i + w.text.length;
  }
  offsetsCache.set(page, offsets);
  return offsets;
}

/** Joins the boxes of words next to each other on one line, so a highlight reads as a band. */
export function mergeLines(boxes: Box[]): Box[] {
  const out: Box[] = [];
  for (const b of boxes) {
    const last = out.at(-1);
    const overlap = last ? Math.min(last.y + last.h, b.y + b.h) - Math.max(last.y, b.y) : 0;
    if (last && overlap > 0.5 * Math.min(last.h, b.h) && b.x >= last.x && b.x - (last.x + last.w) < 3 * Math.max(last.h, b.h)) {
      const x = last.x;
      const y = Math.min(last.y, b.y);
      last.w = Math.max(last.x + last.w, b.x + b.w) - x;
      last.h = Math.max(last.y + last.h, b.y + b.h) - y;
      last.y = y;
    } else out.push({ ...b });
  }
  return out;
}

/** The boxes of the words of `chunk`'s text between `start` and `end`; the chunk's own boxes when words cannot be placed. */
export function boxesForRange(page: Page, chunk: Chunk, start: number, end: number): Box[] {
  const from = chunk.start + start;
  const to = chunk.start + end;
  const offsets = wordOffsets(page);
  const boxes: Box[] = [];
  let placed = false;
  page.words.forEach((w, i) => {
    const at = offsets[i]!;
    if (at < 0) return;
    if (at >= chunk.start && at < chunk.end) placed = true;
    if (at < to && at + w.text.length > from && w.box.w > 0) boxes.push(w.box);
  });
  return mergeLines(placed ? boxes : chunk.boxes);
}

/** The page boxes an anchor covers on `page` (none when it is elsewhere). */
export function anchorBoxes(anchor: AnnotationAnchor, page: Page, chunks: Chunk[]): Box[] {
  if (anchor.kind === 'box') return anchor.page === page.number ? [anchor.box] : [];
  const chunk = chunks.find((c) => c.ordinal === anchor.chunkOrdinal);
  if (!chunk || chunk.page !== page.number) return [];
  const start = Math.max(0, Math.min(anchor.start, anchor.end));
  const end = Math.min(chunk.text.length, Math.max(anchor.start, anchor.end));
  return end > start ? boxesForRange(page, chunk, start, end) : [];
}

/** The page an anchor is on. */
export function anchorPage(anchor: AnnotationAnchor, chunks: Chunk[]): number | null {
  if (anchor.kind === 'box') return anchor.page;
  return chunks.find((c) => c.ordinal === anchor.chunkOrdinal)?.page ?? null;
}

/**
 * The character offset, within a passage's text, of a DOM boundary point inside its
 * paragraph. The paragraph holds one `[data-seg-start]` element per run of text (inside
 * any `<mark>`s), so the marks never count.
 */
export function textOffset(para: HTMLElement, node: Node, offset: number, length: number): number {
  const segStart = (el: Element | null) => Number(el?.closest('[data-seg-start]')?.getAttribute('data-seg-start') ?? NaN);
  if (node.nodeType === Node.TEXT_NODE) {
    const start = segStart(node.parentElement);
    return Number.isNaN(start) ? 0 : Math.min(length, start + offset);
  }
  // An element boundary: the text before child `offset`.
  const el = node as Element;
  const segs = [...para.querySelectorAll<HTMLElement>('[data-seg-start]')];
  if (offset < el.childNodes.length) {
    const child = el.childNodes[offset]!;
    const first = segs.find(
      (s) => child === s || child.contains(s) || (child.compareDocumentPosition(s) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0,
    );
    return first ? Number(first.dataset.segStart) : length;
  }
  const last = [...segs]
    .reverse()
    .find((s) => el === s || el.contains(s) || (el.compareDocumentPosition(s) & Node.DOCUMENT_POSITION_PRECEDING) !== 0);
  return last ? Number(last.dataset.segStart) + (last.textContent?.length ?? 0) : 0;
}

/** A selection within the Text panel as an anchor, clamped to the first passage it touches. */
export function selectionAnchor(
  root: HTMLElement,
  range: Range,
  chunks: Chunk[],
): { anchor: { kind: 'highlight'; chunkOrdinal: number; start: number; end: number }; clamped: boolean; text: string } | null {
  if (range.collapsed) return null;
  // Each passage the selection covers some of: a triple click ends at the start of the next one, which is not covered.
  const covered = [...root.querySelectorAll<HTMLElement>('[data-testid="chunk-text"]')]
    .filter((p) => range.intersectsNode(p))
    .map((para) => {
      const chunk = chunks.find((c) => c.ordinal === Number(para.dataset.chunk));
      if (!chunk) return null;
      const length = chunk.text.length;
      const start = para.contains(range.startContainer) ? textOffset(para, range.startContainer, range.startOffset, length) : 0;
      const end = para.contains(range.endContainer) ? textOffset(para, range.endContainer, range.endOffset, length) : length;
      return end > start ? { chunk, start, end } : null;
    })
    .filter((x) => x !== null);
  const first = covered[0];
  if (!first) return null;
  return {
    anchor: { kind: 'highlight', chunkOrdinal: first.chunk.ordinal, start: first.start, end: first.end },
    clamped: covered.length > 1,
    text: first.chunk.text.slice(first.start, first.end),
  };
}
