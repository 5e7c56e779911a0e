/**
 * A database outage, over a real connection: the server's PostgreSQL connections go through a TCP
 * proxy this test can cut. While it is cut, a request that needs the database answers 503 with
 * Retry-After and the `unavailable` problem (declared in openapi.yaml, so the response validation
 * of the test server passes), logged in one line without a stack; nothing is a 500. When the
 * proxy is back, the same requests succeed again without a restart.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStore, type PostgresStore } from '../../server/src/store/postgres.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { createTestSchema, postgresTarget, type TestSchema } from '../support/postgres.ts';

const target = postgresTarget('PostgreSQL outage');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A TCP proxy to PostgreSQL on a fixed local port: `cut` drops every connection and refuses new ones. */
class CuttableProxy {
  #server: Server | null = null;
  readonly #sockets = new Set<Socket>();
  readonly #upstream: { host: string; port: number };
  port = 0;

  constructor(upstream: { host: string; port: number }) {
    this.#upstream = upstream;
  }

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.#upstream.port, this.#upstream.host);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const s of this.#sockets) s.destroy();
    await new Promise((resolve) => server?.close(resolve));
  }
}

describe.skipIf(target.skip)('PostgreSQL outage', () => {
  let schema: TestSchema;
  let proxy: CuttableProxy;
  let store: PostgresStore;
  let server: TestServer;

  const call = (path: string, init: RequestInit = {}) =>
    fetch(server.url + path, { ...init, headers: { authorization: `Bearer ${server.ownerSecret}`, ...init.headers } });

  beforeAll(async () => {
    schema = await createTestSchema(target.url());
    const direct = new URL(schema.url);
    proxy = new CuttableProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    await proxy.open();
    const proxied = new URL(schema.url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(proxy.port);
    store = await openPostgresStore(proxied.href, { poolSize: 2, log: () => {}, reconnectMinMs: 20, reconnectMaxMs: 100 });
    server = await startTestServer({ store });
  });

  afterAll(async () => {
    await server?.close();
    await proxy?.cut();
    await schema?.drop();
  });

  it('answers 503 with Retry-After while the database cannot be reached, and serves again once it can', async () => {
    expect((await call('/v1/me')).status).toBe(200);

    await proxy.cut();
    // The lost listening connection empties the cache (README, the propagation bound): every
    // request now needs the database. Give the listener a moment to notice.
    await sleep(200);
    for (const [path, init] of [
      ['/v1/me', {}],
      ['/v1/api-keys', {}],
      ['/v1/api-keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'during the outage' }) }],
    ] as const) {
      const res = await call(path, init);
      expect(res.status, `${init.method ?? 'GET'} ${path}`).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(await res.json()).toMatchObject({ status: 503, code: 'unavailable', type: 'https://heykeys.dev/problems/unavailable', title: 'Service Unavailable' });
    }
    const lines = server.logs.map((l) => JSON.parse(l) as { message: string; stack?: string });
    expect(lines.filter((l) => l.message === 'store unavailable').length).toBeGreaterThanOrEqual(3);
    expect(lines.filter((l) => l.message !== 'store unavailable')).toEqual([]);
    expect(lines.some((l) => l.stack !== undefined)).toBe(false);

    await proxy.open();
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (Date.now() < deadline && (status = (await call('/v1/me')).status) !== 200) await sleep(50);
    expect(status).toBe(200);
    const created = await call('/v1/api-keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'after the outage' }) });
    expect(created.status).toBe(201);
  });
});
