/**
 * Versioned migrations on PostgreSQL: applied at start, once, whoever starts first; a failed step
 * leaves nothing behind; a schema newer than the code stops the store (and the server) with a clear
 * message. Every case runs in a schema of its own.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { FIND_INACTIVE_KEYS, loadMigrations, migrate, openPostgresStore, type PostgresStore } from '../../server/src/store/postgres.ts';
import { StoreOpenError } from '../../server/src/store/store.ts';
import { spawnServer } from '../support/process.ts';
import { createTestSchema, postgresTarget, withSearchPath, type TestSchema } from '../support/postgres.ts';

const target = postgresTarget('PostgreSQL migrations');
const shipped = loadMigrations();
const newest = shipped.at(-1)!.version;

describe('loading migration files', () => {
  it('the shipped migrations are numbered 1, 2, 3… and not empty', () => {
    expect(shipped.map((m) => m.version)).toStrictEqual(shipped.map((_, i) => i + 1));
    for (const m of shipped) expect(m.sql.trim().length).toBeGreaterThan(0);
  });

  it('refuses a gap in the numbering', () => {
    const dir = mkdtempSync(join(tmpdir(), 'heykeys-migrations-'));
    try {
      writeFileSync(join(dir, '001_first.sql'), 'SELECT 1');
      writeFileSync(join(dir, '003_third.sql'), 'SELECT 1');
      expect(() => loadMigrations(pathToFileURL(`${dir}/`))).toThrow(/without gaps; found 3 at position 2/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says which database it cannot reach (without the password)', async () => {
    const opening = openPostgresStore('postgres://postgres:hunter2@127.0.0.1:1/test');
    await expect(opening).rejects.toThrow(/^cannot reach PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/test/);
    await expect(opening).rejects.toBeInstanceOf(StoreOpenError);
  });
});

describe.skipIf(target.skip)('PostgreSQL migrations', () => {
  const schemas: TestSchema[] = [];
  const stores: PostgresStore[] = [];

  async function freshSchema(): Promise<TestSchema> {
    const schema = await createTestSchema(target.url());
    schemas.push(schema);
    return schema;
  }
  async function open(url: string): Promise<PostgresStore> {
    const store = await openPostgresStore(url, { poolSize: 2 });
    stores.push(store);
    return store;
  }
  async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }
  const recorded = async (schema: TestSchema) =>
    (await schema.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r) => r.version);

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await Promise.all(schemas.splice(0).map((s) => s.drop()));
  });

  it('applies every migration to an empty schema, then nothing on the next start', async () => {
    const schema = await freshSchema();
    expect(await withClient(schema.url, (c) => migrate(c, shipped))).toStrictEqual(shipped.map((m) => m.version));
    expect(await recorded(schema)).toStrictEqual(shipped.map((m) => m.version));
    expect(await withClient(schema.url, (c) => migrate(c, shipped))).toStrictEqual([]);
    const store = await open(schema.url);
    expect(await store.countOrganizations()).toBe(0);
    expect(await recorded(schema)).toStrictEqual(shipped.map((m) => m.version));
  });

  it('creates its tables in the schema named by search_path in the URL, and nowhere else', async () => {
    const schema = await freshSchema();
    const store = await open(schema.url);
    expect(store.schema).toBe(schema.schema);
    const tables = await schema.query<{ schemaname: string }>(
      "SELECT DISTINCT schemaname FROM pg_tables WHERE tablename IN ('keys', 'schema_migrations') AND schemaname = $1",
      [schema.schema],
    );
    expect(tables.rows).toStrictEqual([{ schemaname: schema.schema }]);
  });

  it('processes starting together apply each migration exactly once', async () => {
    const schema = await freshSchema();
    const results = await Promise.all(Array.from({ length: 6 }, () => withClient(schema.url, (c) => migrate(c, shipped))));
    expect(results.filter((applied) => applied.length > 0)).toStrictEqual([shipped.map((m) => m.version)]);
    await Promise.all(Array.from({ length: 4 }, () => open(schema.url)));
    expect(await recorded(schema)).toStrictEqual(shipped.map((m) => m.version));
  });

  it('a failing migration leaves nothing behind: not its predecessors in the same start, not the record', async () => {
    const schema = await freshSchema();
    const broken = [
      { version: 1, name: 'good', sql: 'CREATE TABLE good_table (id integer)' },
      { version: 2, name: 'broken', sql: 'CREATE TABLE broken_table (id no_such_type)' },
    ];
    await expect(withClient(schema.url, (c) => migrate(c, broken))).rejects.toThrow(/no_such_type/);
    const left = await schema.query('SELECT tablename FROM pg_tables WHERE schemaname = $1', [schema.schema]);
    expect(left.rows).toStrictEqual([]);
  });

  it('refuses a schema newer than the code, with a message that says what to do, and changes nothing', async () => {
    const schema = await freshSchema();
    await open(schema.url);
    await schema.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [newest + 1, 'from_the_future', Date.now()]);
    await expect(openPostgresStore(schema.url)).rejects.toThrow(
      `database schema version ${newest + 1} (schema "${schema.schema}") is newer than this server (knows ${newest}); upgrade the server`,
    );
    expect(await recorded(schema)).toStrictEqual([...shipped.map((m) => m.version), newest + 1]);
  });

  it('the server process refuses to start on a newer schema and prints why', async () => {
    const schema = await freshSchema();
    await open(schema.url);
    await schema.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [newest + 1, 'from_the_future', Date.now()]);
    const started = spawnServer({ env: { DATABASE_URL: schema.url }, removeDataDir: true });
    await expect(started).rejects.toThrow(/exited with 1 before listening[\s\S]*heykeys: database schema version \d+ .* is newer than this server \(knows \d+\); upgrade the server/);
    // An answer, not a crash: no stack trace.
    await expect(started).rejects.not.toThrow(/\n\s+at /);
  });

  it('a running instance keeps answering while a newer release adds columns (rolling upgrade)', async () => {
    const schema = await freshSchema();
    const store = await open(schema.url);
    const { KeyService } = await import('../../server/src/domain/service.ts');
    const { systemClock } = await import('../../server/src/domain/clock.ts');
    const { nodeCrypto } = await import('../../server/src/node-crypto.ts');
    const service = new KeyService({ store, clock: systemClock, crypto: nodeCrypto });
    const created = await service.createOrganization({ name: 'Rolling', owner_name: 'O', owner_email: 'o@rolling.test' });
    // Every pooled connection has prepared its statements…
    for (let i = 0; i < 4; i++) {
      await Promise.all([store.findCredential(created.key.digest), store.getKey(created.organization.id, created.key.id), store.getPolicy(created.organization.id)]);
    }
    // …when the next release's migration adds columns under them.
    await schema.query('ALTER TABLE keys ADD COLUMN added_later text; ALTER TABLE policies ADD COLUMN added_later text');
    for (let i = 0; i < 4; i++) {
      const [credential, key, policy] = await Promise.all([
        store.findCredential(created.key.digest),
        store.getKey(created.organization.id, created.key.id),
        store.getPolicy(created.organization.id),
      ]);
      expect(credential!.key).toStrictEqual(created.key);
      expect(key).toStrictEqual(created.key);
      expect(policy).not.toBeNull();
    }
    await service.close();
  });

  it('migration 3 keeps the usage entries written before it, and the previous release can still write its own', async () => {
    const schema = await freshSchema();
    await withClient(schema.url, (c) => migrate(c, shipped.filter((m) => m.version <= 2)));
    // What the previous release wrote: an id made by the server, in the column list it names.
    const previousRelease = `INSERT INTO usage (id, org_id, key_id, at, method, route, status, ip, user_agent, secret)
      VALUES ($1, 'org_1', 'key_1', $2, 'GET', $3, $4, NULL, 'curl/8', 'current')`;
    await schema.query(previousRelease, ['use_0002', 1000, '/two', 404]);
    await schema.query(previousRelease, ['use_0001', 1000, '/one', 200]);
    const store = await open(schema.url);
    expect(await recorded(schema)).toStrictEqual(shipped.map((m) => m.version));
    await schema.query(previousRelease, ['use_0003', 3000, '/three', 503]);
    await store.appendUsage([
      { org_id: 'org_1', key_id: 'key_1', at: 2000, method: 'GET', route: '/new', status: 200, ip: null, user_agent: null, secret: 'current' },
    ]);
    const page = await store.listUsage('org_1', 'key_1', { limit: 10, before: null });
    expect(page.data.slice(0, 2).map((u) => u.route)).toStrictEqual(['/three', '/new']);
    // The two old entries share an instant: numbered as PostgreSQL stored them, in either order.
    expect(page.data.slice(2).map((u) => u.route).sort()).toStrictEqual(['/one', '/two']);
    expect(await store.countUsage('org_1', 'key_1', 0)).toStrictEqual({ total: 4, success: 2, client_error: 1, server_error: 1 });
  });

  it("the inactivity sweep's question can be answered from the keys_inactive index (migration 4)", async () => {
    const schema = await freshSchema();
    await open(schema.url);
    // A new table is small enough for the planner to prefer reading it whole; forbidding that
    // shows which index the question can use: keys_by_org would match org_id alone.
    const plan = await withClient(schema.url, async (c) => {
      await c.query('SET enable_seqscan = off');
      return (await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${FIND_INACTIVE_KEYS}`, ['org_a', 0])).rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    expect(plan).toMatch(/Index (Only )?Scan using keys_inactive on keys/);
    // Both columns bound the search: the organization and the time of last use.
    expect(plan).toMatch(/Index Cond: \(\(org_id = 'org_a'::text\) AND \(GREATEST\(COALESCE\(last_used_at, '0'::bigint\), inactivity_from\) <= /);
  });

  it('says which database refused it, and why, for a database or a user that does not exist (without the password)', async () => {
    const url = new URL(target.url());
    url.password = 'hunter2';
    url.pathname = '/heykeys_no_such_database';
    const noDatabase = openPostgresStore(url.href);
    await expect(noDatabase).rejects.toBeInstanceOf(StoreOpenError);
    await expect(noDatabase).rejects.toThrow(/at postgres:\/\/[^@]*:\*\*\*@.*\/heykeys_no_such_database refused the connection: database "heykeys_no_such_database" does not exist$/);
    const user = new URL(target.url());
    user.username = 'heykeys_no_such_user';
    await expect(openPostgresStore(user.href)).rejects.toThrow(/refused the connection: .*"heykeys_no_such_user"/);
  });

  it('names the problem when the schema on the search_path does not exist', async () => {
    const url = withSearchPath(target.url(), 't_does_not_exist');
    await expect(openPostgresStore(url)).rejects.toThrow(/no schema of search_path "t_does_not_exist" exists; create it/);
  });
});
