/**
 * The HTTP edge's one translation of errors: AppError subclasses to status codes and the
 * body `{error: {code, message, requestId}}`. Unknown errors are 500 with a generic message.
 */
import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import {
  AppError,
  AuthenticationError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  UnsupportedMediaError,
  ValidationError,
} from '@quire/kernel';

/** HTTP status for an error. */
export function statusOf(err: unknown): number {
  if (err instanceof ValidationError) return 400;
  if (err instanceof AuthenticationError) return 401;
  if (err instanceof ForbiddenError) return 403;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof ConflictError) return 409;
  if (err instanceof PayloadTooLargeError) return 413;
  if (err instanceof UnsupportedMediaError) return 415;
  if (err instanceof RateLimitedError) return 429;
  return 500;
}

/** Public body for an error. */
export function bodyOf(err: unknown, requestId: string): { error: { code: string; message: string; requestId: string } } {
  if (err instanceof AppError && err.expose) return { error: { code: err.code, message: err.message, requestId } };
  return { error: { code: 'INTERNAL', message: 'Internal server error', requestId } };
}

/**
 * Errors of Express's body parsers (http-errors with a `type`) as the application's own:
 * a body over the limit, or one that is not the JSON it claims to be.
 */
export function fromBodyParser(err: unknown): unknown {
  const type = (err as { type?: unknown } | null)?.type;
  if (type === 'entity.too.large') {
    const limit = (err as { limit?: number }).limit;
    return new PayloadTooLargeError(`The request body exceeds the limit of ${limit ?? 'the'} bytes`, { cause: err });
  }
  if (type === 'entity.parse.failed') return new ValidationError('The request body is not valid JSON', { code: 'BAD_JSON', cause: err });
  if (type === 'charset.unsupported' || type === 'encoding.unsupported') {
    return new UnsupportedMediaError('The request body has an unsupported charset or encoding', { cause: err });
  }
  return err;
}

export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  return (raw, req, res, _next) => {
    const err = fromBodyParser(raw);
    const status = statusOf(err);
    const requestId = String(res.locals.requestId ?? '');
    if (status >= 500) logger.error({ err, requestId, path: req.path }, 'request failed');
    else logger.info({ code: (err as AppError).code, requestId, path: req.path }, 'request refused');
    if (res.headersSent) return;
    if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
    if (err instanceof RateLimitedError) res.setHeader('Retry-After', String(err.retryAfterSeconds));
    res.status(status).json(bodyOf(err, requestId));
  };
}
