import { defineConfig } from 'vitest/config';

// Three tiers, one run: unit tests sit beside the code, integration tests in test/ talk to real
// PGlite and PostgreSQL, end-to-end tests drive Debian's Chromium against a real server.
export default defineConfig({
  test: {
    globalSetup: ['test/setup/global.setup.ts'],
    // Two files at a time even on a 2-core box (vitest's default there is one): most of an
    // integration or browser test's time is spent waiting on servers, ffmpeg, PostgreSQL and
    // Chromium, not on the CPU. Browser tests still run one file at a time among themselves.
    maxWorkers: 2,
    reporters: ['default', 'json'],
    outputFile: { json: '.test-results/results.json' },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['{server,access,vision,db,hardware,scripts}/**/*.test.ts'],
          testTimeout: 10_000,
          // Opening and migrating an embedded database is a hook, and on a busy 2-core box it
          // can take longer than a unit test may.
          hookTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
