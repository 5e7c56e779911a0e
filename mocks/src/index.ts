/**
 * @heykeys/mocks: the HeyKeys API mocked with msw, running the server's own domain rules over an
 * in-memory store. Portable (Node and browsers); `./node` and `./browser` add msw's setup.
 *
 * @example
 * import { createMockApi } from '@heykeys/mocks';
 * const mockApi = createMockApi();
 * const { ownerKey } = (await mockApi.ready).acme;
 * const res = await mockApi.fetch('http://localhost:3000/v1/me', { headers: { authorization: `Bearer ${ownerKey.secret}` } });
 *
 * @module
 */
export { createHandlers } from './core/handlers.ts';
export { createMockApi, DEFAULT_BASE_URL, type MockApi, type MockApiOptions } from './core/mock-api.ts';
export { FIXTURE_NOW, fixtureSecrets, type FixtureKey, type FixtureMember, type Fixtures, type FixtureSecretName } from './core/fixtures.ts';
export { DAY, SECOND, ManualClock } from '../../server/src/domain/clock.ts';
