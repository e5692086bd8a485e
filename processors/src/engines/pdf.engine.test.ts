import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { ensureFixtures } from '../../../test/fixtures/generate.ts';
import { FIXTURES, fixturePath } from '../../../test/fixtures/manifest.ts';
import type { Box } from '@quire/kernel';
import { TesseractOcr } from './ocr.engine.ts';
import { openPdf, PdfError, type PdfDocument } from './pdf.engine.ts';

const read = async (file: string): Promise<Uint8Array> => new Uint8Array(await readFile(fixturePath(file)));

function overlap(a: Box, b: Box): number {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / Math.min(a.w * a.h, b.w * b.h);
}

// Taken before any PDF is opened: loading pdfjs must leave the process's JSON functions alone.
const nativeJson = { stringify: JSON.stringify, parse: JSON.parse };

describe('PDF engine', () => {
  before(() => ensureFixtures());

  it('keeps the native JSON functions once pdfjs is loaded (its bundled polyfills would replace them)', async () => {
    const doc = await openPdf(await read(FIXTURES['text-report.pdf'].file));
    await doc.close();
    assert.equal(JSON.stringify, nativeJson.stringify);
    assert.equal(JSON.parse, nativeJson.parse);
  });

  describe('a PDF with a text layer', () => {
    const report = FIXTURES['text-report.pdf'];
    let doc: PdfDocument;
    before(async () => {
      doc = await openPdf(await read(report.file));
    });
    after(() => doc.close());

    it('reads every page, in order, with the exact text', async () => {
      assert.equal(doc.pageCount, report.pages);
      const first = await doc.textLayer(1, 200);
      const second = await doc.textLayer(2, 200);
      assert.equal(first.scanned, false);
      assert.ok(first.text.replace(/\s+/g, ' ').includes(report.phrase));
      assert.ok(second.text.startsWith('Recommendations'));
      for (const line of report.content[1]!.filter(Boolean)) assert.ok(second.text.includes(line), `missing line: ${line}`);
    });

    it('separates paragraphs by blank lines and keeps lines of a paragraph together', async () => {
      const { text } = await doc.textLayer(1, 200);
      const paragraphs = text.split('\n\n');
      assert.ok(paragraphs.includes('Summary'));
      assert.ok(paragraphs.some((p) => p.startsWith('Across the year') && p.includes('struggled with heat in July.')));
    });

    it('gives word boxes in page-image pixels at the requested DPI', async () => {
      const page = await doc.textLayer(1, 200);
      assert.equal(page.width, Math.round((612 * 200) / 72));
      assert.equal(page.height, Math.round((792 * 200) / 72));
      page.words.forEach((word, i) => {
        assert.equal(page.text.slice(page.wordOffsets[i], page.wordOffsets[i]! + word.text.length), word.text);
        assert.ok(word.box.x >= 0 && word.box.x + word.box.w <= page.width && word.box.y >= 0 && word.box.y + word.box.h <= page.height);
      });
      // The title is drawn at x = 72 pt, baseline y = 720 pt from the bottom: 200 px from the
      // left, its baseline 200 px from the top.
      const title = page.words[0]!;
      assert.equal(title.text, 'Urban');
      assert.ok(Math.abs(title.box.x - 200) <= 2, `x ${title.box.x}`);
      assert.ok(title.box.y < 200 && title.box.y + title.box.h > 200, `box ${JSON.stringify(title.box)}`);
    });

    it('places text-layer boxes where OCR of the rendered page finds the same words', async () => {
      const ocr = new TesseractOcr();
      try {
        const layer = await doc.textLayer(1, 200);
        const rendered = await doc.render(1, 200);
        assert.equal(rendered.width, layer.width);
        assert.equal(rendered.height, layer.height);
        const read = await ocr.recognize(rendered.canvas);
        rendered.release();
        let compared = 0;
        for (const word of layer.words.filter((w) => w.text.length >= 6)) {
          const seen = read.words.find((w) => w.text === word.text && overlap(w.box, word.box) > 0);
          if (!seen) continue;
          compared += 1;
          assert.ok(overlap(seen.box, word.box) > 0.6, `${word.text}: ${JSON.stringify(seen.box)} vs ${JSON.stringify(word.box)}`);
        }
        assert.ok(compared >= 20, `only ${compared} words compared`);
      } finally {
        await ocr.close();
      }
    });
  });

  it('marks image-only pages as scanned and renders them at the requested DPI', async () => {
    const doc = await openPdf(await read('scanned-order.pdf'));
    try {
      const page = await doc.textLayer(1, 200);
      assert.equal(page.scanned, true);
      assert.equal(page.words.length, 0);
      const rendered = await doc.render(1, 150);
      assert.equal(rendered.width, Math.round(5.83 * 150));
      rendered.release();
    } finally {
      await doc.close();
    }
  });

  it('lowers the resolution of pages that would exceed the pixel budget', async () => {
    const doc = await openPdf(await read('text-report.pdf'), { maxPagePixels: 1_000_000 });
    try {
      const page = await doc.textLayer(1, 300);
      assert.ok(page.width * page.height <= 1_000_000 * 1.01);
      const rendered = await doc.render(1, 300);
      assert.equal(rendered.width, page.width);
      rendered.release();
    } finally {
      await doc.close();
    }
  });

  it('refuses a truncated PDF and bytes that are no PDF', async () => {
    await assert.rejects(openPdf(await read('truncated.pdf')), (e: unknown) => e instanceof PdfError && e.kind === 'unreadable');
    await assert.rejects(openPdf(await read('not-really.pdf')), (e: unknown) => e instanceof PdfError && e.kind === 'unreadable');
  });

  it('refuses a PDF with more pages than allowed', async () => {
    const pdf = await PDFDocument.create();
    const font = await pdf.embedFont(StandardFonts.Helvetica);
    for (let i = 0; i < 5; i += 1) pdf.addPage([200, 200]).drawText(`page ${i}`, { x: 20, y: 100, font, size: 12 });
    await assert.rejects(openPdf(await pdf.save(), { maxPages: 4 }), (e: unknown) => e instanceof PdfError && e.kind === 'too-many-pages');
  });

  it('refuses a password-protected PDF as encrypted', async () => {
    // A minimal PDF whose trailer names a standard security handler: pdfjs asks for a password.
    const pdf = await PDFDocument.create();
    pdf.addPage([200, 200]);
    const bytes = Buffer.from(await pdf.save({ useObjectStreams: false })).toString('latin1');
    const encrypt = '<< /Filter /Standard /V 1 /R 2 /O <' + '00'.repeat(32) + '> /U <' + '00'.repeat(32) + '> /P -4 >>';
    const patched = bytes.replace(/trailer\s*<</, `trailer\n<< /Encrypt ${encrypt} /ID [<${'11'.repeat(16)}> <${'11'.repeat(16)}>]`);
    await assert.rejects(
      openPdf(new Uint8Array(Buffer.from(patched, 'latin1'))),
      (e: unknown) => e instanceof PdfError && e.kind === 'encrypted',
    );
  });
});
