import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PDFDocument } from 'pdf-lib';
import { utf16 } from '../../../test/fixtures/bytes.ts';
import { openPdf } from '../engines/pdf.engine.ts';
import { PipelineError } from '@quire/kernel';
import { extractPdfText, extractPlainText } from './extract.stage.ts';
import type { StageProgress } from './stage.ts';

const encode = (text: string) => new TextEncoder().encode(text);
const progress: StageProgress = { setTotal() {}, advance() {} };
const signal = new AbortController().signal;

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

  it('decodes UTF-16 text by its byte order mark, so its words are found', () => {
    const text = 'Rechnung Nr. 4711\r\nGesamtbetrag: 1.299,00 €\fSeite zwei 😀\n';
    for (const endian of ['le', 'be'] as const) {
      const pages = extractPlainText(utf16(text, endian));
      assert.deepEqual(
        pages.map((p) => p.text),
        ['Rechnung Nr. 4711\nGesamtbetrag: 1.299,00 €', 'Seite zwei 😀\n'],
      );
      assert.deepEqual(
        pages[0]!.words.map((w) => w.text),
        ['Rechnung', 'Nr.', '4711', 'Gesamtbetrag:', '1.299,00', '€'],
      );
    }
  });

  it('refuses bytes that are not text, saying why', () => {
    const refused = (data: Uint8Array, reason: RegExp) =>
      assert.throws(
        () => extractPlainText(data),
        (e: unknown) =>
          e instanceof PipelineError && e.code === 'UNSUPPORTED_MEDIA_TYPE' && e.stage === 'extract' && reason.test(e.message),
      );
    refused(new Uint8Array([0xc3, 0x28]), /not valid UTF-8/);
    refused(encode('a\u0000b'), /NUL/);
    refused(new Uint8Array([0xfe, 0xff, 0x00, 0x41, 0xdc, 0x00]), /not valid UTF-16BE/);
  });
});

describe('extract stage, PDF', () => {
  it('fails a PDF without pages as EMPTY_DOCUMENT, like a text without words', async () => {
    const empty = await PDFDocument.create();
    const doc = await openPdf(await empty.save({ addDefaultPage: false }));
    try {
      assert.equal(doc.pageCount, 0);
      await assert.rejects(
        extractPdfText(doc, { signal, progress, dpi: 200 }),
        (e: unknown) => e instanceof PipelineError && e.code === 'EMPTY_DOCUMENT' && e.stage === 'extract' && !e.retryable,
      );
    } finally {
      await doc.close();
    }
  });

  it('keeps a blank page: it goes to OCR rather than failing the document', async () => {
    const blank = await PDFDocument.create();
    blank.addPage([300, 200]);
    const doc = await openPdf(await blank.save());
    try {
      assert.deepEqual(await extractPdfText(doc, { signal, progress, dpi: 72 }), { pages: [], scanned: [1] });
    } finally {
      await doc.close();
    }
  });
});
