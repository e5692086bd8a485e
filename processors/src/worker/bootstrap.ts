/**
 * Starts TypeScript modules off the host's thread: in a worker thread (cheap, shares the
 * process) or in a child process (isolated: a native abort, a runaway allocation or a kill
 * ends only the child). Neither inherits the host's `--import tsx` hook, so each registers
 * tsx itself before it loads its entry.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker, type ResourceLimits } from 'node:worker_threads';

const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
import(workerData.tsxApi).then((tsx) => { tsx.register(); return import(workerData.entry); });
`;

export function startTypeScriptWorker(entry: URL, options: { name: string; workerData: object; resourceLimits?: ResourceLimits }): Worker {
  return new Worker(BOOTSTRAP, {
    eval: true,
    name: options.name,
    workerData: { ...options.workerData, entry: entry.href, tsxApi: import.meta.resolve('tsx/esm/api') },
    ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
    // Flags of the host (test runners, loaders) do not apply to workers.
    execArgv: [],
  });
}

/**
 * Forks a child process running `entry` through tsx, with an IPC channel that carries
 * structured-clone messages (typed arrays included). stdout is the host's; stderr is piped
 * so the host can read why a child died (V8 prints its fatal errors there).
 */
export function startTypeScriptProcess(entry: URL, options: { name: string; maxHeapMb?: number }): ChildProcess {
  return fork(fileURLToPath(entry), [], {
    execArgv: [
      '--import',
      import.meta.resolve('tsx'),
      ...(options.maxHeapMb === undefined ? [] : [`--max-old-space-size=${options.maxHeapMb}`]),
      `--title=${options.name}`,
    ],
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
}
