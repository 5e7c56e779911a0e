/**
 * Bench-only seeding of an SQLite store with many keys, fast: organizations (with their owners and
 * owner keys) go through the domain, so they are right by construction; the bulk of the keys is
 * inserted with direct SQL on a second connection with `synchronous = OFF`, in one transaction
 * (the store's own insertKey is one FULL-synchronous transaction per key, ~0.2–0.4 ms each).
 *
 * Secrets are derived from the key's index (`benchSecret(i)`), so any seeded key can be used again
 * later without storing a million secrets. They are bench fixtures, never real credentials.
 *
 * The seeded file is cached under os.tmpdir(), keyed by the migrations' content and the seed
 * shape; each bench run works on a copy, so usage written during a run never leaks into the next.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { systemClock } from '../../server/src/domain/clock.ts';
import { BASE62, formatKey, keyHint, RANDOM_LENGTH, toBase62 } from '../../server/src/domain/key-format.ts';
import type { KeyRecord, MemberRef } from '../../server/src/domain/model.ts';
import { resolvePermission } from '../../server/src/domain/scopes.ts';
import { KeyService } from '../../server/src/domain/service.ts';
import { nodeCrypto } from '../../server/src/node-crypto.ts';
import { loadMigrations, openSqliteStore } from '../../server/src/store/sqlite.ts';

/** Bump when the seeded content changes shape. */
const SEEDER_VERSION = 1;
export const PREFIX = 'hey_';

export interface SeedShape {
  organizations: number;
  keysPerOrganization: number;
  /** How many keys (spread evenly over the store) the load generator authenticates with. */
  callers: number;
}

export interface Caller {
  id: string;
  secret: string;
}

export interface SeededStore {
  /** The cached template; copy it before serving from it. */
  file: string;
  keys: number;
  callers: Caller[];
  /** Seconds spent seeding, or null when the cached file was used. */
  seededIn: number | null;
}

/** The secret of seeded key `i`: 30 base62 characters derived from i, plus the real checksum. */
export function benchSecret(i: number): string {
  const bytes = createHash('sha256').update(`heykeys-bench-${i}`).digest();
  let random = '';
  for (let j = 0; j < RANDOM_LENGTH; j++) random += BASE62[bytes[j]! % 62];
  return formatKey(nodeCrypto, PREFIX, random);
}

function migrationsFingerprint(): string {
  const hash = createHash('sha256');
  for (const m of loadMigrations()) hash.update(`${m.version}\n${m.sql}\n`);
  return `v${loadMigrations().at(-1)?.version ?? 0}-${hash.digest('hex').slice(0, 10)}`;
}

export const CACHE_DIR = join(tmpdir(), 'heykeys-bench-cache');

const KEY_INSERT = `INSERT INTO keys (id, org_id, name, name_folded, description, permission, owner_type, owner_id, owner_name,
  created_by, workspace_access, workspace_id, status, disabled_reason, created_at, updated_at, expires_at, revoked_at,
  inactivity_from, last_used_at, digest, hint, prev_digest, prev_hint, prev_expires_at, prev_last_used_at, version)
  VALUES (?, ?, ?, ?, NULL, ?, 'user', ?, ?, ?, '{"type":"all"}', NULL, 'active', NULL, ?, ?, NULL, NULL, ?, NULL, ?, ?, NULL, NULL, NULL, NULL, 1)`;

/** The seeded template for `shape`, from the cache or freshly built (and then cached). */
export async function seededSqlite(shape: SeedShape, log: (line: string) => void = () => {}): Promise<SeededStore> {
  const total = shape.organizations * shape.keysPerOrganization;
  const name = `sqlite-${migrationsFingerprint()}-s${SEEDER_VERSION}-${shape.organizations}x${shape.keysPerOrganization}-c${shape.callers}`;
  const file = join(CACHE_DIR, `${name}.db`);
  const meta = join(CACHE_DIR, `${name}.json`);
  if (existsSync(file) && existsSync(meta)) {
    return { file, keys: total, callers: JSON.parse(readFileSync(meta, 'utf8')) as Caller[], seededIn: null };
  }
  mkdirSync(CACHE_DIR, { recursive: true });
  // Files seeded for other migrations are of no further use (and a 1 M-key one is ~830 MB).
  const fingerprint = `sqlite-${migrationsFingerprint()}-`;
  for (const old of readdirSync(CACHE_DIR)) if (old.startsWith('sqlite-') && !old.startsWith(fingerprint)) rmSync(join(CACHE_DIR, old), { force: true });
  const started = performance.now();
  const building = `${file}.${process.pid}.tmp`;
  for (const suffix of ['', '-wal', '-shm', '-lock']) rmSync(building + suffix, { force: true });

  // 1. Organizations, owners and owner keys through the domain (the owner key is key 0 of its org
  // in spirit, but its secret is random: it is not a caller).
  const store = openSqliteStore(building);
  store.db.exec('PRAGMA synchronous = OFF');
  const service = new KeyService({ store, clock: systemClock, crypto: nodeCrypto, keyPrefix: PREFIX });
  const owners: { orgId: string; owner: MemberRef; createdBy: string }[] = [];
  for (let o = 0; o < shape.organizations; o++) {
    const created = await service.createOrganization({ name: `Bench org ${o}`, owner_name: `Owner ${o}`, owner_email: `owner${o}@bench.test` });
    const owner: MemberRef = { type: 'user', id: created.owner.id, name: created.owner.name };
    owners.push({ orgId: created.organization.id, owner, createdBy: JSON.stringify(owner) });
  }
  // Room for the owner key next to the seeded ones.
  store.db.prepare('UPDATE policies SET max_keys = ?').run(shape.keysPerOrganization + 1);
  await service.close();
  await store.close();

  // 2. The keys, in one transaction on a connection that does not sync.
  const db = new DatabaseSync(building);
  // A rollback journal in memory (node:sqlite's defensive mode refuses OFF) and no syncing: a
  // failed seed is thrown away, never repaired. Under WAL every spilled page would be written twice.
  db.exec('PRAGMA journal_mode = MEMORY');
  db.exec('PRAGMA synchronous = OFF');
  db.exec('PRAGMA cache_size = -262144'); // 256 MiB: the indexes of a million keys stay in memory
  const insertKey = db.prepare(KEY_INSERT);
  const insertDigest = db.prepare('INSERT INTO key_secrets (digest, key_id) VALUES (?, ?)');
  const permission = JSON.stringify(resolvePermission({ type: 'all' }) satisfies KeyRecord['permission']);
  const callerEvery = Math.max(1, Math.floor(total / shape.callers));
  const callers: Caller[] = [];
  const now = systemClock.now();
  const idTime = toBase62(now, 8);
  const digests: string[] = [];
  db.exec('BEGIN');
  try {
    // Secondary indexes of the key table are rebuilt once at the end (one sort each) instead of
    // being updated row by row; their definitions come from the schema itself.
    const indexes = db.prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'keys' AND sql IS NOT NULL").all() as {
      name: string;
      sql: string;
    }[];
    for (const index of indexes) db.exec(`DROP INDEX "${index.name}"`);
    // Keys are numbered org by org, so callers spread evenly land in many organizations.
    for (let i = 0; i < total; i++) {
      const { orgId, owner, createdBy } = owners[Math.floor(i / shape.keysPerOrganization)]!;
      const secret = benchSecret(i);
      // Ids in ascending order (the usual time prefix, then the index instead of random
      // characters) so the key table and its indexes are appended to, not split page by page.
      const id = `key_${idTime}${toBase62(i, 14)}`;
      const keyName = `bench key ${i}`;
      const digest = nodeCrypto.sha256Hex(secret);
      insertKey.run(id, orgId, keyName, keyName, permission, owner.id, owner.name, createdBy, now, now, now, digest, keyHint(PREFIX, secret));
      digests.push(`${digest} ${id}`);
      if (i % callerEvery === 0 && callers.length < shape.callers) callers.push({ id, secret });
      if (i > 0 && i % 200_000 === 0) log(`  seeded ${i} keys…`);
    }
    // Digests are random: inserted in order, their index is built left to right instead of
    // splitting pages all over a tree that no longer fits in the page cache.
    digests.sort();
    for (const pair of digests) insertDigest.run(pair.slice(0, 64), pair.slice(65));
    for (const index of indexes) db.exec(index.sql);
    db.exec('COMMIT');
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
  db.exec('ANALYZE');
  db.exec('PRAGMA journal_mode = WAL'); // what the store uses; it persists in the file
  db.close();
  // -lock: the store's claim on the file (released when it closed), named after the building file.
  for (const suffix of ['-wal', '-shm', '-lock']) rmSync(building + suffix, { force: true });
  writeFileSync(meta, JSON.stringify(callers));
  renameSync(building, file);
  return { file, keys: total, callers, seededIn: (performance.now() - started) / 1000 };
}

/**
 * A private copy of the template in `dataDir`, named as the server expects (heykeys.db). Synced
 * before it is used: otherwise the kernel writes the copy back (830 MB for 1 M keys) while the
 * server runs, and the server's own fsyncs wait behind it.
 */
export function copyInto(template: string, dataDir: string): void {
  mkdirSync(dataDir, { recursive: true });
  const copy = join(dataDir, 'heykeys.db');
  copyFileSync(template, copy, constants.COPYFILE_FICLONE);
  const fd = openSync(copy, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
