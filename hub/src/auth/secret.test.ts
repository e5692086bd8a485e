import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SECRET_FILE, loadAuthSecret } from './secret.ts';

describe('loadAuthSecret', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'quire-secret-'));
    dirs.push(dir);
    return dir;
  };

  it('uses the configured secret as is', async () => {
    const dir = await tempDir();
    const key = await loadAuthSecret({ configured: 's'.repeat(40), dataDir: dir });
    assert.equal(new TextDecoder().decode(key), 's'.repeat(40));
    await assert.rejects(stat(join(dir, SECRET_FILE)), { code: 'ENOENT' });
  });

  it('generates a key once, readable by the owner only, and reads the same key after a restart', async () => {
    const dataDir = join(await tempDir(), 'not-yet');
    const first = await loadAuthSecret({ configured: null, dataDir });
    assert.ok(first.length >= 32);
    assert.equal((await stat(join(dataDir, SECRET_FILE))).mode & 0o777, 0o600);
    assert.deepEqual(await loadAuthSecret({ configured: null, dataDir }), first);
    const together = await Promise.all([1, 2, 3].map(() => loadAuthSecret({ configured: null, dataDir })));
    for (const k of together) assert.deepEqual(k, first);
  });

  it('refuses a kept key that is too short rather than replacing it', async () => {
    const dataDir = await tempDir();
    await writeFile(join(dataDir, SECRET_FILE), 'short\n');
    await assert.rejects(loadAuthSecret({ configured: null, dataDir }), /no usable key/);
  });
});
