/**
 * Turns a parsed query (text-query.ts) into FTS5 MATCH expressions that cannot fail to parse:
 * every word is a quoted string, so FTS5 syntax (`AND`, `NEAR(`, `-`, `col:`, `^`) typed by a
 * user is only ever matched as text; a prefix is a quoted word followed by FTS5's `*`.
 */
import type { TextQuery } from '../text-query.ts';

/** An FTS5 string literal: double quotes, inner quotes doubled. */
function quote(word: string): string {
  return `"${word.replaceAll('"', '""')}"`;
}

/** The OR list as FTS5 terms: each word quoted, each prefix quoted and starred. */
function alternatives(query: TextQuery): string[] {
  return [...query.terms.map(quote), ...query.prefixes.map((p) => `${quote(p)} *`)];
}

/** ` AND` each quoted phrase of the query, in title or body. */
function requiredPhrases(query: TextQuery): string {
  return query.required.map((p) => ` AND {title body} : ${quote(p.join(' '))}`).join('');
}

/**
 * The MATCH expression for one team: the team's key token (held in the unweighted
 * `team_key` column) AND any of the words, prefixes or the phrase in `title` or `body`, AND
 * every quoted phrase. The column set keeps a word that happens to equal a team key from
 * matching the key column.
 */
export function matchExpression(teamKey: number | null, query: TextQuery): string {
  const any = query.phrase ? [quote(query.phrase.join(' ')), ...alternatives(query)] : alternatives(query);
  return `${teamClause(teamKey)}{title body} : (${any.join(' OR ')})${requiredPhrases(query)}`;
}

/**
 * The MATCH expression for hits that contain every term and prefix: what
 * {@link matchExpression} plus a count of all the terms selects, but as an AND that FTS5
 * answers by skipping through the rarest term's postings. The whole-query phrase is left out
 * (its hits hold every term, and come from {@link phraseExpression}), so a hit without the
 * phrase scores as it does under {@link matchExpression}.
 */
export function allTermsExpression(teamKey: number | null, query: TextQuery): string {
  return `${teamClause(teamKey)}{title body} : (${alternatives(query).join(' AND ')})${requiredPhrases(query)}`;
}

/**
 * The MATCH expression of the exact-phrase tier (with the quoted phrases, which it may not
 * hold in order), or null when the query is one word.
 */
export function phraseExpression(teamKey: number | null, query: TextQuery): string | null {
  if (!query.phrase) return null;
  return `${teamClause(teamKey)}{title body} : ${quote(query.phrase.join(' '))}${requiredPhrases(query)}`;
}

/**
 * The team's key token AND …, or nothing when the caller confines rows to the team itself:
 * the token's posting list holds every chunk of the team, and intersecting it costs more than
 * checking the few rows an AND or a phrase matches.
 */
function teamClause(teamKey: number | null): string {
  return teamKey === null ? '' : `team_key : ${quote(String(teamKey))} AND `;
}

/**
 * One MATCH expression per distinct term or prefix, each for any team (callers join on rows
 * already confined to one): the sets whose membership counts how many query terms a chunk
 * contains.
 */
export function termExpressions(query: TextQuery): string[] {
  return alternatives(query).map((term) => `{title body} : ${term}`);
}
