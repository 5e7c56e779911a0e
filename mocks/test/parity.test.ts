/**
 * The mock against the real server, side by side. Both hold the same world: the server's own
 * createApp over a KeyService seeded with the mock's fixtures (same ids, same secrets, same clock),
 * and every step below is sent to both, in lockstep. Status, body and the headers a client reads
 * (Content-Type, WWW-Authenticate, Cache-Control, Retry-After, X-Request-Id) must be equal.
 *
 * Ids and secrets minted after seeding are random on each side; they are replaced by placeholders
 * numbered in order of appearance before comparing, so a create on one side still has to match
 * the create on the other field for field.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../server/src/app.ts';
import { DAY, ManualClock, SECOND } from '../../server/src/domain/clock.ts';
import { KeyService } from '../../server/src/domain/service.ts';
import { MemoryStore } from '../../server/src/store/memory.ts';
import { createMockCrypto } from '../src/core/crypto.ts';
import { FIXTURE_NOW, FIXTURE_SEED, seedFixtures, type Fixtures } from '../src/core/fixtures.ts';
import { createMockApi, type MockApi } from '../src/index.ts';

const COMPARED_HEADERS = ['content-type', 'www-authenticate', 'cache-control', 'retry-after', 'x-request-id'];
const MOCK_BASE = 'http://localhost:3000';

interface Outcome {
  status: number;
  headers: Record<string, string | null>;
  body: unknown;
}

interface RequestSpec {
  method?: string;
  path: string;
  /** Bearer key; `null` sends no Authorization header. */
  key?: string | null;
  headers?: Record<string, string>;
  /** JSON-encoded with Content-Type: application/json unless `rawBody` is given. */
  body?: unknown;
  rawBody?: string;
}

interface Side {
  name: string;
  clock: ManualClock;
  send(request: Request): Promise<Response>;
  /** What the server's timers would have done by now (its sweep runs on an interval). */
  tick(): Promise<void>;
  /** Bodies saved by earlier steps, for requests that need an id made on this side. */
  saved: Record<string, any>;
  placeholders: Map<string, string>;
}

let fx: Fixtures;
let mock: Side;
let server: Side;
let httpServer: Server;
let mockApi: MockApi;

function fixtureValues(f: Fixtures): Set<string> {
  const values = new Set<string>();
  const walk = (v: unknown) => {
    if (typeof v === 'string') values.add(v);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(f);
  return values;
}

/** Replaces ids, secrets and hints minted after seeding by `<kind#n>`, numbered per side in order of appearance. */
function normalise(side: Side, value: unknown, known: Set<string>): unknown {
  if (typeof value === 'string') {
    const hint = /^hey_\.\.\.[0-9A-Za-z]{4}$/.test(value) && ![...known].some((k) => k.endsWith(value.slice(-4)));
    if (hint) return '<hint>';
    // Ids and secrets, also inside details and paths ("No API key with id key_…").
    return value.replace(/\b(?:(key|usr|ws|tag|evt|use)_[0-9A-Za-z]{22}|hey_[0-9A-Za-z]{36})\b/g, (found, kind: string | undefined) => {
      if (known.has(found)) return found;
      const label = kind ?? 'secret';
      if (!side.placeholders.has(found)) {
        const n = [...side.placeholders.values()].filter((p) => p.startsWith(`<${label}#`)).length + 1;
        side.placeholders.set(found, `<${label}#${n}>`);
      }
      return side.placeholders.get(found)!;
    });
  }
  if (Array.isArray(value)) return value.map((v) => normalise(side, v, known));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(side, v, known)]));
  return value;
}

async function send(side: Side, spec: RequestSpec, base: string): Promise<Outcome> {
  await side.tick();
  const headers = new Headers({ 'x-request-id': 'parity', 'user-agent': 'parity-test', ...spec.headers });
  if (spec.key !== null && spec.key !== undefined) headers.set('authorization', `Bearer ${spec.key}`);
  let body: string | undefined = spec.rawBody;
  if (spec.body !== undefined) {
    body = JSON.stringify(spec.body);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  }
  const method = spec.method ?? (body === undefined ? 'GET' : 'POST');
  const res = await side.send(new Request(`${base}${spec.path}`, { method, headers, ...(body !== undefined ? { body } : {}) }));
  const text = await res.text();
  const picked: Record<string, string | null> = {};
  for (const name of COMPARED_HEADERS) picked[name] = res.headers.get(name);
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // compared as text
  }
  return { status: res.status, headers: picked, body: parsed };
}

/** Sends one request to both sides and expects the same answer; returns the server's raw outcome per side. */
async function bothSides(build: (side: Side) => RequestSpec, save?: string): Promise<{ mock: Outcome; server: Outcome }> {
  const known = fixtureValues(fx);
  const serverUrl = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
  const fromServer = await send(server, build(server), serverUrl);
  const fromMock = await send(mock, build(mock), MOCK_BASE);
  if (save) {
    server.saved[save] = fromServer.body;
    mock.saved[save] = fromMock.body;
  }
  const label = `${build(server).method ?? ''} ${build(server).path}`;
  expect(normalise(mock, fromMock, known), label).toEqual(normalise(server, fromServer, known));
  return { mock: fromMock, server: fromServer };
}

function advanceBoth(ms: number): void {
  mock.clock.advance(ms);
  server.clock.advance(ms);
}

beforeAll(async () => {
  mockApi = createMockApi({ baseUrl: MOCK_BASE });
  fx = await mockApi.ready;
  mock = { name: 'mock', clock: mockApi.clock, send: (r) => mockApi.handle(r), tick: async () => {}, saved: {}, placeholders: new Map() };

  const clock = new ManualClock(FIXTURE_NOW);
  const crypto = createMockCrypto();
  const service = new KeyService({ store: new MemoryStore(), clock, crypto });
  const seeded = await crypto.deterministic(FIXTURE_SEED, () => seedFixtures(service, clock));
  expect(seeded).toEqual(fx);
  const app = createApp({ service, validateResponses: true, logger: { error: () => {} } });
  httpServer = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  let sweptAt = Number.NaN;
  server = {
    name: 'server',
    clock,
    send: (r) => fetch(r),
    tick: async () => {
      if (clock.now() !== sweptAt) {
        sweptAt = clock.now();
        await service.sweepInactive();
      }
    },
    saved: {},
    placeholders: new Map(),
  };
});

afterAll(async () => {
  httpServer?.closeAllConnections();
  await new Promise((resolve) => httpServer?.close(resolve));
});

describe('authentication problems', () => {
  it.each([
    ['no Authorization header', {}],
    ['an unsupported scheme', { authorization: 'Token abc' }],
    ['a Bearer with nothing after it', { authorization: 'Bearer ' }],
    ['a malformed key', { authorization: 'Bearer hey_nope' }],
    ['a wrong checksum', { authorization: 'Bearer hey_0000000000000000000000000000003UpZ4F' }],
    ['an unknown well-formed key', { authorization: 'Bearer hey_0000000000000000000000000000003UpZ4E' }],
    ['Basic that is not base64 of user:key', { authorization: 'Basic not-base64!' }],
    ['Basic without a colon', { authorization: `Basic ${btoa('just-a-key')}` }],
  ])('%s', async (_, headers) => {
    const { server: answer } = await bothSides(() => ({ path: '/v1/me', key: null, headers }));
    expect(answer.status).toBe(401);
  });
});

describe('scopes and roles', () => {
  it.each([
    ['the {tags: read} key listing keys', () => ({ path: '/v1/api-keys', key: fx.acme.tagsReaderKey.secret })],
    ['the read-only key creating a key', () => ({ path: '/v1/api-keys', key: fx.acme.readOnlyKey.secret, body: { name: 'x' } })],
    ['the workspace key listing workspaces', () => ({ path: '/v1/workspaces', key: fx.acme.workspaceKey.secret })],
    ['the machine key changing the policy', () => ({ method: 'PATCH', path: '/v1/policy', key: fx.acme.machineKey.secret, body: { require_expiry: true } })],
    ['the workspace key creating an organization-level key', () => ({ path: '/v1/api-keys', key: fx.acme.workspaceKey.secret, body: { name: 'x' } })],
  ] as [string, () => RequestSpec][])('%s', async (_, build) => {
    const { server: answer } = await bothSides(build);
    expect(answer.status).toBe(403);
  });
});

describe('request validation', () => {
  const owner = () => fx.acme.ownerKey.secret;
  it.each([
    '/v1/api-keys?limit=0',
    '/v1/api-keys?limit=abc',
    '/v1/api-keys?limit=101',
    '/v1/api-keys?limit=1.5',
    '/v1/api-keys?colour=red',
    '/v1/api-keys?name=',
    '/v1/api-keys?owner_type=a:b',
    '/v1/api-keys?owner_type=a,b',
    '/v1/api-keys?name=' + 'x'.repeat(101),
    '/v1/api-keys?status=revoked',
    '/v1/api-keys?status=active&status=disabled',
    '/v1/api-keys?status[]=active',
    '/v1/api-keys?limit[x]=5&limit[y]=6',
    '/v1/api-keys?filter[name]=ci',
    '/v1/api-keys?owner_type=robot&workspace_id=nope',
    '/v1/api-keys?cursor=has%20space',
    '/v1/api-keys/nope',
    '/v1/api-keys/%E0%A4%A',
    '/v1/audit-events?action=api_key.exploded',
    '/v1/scopes?limit=5',
  ])('GET %s', async (path) => {
    const { server: answer } = await bothSides(() => ({ path, key: owner() }));
    expect(answer.status).toBe(400);
  });

  it('GET /v1/api-keys?name=a%3Ab (reserved characters are fine encoded)', async () => {
    const { server: answer } = await bothSides(() => ({ path: '/v1/api-keys?name=a%3Ab', key: owner() }));
    expect(answer.status).toBe(200);
  });

  it.each([
    ['an empty object', {}],
    ['an empty name and unknown fields', { name: '', colour: 'red' }],
    ['a restricted permission with neither scopes nor resources', { name: 'x', permission: { type: 'restricted' } }],
    ['unknown scopes and resources', { name: 'x', permission: { type: 'restricted', scopes: ['nope:read', 'tags:read', 'tags:read'] } }],
    ['an unknown resource access', { name: 'x', permission: { type: 'restricted', resources: { tags: 'admin', mail: 'read' } } }],
    ['both expiry fields', { name: 'x', expires_in_days: 7, expires_at: '2027-01-01T00:00:00Z' }],
    ['a date without a time', { name: 'x', expires_at: '2027-01-01' }],
    ['a string where a number goes', { name: 'x', expires_in_days: '7' }],
    ['a machine owner without a name', { name: 'x', owner: { type: 'machine' } }],
    ['selected workspaces with bad ids', { name: 'x', workspace_access: { type: 'selected', workspace_ids: ['nope', 'nope'] } }],
    ['a description too long', { name: 'x', description: 'd'.repeat(501) }],
    ['an array', [{ name: 'x' }]],
  ])('POST /v1/api-keys with %s', async (_, body) => {
    const { server: answer } = await bothSides(() => ({ path: '/v1/api-keys', key: owner(), body }));
    expect(answer.status).toBe(400);
  });

  it.each([
    ['no Content-Type', { rawBody: '{"name":"x"}', headers: {} }, 415],
    ['text/plain', { rawBody: 'name=x', headers: { 'content-type': 'text/plain' } }, 415],
    ['a latin1 charset', { rawBody: '{"name":"x"}', headers: { 'content-type': 'application/json; charset=latin1' } }, 415],
    ['broken JSON', { rawBody: '{"name":', headers: { 'content-type': 'application/json' } }, 400],
    ['a JSON string', { rawBody: '"x"', headers: { 'content-type': 'application/json' } }, 400],
    ['an empty JSON body', { rawBody: '', headers: { 'content-type': 'application/json' } }, 400],
    ['a body over 64 KiB', { rawBody: JSON.stringify({ name: 'x', description: 'd'.repeat(70_000) }), headers: { 'content-type': 'application/json' } }, 413],
    ['JSON with a charset parameter', { rawBody: '{"name":""}', headers: { 'content-type': 'application/json; charset=UTF-8' } }, 400],
  ] as [string, Partial<RequestSpec>, number][])('POST /v1/api-keys with %s', async (_, spec, status) => {
    const { server: answer } = await bothSides(() => ({ path: '/v1/api-keys', key: owner(), ...spec }));
    expect(answer.status).toBe(status);
  });

  it.each([
    ['PATCH', '/v1/api-keys/{key}', {}],
    ['PATCH', '/v1/api-keys/{key}', { name: 5, description: null }],
    ['PATCH', '/v1/api-keys/{key}', { workspace_access: { type: 'all', workspace_ids: [] } }],
    ['POST', '/v1/api-keys/{key}/rotate', { grace_period_seconds: -1 }],
    ['POST', '/v1/api-keys/{key}/rotate', { grace_period_seconds: '10' }],
    ['POST', '/v1/api-keys/{key}/rotate', { grace_period_seconds: 86_401, extra: true }],
    ['POST', '/v1/api-keys/verify', {}],
    ['POST', '/v1/api-keys/verify', { secret: 'x', scopes: ['tags:admin'], workspace_id: 'nope' }],
    ['PATCH', '/v1/policy', { inactivity_days: 0, allowed_auth_schemes: [], max_keys: 'many' }],
    ['PATCH', '/v1/policy', {}],
    ['POST', '/v1/workspaces', { name: '' }],
    ['POST', '/v1/workspaces/{ws}/tags', { name: 't'.repeat(51) }],
    ['POST', '/v1/workspaces/{ws}/api-keys', { name: 'x', workspace_access: { type: 'all' } }],
  ])('%s %s with %j', async (method, template, body) => {
    const path = template.replace('{key}', fx.acme.readOnlyKey.id).replace('{ws}', fx.acme.workspace.id);
    const { server: answer } = await bothSides(() => ({ method, path, key: owner(), body }));
    expect(answer.status).toBe(400);
  });
});

describe('routes and resources', () => {
  it.each([
    ['an unknown route', { path: '/v1/nothing' }, 404],
    ['an unknown route with a bad JSON body', { path: '/v1/nothing', rawBody: '{', headers: { 'content-type': 'application/json' } }, 400],
    ['a method the route lacks', { method: 'PUT', path: '/v1/me', body: {} }, 405],
    ['a trailing slash', { path: '/v1/me/' }, 200],
    ['HEAD, which the spec does not declare', { method: 'HEAD', path: '/v1/me' }, 405],
    ['OPTIONS', { method: 'OPTIONS', path: '/v1/api-keys' }, 405],
    ['a PATCH with a JSON type and no body', { method: 'PATCH', path: '/v1/policy', headers: { 'content-type': 'application/json' } }, 400],
    ['a workspace rename with no body', { method: 'PATCH', path: '/v1/workspaces/{ws}', headers: { 'content-type': 'application/json' } }, 400],
    ['an empty rotate', { method: 'POST', path: '/v1/api-keys/{key}/rotate' }, 200],
    ['a missing key', { path: '/v1/api-keys/key_0000000000missing' }, 404],
    ['deleting a person', { method: 'DELETE', path: '/v1/members/{ada}' }, 409],
    ['a selected workspace that does not exist', { path: '/v1/api-keys', body: { name: 'x', workspace_access: { type: 'selected', workspace_ids: ['ws_0000000000missing'] } } }, 400],
    ['an expiry in the past', { path: '/v1/api-keys', body: { name: 'x', expires_at: '2025-06-01T00:00:00Z' } }, 400],
    ['a duplicate tag', { path: '/v1/workspaces/{ws}/tags', body: { name: 'newsletter' } }, 409],
    ['the scope catalogue', { path: '/v1/scopes' }, 200],
    ['the fixtures, listed', { path: '/v1/api-keys?limit=3' }, 200],
    ['the members', { path: '/v1/members' }, 200],
    ['the audit log', { path: '/v1/audit-events' }, 200],
    ['the policy', { path: '/v1/policy' }, 200],
    ['a DELETE with a JSON body (last: it removes the fixture tag)', { method: 'DELETE', path: '/v1/workspaces/{ws}/tags/{tag}', body: { because: 'yes' } }, 204],
  ] as [string, RequestSpec, number][])('%s', async (_, spec, status) => {
    const path = spec.path
      .replace('{ada}', fx.acme.owner.id)
      .replace('{ws}', fx.acme.workspace.id)
      .replace('{tag}', fx.acme.tag.id)
      .replace('{key}', fx.acme.tagsReaderKey.id);
    const { server: answer } = await bothSides(() => ({ ...spec, path, key: fx.acme.ownerKey.secret }));
    expect(answer.status).toBe(status);
  });

  it("another organization's key, workspace and member all answer 404", async () => {
    const globex = fx.globex.ownerKey.secret;
    for (const path of [`/v1/api-keys/${fx.acme.ownerKey.id}`, `/v1/workspaces/${fx.acme.workspace.id}/tags`, `/v1/api-keys/${fx.acme.machineKey.id}/usage`]) {
      expect((await bothSides(() => ({ path, key: globex }))).server.status).toBe(404);
    }
    expect((await bothSides(() => ({ method: 'DELETE', path: `/v1/members/${fx.acme.machineUser.id}`, key: globex }))).server.status).toBe(404);
  });
});

describe('a lifecycle, step by step on both', () => {
  it('create, show once, rotate with grace, expire, disable, revoke, and go idle', async () => {
    const owner = fx.acme.ownerKey.secret;
    // Each step a millisecond apart: records made in the same millisecond sort by their random ids.
    const both = async (...args: Parameters<typeof bothSides>) => {
      const outcome = await bothSides(...args);
      advanceBoth(1);
      return outcome;
    };
    const created = await both(
      () => ({ path: '/v1/api-keys', key: owner, body: { name: 'parity', permission: { type: 'restricted', resources: { tags: 'write', api_keys: 'read' } }, expires_in_days: 30 } }),
      'created',
    );
    expect(created.server.status).toBe(201);
    const machine = await both(
      () => ({ path: '/v1/api-keys', key: owner, body: { name: 'bot', owner: { type: 'machine', name: 'bot' }, workspace_access: { type: 'selected', workspace_ids: [fx.acme.workspace.id] } } }),
      'machine',
    );
    expect(machine.server.status).toBe(201);
    await both((s) => ({ path: '/v1/me', key: s.saved['created'].secret }));
    await both((s) => ({ path: `/v1/api-keys/${s.saved['created'].id}`, key: owner }));
    await both((s) => ({ path: '/v1/api-keys', key: s.saved['created'].secret, body: { name: 'wider', permission: { type: 'all' } } }));
    await both(() => ({ path: '/v1/members', key: owner }));

    advanceBoth(10 * SECOND);
    await both((s) => ({ path: `/v1/api-keys/${s.saved['created'].id}/rotate`, key: owner, body: { grace_period_seconds: 30 } }), 'rotated');
    advanceBoth(29 * SECOND);
    await both((s) => ({ path: '/v1/me', key: s.saved['created'].secret }));
    advanceBoth(SECOND);
    expect((await both((s) => ({ path: '/v1/me', key: s.saved['created'].secret }))).server.status).toBe(401);
    await both((s) => ({ path: `/v1/api-keys/${s.saved['created'].id}/usage`, key: owner }));
    await both((s) => ({ path: '/v1/api-keys/verify', key: owner, body: { secret: s.saved['rotated'].secret, scopes: ['tags:write', 'campaigns:read'], workspace_id: fx.acme.workspace.id } }));

    await both((s) => ({ method: 'POST', path: `/v1/api-keys/${s.saved['machine'].id}/disable`, key: owner }));
    expect((await both((s) => ({ path: '/v1/me', key: s.saved['machine'].secret }))).server.status).toBe(401);
    await both((s) => ({ method: 'DELETE', path: `/v1/api-keys/${s.saved['machine'].id}`, key: owner }));
    expect((await both((s) => ({ method: 'POST', path: `/v1/api-keys/${s.saved['machine'].id}/enable`, key: owner }))).server.status).toBe(409);

    advanceBoth(30 * DAY);
    expect((await both((s) => ({ path: '/v1/me', key: s.saved['rotated'].secret }))).server.status).toBe(401);
    advanceBoth(60 * DAY);
    await both(() => ({ path: '/v1/api-keys?limit=100', key: owner }));
    expect((await both(() => ({ path: '/v1/me', key: fx.acme.readOnlyKey.secret }))).server.status).toBe(401);
    await both((s) => ({ path: `/v1/audit-events?key_id=${s.saved['created'].id}`, key: owner }));
  });
});

describe('with a rate limit', () => {
  it('the request past the limit is a 429 with Retry-After on both', async () => {
    const limited = createMockApi({ baseUrl: MOCK_BASE, rateLimitPerMinute: 2 });
    const { acme } = await limited.ready;
    const clock = new ManualClock(FIXTURE_NOW);
    const crypto = createMockCrypto();
    const service = new KeyService({ store: new MemoryStore(), clock, crypto });
    await crypto.deterministic(FIXTURE_SEED, () => seedFixtures(service, clock));
    const app = createApp({ service, rateLimitPerMinute: 2, logger: { error: () => {} } });
    const s = await new Promise<Server>((resolve) => {
      const started = app.listen(0, '127.0.0.1', () => resolve(started));
    });
    try {
      const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
      const sides: Side[] = [
        { name: 'server', clock, send: (r) => fetch(r), tick: async () => {}, saved: {}, placeholders: new Map() },
        { name: 'mock', clock: limited.clock, send: (r) => limited.handle(r), tick: async () => {}, saved: {}, placeholders: new Map() },
      ];
      const outcomes: Outcome[][] = [[], []];
      for (let i = 0; i < 3; i++) {
        for (const [n, side] of sides.entries()) {
          outcomes[n]!.push(await send(side, { path: '/v1/me', key: acme.ownerKey.secret }, n === 0 ? url : MOCK_BASE));
        }
        clock.advance(10 * SECOND);
        limited.clock.advance(10 * SECOND);
      }
      expect(outcomes[1]).toEqual(outcomes[0]);
      expect(outcomes[0]![2]).toMatchObject({ status: 429, headers: { 'retry-after': '40' } });
    } finally {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });
});
