/** The contract suite against the real server (test/contract/server.test.ts), unchanged, against PostgreSQL. */
import { vi } from 'vitest';
import { onPostgres } from '../support/postgres.ts';

vi.mock('../support/process.ts', async (importOriginal) =>
  (await import('../support/postgres.ts')).onPostgresProcesses(await importOriginal()));

await onPostgres('contract suite against the real server', () => import('../contract/server.test.ts'));
