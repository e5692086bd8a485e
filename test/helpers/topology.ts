/**
 * The scale-out topology for tests, as real processes: a NATS server of the test's own (on free
 * ports, with JetStream in a temp directory, so it can be restarted) and `quire processor`
 * nodes. Hubs come from {@link startHub} with role `hub`. Everything started here is stopped,
 * and its directory removed, by its `stop()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, waitFor } from './hub.ts';

/** A TCP port free on loopback now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves once `child` has exited (at once if it has). */
function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export interface NatsServer {
  url: string;
  /** Stops the server (SIGTERM) and starts it again on the same port and store. */
  restart(options?: { downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `nats-server` with JetStream on free ports; the services script installs it. */
export async function startNats(): Promise<NatsServer> {
  const dir = await mkdtemp(join(tmpdir(), 'quire-nats-'));
  const port = await freePort();
  const monitor = await freePort();
  let child: ChildProcess;
  const launch = async () => {
    child = spawn(
      'nats-server',
      ['--addr', '127.0.0.1', '--port', String(port), '--http_port', String(monitor), '--jetstream', '--store_dir', dir],
      { stdio: 'ignore' },
    );
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}`);
        return fetch(`http://127.0.0.1:${monitor}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
      },
      15_000,
      'nats-server ready',
    );
  };
  try {
    await launch();
  } catch (err) {
    child!.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    async restart(options = {}) {
      child.kill('SIGTERM');
      await exitOf(child);
      await new Promise((r) => setTimeout(r, options.downMs ?? 0));
      await launch();
    },
    async stop() {
      child.kill('SIGTERM');
      await exitOf(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface ProcessorProcess {
  /** As the node announces itself and marks its progress: `hostname:pid`. */
  nodeId: string;
  pid: number;
  /** Its working directory: a fresh temp dir, where it must write nothing. */
  cwd: string;
  child: ChildProcess;
  output(): string;
  /** SIGKILL: no shutdown hooks run. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for the exit (SIGKILL after `graceMs`, default 30 s); answers the exit code. */
  stop(options?: { graceMs?: number }): Promise<number | null>;
  /** The CommonJS modules it loaded, as written on a graceful exit; null before one. */
  loadedModules(): Promise<string[] | null>;
  /** Removes its working directory. */
  cleanUp(): Promise<void>;
}

/** Starts `quire processor` on `natsUrl` with one pipeline process; resolves once it takes jobs. */
export async function startProcessor(options: {
  natsUrl: string;
  prefix: string;
  env?: Record<string, string>;
}): Promise<ProcessorProcess> {
  const cwd = await mkdtemp(join(tmpdir(), 'quire-processor-'));
  const modulesFile = join(cwd, '..', `${cwd.split('/').at(-1)}-modules.json`);
  const env: Record<string, string | undefined> = {
    ...process.env,
    BUS: 'nats',
    NATS_URL: options.natsUrl,
    NATS_PREFIX: options.prefix,
    MODELS_DIR: join(repoRoot, '.models'),
    PROCESSOR_WORKERS: '1',
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json',
    QUIRE_LOADED_MODULES_FILE: modulesFile,
    ...options.env,
  };
  // It is given no store configuration at all.
  delete env.DATA_DIR;
  const child = spawn(
    process.execPath,
    ['--import', join(repoRoot, 'test/helpers/module-report.mjs'), join(repoRoot, 'bin/quire.mjs'), 'processor'],
    { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = exitOf(child);
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`processor exited with ${child.exitCode}:\n${output.slice(-4000)}`);
        return /processor node is running/.test(output);
      },
      180_000,
      'processor node running',
    );
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    await rm(cwd, { recursive: true, force: true });
    throw err;
  }
  const nodeId = (JSON.parse(output.split('\n').find((l) => l.includes('processor node is running'))!) as { nodeId: string }).nodeId;
  return {
    nodeId,
    pid: child.pid!,
    cwd,
    child,
    output: () => output,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop(stopOptions = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const force = setTimeout(() => child.kill('SIGKILL'), stopOptions.graceMs ?? 30_000);
        await exited;
        clearTimeout(force);
      }
      return child.exitCode;
    },
    async loadedModules() {
      try {
        return JSON.parse(await readFile(modulesFile, 'utf8')) as string[];
      } catch {
        return null;
      }
    },
    async cleanUp() {
      await rm(cwd, { recursive: true, force: true });
      await rm(modulesFile, { force: true });
    },
  };
}
