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

/** The secret a rotation replaced, while its grace period lasts. */
function previousSecret(key: KeyRecord, now: number) {
  const inGrace = key.prev_hint !== null && key.prev_expires_at !== null && key.prev_expires_at > now;
  return inGrace ? { hint: key.prev_hint!, expires_at: iso(key.prev_expires_at!), last_used_at: isoOrNull(key.prev_last_used_at) } : null;
}

export function presentKey(key: KeyRecord, now: number) {
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
    previous_secret: previousSecret(key, now),
  };
}

/**
 * Records are replaced by a new object with a higher version on every change (the memory store
 * bumps the version of records it changes in place); only last-use times change in place. So the
 * JSON text of what a record shows, last uses aside, can be kept per record and version, as below.
 */
const keyHeadJson = new WeakMap<KeyRecord, { version: number; head: string }>();

/**
 * Exactly `JSON.stringify(presentKey(key, now))`, with all but the last two fields serialized once
 * per record and version: a key is ~750 bytes of JSON, ~1 µs of a ~16 µs key read
 * (`npm run bench:in-process key`). The last two, `last_used_at` and `previous_secret`, move with
 * every use and with the clock, and are serialized on each call.
 */
export function presentKeyJson(key: KeyRecord, now: number): string {
  let memo = keyHeadJson.get(key);
  if (memo?.version !== key.version) {
    const { last_used_at: _lastUsed, previous_secret: _previous, ...head } = presentKey(key, now);
    // The object's text without its closing brace: the two fields follow.
    memo = { version: key.version, head: JSON.stringify(head).slice(0, -1) };
    keyHeadJson.set(key, memo);
  }
  return `${memo.head},"last_used_at":${JSON.stringify(isoOrNull(key.last_used_at))},"previous_secret":${JSON.stringify(previousSecret(key, now))}}`;
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

const meHeadJson = new WeakMap<KeyRecord, { version: number; ownerRole: Principal['owner_role']; org: Organization; head: string }>();

/**
 * Exactly `JSON.stringify(presentMe(principal, org))`, all but its last field (the scheme of this
 * request) kept per record and version, owner role and organization: ~1.3 µs of a ~11 µs `/v1/me`.
 */
export function presentMeJson(principal: Principal, org: Organization): string {
  const { key } = principal;
  let memo = meHeadJson.get(key);
  if (memo?.version !== key.version || memo.ownerRole !== principal.owner_role || memo.org !== org) {
    const { auth_scheme: _scheme, ...head } = presentMe(principal, org);
    memo = { version: key.version, ownerRole: principal.owner_role, org, head: JSON.stringify(head).slice(0, -1) };
    meHeadJson.set(key, memo);
  }
  return `${memo.head},"auth_scheme":${JSON.stringify(principal.scheme)}}`;
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

/** The text of a valid answer up to its key: the same for every valid verify. */
const VALID_HEAD = JSON.stringify(presentVerify({ valid: true, code: 'VALID', failed_checks: [], key: null })).slice(0, -'null}'.length);

/** Exactly `JSON.stringify(presentVerify(outcome))`, with the key's part from the memo above. */
export function presentVerifyJson(outcome: VerifyOutcome): string {
  const key = outcome.key;
  if (!key) return JSON.stringify(presentVerify(outcome));
  const usual = outcome.valid && outcome.code === 'VALID' && outcome.failed_checks.length === 0;
  // The key is the answer's last field: the text without it ends in `null}`.
  const head = usual ? VALID_HEAD : JSON.stringify(presentVerify({ ...outcome, key: null })).slice(0, -'null}'.length);
  let memo = verifiedKeyJson.get(key);
  if (memo?.version !== key.version) {
    memo = { version: key.version, json: JSON.stringify(verifiedKey(key)) };
    verifiedKeyJson.set(key, memo);
  }
  return `${head}${memo.json}}`;
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
