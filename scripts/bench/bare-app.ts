/**
 * The baseline: bare Express 5, ETag and x-powered-by off, one JSON route. And a second reference
 * for verify: the same app answering a POST whose JSON body express.json() parses (nothing else).
 * Served by ./hello.ts for `npm run bench`, driven directly by ./in-process.ts.
 */
import express, { type Express } from 'express';

export function bareApp(): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.get('/hello', (_req, res) => {
    res.json({ hello: 'world' });
  });
  app.post('/echo', express.json(), (req, res) => {
    res.json({ fields: Object.keys(req.body as object).length });
  });
  return app;
}
