/** Every route handler, keyed by operationId: what createApp mounts and what the MSW mocks dispatch to. */
import type { KeyService } from '../domain/service.ts';
import { apiKeyHandlers } from './api-keys.ts';
import { identityHandlers } from './identity.ts';
import { organizationHandlers } from './organization.ts';
import type { Handlers } from './types.ts';

export function allHandlers(service: KeyService): Handlers {
  return { ...identityHandlers(service), ...apiKeyHandlers(service), ...organizationHandlers(service) };
}
