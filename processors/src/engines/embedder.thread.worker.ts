/**
 * The worker side of {@link ThreadedEmbedder}: loads the model once, then answers embedding
 * requests one at a time, in the order they come.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { TransformersEmbedder, type TransformersEmbedderOptions } from './embedder.transformers.ts';
import type { EmbedderReply, EmbedderRequest } from './embedder.thread.ts';

const port = parentPort;
if (!port) throw new Error('embedder.thread.worker.ts runs only as a worker thread');
const send = (reply: EmbedderReply): void => port.postMessage(reply);
const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

try {
  const embedder = await TransformersEmbedder.load(workerData as TransformersEmbedderOptions);
  port.on('message', (request: EmbedderRequest) => {
    const work =
      request.kind === 'query' ? embedder.embedQuery(request.texts[0]!).then((v) => [v]) : embedder.embedDocuments(request.texts);
    // Every request gets exactly one reply, whatever fails.
    work.then((vectors) => send({ id: request.id, vectors })).catch((error: unknown) => send({ id: request.id, error: message(error) }));
  });
  send({ ready: { modelId: embedder.modelId, dimension: embedder.dimension } });
} catch (error) {
  send({ failed: message(error) });
}
