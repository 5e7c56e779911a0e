/**
 * http/json-body.ts reads the usual JSON request itself and hands the rest to body-parser: for
 * every request here, raw bytes on a real socket, the outcome (req.body, or the error's status and
 * body-parser type) must be what express.json() gives, and the fast path must be the one taken
 * where the module says it is.
 */
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonBody, readsDirectly } from '../../server/src/http/json-body.ts';

const LIMIT = 1024;

interface Outcome {
  status: number;
  body?: unknown;
  hasBody?: boolean;
  type?: string;
}

/** An app answering with what the parser left: the parsed body, or the error it passed on. */
function echo(parser: RequestHandler): express.Express {
  const app = express();
  app.use(parser);
  app.all('/{*rest}', (req: Request, res: Response) => {
    res.json({ status: 200, body: req.body ?? null, hasBody: req.body !== undefined } satisfies Outcome);
  });
  app.use((err: { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    res.status(200).json({ status: err.status ?? 500, type: err.type ?? 'none' } satisfies Outcome);
  });
  return app;
}

const servers: Server[] = [];
let fast: number;
let reference: number;

async function listen(app: express.Express): Promise<number> {
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  fast = await listen(echo(jsonBody({ limit: LIMIT })));
  reference = await listen(echo(express.json({ limit: LIMIT })));
});
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

/** Sends a request as raw bytes and gives back the outcome the echo app reports. */
function send(port: number, head: string[], body: Buffer | string = ''): Promise<Outcome> {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(Buffer.concat([Buffer.from([...head, 'Host: 127.0.0.1', 'Connection: close', '', ''].join('\r\n')), bytes]));
    });
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => (answer += d));
    socket.on('error', reject);
    socket.on('end', () => {
      const [status, ...rest] = answer.split('\r\n\r\n');
      const text = rest.join('\r\n\r\n');
      if (!status?.startsWith('HTTP/1.1 200')) return reject(new Error(`unexpected answer: ${answer}`));
      resolve(JSON.parse(text) as Outcome);
    });
  });
}

const post = (type: string | null, body: Buffer | string, extra: string[] = []): [string[], Buffer | string] => {
  const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  return [['POST /x HTTP/1.1', ...(type === null ? [] : [`Content-Type: ${type}`]), `Content-Length: ${length}`, ...extra], body];
};
const chunked = (type: string, body: string): [string[], string] => [
  ['POST /x HTTP/1.1', `Content-Type: ${type}`, 'Transfer-Encoding: chunked'],
  `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`,
];

/** The header lines of a raw request as Node would hand them over (names in lower case). */
const headersOf = (head: string[]): IncomingHttpHeaders =>
  Object.fromEntries(head.slice(1).map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));

const JSON_TYPE = 'application/json';
const UTF8 = 'application/json; charset=utf-8';

/** [name, request, who reads it in http/json-body.ts: the module itself or body-parser] */
const cases: [string, [string[], Buffer | string], 'direct' | 'body-parser'][] = [
  ['an object', post(JSON_TYPE, '{"secret":"hey_x","scopes":["a"]}'), 'direct'],
  ['an object, charset=utf-8', post(UTF8, '{"a":1}'), 'direct'],
  ['an array', post(JSON_TYPE, '[1,2,3]'), 'direct'],
  ['leading whitespace', post(JSON_TYPE, ' \t\r\n{"a":1}'), 'direct'],
  ['an empty body', post(JSON_TYPE, ''), 'direct'],
  ['only whitespace', post(JSON_TYPE, '   '), 'direct'],
  ['a top-level string (strict)', post(JSON_TYPE, '"text"'), 'direct'],
  ['a top-level number after spaces (strict)', post(JSON_TYPE, '  42'), 'direct'],
  ['a top-level null (strict)', post(JSON_TYPE, 'null'), 'direct'],
  ['broken JSON', post(JSON_TYPE, '{"a":'), 'direct'],
  ['trailing garbage', post(JSON_TYPE, '{"a":1}x'), 'direct'],
  ['a UTF-8 BOM', post(JSON_TYPE, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":"b"}')])), 'direct'],
  ['multi-byte characters', post(JSON_TYPE, '{"name":"Zoë ☃ 𝄞"}'), 'direct'],
  ['invalid UTF-8 inside a string', post(JSON_TYPE, Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')])), 'direct'],
  ['__proto__ as a key', post(JSON_TYPE, '{"__proto__":{"polluted":true}}'), 'direct'],
  ['exactly the limit', post(JSON_TYPE, `{"a":"${'x'.repeat(LIMIT - 8)}"}`), 'direct'],
  ['one byte over the limit', post(JSON_TYPE, `{"a":"${'x'.repeat(LIMIT - 7)}"}`), 'body-parser'],
  ['a GET with a JSON body', [['GET /x HTTP/1.1', `Content-Type: ${JSON_TYPE}`, 'Content-Length: 7'], '{"a":1}'], 'direct'],
  ['no body at all', [['POST /x HTTP/1.1'], ''], 'body-parser'],
  ['no Content-Type', post(null, '{"a":1}'), 'body-parser'],
  ['text/plain', post('text/plain', '{"a":1}'), 'body-parser'],
  ['upper-case type', post('Application/JSON', '{"a":1}'), 'body-parser'],
  ['charset=UTF-8 spelled in capitals', post('application/json; charset=UTF-8', '{"a":1}'), 'body-parser'],
  ['charset=utf-16', post('application/json; charset=utf-16', '{"a":1}'), 'body-parser'],
  ['charset=latin1', post('application/json; charset=latin1', '{"a":1}'), 'body-parser'],
  ['application/merge-patch+json', post('application/merge-patch+json', '{"a":1}'), 'body-parser'],
  ['gzip', post(JSON_TYPE, gzipSync('{"a":"zipped"}'), ['Content-Encoding: gzip']), 'body-parser'],
  ['an unknown encoding', post(JSON_TYPE, '{"a":1}', ['Content-Encoding: snappy']), 'body-parser'],
  ['chunked', chunked(JSON_TYPE, '{"a":"chunked"}'), 'body-parser'],
];

describe('the JSON body reader answers as express.json() does', () => {
  it.each(cases)('%s', async (_name, [head, body], reader) => {
    const [mine, theirs] = await Promise.all([send(fast, head, body), send(reference, head, body)]);
    expect(mine).toEqual(theirs);
    expect(readsDirectly(headersOf(head), LIMIT) ? 'direct' : 'body-parser').toBe(reader);
  });

  it('the cases above exercise both paths and each outcome', async () => {
    const outcomes = await Promise.all(cases.map(([, [head, body]]) => send(reference, head, body)));
    const kinds = new Set(outcomes.map((o) => (o.status === 200 ? (o.hasBody ? 'parsed' : 'none') : `${o.status} ${o.type}`)));
    expect([...kinds].sort()).toEqual(['400 entity.parse.failed', '413 entity.too.large', '415 charset.unsupported', '415 encoding.unsupported', 'none', 'parsed']);
  });
});

describe('an aborted request', () => {
  it('ends with body-parser’s request.aborted error on both, and nothing is parsed', async () => {
    for (const parser of [jsonBody({ limit: LIMIT }), express.json({ limit: LIMIT })]) {
      const errors: Outcome[] = [];
      const app = express();
      app.use(parser);
      app.use((_req: Request, res: Response) => res.end());
      const done = new Promise<void>((resolve) => {
        app.use((err: { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
          errors.push({ status: err.status ?? 500, ...(err.type === undefined ? {} : { type: err.type }) });
          res.end();
          resolve();
        });
      });
      const port = await listen(app);
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(['POST /x HTTP/1.1', 'Host: 127.0.0.1', `Content-Type: ${JSON_TYPE}`, 'Content-Length: 100', '', '{"a":'].join('\r\n'));
        setTimeout(() => socket.destroy(), 50);
      });
      socket.on('error', () => {});
      await done;
      expect(errors).toEqual([{ status: 400, type: 'request.aborted' }]);
    }
  });
});
