/**
 * The composition root: environment → store → domain service → createApp → listen → the first
 * start's organization. The only place that reads the environment and wires adapters; what an
 * operator must fix (a setting, the store, the port) ends it with one line (./startup.ts).
 */
import { createApp } from './app.ts';
import { createAppServer } from './http/server.ts';
import { readConfig } from './config.ts';
import { systemClock } from './domain/clock.ts';
import { KeyService } from './domain/service.ts';
import { nodeCrypto } from './node-crypto.ts';
import { openStore } from './store/open.ts';
import { listen, orExit } from './startup.ts';

const config = await orExit(() => readConfig());
const store = await orExit(() => openStore(config));
const service = new KeyService({
  store,
  clock: systemClock,
  crypto: nodeCrypto,
  keyPrefix: config.keyPrefix,
  usageRetentionDays: config.usageRetentionDays,
});

const app = createApp({
  service,
  validateResponses: config.validateResponses,
  rateLimitPerMinute: config.rateLimitPerMinute,
  ...(config.trustProxy !== undefined ? { trustProxy: config.trustProxy } : {}),
});
const server = createAppServer(app);
server.keepAliveTimeout = 65_000;
// Listening comes before the first start's organization: a port in use must not leave behind an
// organization whose owner key was printed by a server that then never served.
const { port } = await orExit(() => listen(server, config.port, config.host));

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

console.log(`heykeys listening on http://${config.host}:${port} (store: ${store.kind})`);

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
