/**
 * The composition root: environment → store → domain service → createApp → listen. The only
 * place that reads the environment and wires adapters.
 */
import type { AddressInfo } from 'node:net';
import { createApp } from './app.ts';
import { createAppServer } from './http/server.ts';
import { readConfig } from './config.ts';
import { systemClock } from './domain/clock.ts';
import { KeyService } from './domain/service.ts';
import { nodeCrypto } from './node-crypto.ts';
import { openStoreOrExit } from './store/open.ts';

const config = readConfig();
const store = await openStoreOrExit(config);
const service = new KeyService({
  store,
  clock: systemClock,
  crypto: nodeCrypto,
  keyPrefix: config.keyPrefix,
  usageRetentionDays: config.usageRetentionDays,
});

// First start on an empty store: one organization, even when several instances start together.
const created = await service.createOrganization({
  name: config.bootstrapOrgName,
  owner_name: 'Owner',
  owner_email: config.bootstrapOwnerEmail,
  onlyIfNone: true,
});
if (created) {
  // Shown once, on purpose: only the digest is stored, so this is the only time anyone sees it.
  process.stdout.write(
    [
      '',
      `Created organization "${created.organization.name}" (${created.organization.id}) with owner ${created.owner.email}.`,
      'Owner API key (shown once; store it now, it cannot be shown again):',
      '',
      `    ${created.secret}`,
      '',
      '',
    ].join('\n'),
  );
}

const app = createApp({
  service,
  validateResponses: config.validateResponses,
  rateLimitPerMinute: config.rateLimitPerMinute,
  ...(config.trustProxy !== undefined ? { trustProxy: config.trustProxy } : {}),
});

const flushTimer = setInterval(() => {
  service.flush().catch((err) => console.error(JSON.stringify({ level: 'error', message: 'usage flush failed', error: String(err) })));
}, config.flushIntervalMs);
/** The sweep in progress: one at a time, and shutdown lets it finish before closing the store. */
let sweep: Promise<void> | null = null;
const sweepTimer = setInterval(() => {
  // Between organizations the sweep lets the requests that arrived be answered, so under load and
  // with many organizations one can outlast the interval.
  if (sweep) return;
  sweep = service
    .sweepInactive({ pause: () => new Promise((resolve) => setImmediate(resolve)) })
    .then(
      () => undefined,
      (err: unknown) => console.error(JSON.stringify({ level: 'error', message: 'inactivity sweep failed', error: String(err) })),
    )
    .finally(() => (sweep = null));
}, config.sweepIntervalMs);
flushTimer.unref();
sweepTimer.unref();

const server = createAppServer(app).listen(config.port, config.host, () => {
  const { port } = server.address() as AddressInfo;
  console.log(`heykeys listening on http://${config.host}:${port} (store: ${store.kind})`);
});
server.keepAliveTimeout = 65_000;

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: finishing requests and flushing usage logs`);
  clearInterval(flushTimer);
  clearInterval(sweepTimer);
  server.closeIdleConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await sweep;
  await service.close();
  await store.close();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
