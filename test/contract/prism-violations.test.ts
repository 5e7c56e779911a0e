/**
 * Proof that the Prism proxy target can fail: Prism in front of a tiny upstream (node:http) that
 * answers with bodies and headers outside openapi.yaml. Each such answer must reach the client as
 * something the contract suite cannot mistake for success (a 500 the SDK throws on), or at least
 * show up in Prism's log, which prism-proxy.test.ts reads after the suite. A control answer that
 * follows the contract must pass through untouched, so the proof is not that Prism breaks everything.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningPrism } from '../../scripts/prism.ts';
import { HeyKeysUnexpectedResponseError, type HeyKeysClient } from '../../sdk/src/index.ts';
import { responseViolations, startPrismProxy } from './prism.ts';
import { clientFor, expectSuccess, UNKNOWN_KEY } from './support.ts';
import type { ContractTarget } from './target.ts';

const KEY_ID = 'key_0ujsszwN8NRYFpQm2hLcKz';
const OWNER = { type: 'user', id: 'usr_0ujssxh0cECutqzMgbtXSG', name: 'Ada Owner' };
const CREATED_KEY = {
  id: KEY_ID,
  name: 'CI deploy',
  description: null,
  hint: 'hey_...pZ4E',
  permission: { type: 'restricted', scopes: ['tags:read'] },
  owner: OWNER,
  created_by: OWNER,
  created_at: '2026-11-01T09:00:00.000Z',
  updated_at: '2026-11-01T09:00:00.000Z',
  workspace_access: { type: 'all' },
  workspace_id: null,
  status: 'active',
  disabled_reason: null,
  expires_at: null,
  last_used_at: null,
  previous_secret: null,
  secret: UNKNOWN_KEY,
};

/** What the fake upstream answers, by method and path. */
const ANSWERS: Record<string, { status: number; body: unknown; headers?: Record<string, string> }> = {
  // Follows the contract: must pass through as is.
  'GET /v1/scopes': { status: 200, body: { data: [{ scope: 'tags:read', resource: 'tags', access: 'read', description: 'Read tags.' }] } },
  // Required fields missing.
  'GET /v1/me': { status: 200, body: { key_id: KEY_ID, name: 'Owner key' } },
  // A field the closed schema does not have.
  'GET /v1/workspaces': { status: 200, body: { data: [], next_cursor: null, colour: 'red' } },
  // A problem without its `code`.
  [`GET /v1/api-keys/${KEY_ID}`]: { status: 404, body: { type: 'https://heykeys.dev/problems/not-found', title: 'Not Found', status: 404, detail: 'gone' } },
  // The secret's answer with a cacheable Cache-Control.
  'POST /v1/api-keys': { status: 201, body: CREATED_KEY, headers: { 'cache-control': 'public, max-age=60' } },
  // The secret's answer without Cache-Control at all.
  [`POST /v1/api-keys/${KEY_ID}/rotate`]: { status: 200, body: CREATED_KEY },
  // A status the operation does not declare.
  'GET /v1/members': { status: 418, body: { type: 'https://heykeys.dev/problems/teapot', title: 'Teapot', status: 418, code: 'teapot', detail: 'short and stout' } },
};

let upstream: Server;
let prism: RunningPrism;
let client: HeyKeysClient;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const answer = ANSWERS[`${req.method} ${req.url}`] ?? { status: 500, body: { unexpected: `${req.method} ${req.url}` } };
      const type = answer.status >= 400 ? 'application/problem+json' : 'application/json';
      res.writeHead(answer.status, { 'content-type': type, ...answer.headers });
      res.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  prism = await startPrismProxy(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
  const target = { baseUrl: prism.url, fetch: globalThis.fetch } as ContractTarget;
  client = clientFor(target, UNKNOWN_KEY);
});

afterAll(async () => {
  await prism?.stop();
  await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
});

/** The SDK call must throw HeyKeysUnexpectedResponseError for Prism's 500, naming the violation. */
async function expectViolation(call: Promise<unknown>, message: RegExp): Promise<void> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HeyKeysUnexpectedResponseError);
  const unexpected = error as HeyKeysUnexpectedResponseError;
  expect(unexpected.status).toBe(500);
  expect(unexpected.body).toMatchObject({ type: 'https://stoplight.io/prism/errors#VIOLATIONS' });
  expect(JSON.parse(unexpected.response.headers.get('sl-violations') ?? '[]').map((v: { message: string }) => v.message).join('\n')).toMatch(message);
}

describe('prism proxy --errors in front of an upstream that breaks the contract', () => {
  it('passes an answer that follows the contract through untouched (control)', async () => {
    const scopes = expectSuccess('listScopes', await client.listScopes());
    expect(scopes).toEqual(ANSWERS['GET /v1/scopes']!.body);
  });

  it('turns a body missing required fields into a 500 the SDK throws on', async () => {
    await expectViolation(client.getMe(), /must have required property 'hint'/);
  });

  it('turns a body with a field the schema does not allow into a 500', async () => {
    await expectViolation(client.listWorkspaces(), /must NOT have additional properties; found 'colour'/);
  });

  it('turns a problem that is not our Problem (no code) into a 500', async () => {
    await expectViolation(client.getApiKey({ path: { id: KEY_ID } }), /must have required property 'code'/);
  });

  it('turns a secret answered with a cacheable Cache-Control into a 500', async () => {
    await expectViolation(client.createApiKey({ body: { name: 'CI deploy' } }), /cache-control must be equal to constant/);
  });

  it('turns a secret answered without Cache-Control (the spec marks it required) into a 500', async () => {
    await expectViolation(client.rotateApiKey({ path: { id: KEY_ID }, body: { grace_period_seconds: 0 } }), /cache-control/i);
  });

  it('passes an undeclared status through, logged as a response violation that prism-proxy.test.ts reads', async () => {
    const error = await client.listMembers().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(HeyKeysUnexpectedResponseError);
    expect((error as HeyKeysUnexpectedResponseError).status).toBe(418);
    const logged = responseViolations(prism.output());
    expect(logged.some((line) => /Unable to match the returned status code/.test(line))).toBe(true);
  });

  it("every violation above is in Prism's log, where the proxy target looks for them", () => {
    // Five 500s (me, workspaces, api key, create, rotate) and one warning (members).
    expect(responseViolations(prism.output())).toHaveLength(6);
  });
});
