/**
 * `POST /api/documents`: a multipart upload (file field `file`) streamed straight into the
 * ingest service, in the team the policy grants the caller (`scopeOf`, which throws a
 * refusal before any byte is read). The router only parses the transport; every rule lives
 * in the policy and the service.
 */
import busboy from 'busboy';
import { Router, type Request } from 'express';
import { AppError, PayloadTooLargeError, ValidationError } from '@quire/processors';
import type { IngestService, UploadAccepted } from '../services/ingest.service.ts';
import type { TeamScope } from '../store/store.ts';

/** The largest body still read and discarded after a refusal, to keep the answer intact. */
const REFUSED_BODY_DRAIN_BYTES = 64 * 1024;

export function documentsRouter(deps: {
  ingest: IngestService;
  maxUploadBytes: number;
  /** The team the caller may upload to; throws when the caller may not upload. */
  scopeOf: (req: Request) => TeamScope;
}): Router {
  const router = Router();

  router.post('/api/documents', async (req, res, next) => {
    let scope: TeamScope;
    try {
      scope = deps.scopeOf(req);
    } catch (err) {
      // Refused before a byte is read: a small body is discarded so that the answer arrives
      // whole (closing on unread bytes resets the connection); a larger one is not read at all.
      if (!(Number(req.headers['content-length']) <= REFUSED_BODY_DRAIN_BYTES)) res.setHeader('Connection', 'close');
      next(err);
      return;
    }
    try {
      const declared = Number(req.headers['content-length']);
      // A body larger than the limit plus room for multipart headers can be refused at once.
      if (Number.isFinite(declared) && declared > deps.maxUploadBytes + 64 * 1024) {
        throw new PayloadTooLargeError(`The upload exceeds the limit of ${deps.maxUploadBytes} bytes`);
      }
      const accepted = await receive(req, deps.ingest, scope, deps.maxUploadBytes);
      res.status(accepted.duplicateOf ? 200 : 202).json(accepted);
    } catch (err) {
      // Stop reading a body we will not use, but let the response go out first.
      req.unpipe();
      res.setHeader('Connection', 'close');
      next(err);
    }
  });

  return router;
}

function receive(req: Request, ingest: IngestService, scope: TeamScope, maxBytes: number): Promise<UploadAccepted> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, limits: { files: 1, fileSize: maxBytes + 1, fields: 20, parts: 25 } });
    } catch (err) {
      reject(
        new ValidationError('Expected a multipart/form-data body with a file field named "file"', { code: 'BAD_MULTIPART', cause: err }),
      );
      return;
    }
    let handled = false;
    let settled = false;
    let broken: unknown;
    const truncated = (cause: unknown) =>
      new ValidationError('The upload ended before it was complete', { code: 'TRUNCATED_UPLOAD', cause });
    const finish = (fn: () => void) => {
      if (!settled) {
        settled = true;
        fn();
      }
    };

    parser.on('file', (name, file, info) => {
      if (name !== 'file' || handled) {
        file.resume();
        return;
      }
      handled = true;
      file.on('limit', () => file.destroy(new PayloadTooLargeError(`The upload exceeds the limit of ${maxBytes} bytes`)));
      ingest.upload(scope, { filename: info.filename ?? 'upload', declaredMime: info.mimeType, stream: file }).then(
        (r) => finish(() => resolve(r)),
        // A file stream cut by a broken body fails with the parser's error, not an AppError.
        (err) => finish(() => reject(broken !== undefined && !(err instanceof AppError) ? truncated(err) : err)),
      );
    });
    parser.on('error', (err) => {
      broken = err;
      // While the ingest service is still reading the file it settles the request itself.
      if (!handled) finish(() => reject(truncated(err)));
    });
    parser.on('close', () => {
      if (!handled) finish(() => reject(new ValidationError('No file field named "file" in the upload', { code: 'MISSING_FILE' })));
    });
    req.on('aborted', () => {
      broken = new Error('request aborted');
      parser.destroy(broken as Error);
    });
    req.pipe(parser);
  });
}
