#!/usr/bin/env node
// `npm test`: prepares what the suite needs on a fresh machine (the services from
// scripts/services.sh, the models, the generated fixtures, the built web UI), runs every *.test.ts under the
// workspace folders (or the paths given) with Node's test runner through tsx, and stops the
// services it started. Test files run one at a time: several start real servers. The
// end-to-end suites then run a second time on the scale-out topology (QUIRE_TEST_SCALE_OUT=0
// leaves that out, for a quick run).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Suites that `npm test` runs a second time on the scale-out topology. */
const SCALE_OUT_SUITES = [
  'test/e2e.test.ts',
  'test/collab.test.ts',
  'test/matches.test.ts',
  'test/labels.test.ts',
  'test/dashboard.test.ts',
  'test/authorization-matrix.test.ts',
];
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
    const runFiles = (list, env = {}) =>
      spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...list], {
        stdio: 'inherit',
        env: { ...process.env, ...env },
      }).status ?? 1;
    let status = runFiles(files);
    // The end-to-end suites again, on the scale-out topology: hub replicas on MongoDB and NATS
    // behind HAProxy, with a processor node (see test/helpers/scale-out.ts).
    const again = files.filter((f) => SCALE_OUT_SUITES.includes(f));
    if (again.length > 0 && process.env.QUIRE_TEST_SCALE_OUT !== '0') {
      console.log(`\nthe end-to-end suites on the scale-out topology: ${again.join(', ')}`);
      status ||= runFiles(again, { QUIRE_TEST_TOPOLOGY: 'scale-out' });
    }
    console.log(`test suite wall time: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    process.exitCode = status;
  }
} catch (err) {
  console.error(err.message);
  process.exitCode = 1;
} finally {
  stopServices();
}
