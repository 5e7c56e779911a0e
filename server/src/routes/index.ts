/** Every route handler, keyed by operationId: what createApp mounts and what the MSW mocks dispatch to. */
import type { KeyService } from '../domain/service.ts';
import { apiKeyHandlers } from './api-keys.ts';
import { identityHandlers } from './identity.ts';
import { organizationHandlers } from './organization.ts';
import type { Handler, Handlers, OperationId } from './types.ts';

export function allHandlers(service: KeyService): Handlers {
  // Every operationId of openapi.yaml needs a handler: a missing one is a compile error here.
  const all: Record<OperationId, Handler> = { ...identityHandlers(service), ...apiKeyHandlers(service), ...organizationHandlers(service) };
  return all;
}
