/**
 * The contract suite's vocabulary: clients made through the SDK for a target, and assertions that
 * state a whole answer (status, body, the headers a client reads) so that two targets answering
 * differently cannot both pass.
 */
import { expect } from 'vitest';
import type { OperationId } from '../../sdk/src/gen/operations.gen.ts';
import { createHeyKeysClient, HeyKeysUnexpectedResponseError, type HeyKeysClient } from '../../sdk/src/index.ts';
import { schemaErrors, successResponse } from './spec.ts';
import type { ContractTarget } from './target.ts';

/** A well-formed key no organization holds (the spec's test vector). */
export const UNKNOWN_KEY = 'hey_0000000000000000000000000000003UpZ4E';
export const SECRET_SHAPE = /^hey_[0-9A-Za-z]{36}$/;
export const SECOND = 1000;
export const DAY = 86_400 * SECOND;

/** What every SDK method resolves with, seen from outside its per-operation types. */
export interface AnyResult {
  data: any;
  error: any;
  response: Response;
}

/** An operation called with untyped options: the suite also sends what the types forbid (invalid input). */
export function method(client: HeyKeysClient, operationId: OperationId): (options?: unknown) => Promise<AnyResult> {
  return client[operationId] as unknown as (options?: unknown) => Promise<AnyResult>;
}

/** A client of the target acting with `apiKey`. */
export function clientFor(target: ContractTarget, apiKey: string, scheme: 'bearer' | 'basic' = 'bearer'): HeyKeysClient {
  return createHeyKeysClient({
    baseUrl: target.baseUrl,
    apiKey,
    scheme,
    ...(scheme === 'basic' ? { username: 'contract-suite' } : {}),
    fetch: target.fetch,
  });
}

/**
 * A client whose requests carry no credentials. The SDK always sets `Authorization` (a client holds
 * one key); the fetch it is given sees the finished request and drops the header.
 */
export function anonymousClient(target: ContractTarget): HeyKeysClient {
  const withoutCredentials: typeof globalThis.fetch = (input, init) => {
    const request = new Request(input, init);
    request.headers.delete('authorization');
    return target.fetch(request);
  };
  return createHeyKeysClient({ baseUrl: target.baseUrl, apiKey: UNKNOWN_KEY, fetch: withoutCredentials });
}

/** The status, body and headers of a call, whether the SDK returned it or threw it as undeclared. */
export interface Outcome {
  status: number;
  headers: Headers;
  /** `error` (a declared problem), `data`, or the body of an undeclared answer. */
  body: unknown;
  /** True when the SDK threw `HeyKeysUnexpectedResponseError`: a status or body the operation does not declare. */
  undeclared: boolean;
}

export async function outcomeOf(call: Promise<AnyResult>): Promise<Outcome> {
  try {
    const { data, error, response } = await call;
    return { status: response.status, headers: response.headers, body: error ?? data, undeclared: false };
  } catch (e) {
    if (e instanceof HeyKeysUnexpectedResponseError) return { status: e.status, headers: e.response.headers, body: e.body, undeclared: true };
    throw e;
  }
}

const ISO_TIME = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z/g;

/** Instants in a text as `<time>`: details name when a key expired or was revoked. */
export function withoutTimes(text: string | null): string | null {
  return text === null ? null : text.replace(ISO_TIME, '<time>');
}

/**
 * The declared success of an operation: no problem, the declared status and media type, the
 * declared headers, and a body the spec's schema accepts. Returns the data.
 */
export function expectSuccess<R extends AnyResult>(operationId: OperationId, result: R): NonNullable<R['data']> {
  const declared = successResponse(operationId);
  expect(result.error, `${operationId} answered a problem`).toBeUndefined();
  expect(result.response.status, `${operationId} status`).toBe(declared.status);
  if (declared.mediaType) {
    expect(result.response.headers.get('content-type') ?? '', `${operationId} content type`).toMatch(/^application\/json\b/);
    const valid = declared.validate!(result.data);
    expect(valid ? [] : schemaErrors(declared.validate!), `${operationId} body against openapi.yaml`).toEqual([]);
  } else {
    expect(result.data, `${operationId} has no body`).toBeUndefined();
  }
  // Cache-Control is the one header the spec declares on successes: `no-store`, because the body carries a secret.
  if (declared.headers.includes('cache-control')) expect(result.response.headers.get('cache-control')).toBe('no-store');
  return result.data as NonNullable<R['data']>;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
};

export interface ExpectedProblem {
  status: number;
  code: string;
  /** Instants may be written as `<time>`. */
  detail: string;
  /** The request path. */
  instance: string;
  /** `errors`, `required_scopes`, `missing_scopes`, `policy`: exactly these, no others. */
  extras?: Record<string, unknown>;
  /** The whole `WWW-Authenticate` value (`<time>` allowed), or null when there must be none. */
  challenge?: string | null;
}

/**
 * A problem answer, in full: status, media type, every body field but `request_id` (which differs
 * per request and must be a string when present), and the `WWW-Authenticate` challenge.
 */
export function expectProblem(result: AnyResult, expected: ExpectedProblem): void {
  const { error, response } = result;
  expect(error, `expected a ${expected.status} problem, got ${response.status} ${JSON.stringify(result.data)}`).toBeDefined();
  expect(response.status).toBe(expected.status);
  expect(response.headers.get('content-type') ?? '').toMatch(/^application\/problem\+json\b/);
  const { request_id: requestId, ...body } = error as Record<string, unknown>;
  if (requestId !== undefined) expect(requestId).toBeTypeOf('string');
  expect({ ...body, detail: withoutTimes(String(body['detail'])) }).toEqual({
    type: `https://heykeys.dev/problems/${expected.code.replace(/_/g, '-')}`,
    title: TITLES[expected.status],
    status: expected.status,
    code: expected.code,
    detail: expected.detail,
    instance: expected.instance,
    ...expected.extras,
  });
  expect(withoutTimes(response.headers.get('www-authenticate')), 'WWW-Authenticate').toBe(expected.challenge ?? null);
}

/** The challenges the API sends: both schemes on a 401, the missing scope on a 403 (RFC 6750 §3). */
export const challenge = {
  missing: 'Bearer realm="heykeys", Basic realm="heykeys", charset="UTF-8"',
  invalidToken: (detail: string) =>
    `Bearer realm="heykeys", error="invalid_token", error_description="${detail.replace(/["\\]/g, "'")}", Basic realm="heykeys", charset="UTF-8"`,
  insufficientScope: (scopes: string[]) => `Bearer realm="heykeys", error="insufficient_scope", scope="${scopes.join(' ')}"`,
};

/**
 * A list the API returns newest first: instants never increase, and the items are the expected
 * ones (given newest first) in that order wherever their instants differ. Items sharing an instant
 * have no defined order (ids break ties, and they are random within a millisecond), so there only
 * the set is compared.
 */
export function expectNewestFirst<T>(items: T[], expectedNewestFirst: unknown[], instant: (item: T) => string, label: (item: T) => unknown): void {
  const times = items.map((item) => Date.parse(instant(item)));
  times.forEach((time, i) => {
    if (i > 0) expect(time, `item ${i} is not older than item ${i - 1}`).toBeLessThanOrEqual(times[i - 1]!);
  });
  expect(items).toHaveLength(expectedNewestFirst.length);
  const sorted = (values: unknown[]) => values.map((v) => JSON.stringify(v)).sort();
  for (let start = 0; start < items.length; ) {
    let end = start + 1;
    while (end < items.length && times[end] === times[start]) end++;
    expect(sorted(items.slice(start, end).map(label)), `items ${start}..${end - 1}`).toEqual(sorted(expectedNewestFirst.slice(start, end)));
    start = end;
  }
}

/** `hey_...` + the last four characters: how the API shows a key it will not show in full. */
export function hintOf(secret: string): string {
  return `hey_...${secret.slice(-4)}`;
}

/**
 * A name unique to this run, so what the suite makes is found among whatever the target holds.
 * No spaces: names go into `?name=` filters, and how a space is encoded there is a test of its own.
 */
export function uniqueName(label: string): string {
  return `contract-${label.replace(/\s+/g, '-')}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * A client whose query strings are encoded the way HTML forms, `URLSearchParams`, axios and
 * Python's requests encode them: a space as `+` (the SDK itself sends `%20`).
 */
export function formEncodingClient(target: ContractTarget, apiKey: string): HeyKeysClient {
  const formEncoding: typeof globalThis.fetch = (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    url.search = new URLSearchParams(url.searchParams).toString();
    return target.fetch(new Request(url, request));
  };
  return createHeyKeysClient({ baseUrl: target.baseUrl, apiKey, fetch: formEncoding });
}
