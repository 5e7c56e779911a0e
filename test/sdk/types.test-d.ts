/**
 * Type-level tests of the SDK, checked by `npm run typecheck` (tsc over test/). Nothing here runs:
 * an `expectTypeOf` that does not hold, or a `@ts-expect-error` line that compiles, fails the build.
 */
import { expectTypeOf } from 'vitest';
import type * as generatedSdk from '../../sdk/src/gen/hey-api/sdk.gen.ts';
import type { operations, OperationTypes } from '../../sdk/src/gen/operations.gen.ts';
import {
  createHeyKeysClient,
  HeyKeysProblemError,
  paginate,
  type ApiKey,
  type ApiKeyWithSecret,
  type HeyKeysClient,
  type HeyKeysProblem,
  type Me,
  type OperationId,
  type OperationProblem,
  type Problem,
  type Tag,
  type UsageEntry,
} from '../../sdk/src/index.ts';
import { createHeyKeysFetchClient } from '../../sdk/src/openapi-fetch.ts';

declare const heykeys: HeyKeysClient;
declare const throwing: HeyKeysClient<true>;
declare const keyId: string;
declare const workspaceId: string;

// The operation table written by scripts/gen.ts and hey-api's SDK describe the same operations,
// and the table's error statuses are exactly the ones hey-api typed from the spec.
expectTypeOf<OperationId>().toEqualTypeOf<keyof typeof generatedSdk>();
type TableStatuses = { [Op in OperationId]: (typeof operations)[Op]['errorStatuses'][number] };
type GeneratedStatuses = { [Op in OperationId]: keyof OperationTypes[Op]['errors'] };
expectTypeOf<TableStatuses>().toEqualTypeOf<GeneratedStatuses>();

export async function dataAndErrorNarrow() {
  const result = await heykeys.getApiKey({ path: { id: keyId } });
  if (result.error) {
    expectTypeOf(result.data).toEqualTypeOf<undefined>();
    expectTypeOf(result.error.status).toEqualTypeOf<400 | 401 | 403 | 404 | 429 | 503>();
    if (result.error.status === 403) {
      expectTypeOf(result.error).toEqualTypeOf<Problem & { status: 403 }>();
      expectTypeOf(result.error.missing_scopes).toEqualTypeOf<Problem['missing_scopes']>();
    }
    // @ts-expect-error getApiKey declares no 409
    if (result.error.status === 409) return;
  } else {
    expectTypeOf(result.data).toEqualTypeOf<ApiKey>();
    expectTypeOf(result.error).toEqualTypeOf<undefined>();
  }

  const { data, error } = await heykeys.createApiKey({ body: { name: 'CI', expires_in_days: 30 } });
  if (!error) expectTypeOf(data).toEqualTypeOf<ApiKeyWithSecret>();
  else expectTypeOf(error.status).toEqualTypeOf<400 | 401 | 403 | 409 | 413 | 415 | 422 | 429 | 503>();

  const enabled = await heykeys.enableApiKey({ path: { id: keyId } });
  if (enabled.error?.status === 409) expectTypeOf(enabled.error).toEqualTypeOf<HeyKeysProblem<409>>();

  const revoked = await heykeys.revokeApiKey({ path: { id: keyId } });
  if (!revoked.error) expectTypeOf(revoked.data).toEqualTypeOf<void>();

  const me = await heykeys.getMe();
  if (me.data) expectTypeOf(me.data).toEqualTypeOf<Me>();
  expectTypeOf<OperationProblem<'getMe'>['status']>().toEqualTypeOf<400 | 401 | 429 | 503>();
}

export async function throwOnErrorLeavesOnlyData() {
  const { data, error } = await throwing.getApiKey({ path: { id: keyId } });
  expectTypeOf(data).toEqualTypeOf<ApiKey>();
  expectTypeOf(error).toEqualTypeOf<undefined>();

  expectTypeOf(createHeyKeysClient({ baseUrl: '', apiKey: '' })).toEqualTypeOf<HeyKeysClient<false>>();
  expectTypeOf(createHeyKeysClient({ baseUrl: '', apiKey: '', throwOnError: true })).toEqualTypeOf<HeyKeysClient<true>>();

  const thrown = new HeyKeysProblemError('getApiKey', {} as OperationProblem<'getApiKey'>, new Response());
  expectTypeOf(thrown.status).toEqualTypeOf<400 | 401 | 403 | 404 | 429 | 503>();
}

export async function requestsAreTyped() {
  await heykeys.getMe();
  await heykeys.listApiKeys();
  await heykeys.listApiKeys({ query: { status: 'active', owner_type: 'machine', limit: 5 } });
  // @ts-expect-error the key id is a required path parameter
  await heykeys.getApiKey();
  // @ts-expect-error a name is a string
  await heykeys.createApiKey({ body: { name: 1 } });
  // @ts-expect-error status is 'active' or 'disabled'
  await heykeys.listApiKeys({ query: { status: 'revoked' } });
  // @ts-expect-error GET takes no body
  await heykeys.getMe({ body: {} });
  await heykeys.createApiKey({
    body: { name: 'x', permission: { type: 'restricted', resources: { tags: 'write' } }, workspace_access: { type: 'selected', workspace_ids: [workspaceId] } },
  });
  // @ts-expect-error not a scope
  await heykeys.createApiKey({ body: { name: 'x', permission: { type: 'restricted', scopes: ['tags:delete'] } } });
  await heykeys.getMe({ signal: AbortSignal.timeout(1000), headers: { 'X-Request-Id': 'abc' } });
}

export async function paginateYieldsItemsOfTheList() {
  for await (const key of paginate(heykeys.listApiKeys, { query: { limit: 100 } })) expectTypeOf(key).toEqualTypeOf<ApiKey>();
  for await (const key of paginate(heykeys.listApiKeys)) expectTypeOf(key).toEqualTypeOf<ApiKey>();
  for await (const tag of paginate(heykeys.listTags, { path: { id: workspaceId } })) expectTypeOf(tag).toEqualTypeOf<Tag>();
  for await (const entry of paginate(throwing.getApiKeyUsage, { path: { id: keyId } })) expectTypeOf(entry).toEqualTypeOf<UsageEntry>();
  // @ts-expect-error listTags needs its workspace id
  paginate(heykeys.listTags);
  // @ts-expect-error getMe is not a list
  paginate(heykeys.getMe);
  // @ts-expect-error the scope catalogue has no cursor
  paginate(heykeys.listScopes);
}

export async function openapiFetchFlavourIsTyped() {
  const client = createHeyKeysFetchClient({ baseUrl: '', apiKey: '' });
  const { data, error } = await client.GET('/v1/api-keys/{id}', { params: { path: { id: keyId } } });
  if (data) expectTypeOf(data.id).toEqualTypeOf<string>();
  if (error) expectTypeOf(error.code).toEqualTypeOf<string>();
  // @ts-expect-error no such path
  await client.GET('/v1/nope');
  // @ts-expect-error the path parameter is required
  await client.GET('/v1/api-keys/{id}');
  const created = await client.POST('/v1/api-keys', { body: { name: 'x' } });
  if (created.data) expectTypeOf(created.data.secret).toEqualTypeOf<string>();
}
