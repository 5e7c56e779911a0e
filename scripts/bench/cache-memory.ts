/**
 * Memory per cached key: fills a CredentialCache with `count` credentials read from a seeded SQLite
 * store (exactly what authenticate caches on a miss: the key record as the store returns it), and
 * prints the growth of the V8 heap after full garbage collections, divided by the count.
 * Run with --expose-gc: `node --expose-gc scripts/bench/cache-memory.ts <file.db> <count>`.
 * The file is opened read-only (the seeded template itself: no copy needed).
 */
import { CredentialCache } from '../../server/src/domain/cache.ts';
import { nodeCrypto } from '../../server/src/node-crypto.ts';
import { DatabaseSync } from 'node:sqlite';
import { SqliteStore } from '../../server/src/store/sqlite.ts';
import { benchSecret } from './seed-sqlite.ts';

const [file, countArg] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc;
if (!file || !gc) throw new Error('usage: node --expose-gc scripts/bench/cache-memory.ts <file.db> <count>');
const count = Number(countArg ?? 100_000);

function heap(): number {
  for (let i = 0; i < 3; i++) gc!();
  return process.memoryUsage().heapUsed;
}

const store = new SqliteStore(new DatabaseSync(file, { readOnly: true }));
const cache = new CredentialCache(count);
const before = heap();
for (let i = 0; i < count; i++) {
  // The digest string is kept by the cache as its map key, so it is counted, as in the server.
  const digest = nodeCrypto.sha256Hex(benchSecret(i));
  const credential = await store.findCredential(digest);
  if (!credential) throw new Error(`seeded key ${digest} not found`);
  cache.set(digest, credential);
}
const after = heap();
if (cache.size !== count) throw new Error(`cache holds ${cache.size} entries, expected ${count}`);
await store.close();
process.stdout.write(JSON.stringify({ count, bytesPerKey: Math.round((after - before) / count) }) + '\n');
