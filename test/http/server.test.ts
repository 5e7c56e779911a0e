/**
 * The app's HTTP server (http/server.ts) builds requests and responses that already have the app's
 * prototypes, so Express's setPrototypeOf finds nothing to do; everything Express provides on them
 * works as before.
 */
import type { AddressInfo } from 'node:net';
import { IncomingMessage, ServerResponse, type Server } from 'node:http';
import express, { type Request, type Response } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { createAppServer } from '../../server/src/http/server.ts';

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

describe('the app server', () => {
  it('hands the app requests and responses that have its prototypes from the start', async () => {
    const app = express();
    app.use(express.json());
    app.post('/echo/:id', (req: Request, res: Response) => {
      // Express's own request and response API, on objects that are still Node's.
      res.set('X-Seen', req.get('x-test') ?? '').status(201).json({ id: req.params['id'], body: req.body, path: req.path, query: req.query });
    });
    server = createAppServer(app);
    const born: { request: boolean; response: boolean; node: boolean }[] = [];
    // Runs before the app (which would set the prototypes itself): what the server built.
    server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
      born.push({
        request: Object.getPrototypeOf(req) === app.request,
        response: Object.getPrototypeOf(res) === app.response,
        node: req instanceof IncomingMessage && res instanceof ServerResponse,
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
    const { port } = server.address() as AddressInfo;

    const res = await fetch(`http://127.0.0.1:${port}/echo/42?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-test': 'yes' },
      body: JSON.stringify({ a: [1, 2] }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-seen')).toBe('yes');
    expect(await res.json()).toStrictEqual({ id: '42', body: { a: [1, 2] }, path: '/echo/42', query: { x: '1' } });
    expect(born).toStrictEqual([{ request: true, response: true, node: true }]);
  });

  it('gives each app its own prototypes: two apps, two servers, each sees what its app.request adds', async () => {
    const servers: Server[] = [];
    const ports: number[] = [];
    for (const name of ['first', 'second']) {
      const app = express();
      Object.assign(app.request, { appName: name });
      app.get('/', (req, res) => {
        res.json({ appName: (req as Request & { appName?: string }).appName });
      });
      const s = createAppServer(app);
      await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
      servers.push(s);
      ports.push((s.address() as AddressInfo).port);
    }
    try {
      const answers = await Promise.all(ports.map(async (port) => (await fetch(`http://127.0.0.1:${port}/`)).json()));
      expect(answers).toStrictEqual([{ appName: 'first' }, { appName: 'second' }]);
    } finally {
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    }
  });
});
