/** People, workspaces, tags, the audit log and the key policy. */
import type { AuditAction } from '../domain/model.ts';
import { presentAudit, presentMember, presentTag, presentWorkspace } from '../domain/present.ts';
import type { KeyService } from '../domain/service.ts';
import { created, mapPage, noContent, ok, pageRequest, defineHandlers } from './types.ts';

export function organizationHandlers(service: KeyService) {
  return defineHandlers({
    listMembers: async ({ ctx, query }) => {
      const members = await service.listMembers(ctx, pageRequest(query));
      return ok({ ...mapPage(members, presentMember), seat_count: members.seat_count, machine_user_count: members.machine_user_count });
    },
    deleteMember: async ({ ctx, params }) => {
      await service.deleteMember(ctx, params['id']!);
      return noContent();
    },
    listWorkspaces: async ({ ctx, query }) => ok(mapPage(await service.listWorkspaces(ctx, pageRequest(query)), presentWorkspace)),
    createWorkspace: async ({ ctx, body }) => created(presentWorkspace(await service.createWorkspace(ctx, body.name))),
    getWorkspace: async ({ ctx, params }) => ok(presentWorkspace(await service.getWorkspace(ctx, params['id']!))),
    updateWorkspace: async ({ ctx, params, body }) => ok(presentWorkspace(await service.renameWorkspace(ctx, params['id']!, body.name))),
    deleteWorkspace: async ({ ctx, params }) => {
      await service.deleteWorkspace(ctx, params['id']!);
      return noContent();
    },
    listTags: async ({ ctx, params, query }) => ok(mapPage(await service.listTags(ctx, params['id']!, pageRequest(query)), presentTag)),
    createTag: async ({ ctx, params, body }) => created(presentTag(await service.createTag(ctx, params['id']!, body.name))),
    deleteTag: async ({ ctx, params }) => {
      await service.deleteTag(ctx, params['id']!, params['tagId']!);
      return noContent();
    },
    listAuditEvents: async ({ ctx, query }) => {
      const filter = { key_id: query['key_id'] as string | undefined, action: query['action'] as AuditAction | undefined };
      return ok(mapPage(await service.listAudit(ctx, filter, pageRequest(query)), presentAudit));
    },
    getPolicy: async ({ ctx }) => ok(await service.policy(ctx.principal.key.org_id)),
    updatePolicy: async ({ ctx, body }) => ok(await service.updatePolicy(ctx, body)),
  });
}
