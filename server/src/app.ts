/**
 * createApp(deps): the whole HTTP pipeline, never listening. A request goes
 * request id → authentication + declared scope (http/auth.ts) → rate limit → body parsing →
 * contract validation (express-openapi-validator over openapi.yaml) → route handler (routes/) →
 * domain (domain/) → store (store/), and back as a typed response or a problem (http/problem.ts).
 */
import express, { type Request, type Response, type NextFunction } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import { randomUUID } from 'node:crypto';
import type { KeyService } from './domain/service.ts';
import { authenticate, operationOf, principalOf } from './http/auth.ts';
import { problemHandler, type ErrorLogger } from './http/problem.ts';
import { rateLimit } from './http/rate-limit.ts';
import { loadSpec, operationMatcher, operationsOf, type OpenApiDocument } from './http/spec.ts';
import { usageLog } from './http/usage.ts';
import { allHandlers } from './routes/index.ts';

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

export const consoleLogger: ErrorLogger = {
  error: (message, fields) => console.error(JSON.stringify({ level: 'error', message, ...fields })),
};

export function createApp(deps: AppDeps): express.Express {
  const { service } = deps;
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

  app.use((req: Request, res: Response, next: NextFunction) => {
    const incoming = req.get('x-request-id');
    const id = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.locals['requestId'] = id;
    res.set('X-Request-Id', id);
    next();
  });
  app.use(usageLog(service));
  app.use(authenticate(service, operationMatcher(operations)));
  app.use(rateLimit(deps.rateLimitPerMinute ?? 0, service.clock));
  app.use(express.json({ limit: '64kb' }));
  app.use((req: Request, res: Response, next: NextFunction) => {
    // A JSON request with no body at all is validated as an empty object, so it gets a 400
    // listing what is missing instead of reaching a handler with no input.
    if (req.body === undefined && operationOf(res)?.hasBody) req.body = {};
    next();
  });
  app.use(
    OpenApiValidator.middleware({
      apiSpec: structuredClone(spec) as any,
      validateRequests: { allowUnknownQueryParameters: false, removeAdditional: false, allErrors: true },
      validateResponses: deps.validateResponses ? { removeAdditional: false } : false,
      validateSecurity: false,
      validateFormats: true,
      ajvFormats: { mode: 'full' },
      ignoreUndocumented: false,
      // The spec has no multipart/form-data body: without an uploader, no multipart middleware
      // (and its promise) runs on every request. A multipart body still answers 415.
      fileUploader: false,
    }),
  );

  const router = express.Router({ caseSensitive: true });
  for (const op of operations) {
    const handler = handlers[op.operationId]!;
    router[op.method](op.expressPath, async (req: Request, res: Response) => {
      const principal = principalOf(res);
      const result = await handler({
        ctx: { principal, ip: req.ip ?? null, now: service.clock.now() },
        params: req.params as Record<string, string>,
        query: req.query as Record<string, unknown>,
        body: req.body,
      });
      if (result.headers) res.set(result.headers);
      res.status(result.status);
      if (result.body === undefined) res.end();
      else res.json(result.body);
    });
  }
  app.use(router);
  app.use(problemHandler(deps.logger ?? consoleLogger));
  return app;
}
