/**
 * Prism in front of openapi.yaml, for CI pipelines and for test/contract:
 *
 *   node scripts/prism.ts mock                        # npm run mock: the spec's examples on :4010
 *   node scripts/prism.ts proxy [upstream]            # npm run mock:proxy: a running server behind
 *                                                     # a contract check on :4011 (--errors)
 *
 * Options: `--port <n>` (or PRISM_PORT), `--host <h>` (default 127.0.0.1); the upstream defaults to
 * $UPSTREAM, then http://127.0.0.1:3000. Both modes run with `--errors`: in mock mode an invalid
 * request gets the spec's error response instead of a best-effort 200; in proxy mode any response
 * outside the contract becomes a 500 that names the violation (`sl-violations` header). The proxy
 * forwards invalid requests to the server, whose 400 is then checked like any answer;
 * `--validate-requests` makes Prism refuse them itself instead (see `validateRequests`).
 * Either way Prism answers a request without credentials itself (401): it always checks security.
 *
 * Why a wrapper and not `prism …` in package.json: Prism pulls in @scarf/scarf, which phones home
 * unless SCARF_ANALYTICS=false, and its bin would run on whatever `node` comes first on PATH, while
 * Prism 5.16 needs Node >= 24.18. Spawning its CLI entry with `process.execPath` keeps it on the Node
 * that runs this script. The tests start Prism through `startPrism()` below, so the npm scripts and
 * the contract suite run the very same command.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const SPEC_PATH = join(ROOT, 'openapi.yaml');
export const DEFAULT_MOCK_PORT = 4010;
export const DEFAULT_PROXY_PORT = 4011;
export const DEFAULT_UPSTREAM = 'http://127.0.0.1:3000';

/** Prism's CLI entry (`dist/index.js` of @stoplight/prism-cli), resolved from this repository. */
export function prismEntry(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@stoplight/prism-cli/package.json')), 'dist', 'index.js');
}

export type PrismOptions =
  | { mode: 'mock'; port?: number; host?: string; spec?: string }
  | {
      mode: 'proxy';
      upstream: string;
      port?: number;
      host?: string;
      spec?: string;
      /**
       * Let Prism refuse requests that break the spec itself, instead of forwarding them. Off by
       * default: Prism then answers 422 with a body of its own (not our Problem, and a status most
       * operations do not declare), so clients never see the server's 400 listing every failing
       * field, and that 400 is never checked against the contract.
       */
      validateRequests?: boolean;
    };

/** The arguments after Prism's entry for these options. */
export function prismArgs(options: PrismOptions): string[] {
  const spec = options.spec ?? SPEC_PATH;
  const host = options.host ?? '127.0.0.1';
  const port = String(options.port ?? (options.mode === 'mock' ? DEFAULT_MOCK_PORT : DEFAULT_PROXY_PORT));
  if (options.mode === 'mock') return ['mock', spec, '-p', port, '-h', host, '--errors'];
  const requests = options.validateRequests ? [] : ['--validate-request=false'];
  return ['proxy', spec, options.upstream, '-p', port, '-h', host, '--errors', ...requests];
}

/** The environment Prism runs with: ours, minus Scarf's analytics. */
export function prismEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, SCARF_ANALYTICS: 'false' };
}

export interface RunningPrism {
  /** Where Prism listens, e.g. http://127.0.0.1:4010. */
  url: string;
  /** Everything Prism printed so far (its log names every violation it found). */
  output(): string;
  /** SIGTERM, and wait for the process to end. */
  stop(): Promise<void>;
  child: ChildProcess;
}

/**
 * Starts Prism and resolves once it listens. Used by the contract tests (with a free port); the CLI
 * below runs the same command in the foreground.
 */
export async function startPrism(options: PrismOptions & { port: number }, timeoutMs = 30_000): Promise<RunningPrism> {
  const child = spawn(process.execPath, [prismEntry(), ...prismArgs(options)], {
    cwd: ROOT,
    env: prismEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Prism did not start in ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const check = () => {
      if (/Prism is listening on http/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Prism exited with ${code} before listening:\n${out}`));
    });
  });
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${options.port}`,
    output: () => out,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

function usage(): never {
  console.error('usage: node scripts/prism.ts mock [--port 4010] [--host 127.0.0.1]');
  console.error('       node scripts/prism.ts proxy [upstream] [--port 4011] [--host 127.0.0.1] [--validate-requests]');
  console.error('       (upstream: $UPSTREAM, else http://127.0.0.1:3000; port: --port, else $PRISM_PORT)');
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const { parseArgs } = await import('node:util');
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'validate-requests': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  const [mode, upstreamArg, ...extra] = positionals;
  const mockMisused = mode === 'mock' && (upstreamArg !== undefined || values['validate-requests']);
  if (values.help || extra.length > 0 || (mode !== 'mock' && mode !== 'proxy') || mockMisused) usage();

  const portText = values.port ?? process.env['PRISM_PORT'];
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    console.error(`--port must be a TCP port number, got "${portText}"`);
    process.exit(2);
  }
  const common = { ...(port !== undefined ? { port } : {}), ...(values.host ? { host: values.host } : {}) };
  const options: PrismOptions =
    mode === 'mock'
      ? { mode, ...common }
      : { mode, upstream: upstreamArg || process.env['UPSTREAM'] || DEFAULT_UPSTREAM, validateRequests: values['validate-requests'], ...common };

  const child = spawn(process.execPath, [prismEntry(), ...prismArgs(options)], { cwd: ROOT, env: prismEnv(), stdio: 'inherit' });
  // Ctrl-C reaches Prism through the process group; a SIGTERM from a CI runner is passed on.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (code !== null) process.exit(code);
    // Ended by a signal: end the same way, so the caller sees how Prism ended (130 for Ctrl-C, 143 for SIGTERM).
    process.removeAllListeners(signal!);
    process.kill(process.pid, signal!);
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main(process.argv.slice(2));
}
