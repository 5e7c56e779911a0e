/**
 * The contract suite through `prism proxy --errors` in front of the real server (SQLite, started
 * as `npm start` starts it, without its own response validation): every
 * answer the server gives the suite is checked by Prism against openapi.yaml, and any that breaks
 * it becomes a 500 the SDK throws on (prism-violations.test.ts proves that). After the whole
 * stateful suite, Prism's log must hold no response violation at all, warnings included.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunningPrism } from '../../scripts/prism.ts';
import { runCli, spawnServer, type ServerProcess } from '../support/process.ts';
import { responseViolations, startPrismProxy } from './prism.ts';
import { contractSuite } from './suite.ts';
import type { ContractTarget } from './target.ts';

let server: ServerProcess;
let prism: RunningPrism;

const target: ContractTarget = {
  name: 'prism proxy → server (sqlite)',
  baseUrl: '',
  ownerKey: '',
  fetch: (input, init) => globalThis.fetch(input, init),
  capabilities: { stateful: true, clock: false, missingCredentials: 'prism', invalidInput: 'api' },
  async secondOrganizationKey() {
    const out = await runCli(['org', 'create', '--name', 'Globex', '--owner-email', 'hank@globex.test', '--json'], { DATA_DIR: server.dataDir });
    return (JSON.parse(out) as { secret: string }).secret;
  },
};

beforeAll(async () => {
  // As `npm start` runs it: without the server's own response validation, so what Prism checks is
  // the production way of writing answers (http/respond.ts), not res.json under the validator.
  server = await spawnServer({ removeDataDir: true, env: { VALIDATE_RESPONSES: 'false' } });
  if (!server.ownerSecret) throw new Error(`the server printed no owner key:\n${server.output()}`);
  prism = await startPrismProxy(server.url);
  target.baseUrl = prism.url;
  target.ownerKey = server.ownerSecret;
});

afterAll(async () => {
  await prism?.stop();
  await server?.stop();
});

contractSuite(() => target);

it('Prism saw no answer outside the contract during the whole session', () => {
  expect(responseViolations(prism.output())).toEqual([]);
});
