/**
 * Opening an SQLite file: settings, versioned migrations, refusing a newer schema, and keeping an
 * acknowledged write when the process dies without closing the database.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { FIND_INACTIVE_KEYS, loadMigrations, migrate, openSqliteStore, type Migration } from '../../server/src/store/sqlite.ts';

const dir = mkdtempSync(join(tmpdir(), 'heykeys-migrations-'));
let files = 0;
const freshFile = (): string => join(dir, `db-${++files}.db`);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function appliedVersions(db: DatabaseSync): number[] {
  return db.prepare('SELECT version FROM schema_migrations ORDER BY version').all().map((row) => row['version'] as number);
}

function tableNames(db: DatabaseSync): string[] {
  return db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all().map((row) => row['name'] as string);
}

describe('opening an SQLite store', () => {
  it('uses WAL, synchronous FULL, a busy timeout and foreign keys', async () => {
    const store = openSqliteStore(freshFile());
    const pragma = (name: string) => Object.values(store.db.prepare(`PRAGMA ${name}`).get()!)[0];
    expect(pragma('journal_mode')).toBe('wal');
    expect(pragma('synchronous')).toBe(2); // FULL
    expect(pragma('busy_timeout')).toBeGreaterThan(0);
    expect(pragma('foreign_keys')).toBe(1);
    await store.close();
  });

  it('applies every shipped migration to a new file', async () => {
    const store = openSqliteStore(freshFile());
    expect(appliedVersions(store.db)).toStrictEqual(loadMigrations().map((m) => m.version));
    expect(tableNames(store.db)).toEqual(expect.arrayContaining(['keys', 'key_secrets', 'audit', 'usage', 'schema_migrations']));
    await store.close();
  });

  it('reopening applies nothing and keeps the data', async () => {
    const file = freshFile();
    const first = openSqliteStore(file);
    const before = first.db.prepare('SELECT * FROM schema_migrations ORDER BY version').all();
    first.db.exec("INSERT INTO organizations (id, name, created_at) VALUES ('org_kept', 'Kept', 1)");
    await first.close();

    const second = openSqliteStore(file);
    expect(second.db.prepare('SELECT * FROM schema_migrations ORDER BY version').all()).toStrictEqual(before);
    expect(migrate(second.db, loadMigrations())).toStrictEqual([]);
    expect(await second.getOrganization('org_kept')).toStrictEqual({ id: 'org_kept', name: 'Kept', created_at: 1 });
    await second.close();
  });

  it('migration 3 keeps every usage entry written under the schema before it, in order', async () => {
    const file = freshFile();
    const db = new DatabaseSync(file);
    migrate(db, loadMigrations().filter((m) => m.version <= 2));
    const insert = db.prepare(
      `INSERT INTO usage (id, org_id, key_id, at, method, route, status, ip, user_agent, secret) VALUES (?, 'org_1', 'key_1', ?, 'GET', ?, ?, ?, ?, ?)`,
    );
    // Inserted out of id order; ids (time-sortable) were the order entries were listed in.
    insert.run('use_0003', 3000, '/three', 500, null, null, 'previous');
    insert.run('use_0001', 1000, '/one', 200, '198.51.100.7', 'curl/8', 'current');
    insert.run('use_0002', 1000, '/two', 404, null, 'curl/8', 'current');
    db.close();

    const store = openSqliteStore(file);
    expect(appliedVersions(store.db)).toStrictEqual(loadMigrations().map((m) => m.version));
    const page = await store.listUsage('org_1', 'key_1', { limit: 10, before: null });
    expect(page.data.map((u) => [u.route, u.at, u.status, u.ip, u.user_agent, u.secret])).toStrictEqual([
      ['/three', 3000, 500, null, null, 'previous'],
      ['/two', 1000, 404, null, 'curl/8', 'current'],
      ['/one', 1000, 200, '198.51.100.7', 'curl/8', 'current'],
    ]);
    expect(await store.countUsage('org_1', 'key_1', 0)).toStrictEqual({ total: 3, success: 1, client_error: 1, server_error: 1 });
    await store.close();
  });

  it("the inactivity sweep's question searches the keys_inactive index (migration 4) instead of reading every key", async () => {
    const store = openSqliteStore(freshFile());
    const plan = store.db.prepare(`EXPLAIN QUERY PLAN ${FIND_INACTIVE_KEYS}`).all('org_a', 0).map((row) => row['detail']);
    // Without the index (or with the expression written another way) the plan is a SEARCH of
    // keys_by_org on org_id alone, which reads every key of the organization.
    expect(plan).toStrictEqual(['SEARCH keys USING INDEX keys_inactive (org_id=? AND <expr><?)']);
    await store.close();
  });

  it('refuses a database whose schema is newer than this server knows', async () => {
    const file = freshFile();
    const known = loadMigrations().at(-1)!.version;
    const store = openSqliteStore(file);
    store.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(known + 4, 'from_the_future', 1);
    await store.close();

    expect(() => openSqliteStore(file)).toThrow(
      `database schema version ${known + 4} is newer than this server (knows ${known}); upgrade the server`,
    );
    const db = new DatabaseSync(file);
    expect(appliedVersions(db).at(-1)).toBe(known + 4);
    db.close();
  });
});

describe('migrate', () => {
  const steps: Migration[] = [
    { version: 1, name: 'first', sql: 'CREATE TABLE one (x INTEGER);' },
    { version: 2, name: 'second', sql: 'CREATE TABLE two (x INTEGER); INSERT INTO one VALUES (2);' },
  ];

  it('applies pending migrations in order, once', () => {
    const db = new DatabaseSync(':memory:');
    expect(migrate(db, steps.slice(0, 1))).toStrictEqual([1]);
    expect(migrate(db, steps)).toStrictEqual([2]);
    expect(migrate(db, steps)).toStrictEqual([]);
    expect(appliedVersions(db)).toStrictEqual([1, 2]);
    expect(db.prepare('SELECT x FROM one').all().map((row) => row['x'])).toStrictEqual([2]);
    db.close();
  });

  it('rolls back every pending migration when one fails', () => {
    const db = new DatabaseSync(':memory:');
    migrate(db, steps.slice(0, 1));
    const failing: Migration = { version: 3, name: 'broken', sql: 'CREATE TABLE three (x INTEGER); INSERT INTO missing VALUES (1);' };
    expect(() => migrate(db, [...steps, failing])).toThrow(/missing/);
    expect(db.isTransaction).toBe(false);
    expect(appliedVersions(db)).toStrictEqual([1]);
    expect(tableNames(db)).not.toContain('two');
    expect(tableNames(db)).not.toContain('three');
    db.close();
  });
});

describe('loadMigrations', () => {
  it('reads NNN_name.sql files in numeric order and ignores other files', () => {
    const folder = join(dir, 'ordered');
    mkdirSync(folder);
    writeFileSync(join(folder, '010_tenth.sql'), 'SELECT 10;');
    writeFileSync(join(folder, '002_second.sql'), 'SELECT 2;');
    writeFileSync(join(folder, 'README.md'), 'not a migration');
    for (let n = 1; n <= 9; n++) if (n !== 2) writeFileSync(join(folder, `00${n}_step.sql`), `SELECT ${n};`);
    const loaded = loadMigrations(pathToFileURL(folder + '/'));
    expect(loaded.map((m) => m.version)).toStrictEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(loaded[1]).toStrictEqual({ version: 2, name: 'second', sql: 'SELECT 2;' });
  });

  it('refuses a gap in the numbering', () => {
    const folder = join(dir, 'gap');
    mkdirSync(folder);
    writeFileSync(join(folder, '001_first.sql'), 'SELECT 1;');
    writeFileSync(join(folder, '003_third.sql'), 'SELECT 3;');
    expect(() => loadMigrations(pathToFileURL(folder + '/'))).toThrow(/without gaps/);
  });
});

/**
 * Runs `body` as an ES module in a new Node process (with `nodeOptions` first), `store` being the
 * SQLite store opened on `file`.
 */
function runWithStore(file: string, body: string, nodeOptions: string[] = []) {
  const storeUrl = new URL('../../server/src/store/sqlite.ts', import.meta.url).href;
  const script = `
    import { openSqliteStore } from ${JSON.stringify(storeUrl)};
    const store = openSqliteStore(${JSON.stringify(file)});
    ${body}
  `;
  return spawnSync(process.execPath, [...nodeOptions, '--input-type=module', '--no-warnings', '-e', script], { encoding: 'utf8', timeout: 20_000 });
}

describe('durability', () => {
  it('an acknowledged revoke survives the process being killed without closing the database', async () => {
    const file = freshFile();
    // The child creates an organization, revokes its key, then dies by SIGKILL: no close, no checkpoint.
    const result = runWithStore(
      file,
      `
      const key = {
        id: 'key_1', org_id: 'org_1', name: 'Owner key', description: null,
        permission: { type: 'all', scopes: [] }, owner: { type: 'user', id: 'usr_1', name: 'O' },
        created_by: { type: 'user', id: 'usr_1', name: 'O' }, workspace_access: { type: 'all' }, workspace_id: null,
        status: 'active', disabled_reason: null, created_at: 1, updated_at: 1, expires_at: null, revoked_at: null,
        inactivity_from: 1, last_used_at: null, digest: 'd1', hint: 'h', prev_digest: null, prev_hint: null,
        prev_expires_at: null, prev_last_used_at: null, version: 1,
      };
      await store.createOrganization({
        org: { id: 'org_1', name: 'One', created_at: 1 },
        policy: { inactivity_days: null, default_expiry_days: null, max_expiry_days: null, require_expiry: false, allowed_auth_schemes: ['bearer'], max_keys: 10 },
        owner: { id: 'usr_1', org_id: 'org_1', type: 'user', name: 'O', email: null, role: 'owner', created_at: 1 },
        key, audit: [],
      });
      const ok = await store.writeKey({ key: { ...key, status: 'revoked', revoked_at: 2, version: 2 }, expected_version: 1, audit: [] });
      process.stdout.write(String(ok));
      process.kill(process.pid, 'SIGKILL');
    `,
    );
    expect(result.stderr).toBe('');
    expect(result.signal).toBe('SIGKILL');
    expect(result.stdout).toBe('true');

    const store = openSqliteStore(file);
    expect((await store.findCredential('d1'))?.key).toMatchObject({ status: 'revoked', revoked_at: 2, version: 2 });
    await store.close();
  });
});

describe('the writer thread', () => {
  // Nothing but the store keeps the process alive: the thread must neither hold it open forever
  // after close, nor let it exit before the last batch is in. And it must start under the V8 and
  // process options a deployment tunes, which a thread refuses when handed them.
  it.each([
    ['no Node options', []],
    ['V8 and process options', ['--max-old-space-size=512', '--max-semi-space-size=16', '--stack-size=2000', '--title=heykeys-test']],
  ])('a script that appends usage and closes the store exits by itself, with the entries written (%s)', async (_name, nodeOptions) => {
    const file = freshFile();
    const result = runWithStore(
      file,
      `
      const entry = { org_id: 'org_1', key_id: 'key_1', at: 1, method: 'GET', route: '/v1/me', status: 200, ip: null, user_agent: null, secret: 'current' };
      await store.appendUsage([entry, { ...entry, at: 2 }]);
      await store.appendUsage([{ ...entry, at: 3 }]);
      await store.close();
      process.stdout.write('closed');
    `,
      nodeOptions,
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('closed');
    const store = openSqliteStore(file);
    expect((await store.listUsage('org_1', 'key_1', { limit: 10, before: null })).data.map((u) => u.at)).toStrictEqual([3, 2, 1]);
    await store.close();
  });
});
