/**
 * The embedded store: one SQLite file owned by one process (a second server on it refuses to start,
 * see `claim`), over Node's built-in `node:sqlite`.
 * Behaves exactly like the memory store (the shared conformance suite proves it). Every method runs
 * synchronously to completion, so the domain never sees a transaction left open across an await;
 * methods that write more than one statement wrap them in `BEGIN IMMEDIATE … COMMIT`.
 * Settings (WAL, synchronous=FULL) are explained in docs/decisions/0002-sqlite-settings.md.
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
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
import { StoreOpenError, type AuditFilter, type KeyWrite, type MemberWithKey, type NewKey, type NewOrganization, type Store, type StoreEvent, type UsagePage } from './store.ts';
import { KEY_COLUMNS, keyColumnValues, type KeyColumn } from './key-columns.ts';
import { readMigrations, type Migration } from './migrations.ts';
import { BUSY_TIMEOUT_MS, inlineWriter, threadWriter, writeTransaction, type BackgroundWrites } from './sqlite-writer.ts';
import { usagePage } from '../domain/usage-cursor.ts';

const MIGRATIONS_DIR = new URL('./migrations/sqlite/', import.meta.url);

/**
 * The upper bound used when a page has no cursor, so every page query is the same indexed range
 * `id < ?` (an optional `? IS NULL OR id < ?` would stop SQLite from seeking to the cursor).
 * Ids are ASCII; U+10FFFF sorts after any of them in SQLite's byte-wise text order.
 */
const AFTER_EVERY_ID = '\u{10FFFF}';

export type { Migration } from './migrations.ts';

/** The migrations shipped with the server (see ./migrations.ts). */
export function loadMigrations(dir: URL = MIGRATIONS_DIR): Migration[] {
  return readMigrations(dir, 'SQLite');
}

/**
 * Brings the schema up to the newest migration; returns the versions it applied. All pending
 * migrations and their `schema_migrations` rows commit together or not at all, and the version is
 * read inside the write transaction, so two processes opening one file cannot both apply a step.
 * Migration files must not contain their own BEGIN/COMMIT.
 */
export function migrate(db: DatabaseSync, migrations: Migration[]): number[] {
  const known = migrations.at(-1)?.version ?? 0;
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER PRIMARY KEY,
      name       TEXT NOT NULL,
      applied_at INTEGER NOT NULL
    ) STRICT`);
    const row = db.prepare('SELECT max(version) AS version FROM schema_migrations').get() as { version: number | null } | undefined;
    const current = row?.version ?? 0;
    if (current > known) {
      throw new StoreOpenError(`database schema version ${current} is newer than this server (knows ${known}); upgrade the server`);
    }
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    const applied: number[] = [];
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      db.exec(migration.sql);
      record.run(migration.version, migration.name, Date.now());
      applied.push(migration.version);
    }
    db.exec('COMMIT');
    return applied;
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}

/** SQLite's primary result codes that this store tells apart (https://sqlite.org/rescode.html). */
const SQLITE = { BUSY: 5, READONLY: 8, IOERR: 10, FULL: 13, CANTOPEN: 14, NOTADB: 26 } as const;

/**
 * The primary result code of an error node:sqlite threw (its `errcode`, extended codes folded to
 * their primary one), or of one the writer thread passed on; null for any other error.
 */
function primaryCode(error: unknown): number | null {
  const errcode = (error as { errcode?: unknown } | null)?.errcode;
  return typeof errcode === 'number' ? errcode & 0xff : null;
}

/** What openSqliteStore throws when another process already serves from the file. */
export class StoreInUseError extends StoreOpenError {}

/**
 * Claims the file for this process, until `release`. A server trusts what it has cached (verified
 * credentials, policies) until it changes the key itself, so a second server on the same file would
 * never hear of a revoke made through the first: the revoked key would go on working there. The
 * claim is an exclusive lock on a companion database (`<file>-lock`, in SQLite's exclusive locking
 * mode), held by the operating system for the process: a second claim fails at once, from another
 * process or from this one, and the claim ends with the connection or with the process, however it
 * dies (SIGKILL included), so there is no stale lock to clear.
 */
function claim(file: string): { release(): void } {
  let lock: DatabaseSync;
  try {
    lock = new DatabaseSync(`${file}-lock`, { timeout: 0 });
  } catch (error) {
    throw unusable(error, `${file}-lock`);
  }
  try {
    lock.exec('PRAGMA locking_mode = EXCLUSIVE');
    lock.exec('PRAGMA journal_mode = MEMORY');
    // In exclusive locking mode the lock a transaction takes is kept after it ends.
    lock.exec('BEGIN EXCLUSIVE');
    lock.exec('COMMIT');
  } catch (error) {
    lock.close();
    if (primaryCode(error) !== SQLITE.BUSY) throw unusable(error, `${file}-lock`);
    throw new StoreInUseError(
      `${file} is in use by another HeyKeys server. An SQLite store belongs to one process: each ` +
        'server caches the keys it has checked and would not hear of a key revoked through another. ' +
        `Stop the other server (\`lsof ${file}-lock\` names it), give this one a DATA_DIR of its own, ` +
        'or run several instances on PostgreSQL (DATABASE_URL).',
      { cause: error },
    );
  }
  return {
    release: () => {
      if (lock.isOpen) lock.close();
    },
  };
}

/**
 * Opens (creating if needed) and migrates the database file. `exclusive` (the default) claims the
 * file for this process first (see `claim`); only a short-lived tool that writes nothing a running
 * server may have cached (the CLI, which adds organizations) opens without.
 */
export function openSqliteStore(file: string, options: { exclusive?: boolean } = {}): SqliteStore {
  const inMemory = file === ':memory:' || file === '';
  const owner = options.exclusive !== false && !inMemory ? claim(file) : null;
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(file);
  } catch (error) {
    owner?.release();
    throw unusable(error, file);
  }
  try {
    db.exec('PRAGMA journal_mode = WAL');
    // FULL: an acknowledged write (a revoke above all) must survive a power cut, not only a crash
    // of this process. See docs/decisions/0002-sqlite-settings.md.
    db.exec('PRAGMA synchronous = FULL');
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.exec('PRAGMA foreign_keys = ON');
    migrate(db, loadMigrations());
    // An in-memory database exists only on this connection: its background writes run inline.
    return new SqliteStore(db, inMemory ? inlineWriter(db) : threadWriter(file), owner);
  } catch (error) {
    db.close();
    owner?.release();
    throw unusable(error, file);
  }
}

/** Opening answers that mean the file cannot be used as it is (see `unusable`). */
const OPEN_REFUSALS = new Set<number | null>([SQLITE.READONLY, SQLITE.IOERR, SQLITE.FULL, SQLITE.CANTOPEN, SQLITE.NOTADB]);

/**
 * SQLite's answers that mean the file cannot be used as it is, the operator's to fix, become a
 * StoreOpenError naming the file: it cannot be opened or created (a folder in its place, no
 * permission), it is read-only, the disk is full or failing, or it is not an SQLite database.
 * Anything else is left as it is.
 */
function unusable(error: unknown, file: string): unknown {
  if (!OPEN_REFUSALS.has(primaryCode(error))) return error;
  const { errstr } = error as { errstr?: string };
  return new StoreOpenError(`${file}: ${errstr ?? (error as Error).message}`, { cause: error });
}

// ---------------------------------------------------------------- rows and records

interface KeyRow {
  id: string;
  org_id: string;
  name: string;
  description: string | null;
  permission: string;
  owner_type: string;
  owner_id: string;
  owner_name: string;
  created_by: string;
  workspace_access: string;
  workspace_id: string | null;
  status: string;
  disabled_reason: string | null;
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

interface MemberRow {
  id: string;
  org_id: string;
  type: string;
  name: string;
  email: string | null;
  role: string | null;
  created_at: number;
  api_key_id: string | null;
}

interface PolicyRow {
  inactivity_days: number | null;
  default_expiry_days: number | null;
  max_expiry_days: number | null;
  require_expiry: number;
  allowed_auth_schemes: string;
  max_keys: number;
}

interface UsageRow extends Omit<UsageEntry, 'secret'> {
  secret: string;
}

interface AuditRow {
  id: string;
  org_id: string;
  at: number;
  action: string;
  key_id: string | null;
  subject_id: string;
  actor: string | null;
  ip: string | null;
  changes: string | null;
}


function keyParams(key: KeyRecord): Record<KeyColumn, SQLInputValue> {
  return keyColumnValues(key);
}

function toKey(row: KeyRow): KeyRecord {
  return {
    id: row.id,
    org_id: row.org_id,
    name: row.name,
    description: row.description,
    permission: JSON.parse(row.permission),
    owner: { type: row.owner_type as KeyRecord['owner']['type'], id: row.owner_id, name: row.owner_name },
    created_by: JSON.parse(row.created_by),
    workspace_access: JSON.parse(row.workspace_access),
    workspace_id: row.workspace_id,
    status: row.status as KeyRecord['status'],
    disabled_reason: row.disabled_reason as KeyRecord['disabled_reason'],
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

function toMemberWithKey(row: MemberRow): MemberWithKey {
  return {
    id: row.id,
    org_id: row.org_id,
    type: row.type as Member['type'],
    name: row.name,
    email: row.email,
    role: row.role as Member['role'],
    created_at: row.created_at,
    api_key_id: row.api_key_id,
  };
}

function toPolicy(row: PolicyRow): Policy {
  return {
    inactivity_days: row.inactivity_days,
    default_expiry_days: row.default_expiry_days,
    max_expiry_days: row.max_expiry_days,
    require_expiry: row.require_expiry === 1,
    allowed_auth_schemes: JSON.parse(row.allowed_auth_schemes),
    max_keys: row.max_keys,
  };
}

const toOrganization = (row: Organization): Organization => ({ id: row.id, name: row.name, created_at: row.created_at });
const toWorkspace = (row: Workspace): Workspace => ({ id: row.id, org_id: row.org_id, name: row.name, created_at: row.created_at });
const toTag = (row: Tag): Tag => ({ id: row.id, org_id: row.org_id, workspace_id: row.workspace_id, name: row.name, created_at: row.created_at });

function toUsage(row: UsageRow): UsageEntry {
  return {
    org_id: row.org_id,
    key_id: row.key_id,
    at: row.at,
    method: row.method,
    route: row.route,
    status: row.status,
    ip: row.ip,
    user_agent: row.user_agent,
    secret: row.secret as UsageEntry['secret'],
  };
}

function toAudit(row: AuditRow): AuditEvent {
  return {
    id: row.id,
    org_id: row.org_id,
    at: row.at,
    action: row.action as AuditEvent['action'],
    key_id: row.key_id,
    subject_id: row.subject_id,
    actor: row.actor === null ? null : JSON.parse(row.actor),
    ip: row.ip,
    changes: row.changes === null ? null : JSON.parse(row.changes),
  };
}

/** Queries fetch `limit + 1` rows: the extra row only says whether another page exists. */
function pageOf<R, T extends { id: string }>(rows: unknown[], limit: number, toRecord: (row: R) => T): Page<T> {
  const data = rows.slice(0, limit).map((row) => toRecord(row as R));
  return { data, next_cursor: rows.length > limit ? data[data.length - 1]!.id : null };
}

function pageParams(page: PageRequest): { before: string; limit: number } {
  return { before: page.cursor ?? AFTER_EVERY_ID, limit: page.limit + 1 };
}

/** node:sqlite reports `changes` as a bigint for large counts. */
const changed = (result: { changes: number | bigint }): number => Number(result.changes);

// ---------------------------------------------------------------- the store

/**
 * The inactivity sweep's question, answered from the keys_inactive index (migration 4), whose
 * expression this must write the same way. No ORDER BY (the Store promises no order): sorting
 * costs a temporary b-tree even for no rows, ~40 us an organization, four times the search.
 */
export const FIND_INACTIVE_KEYS = `
  SELECT * FROM keys
  WHERE org_id = ? AND status = 'active' AND max(coalesce(last_used_at, 0), inactivity_from) <= ?`;

/** Columns of a member plus the id of the unrevoked key a machine user holds. */
const MEMBER_SELECT = `
  SELECT m.*, CASE WHEN m.type = 'machine' THEN
    (SELECT k.id FROM keys k WHERE k.owner_id = m.id AND k.status <> 'revoked' ORDER BY k.id DESC LIMIT 1)
  END AS api_key_id
  FROM members m`;

/** A file that cannot be written for now (see SqliteStore.isOutage). */
const OUTAGES = new Set<number | null>([SQLITE.BUSY, SQLITE.READONLY, SQLITE.IOERR, SQLITE.FULL]);

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  /** The open database, for tests and maintenance tools; the store owns it. */
  readonly db: DatabaseSync;
  readonly #sql: ReturnType<typeof prepareStatements>;
  /** Last-use times and the usage log: written off the event loop on a file (./sqlite-writer.ts). */
  readonly #background: BackgroundWrites;

  /** This process's claim on the file (see `claim`), given up when the store closes. */
  readonly #owner: { release(): void } | null;

  constructor(db: DatabaseSync, background: BackgroundWrites = inlineWriter(db), owner: { release(): void } | null = null) {
    this.db = db;
    this.#sql = prepareStatements(db);
    this.#background = background;
    this.#owner = owner;
  }

  #insertAudit(events: AuditEvent[]): void {
    for (const e of events) {
      this.#sql.insertAudit.run({
        id: e.id,
        org_id: e.org_id,
        at: e.at,
        action: e.action,
        key_id: e.key_id,
        subject_id: e.subject_id,
        actor: e.actor === null ? null : JSON.stringify(e.actor),
        ip: e.ip,
        changes: e.changes === null ? null : JSON.stringify(e.changes),
      });
    }
  }

  #insertMember(m: Member): void {
    this.#sql.insertMember.run({ id: m.id, org_id: m.org_id, type: m.type, name: m.name, email: m.email, role: m.role, created_at: m.created_at });
  }

  #insertKey(key: KeyRecord): void {
    this.#sql.insertKey.run(keyParams(key));
    this.#sql.rememberDigest.run(key.digest, key.id);
  }

  // ------------------------------------------------------------ organizations and policy

  async countOrganizations(): Promise<number> {
    return (this.#sql.countOrganizations.get() as { n: number }).n;
  }

  async createOrganization(input: NewOrganization): Promise<boolean> {
    // BEGIN IMMEDIATE takes the write lock first, so two processes cannot both see an empty store.
    return writeTransaction(this.db, () => {
      if (input.only_if_none && this.db.prepare('SELECT 1 FROM organizations LIMIT 1').get()) return false;
      this.#sql.insertOrganization.run({ id: input.org.id, name: input.org.name, created_at: input.org.created_at });
      this.#putPolicy(input.org.id, input.policy);
      this.#insertMember(input.owner);
      this.#insertKey(input.key);
      this.#insertAudit(input.audit);
      return true;
    });
  }

  async getOrganization(orgId: string): Promise<Organization | null> {
    const row = this.#sql.getOrganization.get(orgId) as Organization | undefined;
    return row ? toOrganization(row) : null;
  }

  async listOrganizationIds(): Promise<string[]> {
    return (this.#sql.listOrganizationIds.all() as { id: string }[]).map((row) => row.id);
  }

  async getPolicy(orgId: string): Promise<Policy | null> {
    const row = this.#sql.getPolicy.get(orgId) as PolicyRow | undefined;
    return row ? toPolicy(row) : null;
  }

  #putPolicy(orgId: string, p: Policy): void {
    this.#sql.putPolicy.run({
      org_id: orgId,
      inactivity_days: p.inactivity_days,
      default_expiry_days: p.default_expiry_days,
      max_expiry_days: p.max_expiry_days,
      require_expiry: p.require_expiry ? 1 : 0,
      allowed_auth_schemes: JSON.stringify(p.allowed_auth_schemes),
      max_keys: p.max_keys,
    });
  }

  async updatePolicy(orgId: string, policy: Policy, audit: AuditEvent[]): Promise<void> {
    writeTransaction(this.db, () => {
      this.#putPolicy(orgId, policy);
      this.#insertAudit(audit);
    });
  }

  // ------------------------------------------------------------ members

  async getMember(orgId: string, memberId: string): Promise<MemberWithKey | null> {
    const row = this.#sql.getMember.get(memberId, orgId) as MemberRow | undefined;
    return row ? toMemberWithKey(row) : null;
  }

  async listMembers(orgId: string, page: PageRequest): Promise<Page<MemberWithKey>> {
    return pageOf(this.#sql.listMembers.all({ org_id: orgId, ...pageParams(page) }), page.limit, toMemberWithKey);
  }

  async countMembers(orgId: string): Promise<{ users: number; machines: number }> {
    const row = this.#sql.countMembers.get(orgId) as { users: number; machines: number };
    return { users: row.users, machines: row.machines };
  }

  // ------------------------------------------------------------ workspaces and tags

  async createWorkspace(workspace: Workspace, audit: AuditEvent[]): Promise<void> {
    writeTransaction(this.db, () => {
      this.#sql.insertWorkspace.run({ id: workspace.id, org_id: workspace.org_id, name: workspace.name, created_at: workspace.created_at });
      this.#insertAudit(audit);
    });
  }

  async getWorkspace(orgId: string, workspaceId: string): Promise<Workspace | null> {
    const row = this.#sql.getWorkspace.get(workspaceId, orgId) as Workspace | undefined;
    return row ? toWorkspace(row) : null;
  }

  async listWorkspaces(orgId: string, page: PageRequest, only?: string[]): Promise<Page<Workspace>> {
    const rows = this.#sql.listWorkspaces.all({ org_id: orgId, only: only ? JSON.stringify(only) : null, ...pageParams(page) });
    return pageOf(rows, page.limit, toWorkspace);
  }

  async renameWorkspace(orgId: string, workspaceId: string, name: string, audit: AuditEvent[]): Promise<Workspace | null> {
    return writeTransaction(this.db, () => {
      const row = this.#sql.renameWorkspace.get(name, workspaceId, orgId) as Workspace | undefined;
      if (!row) return null;
      this.#insertAudit(audit);
      return toWorkspace(row);
    });
  }

  async deleteWorkspace(orgId: string, workspaceId: string, at: number, audit: AuditEvent[]): Promise<string[] | null> {
    return writeTransaction(this.db, () => {
      if (!this.#sql.getWorkspace.get(workspaceId, orgId)) return null;
      this.#sql.deleteWorkspaceTags.run(workspaceId);
      const revoked = this.#sql.revokePinnedKeys.all({ org_id: orgId, workspace_id: workspaceId, at }) as {
        id: string;
        owner_type: string;
        owner_id: string;
      }[];
      for (const key of revoked) {
        if (key.owner_type === 'machine') this.#sql.deleteMember.run(key.owner_id, orgId);
      }
      this.#sql.deleteWorkspace.run(workspaceId, orgId);
      this.#insertAudit(audit);
      return revoked.map((key) => key.id).sort();
    });
  }

  async createTag(tag: Tag): Promise<boolean> {
    const result = this.#sql.insertTag.run({ id: tag.id, org_id: tag.org_id, workspace_id: tag.workspace_id, name: tag.name, created_at: tag.created_at });
    return changed(result) === 1;
  }

  async listTags(orgId: string, workspaceId: string, page: PageRequest): Promise<Page<Tag>> {
    const rows = this.#sql.listTags.all({ org_id: orgId, workspace_id: workspaceId, ...pageParams(page) });
    return pageOf(rows, page.limit, toTag);
  }

  async deleteTag(orgId: string, workspaceId: string, tagId: string): Promise<boolean> {
    return changed(this.#sql.deleteTag.run(tagId, orgId, workspaceId)) === 1;
  }

  // ------------------------------------------------------------ keys

  async findCredential(digest: string): Promise<Credential | null> {
    const row = this.#sql.findCredential.get(digest) as (KeyRow & { secret: Credential['secret']; owner_role: string | null }) | undefined;
    if (!row) return null;
    return { key: toKey(row), secret: row.secret, owner_role: row.owner_role as Credential['owner_role'] };
  }

  async getKey(orgId: string, keyId: string): Promise<KeyRecord | null> {
    const row = this.#sql.getKey.get(keyId, orgId) as KeyRow | undefined;
    return row ? toKey(row) : null;
  }

  async listKeys(orgId: string, filter: KeyFilter, page: PageRequest): Promise<Page<KeyRecord>> {
    // Empty strings mean "no filter", as in the memory store; an empty pinned_to matches nothing.
    const rows = this.#sql.listKeys.all({
      org_id: orgId,
      status: filter.status || null,
      owner_type: filter.owner_type || null,
      name: filter.name ? filter.name.toLowerCase() : null,
      pinned_to: filter.pinned_to ? JSON.stringify(filter.pinned_to) : null,
      workspace_id: filter.workspace_id || null,
      ...pageParams(page),
    });
    return pageOf(rows, page.limit, toKey);
  }

  async findKeyByOwner(orgId: string, memberId: string): Promise<KeyRecord | null> {
    const row = this.#sql.findKeyByOwner.get(memberId, orgId) as KeyRow | undefined;
    return row ? toKey(row) : null;
  }

  async insertKey(input: NewKey): Promise<'ok' | 'cap_reached'> {
    return writeTransaction(this.db, () => {
      const held = (this.#sql.unrevokedKeyCount.get(input.key.org_id) as { unrevoked: number } | undefined)?.unrevoked ?? 0;
      if (held >= input.max_keys) return 'cap_reached';
      if (input.machine_user) this.#insertMember(input.machine_user);
      this.#insertKey(input.key);
      this.#insertAudit(input.audit);
      return 'ok';
    });
  }

  async writeKey(write: KeyWrite): Promise<boolean> {
    return writeTransaction(this.db, () => {
      const result = this.#sql.writeKey.run({ ...keyParams(write.key), expected_version: write.expected_version });
      if (changed(result) === 0) return false;
      this.#sql.rememberDigest.run(write.key.digest, write.key.id);
      if (write.delete_member_id) this.#sql.deleteMember.run(write.delete_member_id, write.key.org_id);
      this.#insertAudit(write.audit);
      return true;
    });
  }

  async findInactiveKeys(orgId: string, cutoff: number): Promise<KeyRecord[]> {
    return (this.#sql.findInactiveKeys.all(orgId, cutoff) as unknown as KeyRow[]).map(toKey);
  }

  // ------------------------------------------------------------ usage and audit

  recordUse(uses: KeyUse[]): Promise<void> {
    return this.#background.recordUse(uses);
  }

  appendUsage(entries: UsageEntry[]): Promise<void> {
    return this.#background.appendUsage(entries);
  }

  async listUsage(orgId: string, keyId: string, page: UsagePage): Promise<Page<UsageEntry>> {
    const rows = this.#sql.listUsage.all(
      orgId,
      keyId,
      page.before?.at ?? Number.MAX_SAFE_INTEGER,
      page.before?.at ?? Number.MAX_SAFE_INTEGER,
      page.before?.seq ?? 0,
      page.limit + 1,
    ) as unknown as (UsageRow & { seq: number })[];
    return usagePage(rows, page.limit, toUsage);
  }

  async countUsage(orgId: string, keyId: string, since: number): Promise<UsageCounts> {
    const row = this.#sql.countUsage.get(orgId, keyId, since) as unknown as UsageCounts;
    return { total: row.total, success: row.success, client_error: row.client_error, server_error: row.server_error };
  }

  pruneUsage(before: number): Promise<number> {
    return this.#background.pruneUsage(before);
  }

  async listAudit(orgId: string, filter: AuditFilter, page: PageRequest): Promise<Page<AuditEvent>> {
    const params = { org_id: orgId, action: filter.action || null, ...pageParams(page) };
    const rows = filter.key_id
      ? this.#sql.listAuditOfKey.all({ ...params, key_id: filter.key_id })
      : this.#sql.listAudit.all(params);
    return pageOf(rows, page.limit, toAudit);
  }

  /**
   * The file cannot be written for now, through no fault of the request: the disk is full
   * (SQLITE_FULL), the disk failed a read or a write (SQLITE_IOERR), another connection kept the
   * write lock past the busy timeout (SQLITE_BUSY: a long CLI command beside the server), or the
   * file became read-only under the server (SQLITE_READONLY). Matched on the primary result code,
   * which node:sqlite's errors carry as `errcode` (and the writer thread's replies pass on).
   */
  isOutage(error: unknown): boolean {
    return OUTAGES.has(primaryCode(error));
  }

  /** One process owns an SQLite file: there are no other processes' changes to report. */
  subscribe(_listener: (event: StoreEvent) => void): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    await this.#background.close();
    if (this.db.isOpen) this.db.close();
    this.#owner?.release();
  }
}

/** Every statement the store runs, prepared once when the store opens. */
function prepareStatements(db: DatabaseSync) {
  const prepare = (sql: string): StatementSync => db.prepare(sql);
  const keyColumns = KEY_COLUMNS.join(', ');
  const keyValues = KEY_COLUMNS.map((c) => `:${c}`).join(', ');
  return {
    countOrganizations: prepare('SELECT count(*) AS n FROM organizations'),
    insertOrganization: prepare('INSERT INTO organizations (id, name, created_at) VALUES (:id, :name, :created_at)'),
    getOrganization: prepare('SELECT * FROM organizations WHERE id = ?'),
    listOrganizationIds: prepare('SELECT id FROM organizations ORDER BY id'),
    getPolicy: prepare('SELECT * FROM policies WHERE org_id = ?'),
    putPolicy: prepare(`
      INSERT INTO policies (org_id, inactivity_days, default_expiry_days, max_expiry_days, require_expiry, allowed_auth_schemes, max_keys)
      VALUES (:org_id, :inactivity_days, :default_expiry_days, :max_expiry_days, :require_expiry, :allowed_auth_schemes, :max_keys)
      ON CONFLICT (org_id) DO UPDATE SET
        inactivity_days = excluded.inactivity_days, default_expiry_days = excluded.default_expiry_days,
        max_expiry_days = excluded.max_expiry_days, require_expiry = excluded.require_expiry,
        allowed_auth_schemes = excluded.allowed_auth_schemes, max_keys = excluded.max_keys`),

    insertMember: prepare(`
      INSERT INTO members (id, org_id, type, name, email, role, created_at)
      VALUES (:id, :org_id, :type, :name, :email, :role, :created_at)`),
    getMember: prepare(`${MEMBER_SELECT} WHERE m.id = ? AND m.org_id = ?`),
    listMembers: prepare(`${MEMBER_SELECT} WHERE m.org_id = :org_id AND m.id < :before ORDER BY m.id DESC LIMIT :limit`),
    countMembers: prepare(`
      SELECT count(*) FILTER (WHERE type = 'user') AS users, count(*) FILTER (WHERE type <> 'user') AS machines
      FROM members WHERE org_id = ?`),
    deleteMember: prepare('DELETE FROM members WHERE id = ? AND org_id = ?'),

    insertWorkspace: prepare('INSERT INTO workspaces (id, org_id, name, created_at) VALUES (:id, :org_id, :name, :created_at)'),
    getWorkspace: prepare('SELECT * FROM workspaces WHERE id = ? AND org_id = ?'),
    listWorkspaces: prepare(`
      SELECT * FROM workspaces
      WHERE org_id = :org_id AND id < :before AND (:only IS NULL OR id IN (SELECT value FROM json_each(:only)))
      ORDER BY id DESC LIMIT :limit`),
    renameWorkspace: prepare('UPDATE workspaces SET name = ? WHERE id = ? AND org_id = ? RETURNING *'),
    deleteWorkspace: prepare('DELETE FROM workspaces WHERE id = ? AND org_id = ?'),
    deleteWorkspaceTags: prepare('DELETE FROM tags WHERE workspace_id = ?'),
    revokePinnedKeys: prepare(`
      UPDATE keys SET status = 'revoked', revoked_at = :at, updated_at = :at, version = version + 1
      WHERE workspace_id = :workspace_id AND org_id = :org_id AND status <> 'revoked'
      RETURNING id, owner_type, owner_id`),

    insertTag: prepare(`
      INSERT INTO tags (id, org_id, workspace_id, name, created_at) VALUES (:id, :org_id, :workspace_id, :name, :created_at)
      ON CONFLICT (workspace_id, name) DO NOTHING`),
    listTags: prepare(`
      SELECT * FROM tags WHERE workspace_id = :workspace_id AND org_id = :org_id AND id < :before
      ORDER BY id DESC LIMIT :limit`),
    deleteTag: prepare('DELETE FROM tags WHERE id = ? AND org_id = ? AND workspace_id = ?'),

    // The authentication hot path: one probe of key_secrets' primary key, then the key and its
    // owner by primary key. Which of the key's secrets the digest is follows from the key row.
    findCredential: prepare(`
      SELECT k.*,
        CASE s.digest WHEN k.digest THEN 'current' WHEN k.prev_digest THEN 'previous' ELSE 'retired' END AS secret,
        m.role AS owner_role
      FROM key_secrets s
      JOIN keys k ON k.id = s.key_id
      LEFT JOIN members m ON m.id = k.owner_id
      WHERE s.digest = ?`),
    // A digest keeps the key it first belonged to; rewriting the same current digest is a no-op.
    rememberDigest: prepare('INSERT OR IGNORE INTO key_secrets (digest, key_id) VALUES (?, ?)'),
    getKey: prepare('SELECT * FROM keys WHERE id = ? AND org_id = ?'),
    listKeys: prepare(`
      SELECT * FROM keys k
      WHERE k.org_id = :org_id AND k.id < :before AND k.status <> 'revoked'
        AND (:status IS NULL OR k.status = :status)
        AND (:owner_type IS NULL OR k.owner_type = :owner_type)
        AND (:name IS NULL OR instr(k.name_folded, :name) > 0)
        AND (:pinned_to IS NULL OR k.workspace_id IN (SELECT value FROM json_each(:pinned_to)))
        AND (:workspace_id IS NULL OR CASE
          WHEN k.workspace_id IS NOT NULL THEN k.workspace_id = :workspace_id
          WHEN k.workspace_access ->> '$.type' = 'all' THEN 1
          ELSE EXISTS (SELECT 1 FROM json_each(k.workspace_access, '$.workspace_ids') WHERE value = :workspace_id)
        END)
      ORDER BY k.id DESC LIMIT :limit`),
    findKeyByOwner: prepare(`SELECT * FROM keys WHERE owner_id = ? AND org_id = ? AND status <> 'revoked' ORDER BY id LIMIT 1`),
    unrevokedKeyCount: prepare('SELECT unrevoked FROM org_key_counts WHERE org_id = ?'),
    insertKey: prepare(`INSERT INTO keys (${keyColumns}) VALUES (${keyValues})`),
    // Compare-and-set on version. Last-use times are owned by recordUse, so a write carrying an
    // older snapshot never moves them backwards (SET expressions see the row before the update).
    writeKey: prepare(`
      UPDATE keys SET
        ${KEY_COLUMNS.filter((c) => c !== 'id' && c !== 'last_used_at' && c !== 'prev_last_used_at')
          .map((c) => `${c} = :${c}`)
          .join(', ')},
        last_used_at = CASE
          WHEN last_used_at IS NULL OR :last_used_at > last_used_at THEN :last_used_at
          ELSE last_used_at END,
        prev_last_used_at = CASE
          WHEN prev_digest IS NOT :prev_digest THEN :prev_last_used_at
          WHEN prev_last_used_at IS NULL OR :prev_last_used_at > prev_last_used_at THEN :prev_last_used_at
          ELSE prev_last_used_at END
      WHERE id = :id AND org_id = :org_id AND version = :expected_version`),
    findInactiveKeys: prepare(FIND_INACTIVE_KEYS),

    // Newest first by (at, seq) from the position of a cursor, one range of usage_by_key.
    listUsage: prepare(`
      SELECT org_id, key_id, at, method, route, status, ip, user_agent, secret, seq FROM usage
      WHERE org_id = ? AND key_id = ? AND at <= ? AND (at < ? OR seq < ?)
      ORDER BY at DESC, seq DESC LIMIT ?`),
    countUsage: prepare(`
      SELECT count(*) AS total,
        count(*) FILTER (WHERE status < 400) AS success,
        count(*) FILTER (WHERE status >= 400 AND status < 500) AS client_error,
        count(*) FILTER (WHERE status >= 500) AS server_error
      FROM usage WHERE org_id = ? AND key_id = ? AND at >= ?`),

    insertAudit: prepare(`
      INSERT INTO audit (id, org_id, at, action, key_id, subject_id, actor, ip, changes)
      VALUES (:id, :org_id, :at, :action, :key_id, :subject_id, :actor, :ip, :changes)`),
    // Two statements rather than an optional key filter, so each gets its own index.
    listAudit: prepare(`
      SELECT * FROM audit WHERE org_id = :org_id AND id < :before AND (:action IS NULL OR action = :action)
      ORDER BY id DESC LIMIT :limit`),
    listAuditOfKey: prepare(`
      SELECT * FROM audit WHERE org_id = :org_id AND key_id = :key_id AND id < :before AND (:action IS NULL OR action = :action)
      ORDER BY id DESC LIMIT :limit`),
  };
}
