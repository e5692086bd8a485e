/**
 * Corpus vectors kept on disk between runs of the tuning scripts (compare-embedders.ts,
 * hybrid.eval.ts): one file per model, precision and dataset, the vectors back to back as
 * little-endian float32, so a rerun only re-scores.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { TransformersEmbedder } from '../processors/src/index.ts';
import { passageText, type BeirDataset } from '../search/src/eval/beir.ts';

/** The cache file of one model, precision and dataset under `dir`. */
export function vectorCacheFile(dir: string, modelId: string, dtype: string, dataset: string): string {
  return join(dir, `${modelId.replace('/', '--')}.${dtype}.${dataset}.f32`);
}

/** The cached vectors, or null when the file is missing or holds another count or dimension. */
export async function readVectors(file: string, count: number, dimension: number): Promise<Float32Array[] | null> {
  if (!existsSync(file)) return null;
  const buf = await readFile(file);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  if (all.length !== count * dimension) return null;
  return Array.from({ length: count }, (_, i) => all.slice(i * dimension, (i + 1) * dimension));
}

export async function writeVectors(file: string, vectors: readonly Float32Array[], dimension: number): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const flat = new Float32Array(vectors.length * dimension);
  vectors.forEach((v, i) => flat.set(v, i * dimension));
  await writeFile(file, Buffer.from(flat.buffer));
}

/** The dataset's passages embedded with `embedder`, from the cache in `dir` or embedded now (and cached). */
export async function corpusVectors(embedder: TransformersEmbedder, ds: BeirDataset, dir: string): Promise<Float32Array[]> {
  const cacheFile = vectorCacheFile(dir, embedder.modelId, embedder.dtype, ds.name);
  const cached = await readVectors(cacheFile, ds.docs.length, embedder.dimension);
  if (cached) return cached;
  const passages = ds.docs.map(passageText);
  const vectors: Float32Array[] = [];
  for (let i = 0; i < passages.length; i += 500) {
    vectors.push(...(await embedder.embedDocuments(passages.slice(i, i + 500))));
    process.stderr.write(`\r  ${ds.name}: ${vectors.length}/${passages.length} passages embedded`);
  }
  process.stderr.write('\n');
  await writeVectors(cacheFile, vectors, embedder.dimension);
  return vectors;
}
