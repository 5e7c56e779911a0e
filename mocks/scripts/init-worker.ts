/**
 * Writes msw's service worker script (mockServiceWorker.js) with msw's own CLI, so the script
 * always matches the installed msw version (msw warns when they differ). Never copy it by hand.
 *
 *   node mocks/scripts/init-worker.ts [public dir]     default: mocks/example/public
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const mocksDir = fileURLToPath(new URL('..', import.meta.url));
const mswCli = fileURLToPath(import.meta.resolve('msw/package.json')).replace(/package\.json$/, 'cli/index.js');
export const examplePublicDir = resolve(mocksDir, 'example', 'public');

/** Runs `msw init <publicDir> --no-save` on this Node (msw 3 needs Node >= 22.12). */
export async function initWorker(publicDir: string = examplePublicDir): Promise<string> {
  // msw init reads the package.json of its working directory: mocks/ has one.
  await promisify(execFile)(process.execPath, [mswCli, 'init', publicDir, '--no-save'], { cwd: mocksDir });
  return resolve(publicDir, 'mockServiceWorker.js');
}

if (import.meta.main) {
  const written = await initWorker(process.argv[2] ? resolve(process.argv[2]) : undefined);
  console.log(`Wrote ${written}`);
}
