/**
 * One error type (DomainError), mapped once to RFC 9457 problem+json. Validator and body-parser
 * errors are translated into it here too, so every error response has the same shape.
 */
import type { NextFunction, Request, Response } from 'express';
import { DomainError } from '../domain/errors.ts';
import { problemResponse, statusOf, toDomainError } from './core/problems.ts';
import { requestIdOf, withRequestId } from './respond.ts';

export { statusOf, toDomainError } from './core/problems.ts';

export function sendProblem(req: Request, res: Response, error: DomainError): void {
  const problem = problemResponse(error, req.path, requestIdOf(res));
  withRequestId(res);
  for (const [name, value] of problem.headers) res.append(name, value);
  // res.json keeps the problem+json type and lets response validation check error bodies too.
  res.status(problem.status).type('application/problem+json').json(problem.body);
}

export interface ErrorLogger {
  error(message: string, fields: Record<string, unknown>): void;
}

/** Seconds a client is told to wait when the store is unavailable. */
export const OUTAGE_RETRY_SECONDS = 5;

/**
 * The one error handler. Logs 5xx with the request id, never headers or bodies (they may hold
 * keys). An error the store calls an outage (`isOutage`: a database that cannot be reached, a full
 * disk) is a 503 with Retry-After, logged in one line without a stack: every request logs it
 * during an outage.
 */
export function problemHandler(logger: ErrorLogger, isOutage: (error: unknown) => boolean = () => false) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const outage = isOutage(err);
    const error = outage
      ? new DomainError('unavailable', `The key store is unavailable right now; retry in ${OUTAGE_RETRY_SECONDS} seconds.`, {
          retry_after_seconds: OUTAGE_RETRY_SECONDS,
        })
      : toDomainError(err);
    if (outage) {
      logger.error('store unavailable', { request_id: requestIdOf(res), method: req.method, route: req.path, error: (err as Error).message });
    } else if (statusOf(error.code) >= 500) {
      const e = err as { message?: string; stack?: string };
      logger.error('request failed', { request_id: requestIdOf(res), method: req.method, route: req.path, error: e?.message, stack: e?.stack });
    }
    if (res.headersSent) return;
    try {
      sendProblem(req, res, error);
    } catch (invalid) {
      // The problem itself broke the contract (response validation, e.g. an undeclared status).
      const e = invalid as { message?: string };
      logger.error('error response violates the contract', { request_id: requestIdOf(res), route: req.path, status: statusOf(error.code), error: e?.message });
      if (res.headersSent) return;
      res.status(500).type('application/problem+json').send(
        JSON.stringify({ type: 'https://heykeys.dev/problems/internal', title: 'Internal Server Error', status: 500, code: 'internal', detail: 'The server produced a response that breaks its contract.' }),
      );
    }
  };
}
