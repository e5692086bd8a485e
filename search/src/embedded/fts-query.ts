/**
 * Turns free user text into FTS5 MATCH expressions that cannot fail to parse: every word is
 * a quoted string, so FTS5 syntax (`AND`, `NEAR(`, `*`, `-`, `col:`, `^`, quotes) typed by a
 * user is only ever matched as text.
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

/** The words of a query, ready to be placed in MATCH expressions. */
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

/** An FTS5 string literal: double quotes, inner quotes doubled. */
function quote(word: string): string {
  return `"${word.replaceAll('"', '""')}"`;
}

/**
 * The MATCH expression for one team: the team's key token (held in the unweighted
 * `team_key` column) AND any of the words or the phrase in `title` or `body`. The column
 * set keeps a word that happens to equal a team key from matching the key column.
 */
export function matchExpression(teamKey: number, query: TextQuery): string {
  const alternatives = query.phrase ? [quote(query.phrase.join(' ')), ...query.terms.map(quote)] : query.terms.map(quote);
  return `team_key : ${quote(String(teamKey))} AND {title body} : (${alternatives.join(' OR ')})`;
}

/** The MATCH expression of the exact-phrase tier, or null when the query is one word. */
export function phraseExpression(teamKey: number, query: TextQuery): string | null {
  if (!query.phrase) return null;
  return `team_key : ${quote(String(teamKey))} AND {title body} : ${quote(query.phrase.join(' '))}`;
}

/**
 * One MATCH expression per distinct term, each for any team (callers join on rows already
 * confined to one): the sets whose membership counts how many query terms a chunk contains.
 */
export function termExpressions(query: TextQuery): string[] {
  return query.terms.map((term) => `{title body} : ${quote(term)}`);
}
