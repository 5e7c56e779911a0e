/**
 * The one storage interface. Every adapter (memory, SQLite, PostgreSQL) passes the shared
 * conformance suite in ./conformance.ts. Each method is atomic on its own; the domain never holds a
 * transaction open across an await. Key writes are compare-and-set on `version`, so racing
 * requests cannot lose an update (a revoke racing an enable ends revoked).
 */
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
import type { AuditAction } from '../domain/model.ts';
import type { UsagePosition } from '../domain/usage-cursor.ts';

/**
 * The store cannot be used as configured: PostgreSQL unreachable or refusing the connection, no
 * such schema, a schema newer than this server, an SQLite file another server owns. The message
 * says why and what to do; the entry points print it, without a stack trace, and exit.
 */
export class StoreOpenError extends Error {}

/** A page of a key's usage log: entries strictly before `before` (null: from the newest). */
export interface UsagePage {
  limit: number;
  before: UsagePosition | null;
}

export interface MemberWithKey extends Member {
  /** A machine user's one key (not revoked); null for humans. */
  api_key_id: string | null;
}

export interface NewOrganization {
  /** Create it only if the store holds no organization yet (first start), atomically across processes. */
  only_if_none?: boolean | undefined;
  org: Organization;
  policy: Policy;
  owner: Member;
  key: KeyRecord;
  audit: AuditEvent[];
}

export interface NewKey {
  key: KeyRecord;
  /** A machine user created together with its key, in the same transaction. */
  machine_user?: Member | undefined;
  audit: AuditEvent[];
  /** Refuse (return `cap_reached`) when the organization already holds this many unrevoked keys. */
  max_keys: number;
}

export interface KeyWrite {
  /** The key's new state; `version` must be `expected_version + 1`. */
  key: KeyRecord;
  expected_version: number;
  audit: AuditEvent[];
  /** Delete this machine user in the same transaction (its key is being revoked). */
  delete_member_id?: string | undefined;
}

export type StoreEvent =
  | { type: 'key_changed'; key_id: string }
  | { type: 'policy_changed'; org_id: string }
  /** The adapter may have missed events (e.g. after a reconnect): drop every cached entry. */
  | { type: 'reset' };

export interface AuditFilter {
  key_id?: string | undefined;
  action?: AuditAction | undefined;
}

export interface Store {
  readonly kind: 'memory' | 'sqlite' | 'postgres';

  countOrganizations(): Promise<number>;
  /** False (and nothing written) when `only_if_none` is set and an organization exists. */
  createOrganization(input: NewOrganization): Promise<boolean>;
  getOrganization(orgId: string): Promise<Organization | null>;
  listOrganizationIds(): Promise<string[]>;

  getPolicy(orgId: string): Promise<Policy | null>;
  updatePolicy(orgId: string, policy: Policy, audit: AuditEvent[]): Promise<void>;

  getMember(orgId: string, memberId: string): Promise<MemberWithKey | null>;
  listMembers(orgId: string, page: PageRequest): Promise<Page<MemberWithKey>>;
  countMembers(orgId: string): Promise<{ users: number; machines: number }>;

  createWorkspace(workspace: Workspace, audit: AuditEvent[]): Promise<void>;
  getWorkspace(orgId: string, workspaceId: string): Promise<Workspace | null>;
  listWorkspaces(orgId: string, page: PageRequest, only?: string[]): Promise<Page<Workspace>>;
  renameWorkspace(orgId: string, workspaceId: string, name: string, audit: AuditEvent[]): Promise<Workspace | null>;
  /** Deletes the workspace and its tags and revokes its pinned keys; returns the revoked key ids. */
  deleteWorkspace(orgId: string, workspaceId: string, at: number, audit: AuditEvent[]): Promise<string[] | null>;

  /** Returns false when the workspace already has a tag with this name. */
  createTag(tag: Tag): Promise<boolean>;
  listTags(orgId: string, workspaceId: string, page: PageRequest): Promise<Page<Tag>>;
  deleteTag(orgId: string, workspaceId: string, tagId: string): Promise<boolean>;

  /** One indexed lookup by digest, current, previous or retired secret, revoked keys included. */
  findCredential(digest: string): Promise<Credential | null>;
  /** A key by id within the organization, revoked ones included. */
  getKey(orgId: string, keyId: string): Promise<KeyRecord | null>;
  /** Unrevoked keys, newest first. */
  listKeys(orgId: string, filter: KeyFilter, page: PageRequest): Promise<Page<KeyRecord>>;
  /** The unrevoked key a machine user holds. */
  findKeyByOwner(orgId: string, memberId: string): Promise<KeyRecord | null>;
  insertKey(input: NewKey): Promise<'ok' | 'cap_reached'>;
  /** Compare-and-set; false when the stored version is not `expected_version`. */
  writeKey(write: KeyWrite): Promise<boolean>;
  /**
   * Active keys of the organization not used since `cutoff` (by `max(last_used_at, inactivity_from)`),
   * in no particular order. Asked per organization once a sweep: SQL stores answer it from an index.
   */
  findInactiveKeys(orgId: string, cutoff: number): Promise<KeyRecord[]>;

  /** Records last use of keys and secrets; never moves a time backwards; does not bump versions. */
  recordUse(uses: KeyUse[]): Promise<void>;
  /** All of the entries or none of them; each gets the next arrival number (`seq`). */
  appendUsage(entries: UsageEntry[]): Promise<void>;
  /** Newest first by (at, arrival); `next_cursor` is `usageCursor` of the page's last entry. */
  listUsage(orgId: string, keyId: string, page: UsagePage): Promise<Page<UsageEntry>>;
  countUsage(orgId: string, keyId: string, since: number): Promise<UsageCounts>;
  pruneUsage(before: number): Promise<number>;

  listAudit(orgId: string, filter: AuditFilter, page: PageRequest): Promise<Page<AuditEvent>>;

  /** Changes made by other processes sharing this store (only stores shared between processes emit). */
  subscribe(listener: (event: StoreEvent) => void): () => void;
  /**
   * Whether an error this store threw means it cannot be reached for the moment (a database
   * outage; on SQLite, a full disk or a write lock held too long), so the same request may succeed
   * later: the HTTP layer answers 503 with Retry-After. The memory store has no such errors.
   */
  isOutage?(error: unknown): boolean;
  close(): Promise<void>;
}
