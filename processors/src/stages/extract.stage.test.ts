import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineError } from '../pipeline-error.ts';
import { extractPlainText } from './extract.stage.ts';

const encode = (text: string) => new TextEncoder().encode(text);

describe('extract stage, plain text', () => {
  it('makes one page per form feed and normalises line ends', () => {
    const pages = extractPlainText(encode('\uFEFFFirst page\r\nline two\fSecond page\rend\n'));
    assert.deepEqual(
      pages.map((p) => [p.page, p.text, p.source, p.width, p.height]),
      [
        [1, 'First page\nline two', 'plain', 0, 0],
        [2, 'Second page\nend\n', 'plain', 0, 0],
      ],
    );
  });

  it('keeps words with their offsets and no geometry', () => {
    const [page] = extractPlainText(encode('Invoice  INV-7\nTotal: 12.00 EUR'));
    assert.deepEqual(
      page!.words.map((w) => w.text),
      ['Invoice', 'INV-7', 'Total:', '12.00', 'EUR'],
    );
    page!.words.forEach((w, i) => {
      assert.equal(page!.text.slice(page!.wordOffsets[i], page!.wordOffsets[i]! + w.text.length), w.text);
      assert.deepEqual(w.box, { x: 0, y: 0, w: 0, h: 0 });
    });
  });

  it('cuts a long text into pages at paragraph ends without losing a character', () => {
    const paragraph = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(8).trim();
    const text = Array.from({ length: 60 }, () => paragraph).join('\n\n');
    const pages = extractPlainText(encode(text), { maxPageChars: 5000 });
    assert.ok(pages.length >= 6);
    assert.equal(pages.map((p) => p.text).join(''), text);
    for (const p of pages) assert.ok(p.text.length <= 5000);
    for (const p of pages.slice(0, -1)) assert.ok(p.text.endsWith('\n'), 'cut at a line end');
  });

  it('refuses bytes that are not UTF-8', () => {
    assert.throws(
      () => extractPlainText(new Uint8Array([0xc3, 0x28])),
      (e: unknown) => e instanceof PipelineError && e.code === 'UNSUPPORTED_MEDIA_TYPE',
    );
  });
});
