/**
 * Documents given as text, turned into what the classify stage receives when the pipeline
 * processes a plain-text upload: the extract stage's pages, the chunk stage's chunks and the
 * embed stage's vectors, with the same functions and defaults. Evaluations use it so that
 * they score what processing would classify, and so that a labelled example is the vector a
 * processed document would contribute.
 */
import type { Embedder } from '../engines/embedder.ts';
import type { LabelledExample } from '@quire/kernel';
import { chunkPages, type ChunkOptions } from '../stages/chunk.stage.ts';
import { meanVector } from '../stages/classify.stage.ts';
import { embedTexts, vectorToJson } from '../stages/embed.stage.ts';
import { extractPlainText } from '../stages/extract.stage.ts';

/** A text document as the classify stage sees it. */
export interface EmbeddedTextDocument {
  /** Chunk texts, for keyword cues (empty for a document without text). */
  readonly texts: readonly string[];
  /** One vector per chunk; a document without text has the empty text's vector, as in processing. */
  readonly vectors: readonly Float32Array[];
}

/** Options of {@link embedTextDocuments}; the defaults are the pipeline's. */
export interface EmbedTextDocumentsOptions {
  embedder: Embedder;
  /** Chunk sizes. Default 500 target, 1000 maximum characters. */
  chunk?: ChunkOptions;
  /** Longest page text kept. Default 100 000 characters. */
  maxPageChars?: number;
  /** Longest one embedding call should take. Default 250 ms. */
  batchBudgetMs?: number;
  /** Aborting it stops embedding at the next batch. */
  signal?: AbortSignal;
  /** Called after each embedding batch with the chunks done and the chunks in all. */
  onProgress?(done: number, total: number): void;
}

/** The chunk texts the pipeline cuts a plain-text document into. */
export function chunkText(text: string, options: { chunk?: ChunkOptions; maxPageChars?: number } = {}): string[] {
  const pages = extractPlainText(
    Buffer.from(text, 'utf8'),
    options.maxPageChars === undefined ? {} : { maxPageChars: options.maxPageChars },
  );
  // Plain text has no geometry: its chunks carry offsets only.
  return chunkPages(
    pages.map((page) => ({ ...page, words: [], wordOffsets: [] })),
    options.chunk,
  ).map((chunk) => chunk.text);
}

/**
 * Chunks and embeds many text documents in one stream of embedding batches, sized by time
 * as the embed stage sizes them, and returns each document's chunks and vectors in input order.
 */
export async function embedTextDocuments(
  documents: readonly string[],
  options: EmbedTextDocumentsOptions,
): Promise<EmbeddedTextDocument[]> {
  const chunked = documents.map((text) => chunkText(text, options));
  // A document without chunks is classified on the empty text's vector, as processing does.
  const inputs = chunked.flatMap((texts) => (texts.length > 0 ? texts : ['']));
  let done = 0;
  const vectors = await embedTexts(inputs, {
    embedder: options.embedder,
    signal: options.signal ?? new AbortController().signal,
    progress: {
      setTotal: () => {},
      advance: (count = 1) => {
        done += count;
        options.onProgress?.(done, inputs.length);
      },
    },
    ...(options.batchBudgetMs === undefined ? {} : { batchBudgetMs: options.batchBudgetMs }),
  });
  let at = 0;
  return chunked.map((texts) => {
    const n = Math.max(1, texts.length);
    const own = vectors.slice(at, at + n);
    at += n;
    return { texts, vectors: own };
  });
}

/**
 * A labelled example made of a processed document, as annotations feed the classifier: the
 * normalised mean of its chunk vectors, in the JSON form examples travel in.
 */
export function labelledExample(label: string, document: EmbeddedTextDocument, dimension: number): LabelledExample {
  return { label, vector: vectorToJson(meanVector(document.vectors, dimension)) };
}
