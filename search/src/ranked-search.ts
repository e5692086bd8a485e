/**
 * The search pipeline every SearchIndex adapter runs: which lists a mode asks for, how deep,
 * with how many of the query's words, and how hybrid fuses them. An adapter supplies its two
 * ranked lists (BM25 and k-NN, already confined to the team and the filter) and hydrates the
 * keys this returns; the ranking rules themselves are written once, here.
 */
import { UnreachableCaseError, ValidationError } from '@quire/kernel';
import {
  HYBRID_MIN_TERM_SHARE,
  SearchMode,
  fuseReciprocalRank,
  hybridDepth,
  minimumTermsToMatch,
  type SearchHit,
  type ValidatedQuery,
} from './search-index.ts';
import { termCount, type TextQuery } from './text-query.ts';

/**
 * Weight of the vector list against the text list (weight 1) in hybrid fusion. Tuned with
 * load-tests/hybrid.eval.ts and all-MiniLM-L6-v2 (q8) on the MS MARCO subset (43 queries),
 * nDCG@10 / Recall@100 at weights 1, 1.25, 1.5, 2, 3, 4, 6: 0.796 / 0.808, 0.797, 0.798,
 * 0.800, 0.801, 0.803 / 0.806, 0.804 / 0.804 (vector alone 0.797 / 0.803). 4 is the best
 * nDCG@10 that keeps hybrid's Recall@100 above vector alone. Confirmed on the DBpedia-Entity
 * subset (40 queries), not used to choose it: nDCG@10 0.482 at weight 1 → 0.503 at 4, equal to
 * vector alone (0.503), with Recall@100 0.941 against vector's 0.939. At weight 1 hybrid was
 * below vector alone on both sets.
 */
export const HYBRID_VECTOR_WEIGHT = 4;

/** How hybrid queries treat their two lists; each adapter takes these as an option. */
export interface HybridOptions {
  /**
   * Share of a query's distinct content terms (0 to 1) a BM25 hit must contain to enter
   * hybrid fusion; exact-phrase hits always enter. Default {@link HYBRID_MIN_TERM_SHARE}; 0
   * fuses every BM25 hit (plain OR). Text mode is never affected.
   */
  minTermShare?: number;
  /** Weight of the vector list in fusion, the text list's being 1. Default {@link HYBRID_VECTOR_WEIGHT}. */
  vectorWeight?: number;
}

/** `options` with defaults applied; refuses values out of range (ValidationError). */
export function hybridSettings(options: HybridOptions = {}): Required<HybridOptions> {
  const minTermShare = options.minTermShare ?? HYBRID_MIN_TERM_SHARE;
  const vectorWeight = options.vectorWeight ?? HYBRID_VECTOR_WEIGHT;
  if (!(minTermShare >= 0 && minTermShare <= 1)) {
    throw new ValidationError('hybrid.minTermShare must be a number from 0 to 1', { details: { field: 'hybrid.minTermShare' } });
  }
  if (!(vectorWeight > 0 && Number.isFinite(vectorWeight))) {
    throw new ValidationError('hybrid.vectorWeight must be a positive number', { details: { field: 'hybrid.vectorWeight' } });
  }
  return { minTermShare, vectorWeight };
}

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
 * restricted to hits with {@link minimumTermsToMatch} of the terms at `hybrid.minTermShare`,
 * fused by reciprocal rank with the vector list weighted `hybrid.vectorWeight`, and cut to `k`.
 */
export async function rankedSearch<K>(
  query: ValidatedQuery,
  textQuery: TextQuery | null,
  hybrid: Required<HybridOptions>,
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
        textQuery ? lists.text(depth, minimumTermsToMatch(termCount(textQuery), hybrid.minTermShare)) : [],
        lists.vector(depth),
      ]);
      const textScores = new Map(text.map((h) => [h.key, h.score]));
      const vectorScores = new Map(vector.map((h) => [h.key, h.score]));
      return fuseReciprocalRank([text.map((h) => h.key), vector.map((h) => h.key)], [1, hybrid.vectorWeight])
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
