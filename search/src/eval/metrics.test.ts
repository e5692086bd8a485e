import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isJudged, mean, mrrAtK, ndcgAtK, recallAtK, type Qrels } from './metrics.ts';

const close = (actual: number, expected: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: expected ${expected}, got ${actual}`);

// Graded judgements: a=3, b=2, c=1 relevant; z judged not relevant; x, y unjudged.
const qrels: Qrels = new Map([
  ['a', 3],
  ['b', 2],
  ['c', 1],
  ['z', 0],
]);

describe('ndcgAtK', () => {
  it('is 1 for the ideal ranking', () => {
    close(ndcgAtK(qrels, ['a', 'b', 'c', 'z'], 10), 1, 'ideal');
  });

  it('uses linear gains and log2(i + 1) discounts against the ideal of all judged documents', () => {
    // Ranking x, c, a: DCG@3 = 0/1 + 1/log2(3) + 3/log2(4) = 0.6309297535714575 + 1.5
    // IDCG@3 = 3/1 + 2/log2(3) + 1/log2(4) = 3 + 1.2618595071429148 + 0.5
    // nDCG@3 = 2.1309297535714575 / 4.761859507142915 = 0.44749...
    close(ndcgAtK(qrels, ['x', 'c', 'a', 'b'], 3), 0.447499501061509, 'nDCG@3');
  });

  it('cuts at k both the ranking and the ideal', () => {
    // Only b in the top 1: 2/1 over the ideal top 1 (3/1).
    close(ndcgAtK(qrels, ['b', 'a'], 1), 2 / 3, 'nDCG@1');
  });

  it('counts a repeated document once', () => {
    close(ndcgAtK(qrels, ['a', 'a', 'b', 'c'], 3), 1, 'duplicates');
  });

  it('is 0 with no relevant document retrieved or judged', () => {
    close(ndcgAtK(qrels, ['x', 'y', 'z'], 10), 0, 'nothing relevant retrieved');
    close(ndcgAtK(new Map([['z', 0]]), ['z'], 10), 0, 'nothing relevant judged');
  });
});

describe('recallAtK', () => {
  it('is the share of relevant documents in the top k, grade ignored', () => {
    close(recallAtK(qrels, ['x', 'c', 'z', 'a'], 3), 1 / 3, 'recall@3');
    close(recallAtK(qrels, ['x', 'c', 'z', 'a'], 4), 2 / 3, 'recall@4');
    close(recallAtK(qrels, ['b', 'a', 'c'], 100), 1, 'recall@100');
  });

  it('is 0 when nothing is relevant', () => {
    close(recallAtK(new Map([['z', 0]]), ['z'], 10), 0, 'no relevant');
  });
});

describe('mrrAtK', () => {
  it('is 1 / rank of the first relevant document within k', () => {
    close(mrrAtK(qrels, ['x', 'z', 'c', 'a'], 10), 1 / 3, 'first relevant at 3');
    close(mrrAtK(qrels, ['a'], 10), 1, 'first relevant at 1');
  });

  it('ignores relevant documents past k and judged-irrelevant ones', () => {
    close(mrrAtK(qrels, ['x', 'z', 'c'], 2), 0, 'past k');
  });
});

describe('averaging helpers', () => {
  it('counts a query once it has any judgement', () => {
    assert.equal(isJudged(undefined), false);
    assert.equal(isJudged(new Map()), false);
    assert.equal(isJudged(new Map([['z', 0]])), true);
  });

  it('averages, with 0 for no values', () => {
    close(mean([1, 0, 0.5]), 0.5, 'mean');
    close(mean([]), 0, 'empty mean');
  });
});
