/**
 * The one error type. Domain code throws it with a stable `code`; the HTTP layer maps each code to
 * a status once (server/src/http/problem.ts) and renders RFC 9457 problem+json.
 */
export type ErrorCode =
  | 'validation'
  | 'invalid_request'
  | 'unauthorized'
  | 'malformed_key'
  | 'unknown_key'
  | 'key_revoked'
  | 'key_expired'
  | 'key_disabled'
  | 'secret_rotated'
  | 'auth_scheme_not_allowed'
  | 'insufficient_scope'
  | 'owner_required'
  | 'privilege_escalation'
  | 'workspace_forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'key_revoked_conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'policy_violation'
  | 'rate_limited'
  | 'internal'
  | 'unavailable';

export interface FieldError {
  field: string;
  message: string;
}

export interface ErrorExtras {
  errors?: FieldError[];
  required_scopes?: string[];
  missing_scopes?: string[];
  policy?: string;
  retry_after_seconds?: number;
  /** Methods the path accepts (405 only). */
  allow?: string;
}

export class DomainError extends Error {
  readonly code: ErrorCode;
  readonly extras: ErrorExtras;

  constructor(code: ErrorCode, detail: string, extras: ErrorExtras = {}) {
    super(detail);
    this.name = 'DomainError';
    this.code = code;
    this.extras = extras;
  }

  static validation(errors: FieldError[]): DomainError {
    const list = errors.map((e) => `${e.field} ${e.message.replace(/\.+$/, '')}`).join('; ');
    const noun = errors.length === 1 ? 'field' : 'fields';
    return new DomainError('validation', `The request has ${errors.length} invalid ${noun}: ${list}.`, { errors });
  }

  static notFound(what: string, id: string): DomainError {
    return new DomainError('not_found', `No ${what} with id ${id}.`);
  }

  static policy(policy: string, detail: string): DomainError {
    return new DomainError('policy_violation', detail, { policy });
  }
}
