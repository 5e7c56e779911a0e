/**
 * What our patch of express-openapi-validator (patches/express-openapi-validator+*.patch, see
 * docs/decisions/0007-fast-path.md) must keep and what it must change:
 * - route lookup: same 404 / 405 (with Allow) / path parameters / malformed-URI 400 / first match
 *   as before, and Express's strict and case-sensitive routing settings still honoured; but path
 *   matchers compiled once per setting, not once per route per request, and a path without
 *   parameters found by name where that gives the route the scan in order would (and its schemas
 *   looked up once per method);
 * - no security middleware when security validation is off (it could only call next());
 * - once the spec is loaded, no promise hop between the validator's middlewares: the route runs
 *   in the same tick as the request, and a validation error still reaches the error handler;
 * - the query string is still validated (the URL is parsed only when it has a '?');
 * - request validation builds per route what does not change between requests (its parameter
 *   mutator, dereferenced parameters, known query parameters) and parses each distinct
 *   Content-Type header once per route, and still validates parameters, the query and bodies the same way;
 *   its validators are compiled per route and body schema, not per Content-Type header (a header
 *   a client makes up cost a compile);
 * - a route whose only parameters are plain path parameters, requested without a query string,
 *   skips the query handling (the parameter mutator) and still has its path parameters and body
 *   validated; anything invalid gets the same error; a route with a query parameter does not skip.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

const ok = { '200': { description: 'ok', content: { 'application/json': { schema: { type: 'object' } } } } };
const spec = {
  openapi: '3.1.0',
  info: { title: 'patch test', version: '1' },
  paths: {
    '/items': {
      get: {
        parameters: [{ name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1 } }],
        responses: ok,
      },
    },
    // A literal path next to a templated one: the literal must win, as in the unpatched lookup.
    '/items/special': { post: { responses: ok } },
    '/things': {
      post: {
        parameters: [{ $ref: '#/components/parameters/Dry' }],
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } } } },
        },
        responses: ok,
      },
    },
    // No parameters at all: the route the query handling can be skipped for.
    '/notes': {
      post: {
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { type: 'object', required: ['text'], properties: { text: { type: 'string', maxLength: 5 } }, additionalProperties: false } } },
        },
        responses: ok,
      },
    },
    '/items/{id}': {
      get: {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^it_[a-z0-9é ]+$' } }],
        responses: ok,
      },
      delete: { parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: ok },
    },
  },
  components: { parameters: { Dry: { name: 'dry', in: 'query', schema: { type: 'boolean' } } } },
};

/** path-to-regexp as the validator loads it, so its calls can be counted. */
const validatorRequire = createRequire(createRequire(import.meta.url).resolve('express-openapi-validator'));
const pathToRegexpModule = validatorRequire('path-to-regexp') as { pathToRegexp: (...args: unknown[]) => unknown };
/** The validator's parameter and content-type helpers, so their calls can be counted too. */
const parserUtil = validatorRequire('./middlewares/parsers/util.js') as { dereferenceParameter: (...args: unknown[]) => unknown };
const middlewareUtil = validatorRequire('./middlewares/util.js') as {
  ContentType: { from: (...args: unknown[]) => unknown };
  useAjvCache: (...args: unknown[]) => unknown;
};
const mutatorModule = validatorRequire('./middlewares/parsers/req.parameter.mutator.js') as {
  RequestParameterMutator: { prototype: { modifyRequest: (...args: unknown[]) => unknown } };
};

/** Counts calls to `object[name]` while `run` runs. */
async function counting<T extends object>(object: T, name: keyof T & string, run: () => Promise<void>): Promise<number> {
  const original = object[name] as (...args: unknown[]) => unknown;
  let calls = 0;
  (object as Record<string, unknown>)[name] = function (this: unknown, ...args: unknown[]) {
    calls++;
    return original.apply(this, args);
  };
  try {
    await run();
  } finally {
    (object as Record<string, unknown>)[name] = original;
  }
  return calls;
}

interface Running {
  url: string;
  close: () => Promise<void>;
  app: express.Express;
  seen: { params: Record<string, string>; sameTick: boolean }[];
}

let running: Running | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function start(settings: Record<string, boolean> = {}, apiSpec: object = spec): Promise<Running> {
  const app = express();
  for (const [name, value] of Object.entries(settings)) app.set(name, value);
  const seen: Running['seen'] = [];
  app.use((_req: Request, res: Response, next: NextFunction) => {
    // Set when the microtask queue next drains: still false in the route if nothing in between
    // waited for a promise.
    res.locals['tickEnded'] = false;
    queueMicrotask(() => (res.locals['tickEnded'] = true));
    next();
  });
  app.use(express.json());
  app.use(OpenApiValidator.middleware({ apiSpec: structuredClone(apiSpec) as any, validateRequests: true, validateSecurity: false, fileUploader: false }));
  const handler = (req: Request, res: Response) => {
    seen.push({ params: { ...(req.params as Record<string, string>) }, sameTick: res.locals['tickEnded'] === false });
    res.json({});
  };
  app.get('/items', handler);
  app.get('/Items', handler);
  app.post('/items', handler);
  app.post('/items/special', handler);
  app.post('/things', handler);
  app.post('/notes', handler);
  app.get('/items/:id', handler);
  app.delete('/items/:id', handler);
  app.use((err: { status?: number; message?: string; headers?: Record<string, string> }, _req: Request, res: Response, _next: NextFunction) => {
    res.status(err.status ?? 500).set(err.headers ?? {}).json({ message: err.message });
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, app, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function call(
  path: string,
  method = 'GET',
  body?: { type: string; text: string },
): Promise<{ status: number; allow: string | null; body: { message?: string } }> {
  const res = await fetch(`${running!.url}${path}`, { method, ...(body ? { headers: { 'content-type': body.type }, body: body.text } : {}) });
  const text = await res.text();
  return { status: res.status, allow: res.headers.get('allow'), body: text.startsWith('{') ? (JSON.parse(text) as { message?: string }) : { message: text } };
}

describe('route lookup with compiled matchers', () => {
  it('answers 404 for an unknown path and 405 with Allow for a known path and another method', async () => {
    running = await start();
    expect((await call('/nothing')).status).toBe(404);
    expect((await call('/items/it_1/extra')).status).toBe(404);
    const wrong = await call('/items/it_1', 'PUT');
    expect(wrong.status).toBe(405);
    expect(wrong.allow?.split(', ').sort()).toEqual(['DELETE', 'GET']);
    const literal = await call('/items/special');
    expect(literal.status).toBe(405); // the literal path matched, not GET /items/{id} with id "special"
    expect(literal.allow).toBe('POST');
  });

  it('decodes and validates path parameters, and refuses a malformed escape with 400', async () => {
    running = await start();
    expect((await call('/items/it_caf%C3%A9%201')).status).toBe(200);
    expect(running.seen.at(-1)!.params).toEqual({ id: 'it_café 1' });
    const invalid = await call('/items/nope');
    expect(invalid.status).toBe(400);
    expect(invalid.body.message).toContain('pattern');
    expect((await call('/items/it_%E0%A4%A')).status).toBe(400);
  });

  it("honours the app's strict and case-sensitive routing settings", async () => {
    running = await start();
    expect((await call('/items/')).status).toBe(200);
    expect((await call('/ITEMS')).status).toBe(200);
    await running.close();
    running = await start({ 'strict routing': true, 'case sensitive routing': true });
    expect((await call('/items')).status).toBe(200);
    expect((await call('/items/')).status).toBe(404);
    expect((await call('/ITEMS')).status).toBe(404);
  });

  it('finds a path without parameters by name only where the scan would find the same route first', async () => {
    // Routes are tried in order ('/Items' sorts before '/items'); without case-sensitive routing
    // '/Items' matches the path /items too, so the scan returns it, and so must the lookup by name.
    const shadowed = { ...spec, paths: { '/Items': { get: { responses: ok } }, '/items': { post: { responses: ok } } } };
    running = await start({}, shadowed);
    expect((await call('/items')).status).toBe(200); // GET /Items, matched case-insensitively
    const post = await call('/items', 'POST');
    expect(post.status).toBe(405); // /Items first, and it has no POST
    expect(post.allow).toBe('GET');
    await running.close();
    running = await start({ 'case sensitive routing': true }, shadowed);
    expect((await call('/items', 'POST')).status).toBe(200);
    expect((await call('/items')).status).toBe(405);
    expect((await call('/Items')).status).toBe(200);
  });

  it('keeps the schemas of a path found by name per method', async () => {
    running = await start();
    // /items/special has only POST: each method keeps its own answer, whichever came first.
    for (let i = 0; i < 2; i++) {
      expect((await call('/items/special', 'POST')).status).toBe(200);
      const get = await call('/items/special');
      expect(get.status).toBe(405);
      expect(get.allow).toBe('POST');
      expect((await call('/items?limit=0')).status).toBe(400); // GET /items: its query still validated
    }
    expect(running.seen.map((s) => s.params)).toEqual([{}, {}]);
  });

  it('compiles the path matchers once, not on every request', async () => {
    running = await start();
    await call('/items'); // the first request loads the spec and compiles
    const original = pathToRegexpModule.pathToRegexp;
    let calls = 0;
    pathToRegexpModule.pathToRegexp = (...args: unknown[]) => {
      calls++;
      return original(...args);
    };
    try {
      for (const path of ['/items', '/items/it_1', '/items/it_2', '/nothing']) expect([200, 404]).toContain((await call(path)).status);
    } finally {
      pathToRegexpModule.pathToRegexp = original;
    }
    // Unpatched, every lookup compiles the routes in order until one matches: 10 calls here.
    expect(calls).toBe(0);
  });
});

describe('middlewares once the spec is loaded', () => {
  it('reach the route in the same tick as the request, without a promise hop', async () => {
    running = await start();
    await call('/items/it_1'); // the first request may have to wait for the spec to load
    await call('/items/it_2');
    await call('/items?limit=2');
    expect(running.seen.slice(1).map((s) => s.sameTick)).toEqual([true, true]);
  });

  it('still send validation errors to the error handler, and still validate the query string', async () => {
    running = await start();
    await call('/items');
    const bad = await call('/items?limit=0');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('limit');
    expect((await call('/items?unknown=1')).status).toBe(400);
    expect((await call('/items?limit=2')).status).toBe(200);
  });
});

describe('the security middleware', () => {
  const secured = {
    ...spec,
    security: [{ key: [] }],
    components: { ...spec.components, securitySchemes: { key: { type: 'apiKey', in: 'header', name: 'x-key' } } },
  };
  const options = (validateSecurity: boolean) => ({ apiSpec: structuredClone(secured) as any, validateSecurity, fileUploader: false as const });

  it('is not installed when security validation is off (it could only call next)', () => {
    expect(OpenApiValidator.middleware(options(true)).length - OpenApiValidator.middleware(options(false)).length).toBe(1);
  });

  it('still checks security when it is on', async () => {
    const app = express();
    app.use(OpenApiValidator.middleware(options(true)));
    app.get('/items', (_req: Request, res: Response) => void res.json({}));
    app.use((err: { status?: number }, _req: Request, res: Response, _next: NextFunction) => void res.status(err.status ?? 500).json({}));
    const server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/items`;
    try {
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(url, { headers: { 'x-key': 'k' } })).status).toBe(200);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('request validation, built once per route', () => {
  const json = (text: string, type = 'application/json') => ({ type, text });

  it('dereferences parameters and parses each Content-Type once, not on every request', async () => {
    running = await start();
    // First requests of each route and content type build what they need.
    await call('/items/it_1');
    await call('/things?dry=true', 'POST', json('{"name":"a"}'));
    await call('/things?dry=true', 'POST', json('{"name":"a"}', 'application/json; charset=utf-8'));
    const requests = async () => {
      for (let i = 0; i < 3; i++) {
        expect((await call(`/items/it_${i}`)).status).toBe(200);
        expect((await call('/things?dry=true', 'POST', json('{"name":"b"}'))).status).toBe(200);
        expect((await call('/things', 'POST', json('{"name":"c"}', 'application/json; charset=utf-8'))).status).toBe(200);
      }
    };
    // Unpatched: one dereference per parameter per request, one Content-Type parse per request.
    expect(await counting(parserUtil, 'dereferenceParameter', requests)).toBe(0);
    expect(await counting(middlewareUtil.ContentType, 'from', requests)).toBe(0);
  });

  it('still validates parameters, the query and the body on every request, whatever came before', async () => {
    running = await start();
    for (let i = 0; i < 2; i++) {
      expect((await call('/items/nope')).status).toBe(400);
      expect((await call('/items/it_1')).status).toBe(200);
      expect((await call('/things?dry=maybe', 'POST', json('{"name":"a"}'))).status).toBe(400);
      expect((await call('/things?other=1', 'POST', json('{"name":"a"}'))).body.message).toContain("Unknown query parameter 'other'");
      expect((await call('/things?dry=', 'POST', json('{"name":"a"}'))).body.message).toContain("Empty value found for query parameter 'dry'");
      expect((await call('/things', 'POST', json('{"name":""}'))).status).toBe(400);
      expect((await call('/things', 'POST', json('{"name":""}', 'application/json; charset=utf-8'))).status).toBe(400);
      expect((await call('/things', 'POST', { type: 'text/plain', text: 'name' })).status).toBe(415);
      expect((await call('/things', 'POST', json('{"name":"a"}'))).status).toBe(200);
    }
  });

  it('skips the query handling for a route with no parameters but plain path ones and no query string, and still validates', async () => {
    running = await start();
    await call('/notes', 'POST', json('{"text":"a"}'));
    await call('/items/it_0');
    await call('/things', 'POST', json('{"name":"a"}'));
    const plain = async () => {
      for (let i = 0; i < 3; i++) {
        expect((await call('/notes', 'POST', json('{"text":"ab"}'))).status).toBe(200);
        expect((await call(`/items/it_${i}%20x`)).status).toBe(200);
        expect(running!.seen.at(-1)!.params).toEqual({ id: `it_${i} x` });
      }
    };
    expect(await counting(mutatorModule.RequestParameterMutator.prototype, 'modifyRequest', plain)).toBe(0);
    // A route with a query parameter keeps the full path, with or without a query string.
    const withQueryParameter = async () => {
      expect((await call('/things', 'POST', json('{"name":"a"}'))).status).toBe(200);
    };
    expect(await counting(mutatorModule.RequestParameterMutator.prototype, 'modifyRequest', withQueryParameter)).toBe(1);

    // Anything invalid answers as before (through the full path).
    let answers: { status: number; body: { message?: string } }[] = [];
    const invalid = async () => {
      answers = [
        await call('/notes', 'POST', json('{"text":"too long"}')),
        await call('/notes', 'POST', json('{"text":"a","extra":1}')),
        await call('/notes', 'POST', json('{}')),
        await call('/notes?text=a', 'POST', json('{"text":"a"}')),
        await call('/notes', 'POST', { type: 'text/plain', text: 'a' }),
        await call('/items/nope'),
      ];
    };
    expect(await counting(mutatorModule.RequestParameterMutator.prototype, 'modifyRequest', invalid)).toBe(5);
    expect(answers.map((a) => a.status)).toEqual([400, 400, 400, 400, 415, 400]);
    expect(answers[5]!.body.message).toContain('pattern');
    expect(answers[0]!.body.message).toContain('must NOT have more than 5 characters');
    expect(answers[1]!.body.message).toContain('must NOT have additional properties');
    expect(answers[2]!.body.message).toContain("must have required property 'text'");
    expect(answers[3]!.body.message).toContain("Unknown query parameter 'text'");
  });
});

describe('request validators per body schema, not per Content-Type header', () => {
  it('compiles nothing more for the parameters or spellings a client adds to a Content-Type', async () => {
    running = await start();
    const things = (type: string, text = '{"name":"x"}') => call('/things', 'POST', { type, text });
    expect((await things('application/json')).status).toBe(200);
    const compiles = await counting(middlewareUtil, 'useAjvCache', async () => {
      for (let i = 0; i < 20; i++) expect((await things(`application/json; x=${i}`)).status).toBe(200);
      expect((await things('Application/JSON; charset=utf-8')).status).toBe(200);
    });
    // Unpatched, each of those 21 headers compiled the route's two validators again, kept for good.
    expect(compiles).toBe(0);
    // Still validated the same way, and an unsupported media type still refused.
    expect((await things('application/json; x=99', '{"name":""}')).status).toBe(400);
    expect((await things('text/plain', 'name')).status).toBe(415);
  });
});
