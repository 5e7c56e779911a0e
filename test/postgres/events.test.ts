/**
 * Change events between processes, store level: two stores (two pools, two listeners, as two
 * server processes would have) on one schema, and a third on another schema. A committed key or
 * policy change made through one reaches the other as a StoreEvent, never the writer itself; a
 * rolled-back write and a last-use flush announce nothing; a lost listening connection ends in
 * `reset` and listening again.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../server/src/domain/clock.ts';
import type { RequestContext } from '../../server/src/domain/access.ts';
import type { AuditEvent, KeyRecord } from '../../server/src/domain/model.ts';
import { KeyService } from '../../server/src/domain/service.ts';
import { nodeCrypto } from '../../server/src/node-crypto.ts';
import { openPostgresStore, type PostgresStore } from '../../server/src/store/postgres.ts';
import type { StoreEvent } from '../../server/src/store/store.ts';
import { createTestSchema, postgresTarget, type TestSchema } from '../support/postgres.ts';

const target = postgresTarget('PostgreSQL change events');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(probe: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

describe.skipIf(target.skip)('PostgreSQL change events', () => {
  let schema: TestSchema;
  let other: TestSchema;
  let a: PostgresStore;
  let b: PostgresStore;
  let elsewhere: PostgresStore;
  const seen = { a: [] as StoreEvent[], b: [] as StoreEvent[] };
  let service: KeyService;
  let ctx: RequestContext;
  let orgId: string;

  beforeAll(async () => {
    schema = await createTestSchema(target.url());
    other = await createTestSchema(target.url());
    const quiet = () => {};
    // Fast reconnects so the reconnect case is quick; the defaults are for production.
    a = await openPostgresStore(schema.url, { poolSize: 4, log: quiet, reconnectMinMs: 20 });
    b = await openPostgresStore(schema.url, { poolSize: 4, log: quiet, reconnectMinMs: 20 });
    elsewhere = await openPostgresStore(other.url, { poolSize: 2, log: quiet });
    a.subscribe((e) => seen.a.push(e));
    b.subscribe((e) => seen.b.push(e));
    service = new KeyService({ store: a, clock: systemClock, crypto: nodeCrypto });
    const created = await service.createOrganization({ name: 'Events', owner_name: 'Owner', owner_email: 'o@events.test' });
    orgId = created.organization.id;
    ctx = { principal: await service.authenticate(created.secret, 'bearer'), ip: null, now: Date.now() };
    // Creating the organization wrote its policy, which b hears about: let that arrive first.
    await waitFor(() => seen.b.find((e) => e.type === 'policy_changed'), 'the new policy on b');
  });

  afterAll(async () => {
    await service?.close();
    await Promise.all([a, b, elsewhere].filter(Boolean).map((s) => s.close()));
    await Promise.all([schema, other].filter(Boolean).map((s) => s.drop()));
  });

  beforeEach(() => {
    seen.a.length = 0;
    seen.b.length = 0;
  });

  const newKey = async (name: string): Promise<KeyRecord> => (await service.createKey(ctx, { name })).key;
  const keyChanged = (events: StoreEvent[], keyId: string) =>
    events.find((e) => e.type === 'key_changed' && e.key_id === keyId);

  it('a key write through one store reaches the other as key_changed, and not the writer', async () => {
    const key = await newKey('written');
    await sleep(100);
    expect(seen.b).toStrictEqual([]); // creating a key announces nothing: no one can have it cached
    expect(await a.writeKey({ key: { ...key, name: 'renamed', version: 2 }, expected_version: 1, audit: [] })).toBe(true);
    await waitFor(() => keyChanged(seen.b, key.id), 'key_changed on b');
    await sleep(100);
    expect(seen.a).toStrictEqual([]);
    expect(seen.b).toStrictEqual([{ type: 'key_changed', key_id: key.id }]);
  });

  it('a policy change reaches the other store as policy_changed', async () => {
    const policy = (await a.getPolicy(orgId))!;
    await a.updatePolicy(orgId, { ...policy, max_keys: 500 }, []);
    await waitFor(() => seen.b.find((e) => e.type === 'policy_changed'), 'policy_changed on b');
    expect(seen.b).toStrictEqual([{ type: 'policy_changed', org_id: orgId }]);
    expect(seen.a).toStrictEqual([]);
  });

  it('deleting a workspace announces each key it revoked', async () => {
    const ws = await service.createWorkspace(ctx, 'doomed');
    const pinned = [(await service.createKey(ctx, { name: 'p1' }, ws.id)).key, (await service.createKey(ctx, { name: 'p2' }, ws.id)).key];
    await b.deleteWorkspace(orgId, ws.id, Date.now(), []);
    for (const key of pinned) await waitFor(() => keyChanged(seen.a, key.id), `key_changed ${key.id} on a`);
    expect(seen.b).toStrictEqual([]);
  });

  it('announces nothing for a write that does not commit: a lost compare-and-set, a rolled-back transaction', async () => {
    const key = await newKey('unchanged');
    const [existing] = (await a.listAudit(orgId, {}, { limit: 1 })).data as [AuditEvent];
    expect(await a.writeKey({ key: { ...key, status: 'revoked', version: 6 }, expected_version: 5, audit: [] })).toBe(false);
    // The update runs, then the duplicate audit id fails the transaction: the NOTIFY goes with it.
    await expect(a.writeKey({ key: { ...key, status: 'revoked', version: 2 }, expected_version: 1, audit: [existing] })).rejects.toThrow(/duplicate key/);
    expect((await a.getKey(orgId, key.id))!.status).toBe('active');
    // A later committed write is seen, so the silence before it was not a slow listener.
    expect(await a.writeKey({ key: { ...key, name: 'marker', version: 2 }, expected_version: 1, audit: [] })).toBe(true);
    await waitFor(() => keyChanged(seen.b, key.id), 'the marker write on b');
    expect(seen.b).toStrictEqual([{ type: 'key_changed', key_id: key.id }]);
  });

  it('a last-use flush announces nothing', async () => {
    const key = await newKey('used');
    await a.recordUse([{ key_id: key.id, digest: key.digest, at: Date.now() }]);
    const marker = await newKey('marker');
    await a.writeKey({ key: { ...marker, name: 'marker2', version: 2 }, expected_version: 1, audit: [] });
    await waitFor(() => keyChanged(seen.b, marker.id), 'the marker write on b');
    expect(seen.b).toStrictEqual([{ type: 'key_changed', key_id: marker.id }]);
  });

  it('a change made by hand in SQL reaches every process, the "writer" included', async () => {
    const key = await newKey('by hand');
    await schema.query("UPDATE keys SET status = 'revoked', revoked_at = $2, version = version + 1 WHERE id = $1", [key.id, Date.now()]);
    await waitFor(() => keyChanged(seen.a, key.id), 'key_changed on a');
    await waitFor(() => keyChanged(seen.b, key.id), 'key_changed on b');
  });

  it('changes in another schema of the same database are not ours', async () => {
    const svc = new KeyService({ store: elsewhere, clock: systemClock, crypto: nodeCrypto });
    const created = await svc.createOrganization({ name: 'Elsewhere', owner_name: 'O', owner_email: 'o@else.test' });
    const principal = await svc.authenticate(created.secret, 'bearer');
    const key = (await svc.createKey({ principal, ip: null, now: Date.now() }, { name: 'x' })).key;
    await elsewhere.writeKey({ key: { ...key, name: 'y', version: 2 }, expected_version: 1, audit: [] });
    await svc.close();
    const marker = await newKey('marker');
    await a.writeKey({ key: { ...marker, name: 'm', version: 2 }, expected_version: 1, audit: [] });
    await waitFor(() => keyChanged(seen.b, marker.id), 'the marker write on b');
    expect(seen.b).toStrictEqual([{ type: 'key_changed', key_id: marker.id }]);
  });

  it('a lookup that overlapped a change announces it again once answered, so what the caller cached from it goes too', async () => {
    const key = await newKey('looked up');
    const orgIdForPolicy = orgId;
    // Hold the lookup: key_secrets is locked by another session until the change has been heard.
    const { default: pg } = await import('pg');
    const blocker = new pg.Client({ connectionString: schema.url });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE key_secrets IN ACCESS EXCLUSIVE MODE');
      const lookup = b.findCredential(key.digest);
      await sleep(50);
      const policy = (await a.getPolicy(orgIdForPolicy))!;
      await a.updatePolicy(orgIdForPolicy, { ...policy, max_keys: policy.max_keys + 1 }, []);
      await waitFor(() => seen.b.find((e) => e.type === 'policy_changed'), 'policy_changed on b');
      await blocker.query('COMMIT');
      expect((await lookup)!.key.id).toBe(key.id);
      // Announced again after the answer (when exactly, relative to this test's own awaits, is up to
      // the event loop: the lookup may resolve while the test still waits for COMMIT's reply).
      await waitFor(() => keyChanged(seen.b, key.id), 'key_changed re-announced on b');
    } finally {
      await blocker.end();
    }
    // A lookup that overlaps nothing announces nothing.
    seen.b.length = 0;
    await b.findCredential(key.digest);
    await b.getPolicy(orgIdForPolicy);
    await sleep(50);
    expect(seen.b).toStrictEqual([]);
  });

  it('when the listening connection is killed: reset, reconnect, reset again, and changes flow again', async () => {
    expect(b.listening).toBe(true);
    const killed = await schema.query<{ killed: boolean }>(
      'SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = $1',
      [`heykeys-listener ${b.instanceId}`],
    );
    expect(killed.rows).toStrictEqual([{ killed: true }]);
    await waitFor(() => (b.listening && seen.b.filter((e) => e.type === 'reset').length >= 2 ? true : undefined), 'b listening again after two resets');
    expect(seen.b.every((e) => e.type === 'reset')).toBe(true);
    expect(seen.a).toStrictEqual([]);
    const key = await newKey('after reconnect');
    await a.writeKey({ key: { ...key, name: 'seen again', version: 2 }, expected_version: 1, audit: [] });
    await waitFor(() => keyChanged(seen.b, key.id), 'key_changed on b after the reconnect');
  });
});
