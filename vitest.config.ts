import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Suites share PostgreSQL and Redis on the machine; each makes its own schema and key prefix.
    fileParallelism: true,
    maxWorkers: 2,
    // Each worker runs its files one after another in one module graph, instead of importing and
    // transforming the source again for each of ~190 files (about a third of a full run's time).
    // So a file must leave nothing process-wide behind it: it closes what it starts, restores any
    // global switch it sets, and a module loads what its own behaviour depends on. To check a
    // change for leaks between files: `npx vitest run --sequence.shuffle.files` (not
    // `--sequence.shuffle`, which also reorders the tests inside a file, and many build on the
    // ones before them).
    isolate: false,
    reporters: ['default'],
  },
});
