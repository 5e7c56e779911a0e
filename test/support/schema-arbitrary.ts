/**
 * JSON Schema → fast-check arbitrary of VALID instances, for the subset openapi.yaml uses: `$ref`
 * to components, `type` (also as a list such as `[string, 'null']`), object properties / required /
 * additionalProperties / unevaluatedProperties / propertyNames / minProperties, allOf, oneOf,
 * `not: { required }`, enum, const, string lengths / pattern / formats, integer bounds, boolean and
 * arrays. A keyword outside that subset throws: a spec that grows a new construct must fail the
 * fuzz test loudly rather than be fuzzed with "valid" data that is not.
 */
import fc from 'fast-check';

export type Schema = Record<string, any>;

export interface SchemaArbitraryOptions {
  /** The OpenAPI document that `$ref: '#/components/schemas/…'` points into. */
  spec: Record<string, any>;
  /** Epoch ms that `format: date-time` is relative to: most instants fall in the year after it. */
  now: number;
  /**
   * Replaces the arbitrary at a schema location, given the one the schema alone would produce.
   * A location is a `$ref` target (`#/components/schemas/WorkspaceId`), optionally followed by
   * `/properties/<name>`, `/items`, `/oneOf/<i>`… as the schema is walked.
   */
  overrides?: Record<string, (generated: fc.Arbitrary<unknown>) => fc.Arbitrary<unknown>>;
}

const DAY = 86_400_000;
/** Arrays get at most this many items beyond `minItems`: enough variety, small bodies. */
const EXTRA_ITEMS = 6;

/** Keywords that only annotate: they never constrain an instance. */
const ANNOTATIONS = new Set(['description', 'title', 'examples', 'example', 'default', 'deprecated', 'readOnly', 'writeOnly']);
const SUPPORTED = new Set([
  ...ANNOTATIONS,
  '$ref', 'type', 'enum', 'const', 'oneOf', 'allOf', 'not',
  'properties', 'required', 'additionalProperties', 'unevaluatedProperties', 'propertyNames', 'minProperties',
  'minLength', 'maxLength', 'pattern', 'format',
  'minimum', 'maximum',
  'items', 'minItems', 'maxItems', 'uniqueItems',
]);
const FORMATS = new Set(['date-time', 'email', 'uri']);

/** Follows a local `$ref` such as `#/components/schemas/KeyId`. */
export function resolveRef(spec: Record<string, any>, ref: string): Schema {
  if (!ref.startsWith('#/')) throw new Error(`Only local $refs are supported, got ${ref}`);
  let node: any = spec;
  for (const part of ref.slice(2).split('/')) node = node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  if (node === undefined) throw new Error(`Unresolvable $ref ${ref}`);
  return node as Schema;
}

/** An object schema with its `allOf` members and `$ref`s folded in, each property with its location. */
export interface ObjectShape {
  properties: Map<string, { schema: Schema; location: string }>;
  required: Set<string>;
  /** Schema of properties not listed, or null when none may be added (we never add optional extras). */
  additional: { schema: Schema; location: string } | null;
  propertyNames: { schema: Schema; location: string } | null;
  minProperties: number;
  /** `not` subschemas the instance must fail; only `{ required: [...] }` is supported. */
  forbidden: Schema[];
}

export function objectShape(spec: Record<string, any>, schema: Schema, location: string): ObjectShape {
  const shape: ObjectShape = { properties: new Map(), required: new Set(), additional: null, propertyNames: null, minProperties: 0, forbidden: [] };
  const fold = (s: Schema, at: string): void => {
    if (s['$ref']) return fold(resolveRef(spec, s['$ref']), s['$ref']);
    for (const [name, sub] of Object.entries<Schema>(s['properties'] ?? {})) shape.properties.set(name, { schema: sub, location: `${at}/properties/${name}` });
    for (const name of s['required'] ?? []) shape.required.add(name);
    if (s['additionalProperties'] && typeof s['additionalProperties'] === 'object') {
      shape.additional = { schema: s['additionalProperties'], location: `${at}/additionalProperties` };
    }
    if (s['propertyNames']) shape.propertyNames = { schema: s['propertyNames'], location: `${at}/propertyNames` };
    shape.minProperties = Math.max(shape.minProperties, s['minProperties'] ?? 0);
    if (s['not']) shape.forbidden.push(s['not']);
    (s['allOf'] ?? []).forEach((member: Schema, i: number) => fold(member, `${at}/allOf/${i}`));
  };
  fold(schema, location);
  return shape;
}

export function schemaArbitrary(schema: Schema, options: SchemaArbitraryOptions, location = '#'): fc.Arbitrary<unknown> {
  const { spec, now, overrides = {} } = options;

  const build = (s: Schema, at: string): fc.Arbitrary<unknown> => {
    const generated = generate(s, at);
    const override = overrides[at];
    return override ? override(generated) : generated;
  };

  const generate = (s: Schema, at: string): fc.Arbitrary<unknown> => {
    const unsupported = Object.keys(s).filter((k) => !SUPPORTED.has(k));
    if (unsupported.length > 0) throw new Error(`${at}: unsupported schema keyword(s) ${unsupported.join(', ')}`);
    if (s['$ref']) return build(resolveRef(spec, s['$ref']), s['$ref']);
    if ('const' in s) return fc.constant(s['const']);
    if (s['enum']) return fc.constantFrom(...(s['enum'] as unknown[]));
    if (s['oneOf']) return fc.oneof(...(s['oneOf'] as Schema[]).map((branch, i) => build(branch, `${at}/oneOf/${i}`)));
    if (s['allOf'] || s['not']) return objectArbitrary(objectShape(spec, s, at));
    const type = s['type'];
    if (Array.isArray(type)) return fc.oneof(...type.map((t: string) => generate({ ...s, type: t }, at)));
    switch (type) {
      case 'null':
        return fc.constant(null);
      case 'boolean':
        return fc.boolean();
      case 'integer':
        return fc.integer({ min: s['minimum'] ?? Number.MIN_SAFE_INTEGER, max: s['maximum'] ?? Number.MAX_SAFE_INTEGER });
      case 'string':
        return stringArbitrary(s, at);
      case 'array':
        return arrayArbitrary(s, at);
      case 'object':
        return objectArbitrary(objectShape(spec, s, at));
      case undefined:
        // `{}` (e.g. an audit change's `from`): any JSON value.
        if (Object.keys(s).every((k) => ANNOTATIONS.has(k))) return fc.jsonValue({ maxDepth: 2 });
        if (s['properties'] || s['additionalProperties'] !== undefined) return objectArbitrary(objectShape(spec, s, at));
        throw new Error(`${at}: a schema without a type must be {} or an object schema`);
      default:
        throw new Error(`${at}: unsupported type ${String(type)}`);
    }
  };

  const stringArbitrary = (s: Schema, at: string): fc.Arbitrary<string> => {
    const minLength: number = s['minLength'] ?? 0;
    const maxLength: number | undefined = s['maxLength'];
    const fitsLength = (v: string) => [...v].length >= minLength && (maxLength === undefined || [...v].length <= maxLength);
    if (s['format'] !== undefined && !FORMATS.has(s['format'])) throw new Error(`${at}: unsupported format ${s['format']}`);
    if (s['format'] === 'date-time') {
      // Mostly the coming year (what a client sends as an expiry), sometimes the year before.
      const future = fc.integer({ min: now + 60_000, max: now + 365 * DAY });
      const around = fc.integer({ min: now - 365 * DAY, max: now + 365 * DAY });
      return fc.oneof({ weight: 9, arbitrary: future }, { weight: 1, arbitrary: around }).map((ms) => new Date(ms).toISOString());
    }
    if (s['format'] === 'email') return fc.emailAddress().filter(fitsLength);
    if (s['format'] === 'uri') return fc.webUrl().filter(fitsLength);
    if (s['pattern']) return fc.stringMatching(new RegExp(s['pattern']), maxLength === undefined ? {} : { maxLength }).filter(fitsLength);
    // Code points, as JSON Schema counts them: mostly printable ASCII, sometimes any Unicode.
    const lengths = { minLength, maxLength: maxLength ?? minLength + 40 };
    return fc.oneof({ weight: 3, arbitrary: fc.string({ unit: 'grapheme-ascii', ...lengths }) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', ...lengths }) });
  };

  const arrayArbitrary = (s: Schema, at: string): fc.Arbitrary<unknown[]> => {
    if (!s['items']) throw new Error(`${at}: an array schema needs items`);
    const item = build(s['items'], `${at}/items`);
    const minLength: number = s['minItems'] ?? 0;
    const maxLength = Math.min(s['maxItems'] ?? Infinity, minLength + EXTRA_ITEMS);
    return s['uniqueItems']
      ? fc.uniqueArray(item, { minLength, maxLength, selector: (v) => JSON.stringify(v) })
      : fc.array(item, { minLength, maxLength });
  };

  const objectArbitrary = (shape: ObjectShape): fc.Arbitrary<Record<string, unknown>> => {
    const required = [...shape.required];
    const optional = [...shape.properties.keys()].filter((name) => !shape.required.has(name));
    for (const name of required) if (!shape.properties.has(name) && !shape.additional) throw new Error(`required property ${name} has no schema`);
    // Built once: building arbitraries inside `chain` would redo it for every generated value.
    const model = Object.fromEntries(
      [...required, ...optional].map((name) => {
        const property = shape.properties.get(name) ?? shape.additional!;
        return [name, build(property.schema, property.location)];
      }),
    );
    const fixed = fc
      .subarray(optional, { minLength: Math.min(optional.length, Math.max(0, shape.minProperties - required.length)) })
      .chain((chosen) => fc.record(Object.fromEntries([...required, ...chosen].map((name) => [name, model[name]!]))));
    const extra: fc.Arbitrary<Record<string, unknown>> = shape.additional
      ? fc.dictionary(
          shape.propertyNames ? (build(shape.propertyNames.schema, shape.propertyNames.location) as fc.Arbitrary<string>) : fc.string({ minLength: 1, maxLength: 20 }),
          build(shape.additional.schema, shape.additional.location),
          { minKeys: Math.max(0, shape.minProperties - required.length), maxKeys: EXTRA_ITEMS },
        )
      : fc.constant({});
    const forbidden = shape.forbidden.map(forbiddenPredicate);
    return fc
      .tuple(extra, fixed)
      .map(([more, value]) => ({ ...withoutKeys(more, shape.properties), ...value }))
      .filter((value) => forbidden.every((matches) => !matches(value)));
  };

  return build(schema, location);
}

function withoutKeys(value: Record<string, unknown>, known: Map<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([k]) => !known.has(k)));
}

/** `not: { required: [a, b] }` — the only `not` the spec uses: "not both a and b". */
function forbiddenPredicate(not: Schema): (value: Record<string, unknown>) => boolean {
  const keys = Object.keys(not);
  if (keys.length !== 1 || !Array.isArray(not['required'])) throw new Error(`Only not: { required: [...] } is supported, got ${JSON.stringify(not)}`);
  const names: string[] = not['required'];
  return (value) => names.every((name) => Object.hasOwn(value, name));
}
