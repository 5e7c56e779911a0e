/**
 * The mock API: the domain core (KeyService) over the in-memory store, a clock a test moves by
 * hand, a browser-safe CryptoPort, the seeded fixtures, and the server's request pipeline. Portable:
 * msw's `http` handlers (./handlers.ts) and a plain `fetch` function are two doors into it.
 */
import { ManualClock } from '../../../server/src/domain/clock.ts';
import { KeyService } from '../../../server/src/domain/service.ts';
import { operationsOf } from '../../../server/src/http/core/operations.ts';
import { MemoryStore } from '../../../server/src/store/memory.ts';
import { createMockCrypto, type MockCrypto } from './crypto.ts';
import { FIXTURE_NOW, FIXTURE_SEED, seedFixtures, type Fixtures } from './fixtures.ts';
import spec from './gen/spec.gen.ts';
import { createDispatcher } from './pipeline.ts';
import { createRequestValidator, type RequestValidator } from './validation.ts';

export const DEFAULT_BASE_URL = 'http://localhost:3000';

export interface MockApiOptions {
  /** Where the API is mocked. A path prefix is kept (`http://host/api` serves `http://host/api/v1/me`). Default http://localhost:3000. */
  baseUrl?: string | URL;
  /** Key prefix, as the server's KEY_PREFIX. Default `hey_`; the fixture secrets follow it. */
  keyPrefix?: string;
  /** Requests per key per minute, as the server's RATE_LIMIT_PER_MINUTE. Default 0: off. */
  rateLimitPerMinute?: number;
  /** The IP address usage and audit logs record for every request. Default 127.0.0.1. */
  clientIp?: string | null;
  /** Called with any error that became a 500 (a bug, never bad input). Default: console.error. */
  onInternalError?: (error: unknown, request: Request) => void;
}

export interface MockApi {
  /** The base URL the handlers answer on, without a trailing slash. */
  readonly baseUrl: string;
  /** The mock's clock: `set(instant)` and `advance(ms)` move time for expiry, rotation grace and inactivity. */
  readonly clock: ManualClock;
  /** Resolves when the fixtures are seeded (every request waits for it too). */
  readonly ready: Promise<Fixtures>;
  /** The seeded fixtures (ids and secrets). Throws before `ready` has resolved. */
  readonly fixtures: Fixtures;
  /** The domain service behind the mock, for setups the HTTP API cannot express. Replaced by `reset()`. */
  readonly service: KeyService;
  /** Answers one request as the server would. The URL must be under `baseUrl`. */
  handle(request: Request): Promise<Response>;
  /** A `fetch` that answers from the mock without any network or msw: handy as a test double. */
  fetch: typeof globalThis.fetch;
  /** Back to the seeded fixtures and the fixture clock (FIXTURE_NOW); keys made since are gone. */
  reset(): Promise<Fixtures>;
}

let sharedValidator: RequestValidator | undefined;

/** A mock API seeded with the fixtures; it starts seeding at once (`ready` resolves when done). */
export function createMockApi(options: MockApiOptions = {}): MockApi {
  const base = new URL(String(options.baseUrl ?? DEFAULT_BASE_URL));
  if (base.search || base.hash) throw new Error(`The mock API's baseUrl must not have a query or fragment: ${base.href}`);
  const baseUrl = base.href.replace(/\/+$/, '');
  const basePath = base.pathname.replace(/\/+$/, '');
  const clock = new ManualClock(FIXTURE_NOW);
  const crypto: MockCrypto = createMockCrypto();
  const operations = operationsOf(spec);
  // Compiling the spec's schemas is the slow part; every mock API in the process shares it.
  sharedValidator ??= createRequestValidator(spec);
  const dispatch = createDispatcher({
    operations,
    validator: sharedValidator,
    rateLimitPerMinute: options.rateLimitPerMinute ?? 0,
    clientIp: options.clientIp === undefined ? '127.0.0.1' : options.clientIp,
    onInternalError:
      options.onInternalError ?? ((error, request) => console.error(`[heykeys mocks] ${request.method} ${request.url} failed:`, error)),
  });

  let service: KeyService;
  let fixtures: Fixtures | undefined;
  let seeding: Promise<Fixtures>;
  let sweptAt = Number.NaN;

  function seed(): Promise<Fixtures> {
    fixtures = undefined;
    const fresh = new KeyService({
      store: new MemoryStore(),
      clock,
      crypto,
      ...(options.keyPrefix !== undefined ? { keyPrefix: options.keyPrefix } : {}),
    });
    service = fresh;
    sweptAt = Number.NaN;
    return crypto.deterministic(FIXTURE_SEED, () => seedFixtures(fresh, clock)).then((seeded) => {
      if (service === fresh) fixtures = seeded;
      return seeded;
    });
  }

  seeding = seed();

  async function handle(request: Request): Promise<Response> {
    await seeding;
    const url = new URL(request.url);
    if (url.origin !== base.origin || !(url.pathname === basePath || url.pathname.startsWith(`${basePath}/`))) {
      throw new Error(`The mock API at ${baseUrl} was asked for ${url.origin}${url.pathname}.`);
    }
    const current = service;
    // The server disables idle keys on a timer; the mock does it whenever its clock has moved.
    if (current.clock.now() !== sweptAt) {
      sweptAt = current.clock.now();
      await current.sweepInactive();
    }
    return dispatch(current, request, url.pathname.slice(basePath.length) || '/');
  }

  return {
    baseUrl,
    clock,
    get ready() {
      return seeding;
    },
    get fixtures(): Fixtures {
      if (!fixtures) throw new Error('The mock API is still seeding its fixtures: await mockApi.ready (or mockApi.reset()) first.');
      return fixtures;
    },
    get service() {
      return service;
    },
    handle,
    fetch: (input, init) => handle(new Request(input, init)),
    reset() {
      seeding = seed();
      return seeding;
    },
  };
}
