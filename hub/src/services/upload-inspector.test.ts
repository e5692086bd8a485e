import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import { before, describe, it } from 'node:test';
import { createCanvas } from '@napi-rs/canvas';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import sharp from 'sharp';
import { AppError, PayloadTooLargeError, SupportedMime, UnsupportedMediaError, ValidationError } from '@quire/kernel';
import { utf16 } from '../../../test/fixtures/bytes.ts';
import { handMadeTiff } from '../../../test/fixtures/hand-made-tiff.ts';
import { statusOf } from '../http/errors.ts';
import { classifyUpload, UploadInspector } from './upload-inspector.ts';

const HEAD_BYTES = 8192;
const TAIL_BYTES = 2048;

/** Splits `bytes` into parts of the given sizes, repeating the pattern, as a socket would. */
function split(bytes: Buffer, sizes: readonly number[]): Buffer[] {
  const parts: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length]!;
    parts.push(bytes.subarray(at, at + size));
    at += size;
  }
  return parts;
}

/** Streams `bytes` through a new inspector into a sink; returns both. */
async function inspect(bytes: Buffer, options: { maxBytes?: number; sizes?: number[] } = {}) {
  const inspector = new UploadInspector(options.maxBytes ?? 100 * 1024 * 1024);
  const received: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      received.push(chunk);
      done();
    },
  });
  await pipeline(Readable.from(split(bytes, options.sizes ?? [1000, 7, 4096, 65536])), inspector, sink);
  return { inspector, passed: Buffer.concat(received) };
}

/** Streams the upload through the inspector and classifies it, as ingest does. */
async function classify(bytes: Uint8Array, filename: string, declaredMime?: string): Promise<string> {
  const { inspector } = await inspect(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return classifyUpload({ filename, declaredMime, size: inspector.size, head: inspector.head, tail: inspector.tail });
}

/** Asserts that the upload is refused with this error class, code and HTTP status. */
async function assertRefused(
  bytes: Uint8Array,
  filename: string,
  declaredMime: string | undefined,
  expected: { type: typeof ValidationError | typeof UnsupportedMediaError; code: string; status: number },
): Promise<void> {
  await assert.rejects(classify(bytes, filename, declaredMime), (err: unknown) => {
    assert.ok(err instanceof expected.type, `${filename}: expected ${expected.type.name}, got ${String(err)}`);
    assert.equal((err as AppError).code, expected.code, filename);
    assert.equal(statusOf(err), expected.status, filename);
    return true;
  });
}

async function makePdf(): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const page = doc.addPage([300, 200]);
  page.drawText('Invoice 42, total 1,299.00 EUR', { x: 20, y: 150, size: 12, font: await doc.embedFont(StandardFonts.Helvetica) });
  return Buffer.from(await doc.save());
}

function drawing() {
  const canvas = createCanvas(64, 48);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, 64, 48);
  ctx.fillStyle = '#123';
  ctx.fillRect(8, 8, 30, 12);
  return canvas;
}

/** A complete 2×1, 8-bit greyscale, little-endian TIFF with its pixels after the IFD. */
function makeTiff(): Buffer {
  const entries: [tag: number, type: number, value: number][] = [
    [256, 3, 2], // ImageWidth
    [257, 3, 1], // ImageLength
    [258, 3, 8], // BitsPerSample
    [259, 3, 1], // Compression: none
    [262, 3, 1], // PhotometricInterpretation: black is zero
    [273, 4, 0], // StripOffsets, filled in below
    [278, 3, 1], // RowsPerStrip
    [279, 4, 2], // StripByteCounts
  ];
  const ifdSize = 2 + entries.length * 12 + 4;
  const pixelsAt = 8 + ifdSize;
  const buf = Buffer.alloc(pixelsAt + 2);
  buf.write('II*\0', 0, 'latin1');
  buf.writeUInt32LE(8, 4);
  buf.writeUInt16LE(entries.length, 8);
  entries.forEach(([tag, type, value], i) => {
    const at = 10 + i * 12;
    buf.writeUInt16LE(tag, at);
    buf.writeUInt16LE(type, at + 2);
    buf.writeUInt32LE(1, at + 4);
    if (type === 3) buf.writeUInt16LE(value, at + 8);
    else buf.writeUInt32LE(tag === 273 ? pixelsAt : value, at + 8);
  });
  buf.writeUInt32LE(0, 10 + entries.length * 12); // no next IFD
  buf[pixelsAt] = 0x00;
  buf[pixelsAt + 1] = 0xff;
  return buf;
}

/** A ZIP archive holding one stored (uncompressed) text file. */
function makeZip(): Buffer {
  const name = Buffer.from('notes.txt');
  const data = Buffer.from('hello from inside a zip\n');
  const crc = crc32(data);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(name.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(name.length, 28);
  const centralAt = local.length + name.length + data.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + name.length, 12);
  end.writeUInt32LE(centralAt, 16);
  return Buffer.concat([local, name, data, central, name, end]);
}

describe('UploadInspector', () => {
  it('passes every byte through and reports size, sha256, head and tail', async () => {
    const bytes = randomBytes(100_003);
    const { inspector, passed } = await inspect(bytes);
    assert.deepEqual(passed, bytes);
    assert.equal(inspector.size, bytes.length);
    assert.equal(inspector.digest(), createHash('sha256').update(bytes).digest('hex'));
    assert.deepEqual(inspector.head, bytes.subarray(0, HEAD_BYTES));
    assert.deepEqual(inspector.tail, bytes.subarray(-TAIL_BYTES));
  });

  it('keeps head and tail right whatever the chunking', async () => {
    const bytes = randomBytes(HEAD_BYTES + TAIL_BYTES + 17);
    for (const sizes of [[1], [8191, 2], [HEAD_BYTES], [3000, 5000, 200, 2048], [bytes.length]]) {
      const { inspector } = await inspect(bytes, { sizes });
      assert.deepEqual(inspector.head, bytes.subarray(0, HEAD_BYTES), `chunks ${sizes.join(',')}`);
      assert.deepEqual(inspector.tail, bytes.subarray(-TAIL_BYTES), `chunks ${sizes.join(',')}`);
      assert.equal(inspector.digest(), createHash('sha256').update(bytes).digest('hex'));
    }
  });

  it('a small upload is its own head and tail', async () => {
    const bytes = Buffer.from('short note');
    const { inspector } = await inspect(bytes, { sizes: [3] });
    assert.deepEqual(inspector.head, bytes);
    assert.deepEqual(inspector.tail, bytes);
    assert.equal(inspector.size, bytes.length);
  });

  it('accepts exactly the limit and refuses one byte more with PayloadTooLargeError', async () => {
    const limit = 10_000;
    const ok = await inspect(randomBytes(limit), { maxBytes: limit });
    assert.equal(ok.inspector.size, limit);

    const inspector = new UploadInspector(limit);
    let forwarded = 0;
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        forwarded += chunk.length;
        done();
      },
    });
    await assert.rejects(pipeline(Readable.from(split(randomBytes(limit * 5 + 1), [4096])), inspector, sink), (err: unknown) => {
      assert.ok(err instanceof PayloadTooLargeError, String(err));
      assert.equal(err.code, 'PAYLOAD_TOO_LARGE');
      assert.equal(statusOf(err), 413);
      return true;
    });
    assert.ok(forwarded <= limit, `forwarded ${forwarded} bytes past a limit of ${limit}`);
  });
});

describe('classifyUpload', () => {
  let pdf: Buffer;
  let png: Buffer;
  let jpeg: Buffer;
  const tiff = makeTiff();

  before(async () => {
    pdf = await makePdf();
    png = await drawing().encode('png');
    jpeg = await drawing().encode('jpeg', 80);
  });

  it('recognises real PDF, PNG, JPEG and TIFF files from their bytes', async () => {
    assert.equal(await classify(pdf, 'invoice.pdf', 'application/pdf'), SupportedMime.Pdf);
    assert.equal(await classify(png, 'scan.png', 'image/png'), SupportedMime.Png);
    assert.equal(await classify(jpeg, 'photo.JPG', 'image/jpeg'), SupportedMime.Jpeg);
    assert.equal(await classify(jpeg, 'photo.jpeg', undefined), SupportedMime.Jpeg);
    assert.equal(await classify(tiff, 'fax.tiff', 'image/tiff'), SupportedMime.Tiff);
    assert.equal(await classify(tiff, 'fax.tif', undefined), SupportedMime.Tiff);
  });

  it('trusts the bytes when neither the name nor the declared type names a supported type', async () => {
    assert.equal(await classify(pdf, 'upload', undefined), SupportedMime.Pdf);
    assert.equal(await classify(png, 'clipboard.bin', 'application/octet-stream'), SupportedMime.Png);
  });

  it('accepts UTF-8 text, and Markdown by its extension', async () => {
    const text = Buffer.from('Grüße aus Köln — total: 1 299,00 €\r\n\tsecond line\n');
    const markdown = Buffer.from('# Meeting notes\n\n- [x] send the **invoice**\n- ask about `PO-7781`\n');
    assert.equal(await classify(text, 'notes.txt', 'text/plain; charset=utf-8'), SupportedMime.Text);
    assert.equal(await classify(text, 'notes', undefined), SupportedMime.Text);
    assert.equal(await classify(markdown, 'README.md', 'text/plain'), SupportedMime.Markdown);
    assert.equal(await classify(markdown, 'notes.markdown', 'text/markdown'), SupportedMime.Markdown);
    assert.equal(await classify(markdown, 'notes.txt', 'text/markdown'), SupportedMime.Text);
  });

  it('counts a multi-byte character cut at the end of the 8 KB head as text', async () => {
    // The euro sign's three bytes straddle the head's last byte.
    const bytes = Buffer.concat([Buffer.from('a'.repeat(HEAD_BYTES - 1)), Buffer.from('€ and more text after the boundary\n')]);
    const { inspector } = await inspect(bytes);
    assert.deepEqual([...inspector.head.subarray(-1)], [0xe2], 'the head ends inside the character');
    assert.equal(await classify(bytes, 'long.txt'), SupportedMime.Text);
    assert.equal(await classify(bytes, 'long.md'), SupportedMime.Markdown);
  });

  it('refuses an empty upload with EMPTY_UPLOAD (400)', async () => {
    for (const name of ['empty.pdf', 'empty.txt', 'empty']) {
      await assertRefused(Buffer.alloc(0), name, undefined, { type: ValidationError, code: 'EMPTY_UPLOAD', status: 400 });
    }
  });

  it('refuses a PDF, PNG or JPEG whose end is missing with TRUNCATED_UPLOAD (400)', async () => {
    const truncated = { type: ValidationError, code: 'TRUNCATED_UPLOAD', status: 400 } as const;
    assert.ok(pdf.subarray(-TAIL_BYTES).includes('%%EOF'));
    await assertRefused(pdf.subarray(0, pdf.lastIndexOf('%%EOF')), 'invoice.pdf', 'application/pdf', truncated);
    await assertRefused(pdf.subarray(0, Math.floor(pdf.length / 2)), 'invoice.pdf', undefined, truncated);
    // IEND is the last 12 bytes of a PNG.
    assert.equal(png.subarray(-8, -4).toString('latin1'), 'IEND');
    await assertRefused(png.subarray(0, -12), 'scan.png', 'image/png', truncated);
    await assertRefused(png.subarray(0, Math.floor(png.length / 2)), 'scan.png', undefined, truncated);
    assert.deepEqual([...jpeg.subarray(-2)], [0xff, 0xd9]);
    await assertRefused(jpeg.subarray(0, -2), 'photo.jpg', 'image/jpeg', truncated);
    await assertRefused(jpeg.subarray(0, Math.floor(jpeg.length / 2)), 'photo.jpg', undefined, truncated);
  });

  it('refuses binary data and archives with UNSUPPORTED_MEDIA_TYPE (415)', async () => {
    const unsupported = { type: UnsupportedMediaError, code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 } as const;
    const garbage = Buffer.alloc(4096, 0).map((_, i) => (i * 131 + 7) & 0xff);
    await assertRefused(Buffer.from(garbage), 'data.bin', undefined, unsupported);
    await assertRefused(Buffer.from(garbage), 'data.txt', 'text/plain', unsupported);
    await assertRefused(makeZip(), 'archive.zip', 'application/zip', unsupported);
    await assertRefused(makeZip(), 'report.pdf', 'application/pdf', unsupported);
    // Valid UTF-8 with control characters is not text either.
    await assertRefused(Buffer.from('header\u0000\u0001\u0002 body'), 'log.txt', undefined, unsupported);
    // Latin-1 bytes that are not valid UTF-8.
    await assertRefused(Buffer.from('Gr\xfc\xdfe aus K\xf6ln', 'latin1'), 'notes.txt', undefined, unsupported);
  });

  it('recognises TIFFs whose directories follow the pixels, as scanners and libtiff write them', async () => {
    // 4000x200 pages put every directory well past the 8 KB head.
    const pages = [
      { width: 4000, height: 200 },
      { width: 4000, height: 200 },
      { width: 4000, height: 200 },
    ];
    for (const bigEndian of [false, true]) {
      const tiff = Buffer.from(handMadeTiff(pages, { bigEndian }));
      assert.ok(tiff.readUInt32LE(4) > HEAD_BYTES || tiff.readUInt32BE(4) > HEAD_BYTES);
      assert.equal(await classify(tiff, 'scan.tif', 'image/tiff'), SupportedMime.Tiff);
      assert.equal(await classify(tiff, 'scan', undefined), SupportedMime.Tiff);
    }
    const big = await sharp({ create: { width: 3000, height: 300, channels: 3, background: '#ffffff' } })
      .greyscale()
      .tiff({ bigtiff: true, compression: 'none' })
      .toBuffer();
    assert.equal(big.subarray(0, 4).toString('latin1'), 'II+\0');
    assert.equal(await classify(big, 'scan.tiff', 'image/tiff'), SupportedMime.Tiff);
  });

  it('refuses a TIFF cut before its first directory with TRUNCATED_UPLOAD (400)', async () => {
    const tiff = Buffer.from(handMadeTiff([{ width: 4000, height: 200 }]));
    const cut = tiff.subarray(0, tiff.readUInt32LE(4) + 4);
    await assertRefused(cut, 'scan.tiff', 'image/tiff', { type: ValidationError, code: 'TRUNCATED_UPLOAD', status: 400 });
  });

  it('accepts a TIFF that claims enormous pages: the pipeline refuses it by its size', async () => {
    assert.equal(await classify(Buffer.from(handMadeTiff([{ width: 100_000, height: 100_000 }])), 'bomb.tiff'), SupportedMime.Tiff);
  });

  it('accepts UTF-16 text with a byte order mark, and UTF-8 with one', async () => {
    for (const endian of ['le', 'be'] as const) {
      const text = utf16('Grüße aus Köln — total: 1 299,00 €\r\n', endian);
      assert.equal(await classify(text, 'notes.txt', 'text/plain'), SupportedMime.Text);
      assert.equal(await classify(text, 'notes', undefined), SupportedMime.Text);
      assert.equal(await classify(utf16('# Minutes\n', endian), 'minutes.md', undefined), SupportedMime.Markdown);
      // Longer than the head, which then ends inside a character.
      assert.equal(await classify(utf16('word '.repeat(3000), endian), 'long.txt'), SupportedMime.Text);
    }
    assert.equal(await classify(Buffer.from('\uFEFFplain words\n'), 'notes.txt'), SupportedMime.Text);
  });

  it('refuses UTF-16 without a byte order mark, and text with NUL characters, with UNSUPPORTED_MEDIA_TYPE (415)', async () => {
    const unsupported = { type: UnsupportedMediaError, code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 } as const;
    await assertRefused(Buffer.from('no byte order mark', 'utf16le'), 'notes.txt', undefined, unsupported);
    await assertRefused(utf16('a\u0000b', 'le'), 'notes.txt', undefined, unsupported);
    await assertRefused(utf16('a\u0000b', 'be'), 'notes.txt', undefined, unsupported);
  });

  it('refuses a name or a declared type that contradicts the bytes with MEDIA_TYPE_MISMATCH (415)', async () => {
    const mismatch = { type: UnsupportedMediaError, code: 'MEDIA_TYPE_MISMATCH', status: 415 } as const;
    await assertRefused(Buffer.from('This is plain text, not a PDF.\n'), 'invoice.pdf', undefined, mismatch);
    await assertRefused(pdf, 'upload', 'image/png', mismatch);
    await assertRefused(pdf, 'invoice.pdf', 'image/png', mismatch);
    await assertRefused(png, 'scan.jpg', undefined, mismatch);
    await assertRefused(jpeg, 'photo.png', 'image/jpeg', mismatch);
    await assertRefused(tiff, 'fax.pdf', undefined, mismatch);
    await assertRefused(pdf, 'notes.md', undefined, mismatch);
  });
});
