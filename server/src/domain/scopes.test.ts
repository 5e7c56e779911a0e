import { describe, expect, it } from 'vitest';
import { DomainError } from './errors.ts';
import { ALL_SCOPES, READ_SCOPES, missingScopes, resolvePermission } from './scopes.ts';

describe('permissions', () => {
  it('has 12 scopes: read and write for six resources', () => {
    expect(ALL_SCOPES).toHaveLength(12);
    expect(READ_SCOPES).toEqual(['campaigns:read', 'analytics:read', 'workspaces:read', 'domains:read', 'tags:read', 'api_keys:read']);
  });

  it('resolves all and read_only', () => {
    expect(resolvePermission({ type: 'all' })).toEqual({ type: 'all', scopes: ALL_SCOPES });
    expect(resolvePermission({ type: 'read_only' })).toEqual({ type: 'read_only', scopes: READ_SCOPES });
  });

  it('resolves per-resource access: write means read and write, none means nothing', () => {
    expect(resolvePermission({ type: 'restricted', resources: { tags: 'write', api_keys: 'read', domains: 'none' } })).toEqual({
      type: 'restricted',
      scopes: ['tags:read', 'tags:write', 'api_keys:read'],
    });
  });

  it('keeps explicit scopes independent (write without read) and sorted', () => {
    expect(resolvePermission({ type: 'restricted', scopes: ['tags:write', 'campaigns:read'] })).toEqual({
      type: 'restricted',
      scopes: ['campaigns:read', 'tags:write'],
    });
  });

  it('refuses a restricted permission that grants nothing, and unknown scopes', () => {
    expect(() => resolvePermission({ type: 'restricted', resources: { tags: 'none' } })).toThrow(DomainError);
    expect(() => resolvePermission({ type: 'restricted', scopes: ['tags:admin'] })).toThrow(/unknown scope/);
  });

  it('names the missing scopes', () => {
    expect(missingScopes(['tags:read'], ['tags:read', 'tags:write', 'api_keys:write'])).toEqual(['tags:write', 'api_keys:write']);
    expect(missingScopes(ALL_SCOPES, ALL_SCOPES)).toEqual([]);
  });
});
