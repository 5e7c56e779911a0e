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
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const { openSqliteStore } = await import('./sqlite.ts');
  return openSqliteStore(join(options.dataDir, 'heykeys.db'), { exclusive: options.exclusive ?? true });
}

/**
 * openStore for an entry point (the server, the CLI): a store that cannot be used as configured
 * (StoreOpenError) is an answer, not a crash, so its message is printed without a stack trace and
 * the process ends with 1. Any other error is thrown as it is.
 */
export async function openStoreOrExit(options: Parameters<typeof openStore>[0]): Promise<Store> {
  try {
    return await openStore(options);
  } catch (error) {
    if (!(error instanceof StoreOpenError)) throw error;
    console.error(`heykeys: ${error.message}`);
    process.exit(1);
  }
}
