/**
 * The message protocol between the hub and processor nodes: jobs in, progress and results
 * out. Every message is validated at the boundary with these schemas; no single message
 * may exceed {@link MAX_MESSAGE_BYTES} (NATS's default max payload), so results travel as
 * a sequence of parts.
 */
import { z } from 'zod';

/** NATS's default max payload; every bus message stays below it. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

/** Pipeline stages, in order. */
export const Stage = {
  Detect: 'detect',
  Extract: 'extract',
  Ocr: 'ocr',
  Chunk: 'chunk',
  Embed: 'embed',
  Classify: 'classify',
  Fields: 'fields',
  Index: 'index',
} as const;
export type Stage = (typeof Stage)[keyof typeof Stage];

/** Lifecycle of a document. */
export const DocumentStatus = {
  Queued: 'queued',
  Processing: 'processing',
  Processed: 'processed',
  Failed: 'failed',
} as const;
export type DocumentStatus = (typeof DocumentStatus)[keyof typeof DocumentStatus];

/** Media types Quire accepts, as sniffed from the bytes. */
export const SupportedMime = {
  Pdf: 'application/pdf',
  Png: 'image/png',
  Jpeg: 'image/jpeg',
  Tiff: 'image/tiff',
  Text: 'text/plain',
  Markdown: 'text/markdown',
} as const;
export type SupportedMime = (typeof SupportedMime)[keyof typeof SupportedMime];

/** The media type a file name's extension claims (lower-case, with the dot). */
export const MIME_BY_EXTENSION: Readonly<Record<string, SupportedMime>> = Object.freeze({
  '.pdf': SupportedMime.Pdf,
  '.png': SupportedMime.Png,
  '.jpg': SupportedMime.Jpeg,
  '.jpeg': SupportedMime.Jpeg,
  '.tif': SupportedMime.Tiff,
  '.tiff': SupportedMime.Tiff,
  '.txt': SupportedMime.Text,
  '.text': SupportedMime.Text,
  '.md': SupportedMime.Markdown,
  '.markdown': SupportedMime.Markdown,
});

/** An axis-aligned box in page pixel coordinates of the page image (origin top-left). */
export const boxSchema = z.object({
  x: z.number(),
  y: z.number(),
  w: z.number(),
  h: z.number(),
});
export type Box = z.infer<typeof boxSchema>;

/** `document.process`: the only job a processor takes. */
export const processJobSchema = z.object({
  jobId: z.string().min(1),
  documentId: z.string().min(1),
  teamId: z.string().min(1),
  blobKey: z.string().min(1),
  mimeType: z.string().min(1),
  filename: z.string(),
  correlationId: z.string().min(1),
  /**
   * Key of the stored object holding the team's {@link ClassifierSettings} as JSON. Named by a
   * digest of its content ({@link classifierObjectKey}), so a node may cache it by key forever.
   */
  classifierKey: z.string().min(1),
});
export type ProcessJob = z.infer<typeof processJobSchema>;

/** Key of the stored object with a job's original file, when it travels through the bus. */
export function originalObjectKey(jobId: string): string {
  return `original-${jobId}`;
}

/**
 * Key of the stored object with the result parts of one delivery: the job's envelope id on the
 * bus (a job put on the bus again gets a new one) and the attempt.
 */
export function resultObjectKey(envelopeId: string, attempt: number): string {
  return `result-${envelopeId}-${attempt}`;
}

/** Key of a stored classifier settings object, from the hex digest of its JSON. */
export function classifierObjectKey(digestHex: string): string {
  return `classifier-${digestHex.slice(0, 48)}`;
}

/** `job.progressed`: a job's progress, sent at each stage change and at least every 500 ms. */
export const progressEventSchema = z.object({
  jobId: z.string(),
  documentId: z.string(),
  teamId: z.string(),
  stage: z.string(),
  done: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
  /** 0..100 over the whole job, not just the stage. */
  percent: z.number().min(0).max(100),
  /** Estimated milliseconds until the job is done; null while unknown. */
  etaMs: z.number().nonnegative().nullable(),
  at: z.number(),
  /** The processing node running the job (`hostname:pid`); absent from nodes that do not say. */
  node: z.string().min(1).optional(),
  /** Which delivery of the job this is, 1 on the first; absent from nodes that do not say. */
  attempt: z.number().int().positive().optional(),
});
export type ProgressEvent = z.infer<typeof progressEventSchema>;

/** A recognised or extracted word with its box and OCR confidence (0..100; 100 for text layers). */
export const wordSchema = z.object({ text: z.string(), box: boxSchema, confidence: z.number() });
export type Word = z.infer<typeof wordSchema>;

/** One page of a processed document. */
export const pageResultSchema = z.object({
  /** 1-based page number. */
  page: z.number().int().positive(),
  width: z.number(),
  height: z.number(),
  text: z.string(),
  /** `text-layer` for PDFs with text, `ocr` for scans and images, `plain` for text files. */
  source: z.enum(['text-layer', 'ocr', 'plain']),
  /** Mean word confidence (0..100). */
  confidence: z.number(),
  words: z.array(wordSchema),
});
export type PageResult = z.infer<typeof pageResultSchema>;

/** A paragraph-sized chunk with provenance and its embedding. */
export const chunkResultSchema = z.object({
  /** 0-based order within the document; with documentId it is the idempotency key. */
  ordinal: z.number().int().nonnegative(),
  page: z.number().int().positive(),
  text: z.string(),
  /** Character offsets of the chunk within its page's text. */
  start: z.number().int().nonnegative(),
  end: z.number().int().nonnegative(),
  boxes: z.array(boxSchema),
  vector: z.array(z.number()),
});
export type ChunkResult = z.infer<typeof chunkResultSchema>;

/** A label with its confidence (0..1). */
export const labelScoreSchema = z.object({ label: z.string(), confidence: z.number().min(0).max(1) });
export type LabelScore = z.infer<typeof labelScoreSchema>;

export const classificationSchema = z.object({
  type: labelScoreSchema,
  sensitivity: labelScoreSchema,
  /** How it was decided: labels' descriptions only, or with labelled examples. */
  method: z.enum(['zero-shot', 'few-shot']),
});
export type Classification = z.infer<typeof classificationSchema>;

/** An extracted field value with where it came from. */
export const fieldValueSchema = z.object({
  value: z.string(),
  page: z.number().int().positive(),
  box: boxSchema.nullable(),
  confidence: z.number().min(0).max(1),
});
export type FieldValue = z.infer<typeof fieldValueSchema>;

export const fieldsSchema = z.object({
  number: fieldValueSchema.optional(),
  date: fieldValueSchema.optional(),
  total: fieldValueSchema.optional(),
  currency: fieldValueSchema.optional(),
  counterparty: fieldValueSchema.optional(),
  /** For invoices and receipts: the purchase order the document refers to. */
  orderNumber: fieldValueSchema.optional(),
});
export type Fields = z.infer<typeof fieldsSchema>;

/** The model that produced the vectors; recorded in the index. */
export const modelInfoSchema = z.object({ modelId: z.string(), dimension: z.number().int().positive() });
export type ModelInfo = z.infer<typeof modelInfoSchema>;

/**
 * A result travels as parts: `pages` and `chunks` batches (each under the size limit),
 * then one `summary` that closes it. The hub writes parts idempotently.
 */
export const resultPartSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('pages'), jobId: z.string(), documentId: z.string(), teamId: z.string(), pages: z.array(pageResultSchema) }),
  z.object({
    kind: z.literal('chunks'),
    jobId: z.string(),
    documentId: z.string(),
    teamId: z.string(),
    chunks: z.array(chunkResultSchema),
  }),
  z.object({
    kind: z.literal('summary'),
    jobId: z.string(),
    documentId: z.string(),
    teamId: z.string(),
    pageCount: z.number().int().nonnegative(),
    chunkCount: z.number().int().nonnegative(),
    classification: classificationSchema,
    fields: fieldsSchema,
    model: modelInfoSchema,
    /** Per-stage wall time in milliseconds. */
    timings: z.record(z.string(), z.number()),
  }),
]);
export type ResultPart = z.infer<typeof resultPartSchema>;

/** A label a team can assign, with the description used for zero-shot classification. */
export const labelDefinitionSchema = z.object({
  name: z.string().min(1),
  /** What the label means, written for zero-shot matching against document embeddings. */
  description: z.string().min(1),
  /**
   * Further phrasings of the label (typical wording, headings, sample lines). Each is embedded
   * with the description and the label is represented by their mean, which is steadier than
   * any one sentence. Default: none.
   */
  prompts: z.array(z.string().min(1)).optional(),
  /**
   * Words or phrases whose presence in the text is strong evidence for the label (a
   * "CONFIDENTIAL" stamp, an "INVOICE" heading), matched case-insensitively as whole words.
   * Markings carry information that sentence embeddings blur. Default: none.
   */
  keywords: z.array(z.string().min(1)).optional(),
});
export type LabelDefinition = z.infer<typeof labelDefinitionSchema>;

/** A labelled example (an embedding with its label) that improves classification. */
export const labelledExampleSchema = z.object({ label: z.string(), vector: z.array(z.number()) });
export type LabelledExample = z.infer<typeof labelledExampleSchema>;

/** What a processor needs to classify: the label sets and any labelled examples. */
export const classifierSettingsSchema = z.object({
  types: z.array(labelDefinitionSchema).min(1),
  sensitivities: z.array(labelDefinitionSchema).min(1),
  typeExamples: z.array(labelledExampleSchema).default([]),
  sensitivityExamples: z.array(labelledExampleSchema).default([]),
});
export type ClassifierSettings = z.infer<typeof classifierSettingsSchema>;

const resultIds = {
  jobId: z.string().min(1),
  documentId: z.string().min(1),
  teamId: z.string().min(1),
  /** The delivery of the job that produced it, 1 on the first. */
  attempt: z.number().int().positive(),
  /** The node that ran it (`hostname:pid`). */
  node: z.string().min(1).max(256),
};

/**
 * `document.result`: what a processor node reports at the end of one delivery of a job, on a
 * durable queue any hub consumes. Result parts do not travel in it: a node stores them as one
 * object (JSON lines, one {@link ResultPart} per line, each under {@link MAX_MESSAGE_BYTES})
 * and names it here, so a hub applies them all, in order, in one step.
 *
 * - `succeeded`: every part is in `resultKey`.
 * - `failed`: the pipeline failed; `final` when no further delivery follows.
 * - `input-missing`: the original or the classifier settings object was not found (expired,
 *   or deleted with its document); the node ran nothing and the hub decides what follows.
 */
export const processResultSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('succeeded'),
    ...resultIds,
    resultKey: z.string().min(1),
    /** How many parts and bytes the result object holds; the hub checks both. */
    parts: z.number().int().positive(),
    bytes: z.number().int().positive(),
  }),
  z.object({
    status: z.literal('failed'),
    ...resultIds,
    code: z.string().min(1).max(64),
    message: z.string().max(2000),
    stage: z.string().max(32).nullable(),
    final: z.boolean(),
  }),
  z.object({ status: z.literal('input-missing'), ...resultIds, missing: z.enum(['original', 'classifier']) }),
]);
export type ProcessResult = z.infer<typeof processResultSchema>;
