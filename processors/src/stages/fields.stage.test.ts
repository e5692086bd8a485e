import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { ensureFixtures } from '../../../test/fixtures/generate.ts';
import { FIXTURES, fixturePath, type Fixture } from '../../../test/fixtures/manifest.ts';
import { TesseractOcr } from '../engines/ocr.engine.ts';
import { openPdf } from '../engines/pdf.engine.ts';
import type { Box, PageResult, Word } from '@quire/kernel';
import { extractPdfText } from './extract.stage.ts';
import { currencyOf, extractFields, formatAmount, parseAmount } from './fields.stage.ts';
import { ocrImage, ocrPdfPages } from './ocr.stage.ts';
import type { StageProgress } from './stage.ts';

const CHAR_WIDTH = 10;
const LINE_HEIGHT = 20;

/**
 * Builds a page from printed lines: each line is [text, x, y] and its words get boxes at
 * CHAR_WIDTH per character, as an OCR engine would report them. Runs of two or more spaces
 * stay as gaps, so columns land where they are printed.
 */
function buildPage(lines: readonly (readonly [string, number, number])[], overrides: Partial<PageResult> = {}): PageResult {
  const words: Word[] = [];
  for (const [text, x, y] of lines) {
    for (const m of text.matchAll(/\S+/g)) {
      words.push({ text: m[0], box: { x: x + m.index * CHAR_WIDTH, y, w: m[0].length * CHAR_WIDTH, h: LINE_HEIGHT }, confidence: 92 });
    }
  }
  return {
    page: 1,
    width: 1000,
    height: 1400,
    text: lines.map(([t]) => t).join('\n'),
    source: 'ocr',
    confidence: 92,
    words,
    ...overrides,
  };
}

/** The box of the word `text` on the line printed at `y` (as buildPage lays it out). */
function wordBox(page: PageResult, text: string, y: number): Box {
  const w = page.words.find((x) => x.text === text && x.box.y === y);
  assert.ok(w, `no word ${text} at y=${y}`);
  return w.box;
}

describe('extractFields', () => {
  it('reads an OCR-noisy invoice: glued colons, digits for letters, European amounts', () => {
    const page = buildPage([
      ['Acme Office Supplies Ltd, 12 Market Street, Leeds', 40, 40],
      ['INV0ICE', 40, 100],
      ['Invoice No.:INV-2024-0183      Invoice Date: 14 March 2024', 40, 140],
      ['Due Date: 13/04/2024', 40, 170],
      ['Bill To: Northwind Traders', 40, 200],
      ['Subtotal          1.028,75', 40, 400],
      ['VAT 20%             205,75', 40, 430],
      ['Tota1 Due:      € 1.234,50', 40, 460],
    ]);
    const fields = extractFields([page], 'invoice');

    assert.equal(fields.number?.value, 'INV-2024-0183');
    // The number shares its word with the label; the box is that whole word.
    assert.deepEqual(fields.number?.box, wordBox(page, 'No.:INV-2024-0183', 140));

    assert.equal(fields.date?.value, '2024-03-14', 'the invoice date, not the due date');
    const dateWords = ['14', 'March', '2024'].map((t) => wordBox(page, t, 140));
    assert.deepEqual(fields.date?.box, {
      x: dateWords[0]!.x,
      y: 140,
      w: dateWords[2]!.x + dateWords[2]!.w - dateWords[0]!.x,
      h: LINE_HEIGHT,
    });

    assert.equal(fields.total?.value, '1234.50');
    assert.deepEqual(fields.total?.box, wordBox(page, '1.234,50', 460));
    assert.equal(fields.currency?.value, 'EUR');
    assert.deepEqual(fields.currency?.box, wordBox(page, '€', 460));

    assert.equal(fields.counterparty?.value, 'Acme Office Supplies Ltd', 'the letterhead, not the Bill To customer');
    for (const f of Object.values(fields)) {
      assert.ok(f.confidence > 0 && f.confidence <= 1);
      assert.equal(f.page, 1);
    }
  });

  it('reads a purchase order: PO number, vendor, ISO date, grand total with a code', () => {
    const page = buildPage([
      ['PURCHASE ORDER', 300, 40],
      ['PO Number: 4500017732', 40, 100],
      ['Order Date: 2024-02-05', 40, 130],
      ['Vendor: Fastenal Industrial Supply', 40, 160],
      ['Ship To: Plant 3, Dayton OH', 40, 190],
      ['Requested delivery: 2024-02-19', 40, 220],
      ['Total 2000 pcs', 40, 400],
      ['Grand Total   USD 500.00', 40, 430],
    ]);
    const fields = extractFields([page], 'purchase order');
    assert.equal(fields.number?.value, '4500017732');
    assert.equal(fields.date?.value, '2024-02-05');
    assert.equal(fields.counterparty?.value, 'Fastenal Industrial Supply');
    const vendor = ['Fastenal', 'Supply'].map((t) => wordBox(page, t, 160));
    assert.deepEqual(fields.counterparty?.box, { x: vendor[0]!.x, y: 160, w: vendor[1]!.x + vendor[1]!.w - vendor[0]!.x, h: LINE_HEIGHT });
    assert.equal(fields.total?.value, '500.00', 'a labelled amount with decimals beats a count');
    assert.equal(fields.currency?.value, 'USD');
    assert.equal(fields.orderNumber, undefined, "a purchase order's own number is its number");
  });

  it('reads the purchase order an invoice refers to without taking it for the invoice number', () => {
    const page = buildPage([
      ['Apex Scientific Supplies', 40, 30],
      ['PO Number: PO-55812', 40, 80],
      ['Invoice No: APX-7741', 40, 110],
      ['Total Due   GBP 413.00', 40, 300],
    ]);
    const fields = extractFields([page], 'invoice');
    assert.equal(fields.number?.value, 'APX-7741');
    assert.equal(fields.orderNumber?.value, 'PO-55812');
    assert.deepEqual(fields.orderNumber?.box, wordBox(page, 'PO-55812', 80));

    // Side by side in a header row, each value under its own label.
    const table = buildPage([
      ['Harbour Consulting LLC', 40, 30],
      ['Invoice #        Your Order        Date', 40, 100],
      ['2291             4500017732        04/05/2024', 40, 125],
    ]);
    const fromTable = extractFields([table], 'invoice');
    assert.equal(fromTable.number?.value, '2291');
    assert.equal(fromTable.orderNumber?.value, '4500017732');
  });

  it("reads a receipt's customer PO, but not its order number, as the order it refers to", () => {
    const page = buildPage([
      ['Blue Door Coffee', 40, 30],
      ['Order No: 58', 40, 80],
      ['Customer PO: 7719', 40, 110],
      ['Total   11.32', 40, 300],
    ]);
    const fields = extractFields([page], 'receipt');
    assert.equal(fields.number?.value, '58');
    assert.equal(fields.orderNumber?.value, '7719');
    assert.equal(extractFields([buildPage([['Order No: 58', 40, 80]])], 'receipt').orderNumber, undefined);
  });

  it('reads a Malaysian receipt: value under its label, tax summary row, rounded total', () => {
    const page = buildPage([
      ['MR. D.I.Y. (KUCHAI) SDN BHD (750441-W)', 60, 20],
      ['LOT 1851-A & 1851-B, JALAN KPB 6,', 60, 50],
      ['43300 SERI KEMBANGAN, SELANGOR', 60, 80],
      ['-TAX INVOICE-', 150, 120],
      ['SPONGE DISHES 6103#', 20, 180],
      ['9068739   1 X 3.30      3.30', 20, 210],
      ['TOTAL INCL. GST@6%', 20, 260],
      ['RM 3.33', 20, 290],
      ['ROUNDING ADJ        -0.03', 20, 320],
      ['TOTAL ROUNDED     RM 3.30', 20, 350],
      ['CASH              RM 10.00', 20, 380],
      ['CHANGE DUE        RM 6.70', 20, 410],
      ['GST SUMMARY   AMT(RM)  TAX(RM)', 20, 460],
      ['TOTAL          3.11     0.19', 20, 490],
      ['17-04-16 14:02 SH01 B019', 20, 540],
    ]);
    const fields = extractFields([page], 'receipt');
    assert.equal(fields.total?.value, '3.30');
    assert.deepEqual(fields.total?.box, wordBox(page, '3.30', 350));
    assert.equal(fields.currency?.value, 'MYR');
    assert.equal(fields.date?.value, '2016-04-17');
    assert.equal(fields.counterparty?.value, 'MR. D.I.Y. (KUCHAI) SDN BHD', 'registration number dropped');
  });

  it('reads the value under a table header and settles month-first dates from the document', () => {
    const page = buildPage([
      ['Harbour Consulting LLC', 40, 30],
      ['Invoice Number      Date          Due', 40, 100],
      ['2291                04/05/2024    05/30/2024', 40, 125],
      ['Amount Due: $4,800.00', 40, 300],
    ]);
    const fields = extractFields([page], 'invoice');
    assert.equal(fields.number?.value, '2291');
    // 05/30/2024 can only be month-first, so 04/05/2024 is April 5th.
    assert.equal(fields.date?.value, '2024-04-05');
    assert.equal(fields.total?.value, '4800.00');
    assert.equal(fields.currency?.value, 'USD');
    assert.equal(fields.counterparty?.value, 'Harbour Consulting LLC');
  });

  it('reads labels split across words or merged by OCR', () => {
    const page = buildPage([
      ['Bright Web Studio', 40, 30],
      ['INVOICENO  0047', 40, 80],
      ['Dated 1st Feb 2024', 40, 110],
      ['Balance   due   EUR 830,00', 40, 300],
    ]);
    const fields = extractFields([page], 'invoice');
    assert.equal(fields.number?.value, '0047');
    assert.equal(fields.date?.value, '2024-02-01');
    assert.equal(fields.total?.value, '830.00');
    assert.equal(fields.currency?.value, 'EUR');
  });

  it('takes the total from the page it is printed on', () => {
    const first = buildPage([
      ['Northwind Traders Ltd', 40, 30],
      ['Invoice # 77', 40, 80],
      ['Date: 02.03.2024', 40, 110],
    ]);
    const second = buildPage([['Total  £435.60', 40, 900]], { page: 2 });
    const fields = extractFields([first, second], 'invoice');
    assert.equal(fields.total?.value, '435.60');
    assert.equal(fields.total?.page, 2);
    assert.equal(fields.currency?.value, 'GBP');
    assert.equal(fields.date?.value, '2024-03-02');
  });

  it('works on plain text without boxes, returning null boxes', () => {
    const text = 'Blue Door Coffee\nReceipt # 58\nSubtotal 10.40\nTotal 11.32\n14/05/2024 17:42';
    const words: Word[] = text.split(/\s+/).map((t) => ({ text: t, box: { x: 0, y: 0, w: 0, h: 0 }, confidence: 100 }));
    const page: PageResult = { page: 1, width: 0, height: 0, text, source: 'plain', confidence: 100, words };
    const fields = extractFields([page], 'receipt');
    assert.equal(fields.total?.value, '11.32');
    assert.equal(fields.total?.box, null);
    assert.equal(fields.number?.value, '58');
    assert.equal(fields.date?.value, '2024-05-14');
    assert.equal(fields.counterparty?.value, 'Blue Door Coffee');
  });

  it('returns nothing for other document types and for empty pages', () => {
    const page = buildPage([
      ['Invoice No: 123', 40, 40],
      ['Total 12.00', 40, 80],
    ]);
    assert.deepEqual(extractFields([page], 'contract'), {});
    assert.deepEqual(extractFields([page], 'other'), {});
    assert.deepEqual(extractFields([buildPage([])], 'invoice'), {});
  });

  it('leaves out what is not there instead of guessing', () => {
    const page = buildPage([
      ['Thank you for your visit', 40, 40],
      ['See you soon', 40, 80],
    ]);
    const fields = extractFields([page], 'receipt');
    assert.equal(fields.total, undefined);
    assert.equal(fields.date, undefined);
    assert.equal(fields.number, undefined);
    assert.equal(fields.currency, undefined);
    assert.equal(fields.orderNumber, undefined);
  });
});

describe('extractFields on the scanned fixtures', () => {
  const ocr = new TesseractOcr();
  const signal = new AbortController().signal;
  const progress: StageProgress = { setTotal: () => {}, advance: () => {} };
  before(async () => {
    await ensureFixtures();
    await ocr.start();
  });
  after(() => ocr.close());

  /** The pages the pipeline would hand the fields stage: images OCRed, PDFs' scanned pages too. */
  async function ocrPages(fixture: Fixture): Promise<PageResult[]> {
    const data = new Uint8Array(await readFile(fixturePath(fixture.file)));
    if (fixture.mime !== 'application/pdf') return ocrImage(data, { ocr, signal, progress });
    const doc = await openPdf(data);
    try {
      const text = await extractPdfText(doc, { signal, progress, dpi: 200 });
      const scanned = await ocrPdfPages(doc, text.scanned, { ocr, signal, progress, dpi: 200 });
      return [...text.pages, ...scanned].sort((a, b) => a.page - b.page);
    } finally {
      await doc.close();
    }
  }

  for (const fixture of (Object.values(FIXTURES) as Fixture[]).filter((f) => f.fields)) {
    it(`reads the fields of ${fixture.file} from real OCR`, async () => {
      const fields = extractFields(await ocrPages(fixture), fixture.docType!);
      for (const [key, expected] of Object.entries(fixture.fields!)) {
        assert.equal(fields[key as keyof typeof fields]?.value, expected, `${fixture.file}: ${key}`);
      }
      // Only a document that quotes an order gets one.
      if (!fixture.fields!.orderNumber) assert.equal(fields.orderNumber, undefined, `${fixture.file}: orderNumber`);
    });
  }
});

describe('parseAmount', () => {
  it('normalises thousands and decimal separators', () => {
    assert.equal(parseAmount('1,234.50')?.value, 1234.5);
    assert.equal(parseAmount('1.234,50')?.value, 1234.5);
    assert.equal(parseAmount('1 234,50')?.value, 1234.5);
    assert.equal(parseAmount("1'234.50")?.value, 1234.5);
    assert.equal(parseAmount('1,234')?.value, 1234);
    assert.equal(parseAmount('RM9.00')?.value, 9);
    assert.equal(parseAmount('£435.60')?.value, 435.6);
    assert.equal(parseAmount('1O.5O')?.value, 10.5, 'O read for 0');
    assert.equal(parseAmount('-0.03')?.value, -0.03);
    assert.equal(parseAmount('12')?.decimals, 0);
    assert.equal(parseAmount('1,23,4'), undefined);
    assert.equal(parseAmount('TOTAL'), undefined);
    assert.equal(parseAmount('03-3271'), undefined);
  });

  it('formats with the currency minor unit', () => {
    assert.equal(formatAmount(1234.5), '1234.50');
    assert.equal(formatAmount(1234.5, 'JPY'), '1235');
    assert.equal(formatAmount(9, 'MYR'), '9.00');
  });
});

describe('currencyOf', () => {
  it('reads symbols and ISO codes, not words that end like them', () => {
    assert.equal(currencyOf('€'), 'EUR');
    assert.equal(currencyOf('$4,800.00'), 'USD');
    assert.equal(currencyOf('A$12.00'), 'AUD');
    assert.equal(currencyOf('RM9.00'), 'MYR');
    assert.equal(currencyOf('(RM)'), 'MYR');
    assert.equal(currencyOf('GBP'), 'GBP');
    assert.equal(currencyOf('FORM'), undefined);
    assert.equal(currencyOf('TERM'), undefined);
    assert.equal(currencyOf('XYZ'), undefined);
  });
});
