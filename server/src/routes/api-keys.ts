import { presentKey, presentKeyJson, presentKeyWithSecret, presentUsage, presentVerifyJson } from '../domain/present.ts';
import type { KeyService } from '../domain/service.ts';
import { answerFrom, created, mapPage, noContent, ok, pageRequest, SECRET_HEADERS, defineHandlers } from './types.ts';

export function apiKeyHandlers(service: KeyService) {
  return defineHandlers({
    listApiKeys: async ({ ctx, query }) => {
      const filter = {
        status: query['status'] as 'active' | 'disabled' | undefined,
        owner_type: query['owner_type'] as 'user' | 'machine' | undefined,
        workspace_id: query['workspace_id'] as string | undefined,
        name: query['name'] as string | undefined,
      };
      const page = await service.listKeys(ctx, filter, pageRequest(query));
      return ok(mapPage(page, (k) => presentKey(k, ctx.now)));
    },
    createApiKey: async ({ ctx, body }) => {
      const { key, secret } = await service.createKey(ctx, body);
      return created(presentKeyWithSecret(key, secret, ctx.now), SECRET_HEADERS);
    },
    getApiKey: ({ ctx, params }) => {
      const id = params['id']!;
      return answerFrom(service.getKeyCached(ctx, id), () => service.getKey(ctx, id), (key) => ({ status: 200, json: presentKeyJson(key, ctx.now) }));
    },
    updateApiKey: async ({ ctx, params, body }) => ok(presentKey(await service.updateKey(ctx, params['id']!, body), ctx.now)),
    revokeApiKey: async ({ ctx, params }) => {
      await service.revokeKey(ctx, params['id']!);
      return noContent();
    },
    disableApiKey: async ({ ctx, params }) => ok(presentKey(await service.disableKey(ctx, params['id']!), ctx.now)),
    enableApiKey: async ({ ctx, params }) => ok(presentKey(await service.enableKey(ctx, params['id']!), ctx.now)),
    rotateApiKey: async ({ ctx, params, body }) => {
      const grace = Number(body?.grace_period_seconds ?? 0);
      const { key, secret } = await service.rotateKey(ctx, params['id']!, grace);
      return { status: 200, body: presentKeyWithSecret(key, secret, ctx.now), headers: SECRET_HEADERS };
    },
    getApiKeyUsage: async ({ ctx, params, query }) => {
      const usage = await service.usage(ctx, params['id']!, pageRequest(query));
      return ok({ ...mapPage(usage, presentUsage), counts: usage.counts });
    },
    verifyApiKey: ({ ctx, body }) =>
      answerFrom(service.verifyCached(ctx, body), () => service.verify(ctx, body), (outcome) => ({ status: 200, json: presentVerifyJson(outcome) })),
    listWorkspaceApiKeys: async ({ ctx, params, query }) => {
      const page = await service.listKeys(ctx, {}, pageRequest(query), params['id']!);
      return ok(mapPage(page, (k) => presentKey(k, ctx.now)));
    },
    createWorkspaceApiKey: async ({ ctx, params, body }) => {
      const { key, secret } = await service.createKey(ctx, body, params['id']!);
      return created(presentKeyWithSecret(key, secret, ctx.now), SECRET_HEADERS);
    },
  });
}
