/**
 * A private Python virtual environment, outside the repository, for the tools that turn PyPI
 * wheels into model files (pip, onnx, onnxruntime's quantiser). Created once and reused.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** A line-oriented view of a running tool, for progress. */
export type LineHandler = (line: string, stream: 'stdout' | 'stderr') => void;

/** Where the venv lives and which interpreter creates it. */
export interface PythonEnvOptions {
  /** The venv folder, e.g. `~/.cache/quire/python`. */
  readonly venvDir: string;
  /** Interpreter used to create the venv (default `python3`). */
  readonly python?: string;
  /** Packages the venv must hold (pip requirement strings). */
  readonly packages: readonly string[];
  readonly onLine?: LineHandler;
}

/**
 * Runs a command, streaming its output line by line. Resolves with the exit code; keeps the
 * last lines of stderr so a failure can say why. Python callers pass `-u` so progress lines
 * arrive as they are printed rather than in buffered bursts.
 */
export function runTool(
  command: string,
  args: readonly string[],
  options: { cwd?: string; onLine?: LineHandler } = {},
): Promise<{ code: number; stderrTail: string[] }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, [...args], { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const stderrTail: string[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => options.onLine?.(line, 'stdout'));
    createInterface({ input: child.stderr }).on('line', (line) => {
      stderrTail.push(line);
      if (stderrTail.length > 20) stderrTail.shift();
      options.onLine?.(line, 'stderr');
    });
    child.once('error', reject);
    child.once('close', (code) => resolvePromise({ code: code ?? 1, stderrTail }));
  });
}

async function mustRun(command: string, args: readonly string[], what: string, onLine?: LineHandler): Promise<void> {
  const { code, stderrTail } = await runTool(command, args, { onLine });
  if (code !== 0) throw new Error(`${what} failed (exit ${code}): ${stderrTail.slice(-5).join(' | ')}`);
}

/** The venv's own interpreter. */
export function venvPython(venvDir: string): string {
  return join(venvDir, 'bin', 'python');
}

/**
 * Makes sure the venv exists and holds `packages`; returns its interpreter. The venv is built
 * in a temporary folder and renamed into place, so an interrupted run leaves no half venv.
 * A marker file records what was installed; a matching marker skips pip entirely.
 */
export async function ensurePythonEnv(options: PythonEnvOptions): Promise<string> {
  const marker = join(options.venvDir, 'quire-packages.txt');
  const wanted = [...options.packages].sort().join('\n');
  if (existsSync(venvPython(options.venvDir))) {
    const have = await readFile(marker, 'utf8').catch(() => '');
    if (have === wanted) return venvPython(options.venvDir);
  } else {
    const temp = `${options.venvDir}.tmp-${process.pid}`;
    await rm(temp, { recursive: true, force: true });
    await mkdir(join(temp, '..'), { recursive: true });
    try {
      await mustRun(options.python ?? 'python3', ['-m', 'venv', temp], 'creating the Python venv', options.onLine);
    } catch (error) {
      await rm(temp, { recursive: true, force: true });
      throw error;
    }
    // venv scripts hold absolute paths, but `bin/python -m pip` works from the renamed folder.
    await rename(temp, options.venvDir);
  }
  const python = venvPython(options.venvDir);
  // pip >= 24.1 prints download progress as plain "Progress N of M" lines (--progress-bar raw).
  await mustRun(python, ['-m', 'pip', 'install', '--quiet', '--upgrade', 'pip>=24.1'], 'upgrading pip', options.onLine);
  await mustRun(python, ['-m', 'pip', 'install', '--quiet', ...options.packages], 'installing converter packages', options.onLine);
  await writeFile(marker, wanted);
  return python;
}
