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
