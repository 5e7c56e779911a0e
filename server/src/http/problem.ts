/**
 * One error type (DomainError), mapped once to RFC 9457 problem+json. Validator and body-parser
 * errors are translated into it here too, so every error response has the same shape.
 */
import type { NextFunction, Request, Response } from 'express';
import { STATUS_CODES } from 'node:http';
import { DomainError, type ErrorCode, type FieldError } from '../domain/errors.ts';

const STATUS: Record<ErrorCode, number> = {
  validation: 400,
  invalid_request: 400,
  unauthorized: 401,
  malformed_key: 401,
  unknown_key: 401,
  key_revoked: 401,
  key_expired: 401,
  key_disabled: 401,
  secret_rotated: 401,
  auth_scheme_not_allowed: 401,
  insufficient_scope: 403,
  owner_required: 403,
  privilege_escalation: 403,
  workspace_forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  key_revoked_conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  policy_violation: 422,
  rate_limited: 429,
  internal: 500,
};

/** The public code; two internal codes share a public name under different statuses. */
const PUBLIC_CODE: Partial<Record<ErrorCode, string>> = { key_revoked_conflict: 'key_revoked' };

export function statusOf(code: ErrorCode): number {
  return STATUS[code];
}

export const REALM = 'heykeys';

/** Challenges for both schemes (RFC 6750 §3, RFC 7617 §2). */
export function authenticateChallenges(error?: { code: string; description?: string; scope?: string }): string[] {
  const params = [`realm="${REALM}"`];
  if (error) params.push(`error="${error.code}"`);
  if (error?.description) params.push(`error_description="${error.description.replace(/["\\]/g, "'")}"`);
  if (error?.scope) params.push(`scope="${error.scope}"`);
  const bearer = `Bearer ${params.join(', ')}`;
  return error?.code === 'insufficient_scope' ? [bearer] : [bearer, `Basic realm="${REALM}", charset="UTF-8"`];
}

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
  const status = STATUS[error.code];
  const code = PUBLIC_CODE[error.code] ?? error.code;
  const body: Record<string, unknown> = {
    type: `https://heykeys.dev/problems/${code.replace(/_/g, '-')}`,
    title: STATUS_CODES[status] ?? 'Error',
    status,
    code,
    detail: error.message,
    instance: req.path,
  };
  const requestId = res.locals['requestId'];
  if (typeof requestId === 'string') body['request_id'] = requestId;
  const { errors, required_scopes, missing_scopes, policy, retry_after_seconds } = error.extras;
  if (errors) body['errors'] = errors;
  if (required_scopes) body['required_scopes'] = required_scopes;
  if (missing_scopes) body['missing_scopes'] = missing_scopes;
  if (policy) body['policy'] = policy;

  if (status === 401) {
    const bare = error.code === 'unauthorized';
    for (const c of authenticateChallenges(bare ? undefined : { code: 'invalid_token', description: error.message })) {
      res.append('WWW-Authenticate', c);
    }
  } else if (error.code === 'insufficient_scope') {
    res.append('WWW-Authenticate', authenticateChallenges({ code: 'insufficient_scope', scope: (required_scopes ?? []).join(' ') })[0]!);
  } else if (error.code === 'invalid_request') {
    for (const c of authenticateChallenges({ code: 'invalid_request', description: error.message })) res.append('WWW-Authenticate', c);
  }
  if (retry_after_seconds !== undefined) res.set('Retry-After', String(retry_after_seconds));
  // res.json keeps the problem+json type and lets response validation check error bodies too.
  res.status(status).type('application/problem+json').json(body);
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
