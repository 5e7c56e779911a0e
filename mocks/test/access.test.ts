/**
 * Through plain fetch against msw's setupServer: the secret is shown once, 401 and 403 problems are
 * the server's (body and WWW-Authenticate), scopes and workspace reach hold, and one organization
 * never sees another's data.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setupMockServer } from '../src/node.ts';
import { caller } from './support.ts';

const mock = setupMockServer();
const call = caller(mock.api.baseUrl);
let fx: Awaited<typeof mock.api.ready>;

beforeAll(async () => {
  mock.listen();
  fx = await mock.api.ready;
});
afterEach(async () => {
  fx = await mock.reset();
});
afterAll(() => mock.close());

describe('the secret is shown once', () => {
  it('creation answers the secret with Cache-Control: no-store; reads and lists never show it again', async () => {
    const created = await call('/v1/api-keys', {
      key: fx.acme.ownerKey.secret,
      body: { name: 'CI deploy', permission: { type: 'restricted', resources: { tags: 'write' } }, expires_in_days: 30 },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    expect(created.body.secret).toMatch(/^hey_[0-9A-Za-z]{36}$/);
    expect(created.body).toMatchObject({
      name: 'CI deploy',
      hint: `hey_...${created.body.secret.slice(-4)}`,
      permission: { type: 'restricted', scopes: ['tags:read', 'tags:write'] },
      owner: { type: 'user', id: fx.acme.owner.id, name: 'Ada Lovelace' },
      expires_at: '2026-01-31T00:00:00.000Z',
      status: 'active',
    });

    const read = await call(`/v1/api-keys/${created.body.id}`, { key: fx.acme.ownerKey.secret });
    expect(read.status).toBe(200);
    expect(read.headers.get('cache-control')).toBeNull();
    expect(read.body).not.toHaveProperty('secret');
    expect(read.body).toMatchObject({ id: created.body.id, hint: created.body.hint });

    const list = await call('/v1/api-keys?limit=100', { key: fx.acme.ownerKey.secret });
    expect(list.status).toBe(200);
    expect(list.body.data.map((k: { id: string }) => k.id)).toContain(created.body.id);
    expect(JSON.stringify(list.body)).not.toContain(created.body.secret);
    for (const key of list.body.data) expect(key).not.toHaveProperty('secret');

    const me = await call('/v1/me', { key: created.body.secret });
    expect(me.body).toMatchObject({ key_id: created.body.id, auth_scheme: 'bearer' });
  });
});

describe('401 and 403 problems', () => {
  it('no key: 401 with a challenge for both schemes', async () => {
    const res = await call('/v1/me');
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="heykeys", Basic realm="heykeys", charset="UTF-8"');
    expect(res.body).toMatchObject({ status: 401, code: 'unauthorized', instance: '/v1/me' });
  });

  it('a key without the scope: 403 naming it, with the body and challenge of server/src/http/core/problems.ts', async () => {
    const res = await call('/v1/api-keys', {
      key: fx.acme.readOnlyKey.secret,
      body: { name: 'escalate' },
      headers: { 'x-request-id': 'req-403' },
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="heykeys", error="insufficient_scope", scope="api_keys:write"');
    expect(res.headers.get('x-request-id')).toBe('req-403');
    expect(res.body).toEqual({
      type: 'https://heykeys.dev/problems/insufficient-scope',
      title: 'Forbidden',
      status: 403,
      code: 'insufficient_scope',
      detail: 'This API key lacks the permission api_keys:write needed for createApiKey.',
      instance: '/v1/api-keys',
      request_id: 'req-403',
      required_scopes: ['api_keys:write'],
      missing_scopes: ['api_keys:write'],
    });
  });

  it('the {tags: read} key reads tags and nothing else', async () => {
    const ws = fx.acme.workspace.id;
    const tags = await call(`/v1/workspaces/${ws}/tags`, { key: fx.acme.tagsReaderKey.secret });
    expect(tags.status).toBe(200);
    expect(tags.body.data).toEqual([expect.objectContaining({ id: fx.acme.tag.id, name: 'newsletter' })]);
    const write = await call(`/v1/workspaces/${ws}/tags`, { key: fx.acme.tagsReaderKey.secret, body: { name: 'promo' } });
    expect(write.status).toBe(403);
    expect(write.body.missing_scopes).toEqual(['tags:write']);
    const keys = await call('/v1/api-keys', { key: fx.acme.tagsReaderKey.secret });
    expect(keys.status).toBe(403);
    expect(keys.body.detail).toBe('This API key lacks the permission api_keys:read needed for listApiKeys.');
  });

  it('a key can never mint a key wider than itself', async () => {
    const res = await call('/v1/api-keys', {
      key: fx.acme.machineKey.secret,
      body: { name: 'wider', permission: { type: 'all' }, owner: { type: 'machine', name: 'bot-2' } },
    });
    // ci-bot lacks api_keys:write in the first place.
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('insufficient_scope');
  });

  it('Basic with any username and the key as password works like Bearer', async () => {
    const res = await fetch(`${mock.api.baseUrl}/v1/me`, {
      headers: { authorization: `Basic ${btoa(`anyone:${fx.acme.readOnlyKey.secret}`)}` },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ key_id: fx.acme.readOnlyKey.id, auth_scheme: 'basic' });
  });
});

describe('workspace access', () => {
  it('a workspace-level key works inside its workspace; organization-level keys stay out of its reach', async () => {
    const key = fx.acme.workspaceKey.secret;
    const me = await call('/v1/me', { key });
    expect(me.body).toMatchObject({ workspace_id: fx.acme.workspace.id });
    const tags = await call(`/v1/workspaces/${fx.acme.workspace.id}/tags`, { key, body: { name: 'promo' } });
    expect(tags.status).toBe(201);
    const workspaces = await call('/v1/workspaces', { key });
    expect(workspaces.status).toBe(403);
    expect(workspaces.body.missing_scopes).toEqual(['workspaces:read']);
    const other = await call(`/v1/workspaces/${fx.globex.workspace.id}/tags`, { key });
    expect(other.status).toBe(404);
  });

  it('a workspace-level key lists only keys pinned to its workspace and cannot create organization-level keys', async () => {
    const owner = fx.acme.ownerKey.secret;
    const pinned = await call(`/v1/workspaces/${fx.acme.workspace.id}/api-keys`, {
      key: owner,
      body: { name: 'pinned admin', permission: { type: 'restricted', resources: { api_keys: 'write', tags: 'write' } } },
    });
    expect(pinned.status).toBe(201);
    const visible = await call('/v1/api-keys?limit=100', { key: pinned.body.secret });
    expect(visible.status).toBe(200);
    expect(visible.body.data.map((k: { id: string }) => k.id).sort()).toEqual([fx.acme.workspaceKey.id, pinned.body.id].sort());
    const escape = await call('/v1/api-keys', { key: pinned.body.secret, body: { name: 'org-level', permission: { type: 'restricted', scopes: ['tags:read'] } } });
    expect(escape.status).toBe(403);
    expect(escape.body.code).toBe('workspace_forbidden');
  });
});

describe('tenant isolation', () => {
  it("another organization's ids answer 404, exactly like missing ones", async () => {
    const globex = fx.globex.ownerKey.secret;
    const key = await call(`/v1/api-keys/${fx.acme.readOnlyKey.id}`, { key: globex });
    expect(key.status).toBe(404);
    expect(key.body).toMatchObject({ code: 'not_found', detail: `No API key with id ${fx.acme.readOnlyKey.id}.` });
    const missing = await call('/v1/api-keys/key_0000000000missing', { key: globex });
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toBe('No API key with id key_0000000000missing.');

    expect((await call(`/v1/workspaces/${fx.acme.workspace.id}`, { key: globex })).status).toBe(404);
    expect((await call(`/v1/api-keys/${fx.acme.readOnlyKey.id}`, { key: globex, method: 'DELETE' })).status).toBe(404);
    // …and the key Globex tried to revoke still works.
    expect((await call('/v1/me', { key: fx.acme.readOnlyKey.secret })).status).toBe(200);
  });

  it('lists only hold the caller\'s organization', async () => {
    const list = await call('/v1/api-keys?limit=100', { key: fx.globex.ownerKey.secret });
    expect(list.body.data.map((k: { id: string }) => k.id)).toEqual([fx.globex.ownerKey.id]);
    const members = await call('/v1/members', { key: fx.acme.ownerKey.secret });
    expect(members.body).toMatchObject({ seat_count: 1, machine_user_count: 1 });
    expect(members.body.data.map((m: { name: string }) => m.name).sort()).toEqual(['Ada Lovelace', 'ci-bot']);
  });

  it("verify reports another organization's secret as NOT_FOUND", async () => {
    const res = await call('/v1/api-keys/verify', { key: fx.acme.ownerKey.secret, body: { secret: fx.globex.ownerKey.secret } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ valid: false, code: 'NOT_FOUND', key: null });
  });
});
