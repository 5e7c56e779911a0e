/** The baseline: bare Express 5, ETag and x-powered-by off, one JSON route. */
import express from 'express';

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.get('/hello', (_req, res) => {
  res.json({ hello: 'world' });
});
const server = app.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1', () => {
  console.log(`hello listening on http://127.0.0.1:${(server.address() as { port: number }).port}`);
});
