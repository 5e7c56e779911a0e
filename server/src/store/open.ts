/**
 * Picks the store from the configuration: PostgreSQL when DATABASE_URL is set, else SQLite in
 * DATA_DIR, claimed for this process unless `exclusive` is false (see openSqliteStore).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from './store.ts';

export async function openStore(options: { databaseUrl?: string | undefined; databasePoolSize?: number; dataDir: string; exclusive?: boolean }): Promise<Store> {
  if (options.databaseUrl) {
    const { openPostgresStore } = await import('./postgres.ts');
    return openPostgresStore(options.databaseUrl, { poolSize: options.databasePoolSize ?? 10 });
  }
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const { openSqliteStore } = await import('./sqlite.ts');
  return openSqliteStore(join(options.dataDir, 'heykeys.db'), { exclusive: options.exclusive ?? true });
}

