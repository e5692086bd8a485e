/**
 * How a pipeline run fails: one error class with a stable public code, the stage that
 * failed and whether running the same job again may succeed.
 */
import { AppError } from './errors.ts';
import type { Stage } from './protocol.ts';

/** Every code a pipeline run can fail with. */
export const PipelineErrorCode = {
  /** The bytes are no format Quire reads. */
  UnsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  /** The declared type or file extension names another supported format than the bytes. */
  MediaTypeMismatch: 'MEDIA_TYPE_MISMATCH',
  /** Zero bytes, or nothing but whitespace. */
  EmptyDocument: 'EMPTY_DOCUMENT',
  /** More bytes, pages or pixels than the configured limits allow. */
  DocumentTooLarge: 'DOCUMENT_TOO_LARGE',
  /** pdfjs cannot parse the file (truncated, corrupt). */
  PdfUnreadable: 'PDF_UNREADABLE',
  /** The PDF needs a password. */
  PdfEncrypted: 'PDF_ENCRYPTED',
  /** An image that cannot be decoded. */
  ImageUnreadable: 'IMAGE_UNREADABLE',
  OcrFailed: 'OCR_FAILED',
  EmbeddingFailed: 'EMBEDDING_FAILED',
  ClassificationFailed: 'CLASSIFICATION_FAILED',
  FieldExtractionFailed: 'FIELD_EXTRACTION_FAILED',
  /** The host's result handler failed (the bus refused a part); the run stopped there. */
  ResultDeliveryFailed: 'RESULT_DELIVERY_FAILED',
  /** The caller's signal aborted the run. */
  Cancelled: 'JOB_CANCELLED',
  /** The run took longer than the job timeout; the worker running it was replaced. */
  JobTimeout: 'JOB_TIMEOUT',
  /** The worker running the job died (a crash); it was replaced. */
  WorkerCrashed: 'WORKER_CRASHED',
  /** The document needed more memory than a pipeline process may use; the process was replaced. */
  WorkerOutOfMemory: 'WORKER_OUT_OF_MEMORY',
  /** The document's text needs more passages than the configured limit. */
  DocumentTooLong: 'DOCUMENT_TOO_LONG',
  /** A bug: anything not anticipated above. */
  Internal: 'INTERNAL',
} as const;
export type PipelineErrorCode = (typeof PipelineErrorCode)[keyof typeof PipelineErrorCode];

/** A stage of the pipeline, or `pipeline` for failures outside any one stage. */
export type FailedStage = Stage | 'pipeline';

/** A pipeline run failed. */
export class PipelineError extends AppError {
  /** The stage that failed. */
  readonly stage: FailedStage;
  /** Whether the same job may succeed on another try (transient causes only). */
  readonly retryable: boolean;

  constructor(
    code: PipelineErrorCode,
    message: string,
    options: { stage: FailedStage; retryable?: boolean; cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(code, message, { cause: options.cause, ...(options.details ? { details: options.details } : {}) });
    this.stage = options.stage;
    this.retryable = options.retryable ?? false;
  }

  /** The plain-object form that crosses threads and the bus. */
  toJSON(): { code: string; message: string; stage: FailedStage; retryable: boolean } {
    return { code: this.code, message: this.message, stage: this.stage, retryable: this.retryable };
  }
}
