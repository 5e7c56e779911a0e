/**
 * The mock API in a browser: msw's setupWorker over the mock's handlers. The page needs msw's
 * service worker script at `/mockServiceWorker.js` (`npx msw init <public dir> --no-save`).
 * Strict by default: a request no handler answers fails (`onUnhandledFrame: 'error'`), except the
 * common static assets msw always lets through.
 *
 * @example
 * const mock = setupMockWorker({ baseUrl: location.origin });
 * await mock.start();
 */
import { setupWorker, type SetupWorker, type StartOptions } from 'msw/browser';
import { createHandlers } from './core/handlers.ts';
import { createMockApi, type MockApi, type MockApiOptions } from './core/mock-api.ts';
import type { Fixtures } from './core/fixtures.ts';

export * from './index.ts';

export interface MockWorker {
  readonly api: MockApi;
  readonly worker: SetupWorker;
  /** Registers the service worker and waits for the fixtures. */
  start(options?: StartOptions): Promise<Fixtures>;
  reset(): Promise<Fixtures>;
  stop(): Promise<void>;
}

/** A mock API and msw's setupWorker over its handlers; `await start()` before the app's first request. */
export function setupMockWorker(options: MockApiOptions = {}): MockWorker {
  const api = createMockApi(options);
  const worker = setupWorker(...createHandlers(api));
  return {
    api,
    worker,
    async start(startOptions) {
      await worker.start({ onUnhandledFrame: 'error', quiet: true, ...startOptions });
      return api.ready;
    },
    reset: () => {
      worker.resetHandlers();
      return api.reset();
    },
    stop: async () => {
      await worker.stop();
    },
  };
}
