/**
 * The contract suite against the MSW mocks in Node: `setupMockServer()` from mocks/src/node.ts
 * intercepts `fetch` in this process (strict: an unhandled request fails). Organization A is the
 * fixtures' Acme, B is Globex; the mock's manual clock lets the suite test expiry and grace ends.
 */
import { afterAll, beforeAll } from 'vitest';
import { setupMockServer } from '../../mocks/src/node.ts';
import { contractSuite } from './suite.ts';
import type { ContractTarget } from './target.ts';

const mock = setupMockServer();

const target: ContractTarget = {
  name: 'msw (node)',
  baseUrl: mock.api.baseUrl,
  ownerKey: '',
  // msw patches globalThis.fetch when it starts listening: look it up on every call.
  fetch: (input, init) => globalThis.fetch(input, init),
  clock: mock.api.clock,
  capabilities: { stateful: true, clock: true, missingCredentials: 'api', invalidInput: 'api' },
  async secondOrganizationKey() {
    return (await mock.api.ready).globex.ownerKey.secret;
  },
};

beforeAll(async () => {
  mock.listen();
  target.ownerKey = (await mock.api.ready).acme.ownerKey.secret;
});

afterAll(() => {
  mock.close();
});

contractSuite(() => target);
