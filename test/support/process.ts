/**
 * Starts the real entry point (`node server/src/main.ts`, what `npm start` runs) as a child
 * process on a free loopback port, with its own data folder, and captures everything it prints.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The test runner's environment without DATABASE_URL: these servers use SQLite in their own data
 * folder unless a test passes DATABASE_URL explicitly (the PostgreSQL reruns do).
 */
function inheritedEnv(): NodeJS.ProcessEnv {
  const { DATABASE_URL: _ignored, ...rest } = process.env;
  return rest;
}
const KEY = /\b[a-z][a-z0-9_]{0,15}[0-9A-Za-z]{36}\b/;

export interface ServerProcess {
  url: string;
  port: number;
  dataDir: string;
  /** The owner key printed at first start (only when the store was empty). */
  ownerSecret: string | null;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM and wait for a clean exit (usage logs are flushed on the way out). */
  stop(): Promise<number | null>;
  /** SIGKILL: no flush, no goodbye. */
  kill(): Promise<void>;
  child: ChildProcess;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix = 'heykeys-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function spawnServer(options: { dataDir?: string; env?: Record<string, string>; removeDataDir?: boolean } = {}): Promise<ServerProcess> {
  const port = await freePort();
  const dataDir = options.dataDir ?? tempDir();
  const child = spawn(process.execPath, [join(ROOT, 'server/src/main.ts')], {
    cwd: ROOT,
    env: {
      ...inheritedEnv(),
      PORT: String(port),
      DATA_DIR: dataDir,
      FLUSH_INTERVAL_MS: '50',
      VALIDATE_RESPONSES: 'true',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 20 s:\n${out}`)), 20_000);
    const check = () => {
      if (/listening on http/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${out}`));
    });
  });
  const secret = /Owner API key[^\n]*\n\s*\n\s*(\S+)/.exec(out)?.[1] ?? null;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    ownerSecret: secret && KEY.test(secret) ? secret : null,
    output: () => out,
    child,
    async stop() {
      child.kill('SIGTERM');
      const code = await exited;
      if (options.removeDataDir) rmSync(dataDir, { recursive: true, force: true });
      return code;
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Runs the CLI (`npm run cli -- …`) against a data folder and returns its stdout. */
export async function runCli(args: string[], env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, [join(ROOT, 'server/src/cli.ts'), ...args], {
    cwd: ROOT,
    env: { ...inheritedEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`cli ${args.join(' ')} exited ${code}: ${err}`);
  return out;
}
