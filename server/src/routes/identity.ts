import { presentMe } from '../domain/present.ts';
import { SCOPE_CATALOGUE } from '../domain/scopes.ts';
import type { KeyService } from '../domain/service.ts';
import { answerFrom, ok, defineHandlers } from './types.ts';

export function identityHandlers(service: KeyService) {
  return defineHandlers({
    getMe: ({ ctx }) => {
      const orgId = ctx.principal.key.org_id;
      return answerFrom(service.getOrganizationCached(orgId), () => service.getOrganization(orgId), (org) => ok(presentMe(ctx.principal, org)));
    },
    listScopes: async () => ok({ data: SCOPE_CATALOGUE }),
  });
}
