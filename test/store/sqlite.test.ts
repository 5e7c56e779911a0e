import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MessageChannel } from 'node:worker_threads';
import type { AuditEvent, KeyRecord, UsageEntry } from '../../server/src/domain/model.ts';
import { describeStoreConformance } from '../../server/src/store/conformance.ts';
import { openSqliteStore, StoreInUseError, type SqliteStore } from '../../server/src/store/sqlite.ts';
import { packUsage, unpackUsage } from '../../server/src/store/sqlite-writer.ts';
import type { Store } from '../../server/src/store/store.ts';

// A fresh database file per test; each is deleted (with its WAL and lock files) when its test closes it.
const dir = mkdtempSync(join(tmpdir(), 'heykeys-sqlite-'));
const files = new Map<Store, string>();
let opened = 0;

function openFresh(): SqliteStore {
  const file = join(dir, `store-${++opened}.db`);
  const store = openSqliteStore(file);
  files.set(store, file);
  return store;
}

async function closeAndRemove(store: Store): Promise<void> {
  await store.close();
  const file = files.get(store)!;
  for (const suffix of ['', '-wal', '-shm', '-lock']) rmSync(file + suffix, { force: true });
  files.delete(store);
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

// On a file, last-use times and usage entries are written by the writer thread (its own connection).
describeStoreConformance('sqlite', async () => openFresh(), closeAndRemove);
// In memory there is one connection, and the same writes run inline on it.
describeStoreConformance('sqlite in memory', async () => openSqliteStore(':memory:'), (store) => store.close());

/** What only SQLite can get wrong: a statement failing half-way through a multi-statement method. */
describe('SQLite: a failing statement rolls the whole method back', () => {
  let store: SqliteStore;
  const T = 1_767_225_600_123;
  const ref = { type: 'user' as const, id: 'usr_1', name: 'Owner' };
  const key: KeyRecord = {
    id: 'key_1', org_id: 'org_1', name: 'Owner key', description: null, permission: { type: 'all', scopes: [] },
    owner: ref, created_by: ref, workspace_access: { type: 'all' }, workspace_id: null, status: 'active',
    disabled_reason: null, created_at: T, updated_at: T, expires_at: null, revoked_at: null, inactivity_from: T,
    last_used_at: null, digest: 'digest-1', hint: 'hey_...0001', prev_digest: null, prev_hint: null,
    prev_expires_at: null, prev_last_used_at: null, version: 1,
  };
  const event = (id: string): AuditEvent => ({
    id, org_id: 'org_1', at: T, action: 'api_key.updated', key_id: 'key_1', subject_id: 'key_1', actor: null, ip: null, changes: null,
  });

  beforeEach(async () => {
    store = openFresh();
    await store.createOrganization({
      org: { id: 'org_1', name: 'One', created_at: T },
      policy: { inactivity_days: null, default_expiry_days: null, max_expiry_days: null, require_expiry: false, allowed_auth_schemes: ['bearer'], max_keys: 10 },
      owner: { id: 'usr_1', org_id: 'org_1', type: 'user', name: 'Owner', email: null, role: 'owner', created_at: T },
      key,
      audit: [event('evt_1')],
    });
  });

  afterEach(() => closeAndRemove(store));

  it('insertKey: a duplicate audit id leaves no key, digest or machine user behind', async () => {
    const robot = { id: 'usr_2', org_id: 'org_1', type: 'machine' as const, name: 'Robot', email: null, role: null, created_at: T };
    const second = { ...key, id: 'key_2', digest: 'digest-2', owner: { type: 'machine' as const, id: 'usr_2', name: 'Robot' } };
    await expect(store.insertKey({ key: second, machine_user: robot, audit: [event('evt_1')], max_keys: 10 })).rejects.toThrow(/UNIQUE/);
    expect(store.db.isTransaction).toBe(false);
    expect(await store.getKey('org_1', 'key_2')).toBeNull();
    expect(await store.findCredential('digest-2')).toBeNull();
    expect(await store.getMember('org_1', 'usr_2')).toBeNull();
    // The cap count kept by triggers rolled back too: exactly one slot is taken.
    expect(await store.insertKey({ key: second, machine_user: robot, audit: [], max_keys: 2 })).toBe('ok');
    expect(await store.insertKey({ key: { ...key, id: 'key_3', digest: 'digest-3' }, audit: [], max_keys: 2 })).toBe('cap_reached');
  });

  it('writeKey: a duplicate audit id leaves the key and its digests as they were', async () => {
    const rotated = { ...key, digest: 'digest-rotated', prev_digest: key.digest, status: 'revoked' as const, version: 2 };
    await expect(store.writeKey({ key: rotated, expected_version: 1, audit: [event('evt_1')] })).rejects.toThrow(/UNIQUE/);
    expect(await store.getKey('org_1', 'key_1')).toStrictEqual(key);
    expect(await store.findCredential('digest-rotated')).toBeNull();
    expect(await store.writeKey({ key: rotated, expected_version: 1, audit: [event('evt_2')] })).toBe(true);
  });

  it('usage and last-use times are written by a connection of their own, waiting for the main one\'s lock', async () => {
    const entry = { org_id: 'org_1', key_id: 'key_1', at: T, method: 'GET', route: '/v1/me', status: 200, ip: null, user_agent: null, secret: 'current' as const };
    store.db.exec('BEGIN IMMEDIATE'); // the main connection holds the write lock…
    let settled = false;
    const writes = Promise.all([store.appendUsage([entry]), store.recordUse([{ key_id: 'key_1', digest: key.digest, at: T + 5 }])]).then(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(settled).toBe(false); // …so the writer waits (inline, it would have failed at once)…
    store.db.exec('COMMIT');
    await writes; // …and goes on when it is released.
    expect((await store.listUsage('org_1', 'key_1', { limit: 10, before: null })).data).toStrictEqual([entry]);
    expect((await store.getKey('org_1', 'key_1'))!.last_used_at).toBe(T + 5);
  });

  it('appendUsage: one bad entry writes none of the batch (on the writer thread)', async () => {
    const entry = { org_id: 'org_1', key_id: 'key_1', at: T, method: 'GET', route: '/v1/me', status: 200, ip: null, user_agent: null, secret: 'current' as const };
    const broken = { ...entry, method: null as unknown as string };
    await expect(store.appendUsage([entry, entry, broken])).rejects.toThrow(/NOT NULL/);
    expect((await store.listUsage('org_1', 'key_1', { limit: 10, before: null })).data).toStrictEqual([]);
    // The thread survives a failed batch: the next one is written.
    await store.appendUsage([entry]);
    expect((await store.listUsage('org_1', 'key_1', { limit: 10, before: null })).data).toStrictEqual([entry]);
  });
});

describe('usage entries on their way to the writer thread (packUsage)', () => {
  const entry = (changes: Partial<UsageEntry>): UsageEntry => ({
    org_id: 'org_1',
    key_id: 'key_1',
    at: 1_767_225_600_123,
    method: 'GET',
    route: '/v1/me',
    status: 200,
    ip: '127.0.0.1',
    user_agent: 'curl/8',
    secret: 'current',
    ...changes,
  });

  it('unpacks to the same entries, in order, nulls and repeated strings included', () => {
    const entries = [
      entry({}),
      entry({ key_id: 'key_2', status: 403, ip: null, user_agent: null, secret: 'previous' }),
      entry({ method: 'POST', route: '/v1/api-keys/verify', user_agent: 'ünïcödé ☃ 🔑', at: 1_767_225_600_124 }),
      entry({ ip: '::1', user_agent: '' }),
      entry({}),
    ];
    const packed = packUsage(entries);
    expect(unpackUsage(packed)).toStrictEqual(entries);
    // Each distinct string once: the second, fourth and fifth entries add only what differs.
    expect(packed.strings).toHaveLength(new Set(entries.flatMap((e) => [e.org_id, e.key_id, e.method, e.route, e.ip, e.user_agent, e.secret])).size - 1);
    expect(unpackUsage(packUsage([]))).toStrictEqual([]);
  });

  it('moves its arrays to the thread rather than copying them', () => {
    const packed = packUsage([entry({})]);
    const { port1, port2 } = new MessageChannel();
    port1.postMessage(packed, [packed.refs.buffer, packed.at.buffer, packed.status.buffer]);
    expect(packed.at.length).toBe(0); // detached here
    port1.close();
    port2.close();
  });
});

/**
 * A server trusts what it has cached until it changes the key itself, so two servers on one file
 * would each miss the other's revokes (a key revoked through one went on working on the other).
 * Opening a store claims the file for the process; the CLI, which only adds organizations, opens
 * without the claim.
 */
describe('SQLite: one server per file', () => {
  const T = 1_767_225_600_123;
  const organization = (n: number) => {
    const ref = { type: 'user' as const, id: `usr_${n}`, name: 'Owner' };
    return {
      org: { id: `org_${n}`, name: `Org ${n}`, created_at: T },
      policy: { inactivity_days: null, default_expiry_days: null, max_expiry_days: null, require_expiry: false, allowed_auth_schemes: ['bearer' as const], max_keys: 10 },
      owner: { id: `usr_${n}`, org_id: `org_${n}`, type: 'user' as const, name: 'Owner', email: null, role: 'owner' as const, created_at: T },
      key: {
        id: `key_${n}`, org_id: `org_${n}`, name: 'Owner key', description: null, permission: { type: 'all' as const, scopes: [] },
        owner: ref, created_by: ref, workspace_access: { type: 'all' as const }, workspace_id: null, status: 'active' as const,
        disabled_reason: null, created_at: T, updated_at: T, expires_at: null, revoked_at: null, inactivity_from: T,
        last_used_at: null, digest: `digest-${n}`, hint: 'hey_...0001', prev_digest: null, prev_hint: null,
        prev_expires_at: null, prev_last_used_at: null, version: 1,
      },
      audit: [],
    };
  };

  it('refuses a second store on the file while the first is open, in this process too, and not after it closes', async () => {
    const first = openFresh();
    const file = files.get(first)!;
    expect(() => openSqliteStore(file)).toThrow(StoreInUseError);
    expect(() => openSqliteStore(file)).toThrow(`${file} is in use by another HeyKeys server`);
    expect(await first.createOrganization(organization(1))).toBe(true);
    await first.close();

    const second = openSqliteStore(file);
    expect((await second.findCredential('digest-1'))?.key.id).toBe('key_1');
    await second.close();
  });

  it('lets a store opened without the claim (the CLI) write beside the one that holds it', async () => {
    const server = openFresh();
    const cli = openSqliteStore(files.get(server)!, { exclusive: false });
    expect(await cli.createOrganization(organization(2))).toBe(true);
    await cli.close();
    expect((await server.findCredential('digest-2'))?.key.org_id).toBe('org_2');
    await closeAndRemove(server);
  });

  it('gives the claim back when the store fails to open', async () => {
    const store = openFresh();
    const file = files.get(store)!;
    store.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(999, 'from_the_future', 1);
    await store.close();
    // Twice the same refusal: had the first attempt kept the claim, the second would find it taken.
    expect(() => openSqliteStore(file)).toThrow(/schema version 999 is newer/);
    expect(() => openSqliteStore(file)).toThrow(/schema version 999 is newer/);
  });

  it('holds for another process, and ends with it when it is killed (SIGKILL: no close)', async () => {
    const store = openFresh();
    const file = files.get(store)!;
    await store.close();
    const storeUrl = new URL('../../server/src/store/sqlite.ts', import.meta.url).href;
    const child = spawn(
      process.execPath,
      ['--expose-gc', '--input-type=module', '--no-warnings', '-e', `
        import { openSqliteStore } from ${JSON.stringify(storeUrl)};
        // Held, as a server holds its store (one collected as garbage closes its connections); the
        // claim must live as long as the store, through collections.
        globalThis.store = openSqliteStore(${JSON.stringify(file)});
        gc();
        gc();
        process.stdout.write('open');
        setInterval(() => {}, 1000);
      `],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.once('data', () => resolve());
        child.once('exit', (code) => reject(new Error(`the child exited with ${code} before opening the store`)));
      });
      expect(() => openSqliteStore(file)).toThrow(StoreInUseError);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const after = openSqliteStore(file);
    await after.close();
  });
});
