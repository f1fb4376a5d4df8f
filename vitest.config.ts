import { defineConfig } from 'vitest/config';

// Timeouts are generous and configurable: tests run real Redis, FFmpeg and live streams on 2 cores.
const scale = Number(process.env.RECFLEET_TEST_TIMEOUT_SCALE ?? 1);

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 60_000 * scale,
    hookTimeout: 60_000 * scale,
    pool: 'forks',
    // Live-stream tests are real-time and CPU-bound on small machines; two files at a time keep them honest.
    maxWorkers: 2,
    minWorkers: 1,
    reporters: ['default'],
  },
});
