/** The records the domain works with. Times are milliseconds since the epoch. */
import type { Permission, Scope } from './scopes.ts';

export type MemberType = 'user' | 'machine';
export type Role = 'owner' | 'member';
export type AuthScheme = 'bearer' | 'basic';
export type KeyStatus = 'active' | 'disabled' | 'revoked';
export type DisabledReason = 'manual' | 'inactivity';

export interface Organization {
  id: string;
  name: string;
  created_at: number;
}

export interface Policy {
  inactivity_days: number | null;
  default_expiry_days: number | null;
  max_expiry_days: number | null;
  require_expiry: boolean;
  allowed_auth_schemes: AuthScheme[];
  max_keys: number;
}

export const DEFAULT_POLICY: Policy = {
  inactivity_days: 90,
  default_expiry_days: null,
  max_expiry_days: null,
  require_expiry: false,
  allowed_auth_schemes: ['bearer', 'basic'],
  max_keys: 1000,
};

export interface Member {
  id: string;
  org_id: string;
  type: MemberType;
  name: string;
  email: string | null;
  role: Role | null;
  created_at: number;
}

/** How a member is shown inside other objects. */
export interface MemberRef {
  type: MemberType;
  id: string;
  name: string;
}

export type WorkspaceAccess = { type: 'all' } | { type: 'selected'; workspace_ids: string[] };

export interface Workspace {
  id: string;
  org_id: string;
  name: string;
  created_at: number;
}

export interface Tag {
  id: string;
  org_id: string;
  workspace_id: string;
  name: string;
  created_at: number;
}

/**
 * An API key. The secret itself is never stored: `digest` is its SHA-256, `hint` what lists show.
 * A revoked key keeps its row (status `revoked`) so its digests stay known and never work again.
 */
export interface KeyRecord {
  id: string;
  org_id: string;
  name: string;
  description: string | null;
  permission: Permission;
  owner: MemberRef;
  created_by: MemberRef;
  workspace_access: WorkspaceAccess;
  /** Set for workspace-level keys: the one workspace they are pinned to. */
  workspace_id: string | null;
  status: KeyStatus;
  disabled_reason: DisabledReason | null;
  created_at: number;
  updated_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  /** Inactivity is counted from the later of this (creation or re-enabling) and `last_used_at`. */
  inactivity_from: number;
  last_used_at: number | null;
  digest: string;
  hint: string;
  /** The secret replaced by the last rotation, valid until `prev_expires_at`. */
  prev_digest: string | null;
  prev_hint: string | null;
  prev_expires_at: number | null;
  prev_last_used_at: number | null;
  /** Incremented by every write; writes are compare-and-set on it. */
  version: number;
}

/** What a digest lookup returns: the key, and which of its secrets the digest is. */
export interface Credential {
  key: KeyRecord;
  /** `current`, `previous` (rotation grace), or `retired` (replaced by an earlier rotation). */
  secret: 'current' | 'previous' | 'retired';
  owner_role: Role | null;
}

export type AuditAction =
  | 'api_key.created'
  | 'api_key.updated'
  | 'api_key.disabled'
  | 'api_key.enabled'
  | 'api_key.rotated'
  | 'api_key.revoked'
  | 'api_key.auto_disabled'
  | 'machine_user.created'
  | 'machine_user.deleted'
  | 'policy.updated'
  | 'workspace.created'
  | 'workspace.updated'
  | 'workspace.deleted';

export interface AuditActor {
  key_id: string;
  member: MemberRef;
}

export interface AuditEvent {
  id: string;
  org_id: string;
  at: number;
  action: AuditAction;
  key_id: string | null;
  subject_id: string;
  actor: AuditActor | null;
  ip: string | null;
  changes: Record<string, { from: unknown; to: unknown }> | null;
}

/**
 * One request made with a key. Entries have no id of their own: each store numbers them in the
 * order it receives them, and lists them newest first by (at, that number); see usage-cursor.ts.
 */
export interface UsageEntry {
  org_id: string;
  key_id: string;
  at: number;
  method: string;
  route: string;
  status: number;
  ip: string | null;
  user_agent: string | null;
  secret: 'current' | 'previous';
}

export interface UsageCounts {
  total: number;
  success: number;
  client_error: number;
  server_error: number;
}

/** One recorded use of a secret, flushed to the store in batches. */
export interface KeyUse {
  key_id: string;
  digest: string;
  at: number;
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export interface PageRequest {
  limit: number;
  cursor?: string | undefined;
}

export interface KeyFilter {
  status?: 'active' | 'disabled' | undefined;
  owner_type?: MemberType | undefined;
  /** Only keys that can reach this workspace. */
  workspace_id?: string | undefined;
  name?: string | undefined;
  /** Only keys pinned to one of these workspaces (what a workspace-limited caller may see). */
  pinned_to?: string[] | undefined;
}

export type { Permission, Scope };
