#!/usr/bin/env node
// Runs every *.test.ts under the workspace folders (or the paths given) with Node's test
// runner, TypeScript loaded through tsx. Files run one at a time: several start real servers.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const roots = process.argv.slice(2).length ? process.argv.slice(2) : ['processors', 'search', 'hub', 'graphql', 'test'];
const skip = new Set(['node_modules', 'dist', '.svelte-kit', 'generated']);

function collect(path, out) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return out;
  if (st.isFile()) {
    if (path.endsWith('.test.ts')) out.push(path);
    return out;
  }
  for (const name of readdirSync(path).sort()) if (!skip.has(name)) collect(join(path, name), out);
  return out;
}

const files = roots.flatMap((r) => collect(r, [])).map((f) => relative(process.cwd(), f));
if (files.length === 0) {
  console.error('no test files found under', roots.join(', '));
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
