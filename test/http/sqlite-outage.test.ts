/**
 * The SQLite file cannot be written for a moment: a full disk, or another connection holding the
 * write lock past the busy timeout (a long CLI command beside the server). A request that needs to
 * write answers 503 with Retry-After and the `unavailable` problem (declared in openapi.yaml, so
 * the test server's response validation passes), logged in one line without a stack; reads go on;
 * nothing already stored is lost; once the file can be written again the same request succeeds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../../server/src/store/sqlite.ts';
import { BUSY_TIMEOUT_MS } from '../../server/src/store/sqlite-writer.ts';
import { startTestServer, type TestServer } from '../support/app.ts';

describe('SQLite file that cannot be written for now', () => {
  let dir: string;
  let store: SqliteStore;
  let server: TestServer;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'heykeys-sqlite-outage-'));
    store = openSqliteStore(join(dir, 'heykeys.db'));
    server = await startTestServer({ store });
  });

  afterEach(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = (path: string, init: RequestInit = {}) =>
    fetch(server.url + path, { ...init, headers: { authorization: `Bearer ${server.ownerSecret}`, ...init.headers } });
  const create = (name: string) =>
    call('/v1/api-keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) });

  async function expectUnavailable(res: Response, what: string): Promise<void> {
    expect(res.status, what).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(await res.json()).toMatchObject({ status: 503, code: 'unavailable', title: 'Service Unavailable' });
  }

  function expectOneLineLogs(): void {
    const lines = server.logs.map((l) => JSON.parse(l) as { message: string; stack?: string });
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.filter((l) => l.message !== 'store unavailable')).toEqual([]);
    expect(lines.some((l) => l.stack !== undefined)).toBe(false);
  }

  it('answers 503 while the disk is full, keeps serving reads and what is stored, and writes again once there is room', async () => {
    // The main connection may not grow the file past its present size: SQLite then fails a write
    // that needs a new page with SQLITE_FULL, as on a full disk.
    const { page_count } = store.db.prepare('PRAGMA page_count').get() as { page_count: number };
    store.db.exec(`PRAGMA max_page_count = ${page_count}`);
    const created: string[] = [];
    let full: Response | null = null;
    // The pages the file has still hold a few keys; the first creation that needs a page fails.
    for (let i = 0; i < 100 && !full; i++) {
      const res = await create(`key ${i}`);
      if (res.status === 201) created.push(((await res.json()) as { id: string }).id);
      else full = res;
    }
    expect(full, 'no creation ever needed a new page').not.toBeNull();
    await expectUnavailable(full!, 'POST /v1/api-keys on a full disk');
    expectOneLineLogs();

    // Reads and authentication go on; every key created before is still there, and only those.
    expect((await call('/v1/me')).status).toBe(200);
    const list = await call('/v1/api-keys?limit=100');
    expect(list.status).toBe(200);
    const ids = ((await list.json()) as { data: { id: string }[] }).data.map((k) => k.id);
    expect(ids).toEqual(expect.arrayContaining(created));
    expect(ids).toHaveLength(created.length + 1); // and the owner key

    store.db.exec('PRAGMA max_page_count = 1073741823');
    expect((await create('after the disk was freed')).status).toBe(201);
  });

  it('answers 503 when another connection holds the write lock past the busy timeout, and writes once it lets go', { timeout: BUSY_TIMEOUT_MS + 10_000 }, async () => {
    // The owner key's own usage log: every request below is made with it.
    const key = ((await (await call('/v1/me')).json()) as { key_id: string }).key_id;
    // Another connection to the file (as the CLI opens it beside a running server) takes the write lock.
    const other = new DatabaseSync(join(dir, 'heykeys.db'));
    other.exec('BEGIN IMMEDIATE');
    try {
      // The main connection's writes: its busy timeout shortened so the test does not wait 5 s for it.
      store.db.exec('PRAGMA busy_timeout = 100');
      await expectUnavailable(await create('while locked'), 'POST /v1/api-keys while locked');
      // The usage log flushes through the writer thread (its own connection, the full busy
      // timeout) before it is read: its failure crosses the thread and is an outage too.
      await expectUnavailable(await call(`/v1/api-keys/${key}/usage`), 'GET usage while locked');
      expect((await call(`/v1/api-keys/${key}`)).status).toBe(200);
      expectOneLineLogs();
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect((await create('after the lock')).status).toBe(201);
    const usage = await call(`/v1/api-keys/${key}/usage`);
    expect(usage.status).toBe(200);
    // The entries queued while the flush failed were kept and are written now: the 503s and the
    // requests around them are all in the log.
    const entries = ((await usage.json()) as { data: { method: string; route: string; status: number }[] }).data;
    const seen = entries.map((e) => `${e.method} ${e.route} ${e.status}`);
    expect(seen).toEqual(
      expect.arrayContaining([
        'POST /v1/api-keys 503',
        'GET /v1/api-keys/{id}/usage 503',
        'GET /v1/api-keys/{id} 200',
        'POST /v1/api-keys 201',
      ]),
    );
  });
});
