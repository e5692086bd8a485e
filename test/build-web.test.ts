import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { buildWebIfChanged, webBuildInputs } from '../scripts/build-web.ts';

/** A repository with the files the UI build reads, and a build that only writes index.html. */
function makeRepo(): string {
  const root = mkdtempSync(join(tmpdir(), 'quire-build-web-'));
  const files: Record<string, string> = {
    'package.json': JSON.stringify({ workspaces: ['graphql', 'hub', 'web'] }),
    'package-lock.json': '{"lockfileVersion":3}',
    'web/package.json': JSON.stringify({ name: '@quire/web', devDependencies: { '@quire/graphql': '0.1.0', svelte: '^5' } }),
    'web/svelte.config.js': 'export default {};',
    'web/vite.config.js': 'export default {};',
    'web/src/routes/+page.svelte': '<h1>Quire</h1>',
    'web/node_modules/svelte/index.js': 'dependency',
    'graphql/package.json': JSON.stringify({ name: '@quire/graphql' }),
    'graphql/src/index.ts': 'export type Document = { id: string };',
    'hub/package.json': JSON.stringify({ name: '@quire/hub' }),
    'hub/src/main.ts': 'export {};',
  };
  for (const [path, text] of Object.entries(files)) write(root, path, text);
  return root;
}

function write(root: string, path: string, text: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}

describe('building the web UI only when its sources changed', () => {
  const roots: string[] = [];
  let root: string;
  let builds: number;
  const fakeBuild = (at: string): void => {
    builds++;
    write(at, 'web/build/index.html', '<!doctype html>');
  };
  const run = (options: { force?: boolean; build?: (root: string) => void } = {}) =>
    buildWebIfChanged({ root, build: fakeBuild, log: () => {}, ...options });

  beforeEach(() => {
    root = makeRepo();
    roots.push(root);
    builds = 0;
  });
  after(() => {
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  });

  it('builds the first time, then skips while nothing changed', () => {
    assert.deepEqual(run(), { built: true, reason: 'no build yet' });
    assert.deepEqual(run(), { built: false, reason: 'its sources are unchanged' });
    assert.equal(builds, 1);
  });

  it('rebuilds after a source is edited, added or removed, or the configuration or lock changes', () => {
    run();
    const changes: [string, () => void][] = [
      ['edited source', () => write(root, 'web/src/routes/+page.svelte', '<h1>Quire!</h1>')],
      ['added source', () => write(root, 'web/src/lib/new.ts', 'export {};')],
      ['removed source', () => rmSync(join(root, 'web/src/lib/new.ts'))],
      ['static file', () => write(root, 'web/static/favicon.svg', '<svg/>')],
      ['vite config', () => write(root, 'web/vite.config.js', 'export default { x: 1 };')],
      ['installed versions', () => write(root, 'package-lock.json', '{"lockfileVersion":3,"x":1}')],
      ['workspace package the UI imports', () => write(root, 'graphql/src/index.ts', 'export type Document = { id: number };')],
    ];
    for (const [what, change] of changes) {
      change();
      assert.deepEqual(run(), { built: true, reason: 'its sources changed' }, what);
      assert.equal(run().built, false, `${what}: built once`);
    }
    assert.equal(builds, 1 + changes.length);
  });

  it('ignores what the build does not read', () => {
    run();
    write(root, 'web/node_modules/svelte/index.js', 'another dependency build');
    write(root, 'web/.svelte-kit/generated.js', 'generated');
    write(root, 'web/README.md', 'notes');
    write(root, 'hub/src/main.ts', 'export const x = 1;');
    assert.equal(run().built, false);
  });

  it('rebuilds a build that is missing, unstamped, or failed, and when forced', () => {
    run();
    rmSync(join(root, 'web/build'), { recursive: true });
    assert.deepEqual(run(), { built: true, reason: 'no build yet' });

    rmSync(join(root, 'web/build/.build-stamp'));
    assert.deepEqual(run(), { built: true, reason: 'the build has no stamp' });

    write(root, 'web/src/routes/+page.svelte', '<h1>broken</h1>');
    rmSync(join(root, 'web/build'), { recursive: true });
    assert.throws(
      () =>
        run({
          build: () => {
            throw new Error('vite failed');
          },
        }),
      /vite failed/,
    );
    assert.equal(run().built, true, 'a failed build leaves no stamp');

    assert.deepEqual(run({ force: true }), { built: true, reason: 'asked to' });
  });

  it('reads the UI, its configuration and the workspace packages it imports', () => {
    assert.deepEqual(webBuildInputs(root), [
      'graphql/package.json',
      'graphql/src',
      'package-lock.json',
      'web/package.json',
      'web/src',
      'web/svelte.config.js',
      'web/vite.config.js',
    ]);
  });
});
