/**
 * The example page. `npx vite mocks/example` serves it (run `node mocks/scripts/init-worker.ts`
 * first, for public/mockServiceWorker.js); mocks/test/browser.test.ts builds it with this config.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  build: {
    // The page awaits the worker at the top level.
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    // msw, Ajv and the whole spec make a ~680 kB development-only bundle; that is expected here.
    chunkSizeWarningLimit: 1024,
  },
});
