/**
 * The words of a user's text query, as every SearchIndex adapter reads them: the distinct
 * content words of the OR list, words typed with a trailing `*` (prefixes), phrases typed in
 * double quotes (each must appear), and the whole query as the exact-phrase tier. Any string is
 * accepted; quotes and a trailing `*` are the only syntax, and nothing else in a query is ever
 * taken as an engine's syntax.
 */

/** Words beyond this are ignored: bounds the cost of pasted paragraphs. */
export const MAX_QUERY_TERMS = 32;

/** Shortest prefix a trailing `*` makes: shorter ones would match most of the vocabulary. */
export const MIN_PREFIX_LENGTH = 2;

/**
 * Function words left out of the OR list (they match nearly every chunk, cost a long
 * posting-list scan and add almost nothing to BM25); they still count inside the exact
 * phrase. English only: other languages just keep every word.
 */
const STOPWORDS = new Set(
  'a an and are as at be but by for from has have in is it its of on or that the this to was were will with'.split(' '),
);

/** The words of a query, as the adapters place them in their engines' queries. */
export interface TextQuery {
  /** Distinct words OR-ed together (stopwords dropped unless nothing else is left; prefixes apart). */
  terms: string[];
  /** Distinct words typed with a trailing `*`, OR-ed with the terms: each matches the words it begins. */
  prefixes: string[];
  /** Phrases typed in double quotes: a hit must contain each of them, word for word. */
  required: string[][];
  /** All words in order when there are at least two: the exact-phrase tier; otherwise null. */
  phrase: string[] | null;
}

/** A word as unicode61 splits text: letters, digits and combining marks. */
const WORD = /[\p{L}\p{N}\p{M}]+/gu;
/** A double quote, straight or typographic. */
const QUOTE = /["“”„]/;

function words(text: string): string[] {
  return (text.match(WORD) ?? []).filter((w) => /[\p{L}\p{N}]/u.test(w));
}

function distinct(list: readonly string[]): string[] {
  return [...new Map(list.map((w) => [w.toLowerCase(), w])).values()];
}

/**
 * Splits user text into words the way unicode61 does (everything but letters, digits and
 * combining marks separates). Text between a pair of double quotes is a required phrase; a
 * quote without its pair is a separator. A word directly followed by `*` is a prefix (when it
 * has at least {@link MIN_PREFIX_LENGTH} characters). Case and diacritics are left to the
 * tokenizer, which folds both on the indexed side too. Returns null when there is no word.
 */
export function parseTextQuery(text: string): TextQuery | null {
  const parts = text.split(QUOTE);
  // Even parts are outside quotes, odd ones inside; an unpaired last quote opens nothing.
  const paired = parts.length % 2 === 1 ? parts : [...parts.slice(0, -2), `${parts.at(-2)!} ${parts.at(-1)!}`];
  const all: string[] = [];
  const prefixes: string[] = [];
  const required: string[][] = [];
  paired.forEach((part, i) => {
    if (i % 2 === 1) {
      const phrase = words(part);
      if (phrase.length > 0 && all.length < MAX_QUERY_TERMS) required.push(phrase.slice(0, MAX_QUERY_TERMS - all.length));
      all.push(...phrase);
      return;
    }
    for (const match of part.matchAll(/([\p{L}\p{N}\p{M}]+)(\*?)/gu)) {
      const word = match[1]!;
      if (!/[\p{L}\p{N}]/u.test(word)) continue;
      all.push(word);
      if (match[2] === '*' && word.length >= MIN_PREFIX_LENGTH && all.length <= MAX_QUERY_TERMS) prefixes.push(word);
    }
  });
  if (all.length === 0) return null;
  const bounded = all.slice(0, MAX_QUERY_TERMS);
  const prefixed = new Set(prefixes.map((p) => p.toLowerCase()));
  const plain = distinct(bounded).filter((w) => !prefixed.has(w.toLowerCase()));
  const content = plain.filter((w) => !STOPWORDS.has(w.toLowerCase()));
  return {
    terms: content.length > 0 || prefixed.size > 0 ? content : plain,
    prefixes: distinct(prefixes),
    required,
    // A phrase from a query longer than the bound would not be the user's phrase.
    phrase: bounded.length >= 2 && all.length <= MAX_QUERY_TERMS ? bounded : null,
  };
}

/** How many distinct terms and prefixes a hit can match: what "all the terms" counts. */
export function termCount(query: TextQuery): number {
  return query.terms.length + query.prefixes.length;
}
