/**
 * The contract suite: written once against the SDK, run against every target (test/contract/*.test.ts).
 *
 * - Every operation, on every target: its declared success (status, headers, a body the spec's
 *   schema accepts), 401 without credentials, and refusal of invalid input.
 * - On stateful targets, the key lifecycle end to end. Each expectation states the whole answer
 *   (status, every problem field, the challenge), so a target answering differently from the others
 *   fails instead of being explained away. Ids and secrets are the target's own; instants in details
 *   are compared as `<time>`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { operations, type OperationId } from '../../sdk/src/gen/operations.gen.ts';
import type { HeyKeysClient } from '../../sdk/src/index.ts';
import { declaredErrorStatuses, OPERATION_IDS } from './spec.ts';
import {
  anonymousClient,
  challenge,
  clientFor,
  DAY,
  expectNewestFirst,
  expectProblem,
  expectSuccess,
  formEncodingClient,
  hintOf,
  method,
  outcomeOf,
  SECOND,
  SECRET_SHAPE,
  uniqueName,
  UNKNOWN_KEY,
  withoutTimes,
} from './support.ts';
import type { ContractTarget } from './target.ts';

/** The ids the per-operation cases use: made on stateful targets, the spec's example ids on Prism's mock. */
interface World {
  keyId: string;
  secret: string;
  workspaceId: string;
  tagId: string;
  machineUserId: string;
  workspaceKeyId: string;
  inactivityDays: number | null;
}

const EXAMPLE_WORLD: World = {
  keyId: 'key_0ujsszwN8NRYFpQm2hLcKz',
  secret: UNKNOWN_KEY,
  workspaceId: 'ws_0ujsszwN8NRYFpQm2hLcKz',
  tagId: 'tag_0ujsszwN8NRYFpQm2hLcKz',
  machineUserId: 'usr_0ujsszgFvbiEr7CDgE3z8M',
  workspaceKeyId: 'key_0ujsszwN8NRYFpQm2hLcKy',
  inactivityDays: 90,
};

interface CallOptions {
  path?: Record<string, string>;
  query?: Record<string, unknown>;
  body?: unknown;
}

/**
 * One valid request per operation, in an order that works on a stateful target (deletions last).
 * `satisfies` makes an operation added to openapi.yaml a compile error here until it has a case.
 */
const VALID_REQUESTS = {
  getMe: () => ({}),
  listScopes: () => ({}),
  listApiKeys: () => ({ query: { status: 'active', limit: 5 } }),
  createApiKey: () => ({ body: { name: uniqueName('shape'), permission: { type: 'read_only' }, expires_in_days: 7 } }),
  verifyApiKey: (w) => ({ body: { secret: w.secret, scopes: ['tags:read'] } }),
  getApiKey: (w) => ({ path: { id: w.keyId } }),
  updateApiKey: (w) => ({ path: { id: w.keyId }, body: { description: 'edited by the contract suite' } }),
  disableApiKey: (w) => ({ path: { id: w.keyId } }),
  enableApiKey: (w) => ({ path: { id: w.keyId } }),
  rotateApiKey: (w) => ({ path: { id: w.keyId }, body: { grace_period_seconds: 60 } }),
  getApiKeyUsage: (w) => ({ path: { id: w.keyId }, query: { limit: 5 } }),
  listMembers: () => ({}),
  listWorkspaces: () => ({}),
  createWorkspace: () => ({ body: { name: uniqueName('workspace') } }),
  getWorkspace: (w) => ({ path: { id: w.workspaceId } }),
  updateWorkspace: (w) => ({ path: { id: w.workspaceId }, body: { name: uniqueName('renamed') } }),
  listWorkspaceApiKeys: (w) => ({ path: { id: w.workspaceId } }),
  createWorkspaceApiKey: (w) => ({
    path: { id: w.workspaceId },
    body: { name: uniqueName('pinned'), permission: { type: 'restricted', scopes: ['tags:read'] } },
  }),
  listTags: (w) => ({ path: { id: w.workspaceId } }),
  createTag: (w) => ({ path: { id: w.workspaceId }, body: { name: uniqueName('tag').slice(0, 50) } }),
  deleteTag: (w) => ({ path: { id: w.workspaceId, tagId: w.tagId } }),
  listAuditEvents: (w) => ({ query: { key_id: w.keyId, limit: 10 } }),
  getPolicy: () => ({}),
  updatePolicy: (w) => ({ body: { inactivity_days: w.inactivityDays } }),
  revokeApiKey: (w) => ({ path: { id: w.workspaceKeyId } }),
  deleteMember: (w) => ({ path: { id: w.machineUserId } }),
  deleteWorkspace: (w) => ({ path: { id: w.workspaceId } }),
} satisfies Record<OperationId, (world: World) => CallOptions>;

interface InvalidCase {
  request: (world: World) => CallOptions;
  /** The one failing field and the validator's message for it. */
  field: string;
  message: string;
}

/** One request per operation that takes input, breaking the spec in one place (body, path or query). */
const INVALID_REQUESTS: Partial<Record<OperationId, InvalidCase>> = {
  listApiKeys: { request: () => ({ query: { limit: 0 } }), field: 'query/limit', message: 'must be >= 1' },
  createApiKey: { request: () => ({ body: { name: '' } }), field: 'body/name', message: 'must NOT have fewer than 1 characters' },
  verifyApiKey: { request: () => ({ body: { secret: '' } }), field: 'body/secret', message: 'must NOT have fewer than 1 characters' },
  getApiKey: { request: () => ({ path: { id: 'nope' } }), field: 'params/id', message: 'must match pattern "^key_[0-9A-Za-z]{8,40}$"' },
  updateApiKey: { request: (w) => ({ path: { id: w.keyId }, body: { name: '' } }), field: 'body/name', message: 'must NOT have fewer than 1 characters' },
  revokeApiKey: { request: () => ({ path: { id: 'nope' } }), field: 'params/id', message: 'must match pattern "^key_[0-9A-Za-z]{8,40}$"' },
  disableApiKey: { request: () => ({ path: { id: 'nope' } }), field: 'params/id', message: 'must match pattern "^key_[0-9A-Za-z]{8,40}$"' },
  enableApiKey: { request: () => ({ path: { id: 'nope' } }), field: 'params/id', message: 'must match pattern "^key_[0-9A-Za-z]{8,40}$"' },
  rotateApiKey: {
    request: (w) => ({ path: { id: w.keyId }, body: { grace_period_seconds: 86_401 } }),
    field: 'body/grace_period_seconds',
    message: 'must be <= 86400',
  },
  getApiKeyUsage: { request: (w) => ({ path: { id: w.keyId }, query: { limit: 101 } }), field: 'query/limit', message: 'must be <= 100' },
  listMembers: { request: () => ({ query: { cursor: 'not-a-cursor' } }), field: 'query/cursor', message: 'must match pattern "^[0-9A-Za-z_]{1,64}$"' },
  deleteMember: { request: (w) => ({ path: { id: w.keyId } }), field: 'params/id', message: 'must match pattern "^usr_[0-9A-Za-z]{8,40}$"' },
  listWorkspaces: { request: () => ({ query: { limit: 0 } }), field: 'query/limit', message: 'must be >= 1' },
  createWorkspace: { request: () => ({ body: { name: '' } }), field: 'body/name', message: 'must NOT have fewer than 1 characters' },
  getWorkspace: { request: () => ({ path: { id: 'nope' } }), field: 'params/id', message: 'must match pattern "^ws_[0-9A-Za-z]{8,40}$"' },
  updateWorkspace: { request: (w) => ({ path: { id: w.workspaceId }, body: { name: '' } }), field: 'body/name', message: 'must NOT have fewer than 1 characters' },
  deleteWorkspace: { request: () => ({ path: { id: 'nope' } }), field: 'params/id', message: 'must match pattern "^ws_[0-9A-Za-z]{8,40}$"' },
  listWorkspaceApiKeys: { request: (w) => ({ path: { id: w.workspaceId }, query: { limit: 101 } }), field: 'query/limit', message: 'must be <= 100' },
  createWorkspaceApiKey: {
    request: (w) => ({ path: { id: w.workspaceId }, body: { name: 'pinned', expires_in_days: 5 } }),
    field: 'body/expires_in_days',
    message: 'must be equal to one of the allowed values: 7, 30, 60, 90',
  },
  listTags: { request: () => ({ path: { id: 'nope' } }), field: 'params/id', message: 'must match pattern "^ws_[0-9A-Za-z]{8,40}$"' },
  createTag: { request: (w) => ({ path: { id: w.workspaceId }, body: { name: 'x'.repeat(51) } }), field: 'body/name', message: 'must NOT have more than 50 characters' },
  deleteTag: { request: (w) => ({ path: { id: w.workspaceId, tagId: 'nope' } }), field: 'params/tagId', message: 'must match pattern "^tag_[0-9A-Za-z]{8,40}$"' },
  listAuditEvents: { request: () => ({ query: { key_id: 'nope' } }), field: 'query/key_id', message: 'must match pattern "^key_[0-9A-Za-z]{8,40}$"' },
  updatePolicy: { request: () => ({ body: { inactivity_days: 0 } }), field: 'body/inactivity_days', message: 'must be >= 1' },
};

/** Operations without any parameter or body: nothing to send wrong. */
const WITHOUT_INPUT: OperationId[] = ['getMe', 'listScopes', 'getPolicy'];

/** The request path of an operation with these path parameters (a problem's `instance`). */
function pathOf(operationId: OperationId, params: Record<string, string> = {}): string {
  return operations[operationId].path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name] ?? `{${name}}`));
}

/**
 * Registers the suite. `getTarget` is called when the suite is collected, for `capabilities` (they
 * decide which parts run), and again in `beforeAll`, after the target file's own `beforeAll` has
 * started the target, for everything else.
 */
export function contractSuite(getTarget: () => ContractTarget): void {
  const { capabilities } = getTarget();
  let target: ContractTarget;
  let owner: HeyKeysClient;
  let me: { key_id: string; owner: { type: 'user' | 'machine'; id: string; name: string } };

  /** A client acting with `secret` on the target. */
  const as = (secret: string, scheme: 'bearer' | 'basic' = 'bearer') => clientFor(target, secret, scheme);
  const call = (client: HeyKeysClient, operationId: OperationId, options?: CallOptions) => method(client, operationId)(options);

  beforeAll(async () => {
    target = getTarget();
    owner = as(target.ownerKey);
    const meResult = await owner.getMe();
    const data = expectSuccess('getMe', meResult);
    me = { key_id: data.key_id, owner: { type: data.owner.type, id: data.owner.id, name: data.owner.name } };
  });

  describe('every operation', () => {
    let world: World;

    beforeAll(async () => {
      world = target.capabilities.stateful ? await buildWorld(owner) : EXAMPLE_WORLD;
    });

    it('the cases below cover every operation in openapi.yaml', () => {
      expect(Object.keys(VALID_REQUESTS).sort()).toEqual([...OPERATION_IDS].sort());
      expect([...Object.keys(INVALID_REQUESTS), ...WITHOUT_INPUT].sort()).toEqual([...OPERATION_IDS].sort());
    });

    describe('answers its declared success with a body the spec accepts', () => {
      for (const [operationId, request] of Object.entries(VALID_REQUESTS) as [OperationId, (w: World) => CallOptions][]) {
        it(operationId, async () => {
          expectSuccess(operationId, await call(owner, operationId, request(world)));
        });
      }
    });

    describe('answers 401 without credentials, offering both schemes', () => {
      for (const [operationId, request] of Object.entries(VALID_REQUESTS) as [OperationId, (w: World) => CallOptions][]) {
        it(operationId, async () => {
          const options = request(world);
          const result = method(anonymousClient(target), operationId)(options);
          const outcome = await outcomeOf(result);
          expect(outcome.status).toBe(401);
          expect(outcome.headers.get('content-type') ?? '').toMatch(/^application\/problem\+json\b/);
          const offered = outcome.headers.get('www-authenticate') ?? '';
          expect(offered, 'WWW-Authenticate names the Bearer scheme').toMatch(/\bBearer\b/);
          expect(offered, 'WWW-Authenticate names the Basic scheme').toMatch(/\bBasic\b/);
          if (target.capabilities.missingCredentials === 'api') {
            expectProblem(await result, {
              status: 401,
              code: 'unauthorized',
              detail: 'No API key: send Authorization: Bearer <key>, or HTTP Basic with any username and the key as the password.',
              instance: pathOf(operationId, options.path),
              challenge: challenge.missing,
            });
          }
        });
      }
    });

    it('understands a query encoded as forms encode it (URLSearchParams, axios, Python requests: a space as +)', async () => {
      const query = { name: 'no such key anywhere', limit: 5 };
      const formEncoded = expectSuccess('listApiKeys', await formEncodingClient(target, target.ownerKey).listApiKeys({ query }));
      const percentEncoded = expectSuccess('listApiKeys', await owner.listApiKeys({ query }));
      expect(formEncoded).toEqual(percentEncoded);
    });

    describe('refuses invalid input before doing anything', () => {
      for (const [operationId, invalid] of Object.entries(INVALID_REQUESTS) as [OperationId, InvalidCase][]) {
        it(`${operationId}: ${invalid.field} ${invalid.message}`, async () => {
          const options = invalid.request(world);
          const result = await call(owner, operationId, options);
          if (target.capabilities.invalidInput === 'api') {
            expectProblem(result, {
              status: 400,
              code: 'validation',
              detail: `The request has 1 invalid field: ${invalid.field} ${invalid.message}.`,
              instance: pathOf(operationId, options.path),
              extras: { errors: [{ field: invalid.field, message: invalid.message }] },
            });
          } else {
            // Prism answers with the example of the operation's 422, else its 400, and names what
            // it found in `sl-violations`: that header proves the refusal came from validation.
            const status = declaredErrorStatuses(operationId).includes(422) ? 422 : 400;
            expect(result.response.status).toBe(status);
            expect(result.error?.status).toBe(status);
            const [where, ...name] = invalid.field.split('/');
            const violations = JSON.parse(result.response.headers.get('sl-violations') ?? '[]') as { location: string[] }[];
            // (Prism reports path parameter names in lower case.)
            const located = violations.map((v) => v.location.join('/').toLowerCase());
            expect(located).toContain(['request', where === 'params' ? 'path' : where, ...name].join('/').toLowerCase());
          }
        });
      }
    });
  });

  // A stateless target (the Prism mock answers every call from the spec's examples) cannot keep a
  // key it created: the lifecycle is skipped there, by name, and runs on every stateful target.
  describe.runIf(capabilities.stateful)('key lifecycle (stateful targets only; skipped on the Prism mock)', () => {
    // --------------------------------------------------------------- create, show once, list
    describe('creation shows the secret once', () => {
      let created: any;
      const name = uniqueName('CI deploy');

      it('createApiKey answers 201 with the secret, Cache-Control: no-store, and the resolved permission', async () => {
        const result = await owner.createApiKey({
          body: {
            name,
            description: 'pushes tags from CI',
            permission: { type: 'restricted', resources: { tags: 'write' } },
            expires_in_days: 30,
          },
        });
        created = expectSuccess('createApiKey', result);
        expect(created.secret).toMatch(SECRET_SHAPE);
        expect(created).toEqual({
          id: expect.stringMatching(/^key_/),
          name,
          description: 'pushes tags from CI',
          hint: hintOf(created.secret),
          permission: { type: 'restricted', scopes: ['tags:read', 'tags:write'] },
          owner: me.owner,
          created_by: me.owner,
          created_at: created.created_at,
          updated_at: created.created_at,
          workspace_access: { type: 'all' },
          workspace_id: null,
          status: 'active',
          disabled_reason: null,
          expires_at: new Date(Date.parse(created.created_at) + 30 * DAY).toISOString(),
          last_used_at: null,
          previous_secret: null,
          secret: created.secret,
        });
      });

      it('getApiKey shows the same key without the secret, and without no-store', async () => {
        const result = await owner.getApiKey({ path: { id: created.id } });
        const { secret: _secret, ...withoutSecret } = created;
        expect(expectSuccess('getApiKey', result)).toEqual(withoutSecret);
        expect(JSON.stringify(result.data)).not.toContain(created.secret);
        expect(result.response.headers.get('cache-control')).not.toBe('no-store');
      });

      it('listApiKeys lists it without the secret', async () => {
        const list = expectSuccess('listApiKeys', await owner.listApiKeys({ query: { name } }));
        expect(list.data.map((k: { id: string }) => k.id)).toEqual([created.id]);
        expect(list.data[0]).not.toHaveProperty('secret');
        expect(JSON.stringify(list)).not.toContain(created.secret);
      });

      it('the secret works, over Bearer and over Basic', async () => {
        expect(expectSuccess('getMe', await as(created.secret).getMe())).toMatchObject({ key_id: created.id, auth_scheme: 'bearer' });
        expect(expectSuccess('getMe', await as(created.secret, 'basic').getMe())).toMatchObject({ key_id: created.id, auth_scheme: 'basic' });
      });

      it('an unknown and a malformed key are refused with 401 saying which', async () => {
        expectProblem(await as(UNKNOWN_KEY).getMe(), {
          status: 401,
          code: 'unknown_key',
          detail: 'The API key is not known.',
          instance: '/v1/me',
          challenge: challenge.invalidToken('The API key is not known.'),
        });
        const malformed = 'The API key is malformed: expected hey_ followed by 36 letters and digits with a valid checksum.';
        // The real secret with its last checksum character changed (to one it is not: with a
        // fixed 'x', one secret in 62 ends in 'x' already, and this sent the valid key).
        const altered = `${created.secret.slice(0, -1)}${created.secret.endsWith('x') ? 'y' : 'x'}`;
        expectProblem(await as(altered).getMe(), {
          status: 401,
          code: 'malformed_key',
          detail: malformed,
          instance: '/v1/me',
          challenge: challenge.invalidToken(malformed),
        });
      });
    });

    // --------------------------------------------------------------- 403 names the missing scope
    describe('a key without the scope gets 403 naming it', () => {
      let readOnly: any;
      let tagsWriter: any;

      beforeAll(async () => {
        readOnly = expectSuccess('createApiKey', await owner.createApiKey({ body: { name: uniqueName('read only'), permission: { type: 'read_only' } } }));
        tagsWriter = expectSuccess(
          'createApiKey',
          await owner.createApiKey({ body: { name: uniqueName('tags writer'), permission: { type: 'restricted', scopes: ['tags:write'] } } }),
        );
      });

      const forbidden = (operationId: string, scope: string, instance: string) => ({
        status: 403,
        code: 'insufficient_scope',
        detail: `This API key lacks the permission ${scope} needed for ${operationId}.`,
        instance,
        extras: { required_scopes: [scope], missing_scopes: [scope] },
        challenge: challenge.insufficientScope([scope]),
      });

      it('a read-only key cannot create a key (api_keys:write), over Bearer and Basic alike', async () => {
        const body = { name: 'escalate' };
        expectProblem(await as(readOnly.secret).createApiKey({ body }), forbidden('createApiKey', 'api_keys:write', '/v1/api-keys'));
        expectProblem(await as(readOnly.secret, 'basic').createApiKey({ body }), forbidden('createApiKey', 'api_keys:write', '/v1/api-keys'));
      });

      it('a tags:write key cannot list keys (api_keys:read) nor read the policy', async () => {
        expectProblem(await as(tagsWriter.secret).listApiKeys(), forbidden('listApiKeys', 'api_keys:read', '/v1/api-keys'));
        expectProblem(await as(tagsWriter.secret).getPolicy(), forbidden('getPolicy', 'api_keys:read', '/v1/policy'));
      });

      it('a read-only key cannot create a workspace (workspaces:write)', async () => {
        expectProblem(
          await as(readOnly.secret).createWorkspace({ body: { name: 'nope' } }),
          forbidden('createWorkspace', 'workspaces:write', '/v1/workspaces'),
        );
      });
    });

    // --------------------------------------------------------------- revoke
    describe('revocation is immediate and permanent', () => {
      let revoked: any;

      it('revokeApiKey answers 204; the secret then gets 401 key_revoked', async () => {
        revoked = expectSuccess('createApiKey', await owner.createApiKey({ body: { name: uniqueName('to revoke') } }));
        expectSuccess('getMe', await as(revoked.secret).getMe());
        expectSuccess('revokeApiKey', await owner.revokeApiKey({ path: { id: revoked.id } }));
        const detail = 'The API key was revoked on <time>.';
        expectProblem(await as(revoked.secret).getMe(), {
          status: 401,
          code: 'key_revoked',
          detail,
          instance: '/v1/me',
          challenge: challenge.invalidToken(detail),
        });
      });

      it('the key leaves reads and lists (404), and can never be enabled again (409)', async () => {
        const notFound = (instance: string) => ({ status: 404, code: 'not_found', detail: `No API key with id ${revoked.id}.`, instance });
        expectProblem(await owner.getApiKey({ path: { id: revoked.id } }), notFound(`/v1/api-keys/${revoked.id}`));
        expectProblem(await owner.revokeApiKey({ path: { id: revoked.id } }), notFound(`/v1/api-keys/${revoked.id}`));
        expectProblem(await owner.disableApiKey({ path: { id: revoked.id } }), notFound(`/v1/api-keys/${revoked.id}/disable`));
        expectProblem(await owner.enableApiKey({ path: { id: revoked.id } }), {
          status: 409,
          code: 'key_revoked',
          detail: `The API key ${revoked.id} was revoked on <time> and can never be enabled again.`,
          instance: `/v1/api-keys/${revoked.id}/enable`,
        });
        const list = expectSuccess('listApiKeys', await owner.listApiKeys({ query: { name: revoked.name } }));
        expect(list.data).toEqual([]);
      });
    });

    // --------------------------------------------------------------- disable / enable
    describe('disable and enable', () => {
      let key: any;

      it('a disabled key gets 401 key_disabled and is listed as disabled', async () => {
        key = expectSuccess('createApiKey', await owner.createApiKey({ body: { name: uniqueName('toggle') } }));
        const disabled = expectSuccess('disableApiKey', await owner.disableApiKey({ path: { id: key.id } }));
        expect(disabled).toMatchObject({ id: key.id, status: 'disabled', disabled_reason: 'manual' });
        const detail = 'The API key was disabled on <time>; enable it to use it again.';
        expectProblem(await as(key.secret).getMe(), { status: 401, code: 'key_disabled', detail, instance: '/v1/me', challenge: challenge.invalidToken(detail) });
        const list = expectSuccess('listApiKeys', await owner.listApiKeys({ query: { name: key.name, status: 'disabled' } }));
        expect(list.data.map((k: { id: string }) => k.id)).toEqual([key.id]);
        // Disabling twice changes nothing.
        expect(expectSuccess('disableApiKey', await owner.disableApiKey({ path: { id: key.id } }))).toEqual(disabled);
      });

      it('enabling restores it', async () => {
        const enabled = expectSuccess('enableApiKey', await owner.enableApiKey({ path: { id: key.id } }));
        expect(enabled).toMatchObject({ id: key.id, status: 'active', disabled_reason: null });
        expect(expectSuccess('getMe', await as(key.secret).getMe()).key_id).toBe(key.id);
        expect(expectSuccess('listApiKeys', await owner.listApiKeys({ query: { name: key.name, status: 'disabled' } })).data).toEqual([]);
      });

      it('the audit log tells the story, newest first, with the acting key', async () => {
        const events = expectSuccess('listAuditEvents', await owner.listAuditEvents({ query: { key_id: key.id } }));
        expectNewestFirst(events.data, ['api_key.enabled', 'api_key.disabled', 'api_key.created'], (e) => e.at, (e) => e.action);
        for (const event of events.data) expect(event.actor).toEqual({ key_id: me.key_id, member: me.owner });
      });
    });

    // --------------------------------------------------------------- rotation
    describe('rotation', () => {
      let key: any;
      let first: string;
      let second: string;

      it('rotateApiKey shows the new secret once; both work during the grace period', async () => {
        key = expectSuccess('createApiKey', await owner.createApiKey({ body: { name: uniqueName('rotate') } }));
        first = key.secret;
        const rotated = expectSuccess('rotateApiKey', await owner.rotateApiKey({ path: { id: key.id }, body: { grace_period_seconds: 600 } }));
        second = rotated.secret;
        expect(second).toMatch(SECRET_SHAPE);
        expect(second).not.toBe(first);
        expect(rotated).toMatchObject({ id: key.id, hint: hintOf(second), previous_secret: { hint: hintOf(first) } });
        expect(Date.parse(rotated.previous_secret!.expires_at) - Date.parse(rotated.updated_at)).toBe(600 * SECOND);
        expect(expectSuccess('getMe', await as(first).getMe()).key_id).toBe(key.id);
        expect(expectSuccess('getMe', await as(second).getMe()).key_id).toBe(key.id);
        const fetched = expectSuccess('getApiKey', await owner.getApiKey({ path: { id: key.id } }));
        expect(fetched).not.toHaveProperty('secret');
      });

      it('the usage log tells which secret was used', async () => {
        const usage = expectSuccess('getApiKeyUsage', await owner.getApiKeyUsage({ path: { id: key.id } }));
        // Newest first: the new secret's call, then the previous secret's.
        expectNewestFirst(
          usage.data,
          [
            ['current', 'GET', '/v1/me', 200],
            ['previous', 'GET', '/v1/me', 200],
          ],
          (u) => u.at,
          (u) => [u.secret, u.method, u.route, u.status],
        );
        expect(usage.counts).toMatchObject({ total: 2, success: 2, client_error: 0, server_error: 0 });
      });

      it('a rotation with no grace retires the previous secret at once', async () => {
        const again = expectSuccess('rotateApiKey', await owner.rotateApiKey({ path: { id: key.id }, body: { grace_period_seconds: 0 } }));
        const detail = "This secret was replaced by a rotation and its grace period ended on <time>; use the key's new secret.";
        expectProblem(await as(second).getMe(), { status: 401, code: 'secret_rotated', detail, instance: '/v1/me', challenge: challenge.invalidToken(detail) });
        expect(expectSuccess('getMe', await as(again.secret).getMe()).key_id).toBe(key.id);
      });

      it('a secret two rotations old is refused too', async () => {
        const detail = "This secret was replaced by a rotation and its grace period ended; use the key's new secret.";
        expectProblem(await as(first).getMe(), { status: 401, code: 'secret_rotated', detail, instance: '/v1/me', challenge: challenge.invalidToken(detail) });
      });
    });

    // --------------------------------------------------------------- tenant isolation
    describe('tenant isolation', () => {
      let secondOrg: HeyKeysClient;
      let key: any;
      let workspace: any;
      const missingKey = 'key_0ujsszwN8NRYFpQm2hLcKz';

      beforeAll(async () => {
        secondOrg = as(await target.secondOrganizationKey());
        key = expectSuccess('createApiKey', await owner.createApiKey({ body: { name: uniqueName('org A'), owner: { type: 'machine', name: 'org-a-bot' } } }));
        workspace = expectSuccess('createWorkspace', await owner.createWorkspace({ body: { name: uniqueName('org A ws') } }));
      });

      it("another organization's key id answers 404, exactly as a missing one", async () => {
        const answers = async (id: string) => {
          const result = await secondOrg.getApiKey({ path: { id } });
          expectProblem(result, { status: 404, code: 'not_found', detail: `No API key with id ${id}.`, instance: `/v1/api-keys/${id}` });
        };
        await answers(key.id);
        await answers(missingKey);
      });

      it('every key operation on it answers 404 and changes nothing', async () => {
        const notFound = (suffix = '') => ({ status: 404, code: 'not_found', detail: `No API key with id ${key.id}.`, instance: `/v1/api-keys/${key.id}${suffix}` });
        const path = { id: key.id };
        expectProblem(await secondOrg.updateApiKey({ path, body: { name: 'stolen' } }), notFound());
        expectProblem(await secondOrg.disableApiKey({ path }), notFound('/disable'));
        expectProblem(await secondOrg.enableApiKey({ path }), notFound('/enable'));
        expectProblem(await secondOrg.rotateApiKey({ path, body: { grace_period_seconds: 0 } }), notFound('/rotate'));
        expectProblem(await secondOrg.getApiKeyUsage({ path }), notFound('/usage'));
        expectProblem(await secondOrg.revokeApiKey({ path }), notFound());
        expectProblem(await secondOrg.deleteMember({ path: { id: key.owner.id } }), {
          status: 404,
          code: 'not_found',
          detail: `No member with id ${key.owner.id}.`,
          instance: `/v1/members/${key.owner.id}`,
        });
        expect(expectSuccess('getMe', await as(key.secret).getMe())).toMatchObject({ key_id: key.id, name: key.name });
        const lists = expectSuccess('listApiKeys', await secondOrg.listApiKeys({ query: { limit: 100 } }));
        expect(lists.data.map((k: { id: string }) => k.id)).not.toContain(key.id);
      });

      it("another organization's workspace answers 404 for itself and its tags", async () => {
        const notFound = (instance: string) => ({ status: 404, code: 'not_found', detail: `No workspace with id ${workspace.id}.`, instance });
        const path = { id: workspace.id };
        expectProblem(await secondOrg.getWorkspace({ path }), notFound(`/v1/workspaces/${workspace.id}`));
        expectProblem(await secondOrg.listTags({ path }), notFound(`/v1/workspaces/${workspace.id}/tags`));
        expectProblem(await secondOrg.createTag({ path, body: { name: 'stolen' } }), notFound(`/v1/workspaces/${workspace.id}/tags`));
        expectProblem(await secondOrg.listWorkspaceApiKeys({ path }), notFound(`/v1/workspaces/${workspace.id}/api-keys`));
      });

      it("verify calls another organization's secret NOT_FOUND and shows nothing of it", async () => {
        const result = expectSuccess('verifyApiKey', await secondOrg.verifyApiKey({ body: { secret: key.secret } }));
        expect(result).toEqual({
          valid: false,
          code: 'NOT_FOUND',
          failed_checks: [{ code: 'NOT_FOUND', detail: 'No key of this organization has this secret.' }],
          key: null,
        });
      });
    });

    // --------------------------------------------------------------- verify
    describe('verifyApiKey codes', () => {
      let workspaces: string[];
      let pinned: any;

      const verify = async (body: { secret: string; scopes?: string[]; workspace_id?: string }) => {
        const result = expectSuccess('verifyApiKey', await owner.verifyApiKey({ body: body as never }));
        return { ...result, failed_checks: result.failed_checks.map((c: { code: string; detail: string }) => ({ ...c, detail: withoutTimes(c.detail) })) };
      };

      beforeAll(async () => {
        workspaces = [];
        for (const label of ['verify one', 'verify two']) {
          workspaces.push(expectSuccess('createWorkspace', await owner.createWorkspace({ body: { name: uniqueName(label) } })).id);
        }
        pinned = expectSuccess(
          'createApiKey',
          await owner.createApiKey({
            body: {
              name: uniqueName('verify'),
              permission: { type: 'restricted', scopes: ['tags:read'] },
              workspace_access: { type: 'selected', workspace_ids: [workspaces[0]!] },
            },
          }),
        );
      });

      it('VALID, with the key it belongs to', async () => {
        expect(await verify({ secret: pinned.secret, scopes: ['tags:read'], workspace_id: workspaces[0]! })).toEqual({
          valid: true,
          code: 'VALID',
          failed_checks: [],
          key: {
            id: pinned.id,
            name: pinned.name,
            permission: { type: 'restricted', scopes: ['tags:read'] },
            workspace_access: { type: 'selected', workspace_ids: [workspaces[0]] },
            workspace_id: null,
            owner: me.owner,
            expires_at: null,
          },
        });
      });

      it('MALFORMED and NOT_FOUND, without a key', async () => {
        expect(await verify({ secret: 'not-a-key' })).toEqual({
          valid: false,
          code: 'MALFORMED',
          failed_checks: [{ code: 'MALFORMED', detail: 'The secret is not a well-formed key of this service.' }],
          key: null,
        });
        expect(await verify({ secret: UNKNOWN_KEY })).toEqual({
          valid: false,
          code: 'NOT_FOUND',
          failed_checks: [{ code: 'NOT_FOUND', detail: 'No key of this organization has this secret.' }],
          key: null,
        });
      });

      it('INSUFFICIENT_SCOPE and WORKSPACE_FORBIDDEN, every failed check listed', async () => {
        const result = await verify({ secret: pinned.secret, scopes: ['tags:write', 'api_keys:read'], workspace_id: workspaces[1]! });
        expect(result).toMatchObject({ valid: false, code: 'INSUFFICIENT_SCOPE', key: { id: pinned.id } });
        expect(result.failed_checks).toEqual([
          { code: 'INSUFFICIENT_SCOPE', detail: 'The API key lacks: tags:write, api_keys:read.' },
          { code: 'WORKSPACE_FORBIDDEN', detail: `The API key cannot reach workspace ${workspaces[1]}.` },
        ]);
        expect(await verify({ secret: pinned.secret, workspace_id: workspaces[1]! })).toMatchObject({
          valid: false,
          code: 'WORKSPACE_FORBIDDEN',
          failed_checks: [{ code: 'WORKSPACE_FORBIDDEN', detail: `The API key cannot reach workspace ${workspaces[1]}.` }],
        });
      });

      it('DISABLED, then REVOKED', async () => {
        expectSuccess('disableApiKey', await owner.disableApiKey({ path: { id: pinned.id } }));
        expect(await verify({ secret: pinned.secret })).toMatchObject({
          valid: false,
          code: 'DISABLED',
          failed_checks: [{ code: 'DISABLED', detail: 'The API key was disabled on <time>; enable it to use it again.' }],
          key: { id: pinned.id },
        });
        expectSuccess('revokeApiKey', await owner.revokeApiKey({ path: { id: pinned.id } }));
        expect(await verify({ secret: pinned.secret })).toMatchObject({
          valid: false,
          code: 'REVOKED',
          failed_checks: [{ code: 'REVOKED', detail: 'The API key was revoked on <time>.' }],
        });
      });
    });

    // --------------------------------------------------------------- workspace access on tags
    describe('workspace access reaches tags', () => {
      let reachable: string;
      let unreachable: string;
      let selected: any;
      let pinnedKey: any;

      beforeAll(async () => {
        reachable = expectSuccess('createWorkspace', await owner.createWorkspace({ body: { name: uniqueName('reachable') } })).id;
        unreachable = expectSuccess('createWorkspace', await owner.createWorkspace({ body: { name: uniqueName('unreachable') } })).id;
        selected = expectSuccess(
          'createApiKey',
          await owner.createApiKey({
            body: {
              name: uniqueName('selected'),
              permission: { type: 'restricted', resources: { tags: 'write', api_keys: 'write' } },
              workspace_access: { type: 'selected', workspace_ids: [reachable] },
            },
          }),
        );
      });

      it('a key limited to selected workspaces manages tags there, and gets 404 elsewhere', async () => {
        const client = as(selected.secret);
        const tag = expectSuccess('createTag', await client.createTag({ path: { id: reachable }, body: { name: 'reachable-tag' } }));
        expect(tag).toMatchObject({ workspace_id: reachable, name: 'reachable-tag' });
        expect(expectSuccess('listTags', await client.listTags({ path: { id: reachable } })).data.map((t: { id: string }) => t.id)).toEqual([tag.id]);
        const notFound = (instance: string) => ({ status: 404, code: 'not_found', detail: `No workspace with id ${unreachable}.`, instance });
        expectProblem(await client.listTags({ path: { id: unreachable } }), notFound(`/v1/workspaces/${unreachable}/tags`));
        expectProblem(await client.createTag({ path: { id: unreachable }, body: { name: 'x' } }), notFound(`/v1/workspaces/${unreachable}/tags`));
        expectSuccess('deleteTag', await client.deleteTag({ path: { id: reachable, tagId: tag.id } }));
        expectProblem(await client.deleteTag({ path: { id: reachable, tagId: tag.id } }), {
          status: 404,
          code: 'not_found',
          detail: `No tag with id ${tag.id}.`,
          instance: `/v1/workspaces/${reachable}/tags/${tag.id}`,
        });
      });

      it('a workspace-level key is pinned to its workspace', async () => {
        pinnedKey = expectSuccess(
          'createWorkspaceApiKey',
          await owner.createWorkspaceApiKey({ path: { id: reachable }, body: { name: uniqueName('pinned'), permission: { type: 'restricted', resources: { tags: 'write' } } } }),
        );
        expect(pinnedKey).toMatchObject({ workspace_id: reachable, permission: { type: 'restricted', scopes: ['tags:read', 'tags:write'] } });
        const client = as(pinnedKey.secret);
        expectSuccess('listTags', await client.listTags({ path: { id: reachable } }));
        expectProblem(await client.listTags({ path: { id: unreachable } }), {
          status: 404,
          code: 'not_found',
          detail: `No workspace with id ${unreachable}.`,
          instance: `/v1/workspaces/${unreachable}/tags`,
        });
        const listed = expectSuccess('listWorkspaceApiKeys', await owner.listWorkspaceApiKeys({ path: { id: reachable } }));
        expect(listed.data.map((k: { id: string }) => k.id)).toEqual([pinnedKey.id]);
      });

      it('a workspace-limited key sees only keys pinned to its workspaces', async () => {
        const client = as(selected.secret);
        const seen = expectSuccess('listApiKeys', await client.listApiKeys({ query: { limit: 100 } }));
        expect(seen.data.map((k: { id: string }) => k.id)).toEqual([pinnedKey.id]);
        expectProblem(await client.getApiKey({ path: { id: selected.id } }), {
          status: 404,
          code: 'not_found',
          detail: `No API key with id ${selected.id}.`,
          instance: `/v1/api-keys/${selected.id}`,
        });
      });

      it('a workspace-limited key may only mint workspace-level keys, inside its reach (403 workspace_forbidden, 404)', async () => {
        const client = as(selected.secret);
        expectProblem(await client.createApiKey({ body: { name: 'org level', permission: { type: 'restricted', scopes: ['tags:read'] } } }), {
          status: 403,
          code: 'workspace_forbidden',
          detail: 'A key limited to some workspaces can only create workspace-level keys (POST /v1/workspaces/{id}/api-keys).',
          instance: '/v1/api-keys',
        });
        expectProblem(await client.createWorkspaceApiKey({ path: { id: unreachable }, body: { name: 'elsewhere' } }), {
          status: 404,
          code: 'not_found',
          detail: `No workspace with id ${unreachable}.`,
          instance: `/v1/workspaces/${unreachable}/api-keys`,
        });
      });

      it('a key can never grant scopes it does not hold (403 privilege_escalation naming them)', async () => {
        const client = as(selected.secret);
        expectProblem(await client.createWorkspaceApiKey({ path: { id: reachable }, body: { name: 'wider', permission: { type: 'read_only' } } }), {
          status: 403,
          code: 'privilege_escalation',
          detail: 'This API key cannot grant campaigns:read, analytics:read, workspaces:read, domains:read: a key can never grant more than it holds itself.',
          instance: `/v1/workspaces/${reachable}/api-keys`,
          extras: { missing_scopes: ['campaigns:read', 'analytics:read', 'workspaces:read', 'domains:read'] },
        });
        const narrower = expectSuccess(
          'createWorkspaceApiKey',
          await client.createWorkspaceApiKey({ path: { id: reachable }, body: { name: uniqueName('narrower'), permission: { type: 'restricted', scopes: ['tags:read'] } } }),
        );
        expect(narrower).toMatchObject({ workspace_id: reachable, created_by: me.owner, permission: { scopes: ['tags:read'] } });
      });
    });

    // --------------------------------------------------------------- machine users
    describe('a machine user and its one key live and die together', () => {
      let before: { seat_count: number; machine_user_count: number };

      const members = async () => expectSuccess('listMembers', await owner.listMembers({ query: { limit: 100 } }));

      beforeAll(async () => {
        before = await members();
      });

      it('a key for a new machine user adds the user to People, not to the seat count', async () => {
        const key = expectSuccess(
          'createApiKey',
          await owner.createApiKey({ body: { name: uniqueName('bot key'), owner: { type: 'machine', name: 'contract-bot' }, permission: { type: 'read_only' } } }),
        );
        expect(key.owner).toEqual({ type: 'machine', id: expect.stringMatching(/^usr_/), name: 'contract-bot' });
        expect(key.created_by).toEqual(me.owner);
        const after = await members();
        expect(after.data).toContainEqual({ id: key.owner.id, type: 'machine', name: 'contract-bot', email: null, role: null, api_key_id: key.id, created_at: key.created_at });
        expect([after.seat_count, after.machine_user_count]).toEqual([before.seat_count, before.machine_user_count + 1]);

        // Revoking the key deletes the machine user.
        expectSuccess('revokeApiKey', await owner.revokeApiKey({ path: { id: key.id } }));
        const revoked = await members();
        expect(revoked.data.map((m: { id: string }) => m.id)).not.toContain(key.owner.id);
        expect([revoked.seat_count, revoked.machine_user_count]).toEqual([before.seat_count, before.machine_user_count]);
      });

      it('deleting the machine user revokes its key', async () => {
        const key = expectSuccess(
          'createApiKey',
          await owner.createApiKey({ body: { name: uniqueName('bot key 2'), owner: { type: 'machine', name: 'contract-bot-2' } } }),
        );
        const userId: string = key.owner.id;
        expectSuccess('deleteMember', await owner.deleteMember({ path: { id: userId } }));
        expectProblem(await owner.getApiKey({ path: { id: key.id } }), { status: 404, code: 'not_found', detail: `No API key with id ${key.id}.`, instance: `/v1/api-keys/${key.id}` });
        const detail = 'The API key was revoked on <time>.';
        expectProblem(await as(key.secret).getMe(), { status: 401, code: 'key_revoked', detail, instance: '/v1/me', challenge: challenge.invalidToken(detail) });
        expectProblem(await owner.deleteMember({ path: { id: userId } }), { status: 404, code: 'not_found', detail: `No member with id ${userId}.`, instance: `/v1/members/${userId}` });
        const actions = expectSuccess('listAuditEvents', await owner.listAuditEvents({ query: { key_id: key.id } })).data.map((e: { action: string }) => e.action);
        expect(actions).toEqual(expect.arrayContaining(['api_key.created', 'machine_user.created', 'api_key.revoked', 'machine_user.deleted']));
      });

      it('a person cannot be deleted through the API (409)', async () => {
        expectProblem(await owner.deleteMember({ path: { id: me.owner.id } }), {
          status: 409,
          code: 'conflict',
          detail: `Member ${me.owner.id} is a person; only machine users can be deleted through the API.`,
          instance: `/v1/members/${me.owner.id}`,
        });
      });
    });

    // --------------------------------------------------------------- policy
    describe('the key policy', () => {
      it('require_expiry refuses a key that never expires with 422 naming the policy', async () => {
        const policy = expectSuccess('getPolicy', await owner.getPolicy());
        expect(expectSuccess('updatePolicy', await owner.updatePolicy({ body: { require_expiry: true } }))).toEqual({ ...policy, require_expiry: true });
        try {
          expectProblem(await owner.createApiKey({ body: { name: uniqueName('forever'), expires_at: null } }), {
            status: 422,
            code: 'policy_violation',
            detail: "The organization's policy require_expiry requires every key to expire: give expires_in_days or expires_at.",
            instance: '/v1/api-keys',
            extras: { policy: 'require_expiry' },
          });
          expectSuccess('createApiKey', await owner.createApiKey({ body: { name: uniqueName('expiring'), expires_in_days: 7 } }));
        } finally {
          expectSuccess('updatePolicy', await owner.updatePolicy({ body: { require_expiry: policy.require_expiry } }));
        }
      });
    });

    // --------------------------------------------------------------- time
    // The real server runs on the wall clock; expiry and grace on a clock are proven on the mocks
    // here and on the server by test/e2e/lifecycle.test.ts (seconds-long waits).
    describe.runIf(capabilities.clock)('time passes (targets with a movable clock; the real-time expiry on the server is in test/e2e)', () => {
      const advance = async (ms: number) => {
        await target.clock!.advance(ms);
      };

      it('a key expires: 401 key_expired naming when, verify says EXPIRED', async () => {
        const key = expectSuccess('createApiKey', await owner.createApiKey({ body: { name: uniqueName('expiring'), expires_in_days: 7 } }));
        expectSuccess('getMe', await as(key.secret).getMe());
        await advance(7 * DAY);
        const detail = `The API key expired on ${key.expires_at}.`;
        expectProblem(await as(key.secret).getMe(), {
          status: 401,
          code: 'key_expired',
          detail: withoutTimes(detail)!,
          instance: '/v1/me',
          challenge: withoutTimes(challenge.invalidToken(detail)),
        });
        const verified = expectSuccess('verifyApiKey', await owner.verifyApiKey({ body: { secret: key.secret } }));
        expect(verified).toMatchObject({ valid: false, code: 'EXPIRED', failed_checks: [{ code: 'EXPIRED', detail }], key: { id: key.id } });
      });

      it("a rotation's grace period ends", async () => {
        const key = expectSuccess('createApiKey', await owner.createApiKey({ body: { name: uniqueName('grace') } }));
        const rotated = expectSuccess('rotateApiKey', await owner.rotateApiKey({ path: { id: key.id }, body: { grace_period_seconds: 60 } }));
        expectSuccess('getMe', await as(key.secret).getMe());
        await advance(60 * SECOND);
        const detail = `This secret was replaced by a rotation and its grace period ended on ${rotated.previous_secret!.expires_at}; use the key's new secret.`;
        expectProblem(await as(key.secret).getMe(), {
          status: 401,
          code: 'secret_rotated',
          detail: withoutTimes(detail)!,
          instance: '/v1/me',
          challenge: withoutTimes(challenge.invalidToken(detail)),
        });
        expectSuccess('getMe', await as(rotated.secret).getMe());
      });
    });
  });
}

/** Creates what the per-operation cases act on, through the API itself. */
async function buildWorld(owner: HeyKeysClient): Promise<World> {
  const workspace = expectSuccess('createWorkspace', await owner.createWorkspace({ body: { name: uniqueName('shapes') } }));
  const tag = expectSuccess('createTag', await owner.createTag({ path: { id: workspace.id }, body: { name: 'shape-tag' } }));
  const key = expectSuccess(
    'createApiKey',
    await owner.createApiKey({
      body: { name: uniqueName('shapes'), owner: { type: 'machine', name: 'shapes-bot' }, permission: { type: 'restricted', resources: { tags: 'write' } } },
    }),
  );
  const pinned = expectSuccess(
    'createWorkspaceApiKey',
    await owner.createWorkspaceApiKey({ path: { id: workspace.id }, body: { name: uniqueName('shapes pinned'), permission: { type: 'read_only' } } }),
  );
  const policy = expectSuccess('getPolicy', await owner.getPolicy());
  return {
    keyId: key.id,
    secret: key.secret,
    workspaceId: workspace.id,
    tagId: tag.id,
    machineUserId: key.owner.id,
    workspaceKeyId: pinned.id,
    inactivityDays: policy.inactivity_days,
  };
}

