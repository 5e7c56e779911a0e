/**
 * Answers are written directly (http/respond.ts) unless response validation is on, when they go
 * through res.json for the validator to check. Both ways must put the same bytes on the wire:
 * status line, every header but the per-request ones, and the body.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/app.ts';

let validated: TestServer;
let direct: TestServer;

beforeAll(async () => {
  // The same instant on both, so timestamps in bodies agree.
  validated = await startTestServer({ validateResponses: true });
  direct = await startTestServer({ validateResponses: false });
});
afterAll(async () => {
  await validated?.close();
  await direct?.close();
});

/** The raw answer, with the headers that differ by request (date, request id) blanked. */
function raw(server: TestServer, method: string, path: string, body?: unknown): Promise<string> {
  const { hostname, port } = new URL(server.url);
  const payload = body === undefined ? '' : JSON.stringify(body);
  const lines = [
    `${method} ${path} HTTP/1.1`,
    `Host: ${hostname}:${port}`,
    'Connection: close',
    `Authorization: Bearer ${server.ownerSecret}`,
    'X-Request-Id: same-on-both',
    ...(body === undefined ? [] : ['Content-Type: application/json', `Content-Length: ${Buffer.byteLength(payload)}`]),
  ];
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(lines.join('\r\n') + '\r\n\r\n' + payload));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => (answer += d));
    socket.on('error', reject);
    socket.on('end', () => resolve(answer.replace(/^Date: .*$/im, 'Date: -')));
  });
}

/** Ids, secrets and hints differ between the two servers' organizations: name them by position. */
function normalize(answer: string, server: TestServer): string {
  return answer
    .replaceAll(server.orgId, 'ORG')
    .replace(/"(key|usr|ws|evt)_[0-9A-Za-z]+"/g, '"$1_ID"')
    .replace(/hey_[0-9A-Za-z]{36}/g, 'SECRET')
    .replace(/hey_\.\.\.[0-9A-Za-z]{4}/g, 'HINT'); // Content-Length is kept: ids have the same length on both
}

describe('answers written directly are byte for byte what res.json writes', () => {
  const cases: [string, string, (s: TestServer) => Promise<string>][] = [
    ['GET /v1/me', 'GET', async () => '/v1/me'],
    ['GET /v1/scopes', 'GET', async () => '/v1/scopes'],
    ['GET /v1/api-keys', 'GET', async () => '/v1/api-keys?limit=5'],
    ['GET /v1/policy', 'GET', async () => '/v1/policy'],
  ];
  for (const [name, method, path] of cases) {
    it(name, async () => {
      const [a, b] = await Promise.all([validated, direct].map(async (s) => normalize(await raw(s, method, await path(s)), s)));
      expect(b).toBe(a);
      expect(b).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(b).toMatch(/\r\nContent-Type: application\/json; charset=utf-8\r\n/);
    });
  }

  it('POST /v1/api-keys (201 with Cache-Control: no-store) and POST /v1/api-keys/verify', async () => {
    const body = { name: 'same on both', permission: { type: 'read_only' }, expires_in_days: 30 };
    const [a, b] = await Promise.all([validated, direct].map(async (s) => normalize(await raw(s, 'POST', '/v1/api-keys', body), s)));
    expect(b).toBe(a);
    expect(b).toMatch(/^HTTP\/1\.1 201 Created\r\n[\s\S]*\r\nCache-Control: no-store\r\n/);
    const [c, d] = await Promise.all(
      [validated, direct].map(async (s) => normalize(await raw(s, 'POST', '/v1/api-keys/verify', { secret: s.ownerSecret, scopes: ['tags:read'] }), s)),
    );
    expect(d).toBe(c);
    expect(d).toContain('"valid":true');
  });

  it('a body of 1000 characters or more (res.json sends it as a Buffer)', async () => {
    for (const s of [validated, direct]) {
      for (let i = 0; i < 12; i++) await raw(s, 'POST', '/v1/api-keys', { name: `key number ${i} with a longer name`, description: 'x'.repeat(40) });
    }
    const [a, b] = await Promise.all([validated, direct].map(async (s) => normalize(await raw(s, 'GET', '/v1/api-keys?limit=20'), s)));
    expect(Number(/Content-Length: (\d+)/.exec(b!)?.[1])).toBeGreaterThan(1000);
    expect(b).toBe(a);
  });
});

describe('every answer carries X-Request-Id', () => {
  /** The request id header of a raw answer, and its status. */
  async function idOf(server: TestServer, method: string, path: string, extra: string[] = [], body?: string): Promise<{ status: number; id: string | undefined; count: number }> {
    const { hostname, port } = new URL(server.url);
    const lines = [`${method} ${path} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Connection: close', ...extra];
    if (body !== undefined) lines.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => socket.write(lines.join('\r\n') + '\r\n\r\n' + (body ?? '')));
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (d) => (text += d));
      socket.on('error', reject);
      socket.on('end', () => resolve(text));
    });
    const head = answer.slice(0, answer.indexOf('\r\n\r\n'));
    const ids = [...head.matchAll(/^X-Request-Id: (.*)$/gim)].map((m) => m[1]!);
    return { status: Number(head.split(' ')[1]), id: ids[0], count: ids.length };
  }
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

  for (const [name, server] of [['written directly', () => direct], ['through res.json (response validation on)', () => validated]] as const) {
    it(`success, no content, and every kind of problem, ${name}`, async () => {
      const s = server();
      const auth = [`Authorization: Bearer ${s.ownerSecret}`];
      const created = JSON.parse(
        (await (await fetch(`${s.url}/v1/api-keys`, { method: 'POST', headers: { authorization: `Bearer ${s.ownerSecret}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'to revoke', permission: { type: 'read_only' } }) })).text()),
      ) as { id: string };
      const answers = [
        await idOf(s, 'GET', '/v1/me', auth), // 200
        await idOf(s, 'POST', '/v1/api-keys', auth, JSON.stringify({ name: 'with no-store', permission: { type: 'read_only' } })), // 201 + Cache-Control
        await idOf(s, 'DELETE', `/v1/api-keys/${created.id}`, auth), // 204
        await idOf(s, 'GET', '/v1/me'), // 401
        await idOf(s, 'GET', '/v1/api-keys?limit=0', auth), // 400 from the validator
        await idOf(s, 'POST', '/v1/api-keys/verify', auth, '{"secret":'), // 400 from the body parser
        await idOf(s, 'GET', '/v1/nothing', auth), // 404
        await idOf(s, 'GET', '/', auth), // 404 outside the API
      ];
      expect(answers.map((a) => a.status)).toEqual([200, 201, 204, 401, 400, 400, 404, 404]);
      for (const a of answers) {
        expect(a.count).toBe(1);
        expect(a.id).toMatch(uuid);
      }
      // A well-formed id from the caller is kept; anything else is replaced.
      expect((await idOf(s, 'GET', '/v1/me', [...auth, 'X-Request-Id: trace-42.a_b'])).id).toBe('trace-42.a_b');
      expect((await idOf(s, 'GET', '/v1/me', ['X-Request-Id: trace-43'])).id).toBe('trace-43');
      expect((await idOf(s, 'GET', '/v1/me', [...auth, 'X-Request-Id: bad id!'])).id).toMatch(uuid);
    });
  }
});
