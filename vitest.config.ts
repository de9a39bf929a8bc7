import { defineConfig } from 'vitest/config';

// Suites with different costs: unit tests are pure and parallel; integration and
// compatibility tests share one real Kafka and ClickHouse, so they run file by file with
// generous timeouts and never rely on sleeps (polling helpers live in test/helpers).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          globalSetup: ['test/helpers/integration-setup.ts'],
        },
      },
      {
        // Not in `npm test`: it boots a VM (npm run test:cgroup-v2-vm), minutes without KVM.
        test: {
          name: 'vm',
          include: ['test/vm/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 700_000,
        },
      },
      {
        test: {
          name: 'compat',
          include: ['test/compat/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
