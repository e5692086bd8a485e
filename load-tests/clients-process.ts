/**
 * The parent's side of load-tests/fanout-clients.ts, shared by fanout.bench.ts and
 * replicas.bench.ts: a child process holding the clients of one run, the clock both processes
 * read, the events whose sequence numbers the clients report, and the open-file limit every
 * connection counts against.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ProgressEvent } from '@quire/kernel';
import { repoRoot } from '../test/helpers/hub.ts';
import type { ClientsMessage, ConnectRequest } from './fanout-clients.ts';

/** An operation not seen by every client within this time counts as lost. */
const OP_TIMEOUT_MS = 10_000;
const CLIENTS_SCRIPT = fileURLToPath(new URL('./fanout-clients.ts', import.meta.url));

/** Milliseconds on the machine-wide monotonic clock, as the clients' process reads it. */
export const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/**
 * The `job.progressed` event of operation `seq` for a document's room: `done` carries the
 * sequence number, which the clients' process reports back as received.
 */
export function sequencedProgress(of: Pick<ProgressEvent, 'jobId' | 'documentId' | 'teamId'>, seq: number): ProgressEvent {
  return { ...of, stage: 'fanout', done: seq, total: seq, percent: 100, etaMs: null, at: Date.now() };
}

/** A child process holding `count` clients of one kind. */
export class ClientsProcess {
  private readonly waiters = new Map<number, (atMs: number) => void>();
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.on('message', (raw) => {
      const message = raw as ClientsMessage;
      if (message.type === 'received') {
        this.waiters.get(message.seq)?.(message.atMs);
        this.waiters.delete(message.seq);
      }
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * Starts the process and resolves once every client has joined; if they do not, closes it and
   * throws. `register`, where given, gets the process before its clients connect, so that a
   * clean-up registered there also covers a start that Ctrl-C cuts short.
   */
  static async start(request: ConnectRequest, register?: (clients: ClientsProcess) => void): Promise<ClientsProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', CLIENTS_SCRIPT], {
      cwd: repoRoot,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const clients = new ClientsProcess(child);
    register?.(clients);
    try {
      await new Promise<void>((resolve, reject) => {
        child.on('message', (raw) => {
          const message = raw as ClientsMessage;
          if (message.type === 'ready') {
            if (message.connected === request.count) resolve();
            else reject(new Error(`${message.connected} of ${request.count} ${request.kind} clients connected`));
          } else if (message.type === 'error') reject(new Error(`${request.kind} clients: ${message.message}`));
        });
        child.once('exit', (code) => reject(new Error(`${request.kind} clients exited with ${code}`)));
        child.send(request);
      });
    } catch (err) {
      await clients.close();
      throw err;
    }
    return clients;
  }

  /** When the last client received `seq` (monotonic ms), or null if it did not in time. */
  received(seq: number): Promise<number | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(seq);
        resolve(null);
      }, OP_TIMEOUT_MS);
      this.waiters.set(seq, (atMs) => {
        clearTimeout(timer);
        resolve(atMs);
      });
    });
  }

  /** Asks the process to disconnect its clients and waits for it to exit; kills it after 10 s. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.child.send({ type: 'close' });
    const force = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(force);
  }
}

/**
 * The open-file limits of this process (children inherit them), printed beside the `needed`
 * estimate; below it, throws and suggests a higher limit or `smaller`, the option that needs fewer.
 */
export function checkOpenFiles(needed: number, smaller: string): { soft: number; hard: number } {
  const limits = openFileLimits();
  console.error(`open-file limit (ulimit -n): soft ${limits.soft}, hard ${limits.hard}; this run needs about ${needed}`);
  if (limits.soft < needed) {
    throw new Error(
      `the open-file limit ${limits.soft} is below ${needed}: raise it (ulimit -n ${Math.min(limits.hard, needed * 2)}) or pass ${smaller}`,
    );
  }
  return limits;
}

function openFileLimits(): { soft: number; hard: number } {
  const out = spawnSync('sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' }).stdout.trim().split('\n');
  const read = (v: string | undefined) => (v === 'unlimited' ? Number.POSITIVE_INFINITY : Number(v));
  return { soft: read(out[0]), hard: read(out[1]) };
}
