/**
 * The server refuses to start, and says why in one line, when its store cannot be used as
 * configured. Above all: two `npm start` processes on one DATA_DIR, as someone would try it for a
 * second instance. Each server trusts the credentials it has cached until it changes the key
 * itself, so the second one would go on accepting a key revoked through the first (it did, before
 * the store claimed its file). Now the second refuses to start; the CLI still adds organizations
 * beside a running server. Then a schema newer than this release, a database it cannot reach, a
 * port in use and settings it cannot use.
 * SQLite, or no database at all: on PostgreSQL several instances are the point (test/postgres/).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli, spawnServer, tempDir, type ServerProcess } from '../support/process.ts';

let server: ServerProcess;

beforeAll(async () => {
  server = await spawnServer();
});
afterAll(async () => {
  if (server.child.exitCode === null) await server.stop();
  rmSync(server.dataDir, { recursive: true, force: true });
});

const me = (secret: string) => fetch(`${server.url}/v1/me`, { headers: { authorization: `Bearer ${secret}` } });

describe('one server per SQLite data folder', () => {
  it('a second server on the same folder exits with a message naming the folder and the ways out', async () => {
    const refused = spawnServer({ dataDir: server.dataDir });
    await expect(refused).rejects.toThrow(/server exited with 1 before listening/);
    const message = await refused.catch((error: Error) => error.message);
    expect(message).toContain(`heykeys: ${server.dataDir}/heykeys.db is in use by another HeyKeys server.`);
    expect(message).toContain('give this one a DATA_DIR of its own, or run several instances on PostgreSQL (DATABASE_URL)');
    // No stack trace: it is an answer, not a crash.
    expect(message).not.toMatch(/\n\s+at /);
  });

  it('the first server goes on serving, and a key revoked through it stops working at once', async () => {
    const owner = server.ownerSecret!;
    expect((await me(owner)).status).toBe(200);
    const created = await fetch(`${server.url}/v1/api-keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'to revoke', permission: { type: 'read_only' } }),
    });
    const key = (await created.json()) as { id: string; secret: string };
    expect((await me(key.secret)).status).toBe(200);
    const revoke = await fetch(`${server.url}/v1/api-keys/${key.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${owner}` } });
    expect(revoke.status).toBe(204);
    expect((await me(key.secret)).status).toBe(401);
  });

  it('the CLI adds an organization while the server runs, and the server accepts its key', async () => {
    const out = JSON.parse(await runCli(['org', 'create', '--name', 'Initech', '--owner-email', 'p@initech.test', '--json'], { DATA_DIR: server.dataDir }));
    expect((await me(out.secret)).status).toBe(200);
  });

  it('once the first server has stopped, the folder is free for the next', async () => {
    expect(await server.stop()).toBe(0);
    server = await spawnServer({ dataDir: server.dataDir });
    expect(server.ownerSecret).toBeNull();
  });
});

/** The lines a refused start printed, from spawnServer's rejection. */
async function refusal(started: Promise<ServerProcess>): Promise<string> {
  const message = await started.then(
    () => expect.fail('the server started'),
    (error: Error) => error.message,
  );
  expect(message).toMatch(/^server exited with 1 before listening:/);
  // An answer, not a crash: no stack trace.
  expect(message).not.toMatch(/\n\s+at /);
  return message;
}

describe('other stores it cannot use', () => {
  it('an SQLite file with a schema newer than this release', async () => {
    const dataDir = tempDir();
    const db = new DatabaseSync(join(dataDir, 'heykeys.db'));
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT');
    db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(999, 'from_the_future', 1);
    db.close();
    const message = await refusal(spawnServer({ dataDir }));
    expect(message).toContain('heykeys: database schema version 999 is newer than this server');
    expect(message).toContain('upgrade the server');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it.each([
    ['a file where DATA_DIR should be', (dir: string) => writeFileSync(join(dir, 'data'), 'x'), 'data', /cannot be used as the store's folder: EEXIST/],
    ['a folder where heykeys.db should be', (dir: string) => mkdirSync(join(dir, 'data', 'heykeys.db'), { recursive: true }), 'data', /data\/heykeys\.db: unable to open database file/],
    ['a heykeys.db that is not an SQLite database', (dir: string) => {
      mkdirSync(join(dir, 'data'));
      writeFileSync(join(dir, 'data', 'heykeys.db'), 'my notes, not a database\n'.repeat(200));
    }, 'data', /data\/heykeys\.db: file is not a database/],
  ])('%s: one line naming it, and nothing there changed', async (_case, prepare, folder, line) => {
    const parent = tempDir();
    prepare(parent);
    const dataDir = join(parent, folder);
    const file = join(dataDir, 'heykeys.db');
    const before = existsSync(file) && statSync(file).isFile() ? readFileSync(file, 'latin1') : null;
    const message = await refusal(spawnServer({ dataDir }));
    expect(message).toMatch(line);
    if (before !== null) expect(readFileSync(file, 'latin1')).toBe(before);
    rmSync(parent, { recursive: true, force: true });
  });

  it('a PostgreSQL URL where nothing listens, named without its password', async () => {
    const port = await freePort();
    const dataDir = tempDir();
    const message = await refusal(spawnServer({ dataDir, env: { DATABASE_URL: `postgres://heykeys:hunter2@127.0.0.1:${port}/heykeys` } }));
    rmSync(dataDir, { recursive: true, force: true });
    expect(message).toContain(`heykeys: cannot reach PostgreSQL at postgres://heykeys:***@127.0.0.1:${port}/heykeys: connect ECONNREFUSED`);
    expect(message).not.toContain('hunter2');
  });
});

describe('an address or a setting it cannot use', () => {
  it('a port in use: one line, and no organization left behind (the next start prints the owner key)', async () => {
    const taken = createServer();
    const port = await new Promise<number>((resolve) => taken.listen(0, '127.0.0.1', () => resolve((taken.address() as { port: number }).port)));
    const dataDir = tempDir();
    try {
      const message = await refusal(spawnServer({ dataDir, env: { PORT: String(port) } }));
      expect(message).toContain(`heykeys: cannot listen on 127.0.0.1:${port}: another process is listening there; stop it or set another PORT (EADDRINUSE)`);
      expect(message).not.toContain('Owner API key');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
    const next = await spawnServer({ dataDir, removeDataDir: true });
    expect(next.ownerSecret).toMatch(/^hey_/);
    await next.stop();
  });

  it.each([
    ['PORT', 'abc', 'heykeys: PORT must be an integer >= 0, got "abc".'],
    ['KEY_PREFIX', 'Hey-', 'heykeys: KEY_PREFIX: Key prefix "Hey-" must be 1-16 characters'],
    ['FLUSH_INTERVAL_MS', '5', 'heykeys: FLUSH_INTERVAL_MS must be an integer >= 10, got "5".'],
  ])('%s=%s: one line naming it, before the store is touched', async (name, value, line) => {
    const parent = tempDir();
    const dataDir = join(parent, 'not-yet');
    const message = await refusal(spawnServer({ dataDir, env: { [name]: value } }));
    expect(message).toContain(line);
    expect(existsSync(dataDir)).toBe(false);
    rmSync(parent, { recursive: true, force: true });
  });
});
