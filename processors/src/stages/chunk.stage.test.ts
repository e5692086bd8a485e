import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { ensureFixtures } from '../../../test/fixtures/generate.ts';
import { fixturePath } from '../../../test/fixtures/manifest.ts';
import { TesseractOcr } from '../engines/ocr.engine.ts';
import type { Box, Word } from '@quire/kernel';
import { chunkPages, pageSpans, type Chunk } from './chunk.stage.ts';
import { ocrImage } from './ocr.stage.ts';
import type { ExtractedPage } from './stage.ts';

/** A page of text whose words get synthetic boxes: one line per text line, 10 px per character. */
function page(n: number, text: string): ExtractedPage {
  const words: Word[] = [];
  const wordOffsets: number[] = [];
  const lineStarts = [0, ...[...text.matchAll(/\n/g)].map((m) => m.index + 1)];
  for (const match of text.matchAll(/\S+/g)) {
    const line = lineStarts.filter((s) => s <= match.index).length - 1;
    const column = match.index - lineStarts[line]!;
    words.push({ text: match[0], box: { x: column * 10, y: line * 20, w: match[0].length * 10, h: 16 }, confidence: 90 });
    wordOffsets.push(match.index);
  }
  return { page: n, width: 2000, height: 4000, text, source: 'ocr', confidence: 90, words, wordOffsets };
}

function assertProvenance(chunks: readonly Chunk[], pages: readonly ExtractedPage[]): void {
  chunks.forEach((chunk, i) => {
    assert.equal(chunk.ordinal, i);
    const source = pages.find((p) => p.page === chunk.page)!;
    assert.equal(source.text.slice(chunk.start, chunk.end), chunk.text, 'offsets slice the page text exactly');
    assert.equal(chunk.text.trim(), chunk.text);
    // The boxes are exactly those of the chunk's words, in order.
    const expected = source.words.filter((_, w) => source.wordOffsets[w]! >= chunk.start && source.wordOffsets[w]! < chunk.end);
    assert.deepEqual(
      chunk.boxes,
      expected.map((w) => w.box),
    );
    assert.deepEqual(expected.map((w) => w.text).join(' '), chunk.text.split(/\s+/).join(' '));
  });
}

const sentence = (i: number) => `Sentence number ${i} talks about the harbour, the tides and the boats that come in at dawn.`;

describe('chunk stage', () => {
  it('packs short paragraphs into chunks of the target size and never across pages', () => {
    const paragraph = (i: number) => `${sentence(i)} ${sentence(i + 100)}`;
    const text = Array.from({ length: 12 }, (_, i) => paragraph(i)).join('\n\n');
    const pages = [page(1, text), page(2, text), page(3, 'Short closing page.')];
    const chunks = chunkPages(pages, { targetChars: 500, maxChars: 1000 });
    assertProvenance(chunks, pages);
    for (const p of [1, 2, 3]) assert.ok(chunks.some((c) => c.page === p));
    for (const c of chunks.filter((c) => c.page !== 3)) {
      assert.ok(c.text.length <= 1000, `chunk of ${c.text.length}`);
      assert.ok(c.text.length >= 300, `chunk of ${c.text.length}`);
      // Whole paragraphs: a chunk starts and ends where a paragraph does.
      assert.ok(c.text.startsWith('Sentence') && c.text.endsWith('dawn.'));
    }
    assert.deepEqual(chunks.find((c) => c.page === 3)!.text, 'Short closing page.');
  });

  it('cuts a long paragraph at sentence ends, within the maximum', () => {
    const text = Array.from({ length: 40 }, (_, i) => sentence(i)).join(' ');
    const pages = [page(1, text)];
    const chunks = chunkPages(pages, { targetChars: 500, maxChars: 1000 });
    assertProvenance(chunks, pages);
    assert.ok(chunks.length >= 4);
    for (const c of chunks) {
      assert.ok(c.text.length <= 1000);
      assert.ok(c.text.endsWith('dawn.'), 'cut after a full stop');
    }
  });

  it('cuts a sentence longer than the maximum at spaces, and a word longer than that anywhere', () => {
    const longSentence = Array.from({ length: 300 }, (_, i) => `word${i}`).join(' ');
    const spans = pageSpans(`${longSentence}\n\n${'x'.repeat(2500)}`, 500, 1000);
    for (const s of spans) assert.ok(s.end - s.start <= 1000);
    const text = `${longSentence}\n\n${'x'.repeat(2500)}`;
    for (const s of spans.slice(0, -3)) assert.match(text.slice(s.start, s.end), /^word\d+( word\d+)*$/);
  });

  it('treats blank lines with spaces as paragraph breaks and skips empty pages', () => {
    const pages = [page(1, '  \n \n'), page(2, 'First paragraph.\n \t \nSecond paragraph.')];
    const chunks = chunkPages(pages, { targetChars: 10, maxChars: 100 });
    assertProvenance(chunks, pages);
    assert.deepEqual(
      chunks.map((c) => [c.page, c.text]),
      [
        [2, 'First paragraph.'],
        [2, 'Second paragraph.'],
      ],
    );
  });

  it('carries the word boxes of real OCR output', async () => {
    await ensureFixtures();
    const ocr = new TesseractOcr();
    try {
      const pages = await ocrImage(new Uint8Array(await readFile(fixturePath('scanned-letter.tiff'))), {
        ocr,
        signal: new AbortController().signal,
        progress: { setTotal() {}, advance() {} },
      });
      const chunks = chunkPages(pages, { targetChars: 200, maxChars: 400 });
      assertProvenance(chunks, pages);
      assert.ok(chunks.length >= 3);
      const union = (boxes: Box[]) => ({
        top: Math.min(...boxes.map((b) => b.y)),
        bottom: Math.max(...boxes.map((b) => b.y + b.h)),
      });
      // Chunks of one page follow each other down the page.
      const first = chunks.filter((c) => c.page === 1);
      for (let i = 1; i < first.length; i += 1) assert.ok(union(first[i]!.boxes).top >= union(first[i - 1]!.boxes).bottom - 5);
    } finally {
      await ocr.close();
    }
  });
});
