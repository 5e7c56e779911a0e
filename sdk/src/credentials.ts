/**
 * The API key and how it is sent. The key lives only in this module's closures: nothing that a
 * user can log (the client, an error, a result) holds it, and every text that leaves the SDK can be
 * passed through `redact()`.
 */

import type { AuthScheme } from './gen/hey-api/types.gen.js';

/** The options shared by both client flavours that say where to send requests and with which key. */
export interface ConnectionOptions {
  /**
   * Where the API lives, e.g. `https://keys.example.com` or `http://localhost:3000`. A path prefix
   * is kept (`https://example.com/heykeys` calls `https://example.com/heykeys/v1/me`).
   */
  baseUrl: string | URL;
  /** The API key, e.g. `hey_…`. It is never included in an error message, `toString()` or a log. */
  apiKey: string;
  /** How to send the key: `Authorization: Bearer <key>` (default) or HTTP Basic with the key as the password. */
  scheme?: AuthScheme;
  /** The Basic username when `scheme` is `'basic'`; the server ignores it. Default `'heykeys'`. */
  username?: string;
}

/** @internal What the clients need from the key, without being able to read it back. */
export interface Credentials {
  readonly scheme: AuthScheme;
  /** The key's prefix and last four characters, like the server's `hint` (`hey_...Z4E9`). */
  readonly hint: string;
  /** The `Authorization` header value. */
  authorization(): string;
  /** `text` with every occurrence of the key (plain or inside a Basic credential) replaced. */
  redact(text: string): string;
}

const REDACTED = '[REDACTED]';
// Visible ASCII only: anything else could not go into a header, and fetch would then throw an error
// whose message quotes the header value, secret included.
const HEADER_SAFE = /^[\x21-\x7e]+$/;
const inspectSymbol = Symbol.for('nodejs.util.inspect.custom');

/** @internal Checks the key and scheme and seals the key into closures. Throws without echoing the key. */
export function createCredentials(options: Pick<ConnectionOptions, 'apiKey' | 'scheme' | 'username'>): Credentials {
  const { apiKey } = options;
  const scheme = options.scheme ?? 'bearer';
  const username = options.username ?? 'heykeys';
  if (typeof apiKey !== 'string' || apiKey.length === 0) {
    throw new TypeError('HeyKeys: `apiKey` is required (a non-empty string).');
  }
  if (/^(bearer|basic)\s/i.test(apiKey)) {
    throw new TypeError('HeyKeys: pass the API key itself as `apiKey`, without "Bearer " or "Basic "; choose the scheme with `scheme`.');
  }
  if (!HEADER_SAFE.test(apiKey)) {
    throw new TypeError(`HeyKeys: \`apiKey\` may only contain visible ASCII characters (the given one has ${apiKey.length} characters).`);
  }
  if (scheme !== 'bearer' && scheme !== 'basic') {
    throw new TypeError(`HeyKeys: \`scheme\` must be 'bearer' or 'basic', not ${JSON.stringify(String(scheme))}.`);
  }
  if (options.username !== undefined && scheme !== 'basic') {
    throw new TypeError("HeyKeys: `username` only applies with scheme 'basic'.");
  }
  if (!/^[\x20-\x7e]*$/.test(username) || username.includes(':')) {
    throw new TypeError('HeyKeys: `username` may only contain printable ASCII characters and no colon.');
  }

  const basicCredential = btoa(`${username}:${apiKey}`);
  const header = scheme === 'bearer' ? `Bearer ${apiKey}` : `Basic ${basicCredential}`;
  const hint = hintOf(apiKey);

  const credentials: Credentials = {
    scheme,
    hint,
    authorization: () => header,
    redact: (text) => text.split(apiKey).join(REDACTED).split(basicCredential).join(REDACTED),
  };
  Object.defineProperty(credentials, inspectSymbol, { value: () => `Credentials { scheme: '${scheme}', key: '${hint}' }` });
  return Object.freeze(credentials);
}

/** Prefix and last four characters, as the server shows keys; nothing at all for a key too short to spare four. */
function hintOf(apiKey: string): string {
  if (apiKey.length < 20) return REDACTED;
  const prefix = /^[a-z][a-z0-9]{0,15}_/.exec(apiKey)?.[0] ?? '';
  return `${prefix}...${apiKey.slice(-4)}`;
}

/** @internal Replaces the key in every string inside a JSON-like value (a problem body, say). */
export function redactDeep<T>(value: T, credentials: Credentials): T {
  if (typeof value === 'string') return credentials.redact(value) as T;
  if (Array.isArray(value)) return value.map((item: unknown) => redactDeep(item, credentials)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, redactDeep(item, credentials)])) as T;
  }
  return value;
}

/** @internal Validates the base URL and drops trailing slashes. Throws without echoing credentials. */
export function normalizeBaseUrl(baseUrl: string | URL): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new TypeError('HeyKeys: `baseUrl` must be an absolute URL such as https://keys.example.com.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TypeError(`HeyKeys: \`baseUrl\` must use http or https, not ${url.protocol}`);
  }
  if (url.username || url.password) {
    throw new TypeError('HeyKeys: `baseUrl` must not contain credentials; pass the API key as `apiKey`.');
  }
  if (url.search || url.hash) {
    throw new TypeError('HeyKeys: `baseUrl` must not have a query string or fragment.');
  }
  return url.href.replace(/\/+$/, '');
}

/** @internal Gives a client object a `toString()`, `toJSON()` and Node inspect form that show the key's hint only. */
export function describeAs<T extends object>(target: T, name: string, baseUrl: string, credentials: Credentials): T {
  const text = `${name} { baseUrl: '${baseUrl}', scheme: '${credentials.scheme}', key: '${credentials.hint}' }`;
  Object.defineProperties(target, {
    toString: { value: () => text },
    toJSON: { value: () => ({ baseUrl, scheme: credentials.scheme, key: credentials.hint }) },
    [inspectSymbol]: { value: () => text },
  });
  return target;
}

/**
 * @internal Wraps fetch so the `Authorization` header is set at the last moment: after every header
 * option and middleware, so none can replace it and none sees the key. The underlying fetch is looked
 * up on each call, so a `globalThis.fetch` patched later (MSW, a test spy) is honoured.
 */
export function authorizingFetch(credentials: Credentials, customFetch?: typeof globalThis.fetch): typeof globalThis.fetch {
  return (input, init) => {
    const request = input instanceof Request && init === undefined ? input : new Request(input, init);
    request.headers.set('Authorization', credentials.authorization());
    return (customFetch ?? globalThis.fetch)(request);
  };
}
