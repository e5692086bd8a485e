/**
 * Downloads a model folder from the Hugging Face hub (transformers.js layout) into a staging
 * folder. The first request has a short deadline so an unreachable hub costs seconds, not
 * minutes; later transfers only fail when they stall.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Options of `downloadFromHub`. */
export interface HubDownloadOptions {
  /** Hub base URL (default `https://huggingface.co`). */
  readonly hubUrl?: string;
  readonly repo: string;
  readonly revision: string;
  /** Files to fetch, relative to the repository root. */
  readonly files: readonly string[];
  /** Files that may be absent (404) without failing the download. */
  readonly optional?: readonly string[];
  /** Folder to write into (created). */
  readonly targetDir: string;
  /** Deadline for the first response, in ms (default 5000). */
  readonly connectTimeoutMs?: number;
  /** A transfer with no bytes for this long is abandoned, in ms (default 30000). */
  readonly stallTimeoutMs?: number;
  readonly onProgress?: (file: string, receivedBytes: number, totalBytes: number | undefined) => void;
}

/** Default hub address. */
export const DEFAULT_HUB_URL = 'https://huggingface.co';

async function fetchWithStall(
  url: string,
  connectTimeoutMs: number,
  stallTimeoutMs: number,
): Promise<{ response: Response; controller: AbortController; arm: () => void; clear: () => void }> {
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(new Error(`no response from ${url} within ${connectTimeoutMs} ms`)), connectTimeoutMs);
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new Error(`download of ${url} stalled for ${stallTimeoutMs} ms`)), stallTimeoutMs);
  };
  const clear = (): void => clearTimeout(timer);
  try {
    const response = await fetch(url, { signal: controller.signal, redirect: 'follow' });
    arm();
    return { response, controller, arm, clear };
  } catch (error) {
    clear();
    throw error;
  }
}

/**
 * Fetches every file into `targetDir`, keeping the repository's relative paths. Throws on the
 * first failure (the caller discards the staging folder).
 */
export async function downloadFromHub(options: HubDownloadOptions): Promise<void> {
  const base = (options.hubUrl ?? DEFAULT_HUB_URL).replace(/\/$/, '');
  const connectTimeoutMs = options.connectTimeoutMs ?? 5000;
  const stallTimeoutMs = options.stallTimeoutMs ?? 30_000;
  const optional = new Set(options.optional ?? []);
  for (const file of options.files) {
    const url = `${base}/${options.repo}/resolve/${encodeURIComponent(options.revision)}/${file}`;
    const { response, arm, clear } = await fetchWithStall(url, connectTimeoutMs, stallTimeoutMs);
    try {
      if (response.status === 404 && optional.has(file)) continue;
      if (!response.ok || !response.body) throw new Error(`GET ${url}: HTTP ${response.status}`);
      const total = Number(response.headers.get('content-length')) || undefined;
      const target = join(options.targetDir, file);
      await mkdir(dirname(target), { recursive: true });
      let received = 0;
      const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
      body.on('data', (chunk: Buffer) => {
        received += chunk.length;
        arm();
        options.onProgress?.(file, received, total);
      });
      await pipeline(body, createWriteStream(target));
    } finally {
      clear();
    }
  }
}
