/**
 * Builds the web UI (`web/build`) only when its inputs changed since the last successful build,
 * so `npm start` and `npm test` do not spend a build on every run. The inputs are hashed (paths
 * and contents); a stamp with that hash is written into the build after it succeeds, and a later
 * run whose hash matches the stamp skips the build.
 *
 * `node --import tsx scripts/build-web.ts [--force]` (`--force` builds regardless).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The stamp's name inside `web/build`: a dotfile, so the hub's static files never serve it. */
const STAMP_FILE = '.build-stamp';

/** Folders never read as inputs: dependencies and build outputs. */
const SKIP = new Set(['node_modules', '.svelte-kit', 'build', 'dist']);

/**
 * What the build reads, relative to the repository root: the UI's sources and static files,
 * its configuration, the installed dependency versions (package-lock.json), and the sources of
 * the workspace packages it depends on.
 */
export function webBuildInputs(root: string): string[] {
  const inputs = ['web/src', 'web/static', 'web/package.json', 'web/tsconfig.json', 'web/svelte.config.js', 'package-lock.json'];
  for (const name of readdirSync(join(root, 'web'))) if (/^vite\.config\.[cm]?[jt]s$/.test(name)) inputs.push(`web/${name}`);
  const web = readJson(join(root, 'web/package.json'));
  const used = new Set(Object.keys({ ...(web.dependencies as object), ...(web.devDependencies as object) }));
  for (const dir of (readJson(join(root, 'package.json')).workspaces as string[] | undefined) ?? []) {
    if (dir === 'web' || !existsSync(join(root, dir, 'package.json'))) continue;
    if (used.has(readJson(join(root, dir, 'package.json')).name as string)) inputs.push(`${dir}/package.json`, `${dir}/src`);
  }
  return inputs.filter((p) => existsSync(join(root, p))).sort();
}

/** A hash of every input file's path and contents; any edit, addition or removal changes it. */
function webSourcesHash(root: string): string {
  const hash = createHash('sha256');
  const files: string[] = [];
  const walk = (path: string): void => {
    if (statSync(path).isFile()) {
      files.push(path);
      return;
    }
    for (const name of readdirSync(path)) if (!SKIP.has(name)) walk(join(path, name));
  };
  for (const input of webBuildInputs(root)) walk(join(root, input));
  for (const file of files.map((f) => relative(root, f).split(sep).join('/')).sort()) {
    hash
      .update(`${file}\0`)
      .update(readFileSync(join(root, file)))
      .update('\0');
  }
  return hash.digest('hex');
}

/** Whether `web/build` holds a complete build of the current inputs, and if not why. */
function checkWebBuild(root: string): { upToDate: boolean; hash: string; reason: string } {
  const hash = webSourcesHash(root);
  const buildDir = join(root, 'web/build');
  if (!existsSync(join(buildDir, 'index.html'))) return { upToDate: false, hash, reason: 'no build yet' };
  const stamp = join(buildDir, STAMP_FILE);
  if (!existsSync(stamp)) return { upToDate: false, hash, reason: 'the build has no stamp' };
  if (readFileSync(stamp, 'utf8').trim() !== hash) return { upToDate: false, hash, reason: 'its sources changed' };
  return { upToDate: true, hash, reason: 'its sources are unchanged' };
}

/** Options of {@link buildWebIfChanged}. */
export interface BuildWebOptions {
  /** The repository root. */
  readonly root: string;
  /** Build even when the stamp matches. Default false. */
  readonly force?: boolean;
  /** Runs the build; throws when it fails. Default `npm run build -w @quire/web`. */
  readonly build?: (root: string) => void;
  /** Where the decision is reported. Default stderr. */
  readonly log?: (line: string) => void;
}

/** Builds the UI unless its build is up to date; stamps the build only after it succeeded. */
export function buildWebIfChanged(options: BuildWebOptions): { built: boolean; reason: string } {
  const { root, force = false, build = runViteBuild, log = (line) => process.stderr.write(`${line}\n`) } = options;
  // Hashed before building: a source edited during the build leaves a stamp that no longer
  // matches, so the next run builds again.
  const state = checkWebBuild(root);
  if (state.upToDate && !force) {
    log(`web UI: up to date (${state.reason}), not rebuilt`);
    return { built: false, reason: state.reason };
  }
  const reason = force ? 'asked to' : state.reason;
  log(`web UI: building (${reason})`);
  build(root);
  writeFileSync(join(root, 'web/build', STAMP_FILE), `${state.hash}\n`);
  return { built: true, reason };
}

function runViteBuild(root: string): void {
  const r = spawnSync('npm', ['run', 'build', '-w', '@quire/web', '--silent'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`building the web UI failed (exit ${r.status ?? r.signal})`);
}

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    buildWebIfChanged({ root: fileURLToPath(new URL('..', import.meta.url)), force: process.argv.includes('--force') });
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
