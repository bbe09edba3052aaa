import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each API test file starts its own server on an ephemeral port with its own data dir.
    pool: 'forks',
  },
});
