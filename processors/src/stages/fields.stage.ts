/**
 * The fields stage: pulls the key fields of invoices, purchase orders and receipts (number,
 * date, total, currency, counterparty, and for invoices and receipts the purchase order they
 * refer to) out of a document's words, each with its page, the union box of the words it came
 * from and a confidence.
 *
 * It works on the word sequence, not on joined text, so every value maps back to exact word
 * boxes. Words are grouped into lines by geometry; labels ("Invoice No.", "Grand Total") are
 * matched on normalised tokens that tolerate the usual OCR noise (digits read for letters,
 * punctuation glued to words, words split or merged); a value is the first suitable token
 * after its label on the same line, or under the label on the next line.
 *
 * These are heuristics, not a learned extractor. The counterparty in particular falls back
 * to "the most prominent line near the top of the first page" when no From/Vendor/Supplier
 * label exists, which is right for most letterheads and receipts and wrong for documents
 * that open with the customer's address.
 */
import { code as currencyByCode } from 'currency-codes';
import { format as formatDate, isValid, parse as parseDate } from 'date-fns';
import type { Box, FieldValue, Fields, PageResult, Word } from '@quire/kernel';

/** Document types this stage extracts fields for. */
export const FIELD_DOCUMENT_TYPES = ['invoice', 'purchase order', 'receipt'] as const;

/**
 * Extracts key fields for the document types in {@link FIELD_DOCUMENT_TYPES} (compared
 * case-insensitively); any other type gets `{}`. Fields that cannot be found are left out
 * rather than guessed.
 */
export function extractFields(pages: readonly PageResult[], docType: string): Fields {
  // Type names come from the team's label set, which may capitalise them.
  const type = docType.trim().toLowerCase();
  if (!isFieldDocumentType(type)) return {};
  const lines = pages.flatMap((p) => buildLines(p));
  if (lines.length === 0) return {};
  const matches = lines.map((line) => matchLabels(line, type));
  const fields: Fields = {};
  const number = findNumber(lines, matches, 'number');
  if (number) fields.number = number;
  const orderNumber = findNumber(lines, matches, 'order-number');
  if (orderNumber) fields.orderNumber = orderNumber;
  const total = findTotal(lines, matches);
  if (total) fields.total = total.value;
  const currency = findCurrency(lines, total);
  if (currency) fields.currency = currency;
  if (fields.total && currency) fields.total = { ...fields.total, value: formatAmount(total!.amount, currency.value) };
  const date = findDate(lines, matches, currency?.value);
  if (date) fields.date = date;
  const counterparty = findCounterparty(lines, matches, pages);
  if (counterparty) fields.counterparty = counterparty;
  return fields;
}

type FieldDocumentType = (typeof FIELD_DOCUMENT_TYPES)[number];

function isFieldDocumentType(t: string): t is FieldDocumentType {
  return (FIELD_DOCUMENT_TYPES as readonly string[]).includes(t);
}

// ---------------------------------------------------------------------------------------
// Lines and tokens

interface Token {
  /** The piece of the word's text this token holds. */
  readonly raw: string;
  /** Lower-case letters and digits only, with OCR digit-for-letter confusions undone when the piece has letters. */
  readonly norm: string;
  /** Index of the word in the line. */
  readonly word: number;
}

interface Line {
  readonly page: number;
  readonly words: readonly Word[];
  readonly tokens: readonly Token[];
  /** Words joined by single spaces, and where each word starts in it. */
  readonly text: string;
  readonly offsets: readonly number[];
  /** Segment of each word: a new segment starts after a wide horizontal gap (another column). */
  readonly segments: readonly number[];
  readonly box: Box;
  /** Median word height: a stand-in for font size. */
  readonly height: number;
  readonly hasGeometry: boolean;
}

function buildLines(page: PageResult): Line[] {
  const words = page.words.filter((w) => w.text.trim() !== '');
  if (words.length === 0) return [];
  const hasGeometry = words.some((w) => w.box.h > 0 && w.box.w > 0);
  const groups = hasGeometry ? groupByGeometry(words) : groupByText(words, page.text);
  return groups.map((g) => makeLine(page, g, hasGeometry));
}

// Words sorted top to bottom join the line whose vertical extent they overlap by at least
// half their height; OCR words of one printed line rarely share an exact baseline.
function groupByGeometry(words: readonly Word[]): Word[][] {
  const sorted = [...words].sort((a, b) => a.box.y + a.box.h / 2 - (b.box.y + b.box.h / 2));
  const lines: { top: number; bottom: number; words: Word[] }[] = [];
  for (const w of sorted) {
    const top = w.box.y;
    const bottom = w.box.y + w.box.h;
    let best: (typeof lines)[number] | undefined;
    let bestOverlap = 0;
    for (const l of lines.slice(-4)) {
      const overlap = Math.min(bottom, l.bottom) - Math.max(top, l.top);
      const needed = 0.5 * Math.min(w.box.h, l.bottom - l.top);
      if (overlap >= needed && overlap > bestOverlap) {
        best = l;
        bestOverlap = overlap;
      }
    }
    if (best) {
      best.words.push(w);
      best.top = Math.min(best.top, top);
      best.bottom = Math.max(best.bottom, bottom);
    } else lines.push({ top, bottom, words: [w] });
  }
  return lines.sort((a, b) => a.top - b.top).map((l) => l.words.sort((a, b) => a.box.x - b.box.x));
}

// Words without boxes (plain text) keep their order; line breaks come from the page text.
function groupByText(words: readonly Word[], text: string): Word[][] {
  const lines: Word[][] = [[]];
  let cursor = 0;
  for (const w of words) {
    const at = text.indexOf(w.text, cursor);
    if (at >= 0) {
      if (text.slice(cursor, at).includes('\n') && lines.at(-1)!.length > 0) lines.push([]);
      cursor = at + w.text.length;
    }
    lines.at(-1)!.push(w);
  }
  return lines.filter((l) => l.length > 0);
}

function makeLine(page: PageResult, words: readonly Word[], hasGeometry: boolean): Line {
  const offsets: number[] = [];
  let text = '';
  const tokens: Token[] = [];
  words.forEach((w, i) => {
    if (i > 0) text += ' ';
    offsets.push(text.length);
    text += w.text;
    for (const piece of splitWord(w.text)) tokens.push({ raw: piece, norm: normaliseToken(piece), word: i });
  });
  const heights = words.map((w) => w.box.h).sort((a, b) => a - b);
  const height = heights[Math.floor(heights.length / 2)] ?? 0;
  const segments: number[] = [];
  let segment = 0;
  words.forEach((w, i) => {
    const prev = words[i - 1];
    if (prev && hasGeometry && w.box.x - (prev.box.x + prev.box.w) > 3 * Math.max(height, 1)) segment += 1;
    segments.push(segment);
  });
  return {
    page: page.page,
    words,
    tokens,
    text,
    offsets,
    segments,
    box: unionBox(words.map((w) => w.box)),
    height,
    hasGeometry,
  };
}

// "No.:123" → "No.", "123"; "#4711" → "#", "4711"; colons are dropped, "#" is a label word.
function splitWord(text: string): string[] {
  return text.match(/#|[^\s:#]+/g) ?? [];
}

const LETTER_FOR_DIGIT: Record<string, string> = { '0': 'o', '1': 'l', '5': 's', '8': 'b', '6': 'g' };

function normaliseToken(piece: string): string {
  if (piece === '#') return '#';
  const lower = piece.toLowerCase().replace(/[^\p{L}\p{N}]/gu, '');
  // "Tota1", "INV0ICE": a digit inside a word that is mostly letters was meant as a letter.
  const letters = lower.replace(/[^\p{L}]/gu, '').length;
  if (letters >= 2 && letters >= lower.length - 2) return lower.replace(/[01568]/g, (d) => LETTER_FOR_DIGIT[d] ?? d);
  return lower;
}

// ---------------------------------------------------------------------------------------
// Labels

type LabelKind = 'number' | 'order-number' | 'date' | 'date-other' | 'total' | 'not-total' | 'party' | 'not-party';

interface LabelSpec {
  readonly kind: LabelKind;
  /** Normalised tokens, joined without spaces when matched so "INVOICENO" and "Invoice No" both match. */
  readonly phrase: string;
  /** How strongly the label points at the field (0..1). */
  readonly weight: number;
  /** Whether a reading one edit away still counts: only for phrases of several words. */
  readonly fuzzy: boolean;
  readonly types?: readonly FieldDocumentType[];
}

function spec(kind: LabelKind, weight: number, phrases: readonly string[], types?: readonly FieldDocumentType[]): LabelSpec[] {
  return phrases.map((p) => {
    const phrase = p.replace(/\s+/g, '');
    return { kind, weight, phrase, fuzzy: p.includes(' ') && phrase.length >= 7, ...(types ? { types } : {}) };
  });
}

const LABELS: readonly LabelSpec[] = [
  ...spec(
    'number',
    1,
    [
      'invoice no',
      'invoice number',
      'invoice #',
      'invoice nr',
      'inv no',
      'inv #',
      'invoice id',
      'bill no',
      'bill #',
      'document no',
      'doc no',
    ],
    ['invoice', 'receipt'],
  ),
  ...spec(
    'number',
    1,
    ['po number', 'po no', 'po #', 'purchase order no', 'purchase order number', 'purchase order #', 'order no', 'order number', 'order #'],
    ['purchase order'],
  ),
  ...spec(
    'number',
    1,
    [
      'receipt no',
      'receipt number',
      'receipt #',
      'transaction no',
      'trans no',
      'cash bill no',
      'check #',
      'invoice no',
      'ref no',
      'order no',
      'order #',
    ],
    ['receipt'],
  ),
  // The labels a purchase order prints its own number under name, on an invoice or receipt,
  // the buyer's order it refers to: a field of its own, so they never compete with the
  // document's number. Receipts leave out plain "order no": there it is the till's ticket
  // number, which is the receipt's number.
  ...spec(
    'order-number',
    1,
    [
      'po number',
      'po no',
      'po #',
      'purchase order no',
      'purchase order number',
      'purchase order #',
      'purchase order',
      'customer po',
      'order no',
      'order number',
      'order #',
      'your order',
      'order ref',
    ],
    ['invoice'],
  ),
  ...spec(
    'order-number',
    1,
    ['po number', 'po no', 'po #', 'purchase order no', 'purchase order number', 'purchase order #', 'purchase order', 'customer po'],
    ['receipt'],
  ),
  ...spec('number', 0.6, ['invoice', 'tax invoice'], ['invoice']),
  ...spec('number', 0.6, ['purchase order', 'po', 'order'], ['purchase order']),
  ...spec('number', 0.6, ['receipt'], ['receipt']),
  ...spec('date', 1, [
    'date',
    'invoice date',
    'date of issue',
    'issue date',
    'issued',
    'order date',
    'po date',
    'receipt date',
    'transaction date',
    'bill date',
    'date issued',
    'tarikh',
  ]),
  ...spec('date-other', 1, [
    'due date',
    'payment due',
    'due',
    'delivery date',
    'requested delivery',
    'ship date',
    'delivery',
    'period',
    'expiry date',
    'valid until',
    'date of birth',
  ]),
  ...spec('total', 1, [
    'grand total',
    'amount due',
    'balance due',
    'total due',
    'amount payable',
    'total payable',
    'total to pay',
    'rounded total',
    'round total',
    'total rounded',
    'nett total',
    'net total',
    'invoice total',
    'order total',
    'total amount due',
  ]),
  // Totals "including tax" come before rounding on many receipts, so they rank with a plain
  // "Total" and the last one printed wins.
  ...spec('total', 0.8, [
    'total',
    'total amount',
    'total incl',
    'total inclusive',
    'total including',
    'total sales inclusive',
    'total sales incl',
  ]),
  ...spec('total', 0.8, ['total gst incl', 'total gst inclusive', 'total tax incl', 'total vat incl']),
  ...spec('total', 0.7, ['due']),
  ...spec('not-total', 1, [
    'subtotal',
    'sub total',
    'total excl',
    'total excluding',
    'total exclusive',
    'total tax',
    'total gst',
    'total vat',
    'total qty',
    'total quantity',
    'total items',
    'total item',
    'total discount',
    'total savings',
    'total saving',
    'total before',
    'tax amount',
    'gst amount',
    'vat amount',
    'discount amount',
    'total sales excluding',
    'total sales exclusive',
    'amount paid',
    'amount tendered',
    'paid amount',
    'cash',
    'change',
    'tendered',
    'rounding',
    'rounding adjustment',
    'total included',
    'included in total',
    'total include',
    'change due',
  ]),
  ...spec(
    'party',
    1,
    ['from', 'bill from', 'vendor', 'supplier', 'seller', 'sold by', 'issued by', 'payee', 'remit to', 'merchant'],
    ['invoice', 'receipt'],
  ),
  ...spec('party', 1, ['vendor', 'supplier', 'seller', 'to', 'supplier name', 'vendor name'], ['purchase order']),
  ...spec('not-party', 1, ['bill to', 'billed to', 'ship to', 'sold to', 'deliver to', 'customer', 'invoice to', 'buyer']),
];

interface LabelMatch {
  readonly spec: LabelSpec;
  /** False when matched within one edit ("Tolal"), which loses to an exact match of the same span. */
  readonly exact: boolean;
  /** Token range [start, end). */
  readonly start: number;
  readonly end: number;
}

// Every label is tried at every token over up to four tokens; overlapping matches keep the
// longest, so "Sub Total" is not read as "Total" and "Due Date" not as "Date".
function matchLabels(line: Line, docType: FieldDocumentType): LabelMatch[] {
  const candidates: LabelMatch[] = [];
  const usable = LABELS.filter((l) => !l.types || l.types.includes(docType));
  for (let i = 0; i < line.tokens.length; i++) {
    let joined = '';
    for (let j = i; j < Math.min(line.tokens.length, i + 4); j++) {
      joined += line.tokens[j]!.norm;
      if (joined === '') break;
      for (const s of usable) {
        const exact = s.phrase === joined;
        // Only long phrases of several words may be one edit off ("ROUR DING TOTAL"); single
        // words would match ordinary ones ("Supplies" for "Supplier"). The edit must be a
        // misread, not a neighbouring one-character word: in "Invoice # Your Order" the "#"
        // belongs to the invoice label.
        const fuzzy = s.fuzzy && withinOneEdit(s.phrase, joined) && !strayEdge(s.phrase, line.tokens[i]!.norm, line.tokens[j]!.norm);
        if (exact || fuzzy) candidates.push({ spec: s, exact, start: i, end: j + 1 });
      }
    }
  }
  candidates.sort((a, b) => b.end - b.start - (a.end - a.start) || Number(b.exact) - Number(a.exact) || b.spec.weight - a.spec.weight);
  const taken: LabelMatch[] = [];
  for (const c of candidates) {
    // Two exact readings of the same words both stand: "Due" is a due date or an amount due.
    const clash = (t: LabelMatch) =>
      c.start < t.end && t.start < c.end && !(c.exact && t.exact && c.start === t.start && c.end === t.end && c.spec.kind !== t.spec.kind);
    if (taken.some(clash)) continue;
    taken.push(c);
  }
  return taken.sort((a, b) => a.start - b.start);
}

/** Whether a match's first or last token is a lone character the phrase does not start or end with. */
function strayEdge(phrase: string, first: string, last: string): boolean {
  return (first.length === 1 && !phrase.startsWith(first)) || (last.length === 1 && !phrase.endsWith(last));
}

function withinOneEdit(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1) return false;
  let i = 0;
  let j = 0;
  let edits = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      i++;
      j++;
      continue;
    }
    if (++edits > 1) return false;
    if (a.length > b.length) i++;
    else if (b.length > a.length) j++;
    else {
      i++;
      j++;
    }
  }
  return edits + (a.length - i) + (b.length - j) <= 1;
}

// ---------------------------------------------------------------------------------------
// Values after labels

interface Span {
  readonly line: Line;
  /** Word range [start, end) within the line. */
  readonly start: number;
  readonly end: number;
}

/** Tokens after a label on its line, up to the next label, then the words under it on the next line. */
function* valueTokensAfter(
  lines: readonly Line[],
  index: number,
  labels: readonly LabelMatch[],
  m: LabelMatch,
): Generator<{ line: Line; token: number }> {
  const line = lines[index]!;
  const next = labels.find((l) => l.start >= m.end);
  for (let t = m.end; t < (next?.start ?? line.tokens.length); t++) yield { line, token: t };
  const below = lines[index + 1];
  if (!below || below.page !== line.page || !line.hasGeometry || !opensSegment(line, m)) return;
  const first = line.words[line.tokens[m.start]!.word]!;
  const gap = below.box.y - (line.box.y + line.box.h);
  if (gap > 2 * Math.max(line.height, below.height)) return;
  for (let t = 0; t < below.tokens.length; t++) {
    const w = below.words[below.tokens[t]!.word]!;
    // Under the label: starts no further left than a little before the label.
    if (w.box.x + w.box.w >= first.box.x - line.height) yield { line: below, token: t };
  }
}

/** Whether a label is the first thing in its line or column: a caption, not words in a sentence. */
function opensSegment(line: Line, m: LabelMatch): boolean {
  const w = line.tokens[m.start]!.word;
  return line.tokens.findIndex((t) => t.word === w) === m.start && (w === 0 || line.segments[w] !== line.segments[w - 1]);
}

function fieldValue(value: string, span: Span, confidence: number): FieldValue {
  const words = span.line.words.slice(span.start, span.end);
  const ocr = words.reduce((s, w) => s + w.confidence, 0) / Math.max(words.length, 1);
  // OCR confidence scales the heuristic's own confidence, but only by half: a clean read of
  // the wrong field is still wrong, and a noisy read of the right field is usually right.
  const c = confidence * (0.5 + 0.5 * Math.min(Math.max(ocr / 100, 0), 1));
  return {
    value,
    page: span.line.page,
    box: span.line.hasGeometry ? unionBox(words.map((w) => w.box)) : null,
    confidence: round(c),
  };
}

// ---------------------------------------------------------------------------------------
// Number

const DATE_LIKE = /^\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}$/;

/** The id-like token after the strongest label of `kind`: the document's own number, or the order it refers to. */
function findNumber(lines: readonly Line[], matches: readonly LabelMatch[][], kind: 'number' | 'order-number'): FieldValue | undefined {
  let best: { value: FieldValue; score: number } | undefined;
  lines.forEach((line, i) => {
    for (const m of matches[i]!) {
      if (m.spec.kind !== kind) continue;
      for (const { line: l, token } of valueTokensAfter(lines, i, matches[i]!, m)) {
        const raw = l.tokens[token]!.raw.replace(/^[.:#-]+|[.:,;]+$/g, '');
        if (raw === '' || /^(no|nr|number|num)\.?$/i.test(raw)) continue;
        if (!/\d/.test(raw) || DATE_LIKE.test(raw) || parseAmount(raw)?.decimals) break;
        const word = l.tokens[token]!.word;
        // Later pages repeat headers; the first labelled number wins ties.
        const score = m.spec.weight * (l === line ? 1 : 0.8);
        if (!best || score > best.score) best = { value: fieldValue(raw, { line: l, start: word, end: word + 1 }, score * 0.9), score };
        break;
      }
    }
  });
  return best?.value;
}

// ---------------------------------------------------------------------------------------
// Amounts, total and currency

/** A parsed amount. */
export interface Amount {
  readonly value: number;
  /** Digits after the decimal separator as printed (0 when none). */
  readonly decimals: number;
}

/**
 * Parses a printed amount: "1,234.50", "1.234,50", "1 234,50", "RM9.00", "£435.60", "9.00-".
 * A separator followed by exactly three digits is a thousands separator; one or two digits
 * after the last separator are decimals.
 */
export function parseAmount(printed: string): Amount | undefined {
  let s = printed.trim().replace(/^[([]|[)\]:;*]+$/g, '');
  s = s.replace(CURRENCY_AFFIX_START, '').replace(CURRENCY_AFFIX_END, '');
  if (/\d/.test(s) && /^[\dOoIl.,' -]+$/.test(s)) s = s.replace(/[Oo]/g, '0').replace(/[Il]/g, '1');
  const negative = /^-|-$/.test(s);
  s = s.replace(/^-|-$/g, '');
  if (!/^\d[\d.,' ]*$/.test(s) || /[.,' ]{2}/.test(s) || /[.,' ]$/.test(s)) return undefined;
  const last = Math.max(s.lastIndexOf('.'), s.lastIndexOf(','));
  let intPart = s;
  let frac = '';
  if (last >= 0 && s.length - last - 1 <= 2) {
    intPart = s.slice(0, last);
    frac = s.slice(last + 1);
  }
  const groups = intPart.split(/[.,' ]/);
  if (groups.length > 1 && groups.slice(1).some((g) => g.length !== 3)) return undefined;
  const value = Number(`${groups.join('')}.${frac || '0'}`);
  if (!Number.isFinite(value)) return undefined;
  return { value: negative ? -value : value, decimals: frac.length };
}

/** Formats an amount with the currency's minor-unit digits (two when the currency is unknown). */
export function formatAmount(value: number, currency?: string): string {
  const digits = currency ? (currencyByCode(currency)?.digits ?? 2) : 2;
  return value.toFixed(digits);
}

// Symbols that name one currency in practice. "$" alone is USD: the default a reader would
// assume, and the one the prefixed forms (A$, C$, S$…) are there to override.
const SYMBOLS: readonly (readonly [string, string])[] = [
  ['US$', 'USD'],
  ['A$', 'AUD'],
  ['AU$', 'AUD'],
  ['C$', 'CAD'],
  ['CA$', 'CAD'],
  ['NZ$', 'NZD'],
  ['S$', 'SGD'],
  ['HK$', 'HKD'],
  ['R$', 'BRL'],
  ['$', 'USD'],
  ['€', 'EUR'],
  ['£', 'GBP'],
  ['¥', 'JPY'],
  ['₹', 'INR'],
  ['₩', 'KRW'],
  ['₺', 'TRY'],
  ['₽', 'RUB'],
  ['₪', 'ILS'],
  ['₱', 'PHP'],
  ['฿', 'THB'],
  ['RM', 'MYR'],
  ['Rp', 'IDR'],
  ['zł', 'PLN'],
  ['Fr.', 'CHF'],
  ['CHF', 'CHF'],
];
const SYMBOL_PATTERN = SYMBOLS.map(([s]) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
const CURRENCY_AFFIX_START = new RegExp(`^(?:${SYMBOL_PATTERN}|[A-Z]{3}(?=[\\d\\s]))\\s*`);
const CURRENCY_AFFIX_END = new RegExp(`\\s*(?:${SYMBOL_PATTERN}|[A-Z]{3})$`);

/** The ISO 4217 code a token names, from a symbol ("€", "RM") or a code ("EUR", "(USD)"); undefined otherwise. */
export function currencyOf(token: string): string | undefined {
  const t = token.replace(/^[-([]+|[)\]:.,]+$/g, '');
  for (const [symbol, iso] of SYMBOLS) {
    if (t === symbol) return iso;
    // Letter symbols ("RM", "Fr.") only when glued to a number, so "FORM" is not ringgit.
    const letters = /\p{L}/u.test(symbol);
    if (t.startsWith(symbol) && (!letters || /^[\d\s.,-]/.test(t.slice(symbol.length)))) return iso;
    if (t.endsWith(symbol) && (!letters || /\d\s*$/.test(t.slice(0, -symbol.length)))) return iso;
  }
  const m = /^([A-Z]{3})(?=$|[\d\s.,-])|(?<=[\d\s.,])([A-Z]{3})$/.exec(t);
  const candidate = m?.[1] ?? m?.[2];
  return candidate && currencyByCode(candidate) ? candidate : undefined;
}

interface TotalCandidate {
  readonly value: FieldValue;
  readonly amount: number;
  readonly span: Span;
  readonly labelSpan: Span;
  readonly tier: number;
  readonly order: number;
}

function findTotal(lines: readonly Line[], matches: readonly LabelMatch[][]): TotalCandidate | undefined {
  const found: TotalCandidate[] = [];
  lines.forEach((line, i) => {
    for (const m of matches[i]!) {
      if (m.spec.kind !== 'total') continue;
      // Between label and amount sit currency markers, leader dots and qualifiers ("INCL.
      // GST@6%", "(RM)"); a few are skipped. A whole number is kept only when no amount with
      // decimals follows on the line: after "Total" it is more often a count.
      let integer: { amount: Amount; span: Span } | undefined;
      let chosen: { amount: Amount; span: Span } | undefined;
      let skipped = 0;
      for (const { line: l, token } of valueTokensAfter(lines, i, matches[i]!, m)) {
        if (integer && l !== integer.span.line) break;
        const amount = parseAmount(l.tokens[token]!.raw);
        if (!amount) {
          if (++skipped > 4) break;
          continue;
        }
        const word = l.tokens[token]!.word;
        const candidate = { amount, span: { line: l, start: word, end: word + 1 } };
        if (amount.decimals > 0) {
          chosen = candidate;
          break;
        }
        integer ??= candidate;
      }
      chosen ??= integer;
      if (!chosen) continue;
      const { amount, span } = chosen;
      // A total followed by several amounts is a row of a tax summary table (amount, tax),
      // printed after the total due and not the total due itself.
      const row = matches[i]!.find((x) => x.start >= m.end)?.start ?? line.tokens.length;
      const amounts = line.tokens.slice(m.end, row).filter((t) => (parseAmount(t.raw)?.decimals ?? 0) > 0).length;
      const tableRow = amounts >= 2 ? 0.4 : 0;
      const confidence = m.spec.weight * (amount.decimals > 0 ? 0.95 : 0.6) * (span.line === line ? 1 : 0.85) * (tableRow ? 0.7 : 1);
      found.push({
        value: fieldValue(formatAmount(amount.value), span, confidence),
        amount: amount.value,
        span,
        labelSpan: { line, start: line.tokens[m.start]!.word, end: line.tokens[m.end - 1]!.word + 1 },
        tier: m.spec.weight + (amount.decimals > 0 ? 0.5 : 0) - tableRow,
        order: found.length,
      });
    }
  });
  // Strongest label first, then the last one printed: subtotals, totals before tax and
  // totals before rounding all come before the amount actually due.
  found.sort((a, b) => b.tier - a.tier || b.order - a.order);
  return found[0];
}

function findCurrency(lines: readonly Line[], total: TotalCandidate | undefined): FieldValue | undefined {
  if (total) {
    // Near the total: its own word, the words between label and amount, the label, and the word after.
    const { line } = total.span;
    const near: Span[] = [
      total.span,
      { line, start: total.span.end, end: total.span.end + 1 },
      { line, start: total.span.start - 1, end: total.span.start },
      ...(total.labelSpan.line === line ? [{ line, start: total.labelSpan.start, end: total.span.start }] : []),
      total.labelSpan,
    ];
    for (const span of near) {
      for (let w = Math.max(span.start, 0); w < Math.min(span.end, span.line.words.length); w++) {
        const iso = currencyOf(span.line.words[w]!.text);
        if (iso) return fieldValue(iso, { line: span.line, start: w, end: w + 1 }, 0.9);
      }
    }
  }
  // Otherwise the marker most often printed next to amounts anywhere in the document.
  const counts = new Map<string, { n: number; span: Span }>();
  for (const line of lines) {
    line.words.forEach((w, i) => {
      const iso = currencyOf(w.text);
      if (!iso) return;
      // Beside an amount with decimals: "SDN BHD (139386 X)" must not read as Bahraini dinars.
      const beside = [w.text, line.words[i + 1]?.text, line.words[i - 1]?.text];
      if (!beside.some((t) => t !== undefined && (parseAmount(t)?.decimals ?? 0) > 0)) return;
      const c = counts.get(iso);
      if (c) c.n += 1;
      else counts.set(iso, { n: 1, span: { line, start: i, end: i + 1 } });
    });
  }
  const top = [...counts.entries()].sort((a, b) => b[1].n - a[1].n)[0];
  return top ? fieldValue(top[0], top[1].span, 0.6) : undefined;
}

// ---------------------------------------------------------------------------------------
// Dates

const MONTH = '(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\\.?';
const DATE_PATTERNS: readonly RegExp[] = [
  // Not inside codes such as "RC11-23-42" or "EZ08-6/12".
  /(?<![\p{L}\d./-])(\d{4})([/.-])(\d{1,2})\2(\d{1,2})(?![\p{L}\d./-])/gu,
  /(?<![\p{L}\d./-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![\p{L}\d./-])/gu,
  new RegExp(`(?<![\\p{L}\\d])\\d{1,2}(?:st|nd|rd|th)?[\\s./-]*${MONTH}[\\s.,/-]*\\d{4}(?!\\d)`, 'giu'),
  new RegExp(`(?<![\\p{L}\\d])\\d{1,2}[\\s./-]*${MONTH}[\\s./-]*\\d{2}(?!\\d)`, 'giu'),
  new RegExp(`(?<![\\p{L}\\d])${MONTH}[\\s./-]*\\d{1,2}(?:st|nd|rd|th)?,?[\\s./-]*\\d{4}(?!\\d)`, 'giu'),
];
const NAMED_FORMATS = ['d MMMM yyyy', 'd MMM yyyy', 'MMMM d yyyy', 'MMM d yyyy', 'd MMM yy', 'd MMMM yy'];
// date-fns reads a two-digit year as the one nearest its reference date: 1950–2049.
const REFERENCE_DATE = new Date(2000, 0, 1);

interface DateCandidate {
  readonly iso: string;
  readonly span: Span;
  /** 1 when the day/month order was certain. */
  readonly certainty: number;
}

/** Dates in a line, as ISO strings with their word spans. `monthFirst` settles 03/04/2024. */
function datesInLine(line: Line, monthFirst: boolean | undefined): DateCandidate[] {
  const out: DateCandidate[] = [];
  const taken: [number, number][] = [];
  for (const pattern of DATE_PATTERNS) {
    for (const m of line.text.matchAll(pattern)) {
      const start = m.index;
      const end = start + m[0].length;
      if (taken.some(([a, b]) => start < b && a < end)) continue;
      const parsed = parseDateText(m, monthFirst);
      if (!parsed) continue;
      taken.push([start, end]);
      const first = wordAt(line, start);
      const last = wordAt(line, end - 1);
      out.push({ iso: parsed.iso, span: { line, start: first, end: last + 1 }, certainty: parsed.certainty });
    }
  }
  return out;
}

function parseDateText(m: RegExpMatchArray, monthFirst: boolean | undefined): { iso: string; certainty: number } | undefined {
  let date: Date | undefined;
  let certainty = 1;
  if (m[2] !== undefined && /^\d{4}$/.test(m[1] ?? '')) {
    date = parseDate(`${m[1]}-${m[3]}-${m[4]}`, 'yyyy-M-d', REFERENCE_DATE);
  } else if (m[2] !== undefined) {
    const a = Number(m[1]);
    const b = Number(m[3]);
    const year = m[4]!.length === 2 ? 'yy' : 'yyyy';
    const dayFirst = a > 12 ? true : b > 12 ? false : monthFirst === undefined ? true : !monthFirst;
    if (a <= 12 && b <= 12 && a !== b) certainty = 0.7;
    const fmt = dayFirst ? `d/M/${year}` : `M/d/${year}`;
    date = parseDate(`${m[1]}/${m[3]}/${m[4]}`, fmt, REFERENCE_DATE);
  } else {
    const text = m[0]
      .toLowerCase()
      .replace(/(\d)(st|nd|rd|th)/g, '$1')
      .replace(/[.,/-]/g, ' ')
      .replace(/\bsept\b/g, 'sep')
      .replace(/([a-z])(\d)|(\d)([a-z])/g, '$1$3 $2$4')
      .replace(/\s+/g, ' ')
      .trim();
    for (const f of NAMED_FORMATS) {
      const d = parseDate(text, f, REFERENCE_DATE);
      if (isValid(d)) {
        date = d;
        break;
      }
    }
  }
  if (!date || !isValid(date)) return undefined;
  const year = date.getFullYear();
  if (year < 1970 || year > 2100) return undefined;
  return { iso: formatDate(date, 'yyyy-MM-dd'), certainty };
}

function wordAt(line: Line, charIndex: number): number {
  let w = 0;
  while (w + 1 < line.offsets.length && line.offsets[w + 1]! <= charIndex) w++;
  return w;
}

function findDate(lines: readonly Line[], matches: readonly LabelMatch[][], currency: string | undefined): FieldValue | undefined {
  // Day/month order: settled by any unambiguous date in the document, else by the currency
  // (US documents put the month first), else day first as most of the world does.
  let monthFirst: boolean | undefined;
  for (const line of lines) {
    for (const m of line.text.matchAll(DATE_PATTERNS[1]!)) {
      if (Number(m[1]) > 12 && Number(m[3]) <= 12) monthFirst ??= false;
      if (Number(m[3]) > 12 && Number(m[1]) <= 12) monthFirst ??= true;
    }
  }
  monthFirst ??= currency === 'USD';

  // A date labelled as the document's date beats an unlabelled one, which beats a due or
  // delivery date; among equals the first printed wins.
  let best: { value: FieldValue; score: number } | undefined;
  lines.forEach((line, i) => {
    for (const d of datesInLine(line, monthFirst)) {
      const label = dateLabelFor(lines, matches, i, d.span);
      const score = (label === 'date' ? 1 : label === 'date-other' ? 0.25 : 0.55) * d.certainty;
      if (!best || score > best.score) best = { value: fieldValue(d.iso, d.span, score * 0.95), score };
    }
  });
  return best?.value;
}

// The nearest date label before the date on its line, or on the line just above it.
function dateLabelFor(lines: readonly Line[], matches: readonly LabelMatch[][], index: number, span: Span): LabelKind | undefined {
  const line = lines[index]!;
  const before = matches[index]!.filter((m) => line.tokens[m.end - 1]!.word < span.start && isDateKind(m.spec.kind));
  const nearest = before.at(-1);
  if (nearest) return nearest.spec.kind;
  // A non-date label right before the date ("Due: …" is date-other; "Total 12/03") breaks the link.
  const above = lines[index - 1];
  if (!above || above.page !== line.page) return undefined;
  const word = line.words[span.start]!;
  const candidates = matches[index - 1]!.filter((m) => isDateKind(m.spec.kind));
  for (const m of candidates) {
    const lw = above.words[above.tokens[m.start]!.word]!;
    if (Math.abs(lw.box.x - word.box.x) < 3 * Math.max(above.height, 1)) return m.spec.kind;
  }
  return undefined;
}

function isDateKind(kind: LabelKind): boolean {
  return kind === 'date' || kind === 'date-other';
}

// ---------------------------------------------------------------------------------------
// Counterparty

// Legal forms end a company name; what follows is a registration number or an address.
const LEGAL_FORM =
  /(?:^|\s)(?:sdn\.?\s*b\w{2}\.?|bhd\.?|s\/b|ltd\.?|limited|llc|inc\.?|corp\.?|corporation|co\.|gmbh|ag|plc|pty\.?\s*ltd\.?|s\.a\.?|s\.r\.l\.?|b\.v\.?)(?=$|[\s,(])/gi;
const BUSINESS_WORD =
  /\b(enterprises?|trading|stores?|restaurant|restoran|cafe|caf[eé]|mart|supermarket|hardware|bookstores?|bakery|bakeries|pharmacy|station|studio|consulting|supplies|services)\b/i;
const HEADING =
  /^(tax\s+)?(invoice|receipt|purchase\s+order|order|bill|cash\s+bill|official\s+receipt|sales\s+receipt|statement|quotation|delivery\s+order|simplified\s+tax\s+invoice)$/i;
const ADDRESS =
  /\b(no\.?\s*\d|lot\s*\d|lot|jalan|jln|taman|tmn|floor|flr|level|road|street|avenue|suite|unit\s*\d|blok|block|p\.?o\.?\s*box)\b|\b\d{5}\b/i;
const CONTACT = /@|www\.|https?:|\b(tel|fax|phone|gst|sst|vat|reg|company\s+no|co\.?\s*no|business\s+no)\b/i;

function findCounterparty(lines: readonly Line[], matches: readonly LabelMatch[][], pages: readonly PageResult[]): FieldValue | undefined {
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    // A party label opens its line or its column ("Vendor:" in the right-hand block).
    const m = matches[i]!.find((x) => x.spec.kind === 'party' && opensSegment(line, x));
    if (!m) continue;
    const labelEnd = line.tokens[m.end - 1]!.word;
    // The value may share the label's word ("From:Acme"): keep the tokens after the label.
    const rest = line.tokens
      .slice(m.end)
      .filter((t) => t.word === labelEnd)
      .map((t) => t.raw);
    const parts: PartyWord[] = rest.length > 0 ? [{ word: labelEnd, text: rest.join(' ') }] : [];
    const segment = line.segments[labelEnd];
    for (let w = labelEnd + 1; w < line.words.length && line.segments[w] === segment; w++)
      parts.push({ word: w, text: line.words[w]!.text });
    let target = line;
    if (parts.length === 0) {
      const below = lines[i + 1];
      if (!below || below.page !== line.page) continue;
      target = below;
      for (let w = 0; w < below.words.length && below.segments[w] === below.segments[0]; w++)
        parts.push({ word: w, text: below.words[w]!.text });
    }
    const value = cleanParty(target, parts);
    if (value) return fieldValue(value.text, value.span, 0.8);
  }

  // Fallback: the most prominent line near the top of the first page, favouring lines that
  // read like a business name and skipping headings, addresses and contact lines.
  const firstPage = pages[0]?.page;
  let best: { line: Line; score: number } | undefined;
  lines.slice(0, 12).forEach((line, rank) => {
    if (line.page !== firstPage) return;
    const text = line.text.trim();
    // Only what would become the name counts: the part before a comma (an address may
    // follow), without bracketed registration numbers and branch names ("(TAMAN DAYA)").
    const bare = (text.split(',')[0] ?? '').replace(/\([^)]*\)?/g, ' ');
    const letters = bare.replace(/[^\p{L}]/gu, '').length;
    if (letters < 3 || letters < bare.replace(/\s/g, '').length * 0.5) return;
    if (HEADING.test(bare.replace(/[^\p{L}\s]/gu, '').trim()) || ADDRESS.test(bare) || CONTACT.test(text)) return;
    if (matches[rank]!.length > 0) return;
    const named = new RegExp(LEGAL_FORM.source, 'i').test(text) ? 1.6 : BUSINESS_WORD.test(text) ? 1.3 : 1;
    const score = (line.hasGeometry ? line.height : 1) * named * 0.9 ** rank;
    if (!best || score > best.score) best = { line, score };
  });
  if (!best) return undefined;
  const line: Line = best.line;
  const value = cleanParty(
    line,
    line.words.map((w, i) => ({ word: i, text: w.text })),
  );
  if (!value) return undefined;
  return fieldValue(value.text, value.span, new RegExp(LEGAL_FORM.source, 'i').test(value.text) ? 0.6 : 0.4);
}

interface PartyWord {
  readonly word: number;
  readonly text: string;
}

// A name ends at the first comma (an address follows) or after its legal form (a
// registration number follows), and loses trailing numbers and bracketed codes.
function cleanParty(line: Line, parts: readonly PartyWord[]): { text: string; span: Span } | undefined {
  const kept: PartyWord[] = [];
  for (const p of parts) {
    const comma = p.text.indexOf(',');
    if (comma >= 0) {
      if (comma > 0) kept.push({ word: p.word, text: p.text.slice(0, comma) });
      break;
    }
    kept.push(p);
  }
  let text = kept.map((p) => p.text).join(' ');
  let lastForm = -1;
  for (const m of text.matchAll(LEGAL_FORM)) lastForm = m.index + m[0].length;
  if (lastForm > 0) text = text.slice(0, lastForm);
  text = text
    .replace(/(\s+(\([^)]*\d[^)]*\)|\S*\d\S*))+$/, '')
    .replace(/^[\s:;\-–]+|[\s:;,\-–]+$/g, '')
    .replace(/\s+/g, ' ');
  if (text.replace(/[^\p{L}]/gu, '').length < 2) return undefined;
  // The box covers the words the name was taken from.
  let length = 0;
  let count = 0;
  while (count < kept.length && length < text.length) {
    length += kept[count]!.text.length + 1;
    count += 1;
  }
  const first = kept[0]!.word;
  const last = kept[Math.max(count - 1, 0)]!.word;
  return { text, span: { line, start: first, end: last + 1 } };
}

// ---------------------------------------------------------------------------------------

/** The smallest box holding all `boxes`. */
export function unionBox(boxes: readonly Box[]): Box {
  if (boxes.length === 0) return { x: 0, y: 0, w: 0, h: 0 };
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const b of boxes) {
    x0 = Math.min(x0, b.x);
    y0 = Math.min(y0, b.y);
    x1 = Math.max(x1, b.x + b.w);
    y1 = Math.max(y1, b.y + b.h);
  }
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
