/**
 * Writes a handler's JSON answer with the bytes and headers Express's `res.json` would write
 * (Content-Type `application/json; charset=utf-8`, Content-Length), without its machinery:
 * content-type parsing and formatting twice, charset negotiation, ETag and freshness checks (ETag
 * is off here). That machinery cost ~3 µs a response, about a tenth of an authenticated
 * `GET /v1/me` (docs/decisions/0007-fast-path.md). HEAD never gets here: no operation is a HEAD.
 *
 * The headers go to `writeHead` as one list, request id first: a header set with `setHeader`
 * is lower-cased and kept in a dictionary of [name, value] pairs, then read back when the head is
 * written (~0.4-0.8 µs for three of them here). So the pipeline does not set `X-Request-Id` when
 * the request comes in; every way out adds it (`withRequestId`): this answer, and the problem
 * answers (http/problem.ts).
 *
 * Response validation wraps `res.json` (express-openapi-validator's only hook), so with it on the
 * app answers through `res.json` instead; test/http/respond.test.ts holds both ways to the same bytes.
 */
import type { Response } from 'express';

/** The id the pipeline's first middleware chose for this request. */
export function requestIdOf(res: Response): string | undefined {
  const id = res.locals['requestId'];
  return typeof id === 'string' ? id : undefined;
}

/** Sets `X-Request-Id` on an answer not yet written. */
export function withRequestId(res: Response): void {
  const id = requestIdOf(res);
  if (id !== undefined) res.setHeader('X-Request-Id', id);
}

/**
 * `payload` is the answer's JSON text (what JSON.stringify gives for the body); `headers`, the
 * handler's own (written after the request id, as `res.set` before `res.json` would).
 */
export function sendJson(res: Response, status: number, payload: string, headers?: Record<string, string>): void {
  const fields: (string | number)[] = [];
  const id = requestIdOf(res);
  if (id !== undefined) fields.push('X-Request-Id', id);
  if (headers) for (const [name, value] of Object.entries(headers)) fields.push(name, value);
  fields.push('Content-Type', 'application/json; charset=utf-8', 'Content-Length', Buffer.byteLength(payload));
  res.writeHead(status, fields as string[]);
  res.end(payload);
}
