/** Bare Express (./bare-app.ts) listening on PORT (default: any free port), for `npm run bench`. */
import { bareApp } from './bare-app.ts';

const server = bareApp().listen(Number(process.env['PORT'] ?? 0), '127.0.0.1', () => {
  console.log(`hello listening on http://127.0.0.1:${(server.address() as { port: number }).port}`);
});
