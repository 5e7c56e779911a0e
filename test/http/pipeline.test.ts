/** series() runs middlewares as one Express layer with Express's own semantics. */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { series } from '../../server/src/http/pipeline.ts';

async function request(middlewares: express.RequestHandler[]): Promise<{ status: number; body: string; ran: string[] }> {
  const ran: string[] = [];
  const app = express();
  app.use((_req, res, next) => {
    res.locals['ran'] = ran;
    next();
  });
  app.use(series(middlewares));
  app.use((_req: Request, res: Response) => {
    ran.push('after');
    res.status(200).send('after');
  });
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    ran.push('error handler');
    res.status(500).send(err.message);
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    return { status: res.status, body: await res.text(), ran };
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const step =
  (name: string) =>
  (_req: Request, res: Response, next: NextFunction): void => {
    (res.locals['ran'] as string[]).push(name);
    next();
  };

describe('series', () => {
  it('runs the middlewares in order, then the next layer', async () => {
    const r = await request([step('a'), step('b'), step('c')]);
    expect(r).toEqual({ status: 200, body: 'after', ran: ['a', 'b', 'c', 'after'] });
  });

  it('waits for an async middleware to call next', async () => {
    const slow = async (_req: Request, res: Response, next: NextFunction) => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      (res.locals['ran'] as string[]).push('slow');
      next();
    };
    expect((await request([step('a'), slow, step('b')])).ran).toEqual(['a', 'slow', 'b', 'after']);
  });

  it('stops when a middleware answers', async () => {
    const answer = (_req: Request, res: Response) => void res.status(204).end();
    const r = await request([step('a'), answer, step('b')]);
    expect(r.status).toBe(204);
    expect(r.ran).toEqual(['a']);
  });

  it('sends an error passed to next, thrown, or rejected to the error handler and skips the rest', async () => {
    const passed = (_req: Request, _res: Response, next: NextFunction) => next(new Error('passed'));
    const thrown = () => {
      throw new Error('thrown');
    };
    const rejected = async () => {
      throw new Error('rejected');
    };
    for (const [failing, message] of [
      [passed, 'passed'],
      [thrown, 'thrown'],
      [rejected, 'rejected'],
    ] as const) {
      const r = await request([step('a'), failing, step('b')]);
      expect(r).toEqual({ status: 500, body: message, ran: ['a', 'error handler'] });
    }
  });
});
