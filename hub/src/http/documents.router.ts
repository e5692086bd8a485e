/**
 * Documents over plain HTTP, each in the team the policy grants the caller (`scopeFor`, which
 * throws a refusal before any byte is read):
 * - `POST /api/documents`: a multipart upload (file field `file`) streamed straight into the
 *   ingest service, once the team's upload limit admits it;
 * - `GET /api/documents/:id/file`: the original file as uploaded, with the media type sniffed
 *   from its bytes at upload (never one its name suggests), in a sandbox of its own;
 *   `?inline` shows PDF, PNG, JPEG and plain text in the browser, every other type is saved.
 * The router only parses the transport; every rule lives in the policy and the services.
 */
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { create as contentDisposition } from 'content-disposition';
import { Router, type Request } from 'express';
import { AppError, PayloadTooLargeError, SupportedMime, ValidationError } from '@quire/kernel';
import type { DocumentService } from '../services/document.service.ts';
import { sanitizeFilename, type IngestService, type UploadAccepted } from '../services/ingest.service.ts';
import type { ActingScope, TeamScope } from '../store/store.ts';

/** The routes of this router, as the policy names them. */
export type DocumentRoute = 'POST /api/documents' | 'GET /api/documents/:id/file';

/**
 * What is done with the rest of a refused upload. A client that is still sending (Node's
 * fetch, browsers) reads the answer only if the connection is not reset under it, which
 * closing on unread bytes does. So up to `bytes` more are read and discarded; then reading
 * stops, which stalls the sender until it reads the answer and closes; a client that has not
 * closed `ms` after the refusal is cut off.
 */
const REFUSED_BODY_DRAIN = { bytes: 4 * 1024 * 1024, ms: 5_000 } as const;

/**
 * The media types a browser may display in Quire's origin: none of them runs script. Every
 * other type (TIFF included) is always sent as an attachment.
 */
const INLINE_TYPES: ReadonlySet<string> = new Set([SupportedMime.Pdf, SupportedMime.Png, SupportedMime.Jpeg, SupportedMime.Text]);

/**
 * The policy of a served file: nothing it names is loaded, and it runs in a sandbox (a unique
 * origin, no script, no forms), so a stored HTML or SVG file can never act as Quire even where
 * a browser renders it. Chromium's PDF viewer works under it.
 */
const FILE_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox";

export function documentsRouter(deps: {
  ingest: IngestService;
  documents: DocumentService;
  maxUploadBytes: number;
  /** The team the caller may use `route` in; throws when the caller may not. */
  scopeFor: (req: Request, route: DocumentRoute) => ActingScope;
}): Router {
  const router = Router();

  router.post('/api/documents', async (req, res, next) => {
    try {
      const scope = deps.scopeFor(req, 'POST /api/documents');
      await deps.ingest.admit(scope);
      const declared = Number(req.headers['content-length']);
      // A body larger than the limit plus room for multipart headers can be refused at once.
      if (Number.isFinite(declared) && declared > deps.maxUploadBytes + 64 * 1024) {
        throw new PayloadTooLargeError(`The upload exceeds the limit of ${deps.maxUploadBytes} bytes`);
      }
      const accepted = await receive(req, deps.ingest, scope, deps.maxUploadBytes);
      res.status(accepted.duplicateOf ? 200 : 202).json(accepted);
    } catch (err) {
      // The parser reads no more; the rest of the body is discarded while the refusal goes out.
      req.unpipe();
      discardRest(req);
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
      const type = servedType(document.mimeType);
      const inline = 'inline' in req.query && INLINE_TYPES.has(document.mimeType);
      res.setHeader('Content-Type', type);
      res.setHeader('Content-Length', String(document.size));
      res.setHeader('Content-Security-Policy', FILE_CSP);
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
      // `filename*` carries the name in UTF-8; names stored before control characters were
      // stripped are cleaned on the way out too.
      res.setHeader(
        'Content-Disposition',
        contentDisposition(sanitizeFilename(document.filename), { type: inline ? 'inline' : 'attachment' }),
      );
      await pipeline(stream, res);
    } catch (err) {
      if (res.headersSent) res.destroy(err as Error);
      else next(err);
    }
  });

  return router;
}

/**
 * The Content-Type a stored file is served with: the type sniffed from its bytes at upload,
 * text always as plain UTF-8 text (Markdown included: it is shown, not rendered), anything
 * unknown as bytes to save.
 */
function servedType(stored: string): string {
  switch (stored) {
    case SupportedMime.Text:
    case SupportedMime.Markdown:
      return 'text/plain; charset=utf-8';
    case SupportedMime.Pdf:
    case SupportedMime.Png:
    case SupportedMime.Jpeg:
    case SupportedMime.Tiff:
      return stored;
    default:
      return 'application/octet-stream';
  }
}

/**
 * Reads and discards what is left of a refused request's body within {@link REFUSED_BODY_DRAIN},
 * so that the answer reaches a client that is still sending. A body read to its end leaves the
 * connection open for the next request.
 */
function discardRest(req: Request): void {
  if (req.complete || req.destroyed) return;
  let left: number = REFUSED_BODY_DRAIN.bytes;
  const cutOff = setTimeout(() => req.socket.destroy(), REFUSED_BODY_DRAIN.ms).unref();
  req.on('data', (chunk: Buffer) => {
    left -= chunk.length;
    if (left < 0) req.pause();
  });
  req.once('close', () => clearTimeout(cutOff));
  req.resume();
}

/** A parser's failure: a body that ended early is truncated, anything else is not multipart as it should be. */
function parserFailure(err: unknown): ValidationError {
  const message = err instanceof Error ? err.message : '';
  if (/^Unexpected end of (form|file)$/.test(message) || message === 'request aborted') {
    return new ValidationError('The upload ended before it was complete', { code: 'TRUNCATED_UPLOAD', cause: err });
  }
  return new ValidationError('The multipart body is malformed (a part header could not be read)', { code: 'BAD_MULTIPART', cause: err });
}

function receive(req: Request, ingest: IngestService, scope: TeamScope, maxBytes: number): Promise<UploadAccepted> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        // Browsers and curl send the file name as raw UTF-8, not RFC 2231/5987 encoded.
        defParamCharset: 'utf8',
        limits: { files: 1, fileSize: maxBytes + 1, fields: 20, parts: 25 },
      });
    } catch (err) {
      reject(
        new ValidationError('Expected a multipart/form-data body with a file field named "file"', { code: 'BAD_MULTIPART', cause: err }),
      );
      return;
    }
    let handled = false;
    let settled = false;
    let broken: unknown;
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
        (err) => finish(() => reject(broken !== undefined && !(err instanceof AppError) ? parserFailure(broken) : err)),
      );
    });
    parser.on('error', (err) => {
      broken = err;
      // While the ingest service is still reading the file it settles the request itself.
      if (!handled) finish(() => reject(parserFailure(err)));
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
