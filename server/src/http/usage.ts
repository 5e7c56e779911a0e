/**
 * Records every authenticated request in the key's usage log once the response is sent. Only the
 * route template, status, IP and user agent: never a header, body, secret or digest. The domain
 * queues the entry; the store write happens in the next batch, off the request path.
 */
import type { NextFunction, Request, Response } from 'express';
import type { KeyService } from '../domain/service.ts';
import type { Principal } from '../domain/access.ts';
import type { Operation } from './spec.ts';

export function usageLog(service: KeyService, clientIp: (req: Request) => string | null) {
  // One listener for every response (an emitter calls it with the response as `this`), not a
  // closure made per request.
  function onFinish(this: Response): void {
    const principal = this.locals['principal'] as Principal | undefined;
    const operation = this.locals['operation'] as Operation | undefined;
    if (!principal || !operation) return;
    const req = this.req;
    service.recordRequest({
      principal,
      method: req.method,
      route: operation.path,
      status: this.statusCode,
      ip: clientIp(req),
      user_agent: req.headers['user-agent'] ?? null,
    });
  }
  return (_req: Request, res: Response, next: NextFunction): void => {
    res.on('finish', onFinish);
    next();
  };
}
