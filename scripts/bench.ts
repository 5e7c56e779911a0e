/**
 * `npm run bench`: requests/s, p99 latency and server CPU per request of the reference server next
 * to bare Express, in one run on loopback, and the ratio of each to bare Express:
 *
 * - bare Express 5 (ETag and x-powered-by off, one JSON route): the baseline;
 * - GET /v1/me (authenticated), GET /v1/api-keys/{id} (authenticated, validated, one store read),
 *   POST /v1/api-keys/verify (authenticated, body validated, the verified secret looked up);
 * - on SQLite with 1 k keys and with 1 M keys (seeded once, cached under os.tmpdir(), copied per
 *   run), and on PostgreSQL when DATABASE_URL is set and the adapter exists.
 *
 * Load: `BENCH_CALLERS` distinct keys spread over the store, each request of a connection using
 * the next one (warm cache: every caller is used in the warm-up), from wrk when it is installed,
 * autocannon otherwise (./bench/load.ts says why wrk is preferred). Rounds interleave the targets,
 * the endpoints' stores back to back, the order rotating from round to round, with bare Express
 * measured between every two of them: each ratio is taken against bare Express just before and just
 * after the target (their mean), seconds apart. On a shared VM bare Express alone moves by a third
 * within a minute; a ratio to measurements a minute away carried that drift. Medians over the
 * rounds are shown. Each server runs in its own process; the load comes from another.
 *
 * Then what growing the store from 1 k to 1 M keys costs, per endpoint: the two stores' servers in
 * BENCH_PAIRS pairs of runs back to back (the order flipping), the median of the pairs' ratios.
 * The difference sought is a few percent, and on a shared VM the machine's speed moves by more than
 * that within the seconds between a round's 1 k and 1 M runs (per-round ratios scattered by tens
 * of percent); within a pair it moves less. The endpoints take turns pair by pair: with each
 * endpoint's pairs back to back, one slow spell once fell on all six of the key read's pairs
 * (12.9 %, quartiles 8.0-19.1 %; run again at once, -1.8 %) and on none of the others'.
 *
 * Last, the latency a caller sees when the server is not saturated: every target under the same
 * connections, each waiting a random think time (exponential) after every answer, its mean chosen
 * so the load is at most half the lowest throughput any API target reached in the rounds (a little
 * under: each answer's own time adds to a connection's cycle); BENCH_THINK_MS sets it instead.
 * Saturated, a closed loop of 50 connections keeps 50 requests queued in front of the server, so
 * its p99 is a multiple of 50 / throughput whatever the server does (bare Express's too); paced,
 * p99 is the time a request takes plus the bursts it meets. BENCH_PACED_RUNS runs of
 * BENCH_SECONDS per target, interleaved, each after a 1 s warm-up run. About 14 minutes in all.
 *
 *   BENCH_SECONDS (3), BENCH_ROUNDS (5), BENCH_PAIRS (10), BENCH_PACED_RUNS (3), BENCH_THINK_MS,
 *   BENCH_CONNECTIONS (50), BENCH_CALLERS (100), BENCH_STORES (sqlite-1k,sqlite-1m,postgres),
 *   BENCH_LOAD (wrk|autocannon), DATABASE_URL
 */
import pg from 'pg';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chooseGenerator, machineCpu, runLoad, type BenchRequest, type Sample } from './bench/load.ts';
import { apiRequests, type ApiTarget } from './bench/requests.ts';
import { seedPostgres } from './bench/seed-postgres.ts';
import { copyInto, seededSqlite, type Caller } from './bench/seed-sqlite.ts';
import { median, quantile } from './bench/stats.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const seconds = Number(process.env['BENCH_SECONDS'] ?? 3);
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 5);
const storePairs = Number(process.env['BENCH_PAIRS'] ?? 10);
/** Seconds per run of the store pairs. */
const PAIR_SECONDS = 2;
const pacedRuns = Number(process.env['BENCH_PACED_RUNS'] ?? 3);
const thinkMsWanted = process.env['BENCH_THINK_MS'] ? Number(process.env['BENCH_THINK_MS']) : null;
const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 50);
const callerCount = Number(process.env['BENCH_CALLERS'] ?? 100);
const stores = new Set((process.env['BENCH_STORES'] ?? 'sqlite-1k,sqlite-1m,postgres').split(','));
const databaseUrl = process.env['DATABASE_URL'];
const log = (line: string) => console.error(line);
const generator = chooseGenerator();
const BARE_JSON_POST = 'bare Express, POST with a JSON body (express.json)';
const SMALL_STORE = 'SQLite, 1 k keys';
const LARGE_STORE = 'SQLite, 1 M keys';
const scratchDir = mkdtempSync(join(tmpdir(), 'heykeys-bench-load-'));

// ---------------------------------------------------------------- servers

interface Server {
  url: string;
  pid: number;
  output: () => string;
  stop: () => Promise<void>;
}

async function start(script: string, env: Record<string, string>): Promise<Server> {
  // The store is chosen here, never inherited: DATABASE_URL would turn a SQLite target into PostgreSQL.
  const { DATABASE_URL: _inherited, ...inherited } = process.env;
  const child = spawn(process.execPath, [join(ROOT, script)], { env: { ...inherited, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start:\n${out}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}:\n${out}`)));
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
    pid: child.pid!,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

// ---------------------------------------------------------------- targets

interface Target {
  name: string;
  store: string;
  url: string;
  requests?: BenchRequest[];
  /** The processes whose CPU time the target's requests cost. */
  pids: () => Promise<number[]>;
}

function apiTargets(store: string, url: string, callers: Caller[], pids: () => Promise<number[]>): Target[] {
  const requests = callers.map(apiRequests);
  const target = (name: string, which: ApiTarget): Target => ({ name, store, url, pids, requests: requests.map((r) => r[which]) });
  return [target('GET /v1/me', 'me'), target('GET /v1/api-keys/{id}', 'key'), target('POST /v1/api-keys/verify', 'verify')];
}

async function measure(target: Target, duration: number, thinkMs?: number): Promise<Sample> {
  return runLoad(generator, {
    url: target.url,
    connections,
    seconds: duration,
    ...(thinkMs ? { thinkMs } : {}),
    pids: target.pids,
    scratchDir,
    ...(target.requests ? { requests: target.requests } : {}),
  });
}

/** Every target answers its requests with a 2xx before anything is measured. */
async function probe(target: Target): Promise<void> {
  for (const r of target.requests ?? [{ method: 'GET', path: '', headers: {} }]) {
    const res = await fetch(target.url + r.path, { method: r.method, headers: r.headers, ...(r.body === undefined ? {} : { body: r.body }) });
    if (!res.ok) throw new Error(`${target.name} (${target.store}) answered ${res.status} to ${r.method} ${r.path}: ${await res.text()}`);
  }
}

/**
 * The PostgreSQL backends serving a server's pool (same machine only: their CPU time is read from
 * /proc), found by the application_name the store gives its connections.
 */
function postgresBackends(databaseUrl: string): () => Promise<number[]> {
  return async () => {
    const client = new pg.Client({ connectionString: databaseUrl, application_name: 'heykeys-bench-probe' });
    await client.connect();
    try {
      const { rows } = await client.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'heykeys%' AND pid <> pg_backend_pid()",
      );
      return rows.map((r) => r.pid).filter((pid) => existsSync(`/proc/${pid}/stat`));
    } finally {
      await client.end();
    }
  };
}

// ---------------------------------------------------------------- run

const startLoad = loadavg();
const startCpu = machineCpu();
const servers: Server[] = [];
const dataDirs: string[] = [];
const targets: Target[] = [];
const notes: string[] = [];
let cacheMemory: { count: number; bytesPerKey: number } | null = null;

try {
  const hello = await start('scripts/bench/hello.ts', {});
  servers.push(hello);
  targets.push({ name: 'bare Express (ETag off)', store: '-', url: `${hello.url}/hello`, pids: async () => [hello.pid] });
  // The reference for verify: bare Express parsing a JSON body of the same size, and nothing else.
  const verifyShaped = JSON.stringify({ secret: `hey_${'0'.repeat(36)}`, scopes: ['api_keys:read'] });
  targets.push({
    name: BARE_JSON_POST,
    store: '-',
    url: hello.url,
    pids: async () => [hello.pid],
    requests: [{ method: 'POST', path: '/echo', headers: { 'content-type': 'application/json' }, body: verifyShaped }],
  });

  for (const [label, organizations] of [
    ['sqlite-1k', 1],
    ['sqlite-1m', 1000],
  ] as const) {
    if (!stores.has(label)) continue;
    const seeded = await seededSqlite({ organizations, keysPerOrganization: 1000, callers: callerCount }, log);
    const storeName = `SQLite, ${seeded.keys >= 1e6 ? `${seeded.keys / 1e6} M` : `${seeded.keys / 1e3} k`} keys`;
    notes.push(`${storeName}: ${seeded.seededIn === null ? 'seeded file from the cache' : `seeded in ${seeded.seededIn.toFixed(1)} s`} (${organizations} organization(s) × 1000 keys)`);
    const dataDir = mkdtempSync(join(tmpdir(), 'heykeys-bench-'));
    dataDirs.push(dataDir);
    copyInto(seeded.file, dataDir);
    const api = await start('server/src/main.ts', { DATA_DIR: dataDir, RATE_LIMIT_PER_MINUTE: '0' });
    servers.push(api);
    targets.push(...apiTargets(storeName, api.url, seeded.callers, async () => [api.pid]));
    if (label === 'sqlite-1m') cacheMemory = await cacheMemoryPerKey(seeded.file, 100_000);
  }

  if (stores.has('postgres')) {
    if (!databaseUrl) notes.push('PostgreSQL: skipped (DATABASE_URL is not set)');
    else if (!existsSync(join(ROOT, 'server/src/store/postgres.ts'))) notes.push('PostgreSQL: skipped (server/src/store/postgres.ts does not exist yet)');
    else {
      try {
        const seeded = await seedPostgres(databaseUrl, callerCount);
        const api = await start('server/src/main.ts', { DATABASE_URL: databaseUrl, RATE_LIMIT_PER_MINUTE: '0' });
        servers.push(api);
        const backends = postgresBackends(databaseUrl);
        targets.push(...apiTargets('PostgreSQL', api.url, seeded.callers, async () => [api.pid, ...(await backends())]));
        notes.push(
          `PostgreSQL: ${callerCount} keys in a new organization (${seeded.organizations} organizations in the database); ` +
            'CPU per request includes the database backends serving the server, when they run on this machine',
        );
      } catch (error) {
        notes.push(`PostgreSQL: skipped (${(error as Error).message.split('\n')[0]})`);
      }
    }
  }
  for (const note of notes) log(note);

  // Every target answers 2xx; then warm every target (JIT, every caller's credential cached), then
  // interleaved rounds.
  for (const target of targets) await probe(target);
  const why = process.env['BENCH_LOAD'] ? 'BENCH_LOAD chose it' : 'wrk is not installed';
  log(`load from ${generator}${generator === 'autocannon' ? ` (${why}: autocannon takes more of the cores the servers share with it)` : ''}`);
  for (const target of targets) await measure(target, 2);
  const samples = targets.map(() => [] as Sample[]);
  // Per target, per round: bare Express measured just before it and just after it.
  const bracket = targets.map(() => [] as [Sample, Sample][]);
  // Per round, how far bare Express moved between its lowest and its highest measurement.
  const bareSpread: number[] = [];
  for (let round = 0; round < rounds; round++) {
    log(`round ${round + 1}/${rounds}, load average ${loadavg()[0]!.toFixed(2)}`);
    let bare = await measure(targets[0]!, seconds);
    const bareRuns = [bare];
    for (const i of roundOrder(round)) {
      await measure(targets[i]!, 1);
      samples[i]!.push(await measure(targets[i]!, seconds));
      const after = await measure(targets[0]!, seconds);
      bracket[i]!.push([bare, after]);
      bareRuns.push((bare = after));
    }
    samples[0]!.push(...bareRuns);
    const rps = bareRuns.map((b) => b.rps);
    bareSpread.push(Math.max(...rps) / Math.min(...rps) - 1);
  }
  // Per endpoint on both SQLite stores: pairs of runs, 1 k then 1 M keys or the other way round.
  // The endpoints take turns pair by pair, so a noisy spell of the machine (tens of seconds) lands
  // on a pair or two of each endpoint rather than on all of one endpoint's pairs.
  const storeRuns = new Map<number, { small: Sample; large: Sample }[]>();
  const storeTwins: [number, number][] = [];
  for (const [i, target] of targets.entries()) {
    const j = target.store === SMALL_STORE ? targets.findIndex((u) => u.store === LARGE_STORE && u.name === target.name) : -1;
    if (j !== -1 && storePairs >= 1) storeTwins.push([i, j]);
  }
  if (storeTwins.length > 0) log(`${storePairs} pairs of runs per endpoint on the 1 k- and the 1 M-key store, the endpoints taking turns`);
  for (let pair = 0; pair < storePairs; pair++) {
    for (const [i, j] of storeTwins) {
      const first = await measure(targets[pair % 2 === 0 ? i : j]!, PAIR_SECONDS);
      const second = await measure(targets[pair % 2 === 0 ? j : i]!, PAIR_SECONDS);
      const pairs = storeRuns.get(i) ?? [];
      pairs.push(pair % 2 === 0 ? { small: first, large: second } : { small: second, large: first });
      storeRuns.set(i, pairs);
    }
  }
  // Every target at one pace: at most half the lowest throughput of an API target (its rounds' median).
  let paced: { thinkMs: number; samples: Sample[][] } | null = null;
  if (pacedRuns > 0 && generator !== 'wrk') {
    notes.push('Paced runs: skipped (they need wrk: autocannon has no think time, and its per-connection rate sends in bursts)');
  } else if (pacedRuns > 0) {
    const slowest = Math.min(...samples.slice(1).map((s) => median(s.map((x) => x.rps))));
    const thinkMs = thinkMsWanted ?? Math.max(1, Math.round((1000 * connections) / (slowest / 2)));
    log(`paced: ${connections} connections, each waiting ${thinkMs} ms on average after every answer`);
    const runs = targets.map(() => [] as Sample[]);
    for (let run = 0; run < pacedRuns; run++) {
      for (const i of [0, ...roundOrder(run)]) {
        // Warm, as in the rounds: a key read's records expired while other targets ran, and on
        // PostgreSQL the first second's misses (a round trip each, ~100 at once) were the p99.
        await measure(targets[i]!, 1, thinkMs);
        runs[i]!.push(await measure(targets[i]!, seconds, thinkMs));
      }
    }
    paced = { thinkMs, samples: runs };
  }
  report(samples, bracket, bareSpread, storeRuns, paced);
} finally {
  await Promise.all(servers.map((s) => s.stop()));
  for (const dir of [...dataDirs, scratchDir]) rmSync(dir, { recursive: true, force: true });
}

/**
 * The targets other than bare Express, grouped by endpoint, so each endpoint's stores run back to
 * back. Groups, and stores within a group, rotate from round to round, so no target always runs
 * late in a round.
 */
function roundOrder(round: number): number[] {
  const groups = new Map<string, number[]>();
  targets.forEach((t, i) => {
    if (i > 0) groups.set(t.name, [...(groups.get(t.name) ?? []), i]);
  });
  const rotate = <T>(list: T[]): T[] => list.map((_, k) => list[(k + round) % list.length]!);
  return rotate([...groups.values()]).flatMap(rotate);
}

async function cacheMemoryPerKey(file: string, count: number): Promise<{ count: number; bytesPerKey: number }> {
  const child = spawn(process.execPath, ['--expose-gc', join(ROOT, 'scripts/bench/cache-memory.ts'), file, String(count)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`cache-memory exited with ${code}`);
  return JSON.parse(out);
}

function report(
  samples: Sample[][],
  bracket: [Sample, Sample][][],
  bareSpread: number[],
  storeRuns: Map<number, { small: Sample; large: Sample }[]>,
  paced: { thinkMs: number; samples: Sample[][] } | null,
): void {
  const mean = (a: number | null, b: number | null) => (a === null || b === null ? null : (a + b) / 2);
  /** Per round, the target's req/s and CPU ratios to bare Express around it. */
  const ratiosOf = (i: number) =>
    samples[i]!.map((x, round) => {
      const [before, after] = bracket[i]![round]!;
      const cpu = mean(before.cpuPerRequest, after.cpuPerRequest);
      return { rps: x.rps / ((before.rps + after.rps) / 2), cpu: cpu === null || x.cpuPerRequest === null ? null : cpu / x.cpuPerRequest };
    });
  const endLoad = loadavg();
  console.log(
    `\nNode ${process.version}, ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB; ` +
      `load average ${startLoad.map((l) => l.toFixed(2)).join(' ')} at start, ${endLoad.map((l) => l.toFixed(2)).join(' ')} at end.`,
  );
  console.log(
    `Load from ${generator}: ${connections} connections, ${callerCount} distinct keys, ${rounds} rounds × ${seconds} s per target (medians shown), loopback; ` +
      'each ratio is to bare Express measured just before and just after the target, in every round.',
  );
  console.log('Every API request is authenticated (Bearer) and validated against openapi.yaml on a warm cache; the key read adds the key\'s record, verify a JSON body and the verified secret\'s lookup.');
  console.log('CPU is the server process\'s user + system time per request (its writer thread included), read from /proc; its ratio is bare Express\'s CPU per request over the target\'s.');
  for (const note of notes) console.log(`- ${note}`);
  if (cacheMemory) console.log(`- Memory per cached key: ${cacheMemory.bytesPerKey} bytes of V8 heap (${cacheMemory.count} keys cached from the 1 M-key store).`);
  const endCpu = machineCpu();
  if (startCpu && endCpu && endCpu.total > startCpu.total) {
    const stolen = (100 * (endCpu.steal - startCpu.steal)) / (endCpu.total - startCpu.total);
    console.log(`- CPU time stolen by the hypervisor during the run (/proc/stat): ${stolen.toFixed(1)} % of the machine's; above a few percent, other tenants of the host moved these figures.`);
  }
  console.log(`- Bare Express's highest measurement was above its lowest by ${bareSpread.map((d) => `${(100 * d).toFixed(0)} %`).join(', ')} within each round.`);
  console.log('\n| target | store | req/s | p99 ms | ratio to bare Express, req/s (min–max) | CPU µs/req | ratio, CPU | errors | non-2xx |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  const fixed = (n: number | null, digits: number) => (n === null ? '–' : n.toFixed(digits));
  for (const [i, target] of targets.entries()) {
    const s = samples[i]!;
    const ratios = i === 0 ? s.map(() => 1) : ratiosOf(i).map((r) => r.rps);
    const cpus_ = s.map((x) => x.cpuPerRequest).filter((c): c is number => c !== null);
    const cpuRatios = i === 0 ? (cpus_.length ? [1] : []) : ratiosOf(i).flatMap((r) => (r.cpu === null ? [] : [r.cpu]));
    const errors = s.reduce((n, x) => n + x.errors, 0);
    const non2xx = s.reduce((n, x) => n + x.non2xx, 0);
    console.log(
      `| ${target.name} | ${target.store} | ${median(s.map((x) => x.rps)).toFixed(0)} | ${median(s.map((x) => x.p99)).toFixed(1)} | ` +
        `${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}) | ` +
        `${fixed(cpus_.length ? median(cpus_) : null, 1)} | ${fixed(cpuRatios.length ? median(cpuRatios) : null, 2)} | ${errors} | ${non2xx} |`,
    );
  }
  // Verify against the reference that also reads and parses a JSON body.
  const jsonPost = targets.findIndex((t) => t.name === BARE_JSON_POST);
  for (const [i, target] of targets.entries()) {
    if (target.name !== 'POST /v1/api-keys/verify' || jsonPost === -1) continue;
    const post = ratiosOf(jsonPost);
    const ratios = ratiosOf(i).map((r, round) => r.rps / post[round]!.rps);
    console.log(`\n${target.name} (${target.store}) against ${BARE_JSON_POST}: ${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}).`);
  }
  // What growing the store from 1 k to 1 M keys costs, per endpoint: from the pairs, and (less
  // steady) from the rounds, each run there as a ratio to bare Express around it.
  const percent = (g: number) => `${(100 * g).toFixed(1)} %`;
  const spread = (values: number[]) => `${percent(median(values))} (quartiles ${percent(quantile(values, 0.25))} to ${percent(quantile(values, 0.75))})`;
  for (const [i, pairs] of storeRuns) {
    const j = targets.findIndex((u) => u.store === LARGE_STORE && u.name === targets[i]!.name);
    const byRps = pairs.map((p) => 1 - p.large.rps / p.small.rps);
    // CPU per request does not depend on which side of loopback was the bottleneck in a given second.
    const byCpu = pairs.flatMap((p) => (p.small.cpuPerRequest === null || p.large.cpuPerRequest === null ? [] : [p.large.cpuPerRequest / p.small.cpuPerRequest - 1]));
    const large = ratiosOf(j);
    const byRound = ratiosOf(i).map((r, round) => 1 - large[round]!.rps / r.rps);
    console.log(
      `\n${targets[i]!.name}: 1 M keys cost ${spread(byRps)} of the 1 k-key throughput` +
        (byCpu.length ? `, ${spread(byCpu)} more CPU per request` : '') +
        ` (${pairs.length} pairs of ${PAIR_SECONDS} s runs back to back); in the rounds above, ${percent(median(byRound))} (per round: ${byRound.map(percent).join(', ')}).`,
    );
  }
  if (paced) {
    console.log(
      `\nPaced: ${connections} connections, each waiting after every answer a random time (exponential, mean ${paced.thinkMs} ms; wrk), ` +
        `${paced.samples[0]!.length} runs × ${seconds} s per target, interleaved; medians, and the highest p99 of the runs.`,
    );
    console.log('\n| target | store | req/s | p50 ms | p99 ms | highest p99 ms | errors | non-2xx |');
    console.log('|---|---|---:|---:|---:|---:|---:|---:|');
    for (const [i, target] of targets.entries()) {
      const s = paced.samples[i]!;
      console.log(
        `| ${target.name} | ${target.store} | ${median(s.map((x) => x.rps)).toFixed(0)} | ${median(s.map((x) => x.p50)).toFixed(2)} | ` +
          `${median(s.map((x) => x.p99)).toFixed(2)} | ${Math.max(...s.map((x) => x.p99)).toFixed(2)} | ` +
          `${s.reduce((n, x) => n + x.errors, 0)} | ${s.reduce((n, x) => n + x.non2xx, 0)} |`,
      );
    }
  }
  const failed = (x: Sample) => x.errors > 0 || x.non2xx > 0;
  if (
    samples.some((s) => s.some(failed)) ||
    [...storeRuns.values()].some((pairs) => pairs.some((p) => failed(p.small) || failed(p.large))) ||
    (paced?.samples.some((s) => s.some(failed)) ?? false)
  ) {
    console.error('\nSome requests failed (non-2xx answers or connection errors): the figures above are not valid.');
    process.exitCode = 1;
  }
}
