/** Bad input gets a clear problem+json, never a 500: the edges the auth matrix does not reach. */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/app.ts';

let server: TestServer;
afterEach(async () => {
  await server?.close();
});

/** fetch merges repeated headers into one; a raw socket sends them as given. */
function rawRequest(url: string, headers: [string, string][]): Promise<{ status: number; body: string; challenge: string[] }> {
  const { hostname, port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      const lines = [`GET ${pathname} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Connection: close', ...headers.map(([k, v]) => `${k}: ${v}`)];
      socket.write(lines.join('\r\n') + '\r\n\r\n');
    });
    let raw = '';
    socket.on('data', (d) => (raw += d));
    socket.on('error', reject);
    socket.on('end', () => {
      const [head, ...rest] = raw.split('\r\n\r\n');
      const headLines = head!.split('\r\n');
      const status = Number(headLines[0]!.split(' ')[1]);
      const challenge = headLines.filter((l) => /^www-authenticate:/i.test(l)).map((l) => l.slice(l.indexOf(':') + 1).trim());
      const body = rest.join('\r\n\r\n');
      resolve({ status, body: body.slice(body.indexOf('{'), body.lastIndexOf('}') + 1), challenge });
    });
  });
}

describe('errors are problems', () => {
  it('both Bearer and Basic in one request is a 400 invalid_request', async () => {
    server = await startTestServer();
    const basic = `Basic ${Buffer.from(`u:${server.ownerSecret}`).toString('base64')}`;
    const r = await rawRequest(`${server.url}/v1/me`, [
      ['Authorization', `Bearer ${server.ownerSecret}`],
      ['Authorization', basic],
    ]);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).code).toBe('invalid_request');
    expect(r.challenge[0]).toContain('error="invalid_request"');
    expect(r.body).not.toContain(server.ownerSecret);
  });

  it('a body over 64 KiB is a 413', async () => {
    server = await startTestServer();
    const res = await fetch(`${server.url}/v1/api-keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.ownerSecret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x', description: 'y'.repeat(70_000) }),
    });
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect((await res.json()).code).toBe('payload_too_large');
  });

  it('a body that is not JSON is a 415; invalid JSON is a 400', async () => {
    server = await startTestServer();
    const post = (type: string, body: string) =>
      fetch(`${server.url}/v1/workspaces`, { method: 'POST', headers: { authorization: `Bearer ${server.ownerSecret}`, 'content-type': type }, body });
    const text = await post('text/plain', 'name=x');
    expect(text.status).toBe(415);
    expect((await text.json()).code).toBe('unsupported_media_type');
    const broken = await post('application/json', '{"name":');
    expect(broken.status).toBe(400);
    expect((await broken.json()).errors).toEqual([{ field: 'body', message: 'is not valid JSON' }]);
  });

  it('lists every failing field, once', async () => {
    server = await startTestServer();
    const res = await fetch(`${server.url}/v1/api-keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.ownerSecret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: '', expires_in_days: 8, colour: 'red' }),
    });
    const problem = await res.json();
    expect(res.status).toBe(400);
    const fields = problem.errors.map((e: { field: string }) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['body/name', 'body/expires_in_days', 'body/colour']));
    expect(new Set(problem.errors.map((e: object) => JSON.stringify(e))).size).toBe(problem.errors.length);
  });

  it('rate limits per key with 429 and Retry-After', async () => {
    server = await startTestServer({ rateLimitPerMinute: 3 });
    const get = () => fetch(`${server.url}/v1/scopes`, { headers: { authorization: `Bearer ${server.ownerSecret}` } });
    for (let i = 0; i < 3; i++) expect((await get()).status).toBe(200);
    const limited = await get();
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await limited.json()).code).toBe('rate_limited');
    server.clock.advance(60_000);
    expect((await get()).status).toBe(200);
  });

  it('unknown routes are 404 and wrong methods 405, as problems', async () => {
    server = await startTestServer();
    const auth = { authorization: `Bearer ${server.ownerSecret}` };
    const missing = await fetch(`${server.url}/v1/nothing-here`, { headers: auth });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
    const wrong = await fetch(`${server.url}/v1/scopes`, { method: 'PUT', headers: auth });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET');
    expect((await wrong.json()).code).toBe('method_not_allowed');
    // A concrete path wins over a templated one: this is the verify path, not getApiKey("verify").
    const verify = await fetch(`${server.url}/v1/api-keys/verify`, { headers: auth });
    expect(verify.status).toBe(405);
    expect(verify.headers.get('allow')).toBe('POST');
    expect(server.logs).toEqual([]);
  });

  it('a key sent without a scheme is not echoed back', async () => {
    server = await startTestServer();
    const res = await fetch(`${server.url}/v1/me`, { headers: { authorization: server.ownerSecret } });
    expect(res.status).toBe(401);
    expect(await res.text()).not.toContain(server.ownerSecret.slice(4, 20));
  });
});

describe('found by the mocks parity work', () => {
  it('paths are case-sensitive: /V1/ME is a 404 problem, not a 500', async () => {
    server = await startTestServer();
    const res = await fetch(`${server.url}/V1/ME`, { headers: { authorization: `Bearer ${server.ownerSecret}` } });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it('a JSON PATCH with no body at all is a 400, not a 500', async () => {
    server = await startTestServer();
    const owner = await server.service.authenticate(server.ownerSecret, 'bearer');
    const res = await fetch(`${server.url}/v1/api-keys/${owner.key.id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${server.ownerSecret}`, 'content-type': 'application/json' },
    });
    expect(res.status).toBe(400);
    expect((await res.json()).code).toBe('validation');
    const create = await fetch(`${server.url}/v1/api-keys`, { method: 'POST', headers: { authorization: `Bearer ${server.ownerSecret}`, 'content-type': 'application/json' } });
    expect(create.status).toBe(400);
    expect(server.logs).toEqual([]);
  });
});
