#!/usr/bin/env node
// `npm test`: prepares what the suite needs on a fresh machine (the services from
// scripts/services.sh, the models, the generated fixtures, the built web UI), runs every *.test.ts under the
// workspace folders (or the paths given) with Node's test runner through tsx, and stops the
// services it started. Test files run one at a time: several start real servers.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`npm test: ${what} failed (exit ${r.status ?? r.signal})`);
}

const servicesRunning = spawnSync('bash', ['scripts/services.sh', 'status'], { stdio: 'ignore' }).status === 0;
if (!servicesRunning && spawnSync('bash', ['scripts/services.sh', 'start'], { stdio: 'inherit' }).status !== 0) {
  console.error('npm test: starting services failed');
  process.exit(1);
}
const stopServices = () => {
  if (!servicesRunning) spawnSync('bash', ['scripts/services.sh', 'stop'], { stdio: 'inherit' });
};

try {
  run(process.execPath, ['bin/quire.mjs', 'models'], 'obtaining models');
  run(process.execPath, ['--import', 'tsx', 'test/fixtures/generate.ts'], 'generating fixtures');
  // The browser tests use the UI the hub serves: build it from the sources being tested
  // (skipped when the build is already of these sources).
  run(process.execPath, ['--import', 'tsx', 'scripts/build-web.ts'], 'building the web UI');

  const roots = process.argv.slice(2).length
    ? process.argv.slice(2)
    : ['kernel', 'bus', 'processors', 'search', 'hub', 'graphql', 'web', 'test'];
  const skip = new Set(['node_modules', 'dist', '.svelte-kit', 'generated', 'build']);
  const collect = (path, out) => {
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) return out;
    if (st.isFile()) {
      if (path.endsWith('.test.ts')) out.push(path);
      return out;
    }
    for (const name of readdirSync(path).sort()) if (!skip.has(name)) collect(join(path, name), out);
    return out;
  };
  const files = roots.flatMap((r) => collect(r, [])).map((f) => relative(root, f));
  if (files.length === 0) {
    console.error('no test files found under', roots.join(', '));
    process.exitCode = 1;
  } else {
    const started = Date.now();
    const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
      stdio: 'inherit',
    });
    console.log(`test suite wall time: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    process.exitCode = result.status ?? 1;
  }
} catch (err) {
  console.error(err.message);
  process.exitCode = 1;
} finally {
  stopServices();
}
