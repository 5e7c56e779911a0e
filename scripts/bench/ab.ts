/**
 * `npm run bench:ab -- <other checkout> [target]`: this tree's code against another checkout's
 * (say, the commit before a change: `git worktree add ../base HEAD~1 && npm ci --prefix ../base`),
 * both loaded in this one process on copies of the same 1 k-key SQLite store, driven in process
 * as `npm run bench:in-process` does (./drive.ts).
 *
 * On a shared VM a target's CPU per request moves by half from one run to the next, seconds apart,
 * so runs of the two trees one after the other compare the machine as much as the code. Here the
 * two take turns in slices of SLICE requests (1000), SLICES times (200), the order flipping each
 * time, and what is printed is the median of the per-turn differences (with its quartiles): a
 * change that saves half a microsecond shows as a median below zero with the quartiles close to
 * it. Both trees' code runs in one V8, so call sites they share (Express) see both: compare the
 * difference, not the absolute figures, with `npm run bench:in-process`.
 *
 * Targets: me, key, verify (default verify), as ./drive.ts makes them.
 */
import { resolve } from 'node:path';
import { apiTargets, cpuPerRequest, loadApp, warmUp, type Call } from './drive.ts';
import { seededSqlite } from './seed-sqlite.ts';
import { quantile } from './stats.ts';

const [other, target = 'verify'] = process.argv.slice(2);
if (!other) throw new Error('usage: npm run bench:ab -- <other checkout> [me|key|verify]');
const SLICE = Number(process.env['SLICE'] ?? 1000);
const SLICES = Number(process.env['SLICES'] ?? 200);

const seeded = await seededSqlite({ organizations: 1, keysPerOrganization: 1000, callers: 100 });

/** The app of the checkout at `root` and the bench's request for caller `i`. */
async function appOf(root: string): Promise<{ make: (i: number) => Call; close: () => Promise<void> }> {
  const { app, classes, close } = await loadApp(root, seeded.file);
  const make = (apiTargets(app, classes, seeded.callers) as Record<string, (i: number) => Call>)[target];
  if (!make) throw new Error(`unknown target ${target}: one of me, key, verify`);
  return { make, close };
}

const sides = { this: await appOf(resolve(import.meta.dirname, '../..')), other: await appOf(resolve(other)) };
const names = ['this', 'other'] as const;
const perRequest: Record<(typeof names)[number], number[]> = { this: [], other: [] };
try {
  for (const name of names) await warmUp(name, sides[name].make);
  for (let turn = 0; turn < SLICES; turn++) {
    for (const name of turn % 2 === 0 ? names : ([...names].reverse() as typeof names[number][])) {
      perRequest[name].push(await cpuPerRequest(name, sides[name].make, SLICE));
    }
  }
} finally {
  for (const name of names) await sides[name].close();
}

const differences = perRequest.this.map((t, i) => t - perRequest.other[i]!);
console.log(`Node ${process.version}; ${target}: ${SLICES} turns of ${SLICE} requests each; CPU µs per request (process, all threads)`);
for (const name of names) console.log(`${name.padEnd(6)} median ${quantile(perRequest[name], 0.5).toFixed(2)}  p10 ${quantile(perRequest[name], 0.1).toFixed(2)}`);
console.log(
  `this − other, per turn: median ${quantile(differences, 0.5).toFixed(2)} µs (quartiles ${quantile(differences, 0.25).toFixed(2)} to ${quantile(differences, 0.75).toFixed(2)})`,
);
