/** The audit log is append-only in the database itself, not only because the Store has no update. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/src/domain/clock.ts';
import { KeyService } from '../../server/src/domain/service.ts';
import { nodeCrypto } from '../../server/src/node-crypto.ts';
import { openPostgresStore } from '../../server/src/store/postgres.ts';
import { openSqliteStore } from '../../server/src/store/sqlite.ts';
import { createTestSchema, postgresTarget, type TestSchema } from '../support/postgres.ts';

async function seedAudit(store: ConstructorParameters<typeof KeyService>[0]['store']): Promise<void> {
  const service = new KeyService({ store, clock: new ManualClock('2026-11-01T00:00:00Z'), crypto: nodeCrypto });
  await service.createOrganization({ name: 'Acme', owner_name: 'Ada', owner_email: 'ada@acme.test' });
  await service.close();
}

describe('SQLite: the audit table refuses UPDATE and DELETE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'heykeys-audit-'));
  const store = openSqliteStore(join(dir, 'heykeys.db'));
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps every event as written', async () => {
    await seedAudit(store);
    expect(() => store.db.exec("UPDATE audit SET action = 'api_key.revoked'")).toThrow(/append-only/);
    expect(() => store.db.exec('DELETE FROM audit')).toThrow(/append-only/);
    expect(store.db.prepare('SELECT count(*) AS n FROM audit').get()).toMatchObject({ n: 1 });
  });
});

const target = postgresTarget('audit append-only on PostgreSQL');
describe.skipIf(target.skip)('PostgreSQL: the audit table refuses UPDATE, DELETE and TRUNCATE', () => {
  let schema: TestSchema;
  beforeAll(async () => {
    schema = await createTestSchema(target.url());
  });
  afterAll(async () => {
    await schema?.drop();
  });

  it('keeps every event as written', async () => {
    const store = await openPostgresStore(schema.url);
    try {
      await seedAudit(store);
    } finally {
      await store.close();
    }
    await expect(schema.query("UPDATE audit SET action = 'api_key.revoked'")).rejects.toThrow(/append-only/);
    await expect(schema.query('DELETE FROM audit')).rejects.toThrow(/append-only/);
    await expect(schema.query('TRUNCATE audit')).rejects.toThrow(/append-only/);
    expect((await schema.query<{ n: string }>('SELECT count(*) AS n FROM audit')).rows[0]!.n).toBe('1');
  });
});
