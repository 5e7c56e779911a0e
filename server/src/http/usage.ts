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
  return (req: Request, res: Response, next: NextFunction): void => {
    res.on('finish', () => {
      const principal = res.locals['principal'] as Principal | undefined;
      const operation = res.locals['operation'] as Operation | undefined;
      if (!principal || !operation) return;
      service.recordRequest({
        principal,
        method: req.method,
        route: operation.path,
        status: res.statusCode,
        ip: clientIp(req),
        user_agent: req.headers['user-agent'] ?? null,
      });
    });
    next();
  };
}
