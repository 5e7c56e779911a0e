import { presentMeJson } from '../domain/present.ts';
import { SCOPE_CATALOGUE } from '../domain/scopes.ts';
import type { KeyService } from '../domain/service.ts';
import { answerFrom, ok, defineHandlers } from './types.ts';

export function identityHandlers(service: KeyService) {
  return defineHandlers({
    getMe: ({ ctx }) => {
      const orgId = ctx.principal.key.org_id;
      return answerFrom(service.getOrganizationCached(orgId), () => service.getOrganization(orgId), (org) => ({ status: 200, json: presentMeJson(ctx.principal, org) }));
    },
    listScopes: async () => ok({ data: SCOPE_CATALOGUE }),
  });
}
