/**
 * A fixed one-minute window per key, in process. 0 turns it off: then there is no middleware at
 * all (a list to spread into the pipeline), rather than one that checks the setting on every request.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Clock } from '../domain/clock.ts';
import { DomainError } from '../domain/errors.ts';
import type { Principal } from '../domain/access.ts';

const WINDOW_MS = 60_000;

export function rateLimit(perMinute: number, clock: Clock): RequestHandler[] {
  if (perMinute <= 0) return [];
  const windows = new Map<string, { start: number; count: number }>();
  const limit = (_req: Request, res: Response, next: NextFunction): void => {
    const principal = res.locals['principal'] as Principal | undefined;
    if (!principal) return next();
    const now = clock.now();
    let w = windows.get(principal.key.id);
    if (!w || now - w.start >= WINDOW_MS) {
      if (windows.size > 100_000) windows.clear();
      windows.set(principal.key.id, (w = { start: now, count: 0 }));
    }
    if (++w.count > perMinute) {
      const retry = Math.max(1, Math.ceil((w.start + WINDOW_MS - now) / 1000));
      throw new DomainError('rate_limited', `This API key made more than ${perMinute} requests in a minute; retry after ${retry} seconds.`, {
        retry_after_seconds: retry,
      });
    }
    next();
  };
  return [limit];
}
