import { createClient, createConfig } from './gen/hey-api/client/index.js';
import * as sdk from './gen/hey-api/sdk.gen.js';
import { operations, type OperationId, type OperationTypes } from './gen/operations.gen.js';
import {
  authorizingFetch,
  createCredentials,
  describeAs,
  normalizeBaseUrl,
  redactDeep,
  type ConnectionOptions,
} from './credentials.js';
import {
  HeyKeysNetworkError,
  HeyKeysProblemError,
  HeyKeysUnexpectedResponseError,
  isProblem,
  type HeyKeysProblem,
} from './errors.js';

export type { OperationId } from './gen/operations.gen.js';

/** Options of `createHeyKeysClient`. */
export interface HeyKeysClientOptions<ThrowOnError extends boolean = false> extends ConnectionOptions {
  /**
   * Throw a `HeyKeysProblemError` when the API answers with a problem, and resolve with the data
   * only, instead of returning `{ data, error }`. Default `false`.
   */
  throwOnError?: ThrowOnError;
  /** A fetch implementation to use instead of `globalThis.fetch` (a test double, a proxy agent). */
  fetch?: typeof globalThis.fetch;
  /** Headers sent with every request. `Authorization` is always set from `apiKey` and cannot be overridden. */
  headers?: Record<string, string>;
}

/** Per-call options every method accepts besides the operation's own `path`, `query` and `body`. */
export interface CallOptions {
  /** Aborts the call; an aborted call rejects with the `AbortError` itself. */
  signal?: AbortSignal;
  /** Extra headers for this call only. */
  headers?: Record<string, string>;
}

type Values<T> = T[keyof T];

/** The `path`, `query` and `body` an operation takes, plus `CallOptions`. */
export type OperationRequest<Op extends OperationId> = Omit<OperationTypes[Op]['data'], 'url'> & CallOptions;

/** The data an operation answers with on success (`void` for 204 responses). */
export type OperationData<Op extends OperationId> = Values<OperationTypes[Op]['responses']>;

type ErrorStatus<Op extends OperationId> = keyof OperationTypes[Op]['errors'] & number;

/**
 * The problems an operation declares in openapi.yaml, as a union discriminated by `status`:
 * for `getApiKey` that is 400 | 401 | 403 | 404 | 429 | 503, so `error.status === 409` does not compile.
 */
export type OperationProblem<Op extends OperationId> = {
  [Status in ErrorStatus<Op>]: OperationTypes[Op]['errors'][Status] & { status: Status };
}[ErrorStatus<Op>];

/** A successful call: `data` is set, `error` is not. */
export interface HeyKeysSuccess<Op extends OperationId> {
  data: OperationData<Op>;
  error: undefined;
  /** The HTTP response, for headers such as `Cache-Control` (its body already read). */
  response: Response;
}

/** A call the API refused with a declared problem: `error` is set, `data` is not. */
export interface HeyKeysFailure<Op extends OperationId> {
  data: undefined;
  error: OperationProblem<Op>;
  /** The HTTP response, for headers such as `Retry-After` (its body already read). */
  response: Response;
}

/**
 * What a method resolves with. Check `error` (or `data`) to narrow: after `if (error) …`, `data`
 * is defined. With `throwOnError: true` only the success side remains.
 */
export type HeyKeysResult<Op extends OperationId, ThrowOnError extends boolean = false> = ThrowOnError extends true
  ? HeyKeysSuccess<Op>
  : HeyKeysSuccess<Op> | HeyKeysFailure<Op>;

/** One operation of the API, named by its operationId. Its options are required when it has a required path parameter or body. */
export type HeyKeysMethod<Op extends OperationId, ThrowOnError extends boolean = false> = ({} extends OperationRequest<Op>
  ? (options?: OperationRequest<Op>) => Promise<HeyKeysResult<Op, ThrowOnError>>
  : (options: OperationRequest<Op>) => Promise<HeyKeysResult<Op, ThrowOnError>>) & {
  /** The operationId this method calls. */
  readonly operationId: Op;
};

/** The generated SDK functions, one per operation; mapping over them keeps each function's doc comment. */
type GeneratedSdk = typeof sdk;

/** Every operation of the API as a method named by its operationId. */
export type HeyKeysMethods<ThrowOnError extends boolean = false> = {
  readonly [Op in keyof GeneratedSdk]: Op extends OperationId ? HeyKeysMethod<Op, ThrowOnError> : never;
};

/**
 * A client bound to one base URL and one API key. Every operation in openapi.yaml is a method
 * named by its operationId (`listApiKeys`, `createApiKey`, `revokeApiKey`, …).
 * `String(client)`, `JSON.stringify(client)` and `console.log(client)` show the key's hint only.
 */
export interface HeyKeysClient<ThrowOnError extends boolean = false> extends HeyKeysMethods<ThrowOnError> {
  /** The base URL requests go to, without a trailing slash. */
  readonly baseUrl: string;
  /** How the key is sent. */
  readonly scheme: 'bearer' | 'basic';
}

type GeneratedFunction = (options: Record<string, unknown>) => Promise<{ data?: unknown; error?: unknown; response?: Response }>;

const MAX_TEXT_BODY = 2000;

/**
 * Creates a typed client for the HeyKeys API.
 *
 * Each method resolves with `{ data, error, response }`: `error` is one of the problems the
 * operation declares (narrowed by `error.status`), `data` the typed body otherwise. Anything outside
 * the contract throws: `HeyKeysNetworkError` when no response arrived,
 * `HeyKeysUnexpectedResponseError` for an undeclared status or body. With `throwOnError: true`,
 * declared problems throw `HeyKeysProblemError` too and `data` is always set.
 *
 * @example
 * import { createHeyKeysClient } from '@heykeys/sdk';
 *
 * const heykeys = createHeyKeysClient({ baseUrl: 'https://keys.example.com', apiKey: process.env.HEYKEYS_KEY! });
 * const { data, error } = await heykeys.createApiKey({
 *   body: { name: 'CI deploy', permission: { type: 'restricted', scopes: ['tags:write'] }, expires_in_days: 30 },
 * });
 * if (error) {
 *   if (error.status === 403) console.error('missing', error.missing_scopes);
 *   else console.error(error.detail);
 * } else {
 *   console.log(data.secret); // shown this once
 * }
 *
 * @example
 * // HTTP Basic instead of Bearer, throwing on problems
 * const heykeys = createHeyKeysClient({ baseUrl, apiKey, scheme: 'basic', throwOnError: true });
 * const { data: me } = await heykeys.getMe();
 */
export function createHeyKeysClient<ThrowOnError extends boolean = false>(
  options: HeyKeysClientOptions<ThrowOnError>,
): HeyKeysClient<ThrowOnError> {
  const credentials = createCredentials(options);
  const baseUrl = normalizeBaseUrl(options.baseUrl);
  const throwOnError = options.throwOnError === true;

  const transport = createClient(
    createConfig({
      baseUrl,
      throwOnError: false,
      fetch: authorizingFetch(credentials, options.fetch),
      ...(options.headers ? { headers: options.headers } : {}),
    }),
  );

  async function call(operationId: OperationId, callOptions: Record<string, unknown> = {}) {
    const generated = sdk[operationId] as unknown as GeneratedFunction;
    // Only what the types allow goes through: hey-api would also honour `fetch`, `baseUrl` or `auth`
    // per call, which must stay as the client was made.
    const { path, query, body, headers, signal } = callOptions;
    const outcome = await generated({ path, query, body, headers, signal, client: transport, throwOnError: false });
    const { response } = outcome;
    const failed = 'error' in outcome && outcome.error !== undefined;

    if (failed && isAbort(outcome.error)) throw outcome.error;
    if (!response) throw new HeyKeysNetworkError(operationId, baseUrl, outcome.error, credentials.redact);
    if (response.ok && !failed) {
      return { data: response.status === 204 ? undefined : outcome.data, error: undefined, response };
    }

    const errorBody = redactDeep(bodyForError(outcome.error), credentials);
    const declared: readonly number[] = operations[operationId].errorStatuses;
    if (!response.ok && declared.includes(response.status) && isProblem(errorBody, response.status)) {
      if (throwOnError) throw new HeyKeysProblemError(operationId, errorBody, response);
      return { data: undefined, error: errorBody, response };
    }
    throw new HeyKeysUnexpectedResponseError(operationId, response.status, errorBody, response);
  }

  const client: Record<string, unknown> = { baseUrl, scheme: credentials.scheme };
  for (const operationId of Object.keys(operations) as OperationId[]) {
    const method = (callOptions?: Record<string, unknown>) => call(operationId, callOptions);
    client[operationId] = Object.defineProperty(method, 'operationId', { value: operationId, enumerable: true });
  }
  return Object.freeze(describeAs(client, 'HeyKeysClient', baseUrl, credentials)) as unknown as HeyKeysClient<ThrowOnError>;
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}

/** hey-api hands over the parsed JSON of an error body, its text when it is not JSON, or a parse error for a broken 2xx body. */
function bodyForError(error: unknown): unknown {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  if (typeof error === 'string' && error.length > MAX_TEXT_BODY) return `${error.slice(0, MAX_TEXT_BODY)}…`;
  return error;
}
