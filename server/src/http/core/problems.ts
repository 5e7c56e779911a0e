/**
 * DomainError → RFC 9457 problem: status, headers and body, computed once for every error.
 * Portable: the server (http/problem.ts) and the MSW mocks send exactly these.
 */
import { DomainError, type ErrorCode, type FieldError } from '../../domain/errors.ts';

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
  unavailable: 503,
};

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** The public code; two internal codes share a public name under different statuses. */
const PUBLIC_CODE: Partial<Record<ErrorCode, string>> = { key_revoked_conflict: 'key_revoked' };

export const REALM = 'heykeys';

export function statusOf(code: ErrorCode): number {
  return STATUS[code];
}

/** Challenges for both schemes (RFC 6750 §3, RFC 7617 §2). */
export function authenticateChallenges(error?: { code: string; description?: string; scope?: string }): string[] {
  const params = [`realm="${REALM}"`];
  if (error) params.push(`error="${error.code}"`);
  if (error?.description) params.push(`error_description="${error.description.replace(/["\\]/g, "'")}"`);
  if (error?.scope) params.push(`scope="${error.scope}"`);
  const bearer = `Bearer ${params.join(', ')}`;
  return error?.code === 'insufficient_scope' ? [bearer] : [bearer, `Basic realm="${REALM}", charset="UTF-8"`];
}

export interface ProblemResponse {
  status: number;
  /** Header name/value pairs; a name may repeat (one WWW-Authenticate per scheme). */
  headers: [string, string][];
  body: Record<string, unknown>;
}

export function problemResponse(error: DomainError, instance: string, requestId?: string): ProblemResponse {
  const status = STATUS[error.code];
  const code = PUBLIC_CODE[error.code] ?? error.code;
  const body: Record<string, unknown> = {
    type: `https://heykeys.dev/problems/${code.replace(/_/g, '-')}`,
    title: TITLES[status] ?? 'Error',
    status,
    code,
    detail: error.message,
    instance,
  };
  if (requestId !== undefined) body['request_id'] = requestId;
  const { errors, required_scopes, missing_scopes, policy, retry_after_seconds } = error.extras;
  if (errors) body['errors'] = errors;
  if (required_scopes) body['required_scopes'] = required_scopes;
  if (missing_scopes) body['missing_scopes'] = missing_scopes;
  if (policy) body['policy'] = policy;

  const headers: [string, string][] = [];
  const challenge = (values: string[]) => values.forEach((v) => headers.push(['WWW-Authenticate', v]));
  if (status === 401) {
    challenge(authenticateChallenges(error.code === 'unauthorized' ? undefined : { code: 'invalid_token', description: error.message }));
  } else if (error.code === 'insufficient_scope') {
    challenge(authenticateChallenges({ code: 'insufficient_scope', scope: (required_scopes ?? []).join(' ') }));
  } else if (error.code === 'invalid_request') {
    challenge(authenticateChallenges({ code: 'invalid_request', description: error.message }));
  }
  if (retry_after_seconds !== undefined) headers.push(['Retry-After', String(retry_after_seconds)]);
  if (error.extras.allow) headers.push(['Allow', error.extras.allow]);
  return { status, headers, body };
}

/**
 * Turns anything thrown (body-parser and express-openapi-validator errors included) into a
 * DomainError. Unknown errors become 500 with no detail leaked. */
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
  if (status === 405) {
    const allow = (e as { headers?: { Allow?: string } }).headers?.Allow?.toUpperCase().split(/,\s*/).sort().join(', ');
    return new DomainError('method_not_allowed', `${e.message ?? 'Method not allowed on this route'}; this path accepts ${allow ?? 'other methods'}.`, allow ? { allow } : {});
  }
  if (status === 413) return new DomainError('payload_too_large', 'The request body exceeds 64 KiB.');
  if (status === 415) return new DomainError('unsupported_media_type', 'Send the body as application/json.');
  if (status === 400) return new DomainError('validation', e.message ?? 'The request is malformed.');
  return new DomainError('internal', 'Something went wrong on our side; the request id identifies it in our logs.');
}
