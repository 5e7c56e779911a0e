/** The SDK contract suite against the real server (test/sdk/operations.test.ts), unchanged, against PostgreSQL. */
import { vi } from 'vitest';
import { onPostgres } from '../support/postgres.ts';

vi.mock('../support/process.ts', async (importOriginal) =>
  (await import('../support/postgres.ts')).onPostgresProcesses(await importOriginal()));

await onPostgres('SDK contract against the real server', () => import('../sdk/operations.test.ts'));
