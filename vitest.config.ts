import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  // Node loads graphql's CommonJS build; vite would pick its ESM build for our imports while
  // graphql-yoga requires the CommonJS one, and two copies break graphql's instanceof checks.
  resolve: { alias: { graphql: require.resolve('graphql') } },
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each API test file starts its own server on an ephemeral port with its own data dir.
    pool: 'forks',
  },
});
