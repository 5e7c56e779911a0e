import { beforeEach, describe, expect, it, vi } from 'vitest';
import { nodeCrypto } from '../node-crypto.ts';
import { MemoryStore } from '../store/memory.ts';
import type { Principal, RequestContext } from './access.ts';
import { DAY, ManualClock, SECOND } from './clock.ts';
import { DomainError } from './errors.ts';
import { KeyService, type VerifyInput } from './service.ts';

let clock: ManualClock;
let service: KeyService;
let store: MemoryStore;
let owner: Principal;

const ctx = (principal: Principal): RequestContext => ({ principal, ip: '127.0.0.1', now: clock.now() });
const auth = (secret: string) => service.authenticate(secret, 'bearer');
async function rejects(promise: Promise<unknown>, code: string): Promise<DomainError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  expect((error as DomainError).code).toBe(code);
  return error as DomainError;
}

/**
 * Counts the store's key reads. Each answers with what the store held when asked, later, as a
 * database across a network would: after `delayMs`, or, after `holdNext()`, once `release()`.
 */
function keyReads(delayMs = 0) {
  let count = 0;
  let hold: Promise<void> | null = null;
  let release = () => {};
  const getKey = store.getKey.bind(store);
  store.getKey = async (orgId, keyId) => {
    count++;
    const found = await getKey(orgId, keyId);
    const wait = hold ?? (delayMs > 0 ? new Promise((resolve) => setTimeout(resolve, delayMs)) : null);
    hold = null;
    if (wait) await wait;
    return found;
  };
  return {
    get count() {
      return count;
    },
    holdNext: () => void (hold = new Promise<void>((resolve) => (release = resolve))),
    release: () => release(),
  };
}

beforeEach(async () => {
  clock = new ManualClock('2026-01-01T00:00:00Z');
  store = new MemoryStore();
  service = new KeyService({ store, clock, crypto: nodeCrypto });
  const org = await service.createOrganization({ name: 'Acme', owner_name: 'Ada', owner_email: 'ada@acme.test' });
  owner = await auth(org.secret);
});

describe('authentication', () => {
  it('refuses malformed keys without touching the store', async () => {
    let lookups = 0;
    const find = store.findCredential.bind(store);
    store.findCredential = async (d) => (lookups++, find(d));
    await rejects(auth('hey_nope'), 'malformed_key');
    await rejects(auth('hey_0000000000000000000000000000003UpZ4F'), 'malformed_key');
    expect(lookups).toBe(0);
    await rejects(auth('hey_0000000000000000000000000000003UpZ4E'), 'unknown_key');
    expect(lookups).toBe(1);
  });

  it('costs one store lookup for a valid key, then none until the key changes', async () => {
    const { secret, key } = await service.createKey(ctx(owner), { name: 'k' });
    let lookups = 0;
    const find = store.findCredential.bind(store);
    store.findCredential = async (d) => (lookups++, find(d));
    await auth(secret);
    await auth(secret);
    await auth(secret);
    expect(lookups).toBe(1);
    await service.disableKey(ctx(owner), key.id);
    await rejects(auth(secret), 'key_disabled');
    expect(lookups).toBe(2);
  });

  it('expires a key at its expiry instant, to the millisecond', async () => {
    const { secret } = await service.createKey(ctx(owner), { name: 'k', expires_at: '2026-01-01T00:00:10.000Z' });
    clock.set('2026-01-01T00:00:09.999Z');
    await auth(secret);
    clock.set('2026-01-01T00:00:10.000Z');
    const e = await rejects(auth(secret), 'key_expired');
    expect(e.message).toBe('The API key expired on 2026-01-01T00:00:10.000Z.');
  });

  it('refuses a scheme the policy does not allow', async () => {
    await service.updatePolicy(ctx(owner), { allowed_auth_schemes: ['bearer'] });
    const { secret } = await service.createKey(ctx(owner), { name: 'k' });
    await rejects(service.authenticate(secret, 'basic'), 'auth_scheme_not_allowed');
    await service.authenticate(secret, 'bearer');
  });
});

describe('authentication from the cache alone (authenticateCached)', () => {
  /** What each way answers: the principal, or the code of the error it threw. */
  async function both(secret: string, scheme: 'bearer' | 'basic' = 'bearer') {
    const outcome = async (run: () => unknown) => {
      try {
        const principal = (await run()) as Principal | null;
        return principal === null ? null : { key_id: principal.key.id, secret: principal.secret, scheme: principal.scheme, owner_role: principal.owner_role };
      } catch (error) {
        return { error: (error as DomainError).code };
      }
    };
    const cached = await outcome(() => service.authenticateCached(secret, scheme));
    return { cached, full: await outcome(() => service.authenticate(secret, scheme)) };
  }

  it('answers as authenticate does, in every state a cached key can be in', async () => {
    const { secret, key } = await service.createKey(ctx(owner), { name: 'k', expires_in_days: 7 });
    await auth(secret); // cached
    const states: [string, () => Promise<unknown>, string][] = [
      ['valid', async () => {}, 'bearer'],
      ['basic refused by the policy', () => service.updatePolicy(ctx(owner), { allowed_auth_schemes: ['bearer'] }), 'basic'],
      ['disabled', () => service.disableKey(ctx(owner), key.id), 'bearer'],
      ['enabled again', () => service.enableKey(ctx(owner), key.id), 'bearer'],
      ['expired', async () => clock.advance(8 * DAY), 'bearer'],
      ['revoked', () => service.revokeKey(ctx(owner), key.id), 'bearer'],
    ];
    for (const [state, change, scheme] of states) {
      await change();
      await service.authenticate(secret, scheme as 'bearer').catch(() => {}); // warm the cache again after a change
      const { cached, full } = await both(secret, scheme as 'bearer');
      expect({ state, answer: cached }).toStrictEqual({ state, answer: full });
    }
  });

  it('answers as authenticate does for both secrets of a rotation, during and after the grace period', async () => {
    const { secret: old, key } = await service.createKey(ctx(owner), { name: 'k' });
    const { secret: current } = await service.rotateKey(ctx(owner), key.id, 60);
    for (const s of [old, current]) await auth(s);
    for (const s of [old, current]) {
      const { cached, full } = await both(s);
      expect(cached).toStrictEqual(full);
      expect(cached).not.toHaveProperty('error');
    }
    expect((await both(old)).cached).toMatchObject({ secret: 'previous' });
    clock.advance(61 * SECOND);
    expect(await both(old)).toStrictEqual({ cached: { error: 'secret_rotated' }, full: { error: 'secret_rotated' } });
  });

  it('refuses a malformed key itself, and leaves a cold cache and an inactive key to authenticate', async () => {
    expect(() => service.authenticateCached('hey_nope', 'bearer')).toThrow(DomainError);
    const { secret } = await service.createKey(ctx(owner), { name: 'k' });
    expect(service.authenticateCached(secret, 'bearer')).toBeNull(); // never looked up yet
    await auth(secret);
    expect(service.authenticateCached(secret, 'bearer')).not.toBeNull();
    await service.updatePolicy(ctx(owner), { inactivity_days: 30 });
    await auth(secret);
    clock.advance(31 * DAY);
    // Disabling for inactivity writes to the store: only authenticate does that.
    expect(service.authenticateCached(secret, 'bearer')).toBeNull();
    await rejects(auth(secret), 'key_disabled');
  });

  it('marks the key used, as authenticate does', async () => {
    const { secret, key } = await service.createKey(ctx(owner), { name: 'k' });
    await auth(secret);
    clock.advance(5 * SECOND);
    service.authenticateCached(secret, 'bearer');
    expect((await service.getKey(ctx(owner), key.id)).last_used_at).toBe(clock.now());
  });
});

describe('verify and reads from the cache alone (verifyCached, getKeyCached)', () => {
  it('verifies as verify does, in every state a cached key can be in', async () => {
    const { secret, key } = await service.createKey(ctx(owner), { name: 'k', expires_in_days: 7, permission: { type: 'restricted', scopes: ['api_keys:read'] } });
    const other = await service.createOrganization({ name: 'Other', owner_name: 'Bo', owner_email: 'bo@other.test' });
    const stranger = await auth(other.secret);
    const inputs: VerifyInput[] = [{ secret }, { secret, scopes: ['api_keys:write'] }, { secret, workspace_id: 'ws_00000000other' }, { secret: 'hey_nope' }];
    const states: [string, () => Promise<unknown>][] = [
      ['valid', async () => {}],
      ['disabled', () => service.disableKey(ctx(owner), key.id)],
      ['enabled again', () => service.enableKey(ctx(owner), key.id)],
      ['expired', async () => clock.advance(8 * DAY)],
      ['revoked', () => service.revokeKey(ctx(owner), key.id)],
    ];
    for (const [state, change] of states) {
      await change();
      for (const caller of [owner, stranger]) {
        await service.verify(ctx(caller), { secret }); // warm the cache again after a change
        for (const input of inputs) {
          const cached = service.verifyCached(ctx(caller), input);
          expect(cached, `${state}: cached`).not.toBeNull();
          expect({ state, input, answer: cached }).toStrictEqual({ state, input, answer: await service.verify(ctx(caller), input) });
        }
      }
    }
  });

  it('leaves a cold cache and a key just become inactive to verify, and marks a valid key used', async () => {
    const { secret, key } = await service.createKey(ctx(owner), { name: 'k' });
    expect(service.verifyCached(ctx(owner), { secret })).toBeNull(); // never looked up yet
    expect((await service.verify(ctx(owner), { secret })).code).toBe('VALID');
    clock.advance(5 * SECOND);
    expect(service.verifyCached(ctx(owner), { secret })?.code).toBe('VALID');
    expect((await service.getKey(ctx(owner), key.id)).last_used_at).toBe(clock.now());
    await service.updatePolicy(ctx(owner), { inactivity_days: 30 });
    await service.verify(ctx(owner), { secret });
    clock.advance(31 * DAY);
    // Disabling for inactivity writes to the store: only verify does that.
    expect(service.verifyCached(ctx(owner), { secret })).toBeNull();
    expect((await service.verify(ctx(owner), { secret })).code).toBe('DISABLED');
    expect((await service.getKey(ctx(owner), key.id)).status).toBe('disabled');
  });

  it('reads a key as getKey does once it is cached, and leaves the rest to getKey', async () => {
    const { key } = await service.createKey(ctx(owner), { name: 'k' });
    expect(service.getKeyCached(ctx(owner), key.id)).toBeNull();
    const read = await service.getKey(ctx(owner), key.id);
    expect(service.getKeyCached(ctx(owner), key.id)).toStrictEqual(read);
    await service.revokeKey(ctx(owner), key.id);
    expect(service.getKeyCached(ctx(owner), key.id)).toBeNull(); // the change dropped it
    await rejects(service.getKey(ctx(owner), key.id), 'not_found');
    // Cached again as revoked: the 404 comes from the cache too.
    expect(() => service.getKeyCached(ctx(owner), key.id)).toThrow(DomainError);
  });

  it('shares one store read among key reads that miss together, never one begun before a change', async () => {
    const { key } = await service.createKey(ctx(owner), { name: 'k' });
    const reads = keyReads(5);
    const together = await Promise.all([1, 2, 3].map(() => service.getKey(ctx(owner), key.id)));
    expect(reads.count).toBe(1);
    expect(together.map((k) => k.name)).toEqual(['k', 'k', 'k']);

    clock.advance(2 * SECOND); // the cached record is stale
    reads.holdNext();
    const begunBefore = service.getKey(ctx(owner), key.id); // reads 'k', held
    await service.updateKey(ctx(owner), key.id, { name: 'renamed' });
    const after = service.getKey(ctx(owner), key.id);
    reads.release();
    expect((await after).name).toBe('renamed');
    expect((await begunBefore).name).toBe('k');
  });

  it("keeps a read key's record through a flush, with the uses the flush wrote, reading the store once", async () => {
    const { key, secret } = await service.createKey(ctx(owner), { name: 'k' });
    const reads = keyReads();
    expect((await service.getKey(ctx(owner), key.id)).last_used_at).toBeNull();
    clock.advance(100);
    await auth(secret); // queued: the cached record does not have it yet
    await service.flush();
    expect(service.getKeyCached(ctx(owner), key.id)?.last_used_at).toBe(clock.now());
    expect((await store.getKey(owner.key.org_id, key.id))!.last_used_at).toBe(clock.now()); // as the store has it
    expect(reads.count).toBe(2); // the read above, and this check's own
  });

  it('renews a record read late in its life in the background, so no read waits for the store', async () => {
    const [busy, idle] = [(await service.createKey(ctx(owner), { name: 'busy' })).key, (await service.createKey(ctx(owner), { name: 'idle' })).key];
    const reads = keyReads();
    const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
    await service.getKey(ctx(owner), busy.id);
    await service.getKey(ctx(owner), idle.id);
    expect(reads.count).toBe(2);

    clock.advance(490); // renewal comes between half and three quarters of its life: not yet
    expect(service.getKeyCached(ctx(owner), busy.id)?.name).toBe('busy');
    expect(reads.count).toBe(2);
    clock.advance(310); // 800 ms old: past any renewal point
    reads.holdNext();
    expect(service.getKeyCached(ctx(owner), busy.id)?.name).toBe('busy'); // answered from the cache...
    expect(reads.count).toBe(3); // ...while one read renews it
    expect(service.getKeyCached(ctx(owner), busy.id)?.name).toBe('busy');
    expect(reads.count).toBe(3); // one
    reads.release();
    await settle();
    clock.advance(400); // 1.2 s after the first read: the record renewed at 800 ms is fresh
    expect(service.getKeyCached(ctx(owner), busy.id)?.name).toBe('busy');
    expect(service.getKeyCached(ctx(owner), idle.id)).toBeNull(); // not read late in its life: expired

    // A renewal begun before a change is not cached.
    clock.advance(400); // 1.6 s: the record read at 800 ms is past its renewal point
    reads.holdNext();
    expect(service.getKeyCached(ctx(owner), busy.id)?.name).toBe('busy'); // renewal begun, held
    await service.updateKey(ctx(owner), busy.id, { name: 'renamed' });
    reads.release();
    await settle();
    expect(service.getKeyCached(ctx(owner), busy.id)).toBeNull(); // the change dropped it; the old read did not come back
    expect((await service.getKey(ctx(owner), busy.id)).name).toBe('renamed');
  });

  it('asks again for a renewal that a flush overtook, so a busy key is not left to expire', async () => {
    const { key, secret } = await service.createKey(ctx(owner), { name: 'k' });
    const reads = keyReads();
    const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
    await service.getKey(ctx(owner), key.id);
    clock.advance(800); // past any renewal point
    reads.holdNext();
    expect(service.getKeyCached(ctx(owner), key.id)?.name).toBe('k'); // the renewal begins, held
    await auth(secret);
    await service.flush(); // writes a use while the renewal is in flight: its answer is stale
    reads.release();
    await settle();
    expect(reads.count).toBe(2);
    expect(service.getKeyCached(ctx(owner), key.id)?.last_used_at).toBe(clock.now()); // held, with the flushed use...
    expect(reads.count).toBe(3); // ...and renewing again
    await settle();
    clock.advance(400); // 1.2 s after the first read: renewed at 800 ms, not expired at 1 s
    expect(service.getKeyCached(ctx(owner), key.id)?.name).toBe('k');
    expect(reads.count).toBe(3);
  });

  it('spreads the renewals of records read together over their lives', async () => {
    const keys = [];
    for (let i = 0; i < 30; i++) keys.push((await service.createKey(ctx(owner), { name: `k${i}` })).key);
    const reads = keyReads();
    for (const key of keys) await service.getKey(ctx(owner), key.id); // all cached at one instant
    clock.advance(625); // halfway between the earliest and the latest renewal point
    for (const key of keys) expect(service.getKeyCached(ctx(owner), key.id)?.name).toBe(key.name);
    const renewed = reads.count - keys.length;
    // Each point is drawn on its own: all 30 on one side of the middle has odds of 2 in 2^30.
    expect(renewed).toBeGreaterThan(0);
    expect(renewed).toBeLessThan(keys.length);
  });

  it('has an organization once it was read', async () => {
    expect(service.getOrganizationCached(owner.key.org_id)).toBeNull();
    const org = await service.getOrganization(owner.key.org_id);
    expect(service.getOrganizationCached(owner.key.org_id)).toBe(org);
  });
});

describe('inactivity', () => {
  it('disables a key unused for the policy days, at the boundary to the second, with one audit event', async () => {
    await service.updatePolicy(ctx(owner), { inactivity_days: 90 });
    const created = clock.now();
    const { secret, key } = await service.createKey(ctx(owner), { name: 'idle' });
    clock.set(created + 90 * DAY - SECOND);
    await auth(secret); // used one second before the boundary: the window restarts from here
    const lastUse = clock.now();
    clock.set(lastUse + 90 * DAY - SECOND);
    await auth(secret);
    clock.set(clock.now() + 90 * DAY);
    const e = await rejects(auth(secret), 'key_disabled');
    expect(e.message).toContain('disabled after 90 days without use');
    const stored = await store.getKey(owner.key.org_id, key.id);
    expect(stored).toMatchObject({ status: 'disabled', disabled_reason: 'inactivity' });
    const events = await store.listAudit(owner.key.org_id, { key_id: key.id, action: 'api_key.auto_disabled' }, { limit: 10 });
    expect(events.data).toHaveLength(1);
    expect(events.data[0]!.actor).toBeNull();
    await rejects(auth(secret), 'key_disabled');
    expect((await store.listAudit(owner.key.org_id, { action: 'api_key.auto_disabled' }, { limit: 10 })).data).toHaveLength(1);
  });

  it('the sweep awaits the pause it is given before each organization', async () => {
    const events: string[] = [];
    const listed = store.listOrganizationIds.bind(store);
    const policyOf = store.getPolicy.bind(store);
    vi.spyOn(store, 'listOrganizationIds').mockImplementation(async () => [...(await listed()), 'org_missing']);
    vi.spyOn(store, 'getPolicy').mockImplementation(async (orgId) => {
      events.push(`policy ${orgId}`);
      return policyOf(orgId);
    });
    await service.sweepInactive({
      pause: async () => {
        events.push('pause');
      },
    });
    expect(events).toStrictEqual(['pause', `policy ${owner.key.org_id}`, 'pause', 'policy org_missing']);
  });

  it('the sweep disables exactly the keys past the window; enabling restarts the count', async () => {
    await service.updatePolicy(ctx(owner), { inactivity_days: 30 });
    const start = clock.now();
    const a = await service.createKey(ctx(owner), { name: 'a' });
    clock.set(start + 10 * DAY);
    const b = await service.createKey(ctx(owner), { name: 'b' });
    clock.set(start + 30 * DAY - SECOND);
    // the owner key keeps being used
    await auth((await service.rotateKey(ctx(owner), owner.key.id, 0)).secret);
    expect(await service.sweepInactive()).toBe(0);
    clock.set(start + 30 * DAY);
    expect(await service.sweepInactive()).toBe(1);
    expect((await store.getKey(owner.key.org_id, a.key.id))!.disabled_reason).toBe('inactivity');
    expect((await store.getKey(owner.key.org_id, b.key.id))!.status).toBe('active');
    const fresh = await auth((await service.rotateKey(ctx(owner), owner.key.id, 0)).secret);
    await service.enableKey(ctx(fresh), a.key.id);
    await auth(a.secret);
  });

  it('is off when the policy says null', async () => {
    await service.updatePolicy(ctx(owner), { inactivity_days: null });
    const { secret } = await service.createKey(ctx(owner), { name: 'k' });
    clock.advance(3650 * DAY);
    await auth(secret);
  });
});

describe('rotation', () => {
  it('keeps the old secret for the grace period, then refuses it', async () => {
    const { secret: old, key } = await service.createKey(ctx(owner), { name: 'k' });
    const { secret: next } = await service.rotateKey(ctx(owner), key.id, 60);
    expect(next).not.toBe(old);
    const viaOld = await auth(old);
    expect(viaOld.secret).toBe('previous');
    await auth(next);
    clock.advance(60 * SECOND - 1);
    await auth(old);
    clock.advance(1);
    await rejects(auth(old), 'secret_rotated');
    await auth(next);
  });

  it('retires the older secret at once on a second rotation', async () => {
    const { secret: first, key } = await service.createKey(ctx(owner), { name: 'k' });
    await service.rotateKey(ctx(owner), key.id, 3600);
    await service.rotateKey(ctx(owner), key.id, 3600);
    await rejects(auth(first), 'secret_rotated');
  });

  it('tracks last use of the previous secret separately during the grace period', async () => {
    const { secret: old, key } = await service.createKey(ctx(owner), { name: 'k' });
    await service.rotateKey(ctx(owner), key.id, 3600);
    clock.advance(5 * SECOND);
    await auth(old);
    await service.flush();
    const stored = (await store.getKey(owner.key.org_id, key.id))!;
    expect(stored.prev_last_used_at).toBe(clock.now());
    expect(stored.last_used_at).toBe(clock.now());
  });
});

describe('no privilege escalation', () => {
  it('a key cannot create or widen a key beyond its own scopes', async () => {
    const { secret } = await service.createKey(ctx(owner), {
      name: 'limited',
      permission: { type: 'restricted', scopes: ['api_keys:read', 'api_keys:write', 'tags:read'] },
    });
    const limited = await auth(secret);
    const e = await rejects(service.createKey(ctx(limited), { name: 'x', permission: { type: 'all' } }), 'privilege_escalation');
    expect(e.message).toContain('campaigns:read');
    const { key } = await service.createKey(ctx(limited), { name: 'y', permission: { type: 'restricted', scopes: ['tags:read'] } });
    await rejects(service.updateKey(ctx(limited), key.id, { permission: { type: 'restricted', resources: { tags: 'write' } } }), 'privilege_escalation');
    await rejects(service.rotateKey(ctx(limited), owner.key.id, 0), 'privilege_escalation');
  });

  it('a workspace-limited key cannot grant other workspaces', async () => {
    const ws1 = await service.createWorkspace(ctx(owner), 'one');
    const ws2 = await service.createWorkspace(ctx(owner), 'two');
    const { secret } = await service.createKey(ctx(owner), { name: 'ws1', workspace_access: { type: 'selected', workspace_ids: [ws1.id] } });
    const limited = await auth(secret);
    await rejects(service.createKey(ctx(limited), { name: 'x' }, ws2.id), 'not_found');
    await rejects(service.createKey(ctx(limited), { name: 'x' }), 'workspace_forbidden');
    const pinned = await service.createKey(ctx(limited), { name: 'x' }, ws1.id);
    expect(pinned.key.workspace_id).toBe(ws1.id);
  });
});

describe('machine users', () => {
  it('only owners create them; the key and the machine user live and die together', async () => {
    const { key, secret } = await service.createKey(ctx(owner), { name: 'ci', owner: { type: 'machine', name: 'ci-bot' } });
    const machine = await auth(secret);
    const e = await rejects(service.createKey(ctx(machine), { name: 'x', owner: { type: 'machine', name: 'y' } }), 'owner_required');
    expect(e.message).toContain('Only workspace owners may create machine users');
    const members = await service.listMembers(ctx(owner), { limit: 10 });
    expect(members.seat_count).toBe(1);
    expect(members.machine_user_count).toBe(1);
    expect(members.data.find((m) => m.type === 'machine')!.api_key_id).toBe(key.id);
    await service.revokeKey(ctx(owner), key.id);
    expect((await service.listMembers(ctx(owner), { limit: 10 })).machine_user_count).toBe(0);
    await rejects(auth(secret), 'key_revoked');
  });

  it('deleting the machine user revokes its key', async () => {
    const { key, secret } = await service.createKey(ctx(owner), { name: 'ci', owner: { type: 'machine', name: 'ci-bot' } });
    await service.deleteMember(ctx(owner), key.owner.id);
    await rejects(auth(secret), 'key_revoked');
    await rejects(service.deleteMember(ctx(owner), owner.key.owner.id), 'conflict');
  });
});

describe('lifecycle', () => {
  it('a revoked key can never be enabled', async () => {
    const { key } = await service.createKey(ctx(owner), { name: 'k' });
    await service.revokeKey(ctx(owner), key.id);
    await rejects(service.enableKey(ctx(owner), key.id), 'key_revoked_conflict');
    await rejects(service.getKey(ctx(owner), key.id), 'not_found');
  });

  it('enforces the policy on expiry and the key cap', async () => {
    await service.updatePolicy(ctx(owner), { require_expiry: true, max_expiry_days: 30 });
    expect((await rejects(service.createKey(ctx(owner), { name: 'k' }), 'policy_violation')).extras.policy).toBe('require_expiry');
    expect((await rejects(service.createKey(ctx(owner), { name: 'k', expires_in_days: 60 }), 'policy_violation')).extras.policy).toBe('max_expiry_days');
    await service.createKey(ctx(owner), { name: 'k', expires_in_days: 30 });
    await service.updatePolicy(ctx(owner), { max_keys: 2 });
    expect((await rejects(service.createKey(ctx(owner), { name: 'k', expires_in_days: 7 }), 'policy_violation')).extras.policy).toBe('max_keys');
  });
});

describe('verify', () => {
  it('reports every failed check, and counts a success as use', async () => {
    const ws = await service.createWorkspace(ctx(owner), 'w');
    const { secret, key } = await service.createKey(ctx(owner), {
      name: 'k',
      permission: { type: 'restricted', scopes: ['tags:read'] },
      workspace_access: { type: 'selected', workspace_ids: [ws.id] },
      expires_in_days: 7,
    });
    const ok = await service.verify(ctx(owner), { secret, scopes: ['tags:read'], workspace_id: ws.id });
    expect(ok).toMatchObject({ valid: true, code: 'VALID', failed_checks: [] });
    clock.advance(8 * DAY);
    const bad = await service.verify(ctx(owner), { secret, scopes: ['tags:write'], workspace_id: 'ws_00000000other' });
    expect(bad.valid).toBe(false);
    expect(bad.failed_checks.map((c) => c.code)).toEqual(['EXPIRED', 'INSUFFICIENT_SCOPE', 'WORKSPACE_FORBIDDEN']);
    expect(bad.code).toBe('EXPIRED');
    await service.flush();
    expect((await store.getKey(owner.key.org_id, key.id))!.last_used_at).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect((await service.verify(ctx(owner), { secret: 'nope' })).code).toBe('MALFORMED');
  });

  it('a key of another organization is NOT_FOUND', async () => {
    const other = await service.createOrganization({ name: 'Other', owner_name: 'O', owner_email: 'o@o.test' });
    expect((await service.verify(ctx(owner), { secret: other.secret })).code).toBe('NOT_FOUND');
  });
});

describe('batched writes', () => {
  it('a failed flush keeps its batch for the next one; flushes run in order', async () => {
    const { secret, key } = await service.createKey(ctx(owner), { name: 'k' });
    const p = await auth(secret);
    service.recordRequest({ principal: p, method: 'GET', route: '/v1/me', status: 200, ip: null, user_agent: null });
    const recordUse = store.recordUse.bind(store);
    store.recordUse = async () => {
      throw new Error('database unavailable');
    };
    await expect(service.flush()).rejects.toThrow('database unavailable');
    store.recordUse = recordUse;
    const first = service.flush();
    const second = service.flush();
    await Promise.all([first, second]);
    expect((await store.getKey(owner.key.org_id, key.id))!.last_used_at).toBe(clock.now());
    expect((await store.listUsage(owner.key.org_id, key.id, { limit: 10, before: null })).data).toHaveLength(1);
    expect(service.pendingWrites).toBe(0);
  });
});

describe('the credential cache', () => {
  it('does not keep an answer read before a change that was heard while the read was in flight', async () => {
    const { secret, key } = await service.createKey(ctx(owner), { name: 'k' });
    const find = store.findCredential.bind(store);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    store.findCredential = async (d) => {
      const answer = await find(d); // read before the revoke…
      await gate; // …answered after it
      return answer;
    };
    const first = auth(secret);
    await new Promise((r) => setTimeout(r, 5));
    await service.revokeKey(ctx(owner), key.id); // drops the key from the cache (a store event would too)
    release();
    await first; // authenticated with the stale row: it was in flight when the revoke happened
    store.findCredential = find;
    await rejects(auth(secret), 'key_revoked'); // but the stale row was not cached
  });
});

describe('key records read by id (the key-read cache)', () => {
  function countGetKey(): { readonly reads: number; restore(): void } {
    const get = store.getKey.bind(store);
    let reads = 0;
    store.getKey = async (o, k) => (reads++, get(o, k));
    return { get reads() { return reads; }, restore: () => (store.getKey = get) };
  }

  it('a second read costs no store read; every change made through the service shows at once', async () => {
    const { key } = await service.createKey(ctx(owner), { name: 'k' });
    const counter = countGetKey();
    await service.getKey(ctx(owner), key.id);
    await service.getKey(ctx(owner), key.id);
    expect(counter.reads).toBe(1);
    counter.restore();
    await service.updateKey(ctx(owner), key.id, { name: 'renamed' });
    expect((await service.getKey(ctx(owner), key.id)).name).toBe('renamed');
    await service.disableKey(ctx(owner), key.id);
    expect((await service.getKey(ctx(owner), key.id)).status).toBe('disabled');
    await service.revokeKey(ctx(owner), key.id);
    await rejects(service.getKey(ctx(owner), key.id), 'not_found');
  });

  it('never answers another organization with a cached record', async () => {
    const { key } = await service.createKey(ctx(owner), { name: 'k' });
    await service.getKey(ctx(owner), key.id); // cached
    const other = await service.createOrganization({ name: 'Globex', owner_name: 'Hank', owner_email: 'hank@globex.test' });
    await rejects(service.getKey(ctx(await auth(other.secret)), key.id), 'not_found');
  });

  it('shows a last use written behind its back (another process) within its maximum age', async () => {
    const { key } = await service.createKey(ctx(owner), { name: 'k' });
    await service.getKey(ctx(owner), key.id); // cached, never used
    await store.recordUse([{ key_id: key.id, digest: key.digest, at: clock.now() }]);
    expect((await service.getKey(ctx(owner), key.id)).last_used_at).toBeNull();
    clock.advance(1000); // the default maximum age
    expect((await service.getKey(ctx(owner), key.id)).last_used_at).toBe(clock.now() - 1000);
  });

  it('shows this process\'s uses before, during and after the flush that writes them', async () => {
    const { secret, key } = await service.createKey(ctx(owner), { name: 'k' });
    await service.getKey(ctx(owner), key.id); // cached before any use
    await auth(secret);
    const used = clock.now();
    expect((await service.getKey(ctx(owner), key.id)).last_used_at).toBe(used);
    clock.advance(10);
    await service.flush();
    expect((await service.getKey(ctx(owner), key.id)).last_used_at).toBe(used);
    // A record cached after the flush, then a use written by a later flush, with no read between.
    clock.advance(10);
    await auth(secret);
    await service.flush();
    expect((await service.getKey(ctx(owner), key.id)).last_used_at).toBe(clock.now());
  });

  it('does not keep a record read before a change that was heard while the read was in flight', async () => {
    const { key } = await service.createKey(ctx(owner), { name: 'k' });
    const get = store.getKey.bind(store);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    store.getKey = async (o, k) => {
      const answer = await get(o, k); // read before the rename…
      await gate; // …answered after it
      return answer;
    };
    const first = service.getKey(ctx(owner), key.id);
    await new Promise((r) => setTimeout(r, 5));
    store.getKey = get;
    await service.updateKey(ctx(owner), key.id, { name: 'renamed' });
    release();
    expect((await first).name).toBe('k'); // answered with what it read
    expect((await service.getKey(ctx(owner), key.id)).name).toBe('renamed'); // but did not cache it
  });
});

describe('a key cannot outlive the key that creates it', () => {
  it('refuses a longer or endless expiry from an expiring key, accepts one within it', async () => {
    const { secret } = await service.createKey(ctx(owner), { name: 'short', expires_in_days: 7 });
    const short = await auth(secret);
    const e = await rejects(service.createKey(ctx(short), { name: 'forever', expires_at: null }), 'privilege_escalation');
    expect(e.message).toContain('cannot outlive it');
    await rejects(service.createKey(ctx(short), { name: 'longer', expires_in_days: 30 }), 'privilege_escalation');
    const ok = await service.createKey(ctx(short), { name: 'within', expires_in_days: 7 });
    expect(ok.key.expires_at).toBe(short.key.expires_at);
  });
});
