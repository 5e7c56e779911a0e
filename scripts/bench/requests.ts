/**
 * The bench's API requests, made by one caller: the same three whether they go over loopback
 * (../bench.ts, through ./load.ts) or in process (./drive.ts).
 */
import type { BenchRequest } from './load.ts';
import type { Caller } from './seed-sqlite.ts';

export type ApiTarget = 'me' | 'key' | 'verify';

export function apiRequests(caller: Caller): Record<ApiTarget, BenchRequest> {
  const authorization = `Bearer ${caller.secret}`;
  return {
    me: { method: 'GET', path: '/v1/me', headers: { authorization } },
    key: { method: 'GET', path: `/v1/api-keys/${caller.id}`, headers: { authorization } },
    verify: {
      method: 'POST',
      path: '/v1/api-keys/verify',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ secret: caller.secret, scopes: ['api_keys:read'] }),
    },
  };
}
