import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProgressTracker, STAGE_UNIT_COST_MS, type PipelineProgress } from './progress-tracker.ts';
import { Stage } from '@quire/kernel';

const ORDER = [Stage.Detect, Stage.Extract, Stage.Ocr, Stage.Chunk, Stage.Embed, Stage.Classify, Stage.Fields] as const;

function clock(): { now: () => number; tick(ms: number): void } {
  let t = 0;
  return { now: () => t, tick: (ms) => void (t += ms) };
}

describe('ProgressTracker', () => {
  it('weighs stages by their cost, so OCR dominates a scan', () => {
    const c = clock();
    const tracker = new ProgressTracker(ORDER, c.now);
    tracker.enter(Stage.Detect);
    tracker.setTotal(0, Stage.Extract);
    tracker.setTotal(10, Stage.Ocr);
    tracker.setTotal(20, Stage.Embed);
    tracker.enter(Stage.Ocr);
    for (let i = 0; i < 5; i += 1) {
      c.tick(1500);
      tracker.advance();
    }
    const half = tracker.snapshot();
    const ocrShare = (10 * STAGE_UNIT_COST_MS.ocr) / (10 * STAGE_UNIT_COST_MS.ocr + 20 * STAGE_UNIT_COST_MS.embed + 200);
    assert.ok(Math.abs(half.percent - 50 * ocrShare) < 2, `percent ${half.percent}`);
    assert.deepEqual([half.stage, half.done, half.total], ['ocr', 5, 10]);
  });

  it('estimates the time left from the observed rate of the current stage', () => {
    const c = clock();
    const tracker = new ProgressTracker(ORDER, c.now);
    tracker.enter(Stage.Detect);
    tracker.setTotal(0, Stage.Extract);
    tracker.setTotal(4, Stage.Ocr);
    tracker.setTotal(0, Stage.Embed);
    tracker.setTotal(0, Stage.Classify);
    tracker.setTotal(0, Stage.Fields);
    tracker.setTotal(0, Stage.Chunk);
    tracker.enter(Stage.Ocr);
    c.tick(3000);
    tracker.advance();
    // 3 s per page observed, three pages left (twice the cost model's guess).
    assert.equal(tracker.snapshot().etaMs, 9000);
    c.tick(1000);
    // A second later, with no page done, the estimate counts down.
    assert.equal(tracker.snapshot().etaMs, 8000);
  });

  it('never reports a lower percentage, even when the work grows', () => {
    const c = clock();
    const tracker = new ProgressTracker(ORDER, c.now);
    const seen: PipelineProgress[] = [];
    tracker.enter(Stage.Extract);
    tracker.setTotal(10);
    tracker.setTotal(0, Stage.Ocr);
    for (let i = 0; i < 5; i += 1) {
      c.tick(20);
      tracker.advance();
      seen.push(tracker.snapshot());
    }
    // Half the pages turn out to be scans: far more work than planned.
    tracker.setTotal(10, Stage.Ocr);
    seen.push(tracker.snapshot());
    tracker.enter(Stage.Ocr);
    c.tick(500);
    seen.push(tracker.snapshot());
    for (let i = 1; i < seen.length; i += 1) assert.ok(seen[i]!.percent >= seen[i - 1]!.percent);
    assert.ok(seen.at(-1)!.percent < 100);
  });

  it('moves within a long unit but stays below its end', () => {
    const c = clock();
    const tracker = new ProgressTracker([Stage.Ocr], c.now);
    tracker.enter(Stage.Ocr);
    tracker.setTotal(1);
    const start = tracker.snapshot().percent;
    c.tick(STAGE_UNIT_COST_MS.ocr / 2);
    const middle = tracker.snapshot().percent;
    c.tick(STAGE_UNIT_COST_MS.ocr * 10);
    const late = tracker.snapshot().percent;
    assert.ok(start < middle && middle < late);
    assert.ok(late <= 90);
  });

  it('reports 100 % and no time left once finished, and no ETA before work is known', () => {
    const c = clock();
    const tracker = new ProgressTracker(ORDER, c.now);
    tracker.enter(Stage.Detect);
    assert.equal(tracker.snapshot().etaMs, null);
    tracker.enter(Stage.Embed);
    assert.notEqual(tracker.snapshot().etaMs, null);
    tracker.finish();
    assert.deepEqual(tracker.snapshot(), { stage: 'fields', done: 1, total: 1, percent: 100, etaMs: 0 });
  });

  it('refuses stages outside its order', () => {
    const tracker = new ProgressTracker([Stage.Detect]);
    assert.throws(() => tracker.enter(Stage.Ocr), RangeError);
  });
});
