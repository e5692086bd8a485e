/**
 * Locates the public datasets the evaluation tests take their slices from: `QUIRE_SHARED_DATA`
 * when set, else the first `shared/data` folder beside the repository or one of its parents.
 * Returns null (and the caller skips, saying why) when there is none.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export function sharedDataDir(): string | null {
  if (process.env.QUIRE_SHARED_DATA) return existsSync(process.env.QUIRE_SHARED_DATA) ? resolve(process.env.QUIRE_SHARED_DATA) : null;
  for (let dir = resolve(repoRoot); ; dir = dirname(dir)) {
    const candidate = join(dir, 'shared', 'data');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return null;
  }
}

/** A dataset under the shared data folder, or null with the reason it is missing. */
export function sharedDataset(relativePath: string): { path: string } | { skip: string } {
  const root = sharedDataDir();
  if (!root) return { skip: 'no shared/data folder beside the repository (set QUIRE_SHARED_DATA to the datasets folder)' };
  const path = join(root, relativePath);
  return existsSync(path) ? { path } : { skip: `${relativePath} is not under ${root}` };
}
