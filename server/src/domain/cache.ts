/**
 * In-process cache of verified credentials, keyed by digest. A valid key costs one indexed store
 * lookup, then none until its entry is dropped: the domain drops it before any write to the key
 * returns, and adapters shared between processes report other processes' writes (StoreEvent).
 * Key records read by id (`reads`) are dropped with the rest of their key.
 */
import type { Credential, KeyRecord, Policy } from './model.ts';

/**
 * Key records read by id (GET /v1/api-keys/{id}), for reads only: every write reads the store.
 * Coherent like the credentials: dropped with everything else of the key before a change returns
 * (and when another process reports one), with a generation check against reads in flight. Last
 * use is the one field that changes without a key write; an entry therefore lives at most
 * `maxAgeMs`, so uses another process has written show within that, and the domain applies to
 * the cached records the uses this process has just written (`noteWritten`).
 *
 * A record read late in its life is read again in the background (`onAgeing`), so a key in use is
 * renewed before it expires and no request waits for the store for it: with PostgreSQL, each
 * expiry of a busy key had every request for it wait for one query, the bench's p99. An answer
 * still comes only from an entry younger than `maxAgeMs`.
 *
 * "Late" is a point drawn for each entry between half and three quarters of its life. Records
 * cached together (every key a service uses, read in its first second) would otherwise all come
 * due together, and stay together renewal after renewal: on SQLite each renewal is a synchronous
 * read on the event loop (20-55 µs measured alone, ~90 µs in a CPU profile under load, where the
 * writer thread's commits keep evicting its pages), so a hundred busy keys held the loop for
 * 2-9 ms at once, every three quarters of a second; on PostgreSQL they were a hundred queries.
 */
export class KeyReadCache {
  readonly #byId = new Map<string, { key: KeyRecord; until: number; renewFrom: number }>();
  readonly #max: number;
  readonly #maxAgeMs: number;
  #generation = 0;
  /** Told once per cached record, when it is read past its renewal point. */
  onAgeing: ((orgId: string, keyId: string, now: number) => void) | undefined;

  constructor(maxEntries: number, maxAgeMs: number) {
    this.#max = maxEntries;
    this.#maxAgeMs = maxAgeMs;
  }

  /** Moves on every drop; a read caches its answer only if it has not moved (see CredentialCache). */
  get generation(): number {
    return this.#generation;
  }

  get size(): number {
    return this.#byId.size;
  }

  /** The record, if cached, fresh at `now`, and of the organization asking (never another's). */
  get(orgId: string, keyId: string, now: number): KeyRecord | undefined {
    const entry = this.#byId.get(keyId);
    if (!entry) return undefined;
    if (now >= entry.until) {
      this.#byId.delete(keyId);
      return undefined;
    }
    if (entry.key.org_id !== orgId) return undefined;
    if (now >= entry.renewFrom && this.onAgeing) {
      entry.renewFrom = Infinity;
      this.onAgeing(orgId, keyId, now);
    }
    return entry.key;
  }

  /**
   * A renewal that did not renew: its answer came from before a write this process made meanwhile
   * (a flush moves the generation every second, and on PostgreSQL a renewal is in flight for a
   * round trip), or it failed. The record, while still cached, asks again on its next read past
   * three quarters of its life; otherwise it was told once and would expire under a busy key,
   * whose requests would then wait for the store together.
   */
  renewAgain(keyId: string): void {
    const entry = this.#byId.get(keyId);
    if (entry && entry.renewFrom === Infinity) entry.renewFrom = entry.until - this.#maxAgeMs / 4;
  }

  /** Caches a record read from the store at `now` (when the read began). */
  set(key: KeyRecord, now: number): void {
    if (this.#byId.size >= this.#max && !this.#byId.has(key.id)) {
      const oldest = this.#byId.keys().next().value;
      if (oldest !== undefined) this.#byId.delete(oldest);
    }
    this.#byId.set(key.id, { key, until: now + this.#maxAgeMs, renewFrom: now + this.#maxAgeMs * (0.5 + 0.25 * Math.random()) });
  }

  /**
   * Uses this process has just written to the store: each cached record of their keys goes to
   * `apply`, to hold them as the store now does, and the generation moves, so that a read begun
   * before they were written is not cached.
   */
  noteWritten<U extends { key_id: string }>(uses: Iterable<U>, apply: (key: KeyRecord, use: U) => void): void {
    this.#generation++;
    for (const use of uses) {
      const entry = this.#byId.get(use.key_id);
      if (entry) apply(entry.key, use);
    }
  }

  drop(keyIds: Iterable<string>): void {
    this.#generation++;
    for (const id of keyIds) this.#byId.delete(id);
  }

  clear(): void {
    this.#generation++;
    this.#byId.clear();
  }
}

export class CredentialCache {
  readonly #byDigest = new Map<string, Credential>();
  readonly #digestsByKey = new Map<string, Set<string>>();
  readonly #policies = new Map<string, Policy>();
  readonly #max: number;
  #generation = 0;
  readonly reads: KeyReadCache;

  constructor(maxEntries = 100_000, keyReadMaxAgeMs = 1000) {
    this.#max = maxEntries;
    this.reads = new KeyReadCache(maxEntries, keyReadMaxAgeMs);
  }

  /**
   * Moves on every drop. A lookup notes it before asking the store and caches its answer only if
   * it has not moved: an answer read before a change, arriving after the change was heard, must
   * not be cached (it would outlive the change).
   */
  get generation(): number {
    return this.#generation;
  }

  get size(): number {
    return this.#byDigest.size;
  }

  get(digest: string): Credential | undefined {
    return this.#byDigest.get(digest);
  }

  set(digest: string, credential: Credential): void {
    if (this.#byDigest.size >= this.#max && !this.#byDigest.has(digest)) {
      const oldest = this.#byDigest.keys().next().value;
      if (oldest !== undefined) this.#deleteDigest(oldest);
    }
    this.#byDigest.set(digest, credential);
    let digests = this.#digestsByKey.get(credential.key.id);
    if (!digests) this.#digestsByKey.set(credential.key.id, (digests = new Set()));
    digests.add(digest);
  }

  /** Drops every cached secret of the key, and its record read by id. */
  dropKey(keyId: string): void {
    this.reads.drop([keyId]);
    this.#generation++;
    const digests = this.#digestsByKey.get(keyId);
    if (!digests) return;
    for (const d of digests) this.#byDigest.delete(d);
    this.#digestsByKey.delete(keyId);
  }

  #deleteDigest(digest: string): void {
    const cred = this.#byDigest.get(digest);
    this.#byDigest.delete(digest);
    if (cred) this.#digestsByKey.get(cred.key.id)?.delete(digest);
  }

  getPolicy(orgId: string): Policy | undefined {
    return this.#policies.get(orgId);
  }

  setPolicy(orgId: string, policy: Policy): void {
    this.#policies.set(orgId, policy);
  }

  dropPolicy(orgId: string): void {
    this.#generation++;
    this.#policies.delete(orgId);
  }

  clear(): void {
    this.reads.clear();
    this.#generation++;
    this.#byDigest.clear();
    this.#digestsByKey.clear();
    this.#policies.clear();
  }
}
