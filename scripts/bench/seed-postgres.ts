/**
 * Bench-only seeding of the PostgreSQL store named by DATABASE_URL: a new organization and its
 * callers, created through the domain (so nothing here knows the schema). The keys it leaves
 * behind are in their own organization, named with the date, and are plain bench fixtures.
 */
import { systemClock } from '../../server/src/domain/clock.ts';
import { KeyService } from '../../server/src/domain/service.ts';
import { nodeCrypto } from '../../server/src/node-crypto.ts';
import { openStore } from '../../server/src/store/open.ts';
import { PREFIX, type Caller } from './seed-sqlite.ts';

export async function seedPostgres(databaseUrl: string, callers: number): Promise<{ callers: Caller[]; organizations: number }> {
  const store = await openStore({ databaseUrl, dataDir: '' });
  const service = new KeyService({ store, clock: systemClock, crypto: nodeCrypto, keyPrefix: PREFIX });
  try {
    const created = await service.createOrganization({
      name: `heykeys bench ${new Date().toISOString()}`,
      owner_name: 'Bench owner',
      owner_email: 'owner@bench.test',
    });
    const principal = await service.authenticate(created.secret, 'bearer');
    const list: Caller[] = [{ id: created.key.id, secret: created.secret }];
    while (list.length < callers) {
      const ctx = { principal, ip: null, now: systemClock.now() };
      const { key, secret } = await service.createKey(ctx, { name: `bench caller ${list.length}`, permission: { type: 'all' } });
      list.push({ id: key.id, secret });
    }
    return { callers: list, organizations: (await store.listOrganizationIds()).length };
  } finally {
    await service.close();
    await store.close();
  }
}
