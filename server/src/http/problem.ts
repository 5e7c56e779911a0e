/**
 * One error type (DomainError), mapped once to RFC 9457 problem+json. Validator and body-parser
 * errors are translated into it here too, so every error response has the same shape.
 */
import type { NextFunction, Request, Response } from 'express';
import { DomainError, type FieldError } from '../domain/errors.ts';
import { problemResponse, statusOf } from './core/problems.ts';

export { statusOf } from './core/problems.ts';

/** Turns anything thrown into a DomainError. Unknown errors become 500 with no detail leaked. */
export function toDomainError(err: unknown): DomainError {
  if (err instanceof DomainError) return err;
  const e = err as { status?: number; statusCode?: number; type?: string; errors?: { path?: string; message?: string }[]; message?: string };
  const status = e?.status ?? e?.statusCode;
  // body-parser
  if (e?.type === 'entity.too.large') return new DomainError('payload_too_large', 'The request body exceeds 64 KiB.');
  if (e?.type === 'entity.parse.failed') return DomainError.validation([{ field: 'body', message: 'is not valid JSON' }]);
  if (e?.type === 'charset.unsupported' || e?.type === 'encoding.unsupported') {
    return new DomainError('unsupported_media_type', 'Send the body as UTF-8 application/json.');
  }
  // express-openapi-validator
  if (status === 400 && Array.isArray(e.errors)) {
    // allErrors reports a oneOf failure once per branch; list each field message once.
    const seen = new Set<string>();
    const errors: FieldError[] = [];
    for (const x of e.errors) {
      const error = { field: (x.path ?? '').replace(/^[/.]/, '') || 'request', message: x.message ?? 'is invalid' };
      const id = `${error.field}\u0000${error.message}`;
      if (!seen.has(id)) errors.push(error);
      seen.add(id);
    }
    return DomainError.validation(errors);
  }
  if (status === 404) return new DomainError('not_found', 'No such route. The API is described in openapi.yaml.');
  if (status === 405) return new DomainError('method_not_allowed', e.message ?? 'Method not allowed on this route.');
  if (status === 413) return new DomainError('payload_too_large', 'The request body exceeds 64 KiB.');
  if (status === 415) return new DomainError('unsupported_media_type', 'Send the body as application/json.');
  if (status === 400) return new DomainError('validation', e.message ?? 'The request is malformed.');
  return new DomainError('internal', 'Something went wrong on our side; the request id identifies it in our logs.');
}

export function sendProblem(req: Request, res: Response, error: DomainError): void {
  const requestId = res.locals['requestId'];
  const problem = problemResponse(error, req.path, typeof requestId === 'string' ? requestId : undefined);
  for (const [name, value] of problem.headers) res.append(name, value);
  // res.json keeps the problem+json type and lets response validation check error bodies too.
  res.status(problem.status).type('application/problem+json').json(problem.body);
}

export interface ErrorLogger {
  error(message: string, fields: Record<string, unknown>): void;
}

/** The one error handler. Logs 5xx with the request id, never headers or bodies (they may hold keys). */
export function problemHandler(logger: ErrorLogger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const error = toDomainError(err);
    if (statusOf(error.code) >= 500) {
      const e = err as { message?: string; stack?: string };
      logger.error('request failed', { request_id: res.locals['requestId'], method: req.method, route: req.path, error: e?.message, stack: e?.stack });
    }
    if (res.headersSent) return;
    try {
      sendProblem(req, res, error);
    } catch (invalid) {
      // The problem itself broke the contract (response validation, e.g. an undeclared status).
      const e = invalid as { message?: string };
      logger.error('error response violates the contract', { request_id: res.locals['requestId'], route: req.path, status: statusOf(error.code), error: e?.message });
      if (res.headersSent) return;
      res.status(500).type('application/problem+json').send(
        JSON.stringify({ type: 'https://heykeys.dev/problems/internal', title: 'Internal Server Error', status: 500, code: 'internal', detail: 'The server produced a response that breaks its contract.' }),
      );
    }
  };
}
