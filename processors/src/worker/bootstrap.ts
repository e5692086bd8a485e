/**
 * Starts a TypeScript module in a worker thread. Workers ignore the `--import tsx` hook of the
 * process that spawns them, so each one registers tsx itself before it loads its entry.
 */
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
