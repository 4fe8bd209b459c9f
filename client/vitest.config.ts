import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = path.dirname(fileURLToPath(import.meta.url));

// The tests run the packages from source: no build step before `vitest`.
export const alias = {
  '@chanbind/client': path.join(here, 'packages/client/src/index.ts'),
  '@chanbind/react': path.join(here, 'packages/react/src/index.ts'),
  '@chanbind/mui': path.join(here, 'packages/mui/src/index.ts'),
};

export default defineConfig({
  resolve: { alias },
  test: {
    // Every file starts its own demo server; two cores, so two files at a time.
    maxWorkers: 2,
    testTimeout: 20_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: { name: 'client', environment: 'node', include: ['packages/client/test/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'react',
          environment: 'jsdom',
          include: ['packages/react/test/**/*.test.tsx', 'packages/mui/test/**/*.test.tsx'],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          environment: 'node',
          include: ['e2e/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
