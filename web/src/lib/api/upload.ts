/**
 * Uploads one file to `POST /api/documents` with XMLHttpRequest, whose upload events give
 * the bytes sent (fetch has none). Resolves the hub's answer, `{documentId, jobId,
 * duplicateOf?}`; refusals reject with the hub's code.
 */
import { ApiError } from './errors.ts';
import { session } from './session.svelte.ts';

export interface UploadAnswer {
  documentId: string;
  jobId: string;
  /** The team already had these exact bytes: the existing document. */
  duplicateOf?: string;
}

function sendOnce(file: File, headers: Record<string, string>, onProgress: (sent: number, total: number) => void, signal?: AbortSignal) {
  return new Promise<UploadAnswer>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/documents');
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      let body: { error?: { code: string; message: string } } & Partial<UploadAnswer> = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // A proxy's page, say: answered below by status.
      }
      if (xhr.status >= 200 && xhr.status < 300 && body.documentId) resolve(body as UploadAnswer);
      else if (body.error) {
        const retryAfterS = Number(xhr.getResponseHeader('retry-after'));
        reject(
          new ApiError(
            body.error.code,
            body.error.message,
            Number.isFinite(retryAfterS) ? { retryAfterMs: retryAfterS * 1000 } : undefined,
          ),
        );
      } else reject(new ApiError(xhr.status === 413 ? 'PAYLOAD_TOO_LARGE' : 'UPLOAD_FAILED', `The hub answered ${xhr.status}`));
    };
    xhr.onerror = () => reject(new ApiError('NETWORK', 'The upload was interrupted'));
    xhr.onabort = () => reject(new ApiError('CANCELLED', 'The upload was cancelled'));
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

/** Uploads `file` into team `teamId`, reporting bytes sent. */
export function uploadFile(
  file: File,
  teamId: string,
  onProgress: (sent: number, total: number) => void,
  signal?: AbortSignal,
): Promise<UploadAnswer> {
  return session.withAuth((headers) => sendOnce(file, { ...headers, 'x-quire-team': teamId }, onProgress, signal));
}
