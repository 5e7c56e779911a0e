/** A fixed one-minute window per key, in process. 0 turns it off. */
import type { NextFunction, Request, Response } from 'express';
import type { Clock } from '../domain/clock.ts';
import { DomainError } from '../domain/errors.ts';
import type { Principal } from '../domain/access.ts';

const WINDOW_MS = 60_000;

export function rateLimit(perMinute: number, clock: Clock) {
  const windows = new Map<string, { start: number; count: number }>();
  return (_req: Request, res: Response, next: NextFunction): void => {
    const principal = res.locals['principal'] as Principal | undefined;
    if (perMinute <= 0 || !principal) return next();
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
}
