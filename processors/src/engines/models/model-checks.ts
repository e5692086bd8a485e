/**
 * The checks a model copy must pass before Quire uses it. Pure functions over an embedding
 * function, so the embedder can run the quick ones at load and `verifyModel` all of them.
 */
import type { ModelDtype, ModelSpec } from './model-registry.ts';

/** What the checks need from an embedder. */
export interface EmbedFunctions {
  embedDocuments(texts: readonly string[]): Promise<Float32Array[]>;
  embedQuery(text: string): Promise<Float32Array>;
}

/** Names of the checks, in the order they run. */
export const CheckName = {
  /** Every vector has the registry's dimension, finite values and unit length. */
  shape: 'shape',
  /** The first components of a published embedding are reproduced. */
  reference: 'reference',
  /** Related sentences are clearly closer than unrelated ones; a query finds its passage. */
  semantic: 'semantic',
  /** A text embeds the same alone and padded inside a batch. */
  batchInvariance: 'batch-invariance',
  /** The int8 and fp32 files agree (only when both are checked). */
  consistency: 'consistency',
} as const;
export type CheckName = (typeof CheckName)[keyof typeof CheckName];

/** Outcome of one check, with the numbers it measured. */
export interface CheckResult {
  readonly check: CheckName;
  readonly passed: boolean;
  /** One human-readable line: what was measured against what. */
  readonly detail: string;
  readonly measured: Readonly<Record<string, number>>;
}

/** The sentence triple of the semantic check (from the models README). */
export const SEMANTIC_TRIPLE = {
  anchor: 'A man is eating food.',
  related: 'A man is eating a piece of bread.',
  unrelated: 'The stock market fell sharply today.',
} as const;

/**
 * How much closer the related sentence must be than the unrelated one. Working models score a
 * margin of 0.6-0.75 here; a model with scrambled weights or broken pooling scores near 0.
 */
export const SEMANTIC_MARGIN = 0.2;

const RETRIEVAL = {
  query: 'How do I bake bread at home?',
  relevant: 'Mix flour, water, yeast and salt, let the dough rise for an hour, then bake it in a hot oven.',
  distractors: [
    'The home team won the football match after extra time.',
    'Interest rates were left unchanged by the central bank this month.',
  ],
} as const;

/**
 * Lowest cosine between a text embedded alone and inside a padded batch. fp32 is exact up to
 * float rounding; int8 activations are quantised with one scale per batch tensor, so batch
 * company moves int8 vectors slightly (measured ~0.99+).
 */
export const BATCH_INVARIANCE_MIN: Readonly<Record<ModelDtype, number>> = { fp32: 0.9999, q8: 0.97 };

/**
 * Lowest cosine between the int8 and fp32 files on the check sentences. Set to catch a broken
 * quantisation, not to grade one: Xenova's per-tensor int8 MiniLM sits near 0.93-0.96, ours
 * (per channel) near 0.99.
 */
export const CONSISTENCY_MIN = 0.9;

/** Cosine of two vectors (dot product divided by norms, so it holds for unnormalised input). */
export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / (Math.sqrt(na) * Math.sqrt(nb) || 1);
}

function round(value: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Texts every check embeds, so `consistency` can compare two files on the same inputs. */
export function checkTexts(spec: ModelSpec): string[] {
  return [
    ...spec.references.map((r) => r.text),
    SEMANTIC_TRIPLE.anchor,
    SEMANTIC_TRIPLE.related,
    SEMANTIC_TRIPLE.unrelated,
    RETRIEVAL.relevant,
    ...RETRIEVAL.distractors,
  ];
}

function shapeCheck(spec: ModelSpec, vectors: readonly Float32Array[]): CheckResult {
  let worstNorm = 0;
  for (const v of vectors) {
    if (v.length !== spec.dimension) {
      return {
        check: CheckName.shape,
        passed: false,
        detail: `vector has ${v.length} dimensions, registry says ${spec.dimension}`,
        measured: { dimension: v.length },
      };
    }
    let sum = 0;
    for (const x of v) {
      if (!Number.isFinite(x)) {
        return { check: CheckName.shape, passed: false, detail: 'vector holds a non-finite value', measured: {} };
      }
      sum += x * x;
    }
    worstNorm = Math.max(worstNorm, Math.abs(Math.sqrt(sum) - 1));
  }
  const passed = !spec.normalize || worstNorm < 1e-3;
  return {
    check: CheckName.shape,
    passed,
    detail: `${vectors.length} vectors of ${spec.dimension} dims, largest |norm - 1| = ${worstNorm.toExponential(2)}`,
    measured: { dimension: spec.dimension, normError: worstNorm },
  };
}

function referenceChecks(spec: ModelSpec, dtype: ModelDtype, byText: Map<string, Float32Array>): CheckResult[] {
  return spec.references.map((ref) => {
    const v = byText.get(ref.text);
    const got = ref.values.map((_, i) => v?.[i] ?? Number.NaN);
    const maxDiff = Math.max(...ref.values.map((r, i) => Math.abs(r - (got[i] ?? Number.NaN))));
    const tolerance = ref.tolerance[dtype];
    const passed = Number.isFinite(maxDiff) && maxDiff <= tolerance;
    return {
      check: CheckName.reference,
      passed,
      detail:
        `'${ref.text}' starts [${got.map((x) => round(x, 5)).join(', ')}], reference [${ref.values.map((x) => round(x, 5)).join(', ')}]: ` +
        `max |diff| ${round(maxDiff, 5)} ${passed ? '<=' : '>'} ${tolerance} (${ref.source})`,
      measured: { maxDiff, tolerance },
    };
  });
}

async function semanticCheck(fns: EmbedFunctions, byText: Map<string, Float32Array>): Promise<CheckResult> {
  const get = (t: string): Float32Array => {
    const v = byText.get(t);
    if (!v) throw new Error(`check text not embedded: ${t}`);
    return v;
  };
  const related = cosine(get(SEMANTIC_TRIPLE.anchor), get(SEMANTIC_TRIPLE.related));
  const unrelated = cosine(get(SEMANTIC_TRIPLE.anchor), get(SEMANTIC_TRIPLE.unrelated));
  const query = await fns.embedQuery(RETRIEVAL.query);
  const relevant = cosine(query, get(RETRIEVAL.relevant));
  const bestDistractor = Math.max(...RETRIEVAL.distractors.map((d) => cosine(query, get(d))));
  const passed = related - unrelated >= SEMANTIC_MARGIN && relevant > bestDistractor;
  return {
    check: CheckName.semantic,
    passed,
    detail:
      `cos(food, bread) ${round(related)} vs cos(food, stock market) ${round(unrelated)}: margin ${round(related - unrelated)} ` +
      `(needs >= ${SEMANTIC_MARGIN}); query→passage ${round(relevant)} vs best distractor ${round(bestDistractor)}`,
    measured: { related, unrelated, margin: related - unrelated, queryRelevant: relevant, queryDistractor: bestDistractor },
  };
}

async function batchInvarianceCheck(fns: EmbedFunctions, dtype: ModelDtype, alone: Float32Array): Promise<CheckResult> {
  const long = `${RETRIEVAL.relevant} ${RETRIEVAL.distractors.join(' ')} `.repeat(4);
  const [inBatch] = await fns.embedDocuments([SEMANTIC_TRIPLE.anchor, long]);
  const similarity = inBatch ? cosine(alone, inBatch) : Number.NaN;
  const min = BATCH_INVARIANCE_MIN[dtype];
  return {
    check: CheckName.batchInvariance,
    passed: similarity >= min,
    detail: `a sentence alone vs padded next to a long text: cosine ${round(similarity, 5)} (needs >= ${min})`,
    measured: { cosine: similarity, min },
  };
}

/**
 * Runs the shape, reference, semantic and batch-invariance checks against one loaded model.
 * Returns every result; callers decide whether to throw (see `firstFailure`).
 */
export async function runModelChecks(fns: EmbedFunctions, spec: ModelSpec, dtype: ModelDtype): Promise<CheckResult[]> {
  const texts = checkTexts(spec);
  const byText = new Map<string, Float32Array>();
  // One text at a time: the reference values were produced unbatched, and int8 results
  // depend slightly on batch company (see BATCH_INVARIANCE_MIN).
  for (const text of texts) {
    const [v] = await fns.embedDocuments([text]);
    if (v) byText.set(text, v);
  }
  const results: CheckResult[] = [shapeCheck(spec, [...byText.values()])];
  results.push(...referenceChecks(spec, dtype, byText));
  results.push(await semanticCheck(fns, byText));
  const alone = byText.get(SEMANTIC_TRIPLE.anchor);
  if (alone) results.push(await batchInvarianceCheck(fns, dtype, alone));
  return results;
}

/** Compares two files of the same model (int8 against fp32) on the check texts. */
export async function runConsistencyCheck(
  spec: ModelSpec,
  a: { dtype: ModelDtype; fns: EmbedFunctions },
  b: { dtype: ModelDtype; fns: EmbedFunctions },
): Promise<CheckResult> {
  const texts = checkTexts(spec);
  const sims: number[] = [];
  for (const text of texts) {
    const [va] = await a.fns.embedDocuments([text]);
    const [vb] = await b.fns.embedDocuments([text]);
    sims.push(va && vb ? cosine(va, vb) : Number.NaN);
  }
  const min = Math.min(...sims);
  const mean = sims.reduce((s, x) => s + x, 0) / sims.length;
  return {
    check: CheckName.consistency,
    passed: min >= CONSISTENCY_MIN,
    detail: `${a.dtype} vs ${b.dtype} on ${texts.length} texts: mean cosine ${round(mean, 5)}, lowest ${round(min, 5)} (needs >= ${CONSISTENCY_MIN})`,
    measured: { mean, min },
  };
}

/** The first failed check, or undefined when all passed. */
export function firstFailure(results: readonly CheckResult[]): CheckResult | undefined {
  return results.find((r) => !r.passed);
}
