/** The lifecycle e2e suite (test/e2e/lifecycle.test.ts), unchanged, against PostgreSQL. */
import { vi } from 'vitest';
import { onPostgres } from '../support/postgres.ts';

vi.mock('../support/process.ts', async (importOriginal) =>
  (await import('../support/postgres.ts')).onPostgresProcesses(await importOriginal()));

await onPostgres('e2e lifecycle', () => import('../e2e/lifecycle.test.ts'));
