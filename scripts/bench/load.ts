/**
 * Load for the bench: requests/s, p99 latency and the server's CPU time per request, from one
 * timed run against one target.
 *
 * The generator is wrk when it is on the PATH (Debian's `wrk`), autocannon otherwise. On a small
 * machine the generator shares the cores with the servers, and wrk (C) takes less of them per
 * request than autocannon (JavaScript): on these 2-core machines autocannon found bare Express
 * 5-10 % slower than wrk did, back to back. `BENCH_LOAD=wrk|autocannon` chooses.
 *
 * CPU per request is read from /proc (Linux): user + system time of the server process (its writer
 * thread included) and, for PostgreSQL, of the database backends serving it, over the run, divided
 * by the requests answered. Unlike requests/s, it does not depend on which side is the bottleneck.
 */
import autocannon from 'autocannon';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface BenchRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface Sample {
  rps: number;
  p50: number;
  p99: number;
  /** Server CPU µs per request, or null where /proc cannot tell. */
  cpuPerRequest: number | null;
  errors: number;
  non2xx: number;
}

export type Generator = 'wrk' | 'autocannon';

export function chooseGenerator(): Generator {
  const wanted = process.env['BENCH_LOAD'];
  if (wanted === 'wrk' || wanted === 'autocannon') return wanted;
  if (wanted) throw new Error(`BENCH_LOAD must be wrk or autocannon, not "${wanted}"`);
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (error) {
    // wrk --version exits with 1 after printing its version; only a missing binary is ENOENT.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'autocannon';
  }
  return 'wrk';
}

// ---------------------------------------------------------------- CPU time from /proc

const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** user + system CPU seconds of a process (all its threads), or null when /proc has no answer. */
export function cpuSeconds(pid: number): number | null {
  const file = `/proc/${pid}/stat`;
  if (!existsSync(file)) return null;
  // The command name is in parentheses and may hold spaces: fields are counted after it.
  const stat = readFileSync(file, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/**
 * The machine's CPU time so far, from /proc/stat's `cpu` line (in ticks): all of it, and the part
 * stolen, time a virtual machine's CPUs were ready to run but the hypervisor ran someone else.
 * Null off Linux.
 */
export function machineCpu(): { total: number; steal: number } | null {
  if (!existsSync('/proc/stat')) return null;
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice (guest time is in user's)
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (ticks.length < 8 || ticks.some((t) => !Number.isFinite(t))) return null;
  return { total: ticks.reduce((a, b) => a + b, 0), steal: ticks[7]! };
}

/** CPU seconds of each process that /proc can tell about. */
function cpuByPid(pids: number[]): Map<number, number> {
  const times = new Map<number, number>();
  for (const pid of pids) {
    const seconds = cpuSeconds(pid);
    if (seconds !== null) times.set(pid, seconds);
  }
  return times;
}

/**
 * CPU seconds spent between two readings: processes present at both count their difference, a
 * process that appeared in between (a new database connection) all of its time. One that went
 * away in between is not counted (its last moments are lost); null when no process could be read.
 */
function cpuBetween(before: Map<number, number>, after: Map<number, number>): number | null {
  if (before.size === 0 || after.size === 0) return null;
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
  return total;
}

// ---------------------------------------------------------------- one run

export interface LoadOptions {
  url: string;
  /** Each request of a connection is the next of these; none: a plain GET of the URL. */
  requests?: BenchRequest[];
  connections: number;
  seconds: number;
  /**
   * How long, on average, each connection waits after an answer before it sends its next request
   * (none: at once, the server saturated). With it the load is `connections` callers at a pace the
   * server can follow, and the latency is what one caller sees rather than the queue of requests a
   * saturated server always has in front of it. The waits are drawn from an exponential
   * distribution, so requests arrive at random as from independent callers: with one fixed wait
   * the connections stay in step, all 50 requests arrive together each cycle, and p99 measures
   * the 50th request of a burst (the key read on PostgreSQL, six runs of 3 s each way: p99
   * 5.6-8.9 ms with a fixed 14 ms, 4.1-5.9 ms with an exponential wait of mean 14 ms).
   * wrk only: autocannon has no wait after an answer, and its rate per connection sends each
   * second's quota in one burst at the start of the second (a setInterval of 1 s resets a
   * counter), so its p99 would measure the burst.
   */
  thinkMs?: number;
  scratchDir: string;
}

/**
 * One timed run. `pids` are the processes whose CPU time is the server's (asked again at the end,
 * as a database may have opened or closed connections meanwhile).
 */
export async function runLoad(generator: Generator, options: LoadOptions & { pids: () => Promise<number[]> }): Promise<Sample> {
  const before = cpuByPid(await options.pids());
  const result = generator === 'wrk' ? await runWrk(options) : await runAutocannon(options);
  const cpu = cpuBetween(before, cpuByPid(await options.pids()));
  const answered = result.requests;
  return {
    rps: result.rps,
    p50: result.p50,
    p99: result.p99,
    cpuPerRequest: cpu !== null && answered > 0 ? (cpu * 1e6) / answered : null,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

interface RawResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  non2xx: number;
}

async function runAutocannon(options: LoadOptions): Promise<RawResult> {
  if (options.thinkMs) throw new Error('a think time needs wrk (see LoadOptions.thinkMs)');
  const r = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.seconds,
    ...(options.requests ? { requests: options.requests } : {}),
  });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, requests: r.requests.total, errors: r.errors + r.timeouts, non2xx: r.non2xx };
}

const luaString = (s: string): string => JSON.stringify(s); // a JSON string literal is a valid Lua one for ASCII

/**
 * wrk formats every request once, at start, in Lua; each call of `request` hands out the next, so
 * the generator spends nothing per request beyond sending it. wrk calls `delay` before a connection
 * sends each request and waits that many milliseconds.
 */
function wrkScript(requests: BenchRequest[] | undefined, thinkMs: number | undefined): string {
  const lines: string[] = [];
  if (requests) {
    const formatted = requests.map((r) => {
      const headers = `{ ${Object.entries(r.headers).map(([k, v]) => `[${luaString(k)}] = ${luaString(v)}`).join(', ')} }`;
      return `wrk.format(${luaString(r.method)}, ${luaString(r.path)}, ${headers}${r.body === undefined ? '' : `, ${luaString(r.body)}`})`;
    });
    lines.push(
      'local requests = {}',
      'local next = 0',
      `init = function(args) requests = { ${formatted.join(',\n  ')} } end`,
      'request = function() next = next % #requests + 1; return requests[next] end',
    );
  }
  // An exponential wait of mean thinkMs (whole milliseconds: wrk's unit).
  if (thinkMs) lines.push(`delay = function() return math.floor(-${thinkMs} * math.log(1 - math.random())) end`);
  return lines.join('\n') + '\n';
}

let scripts = 0;

/** A latency from wrk's --latency distribution, in ms. */
function wrkLatency(out: string, percentile: number): number {
  const m = new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s)\\b`, 'm').exec(out);
  if (!m) throw new Error(`wrk printed no ${percentile}th percentile:\n${out}`);
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2] as 'us' | 'ms' | 's'];
}

async function runWrk(options: LoadOptions): Promise<RawResult> {
  const args = ['-t1', `-c${options.connections}`, `-d${options.seconds}s`, '--latency'];
  if (options.requests || options.thinkMs) {
    const script = join(options.scratchDir, `load-${++scripts}.lua`);
    writeFileSync(script, wrkScript(options.requests, options.thinkMs));
    args.push('-s', script);
  }
  args.push(options.url);
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}:\n${text}`))));
  });
  const number = (pattern: RegExp): number => Number(pattern.exec(out)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: number(/Requests\/sec:\s+([\d.]+)/),
    p50: wrkLatency(out, 50),
    p99: wrkLatency(out, 99),
    requests: number(/(\d+) requests in/),
    errors: socketErrors ? socketErrors.slice(1).reduce((n, v) => n + Number(v), 0) : 0,
    non2xx: number(/Non-2xx or 3xx responses: (\d+)/),
  };
}
