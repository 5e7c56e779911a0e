/**
 * The shared storage conformance suite on PostgreSQL, in a schema of its own for this run.
 * Each test opens a store (pool + listener; migrations run on the first open only) on an empty
 * schema: closing the store truncates every table.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { describeStoreConformance } from '../../server/src/store/conformance.ts';
import { openPostgresStore } from '../../server/src/store/postgres.ts';
import { createTestSchema, postgresTarget, type TestSchema } from '../support/postgres.ts';

const target = postgresTarget('Store conformance: postgres');

describe.skipIf(target.skip)('PostgreSQL store', () => {
  let schema: TestSchema;

  beforeAll(async () => {
    schema = await createTestSchema(target.url());
  });
  afterAll(async () => {
    await schema?.drop();
  });

  describeStoreConformance(
    'postgres',
    () => openPostgresStore(schema.url, { poolSize: 4 }),
    async (store) => {
      await store.close();
      await schema.truncate();
    },
  );
});
