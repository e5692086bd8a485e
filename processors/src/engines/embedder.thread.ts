/**
 * An Embedder whose model runs in its own worker thread. onnxruntime-node runs a forward pass
 * synchronously on the calling thread, so a query embedded on the hub's main thread would
 * stall every socket and request for its duration; here only the worker waits.
 */
import type { Worker } from 'node:worker_threads';
import { InternalError } from '@quire/kernel';
import { startTypeScriptWorker } from '../worker/bootstrap.ts';
import type { Embedder } from './embedder.ts';
import type { TransformersEmbedderOptions } from './embedder.transformers.ts';

/** A request to the worker: one query, or passages. */
export interface EmbedderRequest {
  id: number;
  kind: 'query' | 'documents';
  texts: readonly string[];
}

/** What the worker says: ready (or not) once, then one reply per request. */
export type EmbedderReply =
  | { ready: { modelId: string; dimension: number } }
  | { failed: string }
  | { id: number; vectors: Float32Array[] }
  | { id: number; error: string };

const ENTRY = new URL('./embedder.thread.worker.ts', import.meta.url);

export class ThreadedEmbedder implements Embedder {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (v: Float32Array[]) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #closed: Error | null = null;

  private constructor(
    worker: Worker,
    readonly modelId: string,
    readonly dimension: number,
  ) {
    this.#worker = worker;
    worker.on('message', (reply: EmbedderReply) => {
      if (!('id' in reply)) return;
      const pending = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if ('error' in reply) pending?.reject(new InternalError(`embedding failed: ${reply.error}`));
      else pending?.resolve(reply.vectors);
    });
    const stop = (error: Error): void => {
      this.#closed ??= error;
      for (const p of this.#pending.values()) p.reject(this.#closed);
      this.#pending.clear();
    };
    worker.on('error', (error: Error) => stop(new InternalError(`the embedder thread failed: ${error.message}`, { cause: error })));
    worker.on('exit', (code) => stop(new InternalError(`the embedder thread stopped (exit ${code})`)));
  }

  /** Starts the worker and resolves once its model is loaded; rejects with why it could not. */
  static async start(options: TransformersEmbedderOptions): Promise<ThreadedEmbedder> {
    const worker = startTypeScriptWorker(ENTRY, { name: 'quire-query-embedder', workerData: options });
    let onMessage: (reply: EmbedderReply) => void = () => undefined;
    let onError: (error: Error) => void = () => undefined;
    let onExit: (code: number) => void = () => undefined;
    try {
      const ready = await new Promise<{ modelId: string; dimension: number }>((resolve, reject) => {
        onMessage = (reply) => {
          if ('ready' in reply) resolve(reply.ready);
          else if ('failed' in reply) reject(new InternalError(`the embedder thread could not load the model: ${reply.failed}`));
        };
        onError = reject;
        onExit = (code) => reject(new InternalError(`the embedder thread stopped while loading (exit ${code})`));
        worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      });
      return new ThreadedEmbedder(worker, ready.modelId, ready.dimension);
    } catch (error) {
      await worker.terminate();
      throw error;
    } finally {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    }
  }

  async embedQuery(text: string): Promise<Float32Array> {
    const [vector] = await this.#request('query', [text]);
    return vector!;
  }

  async embedDocuments(texts: readonly string[]): Promise<Float32Array[]> {
    return texts.length === 0 ? [] : this.#request('documents', texts);
  }

  async close(): Promise<void> {
    this.#closed ??= new InternalError('the embedder is closed');
    await this.#worker.terminate();
  }

  #request(kind: EmbedderRequest['kind'], texts: readonly string[]): Promise<Float32Array[]> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, kind, texts } satisfies EmbedderRequest);
    });
  }
}
