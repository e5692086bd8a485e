/**
 * A real load balancer for multi-hub tests: Debian's HAProxy (the services script installs
 * it), on a free loopback port, round-robin over hubs that it checks on `/readyz`, WebSockets
 * passed through. A hub that stops answering is taken out within a second; one that comes back
 * is taken in again. Stopped, with its config directory removed, by `stop()`.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './hub.ts';
import { freePort } from './topology.ts';

export interface Balancer {
  url: string;
  stop(): Promise<void>;
}

/** Debian installs it under /usr/sbin, which PATH may lack. */
const HAPROXY = process.env.HAPROXY ?? (existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy');

/** Starts HAProxy in front of hubs listening on loopback at `ports`. */
export async function startBalancer(ports: readonly number[]): Promise<Balancer> {
  const dir = await mkdtemp(join(tmpdir(), 'quire-haproxy-'));
  const port = await freePort();
  const config = [
    'global',
    '  maxconn 8192',
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout client 1h',
    '  timeout server 1h',
    '  timeout tunnel 1h',
    // A request that found its hub gone is sent to another.
    '  option redispatch',
    '  retries 3',
    'frontend quire',
    `  bind 127.0.0.1:${port}`,
    '  default_backend hubs',
    'backend hubs',
    '  balance roundrobin',
    '  option httpchk GET /readyz',
    '  http-check expect status 200',
    // A check gets 2 s to answer: a busy hub is slow, not gone (a gone one refuses at once,
    // and its requests are sent to another hub by `option redispatch`).
    '  timeout check 2s',
    '  default-server inter 500ms fall 2 rise 1',
    ...ports.map((p, i) => `  server hub${i} 127.0.0.1:${p} check`),
    '',
  ].join('\n');
  const file = join(dir, 'haproxy.cfg');
  await writeFile(file, config);
  // -db: stay in the foreground, so the child is the balancer itself.
  const child = spawn(HAPROXY, ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', (err) => (output += String(err)));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`haproxy exited with ${child.exitCode}:\n${output}`);
        return fetch(`${url}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
      },
      15_000,
      'haproxy in front of a ready hub',
    );
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
