/**
 * The SDK's own behaviour, with a fetch double instead of a server: how the key is sent and kept
 * out of every printable surface, how answers become values or errors, and the option checks.
 * Behaviour against the real server is in operations.test.ts.
 */
import { inspect } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createHeyKeysClient,
  HeyKeysError,
  HeyKeysNetworkError,
  HeyKeysProblemError,
  HeyKeysUnexpectedResponseError,
  paginate,
} from '../../sdk/src/index.ts';
import { createHeyKeysFetchClient } from '../../sdk/src/openapi-fetch.ts';

const SECRET = 'hey_0000000000000000000000000000003UpZ4E';
const BASE = 'http://api.test';

const problem = (status: number, extra: Record<string, unknown> = {}) => ({
  type: 'https://heykeys.dev/problems/x',
  title: 'T',
  status,
  code: 'some_code',
  detail: 'Something is wrong.',
  ...extra,
});

function json(status: number, body: unknown, contentType = 'application/json'): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': contentType } });
}

/** A fetch double that records each request and answers with `answer(request)`. */
function fakeFetch(answer: (request: Request) => Response | Promise<Response>) {
  const requests: Request[] = [];
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    requests.push(request);
    return answer(request);
  });
  return { fetch: fetch as unknown as typeof globalThis.fetch, requests };
}

/** Everything a person could see of a value: String(), JSON, util.inspect deep and with hidden fields. */
function printable(value: unknown): string {
  const asString = (() => {
    try {
      return String(value);
    } catch {
      return '';
    }
  })();
  return [asString, JSON.stringify(value) ?? '', inspect(value, { depth: 10 }), inspect(value, { depth: 10, showHidden: true })].join('\n');
}

const basicPassword = (header: string | null) => atob(header!.replace(/^Basic /, '')).split(':').slice(1).join(':');

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('sending the key', () => {
  it('sends Bearer by default, to the base URL with its path prefix kept and trailing slash dropped', async () => {
    const { fetch, requests } = fakeFetch(() => json(200, { data: [] }));
    const heykeys = createHeyKeysClient({ baseUrl: `${BASE}/prefix/`, apiKey: SECRET, fetch });
    await heykeys.listScopes();
    expect(requests[0]!.url).toBe(`${BASE}/prefix/v1/scopes`);
    expect(requests[0]!.headers.get('authorization')).toBe(`Bearer ${SECRET}`);
  });

  it('sends Basic with the key as the password and the chosen username', async () => {
    const { fetch, requests } = fakeFetch(() => json(200, { data: [] }));
    await createHeyKeysClient({ baseUrl: BASE, apiKey: SECRET, scheme: 'basic', fetch }).listScopes();
    await createHeyKeysClient({ baseUrl: BASE, apiKey: SECRET, scheme: 'basic', username: 'ci-bot', fetch }).listScopes();
    expect(basicPassword(requests[0]!.headers.get('authorization'))).toBe(SECRET);
    expect(atob(requests[1]!.headers.get('authorization')!.slice(6))).toBe(`ci-bot:${SECRET}`);
  });

  it('keeps its own Authorization over one given in headers, per client or per call', async () => {
    const { fetch, requests } = fakeFetch(() => json(200, { data: [] }));
    const heykeys = createHeyKeysClient({ baseUrl: BASE, apiKey: SECRET, fetch, headers: { Authorization: 'Bearer other', 'X-Team': 'a' } });
    await heykeys.listScopes({ headers: { authorization: 'Bearer third', 'X-Call': 'b' } });
    expect(requests[0]!.headers.get('authorization')).toBe(`Bearer ${SECRET}`);
    expect(requests[0]!.headers.get('x-team')).toBe('a');
    expect(requests[0]!.headers.get('x-call')).toBe('b');
  });

  it('ignores per-call options outside its types (a JavaScript caller passing fetch or baseUrl)', async () => {
    const { fetch, requests } = fakeFetch(() => json(200, { data: [] }));
    const other = vi.fn();
    const heykeys = createHeyKeysClient({ baseUrl: BASE, apiKey: SECRET, fetch });
    await heykeys.listScopes({ baseUrl: 'http://elsewhere.test', fetch: other, auth: 'x' } as never);
    expect(other).not.toHaveBeenCalled();
    expect(requests[0]!.url).toBe(`${BASE}/v1/scopes`);
    expect(requests[0]!.headers.get('authorization')).toBe(`Bearer ${SECRET}`);
  });

  it('looks up globalThis.fetch on every call, so a fetch patched after creation (MSW) is used', async () => {
    const heykeys = createHeyKeysClient({ baseUrl: BASE, apiKey: SECRET });
    const { fetch, requests } = fakeFetch(() => json(200, { data: [] }));
    vi.stubGlobal('fetch', fetch);
    const { data } = await heykeys.listScopes();
    expect(data).toEqual({ data: [] });
    expect(requests).toHaveLength(1);
  });
});

describe('options are checked when the client is made, without echoing the key', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['an empty key', { apiKey: '' }, /apiKey. is required/],
    ['a key with its scheme', { apiKey: `Bearer ${SECRET}` }, /without "Bearer "/],
    ['a key with a newline (header injection)', { apiKey: `${SECRET}\nX-Evil: 1` }, /visible ASCII/],
    ['a key with a space', { apiKey: `${SECRET} x` }, /visible ASCII/],
    ['an unknown scheme', { scheme: 'digest' }, /'bearer' or 'basic'/],
    ['a username without Basic', { username: 'me' }, /only applies with scheme 'basic'/],
    ['a username with a colon', { scheme: 'basic', username: 'a:b' }, /no colon/],
    ['a relative base URL', { baseUrl: '/api' }, /absolute URL/],
    ['credentials in the base URL', { baseUrl: `http://user:${SECRET}@api.test` }, /must not contain credentials/],
    ['a non-http base URL', { baseUrl: 'ftp://api.test' }, /http or https/],
  ];
  it.each(cases)('rejects %s', (_name, override, message) => {
    const make = () => createHeyKeysClient({ baseUrl: BASE, apiKey: SECRET, ...override } as never);
    expect(make).toThrow(message);
    try {
      make();
    } catch (error) {
      expect(printable(error)).not.toContain(SECRET);
    }
  });

  it('applies the same checks to the openapi-fetch flavour', () => {
    expect(() => createHeyKeysFetchClient({ baseUrl: BASE, apiKey: `${SECRET}\r\n` })).toThrow(/visible ASCII/);
  });
});

describe('the key never shows', () => {
  it('in String(), JSON or util.inspect of either client', () => {
    const heykeys = createHeyKeysClient({ baseUrl: BASE, apiKey: SECRET });
    const fetchClient = createHeyKeysFetchClient({ baseUrl: BASE, apiKey: SECRET, scheme: 'basic' });
    for (const client of [heykeys, fetchClient]) {
      const shown = printable(client);
      expect(shown).not.toContain(SECRET);
      expect(shown).not.toContain(btoa(`heykeys:${SECRET}`));
      expect(shown).toContain("key: 'hey_...pZ4E'");
    }
    expect(String(heykeys)).toBe("HeyKeysClient { baseUrl: 'http://api.test', scheme: 'bearer', key: 'hey_...pZ4E' }");
  });

  it('in a problem the server echoes it in, returned or thrown, and in console output', async () => {
    const echo = problem(404, { detail: `No key ${SECRET} (Basic ${btoa(`heykeys:${SECRET}`)})` });
    const { fetch } = fakeFetch(() => json(404, echo, 'application/problem+json'));
    const returned = await createHeyKeysClient({ baseUrl: BASE, apiKey: SECRET, fetch }).getApiKey({ path: { id: 'key_12345678' } });
    expect(returned.error?.detail).toBe('No key [REDACTED] (Basic [REDACTED])');

    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const thrower = createHeyKeysClient({ baseUrl: BASE, apiKey: SECRET, fetch, throwOnError: true, scheme: 'basic' });
    const thrown = await thrower.getApiKey({ path: { id: 'key_12345678' } }).catch((e: unknown) => e);
    console.log(thrown, returned, thrower);
    const logged = log.mock.calls.map((args) => args.map((a) => inspect(a, { depth: 10 })).join(' ')).join('\n');
    log.mockRestore();
    expect(thrown).toBeInstanceOf(HeyKeysProblemError);
    expect(logged).toContain('getApiKey failed: 404 some_code');
    expect(logged).not.toContain(SECRET);
    expect(printable(thrown)).not.toContain(SECRET);
  });

  it('in a network error', async () => {
    const { fetch } = fakeFetch(() => {
      throw new TypeError(`fetch failed for ${SECRET}`);
    });
    const error = await createHeyKeysClient({ baseUrl: BASE, apiKey: SECRET, fetch }).getMe().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeyKeysNetworkError);
    expect((error as Error).message).toBe('getMe could not reach http://api.test: fetch failed for [REDACTED]');
  });
});

describe('answers', () => {
  it('returns data with the response, and undefined data for a 204', async () => {
    const { fetch } = fakeFetch((request) => (request.method === 'DELETE' ? new Response(null, { status: 204 }) : json(200, { data: [] })));
    const heykeys = createHeyKeysClient({ baseUrl: BASE, apiKey: SECRET, fetch });
    const scopes = await heykeys.listScopes();
    expect(scopes).toMatchObject({ data: { data: [] }, error: undefined });
    expect(scopes.response.status).toBe(200);
    const revoked = await heykeys.revokeApiKey({ path: { id: 'key_12345678' } });
    expect(revoked).toMatchObject({ data: undefined, error: undefined });
    expect(revoked.response.status).toBe(204);
  });

  it('returns a declared problem as the error value, with the response for its headers', async () => {
    const { fetch } = fakeFetch(() =>
      new Response(JSON.stringify(problem(429)), { status: 429, headers: { 'Content-Type': 'application/problem+json', 'Retry-After': '12' } }),
    );
    const { data, error, response } = await createHeyKeysClient({ baseUrl: BASE, apiKey: SECRET, fetch }).getMe();
    expect(data).toBeUndefined();
    expect(error).toEqual(problem(429));
    expect(response.headers.get('retry-after')).toBe('12');
  });

  it('throws HeyKeysProblemError for a declared problem with throwOnError', async () => {
    const { fetch } = fakeFetch(() => json(403, problem(403, { missing_scopes: ['api_keys:write'] }), 'application/problem+json'));
    const heykeys = createHeyKeysClient({ baseUrl: BASE, apiKey: SECRET, fetch, throwOnError: true });
    const error = await heykeys.createApiKey({ body: { name: 'x' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeyKeysProblemError);
    expect(error).toBeInstanceOf(HeyKeysError);
    expect(error).toMatchObject({ operationId: 'createApiKey', status: 403, problem: { missing_scopes: ['api_keys:write'] } });
    expect((error as HeyKeysProblemError).response.status).toBe(403);
  });

  it('throws HeyKeysUnexpectedResponseError for a status the operation does not declare, even without throwOnError', async () => {
    const { fetch } = fakeFetch(() => json(500, problem(500), 'application/problem+json'));
    const error = await createHeyKeysClient({ baseUrl: BASE, apiKey: SECRET, fetch }).getMe().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeyKeysUnexpectedResponseError);
    expect(error).toMatchObject({ status: 500, operationId: 'getMe' });
    // getMe declares 400, 401, 429 and 503 only: a 404 is outside its contract too.
    const { fetch: notFound } = fakeFetch(() => json(404, problem(404), 'application/problem+json'));
    await expect(createHeyKeysClient({ baseUrl: BASE, apiKey: SECRET, fetch: notFound }).getMe()).rejects.toBeInstanceOf(
      HeyKeysUnexpectedResponseError,
    );
  });

  it('throws HeyKeysUnexpectedResponseError for a declared status whose body is not a problem', async () => {
    const { fetch } = fakeFetch(() => new Response('<html>Bad gateway</html>', { status: 401, headers: { 'Content-Type': 'text/html' } }));
    const error = await createHeyKeysClient({ baseUrl: BASE, apiKey: SECRET, fetch }).getMe().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeyKeysUnexpectedResponseError);
    expect((error as HeyKeysUnexpectedResponseError).body).toBe('<html>Bad gateway</html>');
  });

  it('throws HeyKeysUnexpectedResponseError for a 2xx whose body is not JSON', async () => {
    const { fetch } = fakeFetch(() => new Response('not json', { status: 200, headers: { 'Content-Type': 'application/json' } }));
    await expect(createHeyKeysClient({ baseUrl: BASE, apiKey: SECRET, fetch }).getMe()).rejects.toBeInstanceOf(HeyKeysUnexpectedResponseError);
  });

  it('rethrows the AbortError of an aborted call', async () => {
    const { fetch } = fakeFetch((request) => {
      request.signal.throwIfAborted();
      return json(200, {});
    });
    const controller = new AbortController();
    controller.abort();
    const error = await createHeyKeysClient({ baseUrl: BASE, apiKey: SECRET, fetch })
      .getMe({ signal: controller.signal })
      .catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
  });
});

describe('paginate', () => {
  it('follows next_cursor until null, keeping the other query parameters', async () => {
    const pages: Record<string, { data: Array<{ id: string }>; next_cursor: string | null }> = {
      '': { data: [{ id: 'a' }, { id: 'b' }], next_cursor: 'c1' },
      c1: { data: [{ id: 'c' }], next_cursor: 'c2' },
      c2: { data: [], next_cursor: null },
    };
    const { fetch, requests } = fakeFetch((request) => json(200, pages[new URL(request.url).searchParams.get('cursor') ?? '']));
    const heykeys = createHeyKeysClient({ baseUrl: BASE, apiKey: SECRET, fetch });
    const ids: string[] = [];
    for await (const key of paginate(heykeys.listApiKeys, { query: { status: 'active', limit: 2 } })) ids.push(key.id);
    expect(ids).toEqual(['a', 'b', 'c']);
    expect(requests.map((r) => new URL(r.url).search)).toEqual(['?status=active&limit=2', '?status=active&limit=2&cursor=c1', '?status=active&limit=2&cursor=c2']);
  });

  it('throws the problem of a failing page even without throwOnError', async () => {
    const { fetch } = fakeFetch(() => json(403, problem(403), 'application/problem+json'));
    const heykeys = createHeyKeysClient({ baseUrl: BASE, apiKey: SECRET, fetch });
    const walk = async () => {
      for await (const _ of paginate(heykeys.listWorkspaces)) void _;
    };
    await expect(walk()).rejects.toMatchObject({ name: 'HeyKeysProblemError', operationId: 'listWorkspaces', status: 403 });
  });
});

describe('openapi-fetch flavour', () => {
  it('sends the key after middleware ran, so middleware never sees it', async () => {
    const { fetch, requests } = fakeFetch(() => json(200, { data: [], next_cursor: null }));
    const client = createHeyKeysFetchClient({ baseUrl: BASE, apiKey: SECRET, scheme: 'basic', fetch });
    const seen: Array<string | null> = [];
    client.use({
      onRequest: ({ request }) => {
        seen.push(request.headers.get('authorization'));
      },
    });
    const { data } = await client.GET('/v1/api-keys', { params: { query: { limit: 1 } } });
    expect(data).toEqual({ data: [], next_cursor: null });
    expect(seen).toEqual([null]);
    expect(requests[0]!.url).toBe(`${BASE}/v1/api-keys?limit=1`);
    expect(basicPassword(requests[0]!.headers.get('authorization'))).toBe(SECRET);
  });
});
