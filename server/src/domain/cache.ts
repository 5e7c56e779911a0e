/**
 * In-process cache of verified credentials, keyed by digest. A valid key costs one indexed store
 * lookup, then none until its entry is dropped: the domain drops it before any write to the key
 * returns, and adapters shared between processes report other processes' writes (StoreEvent).
 */
import type { Credential, Policy } from './model.ts';

export class CredentialCache {
  readonly #byDigest = new Map<string, Credential>();
  readonly #digestsByKey = new Map<string, Set<string>>();
  readonly #policies = new Map<string, Policy>();
  readonly #max: number;
  #generation = 0;

  constructor(maxEntries = 100_000) {
    this.#max = maxEntries;
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

  /** Drops every cached secret of the key. */
  dropKey(keyId: string): void {
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
    this.#generation++;
    this.#byDigest.clear();
    this.#digestsByKey.clear();
    this.#policies.clear();
  }
}
