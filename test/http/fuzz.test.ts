/**
 * A bounded, seeded property-based run of every operation in openapi.yaml against the real server
 * (memory store, response validation on). Each run builds a fresh organization and sends one
 * request: spec-shaped input generated from the schemas, or that input mutated out of shape
 * (dropped, unknown, mistyped, oversized, null or extreme values, wrong bodies, wrong content
 * types, bad query parameters, unknown / foreign / malformed ids).
 *
 * Whatever comes in, the server must answer with a status the operation declares, below 500, and
 * no log line (a response that breaks the contract becomes a 500 and a log line); every 4xx must be
 * a Problem; spec-valid input must get past the contract validator; and nothing may touch the other
 * organization's resources. Nothing here lists operations or schemas by hand.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal, RequestContext } from '../../server/src/domain/access.ts';
import { resolvePermission, type PermissionInput } from '../../server/src/domain/scopes.ts';
import { loadSpec, operationsOf, type Operation } from '../../server/src/http/spec.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { objectShape, resolveRef, schemaArbitrary, type Schema, type SchemaArbitraryOptions } from '../support/schema-arbitrary.ts';

/** Fixed, so every run of the suite sends the same cases; FUZZ_SEED / FUZZ_RUNS explore further by hand. */
const SEED = Number(process.env['FUZZ_SEED'] ?? 20261122);
const RUNS_PER_OPERATION = Number(process.env['FUZZ_RUNS'] ?? 150);

const spec = loadSpec();
const operations = operationsOf(spec);

// ------------------------------------------------------------------ fixture ids as placeholders

/**
 * Cases name fixture resources by role (`<<ws:main>>`) and get the run's real ids just before the
 * request is sent: a case stays a plain value that fast-check can print and shrink, while every
 * run works on a fresh organization.
 */
const ROLES = {
  key: ['caller', 'user', 'machine', 'pinned', 'disabled', 'revoked', 'rotated', 'other-org'],
  ws: ['main', 'second', 'other-org'],
  tag: ['main', 'other-org'],
  member: ['owner', 'machine', 'other-org'],
  secret: ['caller', 'user', 'pinned', 'disabled', 'revoked', 'rotated-previous', 'other-org', 'unknown'],
} as const;
type Kind = keyof typeof ROLES;
type FixtureIds = { [K in Kind]: Record<(typeof ROLES)[K][number], string> };

const placeholder = (kind: Kind, role: string) => `<<${kind}:${role}>>`;
const PLACEHOLDER = /<<(\w+):([\w-]+)>>/g;
const placeholdersOf = (kind: Kind) => ROLES[kind].map((role) => placeholder(kind, role));

/** Where the schemas take an id or a secret, fixture roles are offered next to random valid values. */
const FIXTURE_LOCATIONS: Record<string, Kind> = {
  '#/components/schemas/KeyId': 'key',
  '#/components/schemas/WorkspaceId': 'ws',
  '#/components/schemas/TagId': 'tag',
  '#/components/schemas/MemberId': 'member',
  '#/components/schemas/VerifyRequest/properties/secret': 'secret',
};

function arbitraryOptions(now: number): SchemaArbitraryOptions {
  const overrides: SchemaArbitraryOptions['overrides'] = {};
  for (const [location, kind] of Object.entries(FIXTURE_LOCATIONS)) {
    overrides[location] = (generated) =>
      fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...placeholdersOf(kind)) }, { weight: 1, arbitrary: generated });
  }
  return { spec, now, overrides };
}

// ------------------------------------------------------------------ the spec, per operation

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  schema: Schema;
}

const operationObject = (op: Operation) => spec.paths[op.path][op.method];
const deref = (node: any) => (node?.$ref ? resolveRef(spec, node.$ref) : node);

function parametersOf(op: Operation): Parameter[] {
  return [...(spec.paths[op.path].parameters ?? []), ...(operationObject(op).parameters ?? [])].map(deref);
}

function requestBodyOf(op: Operation): { schema: Schema; required: boolean } | null {
  const body = deref(operationObject(op).requestBody);
  return body ? { schema: body.content['application/json'].schema, required: body.required === true } : null;
}

function declaredResponse(op: Operation, status: number): { headers?: Record<string, any>; content?: Record<string, any> } | undefined {
  return deref(operationObject(op).responses[String(status)]);
}

// ------------------------------------------------------------------ cases

type Credential =
  | { as: 'owner'; scheme: 'bearer' }
  | { as: 'owner'; scheme: 'basic'; username: string }
  /** A key with less than everything: some scopes, maybe some workspaces, maybe pinned to one. */
  | { as: 'limited'; permission: PermissionInput; access: 'all' | 'selected' | 'pinned' }
  /** A machine user's key: every scope, but not an owner's. */
  | { as: 'machine' };

/**
 * How the path is spelled. `trailing-slash` is the same operation to the server; the others are
 * not in the spec at all, so the server must treat them as the operation or as no route, never fail.
 */
type Spelling = 'as-is' | 'trailing-slash' | 'upper-case' | 'double-slash';

/** A path segment: sent percent-encoded, or raw to reach the server's own decoding. */
type Segment = { id: string } | { raw: string };

type Body =
  | { kind: 'none'; contentType: string | null }
  | { kind: 'json'; value: unknown; contentType: string | null; contentEncoding?: string }
  | { kind: 'text'; text: string; contentType: string | null };

interface FuzzCase {
  credential: Credential;
  /** Applied to the fresh organization before the request (null: the default policy). */
  policy: Record<string, unknown> | null;
  spelling: Spelling;
  path: Record<string, Segment>;
  query: [string, string][];
  body: Body;
  /** Every part is valid by the spec, so the contract validator must let it through. */
  wellFormed: boolean;
}

/** Counterexamples shrink toward each choice's first, plainest branch (owner key, spec spelling, valid input). */
const SHRINK_TO_FIRST = { withCrossShrink: true };

interface Part<T> {
  value: T;
  valid: boolean;
}
const valid = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<Part<T>> => arb.map((value) => ({ value, valid: true }));
const invalid = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<Part<T>> => arb.map((value) => ({ value, valid: false }));

function credentialArbitrary(options: SchemaArbitraryOptions): fc.Arbitrary<Credential> {
  const restricted = (schemaArbitrary({ $ref: '#/components/schemas/PermissionInput' }, options) as fc.Arbitrary<PermissionInput>).filter(
    (p) => p.type !== 'all' && grantsSomething(p),
  );
  return fc.oneof(
    SHRINK_TO_FIRST,
    { weight: 7, arbitrary: fc.constant({ as: 'owner' as const, scheme: 'bearer' as const }) },
    {
      weight: 2,
      arbitrary: fc.record({
        as: fc.constant('owner' as const),
        scheme: fc.constant('basic' as const),
        username: fc.string({ unit: 'binary', maxLength: 20 }).filter((u) => !u.includes(':')),
      }),
    },
    { weight: 2, arbitrary: fc.record({ as: fc.constant('limited' as const), permission: restricted, access: fc.constantFrom('all' as const, 'selected' as const, 'pinned' as const) }) },
    { weight: 1, arbitrary: fc.constant({ as: 'machine' as const }) },
  );
}

/** Mostly the default policy; sometimes one that refuses expiries, schemes or more keys. */
function policyArbitrary(options: SchemaArbitraryOptions): fc.Arbitrary<Record<string, unknown> | null> {
  const update = (schemaArbitrary({ $ref: '#/components/schemas/PolicyUpdate' }, options) as fc.Arbitrary<Record<string, any>>).filter(
    // A rule the schema cannot state; the fixture would only be refused.
    (p) => !(p['default_expiry_days'] && p['max_expiry_days'] && p['default_expiry_days'] > p['max_expiry_days']),
  );
  return fc.oneof(SHRINK_TO_FIRST, { weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: update });
}

const spellingArbitrary: fc.Arbitrary<Spelling> = fc.oneof(
  SHRINK_TO_FIRST,
  { weight: 10, arbitrary: fc.constant('as-is' as const) },
  { weight: 1, arbitrary: fc.constant('trailing-slash' as const) },
  { weight: 1, arbitrary: fc.constant('upper-case' as const) },
  { weight: 1, arbitrary: fc.constant('double-slash' as const) },
);

function grantsSomething(permission: PermissionInput): boolean {
  try {
    return resolvePermission(permission).scopes.length > 0;
  } catch {
    return false;
  }
}

// 'verify' is left out: /v1/api-keys/verify is another path (OpenAPI matches concrete paths first),
// where GET is a 405 with Allow: POST (test/http/errors.test.ts).
const MALFORMED_IDS = ['null', '0', '-1', 'key_', 'key_short', 'KEY_0ujsszwN8NRYFpQm2hLcKz', `key_${'a'.repeat(41)}`, 'key_0ujsszwN8NRYFpQm2hLcK!', ' ws_0ujsszwN8NRYFpQm2hLcKz', 'x'.repeat(3000)];
/** Reach Express's and the validator's own percent-decoding. */
const RAW_SEGMENTS = ['%', '%E0%A4%A', '%00', '%2F', '%FF%FE', 'a%2F..%2Fb', '%C0%AE'];

function pathSegmentArbitrary(param: Parameter, options: SchemaArbitraryOptions): fc.Arbitrary<Part<Segment>> {
  const kind = FIXTURE_LOCATIONS[param.schema['$ref']];
  const otherKinds = (Object.keys(ROLES) as Kind[]).filter((k) => k !== kind && k !== 'secret').flatMap(placeholdersOf);
  const malformed = fc
    .oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 60 }), fc.constantFrom(...MALFORMED_IDS), fc.constantFrom(...otherKinds))
    .filter((id) => !/^\.{1,2}$/.test(id));
  return fc.oneof(
    SHRINK_TO_FIRST,
    { weight: 8, arbitrary: valid((schemaArbitrary(param.schema, options) as fc.Arbitrary<string>).map((id): Segment => ({ id }))) },
    { weight: 2, arbitrary: invalid(malformed.map((id): Segment => ({ id }))) },
    { weight: 1, arbitrary: invalid(fc.constantFrom(...RAW_SEGMENTS).map((raw): Segment => ({ raw }))) },
  );
}

const BAD_QUERY_VALUES = ['', '-1', '0', '1.5', '1e3', '101', '99999999999999999999', 'null', 'true', '[]', '{}', 'x'.repeat(300), '%'];
const UNKNOWN_QUERY_NAMES = ['page', 'offset', 'LIMIT', 'limit[]', '__proto__', 'constructor', 'toString', 'q', 'sort'];

function queryArbitrary(op: Operation, options: SchemaArbitraryOptions): fc.Arbitrary<Part<[string, string][]>> {
  const params = parametersOf(op).filter((p) => p.in === 'query');
  const known = new Set(params.map((p) => p.name));
  const valueOf = (p: Parameter) => schemaArbitrary(p.schema, options).map(String);
  const wellFormed = fc
    .tuple(...params.map((p) => fc.option(valueOf(p).map((v): [string, string] => [p.name, v]), { nil: undefined })))
    .map((pairs) => pairs.filter((pair): pair is [string, string] => pair !== undefined));
  const badValue = fc.oneof(fc.constantFrom(...BAD_QUERY_VALUES), fc.string({ unit: 'binary', maxLength: 20 }));
  const unknownName = fc.oneof(fc.constantFrom(...UNKNOWN_QUERY_NAMES), fc.string({ minLength: 1, maxLength: 12 })).filter((n) => !known.has(n));
  const spoilers: fc.Arbitrary<[string, string][]>[] = [fc.tuple(unknownName, badValue).map((pair) => [pair])];
  if (params.length > 0) {
    const name = fc.constantFrom(...params.map((p) => p.name));
    spoilers.push(fc.tuple(name, badValue).map((pair) => [pair]));
    // The same parameter twice: the simple query parser turns it into an array.
    spoilers.push(fc.constantFrom(...params).chain((p) => fc.tuple(valueOf(p), valueOf(p)).map(([a, b]): [string, string][] => [[p.name, a], [p.name, b]])));
  }
  return fc.oneof(
    SHRINK_TO_FIRST,
    { weight: 3, arbitrary: valid(wellFormed) },
    { weight: 1, arbitrary: invalid(fc.tuple(wellFormed, fc.oneof(...spoilers)).map(([a, b]) => [...a, ...b])) },
  );
}

// ------------------------------------------------------------------ body mutations

type JsonPath = (string | number)[];

function pathsOf(value: unknown, at: JsonPath = []): JsonPath[] {
  const children = Array.isArray(value)
    ? value.flatMap((v, i) => pathsOf(v, [...at, i]))
    : value !== null && typeof value === 'object'
      ? Object.entries(value).flatMap(([k, v]) => pathsOf(v, [...at, k]))
      : [];
  return [at, ...children];
}

function getAt(value: unknown, path: JsonPath): unknown {
  return path.reduce<any>((node, step) => node?.[step], value);
}

/** A copy of `value` with the node at `path` replaced (or removed, for `undefined`). */
function setAt(value: unknown, path: JsonPath, replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const [step, ...rest] = path;
  if (Array.isArray(value)) {
    const copy = [...value];
    if (rest.length === 0 && replacement === undefined) copy.splice(step as number, 1);
    else copy[step as number] = setAt(copy[step as number], rest, replacement);
    return copy;
  }
  const copy: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k !== step) define(copy, k, v);
    else if (rest.length > 0 || replacement !== undefined) define(copy, k, setAt(v, rest, replacement));
  }
  return copy;
}

/** An own property even for `__proto__`, so JSON.stringify sends it. */
function define(target: Record<string, unknown>, name: string, value: unknown): void {
  Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
}

const jsonTypeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

type Mutation =
  | { kind: 'drop-required'; pick: number }
  | { kind: 'drop-property'; pick: number }
  | { kind: 'add-unknown'; pick: number; name: string; value: unknown }
  | { kind: 'wrong-type'; pick: number; candidates: unknown[] }
  | { kind: 'oversize-string'; pick: number; text: string; length: number }
  | { kind: 'extreme-number'; pick: number; value: number }
  | { kind: 'null'; pick: number };

const EXTREME_NUMBERS = [-1, 0, -0, 1.5, -(2 ** 31), 2 ** 31, 2 ** 53, -(2 ** 53), 2 ** 53 + 2, 1e308, -1e308, 5e-324, 1e21];

const mutationArbitrary: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('drop-required' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('drop-property' as const), pick: fc.nat() }),
  fc.record({
    kind: fc.constant('add-unknown' as const),
    pick: fc.nat(),
    name: fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'id', 'org_id', 'digest', 'status', 'secret'), fc.string({ maxLength: 12 })),
    value: fc.jsonValue({ maxDepth: 2 }),
  }),
  fc.record({
    kind: fc.constant('wrong-type' as const),
    pick: fc.nat(),
    candidates: fc.tuple(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 })),
  }),
  fc.record({
    kind: fc.constant('oversize-string' as const),
    pick: fc.nat(),
    text: fc.constantFrom('x', 'é', '😀', '\u0000', ' '),
    // Past every maxLength, and past the 64 KiB body limit.
    length: fc.oneof(fc.integer({ min: 51, max: 3000 }), fc.constant(70_000)),
  }),
  fc.record({ kind: fc.constant('extreme-number' as const), pick: fc.nat(), value: fc.oneof(fc.constantFrom(...EXTREME_NUMBERS), fc.integer({ min: -1_000_000, max: -1 }), fc.double({ noNaN: true, noDefaultInfinity: true })) }),
  fc.record({ kind: fc.constant('null' as const), pick: fc.nat() }),
);

function mutate(value: unknown, mutation: Mutation, required: string[]): unknown {
  const all = pathsOf(value);
  const choose = (paths: JsonPath[]) => (paths.length > 0 ? paths[mutation.pick % paths.length]! : null);
  const properties = all.filter((p) => typeof p[p.length - 1] === 'string');
  switch (mutation.kind) {
    case 'drop-required': {
      const present = required.filter((name) => value !== null && typeof value === 'object' && Object.hasOwn(value, name));
      const target = choose(present.map((name) => [name])) ?? choose(properties);
      return target ? setAt(value, target, undefined) : value;
    }
    case 'drop-property': {
      const target = choose(properties);
      return target ? setAt(value, target, undefined) : value;
    }
    case 'add-unknown': {
      const target = choose(all.filter((p) => jsonTypeOf(getAt(value, p)) === 'object'));
      if (!target) return value;
      const node = { ...(getAt(value, target) as Record<string, unknown>) };
      define(node, mutation.name, mutation.value);
      return setAt(value, target, node);
    }
    case 'wrong-type': {
      const target = choose(all)!;
      const current = jsonTypeOf(getAt(value, target));
      return setAt(value, target, mutation.candidates.find((c) => jsonTypeOf(c) !== current));
    }
    case 'oversize-string': {
      const target = choose(all.filter((p) => typeof getAt(value, p) === 'string')) ?? choose(all)!;
      return setAt(value, target, mutation.text.repeat(mutation.length));
    }
    case 'extreme-number': {
      const target = choose(all.filter((p) => typeof getAt(value, p) === 'number')) ?? choose(all)!;
      return setAt(value, target, mutation.value);
    }
    case 'null':
      return setAt(value, choose(all)!, null);
  }
}

const INVALID_JSON = ['{', '{"name":', "{'name':'x'}", '[1,]', '{"a":1}}', 'nul', 'NaN', '{"name":"\\x"}', '\u0000', ' ', '{"name":"a",}', '{"name":01}', '1e999', '"text"', 'true', '\uFEFF{"name":"a"}'];
const WRONG_CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/problem+json',
  'application/merge-patch+json',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'application/*',
  'json',
  'text/json',
];
const CONTENT_ENCODINGS = ['gzip', 'deflate', 'br', 'compress', 'x-unknown', 'identity'];

function bodyArbitrary(op: Operation, options: SchemaArbitraryOptions): fc.Arbitrary<Part<Body>> {
  const declared = requestBodyOf(op);
  const json = 'application/json';
  if (!declared) {
    const none = valid(fc.constant<Body>({ kind: 'none', contentType: null }));
    // fetch cannot send a body with GET.
    if (op.method === 'get') return none;
    const unexpected = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }).map((value): Body => ({ kind: 'json', value, contentType: json })),
      fc.string({ maxLength: 30 }).map((text): Body => ({ kind: 'text', text, contentType: 'text/plain' })),
    );
    return fc.oneof(SHRINK_TO_FIRST, { weight: 9, arbitrary: none }, { weight: 1, arbitrary: invalid(unexpected) });
  }
  const wellFormed = schemaArbitrary(declared.schema, options);
  const required = [...objectShape(spec, declared.schema, '#').required];
  const asJson = (value: unknown): Body => ({ kind: 'json', value, contentType: json });
  const wholeBodyOfAnotherType = fc.oneof(fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }), fc.string({ maxLength: 20 }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null));
  const deeplyNested = fc.integer({ min: 100, max: 20_000 }).map((depth): Body => ({ kind: 'text', text: '['.repeat(depth) + ']'.repeat(depth), contentType: json }));
  const parts: fc.WeightedArbitrary<Part<Body>>[] = [
    { weight: 4, arbitrary: valid(wellFormed.map(asJson)) },
    { weight: 4, arbitrary: invalid(fc.tuple(wellFormed, mutationArbitrary).map(([value, m]) => asJson(mutate(value, m, required)))) },
    { weight: 1, arbitrary: invalid(wholeBodyOfAnotherType.map(asJson)) },
    { weight: 1, arbitrary: invalid(fc.oneof(fc.constantFrom(...INVALID_JSON).map((text): Body => ({ kind: 'text', text, contentType: json })), deeplyNested)) },
    {
      weight: 1,
      arbitrary: invalid(
        fc.tuple(wellFormed, fc.option(fc.constantFrom(...WRONG_CONTENT_TYPES), { nil: null })).map(([value, contentType]): Body => ({ kind: 'json', value, contentType })),
      ),
    },
    { weight: 1, arbitrary: invalid(fc.tuple(wellFormed, fc.constantFrom(...CONTENT_ENCODINGS)).map(([value, contentEncoding]): Body => ({ kind: 'json', value, contentType: json, contentEncoding }))) },
  ];
  const missing = fc.constantFrom<Body>({ kind: 'none', contentType: null }, { kind: 'none', contentType: json });
  parts.push({ weight: 1, arbitrary: declared.required ? invalid(missing) : valid(missing) });
  return fc.oneof(SHRINK_TO_FIRST, ...parts);
}

function caseArbitrary(op: Operation, now: number): fc.Arbitrary<FuzzCase> {
  const options = arbitraryOptions(now);
  const pathParams = parametersOf(op).filter((p) => p.in === 'path');
  const path = fc.tuple(...pathParams.map((p) => pathSegmentArbitrary(p, options).map((part) => [p.name, part] as const)));
  return fc
    .record({
      credential: credentialArbitrary(options),
      policy: policyArbitrary(options),
      spelling: spellingArbitrary,
      path,
      query: queryArbitrary(op, options),
      body: bodyArbitrary(op, options),
    })
    .map(({ credential, policy, spelling, path, query, body }) => ({
      credential,
      policy,
      spelling,
      path: Object.fromEntries(path.map(([name, part]) => [name, part.value])),
      query: query.value,
      body: body.value,
      wellFormed: (spelling === 'as-is' || spelling === 'trailing-slash') && path.every(([, part]) => part.valid) && query.valid && body.valid,
    }));
}

// ------------------------------------------------------------------ a fresh organization per run

interface Fixture {
  ids: FixtureIds;
  callerSecret: string;
}

/** Another organization with one of each resource, to prove no request reaches it. */
interface OtherOrganization {
  ids: { key: string; ws: string; tag: string; member: string; secret: string };
  snapshot(): Promise<string>;
}

const UNKNOWN_SECRET = 'hey_0000000000000000000000000000003UpZ4E';

const contextOf = (server: TestServer, principal: Principal): RequestContext => ({ principal, ip: null, now: server.clock.now() });

async function otherOrganization(server: TestServer): Promise<OtherOrganization> {
  const { service, store } = server;
  const other = await server.newOrganization('Other');
  const owner = contextOf(server, await service.authenticate(other.secret, 'bearer'));
  const ws = await service.createWorkspace(owner, 'theirs');
  const tag = await service.createTag(owner, ws.id, 'theirs');
  const machine = await service.createKey(owner, { name: 'theirs', owner: { type: 'machine', name: 'their-bot' } });
  await service.flush();
  return {
    ids: { key: machine.key.id, ws: ws.id, tag: tag.id, member: machine.key.owner.id, secret: machine.secret },
    snapshot: async () =>
      JSON.stringify([
        await store.getKey(other.orgId, machine.key.id),
        await store.getKey(other.orgId, owner.principal.key.id),
        await store.getWorkspace(other.orgId, ws.id),
        await store.listTags(other.orgId, ws.id, { limit: 100 }),
        await store.getMember(other.orgId, machine.key.owner.id),
        await store.getPolicy(other.orgId),
      ]),
  };
}

/** A fresh organization for one run: one resource per role, and the caller's key. */
async function buildFixture(server: TestServer, other: OtherOrganization, c: FuzzCase): Promise<Fixture> {
  const { service } = server;
  const org = await server.newOrganization('Fuzz');
  const owner = contextOf(server, await service.authenticate(org.secret, 'bearer'));
  const main = await service.createWorkspace(owner, 'main');
  const second = await service.createWorkspace(owner, 'second');
  const tag = await service.createTag(owner, main.id, 'tag');
  const user = await service.createKey(owner, { name: 'user' });
  const machine = await service.createKey(owner, { name: 'machine', owner: { type: 'machine', name: 'bot' } });
  const pinned = await service.createKey(owner, { name: 'pinned' }, main.id);
  const disabled = await service.createKey(owner, { name: 'disabled' });
  await service.disableKey(owner, disabled.key.id);
  const revoked = await service.createKey(owner, { name: 'revoked' });
  await service.revokeKey(owner, revoked.key.id);
  const rotated = await service.createKey(owner, { name: 'rotated' });
  await service.rotateKey(owner, rotated.key.id, 3600);

  let caller = { id: owner.principal.key.id, secret: org.secret };
  const { credential } = c;
  if (credential.as === 'machine') caller = { id: machine.key.id, secret: machine.secret };
  if (credential.as === 'limited') {
    const input = { name: 'limited', permission: credential.permission };
    const limited =
      credential.access === 'pinned'
        ? await service.createKey(owner, input, main.id)
        : await service.createKey(owner, { ...input, workspace_access: credential.access === 'all' ? { type: 'all' } : { type: 'selected', workspace_ids: [main.id] } });
    caller = { id: limited.key.id, secret: limited.secret };
  }
  // Last: a policy may cap the number of keys below what the fixture holds.
  if (c.policy) await service.updatePolicy(owner, c.policy);

  return {
    callerSecret: caller.secret,
    ids: {
      key: { caller: caller.id, user: user.key.id, machine: machine.key.id, pinned: pinned.key.id, disabled: disabled.key.id, revoked: revoked.key.id, rotated: rotated.key.id, 'other-org': other.ids.key },
      ws: { main: main.id, second: second.id, 'other-org': other.ids.ws },
      tag: { main: tag.id, 'other-org': other.ids.tag },
      member: { owner: owner.principal.key.owner.id, machine: machine.key.owner.id, 'other-org': other.ids.member },
      secret: { caller: caller.secret, user: user.secret, pinned: pinned.secret, disabled: disabled.secret, revoked: revoked.secret, 'rotated-previous': rotated.secret, 'other-org': other.ids.secret, unknown: UNKNOWN_SECRET },
    },
  };
}

// ------------------------------------------------------------------ one request, checked

interface Exchange {
  request: { method: string; url: string; headers: Record<string, string>; body: string | null };
  status: number;
  headers: Headers;
  text: string;
}

function resolvePlaceholders(text: string, ids: FixtureIds): string {
  return text.replace(PLACEHOLDER, (whole, kind: string, role: string) => (ids as Record<string, Record<string, string>>)[kind]?.[role] ?? whole);
}

function spell(template: string, spelling: Spelling): string {
  switch (spelling) {
    case 'as-is':
      return template;
    case 'trailing-slash':
      return `${template}/`;
    case 'upper-case':
      return template
        .split('/')
        .map((segment) => (segment.startsWith('{') ? segment : segment.toUpperCase()))
        .join('/');
    case 'double-slash':
      return template.replace('/v1/', '/v1//');
  }
}

async function send(server: TestServer, op: Operation, c: FuzzCase, fx: Fixture): Promise<Exchange> {
  const resolve = (text: string) => resolvePlaceholders(text, fx.ids);
  const path = spell(op.path, c.spelling).replace(/\{(\w+)\}/g, (_, name: string) => {
    const segment = c.path[name]!;
    return 'raw' in segment ? segment.raw : encodeURIComponent(resolve(segment.id));
  });
  // Encoded as openapi-fetch (the SDK's client) does it, not as a form (URLSearchParams sends + for a space).
  const query = c.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(resolve(v))}`).join('&');
  const headers: Record<string, string> = {};
  headers['authorization'] =
    c.credential.as === 'owner' && c.credential.scheme === 'basic'
      ? `Basic ${Buffer.from(`${c.credential.username}:${fx.callerSecret}`).toString('base64')}`
      : `Bearer ${fx.callerSecret}`;
  if (c.body.contentType !== null) headers['content-type'] = c.body.contentType;
  if (c.body.kind === 'json' && c.body.contentEncoding) headers['content-encoding'] = c.body.contentEncoding;
  const body = c.body.kind === 'json' ? resolve(JSON.stringify(c.body.value)) : c.body.kind === 'text' ? c.body.text : null;
  const url = `${server.url}${path}${query ? `?${query}` : ''}`;
  const method = op.method.toUpperCase();
  // Bytes, so fetch adds no content-type of its own.
  const res = await fetch(url, { method, headers, body: body === null ? null : new TextEncoder().encode(body), redirect: 'manual' });
  return { request: { method, url, headers, body }, status: res.status, headers: res.headers, text: await res.text() };
}

function describeExchange(ex: Exchange, logs: string[]): string {
  const clip = (s: string | null) => (s === null ? '(none)' : s.length > 600 ? `${s.slice(0, 600)}… (${s.length} chars)` : s);
  const headers = Object.entries(ex.request.headers)
    .map(([k, v]) => `${k}: ${k === 'authorization' ? `${v.split(' ')[0]} <${v.length} chars>` : v}`)
    .join('\n  ');
  return [
    `${ex.request.method} ${ex.request.url}`,
    `  ${headers}`,
    `  body: ${clip(ex.request.body)}`,
    `→ ${ex.status} ${ex.headers.get('content-type') ?? ''}`,
    `  ${clip(ex.text)}`,
    ...(logs.length > 0 ? [`server logs:\n  ${logs.join('\n  ')}`] : []),
  ].join('\n');
}

/** 400s the domain raises for spec-valid input: rules a JSON Schema cannot state. */
const DOMAIN_RULES = [/must be in the future/, /names unknown workspace/, /must grant at least one scope/, /must not exceed max_expiry_days/];

function checkExchange(op: Operation, c: FuzzCase, ex: Exchange, logs: string[]): void {
  const where = describeExchange(ex, logs);
  expect(logs, where).toEqual([]);
  expect(ex.status, where).toBeLessThan(500);
  // A spelling the spec does not have may also be no route at all.
  const noRoute = (c.spelling === 'upper-case' || c.spelling === 'double-slash') && ex.status === 404;
  const declared = declaredResponse(op, ex.status);
  if (!noRoute) expect(declared, `${op.operationId} does not declare ${ex.status}\n${where}`).toBeDefined();
  for (const [name, header] of Object.entries<any>(declared?.headers ?? {})) {
    const schema = deref(deref(header).schema);
    if (schema && 'const' in schema) expect(ex.headers.get(name), where).toBe(String(schema.const));
  }
  const contentType = ex.headers.get('content-type') ?? '';
  if (ex.status >= 400) {
    expect(contentType, where).toMatch(/^application\/problem\+json/);
    const problem = JSON.parse(ex.text);
    expect(problem, where).toMatchObject({
      type: expect.stringMatching(/^[a-z][a-z0-9+.-]*:\S+$/i),
      title: expect.stringMatching(/./),
      status: ex.status,
      code: expect.stringMatching(/./),
      detail: expect.stringMatching(/./),
    });
    if (c.wellFormed && ex.status === 400) {
      const refusedShape = (problem.errors ?? [{ message: problem.detail }]).filter((e: { message: string }) => !DOMAIN_RULES.some((rule) => rule.test(e.message)));
      expect(refusedShape, `the contract validator refused spec-valid input\n${where}`).toEqual([]);
    }
  } else if (declared?.content) {
    expect(contentType, where).toMatch(/^application\/json/);
  } else {
    expect(ex.text, where).toBe('');
  }
}

// ------------------------------------------------------------------ the runs

interface Tally {
  /** Runs sent, shrinking included. */
  runs: number;
  /** The property held for every run: a failing one is reported by its own test. */
  held: boolean;
  statuses: Map<number, number>;
  wellFormed: number;
}
const tallies = new Map<string, Tally>();

function tally(op: Operation, c: FuzzCase, status: number): void {
  const t = tallies.get(op.operationId) ?? { runs: 0, held: false, statuses: new Map(), wellFormed: 0 };
  t.runs++;
  t.statuses.set(status, (t.statuses.get(status) ?? 0) + 1);
  if (c.wellFormed) t.wellFormed++;
  tallies.set(op.operationId, t);
}

describe.each(operations.map((op) => [op.operationId, op] as const))('fuzzing %s', (_name, op) => {
  // A server per operation: the memory store scans linearly, and runs pile up organizations.
  let server: TestServer;
  let other: OtherOrganization;
  beforeAll(async () => {
    server = await startTestServer();
    other = await otherOrganization(server);
  });
  afterAll(async () => {
    await server?.close();
  });

  it(`answers ${RUNS_PER_OPERATION} generated requests within the contract`, async () => {
    const untouched = await other.snapshot();
    await fc.assert(
      fc.asyncProperty(caseArbitrary(op, server.clock.now()), async (c) => {
        const fx = await buildFixture(server, other, c);
        server.logs.length = 0;
        const ex = await send(server, op, c, fx);
        tally(op, c, ex.status);
        checkExchange(op, c, ex, [...server.logs]);
        await server.service.flush();
        expect(await other.snapshot(), `the other organization changed\n${describeExchange(ex, [])}`).toBe(untouched);
      }),
      { seed: SEED, numRuns: RUNS_PER_OPERATION },
    );
    tallies.get(op.operationId)!.held = true;
  });
});

describe('fuzz coverage', () => {
  it('exercised every operation in the spec, each with an accepted request and a refused one', () => {
    const summary = [...tallies].map(
      ([id, t]) =>
        `${id.padEnd(22)} ${String(t.runs).padStart(4)} runs${t.held ? '' : ' (failed)'}, ${String(t.wellFormed).padStart(3)} well-formed, ` +
        `statuses ${JSON.stringify(Object.fromEntries([...t.statuses].sort(([a], [b]) => a - b)))}`,
    );
    console.info(`fuzz (seed ${SEED}):\n${summary.join('\n')}`);
    for (const op of operations) {
      const t = tallies.get(op.operationId);
      expect(t?.runs, `${op.operationId} was never exercised`).toBeGreaterThan(0);
      if (!t?.held) continue;
      expect(t.runs, op.operationId).toBe(RUNS_PER_OPERATION);
      const statuses = [...t.statuses.keys()];
      expect(statuses.some((s) => s >= 200 && s < 300), `${op.operationId} never succeeded: ${statuses}`).toBe(true);
      expect(statuses.some((s) => s >= 400 && s < 500), `${op.operationId} was never refused: ${statuses}`).toBe(true);
    }
  });
});
