/**
 * Races at the store, as two server processes would run them: two stores (two pools) on one
 * schema, many calls in parallel. Nothing may be lost or broken: the key cap holds, a machine user
 * exists exactly when its key does, one compare-and-set wins, a revoke is never undone by a racing
 * enable, and overlapping last-use flushes neither deadlock nor move a time backwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestContext } from '../../server/src/domain/access.ts';
import { systemClock } from '../../server/src/domain/clock.ts';
import type { AuditEvent, KeyRecord, Member } from '../../server/src/domain/model.ts';
import { KeyService } from '../../server/src/domain/service.ts';
import { nodeCrypto } from '../../server/src/node-crypto.ts';
import { openPostgresStore, type PostgresStore } from '../../server/src/store/postgres.ts';
import { createTestSchema, postgresTarget, type TestSchema } from '../support/postgres.ts';

const target = postgresTarget('PostgreSQL races between two pools');

describe.skipIf(target.skip)('PostgreSQL races between two pools', () => {
  let schema: TestSchema;
  let stores: [PostgresStore, PostgresStore];
  let services: [KeyService, KeyService];
  let counter = 0;

  beforeAll(async () => {
    schema = await createTestSchema(target.url());
    stores = [await openPostgresStore(schema.url, { poolSize: 8 }), await openPostgresStore(schema.url, { poolSize: 8 })];
    services = [
      new KeyService({ store: stores[0], clock: systemClock, crypto: nodeCrypto }),
      new KeyService({ store: stores[1], clock: systemClock, crypto: nodeCrypto }),
    ];
  });
  afterAll(async () => {
    for (const service of services ?? []) await service.close();
    for (const store of stores ?? []) await store.close();
    await schema?.drop();
  });

  /** A new organization (through store 0) and a request context for its owner on each service. */
  async function organization(): Promise<{ orgId: string; ctx: [RequestContext, RequestContext]; ownerKey: KeyRecord }> {
    const created = await services[0].createOrganization({ name: `Race ${++counter}`, owner_name: 'Owner', owner_email: `o${counter}@race.test` });
    const ctx = await Promise.all(services.map(async (s) => ({ principal: await s.authenticate(created.secret, 'bearer'), ip: null, now: Date.now() })));
    return { orgId: created.organization.id, ctx: ctx as [RequestContext, RequestContext], ownerKey: created.key };
  }

  /** A key record (with a machine user when `machine`) ready for insertKey. */
  function record(orgId: string, owner: KeyRecord, machine: boolean): { key: KeyRecord; machine_user?: Member } {
    const n = ++counter;
    const id = `key_race_${String(n).padStart(6, '0')}`;
    const base: KeyRecord = { ...owner, id, name: `race ${n}`, digest: `${n}`.padStart(64, 'f'), version: 1, last_used_at: null };
    if (!machine) return { key: base };
    const machine_user: Member = { id: `usr_race_${n}`, org_id: orgId, type: 'machine', name: `bot ${n}`, email: null, role: null, created_at: Date.now() };
    return { key: { ...base, owner: { type: 'machine', id: machine_user.id, name: machine_user.name } }, machine_user };
  }

  async function truth(orgId: string) {
    const { rows } = await schema.query<{ unrevoked: number; counted: number; machines: number; orphans: number; keyless: number }>(
      `SELECT (SELECT count(*)::int FROM keys WHERE org_id = $1 AND status <> 'revoked') AS unrevoked,
              (SELECT unrevoked_keys FROM organizations WHERE id = $1) AS counted,
              (SELECT count(*)::int FROM members WHERE org_id = $1 AND type = 'machine') AS machines,
              (SELECT count(*)::int FROM members m WHERE m.org_id = $1 AND m.type = 'machine'
                 AND NOT EXISTS (SELECT 1 FROM keys k WHERE k.owner_id = m.id AND k.status <> 'revoked')) AS orphans,
              (SELECT count(*)::int FROM keys k WHERE k.org_id = $1 AND k.owner_type = 'machine' AND k.status <> 'revoked'
                 AND NOT EXISTS (SELECT 1 FROM members m WHERE m.id = k.owner_id)) AS keyless`,
      [orgId],
    );
    return rows[0]!;
  }

  it('60 parallel inserts through two pools never exceed max_keys; each machine user exists exactly with its key', async () => {
    const { orgId, ownerKey } = await organization(); // the owner key holds 1 of the 10
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => stores[i % 2]!.insertKey({ ...record(orgId, ownerKey, i % 3 === 0), audit: [], max_keys: 10 })),
    );
    expect(results.filter((r) => r === 'ok')).toHaveLength(9);
    expect(results.filter((r) => r === 'cap_reached')).toHaveLength(51);
    const t = await truth(orgId);
    expect(t).toMatchObject({ unrevoked: 10, counted: 10, orphans: 0, keyless: 0 });
  });

  it('revokes racing inserts at the cap: the count stays true and the cap holds', async () => {
    const { orgId, ownerKey } = await organization();
    const keys: KeyRecord[] = [];
    for (let i = 0; i < 9; i++) {
      const r = record(orgId, ownerKey, i % 2 === 0);
      expect(await stores[0].insertKey({ ...r, audit: [], max_keys: 10 })).toBe('ok');
      keys.push(r.key);
    }
    const revokes = keys.slice(0, 5).map((key, i) =>
      stores[i % 2]!.writeKey({
        key: { ...key, status: 'revoked', revoked_at: Date.now(), version: 2 },
        expected_version: 1,
        audit: [],
        delete_member_id: key.owner.type === 'machine' ? key.owner.id : undefined,
      }),
    );
    const inserts = Array.from({ length: 20 }, (_, i) => stores[i % 2]!.insertKey({ ...record(orgId, ownerKey, i % 2 === 1), audit: [], max_keys: 10 }));
    expect(await Promise.all(revokes)).toStrictEqual([true, true, true, true, true]);
    const inserted = (await Promise.all(inserts)).filter((r) => r === 'ok').length;
    expect(inserted).toBeLessThanOrEqual(5);
    const t = await truth(orgId);
    expect(t.unrevoked).toBe(10 - 5 + inserted);
    expect(t).toMatchObject({ counted: t.unrevoked, orphans: 0, keyless: 0 });
  });

  it('of 20 writers with the same expected version, exactly one wins, with its audit event only', async () => {
    const { orgId, ownerKey } = await organization();
    const { key } = record(orgId, ownerKey, false);
    await stores[0].insertKey({ key, audit: [], max_keys: 100 });
    const event = (i: number): AuditEvent => ({
      id: `evt_race_${key.id}_${String(i).padStart(2, '0')}`,
      org_id: orgId,
      at: Date.now(),
      action: 'api_key.updated',
      key_id: key.id,
      subject_id: key.id,
      actor: null,
      ip: null,
      changes: { name: { from: key.name, to: `writer ${i}` } },
    });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        stores[i % 2]!.writeKey({ key: { ...key, name: `writer ${i}`, version: 2 }, expected_version: 1, audit: [event(i)] }),
      ),
    );
    const winners = results.flatMap((ok, i) => (ok ? [i] : []));
    expect(winners).toHaveLength(1);
    const stored = (await stores[1].getKey(orgId, key.id))!;
    expect(stored).toMatchObject({ name: `writer ${winners[0]}`, version: 2 });
    expect((await stores[1].listAudit(orgId, { key_id: key.id }, { limit: 50 })).data.map((e) => e.id)).toStrictEqual([event(winners[0]!).id]);
  });

  it('a revoke racing enables and disables through two services always ends revoked, audited once', async () => {
    const { orgId, ctx } = await organization();
    for (let round = 0; round < 8; round++) {
      const { key } = await services[0].createKey(ctx[0], { name: `toggle ${round}` });
      await services[0].disableKey(ctx[0], key.id);
      const outcomes = await Promise.allSettled([
        ...Array.from({ length: 6 }, (_, i) => services[i % 2]!.enableKey(ctx[i % 2]!, key.id)),
        ...Array.from({ length: 4 }, (_, i) => services[i % 2]!.disableKey(ctx[i % 2]!, key.id)),
        services[round % 2]!.revokeKey(ctx[round % 2]!, key.id),
      ]);
      expect(outcomes.at(-1)!.status).toBe('fulfilled'); // the revoke itself always lands
      for (const o of outcomes) {
        if (o.status === 'rejected') expect((o.reason as { code?: string }).code).toMatch(/^(not_found|key_revoked_conflict|conflict)$/);
      }
      const stored = (await stores[round % 2]!.getKey(orgId, key.id))!;
      expect(stored.status).toBe('revoked');
      const revokedEvents = await stores[0].listAudit(orgId, { key_id: key.id, action: 'api_key.revoked' }, { limit: 10 });
      expect(revokedEvents.data).toHaveLength(1);
      // Every acknowledged toggle is one version step: nothing was written over.
      const audited = (await stores[0].listAudit(orgId, { key_id: key.id }, { limit: 100 })).data.length;
      expect(stored.version).toBe(audited); // created (v1) … each audited change bumps it once
    }
  });

  it('last-use flushes of overlapping keys from both pools, in opposite orders, neither deadlock nor go backwards', async () => {
    const { orgId, ownerKey } = await organization();
    const keys: KeyRecord[] = [];
    for (let i = 0; i < 12; i++) {
      const { key } = record(orgId, ownerKey, false);
      await stores[0].insertKey({ key, audit: [], max_keys: 100 });
      keys.push(key);
    }
    const base = Date.now();
    let latest = 0;
    const flushes: Promise<void>[] = [];
    for (let round = 0; round < 40; round++) {
      const at = base + Math.floor(Math.random() * 100_000);
      latest = Math.max(latest, at);
      const uses = keys.map((k, i) => ({ key_id: k.id, digest: k.digest, at: at - i }));
      flushes.push(stores[round % 2]!.recordUse(round % 2 === 0 ? uses : [...uses].reverse()));
    }
    // …while the keys are also being rewritten (revoked) and a workspace-free rename goes on.
    flushes.push(
      ...keys.slice(0, 6).map(async (k, i) => {
        expect(await stores[i % 2]!.writeKey({ key: { ...k, name: 'renamed', version: 2 }, expected_version: 1, audit: [] })).toBe(true);
      }),
    );
    await Promise.all(flushes);
    for (const [i, k] of keys.entries()) expect((await stores[0].getKey(orgId, k.id))!.last_used_at).toBe(latest - i);
  });
});
