/**
 * The shared store: PostgreSQL over `pg`, for deployments that run several server processes on one
 * database. Behaves exactly like the memory store (the shared conformance suite proves it), and
 * adds what sharing needs:
 *
 * - Every method that writes more than one statement runs in one transaction (BEGIN … COMMIT,
 *   ROLLBACK on error), retried on a deadlock or serialization failure. Key writes are
 *   compare-and-set on `version`; insertKey locks the organization row, so racing inserts never
 *   exceed `max_keys`.
 * - Change propagation: triggers NOTIFY `heykeys_changes` inside the writing transaction (see the
 *   migration); one dedicated connection LISTENs and reports other processes' changes as
 *   StoreEvents, and reports `reset` whenever it may have missed some (connection lost, reconnected).
 *   docs/decisions/0006-postgres-propagation.md explains the choice and the bound.
 *
 * The schema is the first one on the connection's search_path: `DATABASE_URL` may carry
 * `?options=-c search_path=<schema>` (docs/postgres.md).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type {
  AuditEvent,
  Credential,
  KeyFilter,
  KeyRecord,
  KeyUse,
  Member,
  Organization,
  Page,
  PageRequest,
  Policy,
  Tag,
  UsageCounts,
  UsageEntry,
  Workspace,
} from '../domain/model.ts';
import { usagePage } from '../domain/usage-cursor.ts';
import { StoreOpenError, type AuditFilter, type KeyWrite, type MemberWithKey, type NewKey, type NewOrganization, type Store, type StoreEvent, type UsagePage } from './store.ts';
import { KEY_COLUMNS, keyColumnValues, type KeyColumn } from './key-columns.ts';
import { readMigrations, type Migration } from './migrations.ts';

const MIGRATIONS_DIR = new URL('./migrations/postgres/', import.meta.url);

/** The channel the migration's triggers notify on; payloads name the schema. */
export const CHANGES_CHANNEL = 'heykeys_changes';

/** SQLSTATEs after which the whole transaction can simply run again. */
const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected
const TRANSACTION_ATTEMPTS = 3;

/**
 * Rows per statement when appending usage entries. Each statement's JSON text is built on the
 * event loop (~0.6 µs an entry): 1 000 rows hold requests up for ~0.6 ms at a time, where 5 000
 * held them ~3 ms, several times a second under load (the bench's p99 on PostgreSQL).
 */
const USAGE_CHUNK = 1000;

export interface PostgresStoreOptions {
  /** Most pooled connections (the listener uses one more). Default 10. */
  poolSize?: number;
  /** Where connection trouble is reported; the store keeps running. Default: a JSON line on stderr. */
  log?: (message: string, fields: Record<string, unknown>) => void;
  /** First reconnect delay of the listener, doubled after each failure. Default 100 ms. */
  reconnectMinMs?: number;
  /** Longest reconnect delay; also the longest a cache lives while not listening. Default 2000 ms. */
  reconnectMaxMs?: number;
  /** How often the listener proves its connection alive with a query. Default 5000 ms. */
  heartbeatMs?: number;
}

const defaultLog = (message: string, fields: Record<string, unknown>): void => {
  console.error(JSON.stringify({ level: 'warn', message, ...fields }));
};

// ---------------------------------------------------------------- types and connections

/**
 * int8 (BIGINT times, count(*)) arrives as a string: parsed to a number, refusing values a
 * number cannot hold exactly. Per store, so other users of `pg` in the process are unaffected.
 */
function typeParsers(): pg.CustomTypesConfig {
  const types = new pg.TypeOverrides();
  types.setTypeParser(pg.types.builtins.INT8, (text: string) => {
    const n = Number(text);
    if (!Number.isSafeInteger(n)) throw new Error(`PostgreSQL returned ${text}, beyond the integers a number holds exactly`);
    return n;
  });
  return types as unknown as pg.CustomTypesConfig;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

// ---------------------------------------------------------------- migrations

export type { Migration } from './migrations.ts';

/** The migrations shipped with the server (see ./migrations.ts). */
export function loadMigrations(dir: URL = MIGRATIONS_DIR): Migration[] {
  return readMigrations(dir, 'PostgreSQL');
}

/**
 * Brings the schema (the first on the search_path) up to the newest migration; returns the
 * versions it applied. Everything runs in one transaction under a transaction-level advisory lock
 * keyed by the schema, so processes starting together apply each step once: the others wait, then
 * find nothing to do. A schema newer than `migrations` is refused. Migration files must not
 * contain their own BEGIN/COMMIT.
 */
export async function migrate(client: pg.ClientBase, migrations: Migration[]): Promise<number[]> {
  const known = migrations.at(-1)?.version ?? 0;
  await client.query('BEGIN');
  try {
    const schema = (await client.query<{ schema: string | null; search_path: string }>(
      "SELECT current_schema() AS schema, current_setting('search_path') AS search_path",
    )).rows[0]!;
    if (schema.schema === null) {
      throw new StoreOpenError(
        `PostgreSQL: no schema of search_path "${schema.search_path}" exists; create it (CREATE SCHEMA …) or fix options=-c search_path=… in DATABASE_URL`,
      );
    }
    await client.query("SELECT pg_advisory_xact_lock(hashtext('heykeys.migrate'), hashtext(current_schema()))");
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      applied_at bigint NOT NULL
    )`);
    const current = (await client.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations')).rows[0]?.version ?? 0;
    if (current > known) {
      throw new StoreOpenError(
        `database schema version ${current} (schema "${schema.schema}") is newer than this server (knows ${known}); upgrade the server`,
      );
    }
    const applied: number[] = [];
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, Date.now()]);
      applied.push(migration.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

// ---------------------------------------------------------------- opening

/**
 * Connects, migrates and starts listening; fails (closing everything) when any of it fails, so a
 * server never starts half-connected or on a schema it does not understand.
 */
export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
  const types = typeParsers();
  const instanceId = randomUUID();
  const log = options.log ?? defaultLog;
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    types,
    application_name: 'heykeys',
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
    // Tags the connection with this process's id before first use: the change triggers put it in
    // their payload, and this process's listener skips its own changes.
    verify: (client, done) => {
      client.query("SELECT set_config('heykeys.origin', $1, false)", [instanceId]).then(() => done(), done);
    },
  });
  // An idle pooled connection that dies (database restart) is replaced on next use; say so only.
  pool.on('error', (error) => log('postgres pool connection lost', { error: error.message }));
  try {
    const client = await pool.connect();
    let schema: string;
    try {
      await migrate(client, loadMigrations());
      schema = (await client.query<{ schema: string }>('SELECT current_schema() AS schema')).rows[0]!.schema;
    } finally {
      client.release();
    }
    const store = new PostgresStore(pool, {
      url,
      types,
      instanceId,
      schema,
      log,
      reconnectMinMs: options.reconnectMinMs ?? 100,
      reconnectMaxMs: options.reconnectMaxMs ?? 2000,
      heartbeatMs: options.heartbeatMs ?? 5000,
    });
    await store.startListening();
    return store;
  } catch (error) {
    await pool.end().catch(() => {});
    if (isUnreachable(error)) {
      throw new StoreOpenError(`cannot reach PostgreSQL at ${redactUrl(url)}: ${error.message}`, { cause: error });
    }
    if (isRefused(error)) {
      throw new StoreOpenError(`PostgreSQL at ${redactUrl(url)} refused the connection: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/**
 * A database that answered, but not to us: no such database (3D000), a wrong password or a user
 * it does not know (class 28), or one it does not let in (42501, no CONNECT privilege).
 */
function isRefused(error: unknown): error is Error {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code === '3D000' || code === '42501' || code.startsWith('28'));
}

/** Errors that mean "no database there", as opposed to one that answered with an error. */
function isUnreachable(error: unknown): error is Error {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: string }).code;
  return (code !== undefined && ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET'].includes(code))
    || /connection timeout|Connection terminated unexpectedly/i.test(error.message);
}

// ---------------------------------------------------------------- rows and records

interface KeyRow {
  id: string;
  org_id: string;
  name: string;
  description: string | null;
  permission: KeyRecord['permission'];
  owner_type: KeyRecord['owner']['type'];
  owner_id: string;
  owner_name: string;
  created_by: KeyRecord['created_by'];
  workspace_access: KeyRecord['workspace_access'];
  workspace_id: string | null;
  status: KeyRecord['status'];
  disabled_reason: KeyRecord['disabled_reason'];
  created_at: number;
  updated_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  inactivity_from: number;
  last_used_at: number | null;
  digest: string;
  hint: string;
  prev_digest: string | null;
  prev_hint: string | null;
  prev_expires_at: number | null;
  prev_last_used_at: number | null;
  version: number;
}

interface MemberRow extends Member {
  api_key_id: string | null;
}

interface PolicyRow {
  inactivity_days: number | null;
  default_expiry_days: number | null;
  max_expiry_days: number | null;
  require_expiry: boolean;
  allowed_auth_schemes: Policy['allowed_auth_schemes'];
  max_keys: number;
}

type AuditRow = AuditEvent;
type UsageRow = UsageEntry;

/** `$n` of a key column in keyParams' values, with the cast its type needs. */
function keyParam(column: KeyColumn): string {
  const n = KEY_COLUMNS.indexOf(column) + 1;
  if (column === 'permission' || column === 'created_by' || column === 'workspace_access') return `$${n}::jsonb`;
  if (column === 'version') return `$${n}::integer`;
  if (/_at$|_from$/.test(column)) return `$${n}::bigint`;
  return `$${n}::text`;
}

function keyParams(key: KeyRecord): unknown[] {
  const values = keyColumnValues(key);
  return KEY_COLUMNS.map((c) => values[c]);
}

function toKey(row: KeyRow): KeyRecord {
  return {
    id: row.id,
    org_id: row.org_id,
    name: row.name,
    description: row.description,
    permission: { type: row.permission.type, scopes: row.permission.scopes },
    owner: { type: row.owner_type, id: row.owner_id, name: row.owner_name },
    // jsonb orders object keys by length: rebuilt in the order the domain writes them.
    created_by: { type: row.created_by.type, id: row.created_by.id, name: row.created_by.name },
    workspace_access: row.workspace_access,
    workspace_id: row.workspace_id,
    status: row.status,
    disabled_reason: row.disabled_reason,
    created_at: row.created_at,
    updated_at: row.updated_at,
    expires_at: row.expires_at,
    revoked_at: row.revoked_at,
    inactivity_from: row.inactivity_from,
    last_used_at: row.last_used_at,
    digest: row.digest,
    hint: row.hint,
    prev_digest: row.prev_digest,
    prev_hint: row.prev_hint,
    prev_expires_at: row.prev_expires_at,
    prev_last_used_at: row.prev_last_used_at,
    version: row.version,
  };
}

const toMemberWithKey = (row: MemberRow): MemberWithKey => ({
  id: row.id,
  org_id: row.org_id,
  type: row.type,
  name: row.name,
  email: row.email,
  role: row.role,
  created_at: row.created_at,
  api_key_id: row.api_key_id,
});

const toPolicy = (row: PolicyRow): Policy => ({
  inactivity_days: row.inactivity_days,
  default_expiry_days: row.default_expiry_days,
  max_expiry_days: row.max_expiry_days,
  require_expiry: row.require_expiry,
  allowed_auth_schemes: row.allowed_auth_schemes,
  max_keys: row.max_keys,
});

const toOrganization = (row: Organization): Organization => ({ id: row.id, name: row.name, created_at: row.created_at });
const toWorkspace = (row: Workspace): Workspace => ({ id: row.id, org_id: row.org_id, name: row.name, created_at: row.created_at });
const toTag = (row: Tag): Tag => ({ id: row.id, org_id: row.org_id, workspace_id: row.workspace_id, name: row.name, created_at: row.created_at });

const toUsage = (row: UsageRow): UsageEntry => ({
  org_id: row.org_id,
  key_id: row.key_id,
  at: row.at,
  method: row.method,
  route: row.route,
  status: row.status,
  ip: row.ip,
  user_agent: row.user_agent,
  secret: row.secret,
});

const toAudit = (row: AuditRow): AuditEvent => ({
  id: row.id,
  org_id: row.org_id,
  at: row.at,
  action: row.action,
  key_id: row.key_id,
  subject_id: row.subject_id,
  actor: row.actor,
  ip: row.ip,
  changes: row.changes,
});

/** Queries fetch `limit + 1` rows: the extra row only says whether another page exists. */
function pageOf<R, T extends { id: string }>(rows: R[], limit: number, toRecord: (row: R) => T): Page<T> {
  const data = rows.slice(0, limit).map(toRecord);
  return { data, next_cursor: rows.length > limit ? data[data.length - 1]!.id : null };
}

// ---------------------------------------------------------------- statements

/**
 * The inactivity sweep's question, answered from the keys_inactive index (migration 4), whose
 * expression this must write the same way.
 */
export const FIND_INACTIVE_KEYS = `
  SELECT * FROM keys
  WHERE org_id = $1 AND status = 'active' AND GREATEST(coalesce(last_used_at, 0), inactivity_from) <= $2`;

/** Columns of a member plus the id of the unrevoked key a machine user holds. */
const MEMBER_SELECT = `
  SELECT m.*, CASE WHEN m.type = 'machine' THEN
    (SELECT k.id FROM keys k WHERE k.owner_id = m.id AND k.status <> 'revoked' ORDER BY k.id DESC LIMIT 1)
  END AS api_key_id
  FROM members m`;

const SQL = {
  insertKey: `INSERT INTO keys (${KEY_COLUMNS.join(', ')}) VALUES (${KEY_COLUMNS.map(keyParam).join(', ')})`,
  // Compare-and-set on version. Last-use times are owned by recordUse, so a write carrying an
  // older snapshot never moves them back (SET expressions see the row as it was, GREATEST skips
  // nulls). Under READ COMMITTED a racing writer waits for the row, then re-checks the version.
  writeKey: `
    UPDATE keys SET
      ${KEY_COLUMNS.filter((c) => !['id', 'org_id', 'last_used_at', 'prev_last_used_at'].includes(c))
        .map((c) => `${c} = ${keyParam(c)}`)
        .join(', ')},
      last_used_at = GREATEST(last_used_at, ${keyParam('last_used_at')}),
      prev_last_used_at = CASE
        WHEN prev_digest IS DISTINCT FROM ${keyParam('prev_digest')} THEN ${keyParam('prev_last_used_at')}
        ELSE GREATEST(prev_last_used_at, ${keyParam('prev_last_used_at')}) END
    WHERE id = $1 AND org_id = $2 AND version = $${KEY_COLUMNS.length + 1}::integer`,
  rememberDigest: 'INSERT INTO key_secrets (digest, key_id) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING',
  insertMember: `
    INSERT INTO members (id, org_id, type, name, email, role, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)`,
  insertAudit: `
    INSERT INTO audit (id, org_id, at, action, key_id, subject_id, actor, ip, changes)
    VALUES ($1, $2, $3, $4, $5, $6, $7::json, $8, $9::json)`,
  putPolicy: `
    INSERT INTO policies (org_id, inactivity_days, default_expiry_days, max_expiry_days, require_expiry, allowed_auth_schemes, max_keys)
    VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
    ON CONFLICT (org_id) DO UPDATE SET
      inactivity_days = excluded.inactivity_days, default_expiry_days = excluded.default_expiry_days,
      max_expiry_days = excluded.max_expiry_days, require_expiry = excluded.require_expiry,
      allowed_auth_schemes = excluded.allowed_auth_schemes, max_keys = excluded.max_keys`,
} as const;

/** A key row's columns, listed: a prepared `*` breaks when a later migration adds a column. */
const KEY_SELECT = KEY_COLUMNS.filter((c) => c !== 'name_folded').map((c) => `k.${c}`).join(', ');

/**
 * The hot path's statements are named, so each connection parses and plans them once. They name
 * their columns: a running instance must keep working while a newer one migrates the schema.
 * findCredential is the authentication lookup: one probe of key_secrets' primary key, then the key
 * and its owner by primary key, in one statement. Which of the key's secrets the digest is follows
 * from the key row.
 */
const NAMED = {
  findCredential: {
    name: 'heykeys_find_credential',
    text: `
      SELECT ${KEY_SELECT},
        CASE s.digest WHEN k.digest THEN 'current' WHEN k.prev_digest THEN 'previous' ELSE 'retired' END AS secret,
        m.role AS owner_role
      FROM key_secrets s
      JOIN keys k ON k.id = s.key_id
      LEFT JOIN members m ON m.id = k.owner_id
      WHERE s.digest = $1`,
  },
  getKey: { name: 'heykeys_get_key', text: `SELECT ${KEY_SELECT} FROM keys k WHERE k.id = $1 AND k.org_id = $2` },
  getPolicy: {
    name: 'heykeys_get_policy',
    text: `SELECT inactivity_days, default_expiry_days, max_expiry_days, require_expiry, allowed_auth_schemes, max_keys
           FROM policies WHERE org_id = $1`,
  },
} as const;

// ---------------------------------------------------------------- the store

interface StoreSettings {
  url: string;
  types: pg.CustomTypesConfig;
  instanceId: string;
  schema: string;
  log: (message: string, fields: Record<string, unknown>) => void;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  heartbeatMs: number;
}

type Queryable = Pick<pg.ClientBase, 'query'>;

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  /** The pool, for tests and maintenance tools; the store owns it. */
  readonly pool: pg.Pool;
  /** This store's id in change notifications (and in its listener's application_name). */
  readonly instanceId: string;
  /** The schema the store works in (the first existing one on the search_path). */
  readonly schema: string;
  readonly #listener: ChangeListener;
  /** Counts this store's own committed key and policy writes (see #changesSeen). */
  #ownWrites = 0;

  constructor(pool: pg.Pool, settings: StoreSettings) {
    this.pool = pool;
    this.instanceId = settings.instanceId;
    this.schema = settings.schema;
    this.#listener = new ChangeListener(settings);
  }

  /** Starts the LISTEN connection; openPostgresStore calls it once. */
  startListening(): Promise<void> {
    return this.#listener.start();
  }

  /**
   * A number that moves whenever a cached credential or policy may have gone stale: another
   * process's change arrived, the listener reset, or this store committed a key or policy write.
   *
   * It closes a race between a lookup and an invalidation. A lookup that read the old row, but
   * whose answer arrives after the invalidation was handled, would be cached by the domain and
   * outlive the change for good. So a lookup that sees this number move while it runs announces
   * the change again once its caller has cached the answer (#reannounce), and that entry goes too.
   */
  #changesSeen(): number {
    return this.#listener.events + this.#ownWrites;
  }

  /** After the caller's continuation (which caches the answer) has run: drop it again. */
  #reannounce(event: StoreEvent): void {
    setImmediate(() => this.#listener.deliver(event));
  }

  /** Whether the change listener is connected and listening right now. */
  get listening(): boolean {
    return this.#listener.listening;
  }

  /**
   * Runs `work` on one connection inside BEGIN … COMMIT; ROLLBACK on any error, and the whole
   * transaction again after a deadlock or serialization failure. The connection always goes back
   * to the pool (destroyed if even ROLLBACK failed).
   */
  async #transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => {
          broken = rollbackError;
        });
        const code = (error as { code?: string }).code;
        if (code !== undefined && RETRYABLE.has(code) && attempt < TRANSACTION_ATTEMPTS) continue;
        throw error;
      } finally {
        client.release(broken);
      }
    }
  }

  async #insertAudit(db: Queryable, events: AuditEvent[]): Promise<void> {
    for (const e of events) {
      await db.query(SQL.insertAudit, [
        e.id,
        e.org_id,
        e.at,
        e.action,
        e.key_id,
        e.subject_id,
        e.actor === null ? null : JSON.stringify(e.actor),
        e.ip,
        e.changes === null ? null : JSON.stringify(e.changes),
      ]);
    }
  }

  async #insertMember(db: Queryable, m: Member): Promise<void> {
    await db.query(SQL.insertMember, [m.id, m.org_id, m.type, m.name, m.email, m.role, m.created_at]);
  }

  async #insertKey(db: Queryable, key: KeyRecord): Promise<void> {
    await db.query(SQL.insertKey, keyParams(key));
    await db.query(SQL.rememberDigest, [key.digest, key.id]);
  }

  async #putPolicy(db: Queryable, orgId: string, p: Policy): Promise<void> {
    await db.query(SQL.putPolicy, [
      orgId,
      p.inactivity_days,
      p.default_expiry_days,
      p.max_expiry_days,
      p.require_expiry,
      JSON.stringify(p.allowed_auth_schemes),
      p.max_keys,
    ]);
  }

  // ------------------------------------------------------------ organizations and policy

  async countOrganizations(): Promise<number> {
    return (await this.pool.query<{ n: number }>('SELECT count(*) AS n FROM organizations')).rows[0]!.n;
  }

  async createOrganization(input: NewOrganization): Promise<boolean> {
    return this.#transaction(async (db) => {
      if (input.only_if_none) {
        // Instances starting together on an empty database: one creates, the others see it.
        await db.query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':heykeys-bootstrap'))");
        if ((await db.query('SELECT 1 FROM organizations LIMIT 1')).rowCount) return false;
      }
      await db.query('INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)', [input.org.id, input.org.name, input.org.created_at]);
      await this.#putPolicy(db, input.org.id, input.policy);
      await this.#insertMember(db, input.owner);
      await this.#insertKey(db, input.key);
      await this.#insertAudit(db, input.audit);
      return true;
    });
  }

  async getOrganization(orgId: string): Promise<Organization | null> {
    const row = (await this.pool.query<Organization>('SELECT id, name, created_at FROM organizations WHERE id = $1', [orgId])).rows[0];
    return row ? toOrganization(row) : null;
  }

  async listOrganizationIds(): Promise<string[]> {
    return (await this.pool.query<{ id: string }>('SELECT id FROM organizations ORDER BY id')).rows.map((row) => row.id);
  }

  async getPolicy(orgId: string): Promise<Policy | null> {
    const before = this.#changesSeen();
    const row = (await this.pool.query<PolicyRow>({ ...NAMED.getPolicy, values: [orgId] })).rows[0];
    if (this.#changesSeen() !== before) this.#reannounce({ type: 'policy_changed', org_id: orgId });
    return row ? toPolicy(row) : null;
  }

  async updatePolicy(orgId: string, policy: Policy, audit: AuditEvent[]): Promise<void> {
    try {
      await this.#transaction(async (db) => {
        await this.#putPolicy(db, orgId, policy);
        await this.#insertAudit(db, audit);
      });
    } finally {
      this.#ownWrites++;
    }
  }

  // ------------------------------------------------------------ members

  async getMember(orgId: string, memberId: string): Promise<MemberWithKey | null> {
    const row = (await this.pool.query<MemberRow>(`${MEMBER_SELECT} WHERE m.id = $1 AND m.org_id = $2`, [memberId, orgId])).rows[0];
    return row ? toMemberWithKey(row) : null;
  }

  async listMembers(orgId: string, page: PageRequest): Promise<Page<MemberWithKey>> {
    const { rows } = await this.pool.query<MemberRow>(
      `${MEMBER_SELECT} WHERE m.org_id = $1 AND ($2::text IS NULL OR m.id < $2) ORDER BY m.id DESC LIMIT $3`,
      [orgId, page.cursor ?? null, page.limit + 1],
    );
    return pageOf(rows, page.limit, toMemberWithKey);
  }

  async countMembers(orgId: string): Promise<{ users: number; machines: number }> {
    const row = (await this.pool.query<{ users: number; machines: number }>(
      `SELECT count(*) FILTER (WHERE type = 'user') AS users, count(*) FILTER (WHERE type <> 'user') AS machines
       FROM members WHERE org_id = $1`,
      [orgId],
    )).rows[0]!;
    return { users: row.users, machines: row.machines };
  }

  // ------------------------------------------------------------ workspaces and tags

  async createWorkspace(workspace: Workspace, audit: AuditEvent[]): Promise<void> {
    await this.#transaction(async (db) => {
      await db.query('INSERT INTO workspaces (id, org_id, name, created_at) VALUES ($1, $2, $3, $4)', [
        workspace.id,
        workspace.org_id,
        workspace.name,
        workspace.created_at,
      ]);
      await this.#insertAudit(db, audit);
    });
  }

  async getWorkspace(orgId: string, workspaceId: string): Promise<Workspace | null> {
    const row = (await this.pool.query<Workspace>('SELECT * FROM workspaces WHERE id = $1 AND org_id = $2', [workspaceId, orgId])).rows[0];
    return row ? toWorkspace(row) : null;
  }

  async listWorkspaces(orgId: string, page: PageRequest, only?: string[]): Promise<Page<Workspace>> {
    const { rows } = await this.pool.query<Workspace>(
      `SELECT * FROM workspaces
       WHERE org_id = $1 AND ($2::text IS NULL OR id < $2) AND ($3::text[] IS NULL OR id = ANY ($3::text[]))
       ORDER BY id DESC LIMIT $4`,
      [orgId, page.cursor ?? null, only ?? null, page.limit + 1],
    );
    return pageOf(rows, page.limit, toWorkspace);
  }

  async renameWorkspace(orgId: string, workspaceId: string, name: string, audit: AuditEvent[]): Promise<Workspace | null> {
    return this.#transaction(async (db) => {
      const row = (await db.query<Workspace>('UPDATE workspaces SET name = $1 WHERE id = $2 AND org_id = $3 RETURNING *', [name, workspaceId, orgId])).rows[0];
      if (!row) return null;
      await this.#insertAudit(db, audit);
      return toWorkspace(row);
    });
  }

  async deleteWorkspace(orgId: string, workspaceId: string, at: number, audit: AuditEvent[]): Promise<string[] | null> {
    try {
      return await this.#deleteWorkspace(orgId, workspaceId, at, audit);
    } finally {
      this.#ownWrites++;
    }
  }

  #deleteWorkspace(orgId: string, workspaceId: string, at: number, audit: AuditEvent[]): Promise<string[] | null> {
    return this.#transaction(async (db) => {
      // Locking the workspace makes a racing second delete wait, then find it gone (null).
      const found = await db.query('SELECT 1 FROM workspaces WHERE id = $1 AND org_id = $2 FOR UPDATE', [workspaceId, orgId]);
      if (found.rowCount === 0) return null;
      await db.query('DELETE FROM tags WHERE workspace_id = $1', [workspaceId]);
      // Key rows are locked in id order, as recordUse does, so the two never deadlock.
      await db.query(
        `SELECT 1 FROM keys WHERE workspace_id = $1 AND org_id = $2 AND status <> 'revoked' ORDER BY id FOR NO KEY UPDATE`,
        [workspaceId, orgId],
      );
      const revoked = (await db.query<{ id: string; owner_type: string; owner_id: string }>(
        `UPDATE keys SET status = 'revoked', revoked_at = $3, updated_at = $3, version = version + 1
         WHERE workspace_id = $1 AND org_id = $2 AND status <> 'revoked'
         RETURNING id, owner_type, owner_id`,
        [workspaceId, orgId, at],
      )).rows;
      const machineUsers = revoked.filter((key) => key.owner_type === 'machine').map((key) => key.owner_id);
      if (machineUsers.length > 0) await db.query('DELETE FROM members WHERE id = ANY ($1::text[]) AND org_id = $2', [machineUsers, orgId]);
      await db.query('DELETE FROM workspaces WHERE id = $1 AND org_id = $2', [workspaceId, orgId]);
      await this.#insertAudit(db, audit);
      return revoked.map((key) => key.id).sort();
    });
  }

  async createTag(tag: Tag): Promise<boolean> {
    const result = await this.pool.query(
      `INSERT INTO tags (id, org_id, workspace_id, name, created_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (workspace_id, name) DO NOTHING`,
      [tag.id, tag.org_id, tag.workspace_id, tag.name, tag.created_at],
    );
    return result.rowCount === 1;
  }

  async listTags(orgId: string, workspaceId: string, page: PageRequest): Promise<Page<Tag>> {
    const { rows } = await this.pool.query<Tag>(
      `SELECT * FROM tags WHERE workspace_id = $1 AND org_id = $2 AND ($3::text IS NULL OR id < $3)
       ORDER BY id DESC LIMIT $4`,
      [workspaceId, orgId, page.cursor ?? null, page.limit + 1],
    );
    return pageOf(rows, page.limit, toTag);
  }

  async deleteTag(orgId: string, workspaceId: string, tagId: string): Promise<boolean> {
    const result = await this.pool.query('DELETE FROM tags WHERE id = $1 AND org_id = $2 AND workspace_id = $3', [tagId, orgId, workspaceId]);
    return result.rowCount === 1;
  }

  // ------------------------------------------------------------ keys

  async findCredential(digest: string): Promise<Credential | null> {
    const before = this.#changesSeen();
    const row = (await this.pool.query<KeyRow & { secret: Credential['secret']; owner_role: Credential['owner_role'] }>({
      ...NAMED.findCredential,
      values: [digest],
    })).rows[0];
    if (!row) return null;
    if (this.#changesSeen() !== before) this.#reannounce({ type: 'key_changed', key_id: row.id });
    return { key: toKey(row), secret: row.secret, owner_role: row.owner_role };
  }

  async getKey(orgId: string, keyId: string): Promise<KeyRecord | null> {
    const row = (await this.pool.query<KeyRow>({ ...NAMED.getKey, values: [keyId, orgId] })).rows[0];
    return row ? toKey(row) : null;
  }

  async listKeys(orgId: string, filter: KeyFilter, page: PageRequest): Promise<Page<KeyRecord>> {
    // Empty strings mean "no filter", as in the memory store; an empty pinned_to matches nothing.
    const { rows } = await this.pool.query<KeyRow>(
      `SELECT * FROM keys k
       WHERE k.org_id = $1 AND ($2::text IS NULL OR k.id < $2) AND k.status <> 'revoked'
         AND ($3::text IS NULL OR k.status = $3)
         AND ($4::text IS NULL OR k.owner_type = $4)
         AND ($5::text IS NULL OR strpos(k.name_folded, $5) > 0)
         AND ($6::text[] IS NULL OR k.workspace_id = ANY ($6::text[]))
         AND ($7::text IS NULL OR CASE
           WHEN k.workspace_id IS NOT NULL THEN k.workspace_id = $7
           WHEN k.workspace_access ->> 'type' = 'all' THEN true
           ELSE k.workspace_access -> 'workspace_ids' ? $7
         END)
       ORDER BY k.id DESC LIMIT $8`,
      [
        orgId,
        page.cursor ?? null,
        filter.status || null,
        filter.owner_type || null,
        filter.name ? filter.name.toLowerCase() : null,
        filter.pinned_to ?? null,
        filter.workspace_id || null,
        page.limit + 1,
      ],
    );
    return pageOf(rows, page.limit, toKey);
  }

  async findKeyByOwner(orgId: string, memberId: string): Promise<KeyRecord | null> {
    const row = (await this.pool.query<KeyRow>(
      `SELECT * FROM keys WHERE owner_id = $1 AND org_id = $2 AND status <> 'revoked' ORDER BY id LIMIT 1`,
      [memberId, orgId],
    )).rows[0];
    return row ? toKey(row) : null;
  }

  /**
   * The organization row is locked first (FOR NO KEY UPDATE: exclusive against other inserts and
   * revokes of the organization, which update its count, but not against foreign-key checks), so
   * the count read under the lock stays true until this transaction commits: racing inserts take
   * turns and the cap holds. The machine user, key, digest and audit commit together or not at all.
   */
  async insertKey(input: NewKey): Promise<'ok' | 'cap_reached'> {
    return this.#transaction(async (db) => {
      const org = (await db.query<{ unrevoked_keys: number }>(
        'SELECT unrevoked_keys FROM organizations WHERE id = $1 FOR NO KEY UPDATE',
        [input.key.org_id],
      )).rows[0];
      if (!org) throw new Error(`insertKey: organization ${input.key.org_id} does not exist`);
      if (org.unrevoked_keys >= input.max_keys) return 'cap_reached';
      if (input.machine_user) await this.#insertMember(db, input.machine_user);
      await this.#insertKey(db, input.key);
      await this.#insertAudit(db, input.audit);
      return 'ok';
    });
  }

  async writeKey(write: KeyWrite): Promise<boolean> {
    try {
      return await this.#writeKey(write);
    } finally {
      this.#ownWrites++;
    }
  }

  #writeKey(write: KeyWrite): Promise<boolean> {
    return this.#transaction(async (db) => {
      const result = await db.query(SQL.writeKey, [...keyParams(write.key), write.expected_version]);
      if (result.rowCount === 0) return false;
      await db.query(SQL.rememberDigest, [write.key.digest, write.key.id]);
      if (write.delete_member_id) await db.query('DELETE FROM members WHERE id = $1 AND org_id = $2', [write.delete_member_id, write.key.org_id]);
      await this.#insertAudit(db, write.audit);
      return true;
    });
  }

  async findInactiveKeys(orgId: string, cutoff: number): Promise<KeyRecord[]> {
    const { rows } = await this.pool.query<KeyRow>(FIND_INACTIVE_KEYS, [orgId, cutoff]);
    return rows.map(toKey);
  }

  // ------------------------------------------------------------ usage and audit

  /**
   * One batch per flush: the rows are locked in id order (two processes flushing overlapping keys
   * cannot deadlock), then each time moves forward only. Several uses of one key in a batch are
   * folded to the latest first, since one UPDATE changes a row once.
   */
  async recordUse(uses: KeyUse[]): Promise<void> {
    if (uses.length === 0) return;
    const keyIds = uses.map((u) => u.key_id);
    const digests = uses.map((u) => u.digest);
    const ats = uses.map((u) => u.at);
    await this.#transaction(async (db) => {
      await db.query('SELECT 1 FROM keys WHERE id = ANY ($1::text[]) ORDER BY id FOR NO KEY UPDATE', [keyIds]);
      await db.query(
        `UPDATE keys k SET last_used_at = u.at
         FROM (SELECT key_id, max(at) AS at FROM unnest($1::text[], $2::bigint[]) AS x (key_id, at) GROUP BY key_id) u
         WHERE k.id = u.key_id AND (k.last_used_at IS NULL OR u.at > k.last_used_at)`,
        [keyIds, ats],
      );
      await db.query(
        `UPDATE keys k SET prev_last_used_at = u.at
         FROM (SELECT key_id, digest, max(at) AS at FROM unnest($1::text[], $2::text[], $3::bigint[]) AS x (key_id, digest, at)
               GROUP BY key_id, digest) u
         WHERE k.id = u.key_id AND k.prev_digest = u.digest AND (k.prev_last_used_at IS NULL OR u.at > k.prev_last_used_at)`,
        [keyIds, digests, ats],
      );
    });
  }

  /**
   * One INSERT per chunk of entries: a flush of any size costs a few statements. The chunk goes as
   * one JSON parameter: serializing it is one native call, where nine text arrays went through
   * pg's per-element escaping on the event loop (0.84 against 0.37 us an entry).
   */
  async appendUsage(entries: UsageEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.#transaction(async (db) => {
      for (let start = 0; start < entries.length; start += USAGE_CHUNK) {
        await db.query(
          `INSERT INTO usage (org_id, key_id, at, method, route, status, ip, user_agent, secret)
           SELECT org_id, key_id, at, method, route, status, ip, user_agent, secret
           FROM json_to_recordset($1::json) AS x (org_id text, key_id text, at bigint, method text, route text, status integer, ip text, user_agent text, secret text)`,
          // json_to_recordset reads the columns it names and ignores any other field.
          [JSON.stringify(entries.slice(start, start + USAGE_CHUNK))],
        );
      }
    });
  }

  async listUsage(orgId: string, keyId: string, page: UsagePage): Promise<Page<UsageEntry>> {
    const { rows } = await this.pool.query<UsageRow & { seq: number }>(
      `SELECT org_id, key_id, at, method, route, status, ip, user_agent, secret, seq FROM usage
       WHERE org_id = $1 AND key_id = $2 AND at <= $3 AND (at < $3 OR seq < $4)
       ORDER BY at DESC, seq DESC LIMIT $5`,
      [orgId, keyId, page.before?.at ?? Number.MAX_SAFE_INTEGER, page.before?.seq ?? 0, page.limit + 1],
    );
    return usagePage(rows, page.limit, toUsage);
  }

  async countUsage(orgId: string, keyId: string, since: number): Promise<UsageCounts> {
    const row = (await this.pool.query<UsageCounts>(
      `SELECT count(*) AS total,
         count(*) FILTER (WHERE status < 400) AS success,
         count(*) FILTER (WHERE status >= 400 AND status < 500) AS client_error,
         count(*) FILTER (WHERE status >= 500) AS server_error
       FROM usage WHERE org_id = $1 AND key_id = $2 AND at >= $3`,
      [orgId, keyId, since],
    )).rows[0]!;
    return { total: row.total, success: row.success, client_error: row.client_error, server_error: row.server_error };
  }

  async pruneUsage(before: number): Promise<number> {
    return (await this.pool.query('DELETE FROM usage WHERE at < $1', [before])).rowCount ?? 0;
  }

  async listAudit(orgId: string, filter: AuditFilter, page: PageRequest): Promise<Page<AuditEvent>> {
    // Two statements rather than an optional key filter, so each gets its own index.
    const values = [orgId, page.cursor ?? null, filter.action || null, page.limit + 1];
    const { rows } = filter.key_id
      ? await this.pool.query<AuditRow>(
          `SELECT * FROM audit WHERE org_id = $1 AND key_id = $5 AND ($2::text IS NULL OR id < $2) AND ($3::text IS NULL OR action = $3)
           ORDER BY id DESC LIMIT $4`,
          [...values, filter.key_id],
        )
      : await this.pool.query<AuditRow>(
          `SELECT * FROM audit WHERE org_id = $1 AND ($2::text IS NULL OR id < $2) AND ($3::text IS NULL OR action = $3)
           ORDER BY id DESC LIMIT $4`,
          values,
        );
    return pageOf(rows, page.limit, toAudit);
  }

  // ------------------------------------------------------------ events and shutdown

  /**
   * An outage, as opposed to an error in what was asked: the database cannot be reached (see
   * isUnreachable), no connection could be had in time, the connection broke (SQLSTATE class 08),
   * or the server is shutting down or starting up (57P01 admin_shutdown, 57P02 crash_shutdown,
   * 57P03 cannot_connect_now).
   */
  isOutage(error: unknown): boolean {
    if (isUnreachable(error)) return true;
    if (!(error instanceof Error)) return false;
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03')) return true;
    return /timeout exceeded when trying to connect/i.test(error.message);
  }

  /** Other processes' committed changes, and `reset` whenever some may have been missed. */
  subscribe(listener: (event: StoreEvent) => void): () => void {
    return this.#listener.subscribe(listener);
  }

  async close(): Promise<void> {
    await this.#listener.close();
    await this.pool.end();
  }
}

// ---------------------------------------------------------------- change listener

interface ChangePayload {
  /** Schema of the changed table. */
  s: string;
  /** heykeys.origin of the writing connection: a store's instance id, or null for other clients. */
  o: string | null;
  t: 'key' | 'policy';
  id: string;
}

/**
 * One dedicated connection that LISTENs on the changes channel. When it is lost it reconnects
 * with exponential backoff; because notifications sent meanwhile are gone for good, it reports
 * `reset` (drop every cached entry) when the connection is lost, after each failed attempt, and
 * once listening again. So a cache never outlives a missed change by more than the longest
 * reconnect delay. A periodic query finds a connection that died silently (no TCP reset).
 */
class ChangeListener {
  readonly #settings: StoreSettings;
  readonly #subscribers = new Set<(event: StoreEvent) => void>();
  #client: pg.Client | null = null;
  #closed = false;
  /** How many events were heard (or resets decided) so far; repeats by #reannounce do not count. */
  events = 0;
  #failures = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;

  constructor(settings: StoreSettings) {
    this.#settings = settings;
  }

  get listening(): boolean {
    return this.#client !== null;
  }

  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.#subscribers.add(listener);
    return () => {
      this.#subscribers.delete(listener);
    };
  }

  async start(): Promise<void> {
    this.#client = await this.#connect();
    this.#heartbeatTimer = setInterval(() => this.#heartbeat(), this.#settings.heartbeatMs);
    this.#heartbeatTimer.unref();
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.#settings.url,
      types: this.#settings.types,
      application_name: `heykeys-listener ${this.#settings.instanceId}`,
      connectionTimeoutMillis: 10_000,
      query_timeout: Math.max(1000, this.#settings.heartbeatMs),
      keepAlive: true,
    });
    client.on('notification', (message) => {
      if (this.#client === client) this.#onNotification(message.payload);
    });
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, null));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
      return client;
    } catch (error) {
      client.removeAllListeners('end');
      client.on('error', () => {});
      await client.end().catch(() => {});
      throw error;
    }
  }

  #onNotification(payload: string | undefined): void {
    let change: ChangePayload;
    try {
      change = JSON.parse(payload ?? '') as ChangePayload;
    } catch {
      this.emit({ type: 'reset' }); // unreadable: assume the worst
      return;
    }
    if (change.s !== this.#settings.schema) return; // another deployment in the same database
    if (change.o === this.#settings.instanceId) return; // our own write: the domain already dropped it
    if (change.t === 'policy') this.emit({ type: 'policy_changed', org_id: change.id });
    else this.emit({ type: 'key_changed', key_id: change.id });
  }

  emit(event: StoreEvent): void {
    this.events++;
    this.deliver(event);
  }

  /**
   * Hands an event to the subscribers without counting it: a repeat carries no news about the
   * database, and counting it would make lookups overlapping it repeat their own, keeping busy
   * keys out of the cache.
   */
  deliver(event: StoreEvent): void {
    for (const subscriber of this.#subscribers) {
      try {
        subscriber(event);
      } catch (error) {
        this.#settings.log('store event subscriber failed', { event: event.type, error: String(error) });
      }
    }
  }

  #lost(client: pg.Client, error: Error | null): void {
    if (this.#client !== client) return; // a connection already given up on
    this.#client = null;
    client.removeAllListeners('end');
    client.on('error', () => {});
    client.end().catch(() => {});
    if (this.#closed) return;
    this.#settings.log('postgres change listener lost its connection; caches dropped until it listens again', {
      error: error?.message ?? 'connection ended',
    });
    this.emit({ type: 'reset' });
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    const { reconnectMinMs, reconnectMaxMs } = this.#settings;
    const delay = Math.min(reconnectMaxMs, reconnectMinMs * 2 ** this.#failures) * (0.8 + Math.random() * 0.2);
    this.#reconnectTimer = setTimeout(() => void this.#reconnect(), delay);
    this.#reconnectTimer.unref();
  }

  async #reconnect(): Promise<void> {
    if (this.#closed) return;
    let client: pg.Client;
    try {
      client = await this.#connect();
    } catch (error) {
      this.#failures++;
      // Still deaf: whatever was cached since the last reset may have changed meanwhile.
      this.emit({ type: 'reset' });
      this.#settings.log('postgres change listener could not reconnect; retrying', {
        attempt: this.#failures,
        error: (error as Error).message,
      });
      this.#scheduleReconnect();
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    this.#client = client;
    this.#failures = 0;
    // Listening again: anything committed while deaf is unknown, so every cached entry goes.
    this.emit({ type: 'reset' });
    this.#settings.log('postgres change listener reconnected', {});
  }

  #heartbeat(): void {
    const client = this.#client;
    if (!client) return;
    client.query('SELECT 1').catch((error: Error) => this.#lost(client, error));
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    clearInterval(this.#heartbeatTimer);
    const client = this.#client;
    this.#client = null;
    this.#subscribers.clear();
    if (client) {
      client.removeAllListeners('end');
      client.on('error', () => {});
      await client.end().catch(() => {});
    }
  }
}
