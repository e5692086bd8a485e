/**
 * The ordered clean-up of a load test that starts hubs, servers and child processes
 * (graphql.bench.ts, fanout.bench.ts, collab-fanout.bench.ts): each step is added as its
 * thing starts and the steps run last-added first, at the end, after an error or on Ctrl-C.
 */

/** A load test's clean-up steps, how to run them, and the signal Ctrl-C aborts. */
export interface Cleanups {
  /** Steps to run, added as things start; `cleanUp` runs them last-added first. */
  cleanups: (() => Promise<void>)[];
  /** Runs the steps not yet run, one after the other; a failing step is logged and the rest still run. */
  cleanUp: () => Promise<void>;
  /** Aborted on Ctrl-C: a hub still starting with it is killed rather than waited for. */
  signal: AbortSignal;
}

/**
 * Clean-up steps that Ctrl-C also runs, in order, before exiting with 130. The SIGINT listener
 * stays after the first signal: Apollo Server inside an in-process hub stops itself on SIGINT
 * and then raises it again, and that second signal must not cut the ordered clean-up short.
 */
export function cleanUpOnExit(): Cleanups {
  const cleanups: (() => Promise<void>)[] = [];
  const cleanUp = async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch((err: Error) => console.error(`cleanup: ${err.message}`));
  };
  const interrupt = new AbortController();
  process.on('SIGINT', () => {
    if (interrupt.signal.aborted) return;
    interrupt.abort();
    void cleanUp().finally(() => process.exit(130));
  });
  return { cleanups, cleanUp, signal: interrupt.signal };
}
