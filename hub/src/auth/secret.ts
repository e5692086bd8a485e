/**
 * The key that signs access tokens: `AUTH_SECRET` when configured, else a random key made
 * once and kept in the data directory (mode 0600), so a restart keeps everyone signed in.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Name of the generated key's file under the data directory. */
export const SECRET_FILE = 'auth-secret';

/** Answers the signing key's bytes. */
export async function loadAuthSecret(options: { configured: string | null; dataDir: string }): Promise<Uint8Array> {
  if (options.configured) return new TextEncoder().encode(options.configured);
  const path = join(options.dataDir, SECRET_FILE);
  const existing = await readSecret(path);
  if (existing) return existing;
  await mkdir(options.dataDir, { recursive: true });
  try {
    // `wx`: when two processes start on one fresh directory, one key wins and both read it.
    await writeFile(path, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const created = await readSecret(path);
  if (!created) throw new Error(`${path} holds no usable key (at least 32 characters); remove it to make a new one`);
  return created;
}

async function readSecret(path: string): Promise<Uint8Array | null> {
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if (text.length < 32) throw new Error(`${path} holds no usable key (at least 32 characters); remove it to make a new one`);
  return new TextEncoder().encode(text);
}
