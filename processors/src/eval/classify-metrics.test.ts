/**
 * Classification metrics against figures worked out by hand, scikit-learn's conventions
 * for the edge cases (zero_division=0, labels = truth ∪ predictions), and the seeded
 * generator the evaluations draw with.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { accuracy, expectedCalibrationError, macroF1, perClassScores, scoreClassification } from './classify-metrics.ts';
import { seededRandom, shuffled } from './seeded-random.ts';

const close = (actual: number, expected: number, message?: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-12, `${message ?? ''} ${actual} ≠ ${expected}`);

describe('classification metrics', () => {
  it('scores a mixed case as worked out by hand', () => {
    // a: tp 2, fp 0, fn 1 → P 1, R 2/3, F1 4/5
    // b: tp 1, fp 1, fn 1 → P 1/2, R 1/2, F1 1/2
    // c: tp 1, fp 1, fn 0 → P 1/2, R 1, F1 2/3
    const truth = ['a', 'a', 'a', 'b', 'b', 'c'];
    const predicted = ['a', 'a', 'b', 'b', 'c', 'c'];
    const s = scoreClassification(truth, predicted);
    assert.equal(s.n, 6);
    close(s.accuracy, 4 / 6);
    assert.deepEqual(s.labels, ['a', 'b', 'c']);
    assert.deepEqual(s.perClass.a, { precision: 1, recall: 2 / 3, f1: 4 / 5, support: 3, predicted: 2 });
    assert.deepEqual(s.perClass.b, { precision: 1 / 2, recall: 1 / 2, f1: 1 / 2, support: 2, predicted: 2 });
    assert.deepEqual(s.perClass.c, { precision: 1 / 2, recall: 1, f1: 2 / 3, support: 1, predicted: 2 });
    close(s.macroF1, 59 / 90);
    close(s.macroPrecision, 2 / 3);
    close(s.macroRecall, 13 / 18);
    close(macroF1(truth, predicted), 59 / 90);
    close(accuracy(truth, predicted), 2 / 3);
  });

  it('gives a class that is never predicted precision, recall and F1 of 0', () => {
    // a: tp 2, fp 2 → P 1/2, R 1, F1 2/3; b: never predicted → 0; macro (2/3 + 0) / 2
    const s = scoreClassification(['a', 'a', 'b', 'b'], ['a', 'a', 'a', 'a']);
    close(s.accuracy, 1 / 2);
    assert.deepEqual(s.perClass.b, { precision: 0, recall: 0, f1: 0, support: 2, predicted: 0 });
    close(s.perClass.a!.f1, 2 / 3);
    close(s.macroF1, 1 / 3);
  });

  it('averages over a predicted label that is absent from the truth', () => {
    // a: F1 1; b: missed → 0; x: predicted only, recall 0 → 0; three labels
    const s = scoreClassification(['a', 'b'], ['a', 'x']);
    assert.deepEqual(s.labels, ['a', 'b', 'x']);
    assert.deepEqual(s.perClass.x, { precision: 0, recall: 0, f1: 0, support: 0, predicted: 1 });
    close(s.macroF1, 1 / 3);
    close(s.macroRecall, 1 / 3);
    close(s.accuracy, 1 / 2);
  });

  it('scores perfect predictions 1', () => {
    const s = scoreClassification(['x', 'y', 'y'], ['x', 'y', 'y']);
    assert.equal(s.accuracy, 1);
    assert.equal(s.macroF1, 1);
  });

  it('has no score for no items', () => {
    const s = scoreClassification([], []);
    assert.equal(s.n, 0);
    assert.ok(Number.isNaN(s.accuracy));
    assert.ok(Number.isNaN(s.macroF1));
    assert.deepEqual(s.labels, []);
    assert.deepEqual(perClassScores([], []), {});
    assert.ok(Number.isNaN(accuracy([], [])));
  });

  it('refuses lists of different lengths', () => {
    assert.throws(() => accuracy(['a'], []), RangeError);
    assert.throws(() => scoreClassification(['a', 'b'], ['a']), RangeError);
  });
});

describe('expected calibration error', () => {
  it('weights each bin’s confidence gap by its share', () => {
    // bin 9: two items at 0.95, one right → gap 0.45, weight 1/2
    // bin 5: 0.55, right → gap 0.45, weight 1/4; bin 2: 0.25, wrong → gap 0.25, weight 1/4
    close(expectedCalibrationError([0.95, 0.95, 0.55, 0.25], [true, false, true, false]), 0.225 + 0.1125 + 0.0625);
  });

  it('puts a confidence of 1 in the last bin and is 0 when calibrated', () => {
    assert.equal(expectedCalibrationError([1, 1], [true, true]), 0);
    close(expectedCalibrationError([0.5, 0.5], [true, false]), 0);
  });

  it('has no value for no items and refuses mismatched lists', () => {
    assert.ok(Number.isNaN(expectedCalibrationError([], [])));
    assert.throws(() => expectedCalibrationError([0.5], []), RangeError);
  });
});

describe('seededRandom', () => {
  it('repeats a sequence for a seed (mulberry32)', () => {
    const a = seededRandom(1);
    assert.deepEqual([a(), a(), a()], [0.6270739405881613, 0.002735721180215478, 0.5274470399599522]);
    const b = seededRandom(42);
    const c = seededRandom(42);
    const xs = Array.from({ length: 1000 }, () => b());
    assert.deepEqual(
      xs,
      Array.from({ length: 1000 }, () => c()),
    );
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    assert.notDeepEqual(xs.slice(0, 5), Array.from({ length: 5 }, seededRandom(43)));
  });

  it('shuffles a copy into a repeatable permutation', () => {
    const items = Array.from({ length: 20 }, (_, i) => i);
    const once = shuffled(items, seededRandom(7));
    assert.deepEqual(once, shuffled(items, seededRandom(7)));
    assert.notDeepEqual(once, items);
    assert.deepEqual(
      [...once].sort((x, y) => x - y),
      items,
    );
    assert.deepEqual(
      items,
      Array.from({ length: 20 }, (_, i) => i),
    );
  });
});
