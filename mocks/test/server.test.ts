/**
 * The msw side: strict about unhandled requests, a configurable base URL, reset() between tests,
 * the 400 for a bad body, and the same API without msw through `mockApi.fetch`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createMockApi, DAY, FIXTURE_NOW, setupMockServer } from '../src/node.ts';
import { caller } from './support.ts';

const mock = setupMockServer();
const call = caller(mock.api.baseUrl);
let fx: Awaited<typeof mock.api.ready>;

beforeAll(async () => {
  mock.listen();
  fx = await mock.api.ready;
});
afterEach(async () => {
  vi.restoreAllMocks();
  fx = await mock.reset();
});
afterAll(() => mock.close());

describe('validation', () => {
  it('a bad body is a 400 listing every failing field, as the server words and orders them (checked against it in parity.test.ts)', async () => {
    const res = await call('/v1/api-keys', {
      key: fx.acme.ownerKey.secret,
      body: { name: '', expires_in_days: 5, permission: { type: 'restricted', scopes: ['nope:read'] }, colour: 'red' },
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ type: 'https://heykeys.dev/problems/validation', code: 'validation', instance: '/v1/api-keys' });
    expect(res.body.errors).toEqual([
      { field: 'body/name', message: 'must NOT have fewer than 1 characters' },
      { field: 'body/permission/scopes', message: 'must NOT have additional properties' },
      { field: 'body/permission/type', message: 'must be equal to constant' },
      { field: 'body/permission/scopes/0', message: 'must be equal to one of the allowed values: campaigns:read, campaigns:write, analytics:read, analytics:write, workspaces:read, workspaces:write, domains:read, domains:write, tags:read, tags:write, api_keys:read, api_keys:write' },
      { field: 'body/permission/resources', message: "must have required property 'resources'" },
      { field: 'body/permission', message: 'must match exactly one schema in oneOf' },
      { field: 'body/expires_in_days', message: 'must be equal to one of the allowed values: 7, 30, 60, 90' },
      { field: 'body/colour', message: 'must NOT have unevaluated properties' },
    ]);
    expect(res.body.detail).toMatch(/^The request has 8 invalid fields: body\/name must NOT have fewer than 1 characters; /);
  });

  it('authentication comes first: a bad body from an unknown key is a 401, not a 400', async () => {
    const res = await call('/v1/api-keys', { key: 'hey_0000000000000000000000000000003UpZ4E', body: { name: '' } });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('unknown_key');
  });

  it('a body that is not JSON: 415 without a JSON media type, 400 for broken JSON', async () => {
    const key = fx.acme.ownerKey.secret;
    const text = await fetch(`${mock.api.baseUrl}/v1/workspaces`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'text/plain' },
      body: 'name=x',
    });
    expect(text.status).toBe(415);
    expect((await text.json()).detail).toBe('Send the body as application/json.');
    const broken = await call('/v1/workspaces', { key, body: undefined, headers: { 'content-type': 'application/json' }, method: 'POST' });
    expect(broken.status).toBe(400);
    expect(broken.body.errors).toEqual([{ field: 'body/name', message: "must have required property 'name'" }]);
  });

  it('query parameters are checked too: unknown names and out-of-range values', async () => {
    const key = fx.acme.ownerKey.secret;
    expect((await call('/v1/api-keys?colour=red', { key })).body.errors).toEqual([{ field: 'query/colour', message: "Unknown query parameter 'colour'" }]);
    expect((await call('/v1/api-keys?limit=101', { key })).body.errors).toEqual([{ field: 'query/limit', message: 'must be <= 100' }]);
  });
});

describe('routes', () => {
  it('unknown routes and methods under /v1 answer the server\'s 404 and 405 problems', async () => {
    const missing = await call('/v1/nothing-here', { key: fx.acme.ownerKey.secret });
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toBe('No such route. The API is described in openapi.yaml.');
    const method = await call('/v1/me', { key: fx.acme.ownerKey.secret, method: 'PUT', body: {} });
    expect(method.status).toBe(405);
    expect(method.body.detail).toBe('PUT method not allowed; this path accepts GET.');
  });
});

describe('strict about unhandled requests', () => {
  it('a request no handler answers fails instead of reaching the network', async () => {
    const printed = vi.spyOn(console, 'error').mockImplementation(() => {});
    await expect(fetch('http://localhost:4000/v1/me')).rejects.toThrow();
    await expect(fetch(`${mock.api.baseUrl}/health`)).rejects.toThrow();
    expect(printed.mock.calls.flat().join('\n')).toContain('http://localhost:4000/v1/me');
  });
});

describe('reset()', () => {
  it('restores the fixtures and the clock: keys made since are gone, changed fixtures are back', async () => {
    const created = await call('/v1/api-keys', { key: fx.acme.ownerKey.secret, body: { name: 'temporary' } });
    await call(`/v1/api-keys/${fx.acme.readOnlyKey.id}`, { key: fx.acme.ownerKey.secret, method: 'DELETE' });
    mock.api.clock.advance(3 * DAY);
    const before = fx;

    const after = await mock.reset();
    expect(after).toEqual(before);
    expect(new Date(mock.api.clock.now()).toISOString()).toBe(FIXTURE_NOW);
    expect((await call('/v1/me', { key: created.body.secret })).body.code).toBe('unknown_key');
    expect((await call('/v1/me', { key: fx.acme.readOnlyKey.secret })).status).toBe(200);
    const list = await call('/v1/api-keys?limit=100', { key: fx.acme.ownerKey.secret });
    expect(list.body.data).toHaveLength(5);
  });

  it('also drops handlers added with server.use()', async () => {
    const { http, HttpResponse } = await import('msw');
    mock.server.use(http.get(`${mock.api.baseUrl}/v1/me`, () => HttpResponse.json({ overridden: true })));
    expect((await call('/v1/me', { key: fx.acme.ownerKey.secret })).body).toEqual({ overridden: true });
    await mock.reset();
    expect((await call('/v1/me', { key: fx.acme.ownerKey.secret })).body).toMatchObject({ key_id: fx.acme.ownerKey.id });
  });
});

describe('without msw', () => {
  it('mockApi.fetch answers from the mock directly, at any base URL with a path prefix', async () => {
    const api = createMockApi({ baseUrl: 'https://keys.example.test/heykeys/' });
    const { acme } = await api.ready;
    expect(api.baseUrl).toBe('https://keys.example.test/heykeys');
    const res = await api.fetch('https://keys.example.test/heykeys/v1/me', { headers: { authorization: `Bearer ${acme.ownerKey.secret}` } });
    expect(res.status).toBe(200);
    expect((await res.json()).key_id).toBe(acme.ownerKey.id);
    await expect(api.fetch('https://keys.example.test/v1/me')).rejects.toThrow(/was asked for https:\/\/keys.example.test\/v1\/me/);
  });
});
