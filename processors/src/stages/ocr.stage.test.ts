import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { ensureFixtures } from '../../../test/fixtures/generate.ts';
import { handMadeTiff, overlappingTiffDirectories } from '../../../test/fixtures/hand-made-tiff.ts';
import { FIXTURES, fixturePath } from '../../../test/fixtures/manifest.ts';
import { TesseractOcr } from '../engines/ocr.engine.ts';
import { openPdf } from '../engines/pdf.engine.ts';
import { PipelineError } from '@quire/kernel';
import { extractPdfText } from './extract.stage.ts';
import { ocrImage, ocrPdfPages } from './ocr.stage.ts';
import type { ExtractedPage, StageProgress } from './stage.ts';

const read = async (file: string): Promise<Uint8Array> => new Uint8Array(await readFile(fixturePath(file)));
const flat = (page: ExtractedPage | undefined) => page?.text.replace(/\s+/g, ' ') ?? '';

function counter(): StageProgress & { total: number; done: number } {
  return {
    total: 0,
    done: 0,
    setTotal(total) {
      this.total = total;
    },
    advance(count = 1) {
      this.done += count;
    },
  };
}

describe('OCR stage', () => {
  const ocr = new TesseractOcr();
  const signal = new AbortController().signal;
  before(async () => {
    await ensureFixtures();
    await ocr.start();
  });
  after(() => ocr.close());

  it('reads every page of a multi-page TIFF whose directories follow the pixels', async () => {
    const letter = FIXTURES['scanned-letter.tiff'];
    const data = await read(letter.file);
    assert.ok(new DataView(data.buffer, data.byteOffset).getUint32(4, true) > data.length / 2, 'first directory after the pixels');
    const progress = counter();
    const pages = await ocrImage(data, { ocr, signal, progress });
    assert.deepEqual(
      pages.map((p) => p.page),
      [1, 2],
    );
    assert.deepEqual([progress.total, progress.done], [2, 2]);
    assert.ok(flat(pages[0]).includes(letter.phrase));
    assert.ok(flat(pages[1]).includes('Head Librarian'));
    for (const p of pages) {
      assert.equal(p.source, 'ocr');
      assert.deepEqual([p.width, p.height], [1166, 1654]);
    }
  });

  it('reads a BigTIFF page', async () => {
    const letter = FIXTURES['scanned-letter.tiff'];
    const big = await sharp(await read(letter.file), { page: 0 })
      .tiff({ bigtiff: true, compression: 'lzw' })
      .toBuffer();
    const pages = await ocrImage(new Uint8Array(big), { ocr, signal, progress: counter() });
    assert.equal(pages.length, 1);
    assert.ok(flat(pages[0]).includes(letter.phrase));
  });

  it('refuses a TIFF bomb as too large from its directories, before decoding or recognising any page', async () => {
    let recognised = 0;
    const counting = {
      workers: 1,
      recognize: (...args: Parameters<TesseractOcr['recognize']>) => {
        recognised += 1;
        return ocr.recognize(...args);
      },
    } as unknown as TesseractOcr;
    const tooLarge = (pattern: RegExp) => (e: unknown) =>
      e instanceof PipelineError && e.code === 'DOCUMENT_TOO_LARGE' && e.stage === 'ocr' && pattern.test(e.message);
    const cases: [Uint8Array, RegExp][] = [
      // 10^10 pixels in under 2 KB.
      [handMadeTiff([{ width: 100_000, height: 100_000 }]), /page 1 .* 100000x100000 pixels/],
      // A readable first page does not get OCR'd when a later one is a bomb.
      [
        handMadeTiff(
          [
            { width: 40, height: 30 },
            { width: 100_000, height: 100_000 },
          ],
          { bigEndian: true },
        ),
        /page 2 /,
      ],
      [handMadeTiff(Array.from({ length: 2001 }, () => ({ width: 8, height: 8 }))), /more than 2000 pages/],
    ];
    for (const [data, message] of cases) {
      const progress = counter();
      const before = process.memoryUsage().rss;
      await assert.rejects(ocrImage(data, { ocr: counting, signal, progress }), tooLarge(message));
      assert.ok(process.memoryUsage().rss - before < 200_000_000, 'nothing was decoded');
      assert.equal(progress.done, 0);
    }
    assert.equal(recognised, 0);
    await assert.rejects(
      ocrImage(
        handMadeTiff([
          { width: 30, height: 30 },
          { width: 30, height: 30 },
        ]),
        { ocr: counting, signal, progress: counter(), maxPages: 1 },
      ),
      tooLarge(/more than 1 pages/),
    );
  });

  it('refuses a TIFF whose directories cannot be walked within bounds, before decoding any page', async () => {
    const untouched = { workers: 1 } as unknown as TesseractOcr;
    const refused = (code: string, pattern: RegExp) => (e: unknown) =>
      e instanceof PipelineError && e.code === code && e.stage === 'ocr' && !e.retryable && pattern.test(e.message);
    const progress = counter();
    await assert.rejects(
      ocrImage(overlappingTiffDirectories({ bigTiff: true, directories: 3, entries: 1_000_000 }), { ocr: untouched, signal, progress }),
      refused('IMAGE_UNREADABLE', /claims 1000000 entries/),
    );
    await assert.rejects(
      ocrImage(overlappingTiffDirectories({ bigTiff: true, directories: 300, entries: 4000 }), { ocr: untouched, signal, progress }),
      refused('DOCUMENT_TOO_LARGE', /more than 1000000 entries/),
    );
    assert.equal(progress.done, 0);
  });

  it('reads PNG and JPEG scans alike', async () => {
    const [png] = await ocrImage(await read('scanned-invoice.png'), { ocr, signal, progress: counter() });
    const [jpg] = await ocrImage(await read('scanned-invoice.jpg'), { ocr, signal, progress: counter() });
    for (const page of [png, jpg]) {
      assert.ok(flat(page).includes(FIXTURES['scanned-invoice.png'].phrase));
      assert.ok(page!.words.some((w) => w.text === 'INV-2024-0193'));
    }
  });

  it('finds the scanned pages of a PDF and OCRs them at the text-layer resolution', async () => {
    const order = FIXTURES['scanned-order.pdf'];
    const doc = await openPdf(await read(order.file));
    try {
      const text = await extractPdfText(doc, { signal, progress: counter(), dpi: 200 });
      assert.deepEqual(text.pages, []);
      assert.deepEqual(text.scanned, [1]);
      const progress = counter();
      const pages = await ocrPdfPages(doc, text.scanned, { ocr, signal, progress, dpi: 200 });
      assert.equal(progress.done, 1);
      assert.ok(flat(pages[0]).includes(order.phrase), flat(pages[0]));
      assert.ok(pages[0]!.words.some((w) => w.text === order.fields.number));
      assert.deepEqual([pages[0]!.width, pages[0]!.height], [Math.round(5.83 * 200), Math.round(8.27 * 200)]);
    } finally {
      await doc.close();
    }
  });

  it('scales pages over the pixel budget down instead of refusing them', async () => {
    const [page] = await ocrImage(await read('scanned-invoice.png'), { ocr, signal, progress: counter(), maxPagePixels: 1_000_000 });
    assert.ok(page!.width * page!.height <= 1_000_000);
    assert.ok(flat(page).includes('INVOICE'));
  });

  it('refuses images over the input pixel limit before decoding them', async () => {
    const huge = await sharp({ create: { width: 6000, height: 6000, channels: 3, background: '#ffffff' } })
      .png()
      .toBuffer();
    await assert.rejects(
      ocrImage(new Uint8Array(huge), { ocr, signal, progress: counter(), maxInputPixels: 20_000_000 }),
      (e: unknown) => e instanceof PipelineError && e.code === 'DOCUMENT_TOO_LARGE' && e.stage === 'ocr',
    );
  });

  it('reports a corrupt image as unreadable', async () => {
    const png = await read('scanned-invoice.png');
    await assert.rejects(
      ocrImage(png.slice(0, 2000), { ocr, signal, progress: counter() }),
      (e: unknown) => e instanceof PipelineError && e.code === 'IMAGE_UNREADABLE' && !e.retryable,
    );
  });

  it('stops when the signal is aborted', async () => {
    const controller = new AbortController();
    const doc = await openPdf(await read('scanned-30-pages.pdf'));
    try {
      const progress = counter();
      const pending = ocrPdfPages(doc, [1, 2, 3, 4, 5, 6], { ocr, signal: controller.signal, progress, dpi: 200 });
      setTimeout(() => controller.abort(new Error('cancelled')), 200);
      await assert.rejects(pending, /cancelled/);
      assert.ok(progress.done < 6);
    } finally {
      await doc.close();
    }
  });
});
