/**
 * The search pipeline every SearchIndex adapter runs: which lists a mode asks for, how deep,
 * with how many of the query's words, and how hybrid fuses them. An adapter supplies its two
 * ranked lists (BM25 and k-NN, already confined to the team and the filter) and hydrates the
 * keys this returns; the ranking rules themselves are written once, here.
 */
import { UnreachableCaseError } from '@quire/kernel';
import { SearchMode, fuseReciprocalRank, hybridDepth, minimumTermsToMatch, type SearchHit, type ValidatedQuery } from './search-index.ts';
import type { TextQuery } from './text-query.ts';

/** One entry of an adapter's ranked list: its key for the chunk and that list's score. */
export interface ListEntry<K> {
  key: K;
  score: number;
}

/** An adapter's two ranked lists, best first. */
export interface RankedLists<K> {
  /**
   * BM25 over title and body, exact-phrase hits first, at most `limit`; a hit that is not an
   * exact-phrase hit must contain at least `minTerms` of the query's distinct terms.
   */
  text(limit: number, minTerms: number): Promise<ListEntry<K>[]> | ListEntry<K>[];
  /** Cosine similarity to the query vector, at most `limit`. */
  vector(limit: number): Promise<ListEntry<K>[]> | ListEntry<K>[];
}

/** A chunk the pipeline ranked, with the scores of the lists that ranked it, best first. */
export interface RankedHit<K> {
  key: K;
  scores: SearchHit['scores'];
}

/**
 * Ranks `query` with `lists`: text mode takes the text list (nothing when the text has no
 * word), vector mode the vector list, hybrid both at {@link hybridDepth}, the text list
 * restricted to hits with {@link minimumTermsToMatch} of the terms at `hybridMinTermShare`,
 * fused by reciprocal rank and cut to `k`.
 */
export async function rankedSearch<K>(
  query: ValidatedQuery,
  textQuery: TextQuery | null,
  hybridMinTermShare: number,
  lists: RankedLists<K>,
): Promise<RankedHit<K>[]> {
  switch (query.mode) {
    case SearchMode.Text:
      return textQuery ? (await lists.text(query.k, 1)).map((h) => ({ key: h.key, scores: { text: h.score } })) : [];
    case SearchMode.Vector:
      return (await lists.vector(query.k)).map((h) => ({ key: h.key, scores: { vector: h.score } }));
    case SearchMode.Hybrid: {
      const depth = hybridDepth(query.k);
      const [text, vector] = await Promise.all([
        textQuery ? lists.text(depth, minimumTermsToMatch(textQuery.terms.length, hybridMinTermShare)) : [],
        lists.vector(depth),
      ]);
      const textScores = new Map(text.map((h) => [h.key, h.score]));
      const vectorScores = new Map(vector.map((h) => [h.key, h.score]));
      return fuseReciprocalRank([text.map((h) => h.key), vector.map((h) => h.key)])
        .slice(0, query.k)
        .map((e) => ({
          key: e.key,
          scores: {
            ...(textScores.has(e.key) ? { text: textScores.get(e.key)! } : {}),
            ...(vectorScores.has(e.key) ? { vector: vectorScores.get(e.key)! } : {}),
            hybrid: e.score,
          },
        }));
    }
    default:
      throw new UnreachableCaseError(query.mode);
  }
}
