/**
 * The embed stage: chunk texts through the Embedder in batches, with progress after each
 * batch (its units are texts).
 *
 * The model runs synchronously on the calling thread, so one call blocks everything else
 * there, progress reports and cancellation included. Batches are therefore sized by time,
 * not by count: the first is small, and later ones hold as many texts as the measured rate
 * fits into `batchBudgetMs`.
 */
import type { Embedder } from '../engines/embedder.ts';
import { PipelineError, PipelineErrorCode } from '@quire/kernel';
import type { StageContext } from './stage.ts';

/** Options of {@link embedTexts}. */
export interface EmbedOptions extends StageContext {
  embedder: Embedder;
  /** Longest one embedding call should take. Default 250 ms. */
  batchBudgetMs?: number;
  /** Most texts per call, however fast the model is. Default 32. */
  maxBatchSize?: number;
}

/** Embeds `texts` in order; every vector has the embedder's dimension. */
export async function embedTexts(texts: readonly string[], options: EmbedOptions): Promise<Float32Array[]> {
  const { embedder, signal, progress } = options;
  const budget = options.batchBudgetMs ?? 250;
  const maxBatch = Math.max(1, options.maxBatchSize ?? 32);
  progress.setTotal(texts.length);
  const vectors: Float32Array[] = [];
  let msPerText: number | null = null;
  let next = 0;
  while (next < texts.length) {
    signal.throwIfAborted();
    const size = msPerText === null ? 2 : Math.max(1, Math.min(maxBatch, Math.floor(budget / msPerText)));
    const batch = texts.slice(next, next + size);
    const started = performance.now();
    let out: Float32Array[];
    try {
      out = await embedder.embedDocuments(batch);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw new PipelineError(PipelineErrorCode.EmbeddingFailed, `embedding failed: ${describe(error)}`, {
        stage: 'embed',
        retryable: true,
        cause: error,
      });
    }
    if (out.length !== batch.length || out.some((v) => v.length !== embedder.dimension)) {
      throw new PipelineError(
        PipelineErrorCode.EmbeddingFailed,
        `the embedder returned ${out.length} vectors for ${batch.length} texts, or vectors not of dimension ${embedder.dimension}`,
        { stage: 'embed' },
      );
    }
    const rate = (performance.now() - started) / batch.length;
    // Smoothed, so one slow call (a long text, a busy core) does not halve the next batch.
    msPerText = msPerText === null ? rate : 0.5 * msPerText + 0.5 * rate;
    vectors.push(...out);
    next += batch.length;
    progress.advance(batch.length);
  }
  return vectors;
}

/**
 * A vector as JSON-friendly numbers, each rounded to the 9 significant digits that
 * identify a float32 exactly: the same values, in about half the characters.
 */
export function vectorToJson(vector: Float32Array): number[] {
  return Array.from(vector, (v) => Number(v.toPrecision(9)));
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
