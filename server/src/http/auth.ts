/**
 * Bearer and Basic → principal, then the scope check the spec declares for the operation. Runs
 * before request validation, so an unauthenticated or under-privileged caller learns nothing about
 * the request's shape; a malformed key is refused without touching the store.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Principal } from '../domain/access.ts';
import type { KeyService } from '../domain/service.ts';
import { parseAuthorization } from './core/credentials.ts';
import type { Operation } from './core/operations.ts';

/** Every Authorization header of the request (Node keeps only the first in `req.headers`). */
function authorizationHeaders(req: Request): string[] {
  const values: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // Lower-cased only when it can be the one: every request has several headers to skip.
    if (name.length === 13 && name.toLowerCase() === 'authorization') values.push(raw[i + 1]!);
  }
  return values;
}

export function principalOf(res: Response): Principal {
  const principal = res.locals['principal'] as Principal | undefined;
  if (!principal) throw new Error('route reached without authentication');
  return principal;
}

export function operationOf(res: Response): Operation | undefined {
  return res.locals['operation'] as Operation | undefined;
}

/**
 * Authenticates every request that matches an operation, and checks the operation's declared
 * scopes (and owner-only mark). Requests matching no operation pass on to the validator's 404/405.
 */
export function authenticate(service: KeyService, match: (method: string, path: string) => Operation | undefined) {
  const admit = (res: Response, operation: Operation, principal: Principal, next: NextFunction): void => {
    res.locals['principal'] = principal;
    service.authorize(principal, operation.scopes, operation.operationId, operation.ownerOnly);
    next();
  };
  return (req: Request, res: Response, next: NextFunction): void | Promise<void> => {
    const operation = match(req.method, req.path);
    if (!operation) return next();
    res.locals['operation'] = operation;
    const credential = parseAuthorization(authorizationHeaders(req));
    // A warm cache answers without a promise; otherwise the store is asked.
    const cached = service.authenticateCached(credential.secret, credential.scheme);
    if (cached) return admit(res, operation, cached, next);
    return service.authenticate(credential.secret, credential.scheme).then((principal) => admit(res, operation, principal, next));
  };
}
