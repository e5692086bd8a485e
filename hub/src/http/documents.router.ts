/**
 * Documents over plain HTTP, each in the team the policy grants the caller (`scopeFor`, which
 * throws a refusal before any byte is read):
 * - `POST /api/documents`: a multipart upload (file field `file`) streamed straight into the
 *   ingest service, once the team's upload limit admits it;
 * - `GET /api/documents/:id/file`: the original file as uploaded (`?inline` to show it in
 *   the browser rather than save it).
 * The router only parses the transport; every rule lives in the policy and the services.
 */
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { Router, type Request } from 'express';
import { AppError, PayloadTooLargeError, ValidationError } from '@quire/processors';
import type { DocumentService } from '../services/document.service.ts';
import type { IngestService, UploadAccepted } from '../services/ingest.service.ts';
import type { ActingScope, TeamScope } from '../store/store.ts';

/** The routes of this router, as the policy names them. */
export type DocumentRoute = 'POST /api/documents' | 'GET /api/documents/:id/file';

/** The largest body still read and discarded after a refusal, to keep the answer intact. */
const REFUSED_BODY_DRAIN_BYTES = 64 * 1024;

export function documentsRouter(deps: {
  ingest: IngestService;
  documents: DocumentService;
  maxUploadBytes: number;
  /** The team the caller may use `route` in; throws when the caller may not. */
  scopeFor: (req: Request, route: DocumentRoute) => ActingScope;
}): Router {
  const router = Router();

  router.post('/api/documents', async (req, res, next) => {
    let scope: ActingScope;
    try {
      scope = deps.scopeFor(req, 'POST /api/documents');
      await deps.ingest.admit(scope);
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

  router.get('/api/documents/:id/file', async (req, res, next) => {
    try {
      const scope = deps.scopeFor(req, 'GET /api/documents/:id/file');
      const { document, stream } = await deps.documents.openOriginal(scope, req.params.id);
      const etag = `"${document.sha256}"`;
      res.setHeader('Cache-Control', 'private, no-cache');
      res.setHeader('ETag', etag);
      if (req.headers['if-none-match'] === etag) {
        stream.destroy();
        res.status(304).end();
        return;
      }
      res.setHeader('Content-Type', document.mimeType);
      res.setHeader('Content-Length', String(document.size));
      res.setHeader('X-Content-Type-Options', 'nosniff');
      // Express writes a Content-Disposition that carries any file name safely.
      res.attachment(document.filename);
      if ('inline' in req.query) {
        res.setHeader('Content-Disposition', String(res.getHeader('Content-Disposition')).replace(/^attachment/, 'inline'));
      }
      await pipeline(stream, res);
    } catch (err) {
      if (res.headersSent) res.destroy(err as Error);
      else next(err);
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
