/**
 * The baseline: bare Express 5, ETag and x-powered-by off, one JSON route. And a second reference
 * for verify: the same app answering a POST whose JSON body express.json() parses (nothing else).
 */
import express from 'express';

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.get('/hello', (_req, res) => {
  res.json({ hello: 'world' });
});
app.post('/echo', express.json(), (req, res) => {
  res.json({ fields: Object.keys(req.body as object).length });
});
const server = app.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1', () => {
  console.log(`hello listening on http://127.0.0.1:${(server.address() as { port: number }).port}`);
});
