/**
 * @hey-api/openapi-ts settings for the SDK. `scripts/gen.ts` calls `heyApiConfig()` with the output
 * folder it wants (the real one, or a temporary one for the drift check); the default export lets
 * `npx openapi-ts -f sdk/openapi-ts.config.ts` produce the same files by hand.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig, type UserConfig } from '@hey-api/openapi-ts';

const sdkDir = fileURLToPath(new URL('.', import.meta.url));

export function heyApiConfig(specPath: string, outputPath: string): UserConfig {
  return {
    input: specPath,
    logs: { level: 'silent' },
    output: {
      path: outputPath,
      // The published package is plain ESM run by Node without a bundler: relative imports need
      // their `.js` extension. Set explicitly so the output never depends on which tsconfig is found.
      module: { extension: '.js' },
      tsConfigPath: fileURLToPath(new URL('tsconfig.json', import.meta.url)),
    },
    plugins: [
      '@hey-api/client-fetch',
      '@hey-api/typescript',
      // Flat functions (tree-shakable); src/client.ts binds them to a client made per API key.
      { name: '@hey-api/sdk', operations: 'flat' },
    ],
  };
}

export default defineConfig(heyApiConfig(`${sdkDir}../openapi.yaml`, `${sdkDir}src/gen/hey-api`));
