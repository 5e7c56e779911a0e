/**
 * The contract suite against the real server: `node server/src/main.ts` (what `npm start` runs) on
 * SQLite in a temporary data folder, responses validated against openapi.yaml. The second
 * organization is made with the CLI (`npm run cli -- org create`) on the same store.
 */
import { afterAll, beforeAll } from 'vitest';
import { runCli, spawnServer, type ServerProcess } from '../support/process.ts';
import { contractSuite } from './suite.ts';
import type { ContractTarget } from './target.ts';

let server: ServerProcess;

const target: ContractTarget = {
  name: 'server (sqlite)',
  baseUrl: '',
  ownerKey: '',
  fetch: (input, init) => globalThis.fetch(input, init),
  capabilities: { stateful: true, clock: false, missingCredentials: 'api', invalidInput: 'api' },
  async secondOrganizationKey() {
    const out = await runCli(['org', 'create', '--name', 'Globex', '--owner-email', 'hank@globex.test', '--json'], { DATA_DIR: server.dataDir });
    return (JSON.parse(out) as { secret: string }).secret;
  },
};

beforeAll(async () => {
  server = await spawnServer({ removeDataDir: true });
  if (!server.ownerSecret) throw new Error(`the server printed no owner key:\n${server.output()}`);
  target.baseUrl = server.url;
  target.ownerKey = server.ownerSecret;
});

afterAll(async () => {
  await server?.stop();
});

contractSuite(() => target);
