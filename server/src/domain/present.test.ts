import { describe, expect, it } from 'vitest';
import type { KeyRecord } from './model.ts';
import type { Principal } from './access.ts';
import { presentKey, presentKeyJson, presentMe, presentMeJson, presentVerify, presentVerifyJson } from './present.ts';
import type { VerifyOutcome } from './service.ts';

const record = (changes: Partial<KeyRecord> = {}): KeyRecord => ({
  id: 'key_1',
  org_id: 'org_1',
  name: 'Billing "worker" ☃',
  description: null,
  permission: { type: 'restricted', scopes: ['api_keys:read', 'tags:write'] },
  owner: { type: 'machine', id: 'usr_m', name: 'ci\nbot' },
  created_by: { type: 'user', id: 'usr_1', name: 'Owner' },
  workspace_access: { type: 'selected', workspace_ids: ['ws_1', 'ws_2'] },
  workspace_id: null,
  status: 'active',
  disabled_reason: null,
  created_at: 1_700_000_000_000,
  updated_at: 1_700_000_000_000,
  expires_at: 1_800_000_000_123,
  revoked_at: null,
  inactivity_from: 1_700_000_000_000,
  last_used_at: null,
  digest: 'd',
  hint: 'hey_...abcd',
  prev_digest: null,
  prev_hint: null,
  prev_expires_at: null,
  prev_last_used_at: null,
  version: 1,
  ...changes,
});

describe('presentVerifyJson', () => {
  it('is JSON.stringify(presentVerify(outcome)) for every kind of outcome', () => {
    const key = record();
    const outcomes: VerifyOutcome[] = [
      { valid: true, code: 'VALID', failed_checks: [], key },
      { valid: false, code: 'INSUFFICIENT_SCOPE', failed_checks: [{ code: 'INSUFFICIENT_SCOPE', detail: 'The API key lacks: "x".' }], key },
      {
        valid: false,
        code: 'EXPIRED',
        failed_checks: [
          { code: 'EXPIRED', detail: 'expired' },
          { code: 'DISABLED', detail: 'disabled' },
        ],
        key: record({ expires_at: null, workspace_access: { type: 'all' }, workspace_id: 'ws_9', permission: { type: 'all', scopes: [] } }),
      },
      { valid: false, code: 'REVOKED', failed_checks: [], key: null },
      { valid: false, code: 'MALFORMED', failed_checks: [{ code: 'MALFORMED', detail: 'not a key' }], key: null },
    ];
    for (const outcome of outcomes) {
      // Twice: the second answer comes from the memo.
      expect(presentVerifyJson(outcome)).toBe(JSON.stringify(presentVerify(outcome)));
      expect(presentVerifyJson(outcome)).toBe(JSON.stringify(presentVerify(outcome)));
    }
  });

  it('shows a record changed in place once its version moves, and a replacing record at once', () => {
    const key = record();
    const valid = (k: KeyRecord): VerifyOutcome => ({ valid: true, code: 'VALID', failed_checks: [], key: k });
    expect(JSON.parse(presentVerifyJson(valid(key))).key.name).toBe(key.name);

    // The memory store bumps the version of records it changes in place.
    key.permission = { type: 'restricted', scopes: ['tags:read'] };
    key.version++;
    expect(JSON.parse(presentVerifyJson(valid(key))).key.permission.scopes).toEqual(['tags:read']);

    // The other stores and the domain replace the record.
    const renamed = { ...key, name: 'renamed', version: key.version + 1 };
    expect(JSON.parse(presentVerifyJson(valid(renamed))).key.name).toBe('renamed');
    expect(presentVerifyJson(valid(renamed))).toBe(JSON.stringify(presentVerify(valid(renamed))));

    // Last-use times change in place without a new version; verify does not show them.
    renamed.last_used_at = 1_750_000_000_000;
    expect(presentVerifyJson(valid(renamed))).toBe(JSON.stringify(presentVerify(valid(renamed))));
  });
});

describe('presentKeyJson', () => {
  const now = 1_760_000_000_000;
  it('is JSON.stringify(presentKey(key, now)) for records in every state, again from the memo', () => {
    const records = [
      record(),
      record({ status: 'disabled', disabled_reason: 'inactivity', last_used_at: 1_750_000_000_000, description: 'a "quoted"\ndescription' }),
      record({ expires_at: null, workspace_access: { type: 'all' }, workspace_id: 'ws_9', permission: { type: 'all', scopes: [] } }),
      // In a rotation's grace period (shown), and after it (not shown).
      record({ prev_digest: 'p', prev_hint: 'hey_...wxyz', prev_expires_at: now + 60_000, prev_last_used_at: now - 5 }),
      record({ prev_digest: 'p', prev_hint: 'hey_...wxyz', prev_expires_at: now - 1, prev_last_used_at: null }),
    ];
    for (const key of records) {
      expect(presentKeyJson(key, now)).toBe(JSON.stringify(presentKey(key, now)));
      expect(presentKeyJson(key, now)).toBe(JSON.stringify(presentKey(key, now)));
    }
  });

  it('shows last uses changed in place, the clock ending a grace period, and a new version', () => {
    const key = record({ prev_digest: 'p', prev_hint: 'hey_...wxyz', prev_expires_at: now + 60_000, prev_last_used_at: null });
    expect(JSON.parse(presentKeyJson(key, now)).previous_secret).not.toBeNull();
    key.last_used_at = now;
    key.prev_last_used_at = now;
    expect(presentKeyJson(key, now)).toBe(JSON.stringify(presentKey(key, now)));
    expect(JSON.parse(presentKeyJson(key, now + 60_000)).previous_secret).toBeNull();
    key.name = 'renamed';
    key.version++;
    expect(JSON.parse(presentKeyJson(key, now)).name).toBe('renamed');
    expect(presentKeyJson(key, now)).toBe(JSON.stringify(presentKey(key, now)));
  });
});

describe('presentMeJson', () => {
  const org = { id: 'org_1', name: 'Acme "Corp"', created_at: 0 };
  const principal = (key: KeyRecord, changes: Partial<Principal> = {}): Principal => ({
    key,
    owner_role: 'member',
    scheme: 'bearer',
    secret: 'current',
    digest: 'd',
    ...changes,
  });

  it('is JSON.stringify(presentMe(principal, org)) for each scheme, owner role, organization and version', () => {
    const key = record();
    const cases: [Principal, typeof org][] = [
      [principal(key), org],
      [principal(key, { scheme: 'basic' }), org],
      [principal(key, { owner_role: 'owner' }), org],
      [principal(key, { owner_role: null }), org],
      [principal(key), { ...org, name: 'Other' }],
    ];
    for (const [p, o] of cases) {
      expect(presentMeJson(p, o)).toBe(JSON.stringify(presentMe(p, o)));
      expect(presentMeJson(p, o)).toBe(JSON.stringify(presentMe(p, o)));
    }
    key.permission = { type: 'restricted', scopes: ['tags:read'] };
    key.version++;
    expect(JSON.parse(presentMeJson(principal(key), org)).permission.scopes).toEqual(['tags:read']);
  });
});
