/**
 * `npm run bench:in-process`: the JavaScript an authenticated, validated request costs, without
 * the kernel. Drives bare Express and the app (on the 1 k-key SQLite store the bench seeds) with
 * real IncomingMessage and ServerResponse objects on a socket that discards what is written, one
 * request at a time, and prints the process's CPU time per request (its writer thread included):
 * the minimum and the median of ROUNDS rounds of N requests each, after a warm-up.
 *
 * Steadier than throughput over loopback (±0.3 µs): the figure to compare when changing code on
 * the request path. Run it with `--cpu-prof` to see where the time goes. No HTTP parsing and no
 * socket writes are included, so the figures are well below the loopback ones (docs/decisions/0007).
 *
 *   N (30000), ROUNDS (7); argument: targets to run, e.g. `bare,me` (default bare,me,key,verify;
 *   also barepost: bare Express answering a POST whose JSON body express.json() parses, verify's reference)
 */
import { fileURLToPath } from 'node:url';
import { bareApp } from './bare-app.ts';
import { apiTargets, cpuPerRequest, loadApp, nodeClasses, warmUp, type Call } from './drive.ts';
import { apiRequests } from './requests.ts';
import { seededSqlite } from './seed-sqlite.ts';

const N = Number(process.env['N'] ?? 30_000);
const ROUNDS = Number(process.env['ROUNDS'] ?? 7);
const wanted = (process.argv[2] ?? 'bare,me,key,verify').split(',');

const seeded = await seededSqlite({ organizations: 1, keysPerOrganization: 1000, callers: 100 });
const ours = await loadApp(fileURLToPath(new URL('../..', import.meta.url)), seeded.file);

const bare = bareApp();

const callers = seeded.callers;
// verify's bodies, for bare Express's JSON POST of the same shape.
const verifyBodies = callers.map((c) => apiRequests(c).verify.body);
const targets: Record<string, (i: number) => Call> = {
  bare: () => ({ app: bare, classes: nodeClasses, method: 'GET', url: '/hello', headers: [] }),
  barepost: (i) => ({ app: bare, classes: nodeClasses, method: 'POST', url: '/echo', headers: [['Content-Type', 'application/json']], body: verifyBodies[i % verifyBodies.length] }),
  ...apiTargets(ours.app, ours.classes, callers),
};

try {
  console.log(`Node ${process.version}; ${ROUNDS} rounds of ${N} requests per target, one at a time; CPU µs per request (process, all threads)`);
  for (const name of wanted) {
    const make = targets[name];
    if (!make) throw new Error(`unknown target ${name}: one of ${Object.keys(targets).join(', ')}`);
    await warmUp(name, make);
    const perRequest: number[] = [];
    for (let round = 0; round < ROUNDS; round++) perRequest.push(await cpuPerRequest(name, make, N));
    perRequest.sort((a, b) => a - b);
    console.log(`${name.padEnd(7)} min ${perRequest[0]!.toFixed(2)}  median ${perRequest[perRequest.length >> 1]!.toFixed(2)}`);
  }
} finally {
  await ours.close();
}
