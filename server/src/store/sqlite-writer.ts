/**
 * The SQLite store's background writes: last-use times and the usage log. Every authenticated
 * request adds a usage entry, so these are the store's only writes that grow with traffic. They
 * are written in batches (the domain flushes once a second), each batch in one transaction.
 *
 * On a database file they run on a thread of their own with its own connection (`threadWriter`):
 * the event loop hands a batch over (about 0.3 µs per entry) and goes on answering requests while
 * the thread writes it. Written on the event loop, the same entries cost 15-20 µs of its time per
 * request (measured in docs/decisions/0007-fast-path.md). WAL lets the thread write while the main
 * connection reads, and SQLite's write lock orders its transactions with the main connection's.
 * An in-memory database cannot be shared between connections, so there they run inline.
 */
import { DatabaseSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import type { KeyUse, UsageEntry } from '../domain/model.ts';

/** How long a write waits for the other connection's lock before failing with SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5000;
/** Rows deleted per transaction when pruning, so the main connection's writes never wait long. */
const PRUNE_CHUNK = 5000;

export interface BackgroundWrites {
  /** Last-use times; never moves a time backwards. */
  recordUse(uses: KeyUse[]): Promise<void>;
  /** All of the entries or none, in one transaction. */
  appendUsage(entries: UsageEntry[]): Promise<void>;
  /** Deletes entries older than `before`, in chunks; returns how many. */
  pruneUsage(before: number): Promise<number>;
  /** Finishes what was handed over, then lets go of the connection. */
  close(): Promise<void>;
}

/**
 * Runs `work` in one write transaction on `db` (the store's connection or the writer thread's):
 * all of it commits or none of it does. IMMEDIATE takes the write lock at the start, so a
 * transaction never fails halfway for want of it.
 */
export function writeTransaction<T>(db: DatabaseSync, work: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = work();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}

/**
 * Usage entries as they cross to the writer thread: each distinct string once, and per entry only
 * numbers, in typed arrays whose memory moves to the thread instead of being copied. Cloned as
 * objects, the entries cost the event loop ~0.45 µs each (every field name and every string
 * serialized again for each entry), a few percent of a request; most of their strings (organization,
 * key, route, method, address, secret) are the same for many entries of a batch.
 */
export interface PackedUsage {
  strings: string[];
  /** Per entry, in the order of `unpackUsage`, the index in `strings` of each text field (-1: null). */
  refs: Int32Array<ArrayBuffer>;
  at: Float64Array<ArrayBuffer>;
  status: Int32Array<ArrayBuffer>;
}

/** Text fields per entry in `refs`: org_id, key_id, method, route, ip, user_agent, secret. */
const TEXT_FIELDS = 7;

export function packUsage(entries: readonly UsageEntry[]): PackedUsage {
  const index = new Map<string, number>();
  const strings: string[] = [];
  const ref = (value: string | null): number => {
    if (value === null) return -1;
    let found = index.get(value);
    if (found === undefined) {
      found = strings.push(value) - 1;
      index.set(value, found);
    }
    return found;
  };
  const refs = new Int32Array(entries.length * TEXT_FIELDS);
  const at = new Float64Array(entries.length);
  const status = new Int32Array(entries.length);
  for (let i = 0, r = 0; i < entries.length; i++, r += TEXT_FIELDS) {
    const entry = entries[i]!;
    refs[r] = ref(entry.org_id);
    refs[r + 1] = ref(entry.key_id);
    refs[r + 2] = ref(entry.method);
    refs[r + 3] = ref(entry.route);
    refs[r + 4] = ref(entry.ip);
    refs[r + 5] = ref(entry.user_agent);
    refs[r + 6] = ref(entry.secret);
    at[i] = entry.at;
    status[i] = entry.status;
  }
  return { strings, refs, at, status };
}

export function unpackUsage({ strings, refs, at, status }: PackedUsage): UsageEntry[] {
  const text = (r: number): string | null => (refs[r]! < 0 ? null : strings[refs[r]!]!);
  const entries: UsageEntry[] = new Array(at.length);
  for (let i = 0, r = 0; i < at.length; i++, r += TEXT_FIELDS) {
    entries[i] = {
      org_id: text(r)!,
      key_id: text(r + 1)!,
      method: text(r + 2)!,
      route: text(r + 3)!,
      ip: text(r + 4),
      user_agent: text(r + 5),
      secret: text(r + 6) as UsageEntry['secret'],
      at: at[i]!,
      status: status[i]!,
    };
  }
  return entries;
}

/** The statements themselves, run synchronously on whichever connection hosts them. */
export function prepareBackgroundWrites(db: DatabaseSync) {
  // The WHERE clause skips rows the use would not change, so a flush rewrites only what moved.
  const recordUse = db.prepare(`
    UPDATE keys SET
      last_used_at = CASE WHEN last_used_at IS NULL OR :at > last_used_at THEN :at ELSE last_used_at END,
      prev_last_used_at = CASE
        WHEN prev_digest = :digest AND (prev_last_used_at IS NULL OR :at > prev_last_used_at) THEN :at
        ELSE prev_last_used_at END
    WHERE id = :key_id AND (
      last_used_at IS NULL OR :at > last_used_at
      OR (prev_digest = :digest AND (prev_last_used_at IS NULL OR :at > prev_last_used_at)))`);
  // Positional parameters: binding an object of named ones costs more than the insert's own work.
  const insertUsage = db.prepare(
    'INSERT INTO usage (org_id, key_id, at, method, route, status, ip, user_agent, secret) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const pruneChunk = db.prepare(`DELETE FROM usage WHERE seq IN (SELECT seq FROM usage WHERE at < ? LIMIT ${PRUNE_CHUNK})`);

  return {
    recordUse(uses: KeyUse[]): void {
      if (uses.length === 0) return;
      writeTransaction(db, () => {
        for (const use of uses) recordUse.run({ key_id: use.key_id, digest: use.digest, at: use.at });
      });
    },
    appendUsage(entries: UsageEntry[]): void {
      if (entries.length === 0) return;
      writeTransaction(db, () => {
        for (const u of entries) insertUsage.run(u.org_id, u.key_id, u.at, u.method, u.route, u.status, u.ip, u.user_agent, u.secret);
      });
    },
    pruneUsage(before: number): number {
      let total = 0;
      for (;;) {
        const removed = Number(pruneChunk.run(before).changes);
        total += removed;
        if (removed < PRUNE_CHUNK) return total;
      }
    },
  };
}

/** Runs the writes on the connection the store already has (in-memory databases). */
export function inlineWriter(db: DatabaseSync): BackgroundWrites {
  const writes = prepareBackgroundWrites(db);
  return {
    recordUse: async (uses) => writes.recordUse(uses),
    appendUsage: async (entries) => writes.appendUsage(entries),
    pruneUsage: async (before) => writes.pruneUsage(before),
    close: async () => {},
  };
}

type Operation = 'recordUse' | 'appendUsage' | 'pruneUsage' | 'close';
export type WriterRequest = { id: number; op: Operation; arg: unknown };
export type WriterReply = { id: number; result?: unknown; error?: { message: string; code?: string; errcode?: number } };

/**
 * Runs the writes on a worker thread with its own connection to `file`. The thread starts with
 * the first write (a store that is only read never starts one) and handles requests one at a time,
 * in the order they were made; each promise settles when its transaction has committed or failed.
 * If the thread dies, what it was doing fails (the domain keeps failed batches for the next flush)
 * and the next write starts a new one.
 */
export function threadWriter(file: string): BackgroundWrites {
  let worker: Worker | null = null;
  let nextId = 0;
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  const failAll = (error: Error): void => {
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  };

  const start = (): Worker => {
    // None of the process's Node options: the thread runs only our module and needs none, and
    // several are refused or break it. Given to a thread, V8 and per-process options
    // (--max-old-space-size, --max-semi-space-size, --stack-size, --title) make the constructor
    // throw; inherited, --input-type (a process started with -e) makes it refuse to load a file.
    const started = new Worker(new URL('./sqlite-writer.worker.ts', import.meta.url), { workerData: { file }, execArgv: [] });
    started.on('message', (reply: WriterReply) => {
      const waiting = pending.get(reply.id);
      if (!waiting) return;
      pending.delete(reply.id);
      if (pending.size === 0) started.unref();
      // SQLite's result code crosses too: the store's isOutage reads it (a full disk, a lock held too long).
      if (reply.error) {
        const { message, code, errcode } = reply.error;
        waiting.reject(Object.assign(new Error(message), code ? { code } : {}, errcode !== undefined ? { errcode } : {}));
      } else waiting.resolve(reply.result);
    });
    started.on('error', (error) => {
      if (worker === started) worker = null;
      failAll(error);
    });
    started.on('exit', (code) => {
      if (worker === started) worker = null;
      failAll(new Error(`the SQLite writer thread exited (code ${code})`));
    });
    return started;
  };

  const call = <T>(op: Operation, arg: unknown, transfer: ArrayBuffer[] = []): Promise<T> => {
    const target = (worker ??= start());
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      // The thread keeps the process alive only while something waits on it.
      if (pending.size === 0) target.ref();
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      target.postMessage({ id, op, arg } satisfies WriterRequest, transfer);
    });
  };

  return {
    recordUse: async (uses) => {
      if (uses.length > 0) await call('recordUse', uses);
    },
    appendUsage: async (entries) => {
      if (entries.length === 0) return;
      const packed = packUsage(entries);
      await call('appendUsage', packed, [packed.refs.buffer, packed.at.buffer, packed.status.buffer]);
    },
    pruneUsage: (before) => call<number>('pruneUsage', before),
    close: async () => {
      const running = worker;
      if (!running) return;
      const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      await call('close', null).catch(() => {});
      running.ref(); // until it has exited, even when nothing else keeps the process alive
      await exited;
    },
  };
}
