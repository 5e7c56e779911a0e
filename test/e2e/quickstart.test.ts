/**
 * The foundation issue's check, as a new user would do it: the real `npm start` process on an
 * empty SQLite data folder, plain HTTP, the CLI for a second organization. Also proves a secret
 * never shows up again: not in any later response, not in the process output, not on disk.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnServer, type ServerProcess } from '../support/process.ts';

let server: ServerProcess;
const secrets: string[] = [];
/** Every response body received after the secrets were handed out. */
const laterBodies: string[] = [];

async function call(method: string, path: string, auth: string | null, body?: unknown) {
  const headers: Record<string, string> = {};
  if (auth) headers['authorization'] = auth;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(server.url + path, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text ? JSON.parse(text) : null };
}
const bearer = (s: string) => `Bearer ${s}`;

beforeAll(async () => {
  server = await spawnServer();
});
afterAll(async () => {
  if (server.child.exitCode === null) await server.stop();
  rmSync(server.dataDir, { recursive: true, force: true });
});

describe('quick start on the embedded store', () => {
  let owner: string;
  let readOnly: { id: string; secret: string };
  let tagsRead: { id: string; secret: string };

  it('prints an owner key once at first start', () => {
    expect(server.ownerSecret).toMatch(/^hey_[0-9A-Za-z]{36}$/);
    owner = server.ownerSecret!;
    secrets.push(owner);
    expect(server.output().split(owner).length - 1).toBe(1);
  });

  it('the owner key creates a read-only key and a restricted {tags: read} key, secrets shown once with no-store', async () => {
    const ro = await call('POST', '/v1/api-keys', bearer(owner), { name: 'reader', permission: { type: 'read_only' } });
    expect(ro.status).toBe(201);
    expect(ro.headers.get('cache-control')).toBe('no-store');
    expect(ro.json.permission.type).toBe('read_only');
    readOnly = { id: ro.json.id, secret: ro.json.secret };
    const tr = await call('POST', '/v1/api-keys', bearer(owner), { name: 'tags', permission: { type: 'restricted', resources: { tags: 'read' } } });
    expect(tr.status).toBe(201);
    expect(tr.json.permission).toEqual({ type: 'restricted', scopes: ['tags:read'] });
    tagsRead = { id: tr.json.id, secret: tr.json.secret };
    secrets.push(readOnly.secret, tagsRead.secret);
    expect(tr.json.hint).toBe(`hey_...${tagsRead.secret.slice(-4)}`);
  });

  it('each is refused with a 403 naming api_keys:write when it tries to create a key', async () => {
    for (const k of [readOnly, tagsRead]) {
      const r = await call('POST', '/v1/api-keys', bearer(k.secret), { name: 'nope', permission: { type: 'read_only' } });
      laterBodies.push(r.text);
      expect(r.status).toBe(403);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
      expect(r.json.detail).toContain('api_keys:write');
      expect(r.json.missing_scopes).toEqual(['api_keys:write']);
    }
  });

  it('Basic with any username and the key as password works', async () => {
    const basic = `Basic ${Buffer.from(`whoever:${readOnly.secret}`).toString('base64')}`;
    const r = await call('GET', '/v1/me', basic);
    laterBodies.push(r.text);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ key_id: readOnly.id, auth_scheme: 'basic' });
  });

  it('lists and reads keys without secrets', async () => {
    const list = await call('GET', '/v1/api-keys', bearer(owner));
    laterBodies.push(list.text);
    expect(list.json.data.map((k: { id: string }) => k.id)).toEqual(expect.arrayContaining([readOnly.id, tagsRead.id]));
    laterBodies.push((await call('GET', `/v1/api-keys/${readOnly.id}`, bearer(owner))).text);
    laterBodies.push((await call('GET', '/v1/audit-events', bearer(owner))).text);
    laterBodies.push((await call('GET', '/v1/members', bearer(owner))).text);
  });

  it('a revoked key fails on the very next request', async () => {
    expect((await call('GET', '/v1/me', bearer(tagsRead.secret))).status).toBe(200);
    const revoke = await call('DELETE', `/v1/api-keys/${tagsRead.id}`, bearer(owner));
    expect(revoke.status).toBe(204);
    const next = await call('GET', '/v1/me', bearer(tagsRead.secret));
    laterBodies.push(next.text);
    expect(next.status).toBe(401);
    expect(next.json.code).toBe('key_revoked');
    expect(next.headers.get('www-authenticate')).toContain('Bearer realm="heykeys"');
    expect((await call('GET', `/v1/api-keys/${tagsRead.id}`, bearer(owner))).status).toBe(404);
  });

  it("a second organization (made with the CLI while the server runs) gets 404 on the first one's keys", async () => {
    const out = JSON.parse(await runCli(['org', 'create', '--name', 'Globex', '--owner-email', 'g@globex.test', '--json'], { DATA_DIR: server.dataDir }));
    expect(out.secret).toMatch(/^hey_[0-9A-Za-z]{36}$/);
    expect(out.organization.name).toBe('Globex');
    secrets.push(out.secret);
    const theirs = await call('GET', `/v1/api-keys/${readOnly.id}`, bearer(out.secret));
    const missing = await call('GET', '/v1/api-keys/key_0000000000000000000000', bearer(out.secret));
    laterBodies.push(theirs.text);
    expect(theirs.status).toBe(404);
    // Same body as a key that does not exist at all, but for the id and request id.
    const strip = (j: Record<string, unknown>) => ({ ...j, detail: String(j['detail']).replace(/key_\w+/, 'ID'), instance: null, request_id: null });
    expect(strip(theirs.json)).toEqual(strip(missing.json));
    const list = await call('GET', '/v1/api-keys', bearer(out.secret));
    expect(list.json.data.map((k: { id: string }) => k.id)).not.toContain(readOnly.id);
  });

  it('restarts on the same data folder without a new owner key, and keeps every key', async () => {
    expect(await server.stop()).toBe(0);
    server = await spawnServer({ dataDir: server.dataDir });
    expect(server.ownerSecret).toBeNull();
    expect((await call('GET', '/v1/me', bearer(owner))).status).toBe(200);
    expect((await call('GET', '/v1/me', bearer(tagsRead.secret))).status).toBe(401);
    const usage = await call('GET', `/v1/api-keys/${readOnly.id}/usage`, bearer(owner));
    laterBodies.push(usage.text);
    // Its two requests (the refused create and the Basic /me), flushed when the first process stopped.
    expect(usage.json.counts).toMatchObject({ total: 2, success: 1, client_error: 1 });
    expect(usage.json.data.map((u: { route: string; status: number }) => `${u.route} ${u.status}`)).toEqual(['/v1/me 200', '/v1/api-keys 403']);
  });

  it('no secret appears in any later response, in the output after its one print, or in the data folder', async () => {
    await server.stop();
    for (const body of laterBodies) for (const s of secrets) expect(body).not.toContain(s);
    const output = server.output();
    for (const s of secrets) expect(output).not.toContain(s);
    const files = readdirSync(server.dataDir, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const bytes = readFileSync(join(f.parentPath, f.name)).toString('latin1');
      for (const s of secrets) {
        expect(bytes).not.toContain(s);
        expect(bytes).not.toContain(s.slice(4, 34)); // not even the random part
      }
    }
  });
});
