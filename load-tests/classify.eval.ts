/**
 * Classification accuracy of the classify stage, zero-shot and few-shot.
 *
 *   node --import tsx load-tests/classify.eval.ts <file.jsonl> [--models DIR] [--cache FILE]
 *        [--seed N] [--draws N] [--limit N]
 *
 * `<file.jsonl>` holds one `{"label", "text"}` object per line (the BBC News topic set, for
 * example). Articles are deduplicated by text, cut into chunks with the chunk stage and
 * embedded with the real model, so the classifier sees what the pipeline gives it.
 *
 * - zero-shot: the topic names with short descriptions written here, as ClassifierSettings.
 * - k-shot (k = 1, 4, 16): k labelled documents per class drawn with a fixed seed, excluded
 *   from scoring; repeated over several draws (`--draws`, default 5) and averaged, because
 *   one draw of one example per class is mostly luck.
 * - the smoke set (processors/src/stages/classify.fixtures.ts) with the default label sets,
 *   which the default descriptions were tuned on, and the fresh set, which they were not.
 * - how the default document-type set treats the articles: the share it calls `other`
 *   (news articles are not business documents, so this is how often the fallback fires on
 *   unrelated text) and the mean top confidence.
 *
 * Reports accuracy, macro-F1 and expected calibration error; the last line is JSON.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { TransformersEmbedder } from '../processors/src/engines/embedder.transformers.ts';
import type { LabelDefinition, LabelledExample } from '../processors/src/protocol.ts';
import { createClassifier, meanVector, type Classifier } from '../processors/src/stages/classify.stage.ts';
import { SENSITIVITY_SMOKE_SET, TYPE_FRESH_SET, TYPE_SMOKE_SET } from '../processors/src/stages/classify.fixtures.ts';
import { pageSpans } from '../processors/src/stages/chunk.stage.ts';
import { DEFAULT_DOCUMENT_TYPES, DEFAULT_SENSITIVITIES, OTHER_TYPE } from '../processors/src/stages/labels.ts';

const MODEL_ID = 'Xenova/all-MiniLM-L6-v2';

/** Zero-shot labels for the five BBC topics. */
export const BBC_TOPICS: readonly LabelDefinition[] = [
  {
    name: 'business',
    description: 'Business and economy news: companies, profits, shares and markets, trade, banks, interest rates and the economy.',
  },
  {
    name: 'entertainment',
    description: 'Entertainment news: films and cinema, music and bands, television shows, actors, celebrities, awards and the box office.',
  },
  {
    name: 'politics',
    description: 'Political news: the government, elections, parliament, political parties, ministers and public policy.',
  },
  {
    name: 'sport',
    description: 'Sports news: football, rugby, tennis, athletics and cricket; matches, players, coaches and championships.',
  },
  {
    name: 'tech',
    description: 'Technology news: computers, the internet, software, mobile phones, video games, gadgets and digital services.',
  },
];

/** Fraction of predictions equal to the truth. */
export function accuracy(truth: readonly string[], predicted: readonly string[]): number {
  if (truth.length === 0) return 0;
  let hits = 0;
  truth.forEach((t, i) => {
    if (predicted[i] === t) hits += 1;
  });
  return hits / truth.length;
}

/** Unweighted mean over `labels` of per-class F1 (a class never predicted nor present scores 0). */
export function macroF1(truth: readonly string[], predicted: readonly string[], labels: readonly string[]): number {
  let sum = 0;
  for (const label of labels) {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    truth.forEach((t, i) => {
      const p = predicted[i];
      if (p === label && t === label) tp += 1;
      else if (p === label) fp += 1;
      else if (t === label) fn += 1;
    });
    sum += tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
  }
  return labels.length === 0 ? 0 : sum / labels.length;
}

/** Expected calibration error over ten equal-width confidence bins. */
export function expectedCalibrationError(confidences: readonly number[], correct: readonly boolean[]): number {
  const bins = Array.from({ length: 10 }, () => ({ n: 0, conf: 0, hits: 0 }));
  confidences.forEach((c, i) => {
    const b = bins[Math.min(9, Math.floor(c * 10))]!;
    b.n += 1;
    b.conf += c;
    b.hits += correct[i] ? 1 : 0;
  });
  const n = confidences.length;
  return bins.reduce((e, b) => (b.n === 0 ? e : e + (b.n / n) * Math.abs(b.conf / b.n - b.hits / b.n)), 0);
}

/** A small seeded generator (mulberry32), so draws of examples repeat exactly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Article {
  readonly label: string;
  readonly text: string;
  chunks: Float32Array[];
  vector: Float32Array;
}

function readArticles(file: string, limit: number | undefined): Article[] {
  const seen = new Set<string>();
  const out: Article[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const row = JSON.parse(line) as { label?: unknown; text?: unknown };
    if (typeof row.label !== 'string' || typeof row.text !== 'string') continue;
    // The BBC set carries exact duplicates; a duplicate of a labelled example would leak.
    const key = row.text.replace(/\s+/g, ' ').trim();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ label: row.label, text: row.text, chunks: [], vector: new Float32Array(0) });
  }
  return limit ? out.slice(0, limit) : out;
}

async function embedArticles(articles: Article[], embedder: TransformersEmbedder, cacheFile: string | undefined): Promise<void> {
  const texts: string[] = [];
  const owners: number[] = [];
  articles.forEach((a, i) => {
    for (const s of pageSpans(a.text, 500, 1000)) {
      texts.push(a.text.slice(s.start, s.end));
      owners.push(i);
    }
  });
  const key = createHash('sha256').update(MODEL_ID).update('\u0000').update(texts.join('\u0000')).digest('hex');
  let vectors: Float32Array[] | undefined;
  if (cacheFile && existsSync(cacheFile) && existsSync(`${cacheFile}.key`) && readFileSync(`${cacheFile}.key`, 'utf8') === key) {
    const buf = readFileSync(cacheFile);
    const flat = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    vectors = texts.map((_, i) => flat.slice(i * embedder.dimension, (i + 1) * embedder.dimension));
  } else {
    const started = Date.now();
    vectors = await embedder.embedDocuments(texts);
    console.log(`embedded ${texts.length} chunks in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (cacheFile) {
      const flat = new Float32Array(vectors.length * embedder.dimension);
      vectors.forEach((v, i) => flat.set(v, i * embedder.dimension));
      writeFileSync(cacheFile, Buffer.from(flat.buffer));
      writeFileSync(`${cacheFile}.key`, key);
    }
  }
  vectors.forEach((v, i) => articles[owners[i]!]!.chunks.push(v));
  for (const a of articles) a.vector = meanVector(a.chunks, embedder.dimension);
}

interface Scores {
  accuracy: number;
  macroF1: number;
  ece: number;
}

async function evaluate(
  classifier: Classifier,
  articles: readonly Article[],
  labels: readonly LabelDefinition[],
  examples: readonly LabelledExample[],
): Promise<Scores> {
  const truth: string[] = [];
  const predicted: string[] = [];
  const confidences: number[] = [];
  for (const a of articles) {
    const d = await classifier.decide(a.chunks, [a.text], labels, examples);
    truth.push(a.label);
    predicted.push(d.best.label);
    confidences.push(d.best.confidence);
  }
  return {
    accuracy: accuracy(truth, predicted),
    macroF1: macroF1(
      truth,
      predicted,
      labels.map((l) => l.name),
    ),
    ece: expectedCalibrationError(
      confidences,
      truth.map((t, i) => t === predicted[i]),
    ),
  };
}

function drawExamples(articles: readonly Article[], labels: readonly string[], k: number, random: () => number): Set<number> {
  const chosen = new Set<number>();
  for (const label of labels) {
    const pool = articles.map((a, i) => (a.label === label ? i : -1)).filter((i) => i >= 0);
    for (let j = 0; j < k && pool.length > 0; j++) chosen.add(pool.splice(Math.floor(random() * pool.length), 1)[0]!);
  }
  return chosen;
}

const round = (x: number) => Math.round(x * 10000) / 10000;
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
const sd = (xs: readonly number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      models: { type: 'string', default: '.models' },
      cache: { type: 'string' },
      seed: { type: 'string', default: '20240601' },
      draws: { type: 'string', default: '5' },
      limit: { type: 'string' },
    },
  });
  const file = positionals[0];
  if (!file) {
    console.error(
      'usage: node --import tsx load-tests/classify.eval.ts <file.jsonl> [--models DIR] [--cache FILE] [--seed N] [--draws N] [--limit N]',
    );
    process.exit(2);
  }
  const embedder = await TransformersEmbedder.load({ modelsDir: values.models, modelId: MODEL_ID });
  const classifier = createClassifier(embedder);
  const articles = readArticles(file, values.limit ? Number(values.limit) : undefined);
  await embedArticles(articles, embedder, values.cache);
  const labels = [...new Set(articles.map((a) => a.label))].sort();
  const topics = BBC_TOPICS.filter((t) => labels.includes(t.name));
  if (topics.length !== labels.length)
    throw new Error(`no description for labels: ${labels.filter((l) => !topics.some((t) => t.name === l)).join(', ')}`);

  const zeroShot = await evaluate(classifier, articles, topics, []);
  console.log(`zero-shot    acc ${zeroShot.accuracy.toFixed(4)}  macro-F1 ${zeroShot.macroF1.toFixed(4)}  ECE ${zeroShot.ece.toFixed(4)}`);

  const kShot: Record<string, { accuracy: number; accuracySd: number; macroF1: number; macroF1Sd: number; ece: number }> = {};
  const seed = Number(values.seed);
  for (const k of [1, 4, 16]) {
    const runs: Scores[] = [];
    for (let draw = 0; draw < Number(values.draws); draw++) {
      const chosen = drawExamples(articles, labels, k, seededRandom(seed + 7919 * draw + k));
      const examples = [...chosen].map((i) => ({ label: articles[i]!.label, vector: Array.from(articles[i]!.vector) }));
      runs.push(
        await evaluate(
          classifier,
          articles.filter((_, i) => !chosen.has(i)),
          topics,
          examples,
        ),
      );
    }
    kShot[k] = {
      accuracy: round(mean(runs.map((r) => r.accuracy))),
      accuracySd: round(sd(runs.map((r) => r.accuracy))),
      macroF1: round(mean(runs.map((r) => r.macroF1))),
      macroF1Sd: round(sd(runs.map((r) => r.macroF1))),
      ece: round(mean(runs.map((r) => r.ece))),
    };
    const s = kShot[k];
    console.log(
      `k=${String(k).padEnd(2)} shot    acc ${s.accuracy.toFixed(4)} ±${s.accuracySd.toFixed(4)}  macro-F1 ${s.macroF1.toFixed(4)} ±${s.macroF1Sd.toFixed(4)}  ECE ${s.ece.toFixed(4)}`,
    );
  }

  // The default document types on news articles: how often the fallback fires on text that
  // is not a business document.
  const typeCounts: Record<string, number> = {};
  const topConfidences: number[] = [];
  for (const a of articles) {
    const d = await classifier.decide(a.chunks, [a.text], DEFAULT_DOCUMENT_TYPES, []);
    typeCounts[d.best.label] = (typeCounts[d.best.label] ?? 0) + 1;
    topConfidences.push(d.best.confidence);
  }
  const newsAsOther = (typeCounts[OTHER_TYPE] ?? 0) / articles.length;
  console.log(`default types on these articles: ${JSON.stringify(typeCounts)}`);

  const smoke = async (set: typeof TYPE_SMOKE_SET, labelSet: readonly LabelDefinition[]) => {
    const predicted: string[] = [];
    for (const ex of set) {
      const [vector] = await embedder.embedDocuments([ex.text]);
      predicted.push((await classifier.decide([vector!], [ex.text], labelSet, [])).best.label);
    }
    set.forEach((ex, i) => {
      if (predicted[i] !== ex.label)
        console.log(`smoke miss: ${ex.label} → ${predicted[i]}: ${ex.text.slice(0, 50).replace(/\s+/g, ' ')}…`);
    });
    return accuracy(
      set.map((e) => e.label),
      predicted,
    );
  };
  const smokeTypes = await smoke(TYPE_SMOKE_SET, DEFAULT_DOCUMENT_TYPES);
  const smokeSensitivity = await smoke(SENSITIVITY_SMOKE_SET, DEFAULT_SENSITIVITIES);
  const freshTypes = await smoke(TYPE_FRESH_SET, DEFAULT_DOCUMENT_TYPES);
  console.log(
    `smoke set    types ${smokeTypes.toFixed(4)} (${TYPE_SMOKE_SET.length})  sensitivity ${smokeSensitivity.toFixed(4)} (${SENSITIVITY_SMOKE_SET.length})  fresh types ${freshTypes.toFixed(4)} (${TYPE_FRESH_SET.length})`,
  );
  await embedder.close();

  console.log(
    JSON.stringify({
      file: file.split(/[\\/]/).slice(-1)[0],
      model: MODEL_ID,
      documents: articles.length,
      classes: labels.length,
      zeroShot: { accuracy: round(zeroShot.accuracy), macroF1: round(zeroShot.macroF1), ece: round(zeroShot.ece) },
      kShot,
      draws: Number(values.draws),
      seed,
      defaultTypesOnArticles: { other: round(newsAsOther), meanTopConfidence: round(mean(topConfidences)) },
      smoke: { typeAccuracy: round(smokeTypes), sensitivityAccuracy: round(smokeSensitivity), freshTypeAccuracy: round(freshTypes) },
    }),
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
