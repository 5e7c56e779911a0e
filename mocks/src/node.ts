/**
 * The mock API in Node (vitest, jest, scripts): msw's setupServer over the mock's handlers.
 * Strict by default: a request no handler answers fails the request (`onUnhandledFrame: 'error'`).
 *
 * @example
 * const mock = setupMockServer();
 * beforeAll(() => mock.listen());
 * afterEach(() => mock.reset());
 * afterAll(() => mock.close());
 */
import { setupServer, type SetupServer } from 'msw/node';
import type { SharedOptions } from 'msw';
import { createHandlers } from './core/handlers.ts';
import { createMockApi, type MockApi, type MockApiOptions } from './core/mock-api.ts';
import type { Fixtures } from './core/fixtures.ts';

export * from './index.ts';

export interface MockServer {
  /** The mock API: clock, fixtures, reset. */
  readonly api: MockApi;
  /** msw's server, for `use()` overrides and life-cycle events. */
  readonly server: SetupServer;
  /** Starts intercepting; unhandled requests fail unless `onUnhandledFrame` says otherwise. */
  listen(options?: SharedOptions): void;
  /** Drops runtime handler overrides and restores the fixtures and the clock. */
  reset(): Promise<Fixtures>;
  close(): void;
}

/** A mock API and msw's setupServer over its handlers; call `listen()` before the first request. */
export function setupMockServer(options: MockApiOptions = {}): MockServer {
  const api = createMockApi(options);
  const server = setupServer(...createHandlers(api));
  return {
    api,
    server,
    listen: (listenOptions) => server.listen({ onUnhandledFrame: 'error', ...listenOptions }),
    reset: () => {
      server.resetHandlers();
      return api.reset();
    },
    close: () => server.close(),
  };
}
