/**
 * Writes a handler's JSON answer with the bytes and headers Express's `res.json` would write
 * (Content-Type `application/json; charset=utf-8`, Content-Length), without its machinery:
 * content-type parsing and formatting twice, charset negotiation, ETag and freshness checks (ETag
 * is off here). That machinery cost ~3 µs a response, about a tenth of an authenticated
 * `GET /v1/me` (docs/decisions/0007-fast-path.md). HEAD never gets here: no operation is a HEAD.
 *
 * Response validation wraps `res.json` (express-openapi-validator's only hook), so with it on the
 * app answers through `res.json` instead; test/http/respond.test.ts holds both ways to the same bytes.
 */
import type { Response } from 'express';

/** `payload` is the answer's JSON text (what JSON.stringify gives for the body). */
export function sendJson(res: Response, status: number, payload: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(payload));
  res.end(payload);
}
