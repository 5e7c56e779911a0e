import type { Problem } from './gen/hey-api/types.gen.js';

/**
 * An RFC 9457 problem the API answered with, its `status` narrowed to one HTTP status.
 * `HeyKeysProblem<403>` is a 403 problem, whose `missing_scopes` names what the key lacks.
 */
export type HeyKeysProblem<Status extends number = number> = Problem & { status: Status };

/** Base class of every error the SDK throws, so `catch (e) { if (e instanceof HeyKeysError) … }` catches them all. */
export class HeyKeysError extends Error {
  /** The operationId of the call that failed, e.g. `'getApiKey'`. */
  readonly operationId: string;

  constructor(operationId: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'HeyKeysError';
    this.operationId = operationId;
  }
}

/**
 * Thrown by a client made with `throwOnError: true` (and by `paginate`) when the API answers with
 * one of the problems the operation declares. Without `throwOnError` the same problem comes back
 * as the call's `error` value instead.
 *
 * @example
 * try {
 *   await heykeys.getApiKey({ path: { id } });
 * } catch (e) {
 *   if (e instanceof HeyKeysProblemError && e.status === 404) return null;
 *   throw e;
 * }
 */
export class HeyKeysProblemError<P extends HeyKeysProblem = HeyKeysProblem> extends HeyKeysError {
  /** The HTTP status, equal to `problem.status`. */
  readonly status: P['status'];
  /** The problem body, e.g. `{ code: 'insufficient_scope', missing_scopes: ['api_keys:write'], … }`. */
  readonly problem: P;
  /** The HTTP response (its body already read); not enumerable, so logs stay short. */
  declare readonly response: Response;

  constructor(operationId: string, problem: P, response: Response) {
    const requestId = problem.request_id ? ` (request ${problem.request_id})` : '';
    super(operationId, `${operationId} failed: ${problem.status} ${problem.code}: ${problem.detail}${requestId}`);
    this.name = 'HeyKeysProblemError';
    this.status = problem.status;
    this.problem = problem;
    Object.defineProperty(this, 'response', { value: response, enumerable: false });
  }
}

/**
 * Thrown when the API answers with something the contract does not declare for the operation: a
 * status it does not list (a 500, a proxy's 502), or a body that is not a problem. The types of
 * `error` only describe declared problems, so these never arrive as values.
 */
export class HeyKeysUnexpectedResponseError extends HeyKeysError {
  /** The HTTP status. */
  readonly status: number;
  /** The parsed body (JSON or text, at most 2,000 characters of text). */
  readonly body: unknown;
  /** The HTTP response (its body already read); not enumerable, so logs stay short. */
  declare readonly response: Response;

  constructor(operationId: string, status: number, body: unknown, response: Response) {
    const summary = isRecord(body) && typeof body['detail'] === 'string' ? `: ${body['detail']}` : '';
    super(operationId, `${operationId} got an undeclared response: HTTP ${status}${summary}`);
    this.name = 'HeyKeysUnexpectedResponseError';
    this.status = status;
    this.body = body;
    Object.defineProperty(this, 'response', { value: response, enumerable: false });
  }
}

/**
 * Thrown when no response arrived: the server could not be reached, the connection broke, or the
 * request could not be built. `cause` holds the underlying error. An aborted call rethrows the
 * `AbortError` itself instead.
 */
export class HeyKeysNetworkError extends HeyKeysError {
  constructor(operationId: string, baseUrl: string, cause: unknown, redact: (text: string) => string = (text) => text) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(operationId, redact(`${operationId} could not reach ${baseUrl}: ${reason}`), { cause });
    this.name = 'HeyKeysNetworkError';
  }
}

/** @internal */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** @internal True when `body` has the Problem schema's required fields and agrees with the HTTP status. */
export function isProblem(body: unknown, status: number): body is HeyKeysProblem {
  return (
    isRecord(body) &&
    body['status'] === status &&
    typeof body['type'] === 'string' &&
    typeof body['title'] === 'string' &&
    typeof body['code'] === 'string' &&
    typeof body['detail'] === 'string'
  );
}
