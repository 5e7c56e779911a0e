/**
 * Crash safety on PostgreSQL: a server process killed with SIGKILL loses at most the usage-log
 * entries and last-use times of its last batch window (they are written every FLUSH_INTERVAL_MS,
 * off the request path), and nothing it acknowledged otherwise: every change answered 2xx is there
 * after a restart. A clean stop (SIGTERM) loses nothing at all.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer, type ServerProcess } from '../support/process.ts';
import { createTestSchema, postgresTarget, type TestSchema } from '../support/postgres.ts';

const target = postgresTarget('PostgreSQL SIGKILL and restart');
const FLUSH_INTERVAL_MS = 200;

interface Reply {
  status: number;
  json: Record<string, unknown> & { code?: string; data?: Array<Record<string, unknown>> };
}

describe.skipIf(target.skip)('a server process killed with SIGKILL, then restarted, on PostgreSQL', () => {
  let schema: TestSchema;
  let server: ServerProcess;
  let owner: string;
  const env = () => ({ DATABASE_URL: schema.url, FLUSH_INTERVAL_MS: String(FLUSH_INTERVAL_MS), RATE_LIMIT_PER_MINUTE: '0' });

  beforeAll(async () => {
    schema = await createTestSchema(target.url());
    server = await spawnServer({ env: env() });
    owner = server.ownerSecret!;
  });
  afterAll(async () => {
    if (server && server.child.exitCode === null && server.child.signalCode === null) await server.stop();
    if (server) rmSync(server.dataDir, { recursive: true, force: true });
    await schema?.drop();
  });

  async function call(method: string, path: string, body?: unknown, secret = owner): Promise<Reply> {
    const headers: Record<string, string> = { authorization: `Bearer ${secret}`, 'user-agent': 'sigkill-test' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(server.url + path, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : {} };
  }
  async function restart(how: 'kill' | 'stop'): Promise<void> {
    if (how === 'kill') await server.kill();
    else expect(await server.stop()).toBe(0);
    rmSync(server.dataDir, { recursive: true, force: true });
    server = await spawnServer({ env: env() });
    expect(server.ownerSecret).toBeNull(); // the same store: nothing bootstrapped again
  }
  async function usageOf(keyId: string): Promise<Array<{ at: string }>> {
    const entries: Array<{ at: string }> = [];
    let cursor: unknown = null;
    do {
      const page = await call('GET', `/v1/api-keys/${keyId}/usage?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      entries.push(...(page.json.data as Array<{ at: string }>));
      cursor = page.json['next_cursor'];
    } while (cursor);
    return entries;
  }

  it('keeps every acknowledged change and all usage older than one batch window; loses at most the last window', async () => {
    const used = await call('POST', '/v1/api-keys', { name: 'used' });
    const usedId = used.json['id'] as string;
    const usedSecret = used.json['secret'] as string;

    // Older than the batch window when the process dies: must all survive.
    const early = 30;
    for (let i = 0; i < early; i++) expect((await call('GET', '/v1/me', undefined, usedSecret)).status).toBe(200);
    const earlyDone = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 4 * FLUSH_INTERVAL_MS));

    // Acknowledged changes, answered shortly before the kill.
    const kept = await call('POST', '/v1/api-keys', { name: 'created just before the kill' });
    const revoked = await call('POST', '/v1/api-keys', { name: 'revoked just before the kill' });
    const disabled = await call('POST', '/v1/api-keys', { name: 'disabled just before the kill' });
    const workspace = await call('POST', '/v1/workspaces', { name: 'created just before the kill' });
    expect((await call('DELETE', `/v1/api-keys/${revoked.json['id']}`)).status).toBe(204);
    expect((await call('POST', `/v1/api-keys/${disabled.json['id']}/disable`)).status).toBe(200);
    expect((await call('PATCH', '/v1/policy', { inactivity_days: 45 })).status).toBe(200);

    // Within the last window: may be lost, and only these.
    const late = 20;
    for (let i = 0; i < late; i++) expect((await call('GET', '/v1/me', undefined, usedSecret)).status).toBe(200);

    await restart('kill');

    expect((await call('GET', `/v1/api-keys/${kept.json['id']}`)).status).toBe(200);
    expect((await call('GET', '/v1/me', undefined, kept.json['secret'] as string)).status).toBe(200);
    expect((await call('GET', '/v1/me', undefined, revoked.json['secret'] as string)).json.code).toBe('key_revoked');
    expect((await call('GET', '/v1/me', undefined, disabled.json['secret'] as string)).json.code).toBe('key_disabled');
    expect((await call('GET', `/v1/workspaces/${workspace.json['id']}`)).status).toBe(200);
    expect((await call('GET', '/v1/policy')).json['inactivity_days']).toBe(45);

    const entries = await usageOf(usedId);
    // An entry is timed when its answer has been sent, which can be a millisecond after this
    // process saw the answer; the late requests began four flush intervals after the early ones.
    const olderThanWindow = entries.filter((e) => Date.parse(e.at) <= earlyDone + FLUSH_INTERVAL_MS);
    expect(olderThanWindow).toHaveLength(early);
    const lost = early + late - entries.length;
    expect(lost).toBeGreaterThanOrEqual(0);
    expect(lost).toBeLessThanOrEqual(late);
    const key = await call('GET', `/v1/api-keys/${usedId}`);
    expect(Date.parse(key.json['last_used_at'] as string)).toBeGreaterThanOrEqual(earlyDone - 1000);
    console.log(`[postgres] SIGKILL with FLUSH_INTERVAL_MS=${FLUSH_INTERVAL_MS}: ${early}/${early} older usage entries kept, ${lost} of the last ${late} lost; every acknowledged change kept`);
  });

  it('a clean stop (SIGTERM) flushes everything first', async () => {
    const key = await call('POST', '/v1/api-keys', { name: 'used before a clean stop' });
    for (let i = 0; i < 25; i++) expect((await call('GET', '/v1/me', undefined, key.json['secret'] as string)).status).toBe(200);
    const lastUse = Date.now();
    await restart('stop');
    expect(await usageOf(key.json['id'] as string)).toHaveLength(25);
    expect(Date.parse((await call('GET', `/v1/api-keys/${key.json['id']}`)).json['last_used_at'] as string)).toBeGreaterThanOrEqual(lastUse - 1000);
  });
});
