import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { createCanvas } from '@napi-rs/canvas';
import { ensureFixtures } from '../../../test/fixtures/generate.ts';
import { FIXTURES, fixturePath } from '../../../test/fixtures/manifest.ts';
import { imageSize, TesseractOcr, type OcrResult } from './ocr.engine.ts';

const invoice = FIXTURES['scanned-invoice.png'];

describe('TesseractOcr', () => {
  const ocr = new TesseractOcr({ workers: 1 });
  let png: Uint8Array;
  let result: OcrResult;

  before(async () => {
    await ensureFixtures();
    png = new Uint8Array(await readFile(fixturePath(invoice.file)));
    await ocr.start();
    result = await ocr.recognize(png);
  });
  after(() => ocr.close());

  it('reads the exact phrase and the invoice number of the scanned invoice', () => {
    const flat = result.text.replace(/\s+/g, ' ');
    assert.ok(flat.includes(invoice.phrase), `phrase missing from: ${flat}`);
    assert.ok(result.words.some((w) => w.text === invoice.fields.number));
    assert.ok(result.confidence > 60, `mean confidence ${result.confidence}`);
  });

  it('reports the image size and word boxes inside the image', () => {
    assert.deepEqual({ width: result.width, height: result.height }, imageSize(png));
    for (const { box, confidence } of result.words) {
      assert.ok(box.x >= 0 && box.y >= 0 && box.w > 0 && box.h > 0);
      assert.ok(box.x + box.w <= result.width && box.y + box.h <= result.height);
      assert.ok(confidence >= 0 && confidence <= 100);
    }
  });

  it('places the invoice number box where the number is printed', () => {
    const word = result.words.find((w) => w.text === invoice.fields.number)!;
    // The generator prints "Invoice No:" at the left margin (48 pt) of an A5 page at 200 DPI,
    // on the sixth line: the number sits right of the label, in the upper quarter.
    assert.ok(word.box.x > 133 + 100 && word.box.x < result.width / 2, `x ${word.box.x}`);
    assert.ok(word.box.y > 150 && word.box.y < result.height / 4, `y ${word.box.y}`);
    assert.ok(word.box.h > 15 && word.box.h < 60, `h ${word.box.h}`);
  });

  it('keeps word offsets into its own text', () => {
    result.words.forEach((word, i) => {
      const at = result.wordOffsets[i]!;
      assert.equal(result.text.slice(at, at + word.text.length), word.text);
    });
  });

  it('reads a canvas and raw grey pixels the same way as encoded bytes', async () => {
    const canvas = createCanvas(900, 200);
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, 900, 200);
    ctx.fillStyle = '#000';
    ctx.font = '40px sans-serif';
    ctx.fillText('Quarterly revenue grew strongly', 30, 110);
    const fromCanvas = await ocr.recognize(canvas);
    const fromPng = await ocr.recognize(await canvas.encode('png'));
    assert.equal(fromCanvas.text, fromPng.text);
    assert.match(fromCanvas.text, /revenue grew/);
    assert.equal(fromCanvas.width, 900);
  });

  it('rejects at once when the signal is aborted', async () => {
    const controller = new AbortController();
    const pending = ocr.recognize(png, { signal: controller.signal });
    controller.abort(new Error('stop'));
    await assert.rejects(pending, /stop/);
    // The engine stays usable afterwards.
    const again = await ocr.recognize(png);
    assert.ok(again.words.length > 10);
  });

  it('turns an unreadable image into a rejection, not a crash', async () => {
    await assert.rejects(ocr.recognize(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])), /recognition failed/);
  });
});
