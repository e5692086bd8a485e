import { AppError } from '@quire/kernel';

/** A model's files are missing and could not be obtained from any source. */
export class ModelUnavailableError extends AppError {
  /** The model that could not be obtained. */
  readonly modelId: string;

  constructor(modelId: string, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('MODEL_UNAVAILABLE', message, { ...options, expose: false });
    this.modelId = modelId;
  }
}

/** A model's files exist but failed a verification check: it must not be used. */
export class ModelVerificationError extends AppError {
  /** The model that failed. */
  readonly modelId: string;
  /** The check that failed first (`reference`, `semantic`, `consistency`, …). */
  readonly check: string;

  constructor(modelId: string, check: string, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('MODEL_VERIFICATION_FAILED', message, { ...options, expose: false });
    this.modelId = modelId;
    this.check = check;
  }
}
