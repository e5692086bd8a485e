/**
 * Verification of a model folder before use: loads each ONNX file present with transformers.js
 * (local files only) and runs the checks of model-checks.ts, plus int8-vs-fp32 consistency
 * when both files are there.
 */
import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import { TransformersEmbedder, modelFilePath } from '../embedder.transformers.ts';
import { firstFailure, runConsistencyCheck, runModelChecks, type CheckResult } from './model-checks.ts';
import { ModelUnavailableError, ModelVerificationError } from './model-errors.ts';
import { getModelSpec, ModelDtype } from './model-registry.ts';

/** Checks of one ONNX file. */
export interface DtypeVerification {
  readonly dtype: ModelDtype;
  readonly checks: readonly CheckResult[];
  /** Wall time to load the file and run its checks, ms. */
  readonly ms: number;
}

/** Everything `verifyModel` measured for one model. */
export interface VerificationReport {
  readonly modelId: string;
  readonly passed: boolean;
  readonly files: readonly DtypeVerification[];
  /** int8 vs fp32, when both files exist. */
  readonly consistency?: CheckResult;
}

/** Options of `verifyModel`. */
export interface VerifyModelOptions {
  readonly modelsDir: string;
  readonly modelId: string;
  /** Files to check; default every dtype whose file exists (at least the registry's). */
  readonly dtypes?: readonly ModelDtype[];
  readonly logger?: Logger;
}

/**
 * Runs every check on every file of a model and returns the report, passed or not. Throws
 * `ModelUnavailableError` only when the registry's file is missing.
 */
export async function verifyModel(options: VerifyModelOptions): Promise<VerificationReport> {
  const spec = getModelSpec(options.modelId);
  if (!existsSync(modelFilePath(options.modelsDir, spec.id, spec.dtype))) {
    throw new ModelUnavailableError(spec.id, `Model ${spec.id} has no ${spec.dtype} file in ${options.modelsDir}`);
  }
  const dtypes = options.dtypes ?? Object.values(ModelDtype).filter((d) => existsSync(modelFilePath(options.modelsDir, spec.id, d)));
  const loaded: { dtype: ModelDtype; embedder: TransformersEmbedder }[] = [];
  const files: DtypeVerification[] = [];
  try {
    for (const dtype of dtypes) {
      const started = performance.now();
      const embedder = await TransformersEmbedder.load({ modelsDir: options.modelsDir, modelId: spec.id, dtype, verify: false });
      loaded.push({ dtype, embedder });
      const checks = await runModelChecks(embedder, spec, dtype);
      files.push({ dtype, checks, ms: Math.round(performance.now() - started) });
    }
    const fp32 = loaded.find((l) => l.dtype === ModelDtype.fp32);
    const q8 = loaded.find((l) => l.dtype === ModelDtype.q8);
    const consistency =
      fp32 && q8
        ? await runConsistencyCheck(spec, { dtype: q8.dtype, fns: q8.embedder }, { dtype: fp32.dtype, fns: fp32.embedder })
        : undefined;
    const passed = files.every((f) => !firstFailure(f.checks)) && (consistency?.passed ?? true);
    options.logger?.info({ modelId: spec.id, passed }, 'model verified');
    return { modelId: spec.id, passed, files, ...(consistency ? { consistency } : {}) };
  } finally {
    for (const { embedder } of loaded) await embedder.close();
  }
}

/** The first failed check of a report, with the file it failed on. */
export function reportFailure(report: VerificationReport): { dtype?: ModelDtype; check: CheckResult } | undefined {
  for (const file of report.files) {
    const failed = firstFailure(file.checks);
    if (failed) return { dtype: file.dtype, check: failed };
  }
  if (report.consistency && !report.consistency.passed) return { check: report.consistency };
  return undefined;
}

/** Throws `ModelVerificationError` naming the model, file and check when a report failed. */
export function assertVerified(report: VerificationReport): void {
  const failure = reportFailure(report);
  if (!failure) return;
  const where = failure.dtype ? ` (${failure.dtype})` : '';
  throw new ModelVerificationError(
    report.modelId,
    failure.check.check,
    `Model ${report.modelId}${where} failed the ${failure.check.check} check: ${failure.check.detail}`,
    { details: { report } },
  );
}
