/**
 * msw `http` handlers built from the spec's operation table: one per operation (so msw's logs and
 * `listHandlers()` name them), plus one for anything else under `<baseUrl>/v1/`, which the server
 * answers with a 404 or 405 problem too. Every handler hands the request to the same pipeline; the
 * pipeline matches the operation itself, exactly as the server does.
 *
 * Requests outside `<baseUrl>/v1/` are left unhandled on purpose: setupServer/setupWorker default to
 * `onUnhandledFrame: 'error'`, so a call to the wrong host fails loudly instead of reaching the network.
 */
import { http, type HttpHandler } from 'msw';
import { operationsOf } from '../../../server/src/http/core/operations.ts';
import spec from './gen/spec.gen.ts';
import type { MockApi } from './mock-api.ts';

/** The msw handlers of a mock API: pass them to setupServer/setupWorker, or add them to your own list. */
export function createHandlers(api: Pick<MockApi, 'baseUrl' | 'handle'>): HttpHandler[] {
  const resolver = ({ request }: { request: Request }) => api.handle(request);
  const handlers = operationsOf(spec).map((op) => http[op.method](`${api.baseUrl}${op.expressPath}`, resolver));
  handlers.push(http.all(`${api.baseUrl}/v1/*`, resolver));
  return handlers;
}
