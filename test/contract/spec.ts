/**
 * What openapi.yaml says each operation answers, read from the file itself: the success status,
 * the schema of its body, and a validator for that schema (Ajv, JSON Schema 2020-12, formats on),
 * so "data parses as the declared type" means every required field, type, enum, pattern and
 * `unevaluatedProperties: false` of the spec, not a hand-copied list.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import formatsPluginModule from 'ajv-formats';
import { parse } from 'yaml';
import { operations, type OperationId } from '../../sdk/src/gen/operations.gen.ts';

// ajv-formats is CommonJS; under module nodenext TypeScript types its default export as the module.
const addFormats = formatsPluginModule as unknown as (typeof formatsPluginModule)['default'];

const SPEC_ID = 'https://heykeys.dev/openapi.json';

interface ResponseObject {
  $ref?: string;
  content?: Record<string, { schema?: unknown }>;
  headers?: Record<string, unknown>;
}

const spec = parse(readFileSync(fileURLToPath(new URL('../../openapi.yaml', import.meta.url)), 'utf8')) as {
  paths: Record<string, Record<string, { responses: Record<string, ResponseObject> }>>;
  components: { responses: Record<string, ResponseObject> };
};

const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
addFormats(ajv, { mode: 'full' });
ajv.addSchema(spec as object, SPEC_ID);

const pointer = (...segments: string[]) => segments.map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

export interface SuccessResponse {
  operationId: OperationId;
  status: number;
  /** `application/json`, or null for a response without a body (204). */
  mediaType: string | null;
  /** Header names the spec declares for the success response (lower case). */
  headers: string[];
  /** Validates a body against the declared schema; null when there is no body. */
  validate: ValidateFunction | null;
}

const cache = new Map<OperationId, SuccessResponse>();

/** The one 2xx response openapi.yaml declares for an operation. */
export function successResponse(operationId: OperationId): SuccessResponse {
  const cached = cache.get(operationId);
  if (cached) return cached;
  const { method, path } = operations[operationId];
  const responses = spec.paths[path]?.[method.toLowerCase()]?.responses;
  if (!responses) throw new Error(`openapi.yaml has no ${method} ${path}`);
  const successes = Object.keys(responses).filter((code) => /^2\d\d$/.test(code));
  if (successes.length !== 1) throw new Error(`${operationId} declares ${successes.length} success responses; the suite expects one`);
  const code = successes[0]!;
  let response = responses[code]!;
  let base = ['#', 'paths', path, method.toLowerCase(), 'responses', code];
  if (response.$ref) {
    const name = response.$ref.split('/').pop()!;
    response = spec.components.responses[name]!;
    base = ['#', 'components', 'responses', name];
  }
  const mediaType = response.content ? Object.keys(response.content)[0]! : null;
  const validate = mediaType
    ? ajv.compile({ $ref: `${SPEC_ID}${pointer(...base, 'content', mediaType, 'schema')}` })
    : null;
  const result: SuccessResponse = {
    operationId,
    status: Number(code),
    mediaType,
    headers: Object.keys(response.headers ?? {}).map((h) => h.toLowerCase()),
    validate,
  };
  cache.set(operationId, result);
  return result;
}

/** Ajv's errors as short lines, for assertion messages. */
export function schemaErrors(validate: ValidateFunction): string[] {
  return (validate.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
}

/** The error statuses an operation declares (from the generated table the SDK itself uses). */
export function declaredErrorStatuses(operationId: OperationId): readonly number[] {
  return operations[operationId].errorStatuses;
}

export const OPERATION_IDS = Object.keys(operations) as OperationId[];
