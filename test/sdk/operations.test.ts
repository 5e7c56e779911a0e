/**
 * The SDK against the real server (`node server/src/main.ts`, responses validated against the
 * spec): every operation in openapi.yaml is called through it at least once, each declared problem
 * status the issue names (401/403/404/409/422/429) arrives narrowed, and no secret is ever printable.
 */
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operations, type OperationId } from '../../sdk/src/gen/operations.gen.ts';
import {
  createHeyKeysClient,
  HeyKeysProblemError,
  paginate,
  type HeyKeysClient,
  type HeyKeysClientOptions,
} from '../../sdk/src/index.ts';
import { createHeyKeysFetchClient } from '../../sdk/src/openapi-fetch.ts';
import { spawnServer, type ServerProcess } from '../support/process.ts';

const SECRET_SHAPE = /^hey_[0-9A-Za-z]{36}$/;

/** Which operation each request that reached the server was, by method and path template. */
const reached = new Set<OperationId>();
const routes = (Object.entries(operations) as Array<[OperationId, (typeof operations)[OperationId]]>)
  .map(([operationId, { method, path }]) => ({
    operationId,
    method,
    templated: path.includes('{'),
    pattern: new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`),
  }))
  .sort((a, b) => Number(a.templated) - Number(b.templated));

const recordingFetch: typeof fetch = async (input, init) => {
  const request = new Request(input, init);
  const { pathname } = new URL(request.url);
  const route = routes.find((r) => r.method === request.method && r.pattern.test(pathname));
  if (route) reached.add(route.operationId);
  return fetch(request);
};

/** Every secret seen in this file, and everything the SDK produced that a person could print. */
const secrets: string[] = [];
const printed: unknown[] = [];

let server: ServerProcess;
let owner: HeyKeysClient;

function client<T extends boolean = false>(apiKey: string, options: Partial<HeyKeysClientOptions<T>> = {}): HeyKeysClient<T> {
  secrets.push(apiKey);
  const made = createHeyKeysClient<T>({ baseUrl: server.url, apiKey, fetch: recordingFetch, ...options });
  printed.push(made);
  return made;
}

/** The value of a result that must have succeeded, failing the test with the problem otherwise. */
function ok<R extends { data: unknown; error: unknown }>(result: R): Exclude<R['data'], undefined> {
  printed.push(result.error);
  if (result.error !== undefined) throw new Error(`expected success, got ${JSON.stringify(result.error)}`);
  return result.data as Exclude<R['data'], undefined>;
}

beforeAll(async () => {
  // The default bootstrap email (owner@localhost) fails the spec's `format: email` under response
  // validation, so listMembers would answer 500: give the owner an address with a domain.
  server = await spawnServer({ env: { VALIDATE_RESPONSES: 'true', BOOTSTRAP_OWNER_EMAIL: 'owner@acme.test' }, removeDataDir: true });
  expect(server.ownerSecret).toMatch(SECRET_SHAPE);
  owner = client(server.ownerSecret!);
});

afterAll(async () => {
  await server?.stop();
});

describe('identity', () => {
  it('getMe answers for the calling key over Bearer and over Basic', async () => {
    const me = ok(await owner.getMe());
    expect(me).toMatchObject({ name: 'Owner key', owner: { role: 'owner' }, permission: { type: 'all' }, auth_scheme: 'bearer' });
    const overBasic = ok(await client(server.ownerSecret!, { scheme: 'basic', username: 'sdk-test' }).getMe());
    expect(overBasic).toMatchObject({ key_id: me.key_id, auth_scheme: 'basic' });
  });

  it('listScopes lists the twelve scopes', async () => {
    const { data } = ok(await owner.listScopes());
    expect(data.map((s) => s.scope)).toHaveLength(12);
    expect(data).toContainEqual(expect.objectContaining({ scope: 'api_keys:write', resource: 'api_keys', access: 'write' }));
  });
});

describe('workspaces and tags', () => {
  let workspaceId: string;

  it('creates, reads, renames and lists a workspace', async () => {
    const created = await owner.createWorkspace({ body: { name: 'Marketing' } });
    expect(created.response.status).toBe(201);
    workspaceId = ok(created).id;
    expect(ok(await owner.getWorkspace({ path: { id: workspaceId } })).name).toBe('Marketing');
    expect(ok(await owner.updateWorkspace({ path: { id: workspaceId }, body: { name: 'Growth' } })).name).toBe('Growth');
    const { data } = ok(await owner.listWorkspaces());
    expect(data.map((w) => [w.id, w.name])).toContainEqual([workspaceId, 'Growth']);
  });

  it('creates a tag once (a second with the same name is a 409), lists it and deletes it', async () => {
    const tag = ok(await owner.createTag({ path: { id: workspaceId }, body: { name: 'newsletter' } }));
    expect(tag).toMatchObject({ workspace_id: workspaceId, name: 'newsletter' });

    const duplicate = await owner.createTag({ path: { id: workspaceId }, body: { name: 'newsletter' } });
    printed.push(duplicate.error);
    expect(duplicate.error?.status).toBe(409);
    expect(duplicate.error?.code).toBeTypeOf('string');

    expect(ok(await owner.listTags({ path: { id: workspaceId } })).data.map((t) => t.id)).toEqual([tag.id]);
    const deleted = await owner.deleteTag({ path: { id: workspaceId, tagId: tag.id } });
    expect(deleted).toMatchObject({ data: undefined, error: undefined });
    expect(deleted.response.status).toBe(204);
    expect(ok(await owner.listTags({ path: { id: workspaceId } })).data).toEqual([]);
  });

  it('creates and lists a workspace-level key, then deletes the workspace with it', async () => {
    const created = await owner.createWorkspaceApiKey({
      path: { id: workspaceId },
      body: { name: 'Tag sync', permission: { type: 'restricted', scopes: ['tags:read', 'tags:write'] } },
    });
    const key = ok(created);
    secrets.push(key.secret);
    expect(key.workspace_id).toBe(workspaceId);
    expect(created.response.headers.get('cache-control')).toBe('no-store');
    const listed = ok(await owner.listWorkspaceApiKeys({ path: { id: workspaceId } }));
    expect(listed.data.map((k) => k.id)).toEqual([key.id]);

    expect((await owner.deleteWorkspace({ path: { id: workspaceId } })).response.status).toBe(204);
    const gone = await owner.getWorkspace({ path: { id: workspaceId } });
    printed.push(gone.error);
    expect(gone.error?.status).toBe(404);
    // Deleting the workspace revoked its keys.
    const pinned = await client(key.secret).getMe();
    printed.push(pinned.error);
    expect(pinned.error?.status).toBe(401);
  });
});

describe('an API key from creation to revocation', () => {
  let keyId: string;
  let machineUserId: string;
  let secret: string;

  it('creates a restricted key for a new machine user; the secret comes once, with no-store', async () => {
    const created = await owner.createApiKey({
      body: {
        name: 'CI deploy',
        description: 'pushes tags from CI',
        permission: { type: 'restricted', resources: { tags: 'write' } },
        owner: { type: 'machine', name: 'ci-bot' },
        expires_in_days: 30,
      },
    });
    const key = ok(created);
    expect(created.response.status).toBe(201);
    expect(created.response.headers.get('cache-control')).toBe('no-store');
    expect(key.secret).toMatch(SECRET_SHAPE);
    expect(key.permission.scopes.sort()).toEqual(['tags:read', 'tags:write']);
    expect(key.owner).toMatchObject({ type: 'machine', name: 'ci-bot' });
    ({ id: keyId, secret } = key);
    machineUserId = key.owner.id;
    secrets.push(secret);

    const fetched = ok(await owner.getApiKey({ path: { id: keyId } }));
    expect(fetched).toMatchObject({ id: keyId, name: 'CI deploy', status: 'active' });
    expect(fetched).not.toHaveProperty('secret');
  });

  it('edits, filters, disables and enables it', async () => {
    expect(ok(await owner.updateApiKey({ path: { id: keyId }, body: { name: 'CI deploy (tags)' } })).name).toBe('CI deploy (tags)');
    const machineKeys = ok(await owner.listApiKeys({ query: { owner_type: 'machine', name: 'deploy' } }));
    expect(machineKeys.data.map((k) => k.id)).toEqual([keyId]);

    expect(ok(await owner.disableApiKey({ path: { id: keyId } }))).toMatchObject({ status: 'disabled', disabled_reason: 'manual' });
    const refused = await client(secret).getMe();
    printed.push(refused.error);
    expect(refused.error?.status).toBe(401);
    expect(ok(await owner.listApiKeys({ query: { status: 'disabled' } })).data.map((k) => k.id)).toEqual([keyId]);

    expect(ok(await owner.enableApiKey({ path: { id: keyId } })).status).toBe('active');
    expect(ok(await client(secret).getMe()).key_id).toBe(keyId);
  });

  it('rotates it: both secrets work during the grace period, and verify tells the new one apart', async () => {
    const rotated = await owner.rotateApiKey({ path: { id: keyId }, body: { grace_period_seconds: 600 } });
    const key = ok(rotated);
    expect(rotated.response.headers.get('cache-control')).toBe('no-store');
    expect(key.secret).not.toBe(secret);
    expect(key.previous_secret).not.toBeNull();
    secrets.push(key.secret);
    expect(ok(await client(secret).getMe()).key_id).toBe(keyId);
    expect(ok(await client(key.secret).getMe()).key_id).toBe(keyId);

    const valid = ok(await owner.verifyApiKey({ body: { secret: key.secret, scopes: ['tags:write'] } }));
    expect(valid).toMatchObject({ valid: true, code: 'VALID', failed_checks: [], key: { id: keyId } });
    const lacking = ok(await owner.verifyApiKey({ body: { secret: key.secret, scopes: ['api_keys:write'] } }));
    expect(lacking).toMatchObject({ valid: false, code: 'INSUFFICIENT_SCOPE' });
    secret = key.secret;
  });

  it('shows its usage and its audit trail', async () => {
    // Usage is written behind the response (FLUSH_INTERVAL_MS=50): poll briefly.
    let usage = ok(await owner.getApiKeyUsage({ path: { id: keyId } }));
    for (let i = 0; i < 40 && usage.counts.total < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      usage = ok(await owner.getApiKeyUsage({ path: { id: keyId } }));
    }
    expect(usage.counts.total).toBeGreaterThanOrEqual(3);
    expect(usage.data[0]).toMatchObject({ method: 'GET', route: '/v1/me', status: 200 });

    const audit = ok(await owner.listAuditEvents({ query: { key_id: keyId } }));
    expect(audit.data.map((e) => e.action)).toEqual(
      expect.arrayContaining(['api_key.created', 'api_key.updated', 'api_key.disabled', 'api_key.enabled', 'api_key.rotated']),
    );
    const created = ok(await owner.listAuditEvents({ query: { action: 'api_key.created', key_id: keyId } }));
    expect(created.data).toHaveLength(1);
  });

  it('lists its machine user among the members, apart from the seats', async () => {
    const members = ok(await owner.listMembers());
    expect(members.data).toContainEqual(expect.objectContaining({ id: machineUserId, type: 'machine', name: 'ci-bot', api_key_id: keyId }));
    expect(members.seat_count).toBe(1);
    expect(members.machine_user_count).toBeGreaterThanOrEqual(1);
  });

  it('revokes it: the key stops working, is gone from the list, and can never be enabled again (409)', async () => {
    const revoked = await owner.revokeApiKey({ path: { id: keyId } });
    expect(revoked.response.status).toBe(204);
    const refused = await client(secret).getMe();
    printed.push(refused.error);
    expect(refused.error?.status).toBe(401);
    expect(ok(await owner.listApiKeys()).data.map((k) => k.id)).not.toContain(keyId);

    const enable = await owner.enableApiKey({ path: { id: keyId } });
    printed.push(enable.error);
    if (enable.error?.status === 409) expect(enable.error.code).toBeTypeOf('string');
    else expect.fail(`expected a 409, got ${JSON.stringify(enable.error ?? enable.data)}`);
  });
});

describe('members', () => {
  it('deletes a machine user and revokes its key; a person cannot be deleted (409)', async () => {
    const key = ok(await owner.createApiKey({ body: { name: 'bot', owner: { type: 'machine', name: 'bot' } } }));
    secrets.push(key.secret);
    expect((await owner.deleteMember({ path: { id: key.owner.id } })).response.status).toBe(204);
    const refused = await client(key.secret).getMe();
    printed.push(refused.error);
    expect(refused.error?.status).toBe(401);

    const me = ok(await owner.getMe());
    const human = await owner.deleteMember({ path: { id: me.owner.id } });
    printed.push(human.error);
    expect(human.error?.status).toBe(409);
  });
});

describe('declared problems arrive as values narrowed by status', () => {
  it('403 names the scopes the key lacks', async () => {
    const key = ok(await owner.createApiKey({ body: { name: 'tags only', permission: { type: 'restricted', scopes: ['tags:read'] } } }));
    secrets.push(key.secret);
    const { data, error } = await client(key.secret).listApiKeys();
    printed.push(error);
    expect(data).toBeUndefined();
    if (error?.status !== 403) return expect.fail(`expected a 403, got ${JSON.stringify(error)}`);
    expect(error).toMatchObject({ code: 'insufficient_scope', required_scopes: ['api_keys:read'], missing_scopes: ['api_keys:read'] });
  });

  it('401 comes with a WWW-Authenticate challenge for an unknown key', async () => {
    const { error, response } = await client('hey_000000000000000000000000000000000000').getMe();
    printed.push(error);
    expect(error?.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/Bearer/);
  });

  it('404 for an id that does not exist', async () => {
    const { error } = await owner.getApiKey({ path: { id: 'key_0000000000000000000000' } });
    printed.push(error);
    expect(error).toMatchObject({ status: 404, code: 'not_found' });
  });

  it('400 lists the failing fields', async () => {
    const { error } = await owner.listApiKeys({ query: { limit: 0 } });
    printed.push(error);
    expect(error?.status).toBe(400);
    expect(error?.errors?.length).toBeGreaterThan(0);
  });

  it('422 names the policy rule; getPolicy and updatePolicy round-trip', async () => {
    const before = ok(await owner.getPolicy());
    expect(ok(await owner.updatePolicy({ body: { require_expiry: true } })).require_expiry).toBe(true);
    const { error } = await owner.createApiKey({ body: { name: 'forever', expires_at: null } });
    printed.push(error);
    if (error?.status !== 422) return expect.fail(`expected a 422, got ${JSON.stringify(error)}`);
    expect(error.policy).toBe('require_expiry');
    expect(ok(await owner.updatePolicy({ body: { require_expiry: before.require_expiry } })).require_expiry).toBe(before.require_expiry);
  });

  it('429 with Retry-After once the key exceeds its rate limit', async () => {
    const limited = await spawnServer({ env: { RATE_LIMIT_PER_MINUTE: '2' }, removeDataDir: true });
    try {
      secrets.push(limited.ownerSecret!);
      const heykeys = createHeyKeysClient({ baseUrl: limited.url, apiKey: limited.ownerSecret! });
      const results = [await heykeys.getMe(), await heykeys.getMe(), await heykeys.getMe()];
      const last = results[2]!;
      printed.push(last.error);
      expect(results.slice(0, 2).map((r) => r.error)).toEqual([undefined, undefined]);
      expect(last.error?.status).toBe(429);
      expect(Number(last.response.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await limited.stop();
    }
  });

  it('throwOnError turns the problem into a HeyKeysProblemError whose message names it without the key', async () => {
    const throwing = client(server.ownerSecret!, { throwOnError: true });
    const error = await throwing.getApiKey({ path: { id: 'key_0000000000000000000000' } }).catch((e: unknown) => e);
    printed.push(error);
    expect(error).toBeInstanceOf(HeyKeysProblemError);
    expect((error as HeyKeysProblemError).message).toMatch(/^getApiKey failed: 404 not_found: /);
    const { data } = await throwing.getMe();
    expect(data.key_id).toMatch(/^key_/);
  });
});

describe('pagination', () => {
  it('paginate walks every page and yields the same keys as one big page, newest first', async () => {
    for (let i = 0; i < 5; i++) secrets.push(ok(await owner.createApiKey({ body: { name: `page ${i}` } })).secret);
    const all = ok(await owner.listApiKeys({ query: { limit: 100 } })).data.map((k) => k.id);
    expect(all.length).toBeGreaterThanOrEqual(6);
    const walked: string[] = [];
    for await (const key of paginate(owner.listApiKeys, { query: { limit: 2 } })) walked.push(key.id);
    expect(walked).toEqual(all);
  });
});

describe('openapi-fetch flavour', () => {
  it('creates a restricted key, lists it and revokes it by path', async () => {
    secrets.push(server.ownerSecret!);
    const api = createHeyKeysFetchClient({ baseUrl: server.url, apiKey: server.ownerSecret!, fetch: recordingFetch });
    printed.push(api);
    const created = await api.POST('/v1/api-keys', { body: { name: 'fetch flavour', permission: { type: 'restricted', scopes: ['tags:read'] } } });
    expect(created.response.status).toBe(201);
    const key = created.data!;
    secrets.push(key.secret);
    const listed = await api.GET('/v1/api-keys', { params: { query: { name: 'fetch flavour' } } });
    expect(listed.data!.data.map((k) => k.id)).toEqual([key.id]);
    const revoked = await api.DELETE('/v1/api-keys/{id}', { params: { path: { id: key.id } } });
    expect(revoked.response.status).toBe(204);
    const again = await api.GET('/v1/api-keys/{id}', { params: { path: { id: key.id } } });
    expect(again.error).toMatchObject({ status: 404, code: 'not_found' });
  });
});

describe('across this file', () => {
  it('no secret appears in anything the SDK returned or threw, printed any way', () => {
    expect(secrets.length).toBeGreaterThan(10);
    const text = printed
      .map((value) => [String(value), JSON.stringify(value) ?? '', inspect(value, { depth: 10, showHidden: true })].join('\n'))
      .join('\n');
    expect(printed.filter((p) => p !== undefined).length).toBeGreaterThan(20);
    for (const secret of new Set(secrets)) expect(text).not.toContain(secret);
  });

  it('called every operation of openapi.yaml against the server', () => {
    const all = Object.keys(operations).sort();
    expect(all).toHaveLength(27);
    expect([...reached].sort()).toEqual(all);
  });
});
