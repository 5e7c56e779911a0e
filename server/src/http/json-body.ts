/**
 * The JSON request body: `express.json()` (body-parser) semantics, with the usual request read
 * directly. Nearly every request with a body here carries `Content-Type: application/json` (with
 * or without `; charset=utf-8`), a Content-Length within the limit and no Content-Encoding; for
 * those, body-parser's general machinery (content type parsed twice, charset lookup and decoder,
 * raw-body's async-resource bookkeeping and listeners, debug calls) cost ~3-5 µs of a ~23 µs
 * verify (`npm run bench:in-process verify`, docs/decisions/0007-fast-path.md). Everything else
 * (other spellings of the type, other charsets, compressed or chunked bodies, bodies over the
 * limit, a stream already read) goes to body-parser itself, so its answers stay the reference.
 *
 * What the fast path keeps of body-parser's: a UTF-8 BOM is dropped; an empty body is `{}`;
 * strict mode (only an object or an array at the top); a parse failure is its
 * `entity.parse.failed` 400, an aborted request its `request.aborted` 400.
 * test/http/json-body.test.ts sends the same raw requests to both and compares.
 */
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { IncomingHttpHeaders } from 'node:http';

const FAST_TYPES = new Set(['application/json', 'application/json; charset=utf-8']);

/** An error the way body-parser (http-errors) shapes it: the problem mapping reads `type`. */
function bodyError(status: number, type: string, message: string, cause?: unknown): Error {
  return Object.assign(new Error(message, cause === undefined ? {} : { cause }), { status, statusCode: status, expose: true, type });
}

/** body-parser's JSON parse in strict mode, over text already decoded. */
function parseStrict(text: string): unknown {
  if (text.length === 0) return {};
  const c = text.charCodeAt(0);
  if (c !== 0x7b && c !== 0x5b) {
    const first = /^[\x20\x09\x0a\x0d]*(.|$)/s.exec(text)![1];
    if (first !== '{' && first !== '[') throw bodyError(400, 'entity.parse.failed', 'Only an object or an array is accepted at the top of a JSON body');
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw bodyError(400, 'entity.parse.failed', (error as Error).message, error);
  }
}

/** Whether a request with these headers is read here rather than by body-parser. */
export function readsDirectly(headers: IncomingHttpHeaders, limit: number): boolean {
  const length = headers['content-length'];
  const type = headers['content-type'];
  return (
    length !== undefined &&
    type !== undefined &&
    FAST_TYPES.has(type) &&
    headers['transfer-encoding'] === undefined &&
    headers['content-encoding'] === undefined &&
    Number(length) <= limit
  );
}

export function jsonBody(options: { limit: number }): RequestHandler {
  const general = express.json({ limit: options.limit });
  return (req: Request, res: Response, next: NextFunction): void => {
    // A stream something already read from is body-parser's to judge too.
    if (!readsDirectly(req.headers, options.limit) || !req.readable || req.readableDidRead) {
      general(req, res, next);
      return;
    }
    const expected = Number(req.headers['content-length']);
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const settle = (error?: unknown): void => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      next(error);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      received += chunk.length;
    };
    const onEnd = (): void => {
      if (received !== expected) return settle(bodyError(400, 'request.size.invalid', 'request size did not match content length'));
      let text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, received).toString('utf8');
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      try {
        req.body = parseStrict(text);
      } catch (error) {
        return settle(error);
      }
      // The stream has ended: nothing more comes, so its listeners stay (each returns at once
      // now) rather than being looked up and removed one by one on every request.
      settled = true;
      next();
    };
    const onError = (error: Error): void => settle(bodyError(400, 'request.aborted', 'request aborted', error));
    const onClose = (): void => {
      if (!req.complete) settle(bodyError(400, 'request.aborted', 'request aborted'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  };
}
