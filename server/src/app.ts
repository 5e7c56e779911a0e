/**
 * createApp(deps): the whole HTTP pipeline, never listening. A request goes
 * request id → authentication + declared scope (http/auth.ts) → rate limit → body parsing →
 * contract validation (express-openapi-validator over openapi.yaml) → route handler (routes/) →
 * domain (domain/) → store (store/), and back as a typed response or a problem (http/problem.ts).
 */
import express, { type Request, type Response, type NextFunction } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import { randomUUID } from 'node:crypto';
import { DomainError } from './domain/errors.ts';
import type { KeyService } from './domain/service.ts';
import { authenticate, operationOf, principalOf } from './http/auth.ts';
import { problemHandler, type ErrorLogger } from './http/problem.ts';
import { rateLimit } from './http/rate-limit.ts';
import { loadSpec, operationMatcher, operationsOf, type OpenApiDocument } from './http/spec.ts';
import { jsonBody } from './http/json-body.ts';
import { series } from './http/pipeline.ts';
import { sendJson, withRequestId } from './http/respond.ts';
import { usageLog } from './http/usage.ts';
import { allHandlers } from './routes/index.ts';
import { resultJson, type HandlerResult } from './routes/types.ts';

export { allHandlers } from './routes/index.ts';

export interface AppDeps {
  service: KeyService;
  spec?: OpenApiDocument;
  /** Validate every response against the spec (on in tests; a violation becomes a 500). */
  validateResponses?: boolean;
  /** Requests per key per minute; 0 turns the limit off. */
  rateLimitPerMinute?: number;
  /** Express `trust proxy` setting, for the client IP in usage and audit logs. */
  trustProxy?: boolean | string | number;
  logger?: ErrorLogger;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** What express-openapi-validator leaves on a request it matched and validated. */
type ValidatedRequest = Request & { openapi?: { schema?: { operationId?: string }; pathParams?: Record<string, string> } };

export const consoleLogger: ErrorLogger = {
  error: (message, fields) => console.error(JSON.stringify({ level: 'error', message, ...fields })),
};

export function createApp(deps: AppDeps): express.Express {
  const { service } = deps;
  const validateResponses = deps.validateResponses ?? false;
  const spec = deps.spec ?? loadSpec();
  const operations = operationsOf(spec);
  const handlers = allHandlers(service);
  const missing = operations.filter((op) => !handlers[op.operationId]).map((op) => op.operationId);
  if (missing.length > 0) throw new Error(`No handler for operation(s): ${missing.join(', ')}`);

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  // Paths are matched exactly as the spec writes them, by us, the validator and the router alike.
  app.set('case sensitive routing', true);
  if (deps.trustProxy !== undefined) app.set('trust proxy', deps.trustProxy);
  // Without a trusted proxy, req.ip is the socket's address; reading that directly skips parsing
  // X-Forwarded-For on every request only to ignore it.
  const clientIp = deps.trustProxy === undefined ? (req: Request) => req.socket.remoteAddress ?? null : (req: Request) => req.ip ?? null;

  const validator = OpenApiValidator.middleware({
    apiSpec: structuredClone(spec) as any,
    validateRequests: { allowUnknownQueryParameters: false, removeAdditional: false, allErrors: true },
    validateResponses: validateResponses ? { removeAdditional: false } : false,
    validateSecurity: false,
    validateFormats: true,
    ajvFormats: { mode: 'full' },
    ignoreUndocumented: false,
    // The spec has no multipart/form-data body: without an uploader, no multipart middleware
    // (and its promise) runs on every request. A multipart body still answers 415.
    fileUploader: false,
  });

  const answer = (res: Response, result: HandlerResult): void => {
    const json = resultJson(result);
    if (json !== undefined && !validateResponses) return sendJson(res, result.status, json, result.headers);
    withRequestId(res);
    if (result.headers) res.set(result.headers);
    if (json === undefined) res.status(result.status).end();
    // Validated as what goes on the wire; res.json writes the same bytes again.
    else res.status(result.status).json(JSON.parse(json));
  };

  // Dispatches to the operation authentication matched (and checked the scopes of), which must be
  // the one the validator matched (and validated the request for), with the path parameters the
  // validator decoded and validated. Express's router would match the path a third time. A handler
  // that answers at once is answered at once (routes/types.ts); series() takes a rejection as an error.
  const dispatch = (req: Request, res: Response): void | Promise<void> => {
    const operation = operationOf(res);
    const validated = (req as ValidatedRequest).openapi;
    const operationId = validated?.schema?.operationId;
    // No operation the validator matched (it answers 404 itself for a path the spec does not have,
    // so that is only a guard), or only the validator matched (say, a path in another letter
    // case): there is no such route. Every answer goes out through answer() or the problem handler.
    if (operationId === undefined || !operation) throw new DomainError('not_found', 'No such route. The API is described in openapi.yaml.');
    if (operation.operationId !== operationId) throw new Error(`authenticated as ${operation.operationId} but validated as ${operationId}`);
    const handler = handlers[operationId]!;
    const principal = principalOf(res);
    const result = handler({
      ctx: { principal, ip: clientIp(req), now: service.clock.now() },
      params: validated!.pathParams ?? {},
      // Express parses the query string again on every read of req.query: only when there is one.
      query: req.url.includes('?') ? (req.query as Record<string, unknown>) : {},
      body: req.body,
    });
    if (result instanceof Promise) return result.then((settled) => answer(res, settled));
    answer(res, result);
  };

  // The whole pipeline, in order, as one Express layer (http/pipeline.ts).
  app.use(
    series([
      (req: Request, res: Response, next: NextFunction) => {
        const incoming = req.headers['x-request-id'];
        const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
        // Written with the answer (http/respond.ts), not set here.
        res.locals['requestId'] = id;
        next();
      },
      usageLog(service, clientIp),
      authenticate(service, operationMatcher(operations)),
      ...rateLimit(deps.rateLimitPerMinute ?? 0, service.clock),
      jsonBody({ limit: 64 * 1024 }),
      (req: Request, res: Response, next: NextFunction) => {
        // A JSON request with no body at all is validated as an empty object, so it gets a 400
        // listing what is missing instead of reaching a handler with no input.
        if (req.body === undefined && operationOf(res)?.hasBody) req.body = {};
        next();
      },
      ...validator,
      dispatch,
    ]),
  );
  app.use(problemHandler(deps.logger ?? consoleLogger, (error) => service.store.isOutage?.(error) ?? false));
  return app;
}
