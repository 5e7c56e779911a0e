/**
 * `npm run bench`: requests/s and p99 latency for an authenticated GET /v1/me on the reference
 * server (SQLite store, warm cache) next to a bare Express hello route, measured in the same run
 * on loopback, and their ratio. Each target runs in its own process; the load comes from this one.
 *   BENCH_SECONDS (default 10), BENCH_CONNECTIONS (default 50)
 */
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const seconds = Number(process.env['BENCH_SECONDS'] ?? 10);
const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 50);

interface Target {
  url: string;
  output: () => string;
  stop: () => Promise<void>;
}

async function start(script: string, env: Record<string, string>): Promise<Target> {
  const child = spawn(process.execPath, [join(ROOT, script)], { env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start:\n${out}`)), 20_000);
    child.stdout.on('data', () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
  return {
    url,
    output: () => out,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

interface Result {
  name: string;
  rps: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function measure(name: string, url: string, headers: Record<string, string> = {}): Promise<Result> {
  // Warm up (caches, JIT) before measuring.
  await autocannon({ url, connections, duration: 2, headers });
  const r = await autocannon({ url, connections, duration: seconds, headers });
  return { name, rps: r.requests.average, p99: r.latency.p99, errors: r.errors, non2xx: r.non2xx };
}

const dataDir = mkdtempSync(join(tmpdir(), 'heykeys-bench-'));
const results: Result[] = [];
const hello = await start('scripts/bench/hello.ts', {});
try {
  results.push(await measure('bare Express (ETag off)', `${hello.url}/hello`));
} finally {
  await hello.stop();
}
const api = await start('server/src/main.ts', { DATA_DIR: dataDir, RATE_LIMIT_PER_MINUTE: '0' });
try {
  const secret = /Owner API key[^\n]*\n\s*\n\s*(\S+)/.exec(api.output())?.[1];
  if (!secret) throw new Error(`no owner key printed:\n${api.output()}`);
  results.push(await measure('GET /v1/me (auth + validation, SQLite)', `${api.url}/v1/me`, { authorization: `Bearer ${secret}` }));
} finally {
  await api.stop();
  rmSync(dataDir, { recursive: true, force: true });
}

const base = results[0]!.rps;
console.log(`\nNode ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${connections} connections, ${seconds} s per target, loopback\n`);
console.log('| target | req/s | p99 ms | ratio to bare Express | errors | non-2xx |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of results) {
  console.log(`| ${r.name} | ${r.rps.toFixed(0)} | ${r.p99.toFixed(1)} | ${(r.rps / base).toFixed(2)} | ${r.errors} | ${r.non2xx} |`);
}
if (results.some((r) => r.errors > 0 || r.non2xx > 0)) {
  console.error('\nSome requests failed: the figures above are not valid.');
  process.exitCode = 1;
}
