/**
 * Starts a real hub (`quire all`) as a child process on a free port with its own data
 * directory, for cross-process tests. Every hub started here is stopped and its directory
 * removed by `stop()`; tests register that with `after`/`t.after`.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The owner a hub started with `seedOwner` has, created from QUIRE_ADMIN_EMAIL/QUIRE_ADMIN_PASSWORD. */
export const OWNER = Object.freeze({ email: 'owner@example.org', password: 'correct horse battery staple' });

export interface HubProcess {
  url: string;
  dataDir: string;
  /** With `seedOwner`: the owner's access token, signed in at start (for sockets); null otherwise. */
  ownerToken: string | null;
  /** With `seedOwner`: the owner's `authorization` header; empty otherwise. */
  ownerAuth: Record<string, string>;
  /** {@link gql} against this hub as the seeded owner (anonymous without one). */
  gql(query: string, variables?: Record<string, unknown>): Promise<{ data?: any; errors?: any[] }>;
  /** {@link upload} to this hub as the seeded owner (anonymous without one). */
  upload(file: { name: string; data: Uint8Array; type?: string }): Promise<{ status: number; body: any }>;
  child: ChildProcess;
  /** Everything the hub wrote to stdout and stderr so far. */
  output(): string;
  /** SIGKILL: no shutdown hooks run. */
  kill9(): Promise<void>;
  /** Graceful stop (SIGTERM, then SIGKILL after 15 s) and removal of the data dir unless `keepData`. */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

export interface StartHubOptions {
  /** Reuse a data directory (e.g. after a crash); a fresh temp dir otherwise. */
  dataDir?: string;
  env?: Record<string, string>;
  /** How long to wait for the hub to listen. Default 180 s (first start loads the model). */
  timeoutMs?: number;
  /** Aborting it while the hub starts kills the child and rejects. */
  signal?: AbortSignal;
  /**
   * Seed {@link OWNER} (owner of the default team) and sign in as it: document operations need
   * a principal. Access tokens then last an hour, longer than any test.
   */
  seedOwner?: boolean;
  /** `all` (default) or `hub` (no pipeline: processor nodes on NATS do the processing). */
  role?: 'all' | 'hub';
  /** Extra node options before the CLI, e.g. `--import` of a preload. */
  nodeArgs?: string[];
}

/**
 * Starts a hub. With QUIRE_TEST_TOPOLOGY=scale-out, a suite that asks for an embedded hub gets
 * the scale-out topology instead (two hubs on MongoDB and NATS behind HAProxy, a processor
 * node; see {@link startScaleOut}), reached through the balancer: `npm test` runs the
 * end-to-end suites a second time that way.
 */
export async function startHub(options: StartHubOptions = {}): Promise<HubProcess> {
  if (process.env.QUIRE_TEST_TOPOLOGY === 'scale-out' && !options.dataDir && (options.role ?? 'all') === 'all') {
    const { scaleOutHub } = await import('./scale-out.ts');
    return scaleOutHub(options);
  }
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'quire-hub-')));
  const args = ['--import', 'tsx', ...(options.nodeArgs ?? []), join(repoRoot, 'hub/src/cli.ts'), options.role ?? 'all'];
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      LOG_LEVEL: process.env.QUIRE_TEST_LOG_LEVEL ?? 'warn',
      ...(options.seedOwner ? { QUIRE_ADMIN_EMAIL: OWNER.email, QUIRE_ADMIN_PASSWORD: OWNER.password, AUTH_ACCESS_TTL: '1h' } : {}),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const abort = () => child.kill('SIGKILL');
  options.signal?.addEventListener('abort', abort, { once: true });
  const listening = new Promise<string>((resolve, reject) => {
    if (options.signal?.aborted) abort();
    const timer = setTimeout(() => reject(new Error(`hub did not start in time:\n${output.slice(-4000)}`)), options.timeoutMs ?? 180_000);
    const check = () => {
      const m = /Quire is running: open (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hub exited with ${code} before listening:\n${output.slice(-4000)}`));
    });
  });
  let url: string;
  let ownerToken: string | null = null;
  try {
    url = await listening;
    if (options.seedOwner) ownerToken = await signIn(url, OWNER.email, OWNER.password);
  } catch (err) {
    // A hub that never listened (or whose owner could not sign in) is not left behind, nor its directory.
    child.kill('SIGKILL');
    await exited;
    if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', abort);
  }

  let stopped = false;
  const handle: HubProcess = {
    url,
    dataDir,
    ownerToken,
    ownerAuth: ownerToken ? bearer(ownerToken) : {},
    gql: (query, variables = {}) => gql(url, query, variables, handle.ownerAuth),
    upload: (file) => upload(url, file, handle.ownerAuth),
    child,
    output: () => output,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop(stopOptions = {}) {
      if (!stopped) {
        stopped = true;
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
          await exited;
          clearTimeout(force);
        }
      }
      if (!stopOptions.keepData) await rm(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}

/** The `authorization` header carrying an access token or API key. */
export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/** Signs in over GraphQL and answers the access token; throws the errors of a refused sign-in. */
export async function signIn(url: string, email: string, password: string): Promise<string> {
  const res = await gql(url, `mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }`, {
    e: email,
    p: password,
  });
  if (res.errors?.length) throw new Error(`sign-in of ${email} failed: ${JSON.stringify(res.errors)}`);
  return res.data.signIn.accessToken as string;
}

/** Uploads a file with a multipart POST (with extra headers, e.g. `authorization`); returns status and parsed body. */
export async function upload(
  url: string,
  file: { name: string; data: Uint8Array; type?: string },
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const form = new FormData();
  form.append('file', new Blob([Buffer.from(file.data)], { type: file.type ?? 'application/octet-stream' }), file.name);
  const res = await fetch(`${url}/api/documents`, { method: 'POST', body: form, headers });
  return { status: res.status, body: await res.json() };
}

/** Runs a GraphQL operation over HTTP (with extra headers, e.g. `authorization`) and returns `{data, errors}`. */
export async function gql(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<{ data?: any; errors?: any[] }> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  try {
    return JSON.parse(text) as { data?: any; errors?: any[] };
  } catch {
    throw new Error(`POST ${url}/graphql answered ${res.status} without JSON: ${text.slice(0, 300)}`);
  }
}

/**
 * Scrapes the hub's Prometheus endpoint: every sample by its series (`name` or
 * `name{label="…"}`). Scraping is not free of effects: prom-client's event-loop delay
 * figures (`nodejs_eventloop_lag_p99_seconds`, …) describe the time since the previous
 * scrape, whose collection reset their histogram.
 */
export async function scrapeMetrics(url: string): Promise<Map<string, number>> {
  const res = await fetch(`${url}/metrics`);
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+?(?:\{.*\})?)\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (m) samples.set(m[1]!, Number(m[2]));
  }
  return samples;
}

/**
 * Uploads a file to `hub` as its seeded owner, asserts that the upload was accepted (202) and
 * waits until the document is processed; answers its id.
 */
export async function uploadProcessed(hub: HubProcess, file: { name: string; data: Uint8Array }, timeoutMs: number): Promise<string> {
  const res = await hub.upload(file);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const id: string = res.body.documentId;
  await waitFor(
    async () => (await hub.gql(`query($id: ID!) { document(id: $id) { status } }`, { id })).data.document?.status === 'PROCESSED',
    timeoutMs,
    `${file.name} processed`,
  );
  return id;
}

/**
 * Waits until document `id` on `hub` is PROCESSED or FAILED; answers its `status` and the
 * other GraphQL `fields` asked for (a selection, e.g. `error { code stage }`), typed as `T`.
 */
export async function settledDocument<T extends { status: string } = any>(
  hub: HubProcess,
  id: string,
  timeoutMs: number,
  fields = '',
): Promise<T> {
  return waitFor(
    async () => {
      const doc: T | null | undefined = (await hub.gql(`query($id: ID!) { document(id: $id) { status ${fields} } }`, { id })).data
        ?.document;
      return doc && (doc.status === 'PROCESSED' || doc.status === 'FAILED') ? doc : undefined;
    },
    timeoutMs,
    `document ${id} settled`,
  );
}

/** Polls `fn` until it returns a truthy value or the time runs out. */
export async function waitFor<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
