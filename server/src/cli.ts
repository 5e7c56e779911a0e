/**
 * `npm run cli -- org create --name Acme --owner-email a@acme.test [--owner-name Ada] [--json]`
 * Creates an organization with an owner and an owner key, on the same store `npm start` uses.
 */
import { parseArgs } from 'node:util';
import { readConfig } from './config.ts';
import { systemClock } from './domain/clock.ts';
import { presentKey } from './domain/present.ts';
import { KeyService } from './domain/service.ts';
import { nodeCrypto } from './node-crypto.ts';
import { openStore } from './store/open.ts';
import { orExit } from './startup.ts';

const USAGE = 'usage: npm run cli -- org create --name <name> --owner-email <email> [--owner-name <name>] [--json]';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    name: { type: 'string' },
    'owner-email': { type: 'string' },
    'owner-name': { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help || positionals.join(' ') !== 'org create' || !values.name || !values['owner-email']) {
  console.error(USAGE);
  process.exit(values.help ? 0 : 2);
}

if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(values['owner-email'])) {
  console.error(`--owner-email must be an email address like a@acme.test, got "${values['owner-email']}"`);
  process.exit(2);
}

const config = await orExit(() => readConfig());
// The CLI only adds organizations, which no running server has cached: it may write to the SQLite
// file while a server owns it (the server's claim is for servers, see openSqliteStore).
const store = await orExit(() => openStore({ ...config, exclusive: false }));
const service = new KeyService({ store, clock: systemClock, crypto: nodeCrypto, keyPrefix: config.keyPrefix });
try {
  const ownerEmail = values['owner-email'];
  const created = await service.createOrganization({
    name: values.name,
    owner_name: values['owner-name'] ?? ownerEmail.split('@')[0]!,
    owner_email: ownerEmail,
  });
  if (values.json) {
    const output = {
      organization: { id: created.organization.id, name: created.organization.name },
      owner: { id: created.owner.id, name: created.owner.name, email: created.owner.email, role: created.owner.role },
      key: presentKey(created.key, systemClock.now()),
      secret: created.secret,
    };
    process.stdout.write(JSON.stringify(output, null, 2) + '\n');
  } else {
    process.stdout.write(
      `Created organization "${created.organization.name}" (${created.organization.id}).\nOwner API key (shown once):\n\n    ${created.secret}\n\n`,
    );
  }
} finally {
  await service.close();
  await store.close();
}
