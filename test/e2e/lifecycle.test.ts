/**
 * The lifecycle issue's check, as a new user would do it with curl against `npm start`: machine
 * users, seats, workspace access on tags, expiry, disable/enable, rotation, usage, audit, verify.
 * Real process, real clock (the waits are a few seconds at most), SQLite store.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer, type ServerProcess } from '../support/process.ts';

let server: ServerProcess;
let owner: string;
const handedOut: string[] = [];

async function call(method: string, path: string, secret: string | null, body?: unknown) {
  const headers: Record<string, string> = { 'user-agent': 'lifecycle-test' };
  if (secret) headers['authorization'] = `Bearer ${secret}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(server.url + path, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, text, json: text ? JSON.parse(text) : null };
}
async function createKey(body: Record<string, unknown>, path = '/v1/api-keys', as = owner) {
  const r = await call('POST', path, as, body);
  expect(r.status, r.text).toBe(201);
  handedOut.push(r.json.secret);
  return r.json as { id: string; secret: string; owner: { id: string; type: string } };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  server = await spawnServer();
  owner = server.ownerSecret!;
});
afterAll(async () => {
  await server.stop();
  rmSync(server.dataDir, { recursive: true, force: true });
});

describe('machine users', () => {
  it('an owner creates one; People lists it without counting a seat; deleting the key deletes the machine user', async () => {
    const key = await createKey({ name: 'ci', owner: { type: 'machine', name: 'ci-bot' } });
    expect(key.owner.type).toBe('machine');
    const people = await call('GET', '/v1/members', owner);
    expect(people.json.seat_count).toBe(1);
    expect(people.json.machine_user_count).toBe(1);
    expect(people.json.data).toEqual(expect.arrayContaining([expect.objectContaining({ id: key.owner.id, type: 'machine', api_key_id: key.id })]));
    expect((await call('DELETE', `/v1/api-keys/${key.id}`, owner)).status).toBe(204);
    const after = await call('GET', '/v1/members', owner);
    expect(after.json.machine_user_count).toBe(0);
    expect(after.json.data.map((m: { id: string }) => m.id)).not.toContain(key.owner.id);
  });

  it('deleting the machine user revokes its key', async () => {
    const key = await createKey({ name: 'ci2', owner: { type: 'machine', name: 'ci-bot-2' } });
    expect((await call('GET', '/v1/me', key.secret)).status).toBe(200);
    expect((await call('DELETE', `/v1/members/${key.owner.id}`, owner)).status).toBe(204);
    expect((await call('GET', '/v1/me', key.secret)).json.code).toBe('key_revoked');
    expect((await call('GET', `/v1/api-keys/${key.id}`, owner)).status).toBe(404);
  });

  it('only owners may create machine users', async () => {
    const bot = await createKey({ name: 'bot', owner: { type: 'machine', name: 'bot' } });
    const r = await call('POST', '/v1/api-keys', bot.secret, { name: 'x', permission: { type: 'read_only' }, owner: { type: 'machine', name: 'y' } });
    expect(r.status).toBe(403);
    expect(r.json.detail).toContain('Only workspace owners may create machine users');
  });
});

describe('workspaces and tags', () => {
  it('all, selected and workspace-level keys reach exactly their workspaces, including ones created later', async () => {
    const ws1 = (await call('POST', '/v1/workspaces', owner, { name: 'one' })).json;
    const tagsOnly = { type: 'restricted', resources: { tags: 'write' } };
    const all = await createKey({ name: 'all', permission: tagsOnly });
    const selected = await createKey({ name: 'sel', permission: tagsOnly, workspace_access: { type: 'selected', workspace_ids: [ws1.id] } });
    const ws2 = (await call('POST', '/v1/workspaces', owner, { name: 'two, created after the keys' })).json;
    const pinned = await createKey({ name: 'pinned', permission: tagsOnly }, `/v1/workspaces/${ws2.id}/api-keys`);
    const tagStatus = async (secret: string, wsId: string) => (await call('POST', `/v1/workspaces/${wsId}/tags`, secret, { name: `t-${Math.random()}` })).status;
    expect(await tagStatus(all.secret, ws1.id)).toBe(201);
    expect(await tagStatus(all.secret, ws2.id)).toBe(201);
    expect(await tagStatus(selected.secret, ws1.id)).toBe(201);
    expect(await tagStatus(selected.secret, ws2.id)).toBe(404);
    expect(await tagStatus(pinned.secret, ws2.id)).toBe(201);
    expect(await tagStatus(pinned.secret, ws1.id)).toBe(404);
    const listed = await call('GET', `/v1/workspaces/${ws2.id}/tags`, pinned.secret);
    expect(listed.json.data).toHaveLength(2);
    // a workspace-level key sees only its workspace's keys
    const pinnedReader = await createKey({ name: 'pinned reader', permission: { type: 'read_only' } }, `/v1/workspaces/${ws2.id}/api-keys`);
    const seen = await call('GET', '/v1/api-keys', pinnedReader.secret);
    expect(seen.json.data.map((k: { id: string }) => k.id).sort()).toEqual([pinned.id, pinnedReader.id].sort());
  });
});

describe('expiry, disable and enable', () => {
  it('a key with an expiry date a few seconds away stops working after it', async () => {
    const expiresAt = new Date(Date.now() + 2000).toISOString();
    const key = await createKey({ name: 'short', expires_at: expiresAt });
    expect((await call('GET', '/v1/me', key.secret)).status).toBe(200);
    await sleep(Date.parse(expiresAt) - Date.now() + 50);
    const r = await call('GET', '/v1/me', key.secret);
    expect(r.status).toBe(401);
    expect(r.json.detail).toBe(`The API key expired on ${expiresAt}.`);
  });

  it('disable → 401, enable → works, enable a revoked key → 409', async () => {
    const key = await createKey({ name: 'toggle' });
    expect((await call('POST', `/v1/api-keys/${key.id}/disable`, owner)).json).toMatchObject({ status: 'disabled', disabled_reason: 'manual' });
    expect((await call('GET', '/v1/me', key.secret)).json.code).toBe('key_disabled');
    expect((await call('POST', `/v1/api-keys/${key.id}/enable`, owner)).json).toMatchObject({ status: 'active', disabled_reason: null });
    expect((await call('GET', '/v1/me', key.secret)).status).toBe(200);
    await call('DELETE', `/v1/api-keys/${key.id}`, owner);
    const r = await call('POST', `/v1/api-keys/${key.id}/enable`, owner);
    expect(r.status).toBe(409);
    expect(r.json.code).toBe('key_revoked');
  });

  it('a policy that requires expiry answers 422 naming the rule', async () => {
    expect((await call('PATCH', '/v1/policy', owner, { require_expiry: true })).status).toBe(200);
    const r = await call('POST', '/v1/api-keys', owner, { name: 'forever', expires_at: null });
    expect(r.status).toBe(422);
    expect(r.json.policy).toBe('require_expiry');
    expect((await call('PATCH', '/v1/policy', owner, { require_expiry: false })).status).toBe(200);
  });
});

describe('rotation', () => {
  it('the old secret works during a short grace period, then fails; last use of both is visible', async () => {
    const key = await createKey({ name: 'rotating' });
    const rotated = await call('POST', `/v1/api-keys/${key.id}/rotate`, owner, { grace_period_seconds: 2 });
    expect(rotated.status).toBe(200);
    handedOut.push(rotated.json.secret);
    expect(rotated.json.secret).not.toBe(key.secret);
    expect((await call('GET', '/v1/me', key.secret)).status).toBe(200);
    expect((await call('GET', '/v1/me', rotated.json.secret)).status).toBe(200);
    const during = await call('GET', `/v1/api-keys/${key.id}`, owner);
    expect(during.json.previous_secret).toMatchObject({ hint: `hey_...${key.secret.slice(-4)}` });
    expect(during.json.previous_secret.last_used_at).not.toBeNull();
    await sleep(Date.parse(during.json.previous_secret.expires_at) - Date.now() + 50);
    const r = await call('GET', '/v1/me', key.secret);
    expect(r.status).toBe(401);
    expect(r.json.code).toBe('secret_rotated');
    expect((await call('GET', '/v1/me', rotated.json.secret)).status).toBe(200);
  });
});

describe('usage and audit logs', () => {
  it('record what was done, with no secret in them', async () => {
    const key = await createKey({ name: 'logged', permission: { type: 'read_only' } });
    await call('GET', '/v1/me', key.secret);
    await call('GET', '/v1/api-keys', key.secret);
    await call('POST', '/v1/api-keys', key.secret, { name: 'x' });
    await call('PATCH', `/v1/api-keys/${key.id}`, owner, { name: 'logged and renamed' });
    const usage = await call('GET', `/v1/api-keys/${key.id}/usage`, owner);
    expect(usage.json.counts).toMatchObject({ total: 3, success: 2, client_error: 1 });
    expect(usage.json.data[0]).toMatchObject({ method: 'POST', route: '/v1/api-keys', status: 403, ip: '127.0.0.1', user_agent: 'lifecycle-test', secret: 'current' });
    const audit = await call('GET', `/v1/audit-events?key_id=${key.id}`, owner);
    expect(audit.json.data.map((e: { action: string }) => e.action)).toEqual(['api_key.updated', 'api_key.created']);
    expect(audit.json.data[0].changes).toEqual({ name: { from: 'logged', to: 'logged and renamed' } });
    expect(audit.json.data[0].actor.member.type).toBe('user');
    for (const s of [...handedOut, owner]) {
      expect(usage.text).not.toContain(s);
      expect(audit.text).not.toContain(s);
    }
  });
});

describe('verify', () => {
  it('answers every code', async () => {
    const ws = (await call('POST', '/v1/workspaces', owner, { name: 'verify' })).json;
    const good = await createKey({ name: 'v', permission: { type: 'restricted', scopes: ['tags:read'] }, workspace_access: { type: 'selected', workspace_ids: [ws.id] } });
    const disabled = await createKey({ name: 'd' });
    await call('POST', `/v1/api-keys/${disabled.id}/disable`, owner);
    const revoked = await createKey({ name: 'r' });
    await call('DELETE', `/v1/api-keys/${revoked.id}`, owner);
    const expiring = await createKey({ name: 'e', expires_at: new Date(Date.now() + 1000).toISOString() });
    const other = await call('POST', '/v1/workspaces', owner, { name: 'elsewhere' });
    await sleep(1100);
    const verify = async (body: Record<string, unknown>) => (await call('POST', '/v1/api-keys/verify', owner, body)).json;
    expect(await verify({ secret: good.secret, scopes: ['tags:read'], workspace_id: ws.id })).toMatchObject({ valid: true, code: 'VALID', failed_checks: [] });
    expect((await verify({ secret: 'hey_garbage' })).code).toBe('MALFORMED');
    expect((await verify({ secret: 'hey_0000000000000000000000000000003UpZ4E' })).code).toBe('NOT_FOUND');
    expect((await verify({ secret: expiring.secret })).code).toBe('EXPIRED');
    expect((await verify({ secret: disabled.secret })).code).toBe('DISABLED');
    expect((await verify({ secret: revoked.secret })).code).toBe('REVOKED');
    expect((await verify({ secret: good.secret, scopes: ['tags:write'] })).code).toBe('INSUFFICIENT_SCOPE');
    const both = await verify({ secret: good.secret, scopes: ['tags:write'], workspace_id: other.json.id });
    expect(both.failed_checks.map((c: { code: string }) => c.code)).toEqual(['INSUFFICIENT_SCOPE', 'WORKSPACE_FORBIDDEN']);
    expect((await verify({ secret: good.secret, workspace_id: other.json.id })).code).toBe('WORKSPACE_FORBIDDEN');
  });
});
