/** Errors from the hub, with its stable code, and the plain words a person reads for them. */

/** A refusal or failure the hub answered (GraphQL `extensions.code`, HTTP `error.code`). */
export class ApiError extends Error {
  readonly code: string;
  readonly details: unknown;
  constructor(code: string, message: string, details?: unknown) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.details = details;
  }
}

/** Codes that mean the caller must sign in again (or refresh first). */
export const AUTH_CODES = new Set(['UNAUTHENTICATED', 'TOKEN_EXPIRED', 'SESSION_REVOKED']);

const PLAIN: Record<string, string> = {
  UNSUPPORTED_MEDIA_TYPE: 'This kind of file is not supported. Upload a PDF, an image (PNG, JPEG, TIFF) or a text file.',
  MEDIA_TYPE_MISMATCH: 'The file’s name or type does not match its contents.',
  PAYLOAD_TOO_LARGE: 'The file is larger than this Quire accepts.',
  EMPTY_UPLOAD: 'The file is empty.',
  TRUNCATED_UPLOAD: 'The file is incomplete (it may have been cut off while copying).',
  RATE_LIMITED: 'Too many requests just now. Wait a moment and try again.',
  INVALID_CREDENTIALS: 'That email and password do not match an account.',
  EMAIL_TAKEN: 'An account with this email already exists. Sign in instead.',
  SIGNUP_CLOSED: 'Sign-up is by invitation. Ask a team owner for an invitation link.',
  INVITATION_INVALID: 'This invitation is not valid any more. Ask for a new one.',
  WEAK_PASSWORD: 'Choose a password of at least 10 characters.',
  FORBIDDEN: 'Your role in this team does not allow this.',
  NOT_FOUND: 'It does not exist, or it is not shared with this team.',
  CONFLICT: 'Someone else changed this at the same time.',
  NETWORK: 'Quire cannot be reached. Check the connection.',
};

/** Plain words for an error: the hub's message where it is specific, else the code's. */
export function plainMessage(err: unknown): string {
  if (err instanceof ApiError) return PLAIN[err.code] ?? err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
