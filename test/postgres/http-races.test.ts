/**
 * Racing HTTP requests spread over two real server processes on one PostgreSQL schema: what a
 * load balancer in front of several instances produces. No acknowledged change is lost and no
 * rule breaks: the key cap, revoke beating enable, machine users deleted with their keys.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer, type ServerProcess } from '../support/process.ts';
import { createTestSchema, postgresTarget, type TestSchema } from '../support/postgres.ts';

const target = postgresTarget('PostgreSQL racing HTTP requests over two processes');

interface Reply {
  status: number;
  json: Record<string, unknown> & { code?: string; data?: Array<Record<string, unknown>> };
}

describe.skipIf(target.skip)('racing HTTP requests over two server processes', () => {
  let schema: TestSchema;
  let servers: [ServerProcess, ServerProcess];
  let owner: string;

  beforeAll(async () => {
    schema = await createTestSchema(target.url());
    // Rate limiting off: these tests send bursts on purpose.
    const env = { DATABASE_URL: schema.url, RATE_LIMIT_PER_MINUTE: '0' };
    const first = await spawnServer({ env, removeDataDir: true });
    servers = [first, await spawnServer({ env, removeDataDir: true })];
    owner = first.ownerSecret!;
  });
  afterAll(async () => {
    await Promise.all((servers ?? []).map((s) => (s.child.exitCode === null ? s.stop() : null)));
    await schema?.drop();
  });

  /** Request `i` goes to process i % 2, as round-robin balancing would send it. */
  async function call(i: number, method: string, path: string, body?: unknown, secret = owner): Promise<Reply> {
    const headers: Record<string, string> = { authorization: `Bearer ${secret}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(servers[i % 2]!.url + path, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : {} };
  }
  const all = <T>(n: number, f: (i: number) => Promise<T>) => Promise.all(Array.from({ length: n }, (_, i) => f(i)));

  async function unrevokedKeys(): Promise<Array<Record<string, unknown>>> {
    const keys: Array<Record<string, unknown>> = [];
    let cursor: unknown = null;
    do {
      const page = await call(0, 'GET', `/v1/api-keys?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      keys.push(...page.json.data!);
      cursor = page.json['next_cursor'];
    } while (cursor);
    return keys;
  }

  /**
   * Sets the cap through process 0 and waits until process 1 enforces it too: creates racing the
   * propagation itself (a few ms) would be judged by the old cap, which is the bound, not a race.
   */
  async function setMaxKeys(max_keys: number): Promise<void> {
    expect((await call(0, 'PATCH', '/v1/policy', { max_keys })).status).toBe(200);
    const deadline = Date.now() + 5000;
    while ((await call(1, 'GET', '/v1/policy')).json['max_keys'] !== max_keys) expect(Date.now()).toBeLessThan(deadline);
  }

  it('40 parallel creates (half of them machine users) never exceed max_keys; People matches the keys', async () => {
    const held = (await unrevokedKeys()).length;
    await setMaxKeys(held + 12);
    const replies = await all(40, (i) =>
      call(i, 'POST', '/v1/api-keys', { name: `burst ${i}`, ...(i % 2 ? { owner: { type: 'machine', name: `bot ${i}` } } : {}) }),
    );
    expect(replies.filter((r) => r.status === 201)).toHaveLength(12);
    const refused = replies.filter((r) => r.status !== 201);
    expect(refused).toHaveLength(28);
    for (const r of refused) expect(r).toMatchObject({ status: 422 });
    const keys = await unrevokedKeys();
    expect(keys).toHaveLength(held + 12);
    const members = await call(1, 'GET', '/v1/members?limit=100');
    const machineKeys = keys.filter((k) => (k['owner'] as { type: string }).type === 'machine').map((k) => k['id']).sort();
    expect(members.json['machine_user_count']).toBe(machineKeys.length);
    const machineUsers = members.json.data!.filter((m) => m['type'] === 'machine');
    expect(machineUsers.map((m) => m['api_key_id']).sort()).toStrictEqual(machineKeys);
    await setMaxKeys(1000);
  });

  it('deleting a machine user racing the revoke of its key (and each other) ends with neither, on both processes', async () => {
    const created = await all(6, (i) => call(i, 'POST', '/v1/api-keys', { name: `doomed ${i}`, owner: { type: 'machine', name: `doomed-bot ${i}` } }));
    for (const r of created) expect(r, JSON.stringify(r.json)).toMatchObject({ status: 201 });
    const bots = created.map((r) => ({ key: r.json['id'] as string, member: (r.json['owner'] as { id: string }).id, secret: r.json['secret'] as string }));
    const replies = await Promise.all(
      bots.flatMap((bot, i) => [
        call(i, 'DELETE', `/v1/members/${bot.member}`),
        call(i + 1, 'DELETE', `/v1/api-keys/${bot.key}`),
        call(i, 'DELETE', `/v1/api-keys/${bot.key}`),
      ]),
    );
    for (const r of replies) expect([204, 404]).toContain(r.status);
    const members = await call(0, 'GET', '/v1/members?limit=100');
    const ids = members.json.data!.map((m) => m['id']);
    for (const [i, bot] of bots.entries()) {
      expect(ids).not.toContain(bot.member);
      expect((await call(i, 'GET', `/v1/api-keys/${bot.key}`)).status).toBe(404);
      for (const p of [0, 1]) expect((await call(p, 'GET', '/v1/me', undefined, bot.secret)).json.code).toBe('key_revoked');
      const revoked = await call(i, 'GET', `/v1/audit-events?key_id=${bot.key}&action=api_key.revoked`);
      expect(revoked.json.data).toHaveLength(1);
    }
  });

  it('a revoke racing 20 enables and disables on both processes ends revoked, everywhere', async () => {
    for (let round = 0; round < 5; round++) {
      const key = await call(round, 'POST', '/v1/api-keys', { name: `contested ${round}` });
      const id = key.json['id'] as string;
      const secret = key.json['secret'] as string;
      expect((await call(round, 'POST', `/v1/api-keys/${id}/disable`)).status).toBe(200);
      const replies = await Promise.all([
        ...Array.from({ length: 20 }, (_, i) => call(i, 'POST', `/v1/api-keys/${id}/${i % 3 ? 'enable' : 'disable'}`)),
        call(round, 'DELETE', `/v1/api-keys/${id}`),
      ]);
      expect(replies.at(-1)!.status).toBe(204);
      for (const r of replies.slice(0, -1)) expect([200, 404, 409]).toContain(r.status);
      for (const p of [0, 1]) {
        expect((await call(p, 'GET', `/v1/api-keys/${id}`)).status).toBe(404);
        expect((await call(p, 'GET', '/v1/me', undefined, secret)).json.code).toBe('key_revoked');
      }
    }
  });

  it('20 parallel edits of one key through both processes: every acknowledged edit is audited once, the last one stands', async () => {
    const key = await call(0, 'POST', '/v1/api-keys', { name: 'edited' });
    const id = key.json['id'] as string;
    const replies = await all(20, (i) => call(i, 'PATCH', `/v1/api-keys/${id}`, { description: `edit ${i}` }));
    const acknowledged = replies.filter((r) => r.status === 200).map((r) => r.json['description']);
    for (const r of replies) expect([200, 409]).toContain(r.status);
    expect(acknowledged.length).toBeGreaterThan(0);
    const audit = await call(1, 'GET', `/v1/audit-events?key_id=${id}&action=api_key.updated&limit=100`);
    const written = audit.json.data!.map((e) => (e['changes'] as { description: { to: string } }).description.to);
    expect([...written].sort()).toStrictEqual([...acknowledged].sort());
    // Audit events are newest first: the newest acknowledged edit is what the key says now.
    expect((await call(1, 'GET', `/v1/api-keys/${id}`)).json['description']).toBe(written[0]);
  });
});
