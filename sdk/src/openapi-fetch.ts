/**
 * The openapi-fetch flavour of the SDK, for teams who prefer calling paths:
 * `client.GET('/v1/api-keys/{id}', { params: { path: { id } } })`. Same spec, types from
 * openapi-typescript, same key handling as `createHeyKeysClient`.
 *
 * @module
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { paths } from './gen/openapi-typescript.gen.js';
import { authorizingFetch, createCredentials, describeAs, normalizeBaseUrl, type ConnectionOptions } from './credentials.js';

export type { components, operations, paths } from './gen/openapi-typescript.gen.js';
export type { ConnectionOptions } from './credentials.js';

/** Options of `createHeyKeysFetchClient`. */
export interface HeyKeysFetchClientOptions extends ConnectionOptions {
  /** A fetch implementation to use instead of `globalThis.fetch` (a test double, a proxy agent). */
  fetch?: typeof globalThis.fetch;
  /** Headers sent with every request. `Authorization` is always set from `apiKey` and cannot be overridden. */
  headers?: Record<string, string>;
  /** Other openapi-fetch options (query or body serializers, `parseAs`, …). */
  clientOptions?: Omit<ClientOptions, 'baseUrl' | 'fetch' | 'headers'>;
}

/** An openapi-fetch client typed by the HeyKeys spec. */
export type HeyKeysFetchClient = Client<paths>;

/**
 * Creates an [openapi-fetch](https://openapi-ts.dev/openapi-fetch/) client for the HeyKeys API.
 * Calls resolve with `{ data, error, response }` as openapi-fetch defines them: `error` is the
 * problem body of any non-2xx answer; network failures reject. The key is added to each request
 * after all middleware has run, so middleware registered with `use()` never sees it.
 *
 * @example
 * import { createHeyKeysFetchClient } from '@heykeys/sdk/openapi-fetch';
 *
 * const client = createHeyKeysFetchClient({ baseUrl: 'https://keys.example.com', apiKey });
 * const { data, error } = await client.GET('/v1/api-keys', { params: { query: { limit: 50 } } });
 * if (error) throw new Error(`${error.status} ${error.code}: ${error.detail}`);
 * for (const key of data.data) console.log(key.id, key.name);
 */
export function createHeyKeysFetchClient(options: HeyKeysFetchClientOptions): HeyKeysFetchClient {
  const credentials = createCredentials(options);
  const baseUrl = normalizeBaseUrl(options.baseUrl);
  const client = createClient<paths>({
    ...options.clientOptions,
    baseUrl,
    fetch: authorizingFetch(credentials, options.fetch),
    ...(options.headers ? { headers: options.headers } : {}),
  });
  return describeAs(client, 'HeyKeysFetchClient', baseUrl, credentials);
}
