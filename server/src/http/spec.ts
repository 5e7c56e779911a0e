/** Loads openapi.yaml from disk (Node only); the operation table itself is in core/operations.ts. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { OpenApiDocument } from './core/operations.ts';

export * from './core/operations.ts';

export const SPEC_PATH = fileURLToPath(new URL('../../../openapi.yaml', import.meta.url));

export function loadSpec(path = SPEC_PATH): OpenApiDocument {
  return parse(readFileSync(path, 'utf8')) as OpenApiDocument;
}
