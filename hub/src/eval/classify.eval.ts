/**
 * `quire eval classify <file.jsonl>`: how well the classifier sorts documents into a team's
 * own labels, zero-shot (label names and descriptions only) and k-shot (k labelled
 * documents per class, the way annotations teach it), with accuracy and macro-F1.
 *
 * Documents go through the product's code paths: plain-text extraction, the chunk stage and
 * the embed stage with the configured model (MODELS_DIR, EMBEDDING_MODEL), then the
 * classifier processing uses, given the label set and the examples as ClassifierSettings.
 * Each document is embedded once; every row reuses its vectors.
 *
 * Examples are drawn per class with a fixed seed as nested sets (the one example of k = 1 is
 * among the four of k = 4, which are among the sixteen of k = 16), and the documents of the
 * largest set are left out of scoring for every row, so all rows score the same documents.
 * With `--train` the examples come from that file and the whole input is scored.
 *
 * Exact duplicate documents (same text once whitespace is collapsed) are scored once, and a
 * document that is also a training example is not scored, so no example leaks into the
 * scores.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ValidationError, labelDefinitionSchema, type ClassifierSettings, type LabelDefinition } from '@quire/kernel';
import {
  DEFAULT_SENSITIVITIES,
  ModelUnavailableError,
  ModelVerificationError,
  TransformersEmbedder,
  createClassifier,
} from '@quire/processors';
import {
  embedTextDocuments,
  expectedCalibrationError,
  labelledExample,
  scoreClassification,
  seededRandom,
  shuffled,
  type ClassScores,
} from '@quire/processors/eval';
import type { EvalContext } from './eval.command.ts';
import { formatTable, jsonLine } from './report.ts';

const DEFAULT_K = [1, 4, 16];
const DEFAULT_SEED = 20240601;

export const CLASSIFY_EVAL_USAGE = `Usage: quire eval classify <file.jsonl> [options]

Accuracy and macro-F1 of the classifier on labelled documents, zero-shot and with k
labelled examples per class. <file.jsonl> holds one JSON object per line:
  {"label": "sport", "text": "…", "id": "optional", "title": "optional"}
The labels are the distinct labels of the file.

Options:
  --k LIST        examples per class for the k-shot rows, comma-separated (default ${DEFAULT_K.join(',')}).
                  Drawn from the file and left out of scoring, unless --train is given.
  --seed N        seed of the example draw and of --limit (default ${DEFAULT_SEED})
  --limit N       score at most N documents, a sample stratified by class
  --train FILE    draw the examples from this JSON Lines file instead; the whole input is scored
  --labels FILE   label definitions: a JSON array of {name, description, prompts?, keywords?}
                  (default: each label's name as a short description); a label named
                  "other" is the fallback type, as in processing
  -h, --help      show this text

Prints a table, progress on stderr, and a last line of JSON holding every figure.`;

/** One labelled document of an input file. */
interface LabelledDocument {
  readonly label: string;
  readonly text: string;
  /** The row's id, or `line N` when it has none. */
  readonly id: string;
}

/** The figures of one row of the table. */
interface RowResult {
  mode: 'zero-shot' | 'k-shot';
  k: number;
  /** Labelled examples given to the classifier. */
  examples: number;
  scored: number;
  accuracy: number;
  macroF1: number;
  macroPrecision: number;
  macroRecall: number;
  /** Expected calibration error of the top label's confidence. */
  ece: number;
  perClass: Record<string, ClassScores>;
  classifySeconds: number;
}

export async function runClassifyEval(argv: string[], ctx: EvalContext): Promise<number> {
  let values: { k?: string; seed?: string; limit?: string; train?: string; labels?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        k: { type: 'string' },
        seed: { type: 'string' },
        limit: { type: 'string' },
        train: { type: 'string' },
        labels: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${CLASSIFY_EVAL_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${CLASSIFY_EVAL_USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) {
    process.stderr.write(`${positionals.length === 0 ? 'Missing' : 'One'} input file expected.\n\n${CLASSIFY_EVAL_USAGE}\n`);
    return 2;
  }
  try {
    return await evaluate(positionals[0]!, values, ctx);
  } catch (err) {
    if (err instanceof ValidationError) {
      process.stderr.write(`quire eval classify: ${err.message}\n`);
      return 2;
    }
    if (err instanceof ModelUnavailableError || err instanceof ModelVerificationError) {
      process.stderr.write(`quire eval classify: ${err.message}\nRun \`quire models\` to obtain and verify the models.\n`);
      return 1;
    }
    throw err;
  }
}

async function evaluate(
  file: string,
  options: { k?: string; seed?: string; limit?: string; train?: string; labels?: string },
  ctx: EvalContext,
): Promise<number> {
  const ks = parseKs(options.k);
  const kMax = Math.max(...ks);
  const seed = options.seed === undefined ? DEFAULT_SEED : parseInteger('--seed', options.seed, 0);
  const limit = options.limit === undefined ? undefined : parseInteger('--limit', options.limit, 1);

  // Everything that can be wrong with the input is found before the model loads.
  const input = deduplicate(readLabelledFile(file));
  const train = options.train === undefined ? undefined : deduplicate(readLabelledFile(options.train));
  let pool = input.documents;
  let overlapWithTrain = 0;
  if (train) {
    const trainTexts = new Set(train.documents.map((d) => normaliseText(d.text)));
    pool = input.documents.filter((d) => !trainTexts.has(normaliseText(d.text)));
    overlapWithTrain = input.documents.length - pool.length;
    if (pool.length === 0) throw new ValidationError(`every document of ${file} is also in ${options.train}: nothing left to score`);
  }
  const labels = [...new Set([...input.documents, ...(train?.documents ?? [])].map((d) => d.label))].sort();
  const definitions = options.labels === undefined ? labels.map(defaultLabel) : readLabelDefinitions(options.labels, labels);

  // One generator, consumed in a fixed order, makes the whole draw repeatable from the seed.
  const random = seededRandom(seed);
  const examplesByClass = new Map<string, LabelledDocument[]>();
  const scoredByClass = new Map<string, LabelledDocument[]>();
  for (const label of labels) {
    const own = shuffled(
      pool.filter((d) => d.label === label),
      random,
    );
    if (train) {
      const available = shuffled(
        train.documents.filter((d) => d.label === label),
        random,
      );
      if (available.length < kMax) {
        throw new ValidationError(
          `class ${JSON.stringify(label)} has ${count(available.length, 'document')} in ${options.train}; k = ${kMax} needs at least ${kMax}`,
        );
      }
      examplesByClass.set(label, available.slice(0, kMax));
      scoredByClass.set(label, own);
    } else {
      if (own.length < kMax + 1) {
        throw new ValidationError(
          `class ${JSON.stringify(label)} has ${count(own.length, 'document')}; k = ${kMax} needs at least ${kMax + 1} (${count(kMax, 'example')} and one to score)`,
        );
      }
      examplesByClass.set(label, own.slice(0, kMax));
      scoredByClass.set(label, own.slice(kMax));
    }
  }
  const scored = stratifiedSample(scoredByClass, limit);
  const exampleDocs = labels.flatMap((l) => examplesByClass.get(l)!);

  const { config } = ctx;
  progress(`loading ${config.models.embeddingModel}`);
  const embedder = await TransformersEmbedder.load({
    modelsDir: config.models.dir,
    modelId: config.models.embeddingModel,
  });
  try {
    const all = [...exampleDocs, ...scored];
    progress(`embedding ${all.length} documents (${exampleDocs.length} examples, ${scored.length} to score)`);
    const started = performance.now();
    let lastReport = started;
    const embedded = await embedTextDocuments(
      all.map((d) => d.text),
      {
        embedder,
        onProgress: (done, total) => {
          const now = performance.now();
          if (now - lastReport < 15_000 && done < total) return;
          lastReport = now;
          const rate = done / ((now - started) / 1000);
          progress(
            `  ${done}/${total} chunks, ${rate.toFixed(1)} chunks/s${done < total ? `, about ${Math.ceil((total - done) / rate)} s left` : ''}`,
          );
        },
      },
    );
    const embedSeconds = (performance.now() - started) / 1000;
    const chunkCount = embedded.reduce((n, d) => n + d.vectors.length, 0);
    const exampleVectors = new Map(exampleDocs.map((d, i) => [d, embedded[i]!]));
    const scoredVectors = embedded.slice(exampleDocs.length);

    const classifier = createClassifier(embedder);
    const truth = scored.map((d) => d.label);
    const rows: RowResult[] = [];
    for (const k of [0, ...ks]) {
      const examples = k === 0 ? [] : labels.flatMap((l) => examplesByClass.get(l)!.slice(0, k));
      // The same settings processing receives: the team's type labels with its annotated
      // examples; the sensitivity set is the default and not scored here.
      const settings: ClassifierSettings = {
        types: definitions,
        sensitivities: [...DEFAULT_SENSITIVITIES],
        typeExamples: examples.map((d) => labelledExample(d.label, exampleVectors.get(d)!, embedder.dimension)),
        sensitivityExamples: [],
      };
      const t0 = performance.now();
      const predicted: string[] = [];
      const confidences: number[] = [];
      for (const doc of scoredVectors) {
        const { type } = await classifier.classify(doc.vectors, doc.texts, settings);
        predicted.push(type.label);
        confidences.push(type.confidence);
      }
      const scores = scoreClassification(truth, predicted);
      rows.push({
        mode: k === 0 ? 'zero-shot' : 'k-shot',
        k,
        examples: examples.length,
        scored: scores.n,
        accuracy: scores.accuracy,
        macroF1: scores.macroF1,
        macroPrecision: scores.macroPrecision,
        macroRecall: scores.macroRecall,
        ece: expectedCalibrationError(
          confidences,
          predicted.map((p, i) => p === truth[i]),
        ),
        perClass: { ...scores.perClass },
        classifySeconds: (performance.now() - t0) / 1000,
      });
      progress(`${k === 0 ? 'zero-shot' : `k = ${k}`}: accuracy ${scores.accuracy.toFixed(4)}, macro-F1 ${scores.macroF1.toFixed(4)}`);
    }

    const docsPerSecond = all.length / embedSeconds;
    const out: string[] = [];
    out.push(
      `${basename(file)}: ${labels.length} classes, ${scored.length} documents scored${train ? `, examples from ${basename(options.train!)}` : ''}; ${embedder.modelId} (${embedder.dtype})`,
      '',
      formatTable(
        ['mode', 'k', 'scored', 'accuracy', 'macro-F1', 'ECE'],
        rows.map((r) => [r.mode, r.k, r.scored, r.accuracy, r.macroF1, r.ece]),
      ),
      '',
      'F1 per class',
      formatTable(
        ['class', 'support', ...rows.map((r) => (r.k === 0 ? 'zero-shot' : `k=${r.k}`))],
        perClassLabels(rows).map((label) => [
          label,
          rows[0]!.perClass[label]?.support ?? 0,
          ...rows.map((r) => r.perClass[label]?.f1 ?? 0),
        ]),
      ),
      '',
      `embedding: ${all.length} documents, ${chunkCount} chunks in ${embedSeconds.toFixed(1)} s (${docsPerSecond.toFixed(1)} docs/s, ${(chunkCount / embedSeconds).toFixed(1)} chunks/s)`,
      jsonLine('eval.classify', {
        file: basename(file),
        train: options.train === undefined ? null : basename(options.train),
        model: { id: embedder.modelId, dimension: embedder.dimension, dtype: embedder.dtype },
        seed,
        limit: limit ?? null,
        ks,
        labels,
        labelDefinitions: options.labels === undefined ? 'names' : basename(options.labels),
        documents: {
          lines: input.lines,
          duplicates: input.duplicates,
          conflictingDuplicates: input.conflicting,
          overlapWithTrain,
          examples: exampleDocs.length,
          scored: scored.length,
          scoredPerClass: Object.fromEntries(labels.map((l) => [l, scored.filter((d) => d.label === l).length])),
        },
        exampleIds: Object.fromEntries(labels.map((l) => [l, examplesByClass.get(l)!.map((d) => d.id)])),
        embedding: {
          documents: all.length,
          chunks: chunkCount,
          seconds: embedSeconds,
          docsPerSecond,
          chunksPerSecond: chunkCount / embedSeconds,
        },
        rows,
      }),
    );
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  } finally {
    await embedder.close();
  }
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Labels in any row's per-class figures: the truth, and any label predicted without being true. */
function perClassLabels(rows: readonly RowResult[]): string[] {
  return [...new Set(rows.flatMap((r) => Object.keys(r.perClass)))].sort();
}

function parseKs(raw: string | undefined): number[] {
  if (raw === undefined) return DEFAULT_K;
  const ks = raw.split(',').map((s) => s.trim());
  if (ks.length === 0 || ks.some((s) => !/^\d+$/.test(s) || Number(s) < 1)) {
    throw new ValidationError(`--k takes positive whole numbers separated by commas, e.g. 1,4,16 (got ${JSON.stringify(raw)})`);
  }
  return [...new Set(ks.map(Number))].sort((a, b) => a - b);
}

function parseInteger(option: string, raw: string, min: number): number {
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < min)
    throw new ValidationError(`${option} takes a whole number of at least ${min} (got ${JSON.stringify(raw)})`);
  return Number(raw);
}

const rowSchema = z.object({
  label: z.string().trim().min(1),
  text: z.string(),
  id: z.union([z.string(), z.number()]).optional(),
  title: z.string().optional(),
});

/** Reads a JSON Lines file of labelled documents; any unreadable line stops it, naming the line. */
function readLabelledFile(file: string): LabelledDocument[] {
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : err instanceof Error ? err.message : String(err);
    throw new ValidationError(`cannot read ${file}: ${reason}`, { cause: err });
  }
  const documents: LabelledDocument[] = [];
  content.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${file} line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new ValidationError(`${where}: not valid JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
    const row = rowSchema.safeParse(value);
    if (!row.success) {
      const fields = [...new Set(row.error.issues.map((issue) => String(issue.path[0] ?? 'object')))].join(', ');
      throw new ValidationError(`${where}: needs an object with a string "label" and "text" (bad: ${fields})`);
    }
    const { label, text, id, title } = row.data;
    // A title that the text does not already open with is part of the document as uploaded.
    const full = title && !text.trimStart().startsWith(title.trim()) ? `${title}\n\n${text}` : text;
    documents.push({ label, text: full, id: id === undefined ? `line ${i + 1}` : String(id) });
  });
  if (documents.length === 0) throw new ValidationError(`${file} holds no documents`);
  return documents;
}

function normaliseText(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Keeps the first of documents with the same text; counts the copies and those labelled differently. */
function deduplicate(documents: readonly LabelledDocument[]): {
  documents: LabelledDocument[];
  lines: number;
  duplicates: number;
  conflicting: number;
} {
  const seen = new Map<string, string>();
  const kept: LabelledDocument[] = [];
  let conflicting = 0;
  for (const d of documents) {
    const key = normaliseText(d.text);
    const label = seen.get(key);
    if (label === undefined) {
      seen.set(key, d.label);
      kept.push(d);
    } else if (label !== d.label) conflicting += 1;
  }
  return { documents: kept, lines: documents.length, duplicates: documents.length - kept.length, conflicting };
}

/** A label known by its name only: the name in words serves as its description. */
function defaultLabel(name: string): LabelDefinition {
  const words = name.replace(/[_\-./]+/g, ' ').trim();
  return { name, description: `A document about ${words}.` };
}

function readLabelDefinitions(file: string, labels: readonly string[]): LabelDefinition[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ValidationError(`cannot read the label definitions in ${file}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  const result = z.array(labelDefinitionSchema).min(1).safeParse(parsed);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => `${issue.path.join('.') || 'root'}: ${issue.message}`).join('; ');
    throw new ValidationError(`${file} must be a JSON array of {name, description, prompts?, keywords?} (${issues})`);
  }
  const names = new Set(result.data.map((d) => d.name));
  if (names.size !== result.data.length) throw new ValidationError(`${file} defines a label more than once`);
  const missing = labels.filter((l) => !names.has(l));
  if (missing.length > 0) throw new ValidationError(`${file} has no definition for ${missing.map((l) => JSON.stringify(l)).join(', ')}`);
  // Definitions beyond the data's labels stay: they are labels the classifier may choose.
  return result.data;
}

/**
 * Up to `limit` documents, each class represented in proportion to its share (largest
 * remainders get the leftover places); every class keeps its drawn order. No limit: all.
 */
function stratifiedSample(byClass: ReadonlyMap<string, LabelledDocument[]>, limit: number | undefined): LabelledDocument[] {
  const total = [...byClass.values()].reduce((n, docs) => n + docs.length, 0);
  const quotas = new Map<string, number>();
  if (limit === undefined || limit >= total) for (const [label, docs] of byClass) quotas.set(label, docs.length);
  else {
    const shares = [...byClass].map(([label, docs]) => ({ label, exact: (limit * docs.length) / total }));
    for (const s of shares) quotas.set(s.label, Math.floor(s.exact));
    let left = limit - shares.reduce((n, s) => n + Math.floor(s.exact), 0);
    for (const s of [...shares].sort((a, b) => b.exact - Math.floor(b.exact) - (a.exact - Math.floor(a.exact)))) {
      if (left === 0) break;
      quotas.set(s.label, quotas.get(s.label)! + 1);
      left -= 1;
    }
  }
  return [...byClass].flatMap(([label, docs]) => docs.slice(0, quotas.get(label)));
}
