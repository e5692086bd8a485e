/**
 * The documents of the ingest benchmark (ingest.bench.ts): plain text files and text-layer
 * PDFs written from the articles of a JSONL corpus, and scans (images, scanned PDFs) from a
 * folder. Every document's bytes are unique, so the hub's duplicate detection (the same
 * bytes in a team answer with the existing document) never spares a document the pipeline.
 */
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { PDFDocument, StandardFonts, type PDFFont } from 'pdf-lib';
import { MIME_BY_EXTENSION } from '@quire/kernel';
import { FIXTURES, fixturePath, fixtureText, type Fixture } from '../test/fixtures/manifest.ts';

/** What a benchmark document stands for. */
export const DocKind = {
  /** A plain text file: extract only, no geometry. */
  Text: 'text',
  /** A PDF with a text layer, several pages. */
  Pdf: 'pdf',
  /** A scanned page: an image or a scanned PDF, OCR'd. */
  Scan: 'scan',
} as const;
export type DocKind = (typeof DocKind)[keyof typeof DocKind];

const KINDS = Object.values(DocKind);

export interface BenchDocument {
  /** The upload's file name: kind, position in the mix, the source's extension. */
  name: string;
  kind: DocKind;
  data: Uint8Array;
  /** The media type declared in the upload. */
  type: string;
  /** Where the content came from (an article id, a scan's file name). */
  source: string;
}

export interface MixOptions {
  /** How many documents. */
  count: number;
  /** Relative share of each kind, e.g. 1:1:1 for a third each. */
  weights: Record<DocKind, number>;
  /** JSONL, one article a line with a `text` field (and optionally `id`); null: the plain fixtures. */
  textCorpus: string | null;
  /** Folder of scans (jpg, png, tiff, pdf); null: the generated one- and two-page scanned fixtures. */
  scansDir: string | null;
  /** Articles in one text PDF, each from a new page. */
  articlesPerPdf: number;
}

/** `12 documents (4 text, 4 pdf, 4 scan)`: how many of each kind a mix holds. */
export function describeMix(docs: readonly BenchDocument[]): string {
  const kindCounts = Object.values(DocKind).map((k) => `${docs.filter((d) => d.kind === k).length} ${k}`);
  return `${docs.length} documents (${kindCounts.join(', ')})`;
}

/** Parses `text=1,pdf=1,scan=1` (kinds left out weigh 0). */
export function parseWeights(spec: string): Record<DocKind, number> {
  const weights: Record<DocKind, number> = { text: 0, pdf: 0, scan: 0 };
  for (const part of spec.split(',').filter(Boolean)) {
    const [kind, value] = part.split('=');
    if (!KINDS.includes(kind as DocKind) || !(Number(value) >= 0))
      throw new Error(`bad --mix part "${part}" (expected text=1,pdf=1,scan=1)`);
    weights[kind as DocKind] = Number(value);
  }
  if (KINDS.every((k) => weights[k] === 0)) throw new Error('--mix gives every kind a weight of 0');
  return weights;
}

/**
 * The kind of each position: counts in proportion to the weights (largest remainder), the
 * kinds interleaved so that every stretch of the upload order has the same mix.
 */
export function kindSequence(count: number, weights: Record<DocKind, number>): DocKind[] {
  const sum = KINDS.reduce((s, k) => s + weights[k], 0);
  const exact = KINDS.map((k) => (count * weights[k]) / sum);
  const counts = exact.map(Math.floor);
  const byRemainder = KINDS.map((_, i) => i).sort((a, b) => exact[b]! - counts[b]! - (exact[a]! - counts[a]!));
  for (let left = count - counts.reduce((s, c) => s + c, 0), j = 0; left > 0; left--, j++) counts[byRemainder[j]!]! += 1;
  const used = KINDS.map(() => 0);
  const sequence: DocKind[] = [];
  for (let i = 0; i < count; i++) {
    // The kind furthest behind its share goes next.
    let best = -1;
    for (let k = 0; k < KINDS.length; k++) {
      if (used[k]! >= counts[k]!) continue;
      if (best < 0 || (used[k]! + 1) / counts[k]! < (used[best]! + 1) / counts[best]!) best = k;
    }
    used[best]! += 1;
    sequence.push(KINDS[best]!);
  }
  return sequence;
}

/** Builds the documents of a mix, in upload order. */
export async function buildMix(options: MixOptions): Promise<BenchDocument[]> {
  if (!options.textCorpus || !options.scansDir) {
    // Generated on first use: the fixtures stand in for a missing corpus or scans folder.
    const { ensureFixtures } = await import('../test/fixtures/generate.ts');
    await ensureFixtures();
  }
  const kinds = kindSequence(options.count, options.weights);
  const textCount = kinds.filter((k) => k === DocKind.Text).length;
  const pdfCount = kinds.filter((k) => k === DocKind.Pdf).length;
  const articles = pickArticles(await loadArticles(options.textCorpus), textCount + pdfCount * options.articlesPerPdf);
  const scans = await loadScans(options.scansDir);

  const docs: BenchDocument[] = [];
  let nextArticle = 0;
  let nextScan = 0;
  for (const [i, kind] of kinds.entries()) {
    const label = `${kind}-${String(i + 1).padStart(3, '0')}`;
    switch (kind) {
      case DocKind.Text: {
        const article = articles[nextArticle++]!;
        docs.push({ name: `${label}.txt`, kind, data: new TextEncoder().encode(article.text), type: 'text/plain', source: article.id });
        break;
      }
      case DocKind.Pdf: {
        const parts = articles.slice(nextArticle, (nextArticle += options.articlesPerPdf));
        const data = await textPdf(parts.map((a) => a.text));
        docs.push({ name: `${label}.pdf`, kind, data, type: 'application/pdf', source: parts.map((a) => a.id).join('+') });
        break;
      }
      case DocKind.Scan: {
        const scan = scans[nextScan++ % scans.length]!;
        const ext = extname(scan.name).toLowerCase();
        docs.push({
          name: `${label}${ext}`,
          kind,
          data: makeUnique(scan.data, ext, `quire ingest benchmark ${label}`),
          type: MIME_BY_EXTENSION[ext] ?? 'application/octet-stream',
          source: scan.name,
        });
        break;
      }
    }
  }
  return docs;
}

interface Article {
  id: string;
  text: string;
}

async function loadArticles(corpus: string | null): Promise<Article[]> {
  if (corpus === null) {
    return (Object.values(FIXTURES) as Fixture[])
      .filter((f) => f.kind === 'plain' && fixtureText(f).trim() !== '')
      .map((f) => ({ id: f.file, text: fixtureText(f) }));
  }
  const seen = new Set<string>();
  const articles: Article[] = [];
  for (const [n, line] of (await readFile(corpus, 'utf8')).split('\n').entries()) {
    if (line.trim() === '') continue;
    const row = JSON.parse(line) as { id?: unknown; text?: unknown };
    const text = typeof row.text === 'string' ? row.text.trim() : '';
    // Some corpora repeat an article; a repeat would be a duplicate upload.
    if (text === '' || seen.has(text)) continue;
    seen.add(text);
    articles.push({ id: typeof row.id === 'string' ? row.id : `line ${n + 1}`, text });
  }
  if (articles.length === 0) throw new Error(`no articles with a "text" field in ${corpus}`);
  return articles;
}

/** `count` articles spread evenly over the corpus; when it has too few, repeats are numbered. */
function pickArticles(all: Article[], count: number): Article[] {
  if (count <= all.length) return Array.from({ length: count }, (_, k) => all[Math.floor((k * all.length) / count)]!);
  return Array.from({ length: count }, (_, k) => {
    const a = all[k % all.length]!;
    return k < all.length ? a : { id: `${a.id}#${k}`, text: `${a.text}\n\nCopy ${k + 1}.` };
  });
}

async function loadScans(dir: string | null): Promise<{ name: string; data: Uint8Array }[]> {
  const paths =
    dir === null
      ? (Object.values(FIXTURES) as Fixture[]).filter((f) => f.kind === 'scan' && f.pages <= 2).map((f) => fixturePath(f.file))
      : (await readdir(dir))
          .filter((n) => /\.(jpe?g|png|tiff?|pdf)$/i.test(n))
          .sort()
          .map((n) => join(dir, n));
  if (paths.length === 0) throw new Error(`no scans (jpg, png, tiff, pdf) in ${dir}`);
  return Promise.all(paths.map(async (p) => ({ name: p.split(/[\\/]/).pop()!, data: new Uint8Array(await readFile(p)) })));
}

/**
 * The same scan with a marker only a metadata reader sees: a JPEG comment segment, a PNG
 * text chunk, a PDF comment after the end marker, bytes past a TIFF's last directory
 * (TIFF offsets are absolute, so trailing bytes are never read).
 */
export function makeUnique(data: Uint8Array, ext: string, marker: string): Uint8Array {
  const text = Buffer.from(marker, 'latin1');
  const bytes = Buffer.from(data);
  if (ext === '.jpg' || ext === '.jpeg') {
    const length = Buffer.alloc(2);
    length.writeUInt16BE(text.length + 2);
    return Buffer.concat([bytes.subarray(0, 2), Buffer.from([0xff, 0xfe]), length, text, bytes.subarray(2)]);
  }
  if (ext === '.png') {
    // After the signature (8 bytes) and the IHDR chunk (25 bytes), which must come first.
    const body = Buffer.concat([Buffer.from('tEXt', 'latin1'), Buffer.from('Comment\0', 'latin1'), text]);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length - 4);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([bytes.subarray(0, 33), head, body, crc, bytes.subarray(33)]);
  }
  if (ext === '.pdf') return Buffer.concat([bytes, Buffer.from(`\n%${marker}\n`, 'latin1')]);
  return Buffer.concat([bytes, text]);
}

let crcTable: Uint32Array | undefined;
function crc32(data: Uint8Array): number {
  crcTable ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = 0xffffffff;
  for (const byte of data) crc = crcTable[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Characters the standard fonts' WinAnsi encoding has, as found so far. */
const encodable = new Map<string, boolean>();

/** The text with every character the standard fonts cannot encode replaced by `?`. */
function encodableText(text: string, font: PDFFont): string {
  let out = '';
  for (const ch of text.normalize('NFC')) {
    let ok = encodable.get(ch);
    if (ok === undefined) {
      try {
        font.encodeText(ch);
        ok = true;
      } catch {
        ok = false;
      }
      encodable.set(ch, ok);
    }
    out += ok ? ch : '?';
  }
  return out;
}

const PAGE = { width: 595, height: 842, margin: 56, size: 11, leading: 15 } as const;

/** An A4 PDF with a text layer: each article from a new page, its first line as a bold heading. */
async function textPdf(articles: string[]): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  // Fixed dates: the bytes depend only on the text.
  doc.setCreationDate(new Date('2024-01-01T00:00:00Z'));
  doc.setModificationDate(new Date('2024-01-01T00:00:00Z'));
  const regular = await doc.embedFont(StandardFonts.Helvetica);
  const bold = await doc.embedFont(StandardFonts.HelveticaBold);
  const maxWidth = PAGE.width - 2 * PAGE.margin;
  for (const article of articles) {
    let page = doc.addPage([PAGE.width, PAGE.height]);
    let y = PAGE.height - PAGE.margin;
    const [heading = '', ...rest] = encodableText(article, regular).split('\n');
    const paragraphs: { text: string; font: PDFFont }[] = [
      { text: heading, font: bold },
      ...rest.filter((p) => p.trim() !== '').map((text) => ({ text, font: regular })),
    ];
    for (const paragraph of paragraphs) {
      for (const line of wrap(paragraph.text, paragraph.font, maxWidth)) {
        if (y < PAGE.margin) {
          page = doc.addPage([PAGE.width, PAGE.height]);
          y = PAGE.height - PAGE.margin;
        }
        page.drawText(line, { x: PAGE.margin, y, size: PAGE.size, font: paragraph.font });
        y -= PAGE.leading;
      }
      y -= PAGE.leading / 2;
    }
  }
  return doc.save();
}

function wrap(text: string, font: PDFFont, maxWidth: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const candidate = line === '' ? word : `${line} ${word}`;
    if (line !== '' && font.widthOfTextAtSize(candidate, PAGE.size) > maxWidth) {
      lines.push(line);
      line = word;
    } else {
      line = candidate;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}
