// Builds the task board into examples/assets/demo/, which the Rust demo server embeds
// (examples/src/demo_page.rs) and serves at `/`. The names are fixed, not hashed, so the
// server's list of files does not change with every build.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));
const packages = path.resolve(here, '../packages');

export default defineConfig({
  root: here,
  base: '/',
  plugins: [react()],
  resolve: {
    alias: {
      '@chanbind/client': path.join(packages, 'client/src/index.ts'),
      '@chanbind/react': path.join(packages, 'react/src/index.ts'),
      '@chanbind/mui': path.join(packages, 'mui/src/index.ts'),
    },
  },
  build: {
    outDir: path.resolve(here, '../../examples/assets/demo'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: true,
    chunkSizeWarningLimit: 1024,
    modulePreload: false,
    rollupOptions: {
      output: {
        entryFileNames: 'assets/app.js',
        chunkFileNames: 'assets/[name].js',
        assetFileNames: 'assets/[name][extname]',
      },
    },
  },
  server: { port: 5173 },
});
