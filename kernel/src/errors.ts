/**
 * The one error hierarchy of Quire. Domain code throws these; each edge (HTTP, GraphQL,
 * Socket.IO, bus) translates them once. `code` is a stable public string; `expose` says
 * whether the message may be shown to a client as is.
 */
export class AppError extends Error {
  /** Stable, public, SCREAMING_SNAKE_CASE code (e.g. `NOT_FOUND`). */
  readonly code: string;
  /** Whether `message` is safe to show to clients. */
  readonly expose: boolean;
  /** Extra structured, client-safe details (e.g. the current state on a conflict). */
  readonly details?: Record<string, unknown>;

  constructor(code: string, message: string, options: { cause?: unknown; expose?: boolean; details?: Record<string, unknown> } = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.expose = options.expose ?? true;
    if (options.details) this.details = options.details;
  }
}

export class NotFoundError extends AppError {
  constructor(message = 'Not found', options: { cause?: unknown } = {}) {
    super('NOT_FOUND', message, options);
  }
}

export class ValidationError extends AppError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown>; code?: string } = {}) {
    super(options.code ?? 'VALIDATION_FAILED', message, options);
  }
}

export class ConflictError extends AppError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown>; code?: string } = {}) {
    super(options.code ?? 'CONFLICT', message, options);
  }
}

/** The caller is known but may not do this (a role too low, sign-up closed). */
export class ForbiddenError extends AppError {
  constructor(message = 'Forbidden', options: { cause?: unknown; code?: string } = {}) {
    super(options.code ?? 'FORBIDDEN', message, options);
  }
}

/**
 * The caller is not known: no credentials, or credentials that are wrong, expired or revoked
 * (`UNAUTHENTICATED`, `INVALID_CREDENTIALS`, `TOKEN_EXPIRED`, `SESSION_REVOKED`).
 */
export class AuthenticationError extends AppError {
  constructor(message = 'Sign in first', options: { cause?: unknown; code?: string } = {}) {
    super(options.code ?? 'UNAUTHENTICATED', message, options);
  }
}

export class UnsupportedMediaError extends AppError {
  constructor(message: string, options: { cause?: unknown; code?: string } = {}) {
    super(options.code ?? 'UNSUPPORTED_MEDIA_TYPE', message, options);
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('PAYLOAD_TOO_LARGE', message, options);
  }
}

/** Too many requests of one kind from one caller; `retryAfterSeconds` says when to try again. */
export class RateLimitedError extends AppError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterMs: number) {
    const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    super('RATE_LIMITED', `${message}; try again in ${retryAfterSeconds} s`, { details: { retryAfterSeconds } });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A model, index or configuration does not fit what is recorded (e.g. embedding dimension). */
export class MismatchError extends AppError {
  constructor(code: string, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(code, message, options);
  }
}

/** Something the caller cannot fix (a bug, a broken dependency). Its message is not exposed. */
export class InternalError extends AppError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('INTERNAL', message, { ...options, expose: false });
  }
}

/** Thrown at the end of an exhaustive switch: the compiler proves it unreachable. */
export class UnreachableCaseError extends Error {
  constructor(value: never) {
    super(`Unreachable case: ${JSON.stringify(value)}`);
  }
}
