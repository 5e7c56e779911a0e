/**
 * Picks the store from the configuration: PostgreSQL when DATABASE_URL is set, else SQLite in
 * DATA_DIR, claimed for this process unless `exclusive` is false (see openSqliteStore).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { StoreOpenError, type Store } from './store.ts';

export async function openStore(options: { databaseUrl?: string | undefined; databasePoolSize?: number; dataDir: string; exclusive?: boolean }): Promise<Store> {
  if (options.databaseUrl) {
    const { openPostgresStore } = await import('./postgres.ts');
    return openPostgresStore(options.databaseUrl, { poolSize: options.databasePoolSize ?? 10 });
  }
  try {
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    // A file where the folder should be, a parent not writable: DATA_DIR is the operator's to fix.
    throw new StoreOpenError(`DATA_DIR ${options.dataDir} cannot be used as the store's folder: ${(error as Error).message}`, { cause: error });
  }
  const { openSqliteStore } = await import('./sqlite.ts');
  return openSqliteStore(join(options.dataDir, 'heykeys.db'), { exclusive: options.exclusive ?? true });
}
