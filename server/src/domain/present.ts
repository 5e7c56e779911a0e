/**
 * Records → the JSON shapes of openapi.yaml. Shared by the server's routes and the MSW mocks so
 * both answer with the same bodies.
 */
import type { Principal } from './access.ts';
import { iso } from './clock.ts';
import type { VerifyOutcome } from './service.ts';
import type { AuditEvent, KeyRecord, Member, Organization, Tag, UsageEntry, Workspace } from './model.ts';
import type { MemberWithKey } from '../store/store.ts';

const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

/** A copy of workspace access (a plain copy: structuredClone costs ~10 % of a key read). */
const accessCopy = (access: KeyRecord['workspace_access']): KeyRecord['workspace_access'] =>
  access.type === 'all' ? { type: 'all' } : { type: 'selected', workspace_ids: [...access.workspace_ids] };

export function presentKey(key: KeyRecord, now: number) {
  const inGrace = key.prev_hint !== null && key.prev_expires_at !== null && key.prev_expires_at > now;
  return {
    id: key.id,
    name: key.name,
    description: key.description,
    hint: key.hint,
    permission: { type: key.permission.type, scopes: [...key.permission.scopes] },
    owner: { ...key.owner },
    created_by: { ...key.created_by },
    created_at: iso(key.created_at),
    updated_at: iso(key.updated_at),
    workspace_access: accessCopy(key.workspace_access),
    workspace_id: key.workspace_id,
    status: key.status === 'disabled' ? ('disabled' as const) : ('active' as const),
    disabled_reason: key.status === 'disabled' ? key.disabled_reason : null,
    expires_at: isoOrNull(key.expires_at),
    last_used_at: isoOrNull(key.last_used_at),
    previous_secret: inGrace
      ? { hint: key.prev_hint!, expires_at: iso(key.prev_expires_at!), last_used_at: isoOrNull(key.prev_last_used_at) }
      : null,
  };
}

export function presentKeyWithSecret(key: KeyRecord, secret: string, now: number) {
  return { ...presentKey(key, now), secret };
}

export function presentMe(principal: Principal, org: Organization) {
  const { key } = principal;
  return {
    key_id: key.id,
    name: key.name,
    hint: key.hint,
    organization: { id: org.id, name: org.name },
    owner: { ...key.owner, role: principal.owner_role },
    permission: { type: key.permission.type, scopes: [...key.permission.scopes] },
    workspace_access: accessCopy(key.workspace_access),
    workspace_id: key.workspace_id,
    expires_at: isoOrNull(key.expires_at),
    auth_scheme: principal.scheme,
  };
}

function verifiedKey(key: KeyRecord) {
  return {
    id: key.id,
    name: key.name,
    permission: { type: key.permission.type, scopes: [...key.permission.scopes] },
    workspace_access: accessCopy(key.workspace_access),
    workspace_id: key.workspace_id,
    owner: { ...key.owner },
    expires_at: isoOrNull(key.expires_at),
  };
}

export function presentVerify(outcome: VerifyOutcome) {
  const key = outcome.key;
  return {
    valid: outcome.valid,
    code: outcome.code,
    failed_checks: outcome.failed_checks,
    key: key ? verifiedKey(key) : null,
  };
}

/**
 * The key as verify shows it, serialized once per record and version. Most of a valid verify
 * answer is this part (a dozen scopes, nested objects), and JSON.stringify of it cost ~1.5 µs of a
 * ~19 µs verify (`npm run bench:in-process verify`). Records are replaced by a new object with a
 * higher version on every change; only last-use times change in place, and verify does not show them.
 */
const verifiedKeyJson = new WeakMap<KeyRecord, { version: number; json: string }>();

/** Exactly `JSON.stringify(presentVerify(outcome))`, with the key's part from the memo above. */
export function presentVerifyJson(outcome: VerifyOutcome): string {
  // The key is the answer's last field: the text without it ends in `null}`.
  const withoutKey = JSON.stringify(presentVerify({ ...outcome, key: null }));
  const key = outcome.key;
  if (!key) return withoutKey;
  let memo = verifiedKeyJson.get(key);
  if (memo?.version !== key.version) {
    memo = { version: key.version, json: JSON.stringify(verifiedKey(key)) };
    verifiedKeyJson.set(key, memo);
  }
  return `${withoutKey.slice(0, -'null}'.length)}${memo.json}}`;
}

export function presentMember(member: MemberWithKey | (Member & { api_key_id: string | null })) {
  return {
    id: member.id,
    type: member.type,
    name: member.name,
    email: member.email,
    role: member.role,
    api_key_id: member.api_key_id,
    created_at: iso(member.created_at),
  };
}

export function presentWorkspace(ws: Workspace) {
  return { id: ws.id, name: ws.name, created_at: iso(ws.created_at) };
}

export function presentTag(tag: Tag) {
  return { id: tag.id, workspace_id: tag.workspace_id, name: tag.name, created_at: iso(tag.created_at) };
}

export function presentUsage(entry: UsageEntry) {
  return {
    at: iso(entry.at),
    method: entry.method,
    route: entry.route,
    status: entry.status,
    ip: entry.ip,
    user_agent: entry.user_agent,
    secret: entry.secret,
  };
}

export function presentAudit(event: AuditEvent) {
  return {
    id: event.id,
    at: iso(event.at),
    action: event.action,
    key_id: event.key_id,
    subject_id: event.subject_id,
    actor: event.actor ? { key_id: event.actor.key_id, member: { ...event.actor.member } } : null,
    ip: event.ip,
    changes: event.changes,
  };
}
