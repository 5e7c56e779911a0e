import { presentMe } from '../domain/present.ts';
import { SCOPE_CATALOGUE } from '../domain/scopes.ts';
import type { KeyService } from '../domain/service.ts';
import { ok, defineHandlers } from './types.ts';

export function identityHandlers(service: KeyService) {
  return defineHandlers({
    getMe: async ({ ctx }) => ok(presentMe(ctx.principal, await service.getOrganization(ctx.principal.key.org_id))),
    listScopes: async () => ok({ data: SCOPE_CATALOGUE }),
  });
}
