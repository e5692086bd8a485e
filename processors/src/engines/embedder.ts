/**
 * The Embedder port: batch text embedding with one model. The model id and dimension are
 * recorded in the search index; a mismatch is refused there.
 */
export interface Embedder {
  /** Model id in Hugging Face form, e.g. `Xenova/all-MiniLM-L6-v2`. */
  readonly modelId: string;
  /** Length of every vector this embedder returns. */
  readonly dimension: number;
  /** Embeds passages (document chunks, label descriptions), L2-normalised, in input order. */
  embedDocuments(texts: readonly string[]): Promise<Float32Array[]>;
  /** Embeds a search query (models such as bge add their query instruction here). */
  embedQuery(text: string): Promise<Float32Array>;
  /** Releases the model session. */
  close(): Promise<void>;
}
