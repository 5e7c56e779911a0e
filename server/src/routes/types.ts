/** What a route handler sees and returns: validated input in, a typed response out. */
import type { RequestContext } from '../domain/access.ts';
import type { PageRequest } from '../domain/model.ts';
import type { OperationId } from '../../../sdk/src/gen/operations.gen.ts';

export type { OperationId };

export interface HandlerInput {
  ctx: RequestContext;
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: any;
}

export interface HandlerResult {
  status: number;
  body?: unknown;
  /** Instead of `body`: the body already as JSON text, when the handler has that cheaper. */
  json?: string;
  headers?: Record<string, string>;
}

/**
 * A handler answers with a promise when it needs the store, and may answer at once when all it
 * needs is cached: a promise and a microtask turn less on the busiest routes (verify, key reads,
 * /v1/me), ~1 µs of a ~17 µs verify (docs/decisions/0007-fast-path.md).
 */
export type Handler = (input: HandlerInput) => HandlerResult | Promise<HandlerResult>;

/** Answers from `cached` at once when there is one, else once `load` has it. */
export function answerFrom<T>(cached: T | null, load: () => Promise<T>, answer: (value: T) => HandlerResult): HandlerResult | Promise<HandlerResult> {
  return cached !== null ? answer(cached) : load().then(answer);
}

/** Handlers keyed by operationId; createApp refuses to start when one is missing. */
export type Handlers = Record<string, Handler>;

/**
 * A group of handlers whose keys must be operationIds of openapi.yaml (from the generated
 * operation table): a typo, or an operation removed from the spec, is a compile error.
 */
export function defineHandlers<const H extends { [K in keyof H]: K extends OperationId ? Handler : never }>(handlers: H): H {
  return handlers;
}

/** The JSON text a result answers with, or undefined for an answer without a body. */
export function resultJson(result: HandlerResult): string | undefined {
  return result.json ?? (result.body === undefined ? undefined : JSON.stringify(result.body));
}

export const ok = (body: unknown): HandlerResult => ({ status: 200, body });
export const created = (body: unknown, headers?: Record<string, string>): HandlerResult => ({ status: 201, body, ...(headers ? { headers } : {}) });
export const noContent = (): HandlerResult => ({ status: 204 });

/** Responses that carry a secret must never be cached. */
export const SECRET_HEADERS = { 'Cache-Control': 'no-store' };

/** `limit` and `cursor` (already validated against the spec). */
export function pageRequest(query: Record<string, unknown>): PageRequest {
  const limit = query['limit'] === undefined ? 20 : Number(query['limit']);
  const cursor = typeof query['cursor'] === 'string' ? query['cursor'] : undefined;
  return { limit, cursor };
}

export function mapPage<T, U>(page: { data: T[]; next_cursor: string | null }, f: (item: T) => U) {
  return { data: page.data.map(f), next_cursor: page.next_cursor };
}
