/**
 * How close recognised text is to a reference transcript: character and word error rates
 * and a bag-of-words precision, recall and F1, per page and summed over a corpus.
 *
 * Both texts are first normalised by {@link normalizeWhitespace}: OCR lays text out in lines
 * and paragraphs that a transcript need not share, so layout whitespace is never an error.
 *
 * - CER and WER are case-sensitive by default (their usual definition); `ignoreCase` folds
 *   both texts to lower case first.
 * - The bag of words is case-insensitive by default: the SROIE transcripts are upper-case
 *   where the print is, and its dataset README states its native Tesseract baseline that way.
 *   Words are whitespace-separated tokens with their punctuation kept.
 *
 * Edge cases, chosen so that a page and a corpus use one formula:
 * - a rate is `errors / max(1, reference length)`; two empty texts score 0, and an empty
 *   reference against a non-empty hypothesis scores the number of inserted units (so it can
 *   exceed 1, as CER and WER can anyway);
 * - precision with no hypothesis words, and recall with no reference words, are 1 when the
 *   other side is empty too and 0 otherwise; F1 is 0 when precision and recall both are.
 */
import { distance } from 'fastest-levenshtein';

/** Options of the error rates and the bag of words. */
export interface TextCompareOptions {
  /** Compare in lower case. Default: false for CER and WER, true for the bag of words. */
  ignoreCase?: boolean;
}

/** An error count against a reference, kept whole so a corpus can sum it (micro average). */
export interface ErrorRate {
  /** Edits (substitutions, insertions, deletions) turning the reference into the hypothesis. */
  errors: number;
  /** Units in the normalised reference: characters for CER, words for WER. */
  referenceLength: number;
  /** `errors / max(1, referenceLength)`. */
  rate: number;
}

/** Words the hypothesis shares with the reference, each word counted as often as both hold it. */
export interface BagOfWordsScore {
  matched: number;
  referenceWords: number;
  hypothesisWords: number;
  precision: number;
  recall: number;
  f1: number;
}

/** The error rates and bag-of-words scores of a text, as plain numbers. */
export interface TextScores {
  cer: number;
  wer: number;
  cerIgnoreCase: number;
  werIgnoreCase: number;
  precision: number;
  recall: number;
  f1: number;
}

/** Everything measured on one page. */
export interface PageScore {
  cer: ErrorRate;
  wer: ErrorRate;
  /** CER and WER with case folded, for datasets whose transcripts do not keep the print's case. */
  cerIgnoreCase: ErrorRate;
  werIgnoreCase: ErrorRate;
  /** Case-insensitive. */
  bagOfWords: BagOfWordsScore;
}

/** A corpus: every measure summed over pages (micro), and the mean of the pages' values. */
export interface CorpusScore {
  pages: number;
  /** Total edits / total reference length, and the sums behind it. */
  cer: ErrorRate;
  wer: ErrorRate;
  cerIgnoreCase: ErrorRate;
  werIgnoreCase: ErrorRate;
  /** From the summed counts of matched, reference and hypothesis words. */
  bagOfWords: BagOfWordsScore;
  /** Unweighted means of the per-page rates and scores; NaN for an empty corpus. */
  mean: TextScores;
}

/** Collapses every run of whitespace (newlines included) to one space and trims the ends. */
export function normalizeWhitespace(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Character error rate over Unicode code points of the normalised texts. */
export function characterErrorRate(reference: string, hypothesis: string, options: TextCompareOptions = {}): ErrorRate {
  const ref = Array.from(prepare(reference, options.ignoreCase ?? false));
  const hyp = Array.from(prepare(hypothesis, options.ignoreCase ?? false));
  return errorRate(editDistance(ref, hyp), ref.length);
}

/** Word error rate over the whitespace-separated words of the normalised texts. */
export function wordErrorRate(reference: string, hypothesis: string, options: TextCompareOptions = {}): ErrorRate {
  const ref = words(prepare(reference, options.ignoreCase ?? false));
  const hyp = words(prepare(hypothesis, options.ignoreCase ?? false));
  return errorRate(editDistance(ref, hyp), ref.length);
}

/** Bag-of-words agreement: the multisets of words, in any order. Case-insensitive by default. */
export function bagOfWords(reference: string, hypothesis: string, options: TextCompareOptions = {}): BagOfWordsScore {
  const ignoreCase = options.ignoreCase ?? true;
  const ref = countWords(words(prepare(reference, ignoreCase)));
  const hyp = countWords(words(prepare(hypothesis, ignoreCase)));
  let matched = 0;
  for (const [word, n] of hyp) matched += Math.min(n, ref.get(word) ?? 0);
  return bagScore(matched, sum(ref.values()), sum(hyp.values()));
}

/** Every measure of one page. */
export function scorePage(reference: string, hypothesis: string): PageScore {
  return {
    cer: characterErrorRate(reference, hypothesis),
    wer: wordErrorRate(reference, hypothesis),
    cerIgnoreCase: characterErrorRate(reference, hypothesis, { ignoreCase: true }),
    werIgnoreCase: wordErrorRate(reference, hypothesis, { ignoreCase: true }),
    bagOfWords: bagOfWords(reference, hypothesis),
  };
}

/** Sums page scores into corpus figures (micro) and averages the per-page values (mean). */
export function scoreCorpus(pages: readonly PageScore[]): CorpusScore {
  const total = (pick: (p: PageScore) => ErrorRate): ErrorRate =>
    errorRate(sum(pages.map((p) => pick(p).errors)), sum(pages.map((p) => pick(p).referenceLength)));
  const mean = (pick: (p: PageScore) => number): number => (pages.length === 0 ? Number.NaN : sum(pages.map(pick)) / pages.length);
  return {
    pages: pages.length,
    cer: total((p) => p.cer),
    wer: total((p) => p.wer),
    cerIgnoreCase: total((p) => p.cerIgnoreCase),
    werIgnoreCase: total((p) => p.werIgnoreCase),
    bagOfWords: bagScore(
      sum(pages.map((p) => p.bagOfWords.matched)),
      sum(pages.map((p) => p.bagOfWords.referenceWords)),
      sum(pages.map((p) => p.bagOfWords.hypothesisWords)),
    ),
    mean: {
      cer: mean((p) => p.cer.rate),
      wer: mean((p) => p.wer.rate),
      cerIgnoreCase: mean((p) => p.cerIgnoreCase.rate),
      werIgnoreCase: mean((p) => p.werIgnoreCase.rate),
      precision: mean((p) => p.bagOfWords.precision),
      recall: mean((p) => p.bagOfWords.recall),
      f1: mean((p) => p.bagOfWords.f1),
    },
  };
}

/** UTF-16 surrogates, skipped when tokens are coded so that each token stays one code unit. */
const SURROGATES_START = 0xd800;
const SURROGATES_END = 0xdfff;
/** Distinct tokens that fit in single UTF-16 code units outside the surrogates. */
const MAX_CODED_TOKENS = 0x10000 - (SURROGATES_END - SURROGATES_START + 1);

/**
 * Levenshtein distance between two token sequences (code points, words), unit cost per
 * substitution, insertion and deletion. Each distinct token becomes one UTF-16 code unit so
 * that `fastest-levenshtein`, which compares code units, can count the edits. Sequences with
 * more distinct tokens than code units exist fall back to a hand-written two-row dynamic
 * programme.
 */
export function editDistance(a: readonly string[], b: readonly string[]): number {
  const codes = new Map<string, string>();
  const encode = (tokens: readonly string[]): string | null => {
    let out = '';
    for (const token of tokens) {
      let code = codes.get(token);
      if (code === undefined) {
        if (codes.size >= MAX_CODED_TOKENS) return null;
        const n = codes.size < SURROGATES_START ? codes.size : codes.size + (SURROGATES_END - SURROGATES_START + 1);
        code = String.fromCharCode(n);
        codes.set(token, code);
      }
      out += code;
    }
    return out;
  };
  const left = encode(a);
  const right = left === null ? null : encode(b);
  return left !== null && right !== null ? distance(left, right) : dynamicDistance(a, b);
}

function dynamicDistance(a: readonly string[], b: readonly string[]): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

function prepare(text: string, ignoreCase: boolean): string {
  const normal = normalizeWhitespace(text);
  return ignoreCase ? normal.toLowerCase() : normal;
}

function words(normalised: string): string[] {
  return normalised === '' ? [] : normalised.split(' ');
}

function countWords(list: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const word of list) counts.set(word, (counts.get(word) ?? 0) + 1);
  return counts;
}

function errorRate(errors: number, referenceLength: number): ErrorRate {
  return { errors, referenceLength, rate: errors / Math.max(1, referenceLength) };
}

function bagScore(matched: number, referenceWords: number, hypothesisWords: number): BagOfWordsScore {
  const precision = hypothesisWords > 0 ? matched / hypothesisWords : referenceWords === 0 ? 1 : 0;
  const recall = referenceWords > 0 ? matched / referenceWords : hypothesisWords === 0 ? 1 : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { matched, referenceWords, hypothesisWords, precision, recall, f1 };
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}
