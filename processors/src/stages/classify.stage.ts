/**
 * The classify stage: assigns a document type and a sensitivity level, each with a
 * confidence, from the document's chunk embeddings.
 *
 * Zero-shot, every label is the mean embedding of its description and prompts, a document
 * is the normalised mean of its chunk vectors, and labels are scored by cosine similarity,
 * plus a bonus for keyword markings found in the text. A softmax with a small temperature
 * turns the scores into confidences. The fallback type (`other`) scores at least a floor
 * similarity, so it wins when no other type fits.
 *
 * Labelled examples (annotations a team made) turn it few-shot: each label with examples
 * gets a prototype, the mean of its examples, and the document's similarity to it is added
 * as a second score with a weight that grows with the number of examples per label, so one
 * example nudges, sixteen lead. The same call serves k = 1, 4 or 16 examples per class and
 * labels some of which have no examples. The function is pure apart from a cache of label
 * embeddings: settings in, result out.
 */
import type { Embedder } from '../engines/embedder.ts';
import type { Classification, ClassifierSettings, LabelDefinition, LabelScore, LabelledExample } from '@quire/kernel';
import { OTHER_TYPE } from './labels.ts';

/**
 * Tuning knobs of the classifier. The defaults were measured with all-MiniLM-L6-v2 on the
 * BBC News topics (full articles, articles' titles only, and label names without
 * descriptions) and on the smoke set; `quire eval classify` measures them on any labelled set.
 */
export interface ClassifierOptions {
  /**
   * Softmax temperature over zero-shot cosine similarities. Document-to-prompt cosines differ
   * by a few hundredths between labels, so confidences need a small temperature; 0.03
   * minimised the negative log-likelihood on BBC (0.02 and 0.05 were worse). Default 0.03.
   */
  readonly zeroShotTemperature?: number;
  /** Softmax temperature over document-to-prototype cosines. Default 0.05. */
  readonly fewShotTemperature?: number;
  /**
   * Examples per label at which examples and descriptions weigh the same: the few-shot weight
   * is n / (n + this), n the mean number of examples per labelled class. One example is a
   * noisy prototype, so it only nudges the descriptions; at 16 examples the prototypes lead.
   * 4 was best or within 0.005 of best at k = 1, 4 and 16 in all three BBC conditions; 1
   * lost up to 0.06 accuracy at k = 1. Default 4.
   */
  readonly exampleHalfWeight?: number;
  /**
   * Weight of the best-matching chunk against the whole-document mean when scoring against
   * label prompts. Measured: 0 was best on BBC (0.3 cost 0.002, 0.5 cost 0.006), so by
   * default a document is its mean vector. Default 0.
   */
  readonly maxChunkWeight?: number;
  /**
   * Added to a label's similarity when one of its keywords occurs in the text: a "CONFIDENTIAL"
   * stamp or an "INVOICE" heading is stronger evidence than the embedding shows. Default 0.08.
   */
  readonly keywordBonus?: number;
  /**
   * Name of the fallback type. When the label set has it, its similarity is raised to at least
   * {@link otherFloor}, so it wins whenever no other label reaches that similarity. Default `other`.
   */
  readonly otherLabel?: string;
  /**
   * The similarity every other label must beat to win over the fallback type. Every business
   * text of the smoke set scores at least 0.198 for its true type before keyword cues, while
   * half of the BBC news articles score below 0.13 for every business type; at 0.2 about 76%
   * of news articles and the gibberish and recipe texts fall back to `other` and no smoke
   * text does (0.25 would turn 89% of news to `other` but put business texts at risk).
   * Default 0.2.
   */
  readonly otherFloor?: number;
  /**
   * How similar a document is to the examples of a class it does not belong to, the few-shot
   * score of labels without examples when fewer than two labels have examples (with two or
   * more it is measured from the examples). Measured: 0.12 to 0.17 on BBC News, 0.22 on the
   * smoke set. Default 0.2.
   */
  readonly unrelatedSimilarity?: number;
  /** Label sets whose embeddings are kept. Default 32. */
  readonly cacheSize?: number;
}

/** A document as the classifier sees it: its chunk vectors, or one document vector. */
export type DocumentVectors = Float32Array | readonly Float32Array[];

/** A decision over one label set with every label's confidence, best first. */
export interface LabelDecision {
  readonly best: LabelScore;
  readonly scores: readonly LabelScore[];
  /** Whether labelled examples took part. */
  readonly usedExamples: boolean;
}

/** A classification with the full confidence distribution of both label sets. */
export interface ClassificationDetail {
  readonly classification: Classification;
  readonly types: readonly LabelScore[];
  readonly sensitivities: readonly LabelScore[];
}

/** Classifies documents with one embedder; label embeddings are cached per label set. */
export interface Classifier {
  /**
   * Classifies one document.
   * @param vectors the document's chunk vectors (L2-normalised, from the same embedder), or one document vector
   * @param texts the document's chunk or page texts, used for keyword cues; may be empty
   * @param settings label sets and labelled examples
   */
  classify(vectors: DocumentVectors, texts: readonly string[], settings: ClassifierSettings): Promise<Classification>;
  /** Like {@link classify}, with every label's confidence. */
  classifyDetailed(vectors: DocumentVectors, texts: readonly string[], settings: ClassifierSettings): Promise<ClassificationDetail>;
  /** Decides over one label set only (for evaluation and for label sets other than type and sensitivity). */
  decide(
    vectors: DocumentVectors,
    texts: readonly string[],
    labels: readonly LabelDefinition[],
    examples: readonly LabelledExample[],
  ): Promise<LabelDecision>;
}

const DEFAULTS = {
  zeroShotTemperature: 0.03,
  fewShotTemperature: 0.05,
  exampleHalfWeight: 4,
  maxChunkWeight: 0,
  keywordBonus: 0.08,
  otherLabel: OTHER_TYPE,
  otherFloor: 0.2,
  unrelatedSimilarity: 0.2,
  cacheSize: 32,
} satisfies Required<ClassifierOptions>;

/** Creates a classifier over `embedder`; see {@link ClassifierOptions} for the knobs. */
export function createClassifier(embedder: Embedder, options: ClassifierOptions = {}): Classifier {
  const opts = { ...DEFAULTS, ...options };
  const cache = new Map<string, Promise<Float32Array[]>>();

  // Keyed by content, not identity: settings arrive fresh from the bus on every job.
  function labelVectors(labels: readonly LabelDefinition[]): Promise<Float32Array[]> {
    const key = JSON.stringify(labels.map((l) => [l.name, l.description, l.prompts ?? []]));
    const hit = cache.get(key);
    if (hit) {
      cache.delete(key);
      cache.set(key, hit);
      return hit;
    }
    const pending = embedLabels(embedder, labels);
    cache.set(key, pending);
    pending.catch(() => cache.delete(key));
    while (cache.size > opts.cacheSize) {
      const oldest = cache.keys().next().value;
      if (oldest === undefined) break;
      cache.delete(oldest);
    }
    return pending;
  }

  async function decide(
    vectors: DocumentVectors,
    texts: readonly string[],
    labels: readonly LabelDefinition[],
    examples: readonly LabelledExample[],
  ): Promise<LabelDecision> {
    const chunks = asChunks(vectors, embedder.dimension);
    const prototypes = await labelVectors(labels);
    return scoreLabels({ chunks, text: texts.join('\n'), labels, prototypes, examples, options: opts });
  }

  async function classifyDetailed(
    vectors: DocumentVectors,
    texts: readonly string[],
    settings: ClassifierSettings,
  ): Promise<ClassificationDetail> {
    const [type, sensitivity] = await Promise.all([
      decide(vectors, texts, settings.types, settings.typeExamples),
      decide(vectors, texts, settings.sensitivities, settings.sensitivityExamples),
    ]);
    return {
      classification: {
        type: type.best,
        sensitivity: sensitivity.best,
        method: type.usedExamples || sensitivity.usedExamples ? 'few-shot' : 'zero-shot',
      },
      types: type.scores,
      sensitivities: sensitivity.scores,
    };
  }

  return {
    decide,
    classifyDetailed,
    async classify(vectors, texts, settings) {
      return (await classifyDetailed(vectors, texts, settings)).classification;
    },
  };
}

async function embedLabels(embedder: Embedder, labels: readonly LabelDefinition[]): Promise<Float32Array[]> {
  const phrasings = labels.map((l) => [l.description, ...(l.prompts ?? [])]);
  const flat = await embedder.embedDocuments(phrasings.flat());
  let at = 0;
  return phrasings.map((p) => {
    const vectors = flat.slice(at, at + p.length);
    at += p.length;
    return meanVector(vectors, embedder.dimension);
  });
}

/** The inputs of {@link scoreLabels}: everything is explicit so it can be evaluated offline. */
export interface ScoreInput {
  readonly chunks: readonly Float32Array[];
  readonly text: string;
  readonly labels: readonly LabelDefinition[];
  /** One vector per label, in label order (mean of description and prompt embeddings, normalised). */
  readonly prototypes: readonly Float32Array[];
  readonly examples: readonly LabelledExample[];
  readonly options: Required<ClassifierOptions>;
}

/** Scores a label set for one document; see the module comment for the method. */
export function scoreLabels(input: ScoreInput): LabelDecision {
  const { chunks, labels, prototypes, options } = input;
  const doc = meanVector(chunks, prototypes[0]?.length ?? 0);
  const text = input.text.toLowerCase();
  const otherIndex = labels.findIndex((l) => l.name === options.otherLabel);

  const zeroShot = labels.map((label, i) => {
    const proto = prototypes[i]!;
    let best = -1;
    for (const c of chunks) best = Math.max(best, dot(c, proto));
    let s = (1 - options.maxChunkWeight) * dot(doc, proto) + options.maxChunkWeight * best;
    if (label.keywords?.some((k) => containsPhrase(text, k))) s += options.keywordBonus;
    return s;
  });
  if (otherIndex >= 0) zeroShot[otherIndex] = Math.max(zeroShot[otherIndex]!, options.otherFloor);

  const byLabel = groupExamples(input.examples, labels, doc.length);
  let logits = zeroShot.map((s) => s / options.zeroShotTemperature);
  const labelled = [...byLabel.values()];
  if (labelled.length > 0) {
    const prototypesOf = new Map([...byLabel].map(([name, group]) => [name, meanVector(group, doc.length)]));
    // A label without examples is scored as if the document were as far from its examples as
    // from those of a class it does not belong to: the examples then add evidence only where
    // they are, and annotating a single label already moves decisions towards it.
    const unrelated = unrelatedSimilarity(byLabel, prototypesOf) ?? options.unrelatedSimilarity;
    const perClass = labelled.reduce((sum, g) => sum + g.length, 0) / labelled.length;
    const w = perClass / (perClass + options.exampleHalfWeight);
    logits = labels.map((label, i) => {
      const proto = prototypesOf.get(label.name);
      const shot = proto ? dot(doc, proto) : unrelated;
      return ((1 - w) * zeroShot[i]!) / options.zeroShotTemperature + (w * shot) / options.fewShotTemperature;
    });
  }

  const probs = softmax(logits);
  const scores = labels.map((l, i) => ({ label: l.name, confidence: probs[i]! })).sort((a, b) => b.confidence - a.confidence);
  return { best: scores[0]!, scores, usedExamples: labelled.length > 0 };
}

// Mean similarity of each example to the prototypes of the other labelled classes; needs two
// labelled classes.
function unrelatedSimilarity(
  byLabel: ReadonlyMap<string, Float32Array[]>,
  prototypes: ReadonlyMap<string, Float32Array>,
): number | undefined {
  if (byLabel.size < 2) return undefined;
  let sum = 0;
  let n = 0;
  for (const [name, group] of byLabel) {
    for (const [other, proto] of prototypes) {
      if (other === name) continue;
      for (const x of group) {
        sum += dot(x, proto);
        n += 1;
      }
    }
  }
  return sum / n;
}

function groupExamples(
  examples: readonly LabelledExample[],
  labels: readonly LabelDefinition[],
  dimension: number,
): Map<string, Float32Array[]> {
  const known = new Set(labels.map((l) => l.name));
  const out = new Map<string, Float32Array[]>();
  for (const e of examples) {
    // Examples of a label the team has since removed cannot vote, nor can vectors left from
    // another embedding model.
    if (!known.has(e.label) || e.vector.length !== dimension) continue;
    const v = normalise(Float32Array.from(e.vector));
    const group = out.get(e.label);
    if (group) group.push(v);
    else out.set(e.label, [v]);
  }
  return out;
}

function asChunks(vectors: DocumentVectors, dimension: number): readonly Float32Array[] {
  const chunks = vectors instanceof Float32Array ? [vectors] : vectors;
  if (chunks.length === 0) throw new RangeError('classify needs at least one vector');
  for (const c of chunks) {
    if (c.length !== dimension) throw new RangeError(`vector of length ${c.length}, the embedder's is ${dimension}`);
  }
  return chunks;
}

/** The normalised mean of `vectors` (a zero vector when there are none). */
export function meanVector(vectors: readonly Float32Array[], dimension: number): Float32Array {
  const out = new Float32Array(dimension);
  for (const v of vectors) for (let i = 0; i < dimension; i++) out[i]! += v[i] ?? 0;
  return normalise(out);
}

function normalise(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n);
  if (n > 0) for (let i = 0; i < v.length; i++) v[i]! /= n;
  return v;
}

/** Dot product: the cosine of two normalised vectors. */
export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * (b[i] ?? 0);
  return s;
}

function softmax(logits: readonly number[]): number[] {
  const max = Math.max(...logits);
  const exps = logits.map((x) => Math.exp(x - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

function containsPhrase(haystack: string, phrase: string): boolean {
  const escaped = phrase
    .toLowerCase()
    .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    .replace(/\s+/g, '\\s+');
  return new RegExp(`(?<![\\p{L}\\p{N}])${escaped}(?![\\p{L}\\p{N}])`, 'u').test(haystack);
}
