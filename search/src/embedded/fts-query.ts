/**
 * Turns a parsed query (text-query.ts) into FTS5 MATCH expressions that cannot fail to parse:
 * every word is a quoted string, so FTS5 syntax (`AND`, `NEAR(`, `*`, `-`, `col:`, `^`,
 * quotes) typed by a user is only ever matched as text.
 */
import type { TextQuery } from '../text-query.ts';

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

/**
 * The MATCH expression for hits that contain every term (or the exact phrase, which holds
 * them all): what {@link matchExpression} plus a count of all the terms selects, but as an
 * AND that FTS5 answers by skipping through the rarest term's postings. Its phrases are the
 * same as in {@link matchExpression}, so BM25 scores each row the same.
 */
export function allTermsExpression(teamKey: number, query: TextQuery): string {
  const all = query.terms.map(quote).join(' AND ');
  const inner = query.phrase ? `(${all}) OR ${quote(query.phrase.join(' '))}` : all;
  return `team_key : ${quote(String(teamKey))} AND {title body} : (${inner})`;
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
