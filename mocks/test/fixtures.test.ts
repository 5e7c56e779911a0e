/**
 * The fixtures are what README.md says they are: every documented secret and id is the seeded one,
 * each secret authenticates as its key with the documented permission and reach, and the world is
 * the same after every reset and in every process.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../server/src/domain/crypto.ts';
import { isWellFormedKey } from '../../server/src/domain/key-format.ts';
import { createMockApi, fixtureSecrets, FIXTURE_NOW, type FixtureKey, type Fixtures } from '../src/index.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const api = createMockApi();
const fx: Fixtures = await api.ready;

const keys: [string, FixtureKey, { permission: string; scopes: string[]; workspace_id: string | null; owner: string }][] = [
  ['acme.ownerKey', fx.acme.ownerKey, { permission: 'all', scopes: [], workspace_id: null, owner: 'Ada Lovelace' }],
  ['acme.readOnlyKey', fx.acme.readOnlyKey, { permission: 'read_only', scopes: [], workspace_id: null, owner: 'Ada Lovelace' }],
  ['acme.tagsReaderKey', fx.acme.tagsReaderKey, { permission: 'restricted', scopes: ['tags:read'], workspace_id: null, owner: 'Ada Lovelace' }],
  ['acme.machineKey', fx.acme.machineKey, { permission: 'restricted', scopes: ['tags:read', 'tags:write'], workspace_id: null, owner: 'ci-bot' }],
  ['acme.workspaceKey', fx.acme.workspaceKey, { permission: 'restricted', scopes: ['tags:read', 'tags:write'], workspace_id: fx.acme.workspace.id, owner: 'Ada Lovelace' }],
  ['globex.ownerKey', fx.globex.ownerKey, { permission: 'all', scopes: [], workspace_id: null, owner: 'Hank Scorpio' }],
];

describe('README.md documents the seeded fixtures', () => {
  it.each(keys)('%s: its row holds the seeded secret and key id', (path, key) => {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`${path}\``));
    expect(row, `README.md has no row for ${path}`).toBeDefined();
    expect(row).toContain(`\`${key.secret}\``);
    expect(row).toContain(`\`${key.id}\``);
  });

  it('every other fixture id is in the README', () => {
    const ids = [fx.acme.id, fx.acme.owner.id, fx.acme.machineUser.id, fx.acme.workspace.id, fx.acme.tag.id, fx.globex.id, fx.globex.owner.id, fx.globex.workspace.id];
    for (const id of ids) expect(readme).toContain(`\`${id}\``);
    expect(readme).toContain(FIXTURE_NOW);
  });
});

describe('the fixture keys', () => {
  it.each(keys)('%s authenticates as itself with the documented permission and reach', async (_, key, expected) => {
    expect(isWellFormedKey({ crc32, sha256Hex: () => '', randomBytes: () => new Uint8Array() }, 'hey_', key.secret)).toBe(true);
    const res = await api.fetch(`${api.baseUrl}/v1/me`, { headers: { authorization: `Bearer ${key.secret}` } });
    expect(res.status).toBe(200);
    const me = await res.json();
    expect(me).toMatchObject({ key_id: key.id, name: key.name, workspace_id: expected.workspace_id, owner: { name: expected.owner } });
    expect(me.permission.type).toBe(expected.permission);
    if (expected.scopes.length > 0) expect(me.permission.scopes).toEqual(expected.scopes);
  });

  it('have never been used', async () => {
    const fresh = createMockApi();
    const { acme } = await fresh.ready;
    const res = await fresh.fetch(`${fresh.baseUrl}/v1/api-keys?limit=100`, { headers: { authorization: `Bearer ${acme.ownerKey.secret}` } });
    const list = (await res.json()).data as { name: string; last_used_at: string | null }[];
    // The owner key was just used to list; every other fixture key never was.
    expect(list.filter((k) => k.last_used_at !== null).map((k) => k.name)).toEqual(['Owner key']);
  });

  it('follow the key prefix', async () => {
    const custom = createMockApi({ keyPrefix: 'acme_' });
    const seeded = await custom.ready;
    expect(seeded.acme.ownerKey.secret).toBe(fixtureSecrets({ crc32 }, 'acme_').acmeOwner);
    expect(seeded.acme.ownerKey.secret).toMatch(/^acme_AcmeOwnerKey0+[0-9A-Za-z]{6}$/);
    const res = await custom.fetch(`${custom.baseUrl}/v1/me`, { headers: { authorization: `Bearer ${seeded.acme.ownerKey.secret}` } });
    expect(res.status).toBe(200);
  });
});

describe('stable', () => {
  it('the same ids and secrets after reset() and in another mock API', async () => {
    expect(await api.reset()).toEqual(fx);
    expect(await createMockApi().ready).toEqual(fx);
  });

  it('fixtures cannot be read before seeding finishes', async () => {
    const early = createMockApi();
    expect(() => early.fixtures).toThrow(/await mockApi.ready/);
    await early.ready;
    expect(early.fixtures).toEqual(fx);
  });
});
