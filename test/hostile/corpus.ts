/**
 * The hostile corpus as uploads, each with what a careful operator expects of it: refused at
 * upload (HTTP status and error code), accepted and then `failed` with one of some codes, or
 * `processed`. Where more than one outcome is sound (a polyglot may be refused or kept as the
 * harmless format it starts with), `expect` lists each; the upload must end in one of them.
 *
 * The expectations describe the hub's limits as configured by `test/hostile-corpus.test.ts`
 * (the upload limit `UPLOAD_LIMIT_MB` of generate.ts, MAX_PAGES 2000, MAX_CHUNKS 10000, a 60 s job
 * timeout) and the rules these uploads test:
 * - a text that needs more passages than MAX_CHUNKS fails `DOCUMENT_TOO_LONG` before it is
 *   embedded; one over the upload limit is refused 413;
 * - stored HTML and SVG are never served as HTML or SVG (`servedInert`);
 * - an ordinary TIFF (its directories after the pixels) is processed; a TIFF, PNG or JPEG
 *   claiming enormous dimensions fails as too large, never as an unsupported type;
 * - file names are read as UTF-8, without control or bidirectional formatting characters
 *   (`storedName`); a bare CR or LF in one is a clear 400 or is stripped;
 * - decompression bombs fail or are processed, within the hub's memory bound;
 * - UTF-16 with a byte-order mark is text; a PDF with no pages is empty like an empty text.
 */
import { SEARCH_WORDS, type HostileFile } from './generate.ts';

/** One acceptable end of an upload. */
export type Outcome =
  | { state: 'refused'; status: number; codes: readonly string[] }
  /** `codes` empty: any failure code will do (bombs, where failing at all is the point). */
  | { state: 'failed'; codes: readonly string[] }
  | { state: 'processed' };

/** How the multipart body is sent. */
export type SendMode =
  /** `FormData` through `fetch`, encoding the name as browsers do (CR, LF and `"` percent-encoded). */
  | 'form'
  /** A hand-written body: the name's UTF-8 bytes as they are (quotes and backslashes escaped). */
  | 'raw'
  /** A hand-written body sent without Content-Length, so only the streaming limit can refuse it. */
  | 'chunked';

export interface HostileCase {
  /** Short, stable name, shown in the results table. */
  id: string;
  /** Group in the table. */
  group: 'control' | 'pdf' | 'image' | 'tiff' | 'polyglot' | 'executable' | 'html-svg' | 'archive' | 'text' | 'name';
  file: HostileFile;
  /** The file name the upload carries. */
  name: string;
  /** Default `form`. */
  send?: SendMode;
  /** Any one of these is a pass. */
  expect: readonly Outcome[];
  /** When accepted: the file name the hub must store. */
  storedName?: string;
  /** When accepted: `GET /api/documents/:id/file?inline` must not be served as HTML or SVG, and carry a sandbox CSP. */
  servedInert?: boolean;
  /** When processed: a text search for this word must find the document. */
  searchFor?: string;
}

const processed: Outcome = { state: 'processed' };
const failed = (...codes: string[]): Outcome => ({ state: 'failed', codes });
/** Failing with any code is fine. */
const failedAny: Outcome = { state: 'failed', codes: [] };
const refused = (status: number, ...codes: string[]): Outcome => ({ state: 'refused', status, codes });

/** Codes that say "too big to process": the document, a page or an image. */
const TOO_LARGE = ['DOCUMENT_TOO_LARGE', 'PAGE_TOO_LARGE', 'IMAGE_TOO_LARGE'];
/** A decompression bomb: failing (any code) or processing it are both fine, as long as memory stays bounded. */
const BOMB = [failedAny, processed];
const UNSUPPORTED = refused(415, 'UNSUPPORTED_MEDIA_TYPE');
const MISMATCH = refused(415, 'MEDIA_TYPE_MISMATCH');
/** A clear refusal of a malformed multipart header (never TRUNCATED_UPLOAD, which blames the file). */
const BAD_HEADER = refused(400, 'BAD_MULTIPART', 'BAD_FILENAME', 'INVALID_FILENAME');

/** Every upload of the corpus, in the order they are sent. */
export const HOSTILE_CASES: readonly HostileCase[] = [
  // Controls.
  {
    id: 'control-text',
    group: 'control',
    file: 'control-text.txt',
    name: 'greenhouse-memo.txt',
    expect: [processed],
    searchFor: SEARCH_WORDS.controlText,
  },
  {
    id: 'control-pdf',
    group: 'control',
    file: 'control-text-layer.pdf',
    name: 'estate-survey.pdf',
    expect: [processed],
    searchFor: SEARCH_WORDS.controlPdf,
  },
  {
    id: 'control-png',
    group: 'control',
    file: 'control-scan.png',
    name: 'inventory-scan.png',
    expect: [processed],
    searchFor: SEARCH_WORDS.controlPng.toLowerCase(),
  },

  // PDF: broken, truncated, encrypted.
  { id: 'pdf-garbage', group: 'pdf', file: 'broken-garbage.pdf', name: 'statement.pdf', expect: [failed('PDF_UNREADABLE')] },
  { id: 'pdf-truncated', group: 'pdf', file: 'truncated.pdf', name: 'truncated.pdf', expect: [refused(400, 'TRUNCATED_UPLOAD')] },
  { id: 'pdf-truncated-eof', group: 'pdf', file: 'truncated-with-eof.pdf', name: 'report-cut.pdf', expect: [failed('PDF_UNREADABLE')] },
  { id: 'pdf-bad-xref', group: 'pdf', file: 'bad-xref.pdf', name: 'ledger.pdf', expect: [processed], searchFor: SEARCH_WORDS.badXref },
  { id: 'pdf-encrypted', group: 'pdf', file: 'encrypted-user-password.pdf', name: 'salary-review.pdf', expect: [failed('PDF_ENCRYPTED')] },
  {
    id: 'pdf-owner-password-only',
    group: 'pdf',
    file: 'encrypted-owner-only.pdf',
    name: 'brochure.pdf',
    expect: [processed],
    searchFor: SEARCH_WORDS.permissionsOnlyPdf,
  },

  // PDF: loops and nesting.
  { id: 'pdf-kids-self-loop', group: 'pdf', file: 'kids-self-loop.pdf', name: 'kids-loop.pdf', expect: [failed('PDF_UNREADABLE')] },
  { id: 'pdf-pages-cycle', group: 'pdf', file: 'pages-cycle.pdf', name: 'pages-cycle.pdf', expect: [failed('PDF_UNREADABLE')] },
  {
    id: 'pdf-parent-self-loop',
    group: 'pdf',
    file: 'parent-self-loop.pdf',
    name: 'parent-loop.pdf',
    expect: [processed, failed('PDF_UNREADABLE')],
  },
  { id: 'pdf-deep-array', group: 'pdf', file: 'deep-array.pdf', name: 'deep-array.pdf', expect: [failed('PDF_UNREADABLE'), processed] },
  { id: 'pdf-deep-dict', group: 'pdf', file: 'deep-dict.pdf', name: 'deep-dict.pdf', expect: [failed('PDF_UNREADABLE'), processed] },
  {
    id: 'pdf-deep-content',
    group: 'pdf',
    file: 'deep-content-array.pdf',
    name: 'deep-content.pdf',
    expect: [failed('PDF_UNREADABLE'), processed],
  },

  // PDF: decompression bombs, size, pages.
  { id: 'pdf-bomb-content', group: 'pdf', file: 'bomb-content-flate.pdf', name: 'bomb-content.pdf', expect: BOMB },
  { id: 'pdf-bomb-content-2x', group: 'pdf', file: 'bomb-content-flate-twice.pdf', name: 'bomb-content-2x.pdf', expect: BOMB },
  { id: 'pdf-bomb-image', group: 'pdf', file: 'bomb-image-xobject.pdf', name: 'bomb-image.pdf', expect: BOMB },
  { id: 'pdf-giant-page', group: 'pdf', file: 'giant-page.pdf', name: 'site-plan.pdf', expect: [processed, failed(...TOO_LARGE)] },
  { id: 'pdf-5000-pages', group: 'pdf', file: 'five-thousand-pages.pdf', name: 'catalogue.pdf', expect: [failed('DOCUMENT_TOO_LARGE')] },
  { id: 'pdf-zero-pages', group: 'pdf', file: 'zero-pages.pdf', name: 'no-pages.pdf', expect: [failed('EMPTY_DOCUMENT')] },

  // Image bombs.
  { id: 'png-huge-dimensions', group: 'image', file: 'png-huge-dimensions.png', name: 'huge.png', expect: [failed(...TOO_LARGE)] },
  { id: 'png-inflates-100mb', group: 'image', file: 'png-inflates-100mb.png', name: 'blank-scan.png', expect: BOMB },
  { id: 'png-idat-overflow', group: 'image', file: 'png-idat-overflow.png', name: 'tiny.png', expect: BOMB },
  { id: 'jpeg-huge-dimensions', group: 'image', file: 'jpeg-huge-dimensions.jpg', name: 'huge.jpg', expect: [failed(...TOO_LARGE)] },

  // TIFF.
  {
    id: 'tiff-multipage',
    group: 'tiff',
    file: 'tiff-multipage-ifd-after-data.tif',
    name: 'lighthouse-log.tif',
    expect: [processed],
    searchFor: SEARCH_WORDS.tiff.toLowerCase(),
  },
  { id: 'tiff-huge-dimensions', group: 'tiff', file: 'tiff-huge-dimensions.tif', name: 'huge.tiff', expect: [failed(...TOO_LARGE)] },
  { id: 'tiff-ifd-loop', group: 'tiff', file: 'tiff-ifd-loop.tif', name: 'loop.tif', expect: [processed, failed('IMAGE_UNREADABLE')] },

  // Polyglots.
  {
    id: 'pdf-html-polyglot',
    group: 'polyglot',
    file: 'pdf-html-polyglot.pdf',
    name: 'account-statement.pdf',
    expect: [processed],
    servedInert: true,
    searchFor: SEARCH_WORDS.pdfHtmlPolyglot,
  },
  {
    id: 'png-script-appended',
    group: 'polyglot',
    file: 'png-script-appended.png',
    name: 'receipt.png',
    expect: [refused(400, 'TRUNCATED_UPLOAD'), processed],
    servedInert: true,
  },
  { id: 'gifar', group: 'polyglot', file: 'gifar.gif', name: 'avatar.gif', expect: [UNSUPPORTED] },
  {
    id: 'jpeg-zip-polyglot',
    group: 'polyglot',
    file: 'jpeg-zip-polyglot.jpg',
    name: 'holiday.jpg',
    expect: [refused(400, 'TRUNCATED_UPLOAD'), processed],
    servedInert: true,
  },
  {
    id: 'html-with-pdf-inside',
    group: 'polyglot',
    file: 'html-with-pdf-inside.html',
    name: 'statement.html',
    expect: [UNSUPPORTED, processed],
    servedInert: true,
  },

  // Executables.
  { id: 'elf-as-png', group: 'executable', file: 'elf.bin', name: 'scan.png', expect: [UNSUPPORTED] },
  { id: 'elf', group: 'executable', file: 'elf.bin', name: 'update', expect: [UNSUPPORTED] },
  { id: 'pe-exe', group: 'executable', file: 'pe.bin', name: 'invoice.pdf.exe', expect: [UNSUPPORTED] },
  { id: 'pe-as-pdf', group: 'executable', file: 'pe.bin', name: 'invoice.pdf', expect: [UNSUPPORTED] },
  { id: 'shell-as-pdf', group: 'executable', file: 'shell-script.txt', name: 'statement.pdf', expect: [MISMATCH] },

  // HTML and SVG.
  { id: 'html-as-pdf', group: 'html-svg', file: 'html.html', name: 'report.pdf', expect: [MISMATCH] },
  { id: 'html-as-txt', group: 'html-svg', file: 'html-2.html', name: 'notes.txt', expect: [processed], servedInert: true },
  { id: 'html-as-htm', group: 'html-svg', file: 'html-3.html', name: 'page.htm', expect: [processed, UNSUPPORTED], servedInert: true },
  { id: 'html-as-html', group: 'html-svg', file: 'html-4.html', name: 'index.html', expect: [processed, UNSUPPORTED], servedInert: true },
  { id: 'html-as-md', group: 'html-svg', file: 'html-5.html', name: 'readme.md', expect: [processed], servedInert: true },
  { id: 'svg-as-svg', group: 'html-svg', file: 'svg.svg', name: 'logo.svg', expect: [processed, UNSUPPORTED], servedInert: true },
  { id: 'svg-as-txt', group: 'html-svg', file: 'svg-2.svg', name: 'seal.txt', expect: [processed], servedInert: true },
  {
    id: 'svg-xml-prolog',
    group: 'html-svg',
    file: 'svg-xml-prolog.svg',
    name: 'crest.svg',
    expect: [UNSUPPORTED, processed],
    servedInert: true,
  },
  { id: 'svg-as-png', group: 'html-svg', file: 'svg-3.svg', name: 'badge.png', expect: [MISMATCH] },

  // Archives.
  { id: 'zip-bomb', group: 'archive', file: 'zip-bomb.zip', name: 'archive.zip', expect: [UNSUPPORTED] },
  { id: 'zip-bomb-as-pdf', group: 'archive', file: 'zip-bomb.zip', name: 'scan.pdf', expect: [UNSUPPORTED] },
  { id: 'gzip', group: 'archive', file: 'gzip.gz', name: 'memo.txt.gz', expect: [UNSUPPORTED] },
  { id: 'gzip-as-txt', group: 'archive', file: 'gzip.gz', name: 'memo.txt', expect: [UNSUPPORTED] },

  // Text.
  { id: 'text-huge-line', group: 'text', file: 'huge-single-line.txt', name: 'one-line.txt', expect: [failed('DOCUMENT_TOO_LONG')] },
  { id: 'text-million-lines', group: 'text', file: 'million-lines.txt', name: 'million-lines.txt', expect: [failed('DOCUMENT_TOO_LONG')] },
  // Under the passage limit: embedded, unless that takes longer than the job timeout or more
  // memory than a pipeline process may hold (which comes first depends on the machine); the
  // hub survives either way.
  {
    id: 'text-job-timeout',
    group: 'text',
    file: 'nine-thousand-passages.txt',
    name: 'long-report.txt',
    expect: [failed('JOB_TIMEOUT'), failed('WORKER_OUT_OF_MEMORY'), processed],
  },
  { id: 'text-invalid-utf8-start', group: 'text', file: 'invalid-utf8-start.txt', name: 'cafe-menu.txt', expect: [UNSUPPORTED, processed] },
  {
    id: 'text-invalid-utf8-late',
    group: 'text',
    file: 'invalid-utf8-late.txt',
    name: 'resume.txt',
    expect: [failed('UNSUPPORTED_MEDIA_TYPE'), processed],
  },
  { id: 'text-nul-start', group: 'text', file: 'nul-start.txt', name: 'ledger.txt', expect: [UNSUPPORTED] },
  { id: 'text-nul-late', group: 'text', file: 'nul-late.txt', name: 'ledger-2.txt', expect: [failed('UNSUPPORTED_MEDIA_TYPE')] },
  {
    id: 'text-utf16le-bom',
    group: 'text',
    file: 'utf16le-bom.txt',
    name: 'minutes-le.txt',
    expect: [processed],
    searchFor: SEARCH_WORDS.utf16le,
  },
  {
    id: 'text-utf16be-bom',
    group: 'text',
    file: 'utf16be-bom.txt',
    name: 'minutes-be.txt',
    expect: [processed],
    searchFor: SEARCH_WORDS.utf16be,
  },
  { id: 'text-utf8-bom', group: 'text', file: 'utf8-bom.txt', name: 'agreement.txt', expect: [processed], searchFor: SEARCH_WORDS.utf8Bom },
  { id: 'text-whitespace-only', group: 'text', file: 'whitespace-only.txt', name: 'blank.txt', expect: [failed('EMPTY_DOCUMENT')] },
  { id: 'text-empty', group: 'text', file: 'empty.txt', name: 'empty.txt', expect: [refused(400, 'EMPTY_UPLOAD')] },
  { id: 'over-limit', group: 'text', file: 'over-limit.bin', name: 'big.txt', expect: [refused(413, 'PAYLOAD_TOO_LARGE')] },
  {
    id: 'over-limit-chunked',
    group: 'text',
    file: 'over-limit.bin',
    name: 'big-chunked.txt',
    send: 'chunked',
    expect: [refused(413, 'PAYLOAD_TOO_LARGE')],
  },

  // Hostile file names (each carries a short, distinct memo).
  { id: 'name-traversal', group: 'name', file: 'name-01.txt', name: '../../etc/passwd.txt', expect: [processed], storedName: 'passwd.txt' },
  {
    id: 'name-traversal-backslash',
    group: 'name',
    file: 'name-02.txt',
    name: '..\\..\\Windows\\System32\\hosts.txt',
    expect: [processed],
    storedName: 'hosts.txt',
  },
  // Raw C0 controls and DEL are not allowed in a header at all: refusing the part is as sound as stripping them.
  {
    id: 'name-c0-controls',
    group: 'name',
    file: 'name-03.txt',
    name: 'memo\u0001\u001b[31m\u007f.txt',
    expect: [processed, BAD_HEADER],
    storedName: 'memo[31m.txt',
  },
  // C1 controls arrive as ordinary UTF-8 bytes: only the hub can strip them.
  {
    id: 'name-c1-controls',
    group: 'name',
    file: 'name-17.txt',
    name: 'memo\u0085\u009b2J.txt',
    expect: [processed],
    storedName: 'memo2J.txt',
  },
  {
    id: 'name-nul',
    group: 'name',
    file: 'name-04.txt',
    name: 'nul\u0000byte.txt',
    expect: [processed, BAD_HEADER],
    storedName: 'nulbyte.txt',
  },
  {
    id: 'name-bare-lf',
    group: 'name',
    file: 'name-05.txt',
    name: 'line1\nline2.txt',
    send: 'raw',
    expect: [BAD_HEADER, processed],
    storedName: 'line1line2.txt',
  },
  {
    id: 'name-bare-cr',
    group: 'name',
    file: 'name-06.txt',
    name: 'line1\rline2.txt',
    send: 'raw',
    expect: [BAD_HEADER, processed],
    storedName: 'line1line2.txt',
  },
  { id: 'name-lf-form', group: 'name', file: 'name-07.txt', name: 'line1\nline2.txt', expect: [processed] },
  {
    id: 'name-rtl-override',
    group: 'name',
    file: 'name-08.txt',
    name: 'invoice\u202Efdp.exe',
    expect: [processed],
    storedName: 'invoicefdp.exe',
  },
  {
    id: 'name-bidi-isolates',
    group: 'name',
    file: 'name-09.txt',
    name: 'salary\u2067\u2066 review\u2069\u200f.txt',
    expect: [processed],
    storedName: 'salary review.txt',
  },
  {
    id: 'name-5000-chars',
    group: 'name',
    file: 'name-10.txt',
    name: `${'Quarterly-report-'.repeat(300).slice(0, 4996)}.txt`,
    expect: [processed],
  },
  {
    id: 'name-emoji',
    group: 'name',
    file: 'name-11.txt',
    name: '📄 Quarterly report 🧾✅.txt',
    expect: [processed],
    storedName: '📄 Quarterly report 🧾✅.txt',
  },
  { id: 'name-thai', group: 'name', file: 'name-12.txt', name: 'ใบแจ้งหนี้.txt', expect: [processed], storedName: 'ใบแจ้งหนี้.txt' },
  {
    id: 'name-latin',
    group: 'name',
    file: 'name-13.txt',
    name: 'Überweisung März – Zürich.txt',
    expect: [processed],
    storedName: 'Überweisung März – Zürich.txt',
  },
  { id: 'name-quotes-form', group: 'name', file: 'name-14.txt', name: `quote"semi;colon'; filename=evil.sh.txt`, expect: [processed] },
  {
    id: 'name-quotes-raw',
    group: 'name',
    file: 'name-15.txt',
    name: `report"; filename="evil.sh;x.txt`,
    send: 'raw',
    expect: [processed],
    storedName: `report"; filename="evil.sh;x.txt`,
  },
  { id: 'name-only-controls', group: 'name', file: 'name-16.txt', name: '\u202e\u0085\u2066', expect: [processed] },
];
