/**
 * `quire eval search` end to end on a slice of a public BEIR set: the corpus goes through the
 * real pipeline into a fresh data directory and every figure comes out. No timing assertions.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runQuire } from './helpers/cli.ts';
import { sharedDataset } from './helpers/shared-data.ts';

const dataset = sharedDataset('retrieval/msmarco_subset_agentset');
const skip = 'skip' in dataset ? dataset.skip : false;
if (skip) console.log(`# eval search on MS MARCO skipped: ${skip}`);

const inUnit = (x: unknown): boolean => typeof x === 'number' && x >= 0 && x <= 1;

describe('quire eval search', () => {
  it('ingests a corpus slice through the pipeline and reports every figure per mode', { skip }, async () => {
    const dir = 'path' in dataset ? dataset.path : '';
    const r = await runQuire(['eval', 'search', dir, '--max-docs', '80', '--max-queries', '8']);
    assert.equal(r.code, 0, r.stderr);
    const out = r.json!;
    assert.equal(out.name, 'eval.search');
    assert.equal(out.passages, 80);
    assert.equal(out.failed, 0);
    assert.equal((out.documents as number) + (out.refused as number) <= 80, true);
    assert.ok((out.documents as number) >= 75, `most passages become documents: ${String(out.documents)}`);
    assert.ok((out.queries as number) > 0 && (out.queries as number) <= 8);
    const ingest = out.ingest as { seconds: number; docsPerSecond: number };
    assert.ok(ingest.seconds > 0 && ingest.docsPerSecond > 0);
    assert.ok((out.indexBytes as number) > 0);
    const modes = out.modes as Record<
      string,
      { ndcg10: number; recall100: number; mrr10: number; latencyMs: { p50: number; p99: number; count: number } }
    >;
    assert.deepEqual(Object.keys(modes).sort(), ['hybrid', 'text', 'vector']);
    for (const [mode, m] of Object.entries(modes)) {
      assert.ok(inUnit(m.ndcg10) && inUnit(m.recall100) && inUnit(m.mrr10), `${mode}: ${JSON.stringify(m)}`);
      assert.equal(m.latencyMs.count, out.queries);
      assert.ok(m.latencyMs.p50 > 0 && m.latencyMs.p99 >= m.latencyMs.p50);
    }
    // On 80 passages whose judged queries all have an answer in the slice, meaning-based
    // retrieval must find it near the top for most queries: a broken pipeline or index would not.
    assert.ok(modes.vector!.mrr10 > 0.5, `vector MRR@10 ${modes.vector!.mrr10}`);
    assert.ok(modes.hybrid!.recall100 >= modes.vector!.recall100 - 0.2);
    assert.match(r.stdout, /nDCG@10 +Recall@100 +MRR@10/);
  });

  it('refuses a folder that is not a BEIR set with a code and a message', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'quire-eval-search-empty-'));
    try {
      const r = await runQuire(['eval', 'search', empty]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /NOT_A_BEIR_FOLDER: .*corpus\.jsonl is missing/);
      const bad = await runQuire(['eval', 'search', empty, '--modes', 'fuzzy']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /BAD_OPTION/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
