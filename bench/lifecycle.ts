/**
 * Cleanup steps and the hard time limit: whatever a bench creates (schemas, Redis keys, temp
 * directories, child processes) is removed at the end, on failure, on Ctrl-C and at the limit.
 */
const cleanups: (() => Promise<void> | void)[] = [];

/** Registers a step; steps run last-in first-out. */
export function onCleanup(step: () => Promise<void> | void): void {
  cleanups.push(step);
}

export async function cleanup(): Promise<void> {
  while (cleanups.length) {
    try {
      await cleanups.pop()!();
    } catch (e) {
      console.error(`bench: cleanup step failed: ${(e as Error).message}`);
    }
  }
}

/**
 * Runs `main` under a hard limit (the process exits with 1 after cleaning up) and cleans up on
 * SIGINT/SIGTERM; prints how long it took.
 */
export function runBench(name: string, hardLimitMs: number, main: () => Promise<void>): void {
  const hardLimit = setTimeout(() => {
    console.error(`${name}: still running after ${hardLimitMs / 1000} s; giving up`);
    void cleanup().finally(() => process.exit(1));
  }, hardLimitMs);
  hardLimit.unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void cleanup().finally(() => process.exit(130)));
  }
  const started = Date.now();
  main()
    .then(
      () => cleanup(),
      async (e: unknown) => {
        console.error(`${name} failed: ${(e as Error).stack ?? String(e)}`);
        process.exitCode = 1;
        await cleanup();
      },
    )
    .finally(() => {
      console.log(`(${name} took ${((Date.now() - started) / 1000).toFixed(0)} s)`);
      clearTimeout(hardLimit);
    });
}
