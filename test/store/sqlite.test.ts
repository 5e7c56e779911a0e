import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { describeStoreConformance } from '../../server/src/store/conformance.ts';
import { openSqliteStore } from '../../server/src/store/sqlite.ts';
import type { Store } from '../../server/src/store/store.ts';

// A fresh database file per test; each is deleted (with its WAL files) when its test closes it.
const dir = mkdtempSync(join(tmpdir(), 'heykeys-sqlite-'));
const files = new Map<Store, string>();
let opened = 0;

describeStoreConformance(
  'sqlite',
  async () => {
    const file = join(dir, `store-${++opened}.db`);
    const store = openSqliteStore(file);
    files.set(store, file);
    return store;
  },
  async (store) => {
    await store.close();
    const file = files.get(store)!;
    for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
    files.delete(store);
  },
);

afterAll(() => rmSync(dir, { recursive: true, force: true }));
