/**
 * Runs several middlewares as one Express layer. Each layer of Express's router costs about a
 * microsecond per request (path match, prefix trimming, bookkeeping) whether or not it does
 * anything; the whole pipeline in front of the routes is a fixed sequence, so it is mounted once.
 * Semantics are Express's own: a middleware goes on by calling next(), stops by answering, and an
 * error (passed to next, thrown, or a rejected promise) skips the rest and goes to the error handler.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';

export function series(middlewares: readonly RequestHandler[]): RequestHandler {
  return (req: Request, res: Response, done: NextFunction): void => {
    let index = 0;
    const next = (error?: unknown): void => {
      if (error) return done(error); // as in Express, a falsy value is not an error
      const middleware = middlewares[index++];
      if (!middleware) return done();
      try {
        const result: unknown = middleware(req, res, next);
        if (result instanceof Promise) result.catch(done);
      } catch (thrown) {
        done(thrown);
      }
    };
    next();
  };
}
