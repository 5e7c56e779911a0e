/**
 * The key lifecycle through plain fetch against setupServer, with the mock's clock moved by hand:
 * revoke, disable/enable, expiry, rotation grace and the 90-day inactivity rule, in milliseconds.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DAY, FIXTURE_NOW, SECOND, setupMockServer } from '../src/node.ts';
import { caller } from './support.ts';

const mock = setupMockServer();
const call = caller(mock.api.baseUrl);
let fx: Awaited<typeof mock.api.ready>;
let owner: string;

beforeAll(async () => {
  mock.listen();
  fx = await mock.api.ready;
  owner = fx.acme.ownerKey.secret;
});
afterEach(async () => {
  fx = await mock.reset();
});
afterAll(() => mock.close());

async function newKey(body: Record<string, unknown> = {}) {
  const res = await call('/v1/api-keys', { key: owner, body: { name: 'lifecycle', ...body } });
  expect(res.status).toBe(201);
  return res.body as { id: string; secret: string };
}

describe('revoke', () => {
  it('is immediate: the next request with the key is a 401 key_revoked, and the key leaves the list', async () => {
    const key = await newKey();
    expect((await call('/v1/me', { key: key.secret })).status).toBe(200);
    const revoked = await call(`/v1/api-keys/${key.id}`, { key: owner, method: 'DELETE' });
    expect(revoked.status).toBe(204);
    const after = await call('/v1/me', { key: key.secret });
    expect(after.status).toBe(401);
    expect(after.body).toMatchObject({ code: 'key_revoked', detail: `The API key was revoked on ${FIXTURE_NOW}.` });
    expect(after.headers.get('www-authenticate')).toBe(
      `Bearer realm="heykeys", error="invalid_token", error_description="The API key was revoked on ${FIXTURE_NOW}.", Basic realm="heykeys", charset="UTF-8"`,
    );
    const list = await call('/v1/api-keys?limit=100', { key: owner });
    expect(list.body.data.map((k: { id: string }) => k.id)).not.toContain(key.id);
    const enable = await call(`/v1/api-keys/${key.id}/enable`, { key: owner, method: 'POST' });
    expect(enable.status).toBe(409);
    expect(enable.body.code).toBe('key_revoked');
  });

  it("revoking the machine user's key deletes the machine user", async () => {
    expect((await call(`/v1/api-keys/${fx.acme.machineKey.id}`, { key: owner, method: 'DELETE' })).status).toBe(204);
    const members = await call('/v1/members', { key: owner });
    expect(members.body).toMatchObject({ seat_count: 1, machine_user_count: 0 });
    expect((await call('/v1/me', { key: fx.acme.machineKey.secret })).status).toBe(401);
  });
});

describe('disable and enable', () => {
  it('a disabled key answers 401 key_disabled until enabled again', async () => {
    const disabled = await call(`/v1/api-keys/${fx.acme.readOnlyKey.id}/disable`, { key: owner, method: 'POST' });
    expect(disabled.body).toMatchObject({ status: 'disabled', disabled_reason: 'manual' });
    const refused = await call('/v1/me', { key: fx.acme.readOnlyKey.secret });
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('key_disabled');
    await call(`/v1/api-keys/${fx.acme.readOnlyKey.id}/enable`, { key: owner, method: 'POST' });
    expect((await call('/v1/me', { key: fx.acme.readOnlyKey.secret })).status).toBe(200);
  });
});

describe('expiry', () => {
  it('a 7-day key works until its expiry instant and is a 401 key_expired from then on', async () => {
    const key = await newKey({ expires_in_days: 7 });
    mock.api.clock.advance(7 * DAY - 1);
    expect((await call('/v1/me', { key: key.secret })).status).toBe(200);
    mock.api.clock.advance(1);
    const expired = await call('/v1/me', { key: key.secret });
    expect(expired.status).toBe(401);
    expect(expired.body).toMatchObject({ code: 'key_expired', detail: 'The API key expired on 2026-01-08T00:00:00.000Z.' });
  });

  it('an exact expires_at date, set with clock.set', async () => {
    const key = await newKey({ expires_at: '2026-03-01T12:00:00Z' });
    mock.api.clock.set('2026-03-01T11:59:59.999Z');
    expect((await call('/v1/me', { key: key.secret })).status).toBe(200);
    mock.api.clock.set('2026-03-01T12:00:00Z');
    expect((await call('/v1/me', { key: key.secret })).body.code).toBe('key_expired');
  });
});

describe('rotation', () => {
  it('hands out a new secret once; the old one works for the grace period, then fails', async () => {
    const key = await newKey();
    const rotated = await call(`/v1/api-keys/${key.id}/rotate`, { key: owner, body: { grace_period_seconds: 60 } });
    expect(rotated.status).toBe(200);
    expect(rotated.headers.get('cache-control')).toBe('no-store');
    expect(rotated.body.secret).not.toBe(key.secret);
    expect(rotated.body.previous_secret).toEqual({ hint: `hey_...${key.secret.slice(-4)}`, expires_at: '2026-01-01T00:01:00.000Z', last_used_at: null });

    mock.api.clock.advance(60 * SECOND - 1);
    expect((await call('/v1/me', { key: key.secret })).status).toBe(200);
    expect((await call('/v1/me', { key: rotated.body.secret })).status).toBe(200);
    mock.api.clock.advance(1);
    const old = await call('/v1/me', { key: key.secret });
    expect(old.status).toBe(401);
    expect(old.body.code).toBe('secret_rotated');
    expect((await call('/v1/me', { key: rotated.body.secret })).status).toBe(200);
    const read = await call(`/v1/api-keys/${key.id}`, { key: owner });
    expect(read.body.previous_secret).toBeNull();
  });
});

describe('inactivity', () => {
  it('a key unused for 90 days is disabled with reason inactivity; one used in between is not', async () => {
    mock.api.clock.advance(89 * DAY);
    expect((await call('/v1/me', { key: owner })).status).toBe(200);
    // The read-only key was last touched when seeded, 59 s before FIXTURE_NOW: 90 days later it is idle.
    mock.api.clock.set(Date.parse(FIXTURE_NOW) + 90 * DAY - 60 * SECOND);
    expect((await call('/v1/me', { key: fx.acme.readOnlyKey.secret })).status).toBe(200);
    mock.api.clock.advance(90 * DAY);
    const idle = await call('/v1/me', { key: fx.acme.readOnlyKey.secret });
    expect(idle.status).toBe(401);
    expect(idle.body).toMatchObject({ code: 'key_disabled', detail: 'The API key was disabled after 90 days without use; an owner can enable it again.' });
  });

  it('the sweep disables idle keys the moment the clock passes the window, even unused ones', async () => {
    mock.api.clock.advance(90 * DAY - 2 * 60 * SECOND);
    expect((await call('/v1/me', { key: owner })).status).toBe(200);
    mock.api.clock.advance(2 * 60 * SECOND);
    const list = await call('/v1/api-keys?limit=100', { key: owner });
    expect(list.status).toBe(200);
    const byName = Object.fromEntries(list.body.data.map((k: { name: string; status: string; disabled_reason: string | null }) => [k.name, [k.status, k.disabled_reason]]));
    expect(byName).toEqual({
      'Owner key': ['active', null],
      'Read-only dashboard': ['disabled', 'inactivity'],
      'Tags reader': ['disabled', 'inactivity'],
      'CI deploy': ['disabled', 'inactivity'],
      'Marketing tags': ['disabled', 'inactivity'],
    });
    const audit = await call('/v1/audit-events?action=api_key.auto_disabled', { key: owner });
    expect(audit.body.data).toHaveLength(4);
    expect(audit.body.data[0]).toMatchObject({ actor: null });
  });
});
