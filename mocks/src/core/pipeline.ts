/**
 * A Fetch `Request` in, a Fetch `Response` out, through the server's pipeline in the server's
 * order (server/src/app.ts), with no framework:
 *
 *   request id → match operation → Authorization → service.authenticate →
 *   service.authorize(scopes, owner-only) → rate limit → JSON body → validation against the spec →
 *   route handler (the server's own, server/src/routes/) → response; any error → problemResponse;
 *   the usage log records the outcome.
 *
 * Everything it calls is the server's portable code; what is written here is only what Express and
 * body-parser did for the server (reading the body and the query string, matching the route).
 */
import type { Principal } from '../../../server/src/domain/access.ts';
import type { KeyService } from '../../../server/src/domain/service.ts';
import { parseAuthorization } from '../../../server/src/http/core/credentials.ts';
import { operationMatcher, type Operation } from '../../../server/src/http/core/operations.ts';
import { problemResponse, statusOf } from '../../../server/src/http/core/problems.ts';
import { toDomainError } from '../../../server/src/http/problem.ts';
import { rateLimit } from '../../../server/src/http/rate-limit.ts';
import { apiKeyHandlers } from '../../../server/src/routes/api-keys.ts';
import { identityHandlers } from '../../../server/src/routes/identity.ts';
import { organizationHandlers } from '../../../server/src/routes/organization.ts';
import { resultJson, type Handlers } from '../../../server/src/routes/types.ts';
import type { RequestValidator } from './validation.ts';

/** express.json({ limit: '64kb' }) */
const BODY_LIMIT = 64 * 1024;
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export interface PipelineOptions {
  operations: Operation[];
  validator: RequestValidator;
  /** Requests per key per minute; 0 turns the limit off (the server's default). */
  rateLimitPerMinute: number;
  /** What the usage and audit logs record as the caller's IP. */
  clientIp: string | null;
  /** Reports unexpected errors (a 500 is a bug in the mock or the domain, never bad input). */
  onInternalError: (error: unknown, request: Request) => void;
}

/** The server's route handlers, keyed by operationId (app.ts's allHandlers, without importing Express). */
export function routeHandlers(service: KeyService): Handlers {
  return { ...identityHandlers(service), ...apiKeyHandlers(service), ...organizationHandlers(service) };
}

/** An error shaped like body-parser's, which `toDomainError` recognises by `type`. */
class BodyError extends Error {
  readonly type: string;
  readonly status: number;
  constructor(status: number, type: string, message: string) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

function mediaType(contentType: string | null): { type: string | null; charset: string | null } {
  if (!contentType) return { type: null, charset: null };
  const [type, ...params] = contentType.split(';');
  let charset: string | null = null;
  for (const param of params) {
    const [name, value] = param.split('=');
    if (name?.trim().toLowerCase() === 'charset' && value) charset = value.trim().replace(/^"|"$/g, '').toLowerCase();
  }
  return { type: type!.trim().toLowerCase() || null, charset };
}

/** What express.json({ limit: '64kb' }) (body-parser 2, strict) leaves in req.body. */
async function readJsonBody(request: Request): Promise<unknown> {
  const bytes = new Uint8Array(await request.arrayBuffer());
  // body-parser parses only when the request has a body on the wire: Node's fetch sends
  // `Content-Length: 0` on a body-less POST, PUT or PATCH, which counts; other methods send none.
  const hasBody = bytes.byteLength > 0 || request.method === 'POST' || request.method === 'PUT' || request.method === 'PATCH';
  if (!hasBody) return undefined;
  const { type, charset } = mediaType(request.headers.get('content-type'));
  if (type !== 'application/json') return undefined;
  const encoding = charset ?? 'utf-8';
  if (!encoding.startsWith('utf-')) {
    throw new BodyError(415, 'charset.unsupported', `unsupported charset "${encoding.toUpperCase()}"`);
  }
  if (bytes.byteLength > BODY_LIMIT) throw new BodyError(413, 'entity.too.large', 'request entity too large');
  let text: string;
  try {
    text = new TextDecoder(encoding).decode(bytes);
  } catch {
    throw new BodyError(415, 'charset.unsupported', `unsupported charset "${encoding.toUpperCase()}"`);
  }
  if (text.length === 0) return {};
  const first = /^[\x20\x09\x0a\x0d]*(.|$)/s.exec(text)?.[1];
  if (first !== '{' && first !== '[') throw new BodyError(400, 'entity.parse.failed', 'strict violation');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new BodyError(400, 'entity.parse.failed', (e as Error).message);
  }
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value.replace(/\+/g, ' ');
  }
}

/** Express's 'simple' query parser (node:querystring): repeated names become arrays. */
function parseQuery(rawQuery: string): Record<string, unknown> {
  const query: Record<string, unknown> = Object.create(null);
  if (!rawQuery) return query;
  for (const part of rawQuery.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const name = decode(eq === -1 ? part : part.slice(0, eq));
    const value = eq === -1 ? '' : decode(part.slice(eq + 1));
    const existing = query[name];
    if (existing === undefined) query[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else query[name] = [existing, value];
  }
  return query;
}

function pathParams(operation: Operation, path: string): Record<string, string> {
  const names = [...operation.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
  const values = operation.pattern.exec(path)?.slice(1) ?? [];
  const params: Record<string, string> = {};
  try {
    names.forEach((name, i) => (params[name] = decodeURIComponent(values[i] ?? '')));
  } catch {
    // express-openapi-validator's answer to a path it cannot decode.
    throw Object.assign(new Error("malformed uri'"), { status: 400, errors: [{ path, message: "malformed uri'" }] });
  }
  return params;
}

function newRequestId(): string {
  const b = globalThis.crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export type Dispatch = (service: KeyService, request: Request, path: string) => Promise<Response>;

/**
 * Builds the dispatcher. `path` is the request's path relative to the API's base URL (`/v1/...`);
 * the service is passed per call because `reset()` replaces it.
 */
export function createDispatcher(options: PipelineOptions): Dispatch {
  const match = operationMatcher(options.operations);
  const pathMethods = new Map<RegExp, string[]>();
  for (const op of options.operations) {
    const entry = [...pathMethods.keys()].find((p) => p.source === op.pattern.source);
    if (entry) pathMethods.get(entry)!.push(op.method);
    else pathMethods.set(op.pattern, [op.method]);
  }
  const handlersByService = new WeakMap<KeyService, Handlers>();
  const limitersByService = new WeakMap<KeyService, ReturnType<typeof rateLimit>>();

  return async (service, request, path) => {
    const incoming = request.headers.get('x-request-id');
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : newRequestId();
    const url = new URL(request.url);
    const rawQuery = url.search.slice(1);
    let operation: Operation | undefined;
    let principal: Principal | undefined;
    let response: Response;
    try {
      operation = match(request.method, path);
      if (operation) {
        const authorization = request.headers.get('authorization');
        const credential = parseAuthorization(authorization === null ? [] : [authorization]);
        principal = await service.authenticate(credential.secret, credential.scheme);
        service.authorize(principal, operation.scopes, operation.operationId, operation.ownerOnly);
        let limiter = limitersByService.get(service);
        if (!limiter) limitersByService.set(service, (limiter = rateLimit(options.rateLimitPerMinute, service.clock)));
        for (const limit of limiter) limit(undefined as never, { locals: { principal } } as never, () => {});
      }
      const body = await readJsonBody(request);
      if (!operation) {
        const methods = [...pathMethods].find(([pattern]) => pattern.test(path))?.[1];
        throw methods
          ? Object.assign(new Error(`${request.method} method not allowed`), { status: 405, headers: { Allow: methods.join(', ') } })
          : Object.assign(new Error('not found'), { status: 404 });
      }
      const params = pathParams(operation, path);
      const query = parseQuery(rawQuery);
      const headers: Record<string, string> = {};
      request.headers.forEach((value, name) => (headers[name] = value));
      const parts = { contentType: request.headers.get('content-type'), rawQuery, query, headers, params, body };
      options.validator.validate(operation, parts);

      let handlers = handlersByService.get(service);
      if (!handlers) handlersByService.set(service, (handlers = routeHandlers(service)));
      const handler = handlers[operation.operationId];
      if (!handler) throw new Error(`no route handler for ${operation.operationId}`);
      const result = await handler({
        ctx: { principal: principal!, ip: options.clientIp, now: service.clock.now() },
        params,
        query: parts.query,
        body: parts.body,
      });
      const responseHeaders = new Headers(result.headers);
      responseHeaders.set('X-Request-Id', requestId);
      const json = resultJson(result);
      if (json === undefined) {
        response = new Response(null, { status: result.status, headers: responseHeaders });
      } else {
        responseHeaders.set('Content-Type', 'application/json; charset=utf-8');
        response = new Response(json, { status: result.status, headers: responseHeaders });
      }
    } catch (err) {
      const error = toDomainError(err);
      if (statusOf(error.code) >= 500) options.onInternalError(err, request);
      const problem = problemResponse(error, path, requestId);
      const headers = new Headers({ 'X-Request-Id': requestId, 'Content-Type': 'application/problem+json; charset=utf-8' });
      for (const [name, value] of problem.headers) headers.append(name, value);
      response = new Response(JSON.stringify(problem.body), { status: problem.status, headers });
    }
    // A HEAD answer carries the headers only (the server is asked the same and sends no body).
    if (request.method === 'HEAD') response = new Response(null, { status: response.status, headers: response.headers });
    if (principal && operation) {
      service.recordRequest({
        principal,
        method: request.method,
        route: operation.path,
        status: response.status,
        ip: options.clientIp,
        user_agent: request.headers.get('user-agent'),
      });
    }
    return response;
  };
}
