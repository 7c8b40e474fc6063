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
    reporters: ['default'],
  },
});
