/**
 * The SDK as a user gets it: `npm pack` (which builds it), install the tarball into an empty
 * project outside this repo, then run a plain .mjs script there against a live server (create a
 * restricted key, list, revoke) and type-check a TypeScript consumer against the published .d.ts.
 *
 * The script runs on this Node; set HEYKEYS_EXTRA_NODES to a comma-separated list of other node
 * binaries (a Node 22, say) to run it on those too.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer, type ServerProcess } from '../support/process.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SDK_DIR = join(ROOT, 'sdk');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

const CONSUMER_SCRIPT = `
import { inspect } from 'node:util';
import { createHeyKeysClient, paginate, HeyKeysProblemError } from '@heykeys/sdk';
import { createHeyKeysFetchClient } from '@heykeys/sdk/openapi-fetch';

const baseUrl = process.env.HEYKEYS_URL;
const apiKey = process.env.HEYKEYS_KEY;
const heykeys = createHeyKeysClient({ baseUrl, apiKey, throwOnError: true });

const { data: created } = await heykeys.createApiKey({
  body: { name: 'packed consumer', permission: { type: 'restricted', scopes: ['tags:read'] }, expires_in_days: 7 },
});

const listed = [];
for await (const key of paginate(heykeys.listApiKeys, { query: { limit: 1 } })) listed.push(key.id);

const restricted = createHeyKeysClient({ baseUrl, apiKey: created.secret, scheme: 'basic' });
const forbidden = await restricted.listApiKeys();

await heykeys.revokeApiKey({ path: { id: created.id } });
const afterRevoke = await restricted.getMe();
let thrown;
try {
  await heykeys.getApiKey({ path: { id: created.id } });
} catch (error) {
  thrown = error;
}

const viaFetch = createHeyKeysFetchClient({ baseUrl, apiKey });
const fetchList = await viaFetch.GET('/v1/api-keys', { params: { query: { limit: 100 } } });

console.log(JSON.stringify({
  node: process.version,
  secretShape: /^hey_[0-9A-Za-z]{36}$/.test(created.secret),
  scopes: created.permission.scopes,
  listed: listed.includes(created.id),
  forbidden: [forbidden.error?.status, forbidden.error?.missing_scopes],
  afterRevoke: afterRevoke.error?.status,
  thrown: [thrown instanceof HeyKeysProblemError, thrown?.status],
  goneFromFetchList: !fetchList.data.data.some((k) => k.id === created.id),
  printed: [String(heykeys), inspect(restricted), inspect(thrown), thrown?.message].join('\\n'),
}));
`;

const CONSUMER_TS = `
import { createHeyKeysClient, paginate, type ApiKey } from '@heykeys/sdk';
import { createHeyKeysFetchClient } from '@heykeys/sdk/openapi-fetch';

export async function main(baseUrl: string, apiKey: string): Promise<ApiKey[]> {
  const heykeys = createHeyKeysClient({ baseUrl, apiKey });
  const { data, error } = await heykeys.getApiKey({ path: { id: 'key_12345678' } });
  if (error) {
    const status: 400 | 401 | 403 | 404 | 429 | 503 = error.status;
    if (error.status === 403) console.log(error.missing_scopes, status);
    return [];
  }
  const keys: ApiKey[] = [data];
  for await (const key of paginate(heykeys.listApiKeys)) keys.push(key);
  const viaFetch = await createHeyKeysFetchClient({ baseUrl, apiKey }).GET('/v1/api-keys');
  if (viaFetch.data) keys.push(...viaFetch.data.data);
  // @ts-expect-error getApiKey needs its path parameter
  await heykeys.getApiKey();
  return keys;
}
`;

let workDir: string;
let server: ServerProcess;
let packedFiles: string[];

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'heykeys-sdk-pack-'));
  const [packed] = await Promise.all([
    run('npm', ['pack', '--json', '--pack-destination', workDir], { cwd: SDK_DIR, maxBuffer: 16 * 1024 * 1024 }),
    spawnServer({ removeDataDir: true }).then((s) => (server = s)),
  ]);
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packedFiles = info!.files.map((f) => f.path);

  const project = join(workDir, 'consumer');
  rmSync(project, { recursive: true, force: true });
  await run('mkdir', ['-p', project]);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  await run('npm', ['install', join(workDir, info!.filename), '--no-audit', '--no-fund', '--prefer-offline'], { cwd: project });
  writeFileSync(join(project, 'consumer.mjs'), CONSUMER_SCRIPT);
  writeFileSync(join(project, 'consumer.ts'), CONSUMER_TS);
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', lib: ['es2022', 'dom'], types: [], strict: true, noEmit: true },
      files: ['consumer.ts'],
    }),
  );
}, 240_000);

afterAll(async () => {
  await server?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe('the packed SDK', () => {
  it('ships the built JavaScript, its declarations, the README and the licence, and no sources', () => {
    expect(packedFiles).toEqual(expect.arrayContaining(['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/openapi-fetch.js']));
    expect(packedFiles.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(packedFiles.filter((f) => !f.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE'].includes(f))).toEqual([]);
  });

  const nodes = [process.execPath, ...(process.env['HEYKEYS_EXTRA_NODES'] ?? '').split(',').filter(Boolean)];
  it.each(nodes)('runs a plain .mjs script against a live server with %s: create a restricted key, list, revoke', async (node) => {
    const { stdout } = await run(node, ['consumer.mjs'], {
      cwd: join(workDir, 'consumer'),
      env: { ...process.env, HEYKEYS_URL: server.url, HEYKEYS_KEY: server.ownerSecret! },
    });
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(report).toMatchObject({
      secretShape: true,
      scopes: ['tags:read'],
      listed: true,
      forbidden: [403, ['api_keys:read']],
      afterRevoke: 401,
      thrown: [true, 404],
      goneFromFetchList: true,
    });
    expect(report.printed).toContain('hey_...');
    expect(report.printed).not.toContain(server.ownerSecret!);
    expect(report.printed).not.toMatch(/hey_[0-9A-Za-z]{36}/);
  });

  it('type-checks a TypeScript consumer against the published declarations (nodenext resolution)', async () => {
    const result = await run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: join(workDir, 'consumer') }).catch((e: { stdout: string }) => e);
    expect('stdout' in result ? result.stdout : '').toBe('');
  });
});
