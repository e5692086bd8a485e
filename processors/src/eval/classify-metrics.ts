/**
 * Figures of merit for a classifier against known labels: accuracy, per-class precision,
 * recall and F1, macro averages and expected calibration error. Pure functions over parallel
 * lists of true and predicted labels.
 *
 * Macro averages follow scikit-learn's `f1_score(average='macro')` with its default
 * `zero_division=0`: the unweighted mean over every label found in the truth or the
 * predictions, where a class that is never predicted has precision 0 and a predicted label
 * absent from the truth has recall 0. Input with no items has no defined score: NaN.
 */

/** Precision, recall and F1 of one class, with the counts behind them. */
export interface ClassScores {
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  /** Items whose true label is this class. */
  readonly support: number;
  /** Items predicted as this class. */
  readonly predicted: number;
}

/** Every figure {@link scoreClassification} computes. */
export interface ClassificationScores {
  /** Items scored. */
  readonly n: number;
  readonly accuracy: number;
  readonly macroPrecision: number;
  readonly macroRecall: number;
  readonly macroF1: number;
  /** The labels averaged over: truth ∪ predictions, sorted. */
  readonly labels: readonly string[];
  readonly perClass: Readonly<Record<string, ClassScores>>;
}

/** Fraction of predictions equal to the truth; NaN for no items. */
export function accuracy(truth: readonly string[], predicted: readonly string[]): number {
  checkLengths(truth, predicted);
  if (truth.length === 0) return Number.NaN;
  let hits = 0;
  for (let i = 0; i < truth.length; i++) if (predicted[i] === truth[i]) hits += 1;
  return hits / truth.length;
}

/**
 * Precision, recall and F1 of every label in the truth or the predictions. A class never
 * predicted has precision 0, a label never true has recall 0; F1 is 2·tp / (2·tp + fp + fn).
 */
export function perClassScores(truth: readonly string[], predicted: readonly string[]): Record<string, ClassScores> {
  checkLengths(truth, predicted);
  const counts = new Map<string, { tp: number; fp: number; fn: number }>();
  const count = (label: string) => {
    let c = counts.get(label);
    if (!c) counts.set(label, (c = { tp: 0, fp: 0, fn: 0 }));
    return c;
  };
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i]!;
    const p = predicted[i]!;
    if (t === p) count(t).tp += 1;
    else {
      count(t).fn += 1;
      count(p).fp += 1;
    }
  }
  const out: Record<string, ClassScores> = {};
  for (const label of [...counts.keys()].sort()) {
    const { tp, fp, fn } = counts.get(label)!;
    out[label] = {
      precision: tp + fp === 0 ? 0 : tp / (tp + fp),
      recall: tp + fn === 0 ? 0 : tp / (tp + fn),
      f1: (2 * tp) / (2 * tp + fp + fn),
      support: tp + fn,
      predicted: tp + fp,
    };
  }
  return out;
}

/** Unweighted mean of per-class F1 over truth ∪ predictions (scikit-learn's macro-F1); NaN for no items. */
export function macroF1(truth: readonly string[], predicted: readonly string[]): number {
  return scoreClassification(truth, predicted).macroF1;
}

/** Accuracy, per-class scores and their macro averages in one pass. */
export function scoreClassification(truth: readonly string[], predicted: readonly string[]): ClassificationScores {
  const perClass = perClassScores(truth, predicted);
  const labels = Object.keys(perClass);
  const mean = (pick: (s: ClassScores) => number) =>
    labels.length === 0 ? Number.NaN : labels.reduce((sum, l) => sum + pick(perClass[l]!), 0) / labels.length;
  return {
    n: truth.length,
    accuracy: accuracy(truth, predicted),
    macroPrecision: mean((s) => s.precision),
    macroRecall: mean((s) => s.recall),
    macroF1: mean((s) => s.f1),
    labels,
    perClass,
  };
}

/**
 * Expected calibration error: over `bins` equal-width confidence bins, the mean gap between
 * confidence and accuracy, each bin weighted by its share of the items (a confidence of
 * exactly 1 falls in the last bin). NaN for no items.
 */
export function expectedCalibrationError(confidences: readonly number[], correct: readonly boolean[], bins = 10): number {
  if (confidences.length !== correct.length) throw new RangeError(`${confidences.length} confidences for ${correct.length} outcomes`);
  if (!(Number.isInteger(bins) && bins > 0)) throw new RangeError('bins must be a positive integer');
  if (confidences.length === 0) return Number.NaN;
  const acc = Array.from({ length: bins }, () => ({ n: 0, confidence: 0, hits: 0 }));
  confidences.forEach((c, i) => {
    const bin = acc[Math.min(bins - 1, Math.max(0, Math.floor(c * bins)))]!;
    bin.n += 1;
    bin.confidence += c;
    if (correct[i]) bin.hits += 1;
  });
  const n = confidences.length;
  return acc.reduce((sum, b) => (b.n === 0 ? sum : sum + (b.n / n) * Math.abs(b.confidence / b.n - b.hits / b.n)), 0);
}

function checkLengths(truth: readonly string[], predicted: readonly string[]): void {
  if (truth.length !== predicted.length) throw new RangeError(`${truth.length} true labels for ${predicted.length} predictions`);
}
