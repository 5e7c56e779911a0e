/**
 * Request validation against openapi.yaml, rebuilt on Ajv 2020 + ajv-formats so it runs in a
 * browser. The server validates with express-openapi-validator (EOV); to answer a bad request with
 * the same 400 (same fields, same messages, same order) this module builds the very schemas EOV
 * builds and runs its steps in its order:
 *
 *   1. body media type: a declared body sent as anything but JSON is a 415
 *   2. bracketed query names (`status[]=x`, `limit[a]=1`) become nested values, as qs parses them
 *   3. query values must not contain reserved characters unencoded (EOV's `explode` check)
 *   4. unknown and empty query parameters (`allowUnknownQueryParameters: false`)
 *   5. one Ajv pass over { query, headers, params } (types coerced, defaults applied) and one over
 *      { body } (no coercion), every error listed (`allErrors`)
 *
 * Failures are thrown as `ValidatorError`s shaped like EOV's errors, so the server's own
 * `toDomainError` (server/src/http/problem.ts) turns them into the same problem.
 * mocks/test/parity.test.ts holds the mock and the server side by side on the same requests.
 */
import { Ajv2020, type ErrorObject, type Options, type ValidateFunction } from 'ajv/dist/2020.js';
import formatsPluginModule from 'ajv-formats';
import type { OpenApiDocument, Operation } from '../../../server/src/http/core/operations.ts';

// ajv-formats is CommonJS: Node and bundlers hand over the plugin function as the default export,
// but TypeScript (module nodenext) types that default as the whole module object.
const addFormats = formatsPluginModule as unknown as (typeof formatsPluginModule)['default'];

/** An error as express-openapi-validator throws it; `toDomainError` reads `status` and `errors`. */
export class ValidatorError extends Error {
  readonly status: number;
  readonly errors: { path: string; message: string }[];
  constructor(status: number, message: string, errors?: { path: string; message: string }[]) {
    super(message);
    this.name = 'ValidatorError';
    this.status = status;
    this.errors = errors ?? [{ path: '', message }];
  }
}

export interface RequestParts {
  /** The `Content-Type` header, or null. */
  contentType: string | null;
  /** The query string as sent, without `?` (percent-encoding intact). */
  rawQuery: string;
  /** Decoded query parameters; a repeated name holds an array. Coerced and defaulted in place. */
  query: Record<string, unknown>;
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** Decoded path parameters. */
  params: Record<string, string>;
  /** The parsed JSON body, or undefined when none was parsed. Defaults are applied in place. */
  body: unknown;
}

interface Parameter {
  name: string;
  in: 'query' | 'header' | 'path' | 'cookie';
  required?: boolean;
  allowEmptyValue?: boolean;
  allowReserved?: boolean;
  schema?: unknown;
}

interface CompiledOperation {
  queryNames: Set<string>;
  allowEmpty: Set<string>;
  reservedChecked: string[];
  bodyContent: Record<string, { schema?: unknown }> | null;
  bodyRequired: boolean;
  general: ValidateFunction;
  /** The body validator per declared media type (only application/json in this spec). */
  body: Map<string, ValidateFunction>;
}

const RESERVED_CHARS = /[:/?#[\]@!$&'()*+,;=]/;
const PARAM_FIELD = { query: 'query', header: 'headers', path: 'params', cookie: 'cookies' } as const;
const maxInt32 = 2 ** 31 - 1;
const minInt32 = (-2) ** 31;

/** EOV's own formats, registered before ajv-formats (this spec uses none of them today). */
const EOV_FORMATS = {
  int32: { type: 'number' as const, validate: (i: number) => Number.isInteger(i) && i <= maxInt32 && i >= minInt32 },
  int64: { type: 'number' as const, validate: (i: number) => Number.isInteger(i) },
  float: { type: 'number' as const, validate: (i: number) => typeof i === 'number' },
  double: { type: 'number' as const, validate: (i: number) => typeof i === 'number' },
  byte: (b: string) => b.length % 4 === 0 && /^[A-Za-z0-9+/]*(=|==)?$/.test(b),
  binary: true,
  password: true,
};

function createAjv(spec: OpenApiDocument, coerceTypes: boolean): Ajv2020 {
  // EOV's request options, as the server configures it (validateFormats, ajvFormats full, allErrors).
  const options: Options = {
    strict: false,
    strictNumbers: true,
    strictTuples: true,
    allowUnionTypes: false,
    validateSchema: false,
    coerceTypes,
    useDefaults: true,
    removeAdditional: false,
    validateFormats: true,
    allErrors: true,
  };
  const ajv = new Ajv2020(options);
  ajv.addFormat('media-range', true);
  for (const [name, format] of Object.entries(EOV_FORMATS)) ajv.addFormat(name, format as never);
  addFormats(ajv, { mode: 'full' });
  for (const [id, schema] of Object.entries<object>(spec.components?.schemas ?? {})) {
    ajv.addSchema(schema, `#/components/schemas/${id}`);
  }
  return ajv;
}

function mediaTypeOf(contentType: string | null): string | null {
  if (!contentType) return null;
  return contentType.split(';')[0]!.trim().toLowerCase() || null;
}

/** Undecoded `name → values` pairs, split the way EOV splits them. */
function rawPairs(rawQuery: string): Map<string, (string | undefined)[]> {
  const pairs = new Map<string, (string | undefined)[]>();
  if (!rawQuery) return pairs;
  for (const part of rawQuery.split('&')) {
    const [key, value] = part.split('=') as [string, string | undefined];
    const values = pairs.get(key) ?? [];
    values.push(value);
    pairs.set(key, values);
  }
  return pairs;
}

/**
 * EOV hands every query name with a `[` to qs (unless the spec declares that literal name):
 * `status[]=a` becomes `status: ['a']`, `limit[x]=5` becomes `limit: { x: '5' }`. The common
 * shapes are rebuilt here; qs's rarer options (depth > 5, array limits) are not.
 */
function expandBracketNames(query: Record<string, unknown>, literal: Set<string>): void {
  for (const key of Object.keys(query)) {
    if (!key.includes('[') || literal.has(key)) continue;
    const base = key.split('[')[0]!;
    const segments = [...key.slice(base.length).matchAll(/\[([^\]]*)\]/g)].map((m) => m[1]!);
    if (!base || segments.length === 0) continue;
    const raw = query[key];
    let value: unknown = Array.isArray(raw) ? raw.join(',') : raw;
    for (const segment of segments.reverse()) value = segment === '' || /^\d+$/.test(segment) ? [value] : { [segment]: value };
    const existing = query[base];
    query[base] =
      existing && typeof existing === 'object' && !Array.isArray(existing) && value && typeof value === 'object' && !Array.isArray(value)
        ? { ...existing, ...value }
        : value;
    delete query[key];
  }
}

/** EOV's message for each Ajv error, and the path it reports (`/body/name`, `/query/limit`). */
function toValidatorErrors(errors: ErrorObject[]): { path: string; message: string }[] {
  return errors.map((e) => {
    const params = e.params as Record<string, unknown>;
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'enum' && Array.isArray(params['allowedValues'])) message = `${message}: ${params['allowedValues'].join(', ')}`;
    const property = params['missingProperty'] ?? params['additionalProperty'] ?? params['unevaluatedProperty'];
    const path = typeof property === 'string' ? `${e.instancePath}/${property}` : e.instancePath || e.schemaPath;
    return { path, message };
  });
}

export interface RequestValidator {
  /** Throws a ValidatorError for a request the server's validator would refuse. */
  validate(operation: Operation, request: RequestParts): void;
}

export function createRequestValidator(source: OpenApiDocument): RequestValidator {
  const spec = structuredClone(source);
  // Examples are not needed to validate (EOV drops them too).
  if (spec.components) delete spec.components.examples;
  const general = createAjv(spec, true);
  const body = createAjv(spec, false);
  const compiled = new Map<string, CompiledOperation>();

  function parametersOf(operation: Operation): Parameter[] {
    const item = spec.paths[operation.path] as Record<string, any>;
    const deref = (p: any): Parameter => (p?.$ref ? spec.components.parameters[String(p.$ref).replace(/^.+\//, '')] : p);
    const own: Parameter[] = (item[operation.method].parameters ?? []).map(deref);
    // Path-level parameters follow the operation's own, unless the operation redeclares them.
    for (const p of (item['parameters'] ?? []).map(deref) as Parameter[]) {
      if (!own.some((o) => o.name === p.name && o.in === p.in)) own.push(p);
    }
    return own;
  }

  function compile(operation: Operation): CompiledOperation {
    const parameters = parametersOf(operation);
    type Group = { type?: 'object'; properties?: Record<string, unknown>; required?: string[] };
    const groups: Record<'query' | 'headers' | 'params' | 'cookies', Group> = { query: {}, headers: {}, params: {}, cookies: {} };
    const queryNames = new Set<string>();
    const allowEmpty = new Set<string>();
    const reservedChecked: string[] = [];
    for (const p of parameters) {
      const field = PARAM_FIELD[p.in];
      const name = p.in === 'header' ? p.name.toLowerCase() : p.name;
      const group = groups[field];
      group.type = 'object';
      group.properties ??= {};
      group.properties[name] = p.schema ?? {};
      if (p.required) (group.required ??= []).push(name);
      if (p.in === 'query') {
        queryNames.add(name);
        if (p.allowEmptyValue) allowEmpty.add(name);
        if (!p.allowReserved) reservedChecked.push(name);
      }
    }
    const requestBody = spec.paths[operation.path][operation.method].requestBody as
      | { required?: boolean; content?: Record<string, { schema?: unknown }> }
      | undefined;
    const bodyContent = requestBody?.content ?? null;
    const bodyRequired = requestBody?.required === true;
    // EOV marks the body itself as required when the body *schema* has a `required` list (it reads
    // `schema.required`, not `requestBody.required`); only a request with no parsed body notices.
    const schemaRequires = (schema: any): boolean => {
      const resolved = schema?.$ref ? spec.components?.schemas?.[String(schema.$ref).replace(/^.+\//, '')] : schema;
      return Boolean(resolved?.required);
    };
    const generalSchema = {
      paths: spec.paths,
      components: spec.components,
      required: ['query', 'headers', 'params'],
      properties: { ...groups, body: {} },
    };
    const bodyValidators = new Map<string, ValidateFunction>();
    const bodySchemaFor = (schema: unknown) => ({
      paths: spec.paths,
      components: spec.components,
      properties: { query: {}, headers: {}, params: {}, cookies: {}, body: schema ?? {} },
      ...(schemaRequires(schema) ? { required: ['body'] } : {}),
    });
    for (const [type, content] of Object.entries(bodyContent ?? {})) {
      bodyValidators.set(type.toLowerCase(), body.compile(bodySchemaFor(content.schema)));
    }
    bodyValidators.set('', body.compile(bodySchemaFor({})));
    return {
      queryNames,
      allowEmpty,
      reservedChecked,
      bodyContent,
      bodyRequired,
      general: general.compile(generalSchema),
      body: bodyValidators,
    };
  }

  return {
    validate(operation, request) {
      const key = `${operation.method} ${operation.path}`;
      let op = compiled.get(key);
      if (!op) compiled.set(key, (op = compile(operation)));

      // 1. The body's media type (EOV's BodySchemaParser).
      let bodyValidator = op.body.get('')!;
      if (op.bodyContent) {
        const mediaType = mediaTypeOf(request.contentType);
        const declared = mediaType ? op.body.get(mediaType) : undefined;
        if (declared) bodyValidator = declared;
        else if (mediaType !== null || op.bodyRequired) {
          throw new ValidatorError(415, mediaType === null ? 'media type not specified' : `unsupported media type ${mediaType}`);
        }
      }

      // 2. Bracketed names.
      expandBracketNames(request.query, op.queryNames);

      // 3. Reserved characters in the raw query.
      const pairs = rawPairs(request.rawQuery);
      for (const name of op.reservedChecked) {
        for (const value of pairs.get(name) ?? []) {
          if (value !== undefined && RESERVED_CHARS.test(value)) {
            const message = `Parameter '${name}' must be url encoded. Its value may not contain reserved characters.`;
            throw new ValidatorError(400, message, [{ path: `/query/${name}`, message }]);
          }
        }
      }

      // 4. Unknown and empty query parameters.
      for (const [name, value] of Object.entries(request.query)) {
        if (!op.queryNames.has(name)) {
          const message = `Unknown query parameter '${name}'`;
          throw new ValidatorError(400, message, [{ path: `/query/${name}`, message }]);
        }
        if (!op.allowEmpty.has(name) && value === '') {
          const message = `Empty value found for query parameter '${name}'`;
          throw new ValidatorError(400, message, [{ path: `/query/${name}`, message }]);
        }
      }

      // 5. The schemas.
      const data = { query: request.query, headers: request.headers, params: request.params, cookies: undefined, body: request.body };
      const validGeneral = op.general(data);
      const validBody = bodyValidator(data);
      if (validGeneral && validBody) return;
      const errors = toValidatorErrors([...(op.general.errors ?? []), ...(bodyValidator.errors ?? [])]);
      throw new ValidatorError(400, errors.map((e) => `${e.path} ${e.message}`).join(', '), errors);
    },
  };
}
