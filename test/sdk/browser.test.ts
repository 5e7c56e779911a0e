/**
 * The built SDK in a browser. Builds sdk/ into a temporary folder (not sdk/dist, which the pack
 * test rebuilds at the same time), then:
 *  - checks its module graph needs nothing but relative files and `openapi-fetch`, and touches no
 *    Node-only global, so it loads in any browser without a bundler's Node polyfills;
 *  - when Chromium is installed (Debian's `chromium`), loads it unbundled in headless Chromium
 *    through an import map and drives the real server through a same-origin proxy: create a
 *    restricted key, page through the list, read a 403 as a value, revoke.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_FLAGS, chromiumSkipReason } from '../support/chromium.ts';
import { spawnServer, type ServerProcess } from '../support/process.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OPENAPI_FETCH = join(ROOT, 'node_modules', 'openapi-fetch', 'dist', 'index.mjs');

let outDir: string;

/** Runs in the page, unbundled: the SDK's own files plus openapi-fetch through the import map. */
const SMOKE_SCRIPT = `
import { createHeyKeysClient, paginate } from '/sdk/index.js';
import { createHeyKeysFetchClient } from '/sdk/openapi-fetch.js';

export async function run(apiKey) {
  const origin = location.origin;
  const heykeys = createHeyKeysClient({ baseUrl: origin, apiKey, throwOnError: true });
  const { data: created } = await heykeys.createApiKey({
    body: { name: 'from a browser', permission: { type: 'restricted', scopes: ['tags:read'] }, expires_in_days: 7 },
  });
  const ids = [];
  for await (const key of paginate(heykeys.listApiKeys, { query: { limit: 1 } })) ids.push(key.id);
  const restricted = createHeyKeysClient({ baseUrl: origin, apiKey: created.secret, scheme: 'basic' });
  const { error } = await restricted.listApiKeys();
  console.log(String(heykeys), String(restricted), error?.detail);
  await heykeys.revokeApiKey({ path: { id: created.id } });
  const viaFetch = await createHeyKeysFetchClient({ baseUrl: origin, apiKey }).GET('/v1/api-keys/{id}', {
    params: { path: { id: created.id } },
  });
  return {
    listed: ids.includes(created.id),
    forbidden: [error?.status, error?.missing_scopes],
    afterRevoke: viaFetch.error?.status,
    secret: created.secret,
  };
}
`;

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) return jsFiles(full);
    return entry.name.endsWith('.js') ? [full] : [];
  });
}

/** The code without comments: the JSDoc examples mention `process.env` and package names on purpose. */
const code = (file: string) => readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), 'heykeys-sdk-browser-'));
  await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'sdk', 'tsconfig.json'), '--outDir', outDir]);
}, 120_000);

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

describe('the built SDK is browser-safe', () => {
  it('imports only its own files and openapi-fetch', () => {
    const files = jsFiles(outDir);
    expect(files.length).toBeGreaterThan(10);
    const specifiers = new Set(
      files.flatMap((file) => [...code(file).matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s*['"]([^'"]+)['"]/gm)].map((m) => m[1]!)),
    );
    const external = [...specifiers].filter((s) => !s.startsWith('./') && !s.startsWith('../'));
    expect(external).toEqual(['openapi-fetch']);
    expect([...specifiers].filter((s) => !s.startsWith('openapi') && !s.endsWith('.js'))).toEqual([]);
  });

  it('uses no Node-only global or module', () => {
    const offenders = jsFiles(outDir).flatMap((file) =>
      [...code(file).matchAll(/\bprocess\.|\bBuffer\b|\brequire\(|__dirname|['"]node:/g)].map((m) => `${file.slice(outDir.length)}: ${m[0]}`),
    );
    expect(offenders).toEqual([]);
  });
});

const skipReason = chromiumSkipReason('the SDK in headless Chromium');

describe.skipIf(skipReason !== '')(`in headless Chromium (${CHROMIUM})${skipReason}`, () => {
  let api: ServerProcess;
  let site: Server;

  beforeAll(async () => {
    api = await spawnServer({ removeDataDir: true });
    site = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://site');
      if (url.pathname.startsWith('/v1/')) {
        // Same origin for the page, so the test needs no CORS from the server.
        const upstream = httpRequest(`${api.url}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        req.pipe(upstream);
        return;
      }
      if (url.pathname === '/smoke.mjs') {
        res.writeHead(200, { 'Content-Type': 'text/javascript' });
        res.end(SMOKE_SCRIPT);
        return;
      }
      if (url.pathname === '/') {
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end(
          `<!doctype html><script type="importmap">{"imports":{"openapi-fetch":"/openapi-fetch.mjs"}}</script><p>SDK smoke test</p>`,
        );
        return;
      }
      const file = url.pathname === '/openapi-fetch.mjs' ? OPENAPI_FETCH : normalize(join(outDir, url.pathname.replace(/^\/sdk\//, '')));
      if (!file.startsWith(outDir) && file !== OPENAPI_FETCH) return void res.writeHead(403).end();
      if (!existsSync(file)) return void res.writeHead(404).end();
      res.writeHead(200, { 'Content-Type': extname(file) === '.html' ? 'text/html' : 'text/javascript' });
      res.end(readFileSync(file));
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  }, 60_000);

  afterAll(async () => {
    await new Promise((resolve) => site?.close(resolve));
    await api?.stop();
  });

  it('creates a restricted key, pages through the list, reads a 403 as a value and revokes, unbundled', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: CHROMIUM_FLAGS,
    });
    try {
      const page = await browser.newPage();
      const consoleLines: string[] = [];
      page.on('console', (message) => consoleLines.push(message.text()));
      const pageErrors: string[] = [];
      page.on('pageerror', (error) => pageErrors.push(String(error)));
      const origin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
      await page.goto(`${origin}/`);
      // A string, not a function: the test file is transformed by Vite, the page script must not be.
      const report = (await page.evaluate(`import('/smoke.mjs').then((m) => m.run(${JSON.stringify(api.ownerSecret)}))`)) as {
        secret: string;
      };
      expect(pageErrors).toEqual([]);
      expect(report).toMatchObject({ listed: true, forbidden: [403, ['api_keys:read']], afterRevoke: 404 });
      expect(consoleLines.join('\n')).toContain('hey_...');
      for (const secret of [api.ownerSecret!, report.secret]) expect(consoleLines.join('\n')).not.toContain(secret);
    } finally {
      await browser.close();
    }
  }, 120_000);
});
