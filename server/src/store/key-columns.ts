/**
 * How a KeyRecord is laid out in the SQL stores' `keys` table: one column list and one mapping,
 * shared by the SQLite and PostgreSQL adapters (which differ only in placeholders and casts).
 */
import type { KeyRecord } from '../domain/model.ts';

export const KEY_COLUMNS = [
  'id', 'org_id', 'name', 'name_folded', 'description', 'permission', 'owner_type', 'owner_id', 'owner_name',
  'created_by', 'workspace_access', 'workspace_id', 'status', 'disabled_reason', 'created_at', 'updated_at',
  'expires_at', 'revoked_at', 'inactivity_from', 'last_used_at', 'digest', 'hint', 'prev_digest', 'prev_hint',
  'prev_expires_at', 'prev_last_used_at', 'version',
] as const;

export type KeyColumn = (typeof KEY_COLUMNS)[number];

/** The column values of a key; JSON columns as JSON text, times as milliseconds. */
export function keyColumnValues(key: KeyRecord): Record<KeyColumn, string | number | null> {
  return {
    id: key.id,
    org_id: key.org_id,
    name: key.name,
    // Folded here, not in SQL, so the name filter folds case exactly as JavaScript does.
    name_folded: key.name.toLowerCase(),
    description: key.description,
    permission: JSON.stringify(key.permission),
    owner_type: key.owner.type,
    owner_id: key.owner.id,
    owner_name: key.owner.name,
    created_by: JSON.stringify(key.created_by),
    workspace_access: JSON.stringify(key.workspace_access),
    workspace_id: key.workspace_id,
    status: key.status,
    disabled_reason: key.disabled_reason,
    created_at: key.created_at,
    updated_at: key.updated_at,
    expires_at: key.expires_at,
    revoked_at: key.revoked_at,
    inactivity_from: key.inactivity_from,
    last_used_at: key.last_used_at,
    digest: key.digest,
    hint: key.hint,
    prev_digest: key.prev_digest,
    prev_hint: key.prev_hint,
    prev_expires_at: key.prev_expires_at,
    prev_last_used_at: key.prev_last_used_at,
    version: key.version,
  };
}
