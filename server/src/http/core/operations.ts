/**
 * openapi.yaml is the one source of truth: the operation table (paths, methods, the scopes each
 * operation declares in its security requirement, owner-only marks) is read from it here, and
 * nowhere else keeps a second copy. Portable (no Node API): the MSW mocks use it too.
 */
import { isScope, type Scope } from '../../domain/scopes.ts';

export type OpenApiDocument = Record<string, any>;

export interface Operation {
  operationId: string;
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  /** The path template, e.g. `/v1/api-keys/{id}` (what usage logs record). */
  path: string;
  /** The same path in Express syntax, e.g. `/v1/api-keys/:id`. */
  expressPath: string;
  /** Scopes the operation needs; empty means any valid key. */
  scopes: Scope[];
  ownerOnly: boolean;
  /** The operation declares a request body (required or not). */
  hasBody: boolean;
  pattern: RegExp;
}

const METHODS = ['get', 'post', 'patch', 'put', 'delete'] as const;
export const SECURITY_SCHEMES = ['bearerAuth', 'basicAuth'] as const;

/**
 * Every operation with its declared scopes. Throws when an operation declares no security, or
 * declares different scopes for Bearer and Basic: the rules are the same for both schemes.
 */
export function operationsOf(spec: OpenApiDocument): Operation[] {
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries<Record<string, any>>(spec.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const where = `${method.toUpperCase()} ${path} (${op.operationId})`;
      const security: Record<string, string[]>[] | undefined = op.security;
      if (!Array.isArray(security) || security.length === 0) throw new Error(`${where} declares no security requirement.`);
      const byScheme = new Map<string, string[]>();
      for (const requirement of security) for (const [scheme, roles] of Object.entries(requirement)) byScheme.set(scheme, roles);
      for (const scheme of SECURITY_SCHEMES) {
        if (!byScheme.has(scheme)) throw new Error(`${where} does not accept ${scheme}.`);
      }
      const scopes = byScheme.get('bearerAuth')!;
      if (JSON.stringify([...scopes].sort()) !== JSON.stringify([...byScheme.get('basicAuth')!].sort())) {
        throw new Error(`${where} declares different scopes for bearerAuth and basicAuth.`);
      }
      for (const s of scopes) if (!isScope(s)) throw new Error(`${where} declares unknown scope ${s}.`);
      const source = path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '([^/]+)');
      operations.push({
        operationId: op.operationId,
        method,
        path,
        expressPath: path.replace(/\{([^}]+)\}/g, ':$1'),
        scopes: scopes as Scope[],
        ownerOnly: op['x-owner-only'] === true,
        hasBody: op.requestBody !== undefined,
        pattern: new RegExp(`^${source}/?$`),
      });
    }
  }
  return operations;
}

/**
 * Finds the operation for a method and path the way OpenAPI matches paths: the path template
 * first, concrete templates before templated ones, then the method. `GET /v1/api-keys/verify` is
 * the verify path (which has no GET: a 405), not getApiKey with the id "verify".
 */
export function operationMatcher(operations: Operation[]): (method: string, path: string) => Operation | undefined {
  const byPath = new Map<string, { pattern: RegExp; methods: Map<string, Operation> }>();
  for (const op of operations) {
    const entry = byPath.get(op.path) ?? { pattern: op.pattern, methods: new Map() };
    entry.methods.set(op.method, op);
    byPath.set(op.path, entry);
  }
  const paths = [...byPath.entries()]
    .sort(([a], [b]) => a.split('{').length - b.split('{').length)
    .map(([, entry]) => entry);
  return (method, path) => paths.find((entry) => entry.pattern.test(path))?.methods.get(method.toLowerCase());
}
