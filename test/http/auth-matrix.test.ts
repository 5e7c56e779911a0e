/**
 * The 401/403 matrix, generated from openapi.yaml: every operation × every kind of credential,
 * with the expected cell computed from the scopes the operation declares. Nothing here lists
 * operations or scopes by hand.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSpec, operationsOf, type Operation } from '../../server/src/http/spec.ts';
import { ALL_SCOPES, READ_SCOPES, type Scope } from '../../server/src/domain/scopes.ts';
import type { Principal, RequestContext } from '../../server/src/domain/access.ts';
import { startTestServer, type TestServer } from '../support/app.ts';

const spec = loadSpec();
const operations = operationsOf(spec);

interface Fixture {
  server: TestServer;
  ids: { key: string; workspace: string; tag: string; member: string };
  secrets: Record<Cell, string | null>;
}

type Cell = 'none' | 'malformed' | 'unknown' | 'revoked' | 'all' | 'read_only' | 'with_scope' | 'without_scope' | 'machine_all' | 'other_org';
const CELLS: Cell[] = ['none', 'malformed', 'unknown', 'revoked', 'all', 'read_only', 'with_scope', 'without_scope', 'machine_all', 'other_org'];

type Expected = { status: 401; code: string } | { status: 403; code: string; missing?: Scope[] } | { status: 404 } | { status: 'pass' };

function expected(op: Operation, cell: Cell): Expected {
  const hasPathIds = op.path.includes('{');
  switch (cell) {
    case 'none':
      return { status: 401, code: 'unauthorized' };
    case 'malformed':
      return { status: 401, code: 'malformed_key' };
    case 'unknown':
      return { status: 401, code: 'unknown_key' };
    case 'revoked':
      return { status: 401, code: 'key_revoked' };
    case 'all':
    case 'with_scope':
      return { status: 'pass' };
    case 'read_only': {
      const missing = op.scopes.filter((s) => !READ_SCOPES.includes(s));
      return missing.length ? { status: 403, code: 'insufficient_scope', missing } : { status: 'pass' };
    }
    case 'without_scope':
      return op.scopes.length ? { status: 403, code: 'insufficient_scope', missing: [...op.scopes] } : { status: 'pass' };
    case 'machine_all':
      return op.ownerOnly ? { status: 403, code: 'owner_required' } : { status: 'pass' };
    case 'other_org':
      return hasPathIds ? { status: 404 } : { status: 'pass' };
  }
}

function exampleBody(op: Operation): unknown {
  const body = spec.paths[op.path][op.method].requestBody;
  if (!body) return undefined;
  const examples = body.content['application/json'].examples;
  return Object.values<{ value: unknown }>(examples)[0]!.value;
}

async function fixture(op: Operation): Promise<Fixture> {
  const server = await startTestServer();
  const { service } = server;
  const owner = await service.authenticate(server.ownerSecret, 'bearer');
  const ctx = (p: Principal): RequestContext => ({ principal: p, ip: null, now: server.clock.now() });
  const make = async (input: Parameters<typeof service.createKey>[1]) => (await service.createKey(ctx(owner), input)).secret;
  const workspace = await service.createWorkspace(ctx(owner), 'ws');
  const tag = await service.createTag(ctx(owner), workspace.id, 'tag');
  const machine = await service.createKey(ctx(owner), { name: 'machine', owner: { type: 'machine', name: 'bot' } });
  const targetMachine = await service.createKey(ctx(owner), { name: 'target machine', owner: { type: 'machine', name: 'target-bot' } });
  const target = await service.createKey(ctx(owner), { name: 'target' });
  const revoked = await service.createKey(ctx(owner), { name: 'revoked' });
  await service.revokeKey(ctx(owner), revoked.key.id);
  const withScope: Scope[] = op.scopes.length ? op.scopes : ['domains:read'];
  const withoutScope = ALL_SCOPES.filter((s) => !op.scopes.includes(s));
  const other = await server.newOrganization('Other');
  return {
    server,
    ids: { key: target.key.id, workspace: workspace.id, tag: tag.id, member: targetMachine.key.owner.id },
    secrets: {
      none: null,
      malformed: 'hey_this-is-not-a-key',
      unknown: 'hey_0000000000000000000000000000003UpZ4E',
      revoked: revoked.secret,
      all: server.ownerSecret,
      read_only: await make({ name: 'ro', permission: { type: 'read_only' } }),
      with_scope: await make({ name: 'with', permission: { type: 'restricted', scopes: withScope } }),
      without_scope: await make({ name: 'without', permission: { type: 'restricted', scopes: withoutScope } }),
      machine_all: machine.secret,
      other_org: other.secret,
    },
  };
}

function urlFor(op: Operation, ids: Fixture['ids']): string {
  let path = op.path.replace('{tagId}', ids.tag);
  if (path.startsWith('/v1/api-keys/')) path = path.replace('{id}', ids.key);
  else if (path.startsWith('/v1/members/')) path = path.replace('{id}', ids.member);
  else path = path.replace('{id}', ids.workspace);
  return path;
}

describe('the spec declares a scope requirement on every operation', () => {
  it('has operations, each accepting Bearer and Basic with the same declared scopes', () => {
    expect(operations.length).toBeGreaterThanOrEqual(27);
    for (const op of operations) {
      const security = spec.paths[op.path][op.method].security as Record<string, string[]>[];
      expect(security, op.operationId).toEqual([{ bearerAuth: op.scopes }, { basicAuth: op.scopes }]);
    }
  });

  it('refuses a spec in which an operation declares no security', () => {
    const broken = structuredClone(spec);
    delete broken.paths['/v1/api-keys'].get.security;
    expect(() => operationsOf(broken)).toThrow(/listApiKeys\) declares no security/);
  });
});

describe.each(operations.map((op) => [op.operationId, op] as const))('%s', (_name, op) => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await fixture(op);
  });
  afterAll(async () => {
    await fx.server.close();
  });

  it.each(CELLS)('%s', async (cell) => {
    const secret = fx.secrets[cell];
    const body = exampleBody(op);
    const headers: Record<string, string> = {};
    if (secret) headers['authorization'] = cell === 'with_scope' ? `Basic ${Buffer.from(`any:${secret}`).toString('base64')}` : `Bearer ${secret}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(fx.server.url + urlFor(op, fx.ids), {
      method: op.method.toUpperCase(),
      headers,
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await res.text();
    const want = expected(op, cell);
    const problem = text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : null;
    if (want.status === 'pass') {
      // Past authentication and the declared-scope gate. The operation itself may still refuse
      // (e.g. 403 privilege_escalation, 404, 409): that is the domain's answer, not the gate's.
      expect(res.status, text).not.toBe(401);
      expect(['insufficient_scope', 'owner_required'], text).not.toContain(problem?.code);
      expect(res.status, text).toBeLessThan(500);
      expect(fx.server.logs).toEqual([]);
      return;
    }
    expect(res.status, text).toBe(want.status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    if (want.status === 401) {
      expect(problem.code).toBe(want.code);
      const challenge = res.headers.get('www-authenticate') ?? '';
      expect(challenge).toMatch(/Bearer realm="heykeys"/);
      expect(challenge).toMatch(/Basic realm="heykeys"/);
    }
    if (want.status === 403) {
      expect(problem.code).toBe(want.code);
      if (want.missing) {
        expect(problem.missing_scopes).toEqual(want.missing);
        expect(problem.required_scopes).toEqual(op.scopes);
        for (const s of want.missing) expect(problem.detail).toContain(s);
        expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="heykeys", error="insufficient_scope", scope="${op.scopes.join(' ')}"`);
      }
    }
    if (want.status === 404) expect(problem.code).toBe('not_found');
    expect(fx.server.logs).toEqual([]);
  });
});
