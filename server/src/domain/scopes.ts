/** The scope catalogue and the three views of a permission (all, read_only, restricted). */
import { DomainError } from './errors.ts';

export const RESOURCES = ['campaigns', 'analytics', 'workspaces', 'domains', 'tags', 'api_keys'] as const;
export type Resource = (typeof RESOURCES)[number];
export type Access = 'read' | 'write';
export type Scope = `${Resource}:${Access}`;

const RESOURCE_LABELS: Record<Resource, string> = {
  campaigns: 'campaigns',
  analytics: 'analytics',
  workspaces: 'workspaces and people',
  domains: 'domains',
  tags: 'tags',
  api_keys: 'API keys, usage and audit logs',
};

/** Every scope, in catalogue order (resource order, read before write). */
export const ALL_SCOPES: readonly Scope[] = RESOURCES.flatMap((r) => [`${r}:read`, `${r}:write`] as Scope[]);
export const READ_SCOPES: readonly Scope[] = ALL_SCOPES.filter((s) => s.endsWith(':read'));
const SCOPE_SET: ReadonlySet<string> = new Set(ALL_SCOPES);
const SCOPE_ORDER = new Map(ALL_SCOPES.map((s, i) => [s, i]));

export function isScope(value: string): value is Scope {
  return SCOPE_SET.has(value);
}

export interface ScopeDescription {
  scope: Scope;
  resource: Resource;
  access: Access;
  description: string;
}

export const SCOPE_CATALOGUE: readonly ScopeDescription[] = ALL_SCOPES.map((scope) => {
  const [resource, access] = scope.split(':') as [Resource, Access];
  const label = RESOURCE_LABELS[resource];
  return {
    scope,
    resource,
    access,
    description: access === 'read' ? `Read ${label}.` : `Create, change and delete ${label}.`,
  };
});

export type PermissionType = 'all' | 'read_only' | 'restricted';

/** A permission as a client may send it. */
export type PermissionInput =
  | { type: 'all' }
  | { type: 'read_only' }
  | { type: 'restricted'; scopes: string[] }
  | { type: 'restricted'; resources: Record<string, 'none' | 'read' | 'write'> };

/** A permission in resolved form: what is stored and what every response shows. */
export interface Permission {
  type: PermissionType;
  scopes: Scope[];
}

export function sortScopes(scopes: Iterable<Scope>): Scope[] {
  return [...new Set(scopes)].sort((a, b) => SCOPE_ORDER.get(a)! - SCOPE_ORDER.get(b)!);
}

/** Resolves any of the three views into the explicit scope set. */
export function resolvePermission(input: PermissionInput): Permission {
  if (input.type === 'all') return { type: 'all', scopes: [...ALL_SCOPES] };
  if (input.type === 'read_only') return { type: 'read_only', scopes: [...READ_SCOPES] };
  const scopes: Scope[] = [];
  if ('scopes' in input) {
    for (const s of input.scopes) {
      if (!isScope(s)) throw DomainError.validation([{ field: 'body/permission/scopes', message: `unknown scope ${s}` }]);
      scopes.push(s);
    }
  } else {
    for (const [resource, access] of Object.entries(input.resources)) {
      if (!(RESOURCES as readonly string[]).includes(resource)) {
        throw DomainError.validation([{ field: 'body/permission/resources', message: `unknown resource ${resource}` }]);
      }
      if (access === 'read' || access === 'write') scopes.push(`${resource as Resource}:read`);
      if (access === 'write') scopes.push(`${resource as Resource}:write`);
    }
  }
  if (scopes.length === 0) {
    throw DomainError.validation([{ field: 'body/permission', message: 'a restricted permission must grant at least one scope' }]);
  }
  return { type: 'restricted', scopes: sortScopes(scopes) };
}

/** The scopes of `required` that `held` lacks, in catalogue order. */
export function missingScopes(held: readonly Scope[], required: readonly Scope[]): Scope[] {
  // Checked on every request; the usual answer is "none", found without building a set or sorting.
  const missing = required.filter((s) => !held.includes(s));
  return missing.length === 0 ? missing : sortScopes(missing);
}
