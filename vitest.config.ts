import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // vitest defaults to (cores - 1) workers: one on a 2-core machine. The tests are mostly
    // CPU-bound in-process work plus short child processes, so use every core.
    maxWorkers: Math.max(2, availableParallelism()),
  },
});
