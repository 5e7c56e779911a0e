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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../../server/src/app.ts';
import { prototypedClasses } from '../../server/src/http/server.ts';
import { systemClock } from '../../server/src/domain/clock.ts';
import { KeyService } from '../../server/src/domain/service.ts';
import { nodeCrypto } from '../../server/src/node-crypto.ts';
import { openSqliteStore } from '../../server/src/store/sqlite.ts';
import { bareApp } from './bare-app.ts';
import { apiTargets, nodeClasses, send, type Call, type Classes } from './drive.ts';
import { copyInto, seededSqlite } from './seed-sqlite.ts';

const N = Number(process.env['N'] ?? 30_000);
const ROUNDS = Number(process.env['ROUNDS'] ?? 7);
const wanted = (process.argv[2] ?? 'bare,me,key,verify').split(',');

const seeded = await seededSqlite({ organizations: 1, keysPerOrganization: 1000, callers: 100 });
const dataDir = mkdtempSync(join(tmpdir(), 'heykeys-in-process-'));
copyInto(seeded.file, dataDir);
const store = openSqliteStore(join(dataDir, 'heykeys.db'));
const service = new KeyService({ store, clock: systemClock, crypto: nodeCrypto, keyPrefix: 'hey_' });
const app = createApp({ service, rateLimitPerMinute: 0 });
// As the server does: usage entries are flushed once a second.
const flushes = setInterval(() => service.flush().catch((error) => console.error(error)), 1000);

const bare = bareApp();

const appClasses: Classes = prototypedClasses(app);

const callers = seeded.callers;
const targets: Record<string, (i: number) => Call> = {
  bare: () => ({ app: bare, classes: nodeClasses, method: 'GET', url: '/hello', headers: [] }),
  barepost: (i) => ({
    app: bare,
    classes: nodeClasses,
    method: 'POST',
    url: '/echo',
    headers: [['Content-Type', 'application/json']],
    body: JSON.stringify({ secret: callers[i % callers.length]!.secret, scopes: ['api_keys:read'] }),
  }),
  ...apiTargets(app, appClasses, callers),
};

try {
  console.log(`Node ${process.version}; ${ROUNDS} rounds of ${N} requests per target, one at a time; CPU µs per request (process, all threads)`);
  for (const name of wanted) {
    const make = targets[name];
    if (!make) throw new Error(`unknown target ${name}: one of ${Object.keys(targets).join(', ')}`);
    for (let i = 0; i < 5000; i++) await send(make(i));
    const perRequest: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const before = process.cpuUsage();
      for (let i = 0; i < N; i++) {
        const status = await send(make(i));
        if (status >= 300) throw new Error(`${name} answered ${status}`);
      }
      const used = process.cpuUsage(before);
      perRequest.push((used.user + used.system) / N);
    }
    perRequest.sort((a, b) => a - b);
    console.log(`${name.padEnd(7)} min ${perRequest[0]!.toFixed(2)}  median ${perRequest[perRequest.length >> 1]!.toFixed(2)}`);
  }
} finally {
  clearInterval(flushes);
  await service.close();
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
}
