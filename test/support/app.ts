/**
 * An in-process server on port 0 over a given store, with a manual clock: what most HTTP tests use.
 * `spawnServer` in ./process.ts starts the real `npm start` entry point instead.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createApp } from '../../server/src/app.ts';
import { createAppServer } from '../../server/src/http/server.ts';
import { ManualClock } from '../../server/src/domain/clock.ts';
import { KeyService } from '../../server/src/domain/service.ts';
import { nodeCrypto } from '../../server/src/node-crypto.ts';
import { MemoryStore } from '../../server/src/store/memory.ts';
import type { Store } from '../../server/src/store/store.ts';

export interface TestServer {
  url: string;
  clock: ManualClock;
  service: KeyService;
  store: Store;
  ownerSecret: string;
  orgId: string;
  /** Log lines the server wrote (errors), to check no secret ever reaches a log. */
  logs: string[];
  /** Creates another organization and returns its owner key. */
  newOrganization(name?: string): Promise<{ orgId: string; secret: string }>;
  close(): Promise<void>;
}

export async function startTestServer(
  options: { store?: Store; rateLimitPerMinute?: number; start?: string; validateResponses?: boolean } = {},
): Promise<TestServer> {
  const store = options.store ?? new MemoryStore();
  const clock = new ManualClock(options.start ?? '2026-11-01T00:00:00.000Z');
  const service = new KeyService({ store, clock, crypto: nodeCrypto });
  const logs: string[] = [];
  const app = createApp({
    service,
    validateResponses: options.validateResponses ?? true,
    rateLimitPerMinute: options.rateLimitPerMinute ?? 0,
    logger: { error: (message, fields) => logs.push(JSON.stringify({ message, ...fields })) },
  });
  // Built as main.ts builds it, so the in-process tests run through the same server.
  const server: Server = await new Promise((resolve) => {
    const s = createAppServer(app).listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  const newOrganization = async (name = 'Acme') => {
    const created = await service.createOrganization({ name, owner_name: `${name} Owner`, owner_email: `owner@${name.toLowerCase()}.test` });
    return { orgId: created.organization.id, secret: created.secret };
  };
  const first = await newOrganization();
  return {
    url: `http://127.0.0.1:${port}`,
    clock,
    service,
    store,
    ownerSecret: first.secret,
    orgId: first.orgId,
    logs,
    newOrganization,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await service.close();
      await store.close();
    },
  };
}
