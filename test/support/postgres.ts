/**
 * PostgreSQL for tests: whether the PostgreSQL suites run, and a fresh schema for each run.
 *
 * The rule (issue 6): without DATABASE_URL the suites are skipped, and each says so on the console;
 * with REQUIRE_POSTGRES=true (what .ci/run sets when CI=true) they run, and FAIL when PostgreSQL is
 * unreachable or DATABASE_URL is missing, rather than skip.
 *
 * Runs share one database and never collide: each gets its own schema `t_<time>_<random>`, which the
 * server and stores select through `?options=-c search_path=<schema>` in their URL, and which is
 * dropped afterwards (schemas left by killed runs are swept after a few hours).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, it } from 'vitest';

const RAW_URL = process.env['DATABASE_URL'] ?? '';
const URL_SHAPE = /^postgres(ql)?:\/\//;
export const REQUIRE_POSTGRES = process.env['REQUIRE_POSTGRES'] === 'true';

/** Schemas this helper names: `t_` + base-36 creation time + `_` + 8 hex characters. */
const SCHEMA_NAME = /^t_([0-9a-z]{8,9})_[0-9a-f]{8}$/;
/** A run's schema older than this is left over from a killed run. */
const STALE_AFTER_MS = 6 * 3600_000;

export interface PostgresTarget {
  /** True when the suite must not run (no DATABASE_URL and not required). */
  skip: boolean;
  /** The base DATABASE_URL; throws (failing the suite) when required but missing. */
  url(): string;
}

/**
 * Decides whether a PostgreSQL suite runs, and prints why when it does not. Use as
 * `const target = postgresTarget('…'); describe.skipIf(target.skip)(…)`.
 */
export function postgresTarget(suite: string): PostgresTarget {
  const hasUrl = URL_SHAPE.test(RAW_URL);
  const skip = !hasUrl && !REQUIRE_POSTGRES;
  if (skip) {
    console.log(
      `[postgres] skipped "${suite}": DATABASE_URL is not set to a postgres:// URL. ` +
        'Run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/test to include it (REQUIRE_POSTGRES=true turns a skip into a failure).',
    );
  }
  return {
    skip,
    url() {
      if (!hasUrl) throw new Error(`REQUIRE_POSTGRES=true but DATABASE_URL ("${RAW_URL}") is not a postgres:// URL`);
      return RAW_URL;
    },
  };
}

/** `url` with `-c search_path=<schema>` added to its `options` startup parameter. */
export function withSearchPath(url: string, schema: string): string {
  const parsed = new URL(url);
  const existing = parsed.searchParams.get('options');
  parsed.searchParams.set('options', `${existing ? `${existing} ` : ''}-c search_path=${schema}`);
  return parsed.toString();
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000, application_name: 'heykeys-tests' });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`PostgreSQL at ${url.replace(/:[^:@/]*@/, ':***@')} is unreachable: ${(error as Error).message}`, { cause: error });
  }
  return client;
}

export interface TestSchema {
  schema: string;
  /** The base URL pointed at this schema: give it to openPostgresStore or DATABASE_URL. */
  url: string;
  /** Runs one statement in the schema on a short-lived connection. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
  /** Empties every table but schema_migrations (between tests that want an empty store). */
  truncate(): Promise<void>;
  drop(): Promise<void>;
}

let swept = false;

/** Drops schemas of earlier runs that were killed before they could drop their own. */
async function sweepStaleSchemas(admin: pg.Client): Promise<void> {
  if (swept) return;
  swept = true;
  const { rows } = await admin.query<{ nspname: string }>("SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\\_%'");
  for (const { nspname } of rows) {
    const match = SCHEMA_NAME.exec(nspname);
    if (!match || Date.now() - parseInt(match[1]!, 36) < STALE_AFTER_MS) continue;
    await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(nspname)} CASCADE`).catch(() => {});
  }
}

/** Creates a fresh, empty schema for this run (the server migrates it on first open). */
export async function createTestSchema(baseUrl: string): Promise<TestSchema> {
  const schema = `t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = await connect(baseUrl);
  try {
    await sweepStaleSchemas(admin);
    await admin.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`);
  } finally {
    await admin.end();
  }
  const url = withSearchPath(baseUrl, schema);
  const query = async <R extends pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<pg.QueryResult<R>> => {
    const client = await connect(url);
    try {
      return await client.query<R>(sql, values);
    } finally {
      await client.end();
    }
  };
  return {
    schema,
    url,
    query,
    async truncate() {
      const { rows } = await query<{ tablename: string }>(
        "SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename <> 'schema_migrations'",
        [schema],
      );
      if (rows.length === 0) return;
      const tables = rows.map((r) => pg.escapeIdentifier(r.tablename));
      // DELETE with foreign-key triggers off costs a few ms on these tiny tables; TRUNCATE (the
      // fallback without superuser rights) ~200 ms, which a hundred tests would feel.
      const deletes = `SET session_replication_role = replica; ${tables.map((t) => `DELETE FROM ${t};`).join(' ')}`;
      await query(deletes).catch(() => query(`TRUNCATE ${tables.join(', ')} CASCADE`));
    },
    async drop() {
      const client = await connect(baseUrl);
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}

/** One schema per server data folder, as SQLite has one database file per data folder. */
const schemasByDataDir = new Map<string, Promise<TestSchema>>();

/**
 * The schema that stands for `dataDir` on PostgreSQL: created on first use, the same one for every
 * later server or CLI run on that folder (a restart finds its data), dropped by dropDataDirSchemas.
 */
export function schemaForDataDir(baseUrl: string, dataDir: string): Promise<TestSchema> {
  let schema = schemasByDataDir.get(dataDir);
  if (!schema) schemasByDataDir.set(dataDir, (schema = createTestSchema(baseUrl)));
  return schema;
}

export async function dropDataDirSchemas(): Promise<void> {
  const schemas = await Promise.allSettled(schemasByDataDir.values());
  schemasByDataDir.clear();
  for (const s of schemas) if (s.status === 'fulfilled') await s.value.drop();
}

/**
 * test/support/process.ts with servers and CLI runs on PostgreSQL when TEST_SERVER_DATABASE_URL is
 * set: each data folder gets its own schema (see schemaForDataDir). For vi.mock in the files that
 * rerun a process-spawning suite on PostgreSQL (see onPostgres):
 *
 *     vi.mock('../support/process.ts', async (importOriginal) =>
 *       (await import('../support/postgres.ts')).onPostgresProcesses(await importOriginal()));
 */
export function onPostgresProcesses(original: typeof import('./process.ts')): typeof import('./process.ts') {
  const baseUrl = (): string | undefined => process.env['TEST_SERVER_DATABASE_URL'] || undefined;
  return {
    ...original,
    async spawnServer(options = {}) {
      const base = baseUrl();
      if (!base) return original.spawnServer(options);
      const dataDir = options.dataDir ?? original.tempDir();
      const { url } = await schemaForDataDir(base, dataDir);
      return original.spawnServer({ ...options, dataDir, env: { DATABASE_URL: url, ...options.env } });
    },
    async runCli(args, env) {
      const base = baseUrl();
      if (!base || !env['DATA_DIR']) return original.runCli(args, env);
      const { url } = await schemaForDataDir(base, env['DATA_DIR']);
      return original.runCli(args, { DATABASE_URL: url, ...env });
    },
  };
}

/**
 * Runs an existing suite that spawns real server processes (the e2e and SDK contract suites) again
 * on PostgreSQL, in a test file of its own that also mocks ../support/process.ts with
 * onPostgresProcesses: `await onPostgres('…', () => import('../e2e/lifecycle.test.ts'))`. Every data
 * folder the suite uses becomes a fresh schema, so it sees what it would see on SQLite: an empty
 * store per new folder, its data again on a restart. Skipped (with the console line) or failing per
 * the rule at the top of this file.
 */
export async function onPostgres(suite: string, load: () => Promise<unknown>): Promise<void> {
  const target = postgresTarget(suite);
  if (target.skip) {
    // Skipped, and saying why in the report as well as on the console; never under CI=true, where
    // REQUIRE_POSTGRES makes a missing database a failure (postgresTarget above).
    describe.skip(`${suite} (on PostgreSQL): skipped because DATABASE_URL is not set`, () => {
      it('runs when DATABASE_URL=postgres://… is set', () => {});
    });
    return;
  }
  const baseUrl = target.url();
  // Fail here, at collection, when PostgreSQL is unreachable (REQUIRE_POSTGRES=true).
  await (await createTestSchema(baseUrl)).drop();
  process.env['TEST_SERVER_DATABASE_URL'] = baseUrl;
  afterAll(() => dropDataDirSchemas());
  await describe(`${suite} (on PostgreSQL)`, async () => {
    await load();
  });
}
