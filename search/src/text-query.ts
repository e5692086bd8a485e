/**
 * The words of a user's text query, as every SearchIndex adapter reads them: the distinct
 * content words of the OR list and the exact phrase. Any string is accepted; nothing in it
 * is ever taken as query syntax.
 */

/** Words beyond this are ignored: bounds the cost of pasted paragraphs. */
export const MAX_QUERY_TERMS = 32;

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
  /** Distinct words OR-ed together (stopwords dropped unless nothing else is left). */
  terms: string[];
  /** All words in order when there are at least two: the exact-phrase tier; otherwise null. */
  phrase: string[] | null;
}

/**
 * Splits user text into words the way unicode61 does (letters, digits and combining marks;
 * everything else separates). Case and diacritics are left to the tokenizer, which folds
 * both on the indexed side too. Returns null when there is no word at all.
 */
export function parseTextQuery(text: string): TextQuery | null {
  const words = (text.match(/[\p{L}\p{N}\p{M}]+/gu) ?? []).filter((w) => /[\p{L}\p{N}]/u.test(w));
  if (words.length === 0) return null;
  const bounded = words.slice(0, MAX_QUERY_TERMS);
  const distinct = [...new Map(bounded.map((w) => [w.toLowerCase(), w])).values()];
  const content = distinct.filter((w) => !STOPWORDS.has(w.toLowerCase()));
  return {
    terms: content.length > 0 ? content : distinct,
    // A phrase from a query longer than the bound would not be the user's phrase.
    phrase: bounded.length >= 2 && words.length <= MAX_QUERY_TERMS ? bounded : null,
  };
}
