/**
 * The contract suite against `prism mock` (what `npm run mock` serves): the part that needs no
 * state. Prism answers every request from the spec's examples, so this proves that each operation's
 * example is a body its schema accepts with the declared status and headers, that Prism asks for
 * credentials because the spec declares security, and that it refuses invalid input.
 */
import { afterAll, beforeAll } from 'vitest';
import type { RunningPrism } from '../../scripts/prism.ts';
import { startPrismMock } from './prism.ts';
import { contractSuite } from './suite.ts';
import { UNKNOWN_KEY } from './support.ts';
import type { ContractTarget } from './target.ts';

let prism: RunningPrism;

const target: ContractTarget = {
  name: 'prism mock',
  baseUrl: '',
  // Prism checks that credentials are present and well-formed, not that they exist.
  ownerKey: UNKNOWN_KEY,
  fetch: (input, init) => globalThis.fetch(input, init),
  capabilities: { stateful: false, clock: false, missingCredentials: 'prism', invalidInput: 'prism-mock' },
  async secondOrganizationKey() {
    throw new Error('prism mock has no organizations: the suite must not ask a stateless target for one');
  },
};

beforeAll(async () => {
  prism = await startPrismMock();
  target.baseUrl = prism.url;
});

afterAll(async () => {
  await prism?.stop();
});

contractSuite(() => target);
