/**
 * Bearer and Basic → principal, then the scope check the spec declares for the operation. Runs
 * before request validation, so an unauthenticated or under-privileged caller learns nothing about
 * the request's shape; a malformed key is refused without touching the store.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Principal } from '../domain/access.ts';
import { DomainError } from '../domain/errors.ts';
import type { AuthScheme } from '../domain/model.ts';
import type { KeyService } from '../domain/service.ts';
import type { Operation } from './spec.ts';

export interface PresentedCredential {
  scheme: AuthScheme;
  secret: string;
}

const NO_CREDENTIALS = 'No API key: send Authorization: Bearer <key>, or HTTP Basic with any username and the key as the password.';

/** Reads the one Authorization header. Two of them (e.g. Bearer and Basic) is a 400 (RFC 6750 §2). */
export function readCredential(req: Request): PresentedCredential {
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'authorization') count++;
  if (count > 1) throw new DomainError('invalid_request', 'Send the API key once: either Bearer or Basic, not both.');
  const header = req.headers.authorization;
  if (!header) throw new DomainError('unauthorized', NO_CREDENTIALS);
  const space = header.indexOf(' ');
  const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
  const value = space === -1 ? '' : header.slice(space + 1).trim();
  if (scheme === 'bearer') {
    if (!value) throw new DomainError('unauthorized', NO_CREDENTIALS);
    return { scheme: 'bearer', secret: value };
  }
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (!value || colon === -1) {
      throw new DomainError('malformed_key', 'The Basic credentials must be base64 of "username:key" (any username, the API key as the password).');
    }
    return { scheme: 'basic', secret: decoded.slice(colon + 1) };
  }
  // Never echo the header: a key sent without a scheme would end up in the error body.
  throw new DomainError('unauthorized', `Unsupported authorization scheme. ${NO_CREDENTIALS}`);
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
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const operation = match(req.method, req.path);
    if (!operation) return next();
    res.locals['operation'] = operation;
    const credential = readCredential(req);
    const principal = await service.authenticate(credential.secret, credential.scheme);
    res.locals['principal'] = principal;
    service.authorize(principal, operation.scopes, operation.operationId, operation.ownerOnly);
    next();
  };
}
