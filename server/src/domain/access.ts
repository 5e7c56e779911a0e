/**
 * Who may do what: the calling key's scopes and role, its workspace reach, and the rule that a key
 * can never mint or widen a key beyond itself.
 */
import { DomainError } from './errors.ts';
import type { AuthScheme, KeyRecord, Role, WorkspaceAccess } from './model.ts';
import { missingScopes, type Scope } from './scopes.ts';

/** The authenticated caller. */
export interface Principal {
  key: KeyRecord;
  owner_role: Role | null;
  scheme: AuthScheme;
  /** Which secret authenticated: the current one or the previous one in its rotation grace. */
  secret: 'current' | 'previous';
  digest: string;
}

/** Everything a domain operation knows about the request it serves. */
export interface RequestContext {
  principal: Principal;
  ip: string | null;
  now: number;
}

/** Throws 403 naming what is missing when the principal lacks a scope or the owner role. */
export function authorize(principal: Principal, required: readonly Scope[], operation: string, ownerOnly = false): void {
  const missing = missingScopes(principal.key.permission.scopes, required);
  if (missing.length > 0) {
    const noun = missing.length === 1 ? 'permission' : 'permissions';
    throw new DomainError(
      'insufficient_scope',
      `This API key lacks the ${noun} ${missing.join(', ')} needed for ${operation}.`,
      { required_scopes: [...required], missing_scopes: missing },
    );
  }
  if (ownerOnly && principal.owner_role !== 'owner') {
    throw new DomainError('owner_required', `Only organization owners may call ${operation}; this key's owner is not an owner.`);
  }
}

/** The workspaces a key can reach, or null for every workspace (including ones created later). */
export function reachableWorkspaces(key: KeyRecord): string[] | null {
  if (key.workspace_id) return [key.workspace_id];
  return key.workspace_access.type === 'all' ? null : key.workspace_access.workspace_ids;
}

export function canReachWorkspace(key: KeyRecord, workspaceId: string): boolean {
  const reach = reachableWorkspaces(key);
  return reach === null || reach.includes(workspaceId);
}

/** An unrestricted key sees every key; a workspace-limited one only keys pinned to its workspaces. */
export function canSeeKey(viewer: KeyRecord, key: KeyRecord): boolean {
  const reach = reachableWorkspaces(viewer);
  if (reach === null) return true;
  return key.workspace_id !== null && reach.includes(key.workspace_id);
}

/** Refuses a permission or workspace access wider than the acting key's own. */
export function assertNoEscalation(
  actor: KeyRecord,
  scopes: readonly Scope[],
  access: WorkspaceAccess,
  pinnedTo: string | null,
): void {
  const missing = missingScopes(actor.permission.scopes, scopes);
  if (missing.length > 0) {
    throw new DomainError(
      'privilege_escalation',
      `This API key cannot grant ${missing.join(', ')}: a key can never grant more than it holds itself.`,
      { missing_scopes: missing },
    );
  }
  const reach = reachableWorkspaces(actor);
  if (reach === null) return;
  const wanted = pinnedTo ? [pinnedTo] : access.type === 'selected' ? access.workspace_ids : null;
  const outside = wanted === null ? ['all workspaces'] : wanted.filter((w) => !reach.includes(w));
  if (outside.length > 0) {
    throw new DomainError(
      'privilege_escalation',
      `This API key cannot grant access to ${outside.join(', ')}: it reaches only ${reach.join(', ')}.`,
    );
  }
}
