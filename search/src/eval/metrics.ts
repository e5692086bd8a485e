/**
 * Retrieval metrics as BEIR reports them (pytrec_eval / trec_eval definitions), for one query:
 * `qrels` maps judged document ids to graded relevance (0 = judged not relevant), `ranked` is
 * the system's ranking, best first. Average over the judged queries (see `isJudged`).
 */

/** Judged documents of one query: document id → relevance grade (0, 1, 2, …). */
export type Qrels = ReadonlyMap<string, number>;

function relevance(qrels: Qrels, docId: string): number {
  return Math.max(0, qrels.get(docId) ?? 0);
}

/**
 * nDCG@k with linear gains, as trec_eval's `ndcg_cut`: DCG = Σ rel_i / log2(i + 1) over the top
 * k (i from 1), divided by the DCG of the ideal ordering of all judged documents. Returns 0
 * when no judged document is relevant.
 */
export function ndcgAtK(qrels: Qrels, ranked: readonly string[], k: number): number {
  let dcg = 0;
  const seen = new Set<string>();
  let position = 0;
  for (const docId of ranked) {
    if (position >= k) break;
    // A document listed twice counts once, at its first position.
    if (seen.has(docId)) continue;
    seen.add(docId);
    position++;
    dcg += relevance(qrels, docId) / Math.log2(position + 1);
  }
  const ideal = [...qrels.values()]
    .filter((r) => r > 0)
    .sort((a, b) => b - a)
    .slice(0, k);
  const idcg = ideal.reduce((sum, rel, i) => sum + rel / Math.log2(i + 2), 0);
  return idcg === 0 ? 0 : dcg / idcg;
}

/**
 * Recall@k: the share of relevant documents (grade > 0) found in the top k. Returns 0 when the
 * query has no relevant document.
 */
export function recallAtK(qrels: Qrels, ranked: readonly string[], k: number): number {
  const relevant = [...qrels.entries()].filter(([, r]) => r > 0).map(([id]) => id);
  if (relevant.length === 0) return 0;
  const top = new Set(ranked.slice(0, k));
  return relevant.filter((id) => top.has(id)).length / relevant.length;
}

/**
 * MRR@k: 1 / rank of the first relevant document (grade > 0) within the top k, else 0.
 */
export function mrrAtK(qrels: Qrels, ranked: readonly string[], k: number): number {
  const limit = Math.min(k, ranked.length);
  for (let i = 0; i < limit; i++) {
    if (relevance(qrels, ranked[i] ?? '') > 0) return 1 / (i + 1);
  }
  return 0;
}

/**
 * Whether a query counts in the averages. As in BEIR (pytrec_eval), a query counts when it has
 * judgements at all; a query that has some but none relevant scores 0 rather than being skipped.
 */
export function isJudged(qrels: Qrels | undefined): qrels is Qrels {
  return qrels !== undefined && qrels.size > 0;
}

/** Arithmetic mean; 0 for an empty list. */
export function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((s, x) => s + x, 0) / values.length;
}
