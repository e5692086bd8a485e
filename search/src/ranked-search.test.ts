import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hybridSettings, rankedSearch, type ListEntry, type RankedLists } from './ranked-search.ts';
import { RRF_K, SearchMode, hybridDepth, validateSearchQuery } from './search-index.ts';
import { parseTextQuery } from './text-query.ts';

const vector = Float32Array.of(1, 0);

/** Lists that answer fixed keys and record what they were asked. */
function lists(text: string[], vectorKeys: string[]) {
  const asked: { text: [number, number][]; vector: number[] } = { text: [], vector: [] };
  const entries = (keys: string[]): ListEntry<string>[] => keys.map((key, i) => ({ key, score: 1 - i / 10 }));
  const fixed: RankedLists<string> = {
    text: (limit, minTerms) => (asked.text.push([limit, minTerms]), entries(text).slice(0, limit)),
    vector: (limit) => (asked.vector.push(limit), entries(vectorKeys).slice(0, limit)),
  };
  return { fixed, asked };
}

describe('rankedSearch', () => {
  it('asks text mode for the text list only, with every term optional, and nothing without a word', async () => {
    const { fixed, asked } = lists(['a', 'b'], ['c']);
    const query = validateSearchQuery({ mode: SearchMode.Text, text: 'red boat', k: 5 }, 2);
    const hits = await rankedSearch(query, parseTextQuery('red boat'), hybridSettings(), fixed);
    assert.deepEqual(
      hits.map((h) => [h.key, h.scores]),
      [
        ['a', { text: 1 }],
        ['b', { text: 0.9 }],
      ],
    );
    assert.deepEqual(asked, { text: [[5, 1]], vector: [] });
    assert.deepEqual(await rankedSearch(query, null, hybridSettings(), fixed), []);
  });

  it('fuses hybrid lists taken at hybrid depth, the text list needing the share of terms', async () => {
    const { fixed, asked } = lists(['a', 'b', 'c'], ['c', 'd']);
    const query = validateSearchQuery({ mode: SearchMode.Hybrid, text: 'red boat harbour', vector, k: 2 }, 2);
    const hits = await rankedSearch(query, parseTextQuery('red boat harbour'), hybridSettings({ minTermShare: 1, vectorWeight: 1 }), fixed);
    assert.deepEqual(asked, { text: [[hybridDepth(2), 3]], vector: [hybridDepth(2)] });
    // c is third in one list and first in the other: it beats a, first in one list only.
    assert.deepEqual(
      hits.map((h) => h.key),
      ['c', 'a'],
    );
    assert.deepEqual(hits[0]!.scores, { text: 0.8, vector: 1, hybrid: 1 / (RRF_K + 3) + 1 / (RRF_K + 1) });
  });

  it('weighs the vector list as told', async () => {
    const { fixed } = lists(['a'], ['b']);
    const query = validateSearchQuery({ mode: SearchMode.Hybrid, text: 'boat', vector, k: 2 }, 2);
    const equal = await rankedSearch(query, parseTextQuery('boat'), hybridSettings({ vectorWeight: 1 }), fixed);
    assert.deepEqual(
      equal.map((h) => h.key),
      ['a', 'b'],
      'a tie goes to the earlier list',
    );
    const weighted = await rankedSearch(query, parseTextQuery('boat'), hybridSettings({ vectorWeight: 1.5 }), fixed);
    assert.deepEqual(
      weighted.map((h) => [h.key, h.scores.hybrid]),
      [
        ['b', 1.5 / (RRF_K + 1)],
        ['a', 1 / (RRF_K + 1)],
      ],
    );
  });

  it('refuses settings out of range', () => {
    for (const bad of [{ minTermShare: -0.1 }, { minTermShare: 1.5 }, { vectorWeight: 0 }, { vectorWeight: Number.NaN }]) {
      assert.throws(() => hybridSettings(bad), { code: 'VALIDATION_FAILED' }, JSON.stringify(bad));
    }
  });
});
