/**
 * The indexer: writes a processor's result parts into the Store and the SearchIndex.
 * Idempotent: parts are keyed by document + page or chunk ordinal, so a redelivered or
 * re-run job replaces what an earlier attempt wrote, and the summary trims leftovers.
 */
import { MismatchError, UnreachableCaseError, type ResultPart } from '@quire/kernel';
import type { ChunkRecord, SearchIndex } from '@quire/search';
import { effectiveLabels, type ChunkRow, type DocumentRecord, type Store, type TeamScope } from '../store/store.ts';

export class IndexerService {
  constructor(private readonly deps: { store: Store; index: SearchIndex; model: { modelId: string; dimension: number } }) {}

  /** Applies one result part of `doc`'s current job. */
  async apply(scope: TeamScope, doc: DocumentRecord, part: ResultPart): Promise<void> {
    const { store, index } = this.deps;
    switch (part.kind) {
      case 'pages':
        await store.upsertPages(scope, doc.id, part.pages);
        return;
      case 'chunks': {
        for (const c of part.chunks) {
          if (c.vector.length !== this.deps.model.dimension) {
            throw new MismatchError(
              'EMBEDDING_DIMENSION_MISMATCH',
              `Chunk vector has ${c.vector.length} dimensions, the index expects ${this.deps.model.dimension}`,
            );
          }
        }
        await store.upsertChunks(scope, doc.id, part.chunks);
        await index.upsertChunks(
          scope,
          indexEntries(doc, part.chunks, (c) => Float32Array.from(c.vector)),
        );
        return;
      }
      case 'summary': {
        if (part.model.modelId !== this.deps.model.modelId || part.model.dimension !== this.deps.model.dimension) {
          throw new MismatchError(
            'EMBEDDING_MODEL_MISMATCH',
            `The processor embedded with ${part.model.modelId} (${part.model.dimension}d) but the index holds ${this.deps.model.modelId} (${this.deps.model.dimension}d)`,
          );
        }
        await store.trimDocument(scope, doc.id, part.pageCount, part.chunkCount);
        await index.truncateDocument(scope, doc.id, part.chunkCount);
        // People's labels stay in force over the new classification.
        const labelOverrides = (await store.getDocument(scope, doc.id))?.labelOverrides ?? doc.labelOverrides;
        await index.updateFilters(scope, doc.id, effectiveLabels({ classification: part.classification, labelOverrides }));
        // The document becomes `processed` through the lifecycle, once matches are proposed.
        await store.updateDocument(scope, doc.id, {
          pageCount: part.pageCount,
          chunkCount: part.chunkCount,
          classification: part.classification,
          fields: part.fields,
          modelId: part.model.modelId,
        });
        return;
      }
      default:
        throw new UnreachableCaseError(part);
    }
  }

  /**
   * Writes a processed document's entries into the index again from the store's chunks and
   * their new `vectors` (in chunk order), dropping any the document no longer has.
   */
  async reindex(scope: TeamScope, doc: DocumentRecord, chunks: readonly ChunkRow[], vectors: readonly Float32Array[]): Promise<void> {
    const { index } = this.deps;
    if (vectors.length !== chunks.length) throw new Error(`${chunks.length} chunks but ${vectors.length} vectors`);
    await index.upsertChunks(
      scope,
      indexEntries(doc, chunks, (_, i) => vectors[i]!),
    );
    await index.truncateDocument(scope, doc.id, chunks.length);
  }

  /** Removes a document's index entries (its rows are removed by the store). */
  async remove(scope: TeamScope, documentId: string): Promise<void> {
    await this.deps.index.deleteDocument(scope, documentId);
  }
}

/** The index entries of a document's chunks: text, place, vector, and the document's filters. */
function indexEntries<C extends Omit<ChunkRow, 'documentId'>>(
  doc: DocumentRecord,
  chunks: readonly C[],
  vectorOf: (chunk: C, i: number) => Float32Array,
): ChunkRecord[] {
  return chunks.map((c, i) => ({
    documentId: doc.id,
    ordinal: c.ordinal,
    text: c.text,
    page: c.page,
    boxes: c.boxes,
    vector: vectorOf(c, i),
    title: doc.filename,
    filters: { ...effectiveLabels(doc), createdAt: doc.createdAt },
  }));
}
