/**
 * The domain core: every rule of the product, over an injected store, clock and crypto. No HTTP,
 * no SQL, no Node-only API, so the MSW mocks run exactly these rules in a browser.
 */
import type { AuditFilter, Store, StoreEvent } from '../store/store.ts';
import {
  assertNoEscalation,
  authorize,
  canReachWorkspace,
  canSeeKey,
  reachableWorkspaces,
  type Principal,
  type RequestContext,
} from './access.ts';
import { CredentialCache } from './cache.ts';
import { DAY, iso, type Clock } from './clock.ts';
import { constantTimeEqual, type CryptoPort } from './crypto.ts';
import { isInactive, lifecycleFailures, type FailedCheck, type VerifyCode } from './credentials.ts';
import { DomainError } from './errors.ts';
import { parseUsageCursor } from './usage-cursor.ts';
import { assertValidPrefix, generateKey, isWellFormedKey, keyHint, newId } from './key-format.ts';
import {
  DEFAULT_POLICY,
  type AuditAction,
  type AuditEvent,
  type AuthScheme,
  type Credential,
  type KeyFilter,
  type KeyRecord,
  type KeyUse,
  type Member,
  type MemberRef,
  type Organization,
  type Page,
  type PageRequest,
  type Policy,
  type Tag,
  type UsageEntry,
  type Workspace,
  type WorkspaceAccess,
} from './model.ts';
import { missingScopes, resolvePermission, type PermissionInput, type Scope } from './scopes.ts';

export interface ServiceOptions {
  store: Store;
  clock: Clock;
  crypto: CryptoPort;
  /** Key prefix, `hey_` by default. */
  keyPrefix?: string;
  /** Days of usage log kept. */
  usageRetentionDays?: number;
  /** Most credentials (and most key records read by id) kept in memory. */
  cacheEntries?: number;
  /**
   * How long a key record read by id may be served from memory: how late a last use written by
   * another process sharing the store may show (default 1 s, the usage flush interval's default).
   */
  keyReadMaxAgeMs?: number;
}

export interface CreateKeyInput {
  name: string;
  description?: string | null;
  permission?: PermissionInput;
  owner?: { type: 'user' } | { type: 'machine'; name: string };
  workspace_access?: WorkspaceAccess;
  expires_in_days?: number;
  expires_at?: string | null;
}

export interface UpdateKeyInput {
  name?: string;
  description?: string | null;
  permission?: PermissionInput;
  workspace_access?: WorkspaceAccess;
}

export interface VerifyInput {
  secret: string;
  scopes?: Scope[];
  workspace_id?: string;
}

export interface VerifyOutcome {
  valid: boolean;
  code: VerifyCode;
  failed_checks: { code: Exclude<VerifyCode, 'VALID'>; detail: string }[];
  key: KeyRecord | null;
}

export interface RequestRecord {
  principal: Principal;
  method: string;
  route: string;
  status: number;
  ip: string | null;
  user_agent: string | null;
}

export interface NewOrganizationResult {
  organization: Organization;
  owner: Member;
  key: KeyRecord;
  secret: string;
}

const WRITE_ATTEMPTS = 5;
/**
 * Usage entries per store call. Each call is one transaction, and a larger one amortizes the index
 * pages it rewrites; SQLite writes it on its writer thread, where the batch holds the write lock
 * for a few milliseconds (an in-memory SQLite database writes it inline, ~2-4 us an entry).
 */
const USAGE_BATCH = 2000;
/** Usage entries kept in memory while the store cannot take them (oldest dropped first). */
const MAX_QUEUED_USAGE = 100_000;

export class KeyService {
  readonly store: Store;
  readonly clock: Clock;
  readonly crypto: CryptoPort;
  readonly prefix: string;
  readonly usageRetentionDays: number;
  readonly cache: CredentialCache;
  #pendingUses = new Map<string, KeyUse>();
  /** Uses being written by a flush in progress: still shown by reads until the store has them. */
  #flushingUses = new Map<string, KeyUse>();
  #pendingUsage: UsageEntry[] = [];
  #unsubscribe: () => void;

  constructor(options: ServiceOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.crypto = options.crypto;
    this.#idRandom = pooledRandom(options.crypto);
    this.prefix = options.keyPrefix ?? 'hey_';
    assertValidPrefix(this.prefix);
    this.usageRetentionDays = options.usageRetentionDays ?? 30;
    this.cache = new CredentialCache(options.cacheEntries, options.keyReadMaxAgeMs);
    // Renewed in the background; a failed read leaves the entry to expire, and the next request
    // that misses reads the store itself (and gets the error, if there still is one).
    this.cache.reads.onAgeing = (orgId, keyId, now) => void this.#readKey(orgId, keyId, now).catch(() => {});
    this.#unsubscribe = this.store.subscribe((event) => this.#onStoreEvent(event));
  }

  #onStoreEvent(event: StoreEvent): void {
    if (event.type === 'key_changed') this.cache.dropKey(event.key_id);
    else if (event.type === 'policy_changed') this.cache.dropPolicy(event.org_id);
    else this.cache.clear();
  }

  #idMs = -1;
  #idSequence = 0;
  /**
   * Ids (not secrets) take their random characters from a pool refilled 4 KiB at a time: one
   * CSPRNG call per id cost ~8 us. (Usage entries, which had an id on every request, have none
   * now; the mocks' seeded fixture ids, listed in mocks/README.md, are drawn through this pool.)
   * Secrets still come straight from the crypto port.
   */
  readonly #idRandom: CryptoPort;

  #id(prefix: string): string {
    const now = this.clock.now();
    this.#idSequence = now === this.#idMs ? this.#idSequence + 1 : 0;
    this.#idMs = now;
    return newId(this.#idRandom, prefix, now, this.#idSequence);
  }

  // ---------------------------------------------------------------- organizations and bootstrap

  /**
   * Creates an organization with an owner and an owner key (permission all, never expires).
   * With `onlyIfNone` (first start), returns null when the store already holds one.
   */
  async createOrganization(input: { name: string; owner_name: string; owner_email: string; onlyIfNone: true }): Promise<NewOrganizationResult | null>;
  async createOrganization(input: { name: string; owner_name: string; owner_email: string; onlyIfNone?: false }): Promise<NewOrganizationResult>;
  async createOrganization(input: { name: string; owner_name: string; owner_email: string; onlyIfNone?: boolean }): Promise<NewOrganizationResult | null> {
    const now = this.clock.now();
    const organization: Organization = { id: this.#id('org'), name: input.name, created_at: now };
    const owner: Member = {
      id: this.#id('usr'),
      org_id: organization.id,
      type: 'user',
      name: input.owner_name,
      email: input.owner_email,
      role: 'owner',
      created_at: now,
    };
    const ownerRef: MemberRef = { type: 'user', id: owner.id, name: owner.name };
    const secret = generateKey(this.crypto, this.prefix);
    const key = this.#newKeyRecord({
      org_id: organization.id,
      name: 'Owner key',
      description: 'Created with the organization.',
      permission: resolvePermission({ type: 'all' }),
      owner: ownerRef,
      created_by: ownerRef,
      workspace_access: { type: 'all' },
      workspace_id: null,
      expires_at: null,
      secret,
      now,
    });
    const audit = [this.#audit(organization.id, 'api_key.created', key.id, key.id, null, null, now)];
    const created = await this.store.createOrganization({ only_if_none: input.onlyIfNone, org: organization, policy: { ...DEFAULT_POLICY }, owner, key, audit });
    return created ? { organization, owner, key, secret } : null;
  }

  /** Organizations never change once created, so they are cached for good. */
  #organizations = new Map<string, Organization>();

  /** The organization when it is cached (it is once anything of it was read), or null. */
  getOrganizationCached(orgId: string): Organization | null {
    return this.#organizations.get(orgId) ?? null;
  }

  async getOrganization(orgId: string): Promise<Organization> {
    const cached = this.getOrganizationCached(orgId);
    if (cached) return cached;
    const org = await this.store.getOrganization(orgId);
    if (!org) throw DomainError.notFound('organization', orgId);
    this.#organizations.set(orgId, org);
    return org;
  }

  // ---------------------------------------------------------------- authentication

  /** Well-formed for this deployment's prefix, checksum included. Costs no store access. */
  isWellFormed(secret: string): boolean {
    return isWellFormedKey(this.crypto, this.prefix, secret);
  }

  /** The credential for a secret: cache first, then one indexed lookup by digest. */
  async #lookup(secret: string): Promise<{ credential: Credential; digest: string } | null> {
    const digest = this.crypto.sha256Hex(secret);
    const credential = this.cache.get(digest) ?? (await this.#load(digest));
    return credential && confirmed(credential, digest) ? { credential, digest } : null;
  }

  /** One indexed store lookup by digest, cached unless a change was heard while it was in flight. */
  async #load(digest: string): Promise<Credential | null> {
    const generation = this.cache.generation;
    const found = await this.store.findCredential(digest);
    if (found && this.cache.generation === generation) this.cache.set(digest, found);
    return found;
  }

  async policy(orgId: string): Promise<Policy> {
    const cached = this.cache.getPolicy(orgId);
    if (cached) return cached;
    const generation = this.cache.generation;
    const policy = (await this.store.getPolicy(orgId)) ?? { ...DEFAULT_POLICY };
    if (this.cache.generation === generation) this.cache.setPolicy(orgId, policy);
    return policy;
  }

  /** Turns a presented secret into a principal, or throws the 401 that says why not. */
  async authenticate(secret: string, scheme: AuthScheme): Promise<Principal> {
    this.#assertWellFormed(secret);
    const found = await this.#lookup(secret);
    if (!found) throw new DomainError('unknown_key', 'The API key is not known.');
    const { credential, digest } = found;
    const now = this.clock.now();
    const policy = await this.policy(credential.key.org_id);
    if (isInactive(credential, policy, now)) await this.#autoDisable(credential.key.org_id, credential.key.id, now);
    return this.#admit(credential, digest, policy, scheme, now);
  }

  /**
   * The same as `authenticate` when the answer needs nothing but what is cached (the credential
   * and its organization's policy, the usual case under load), without a promise: null when it
   * needs the store. A malformed key, an answer with a failed check or a valid principal are
   * exactly what `authenticate` gives for the same secret at the same instant.
   */
  authenticateCached(secret: string, scheme: AuthScheme): Principal | null {
    this.#assertWellFormed(secret);
    const digest = this.crypto.sha256Hex(secret);
    const credential = this.cache.get(digest);
    if (!credential) return null;
    const policy = this.cache.getPolicy(credential.key.org_id);
    if (!policy) return null;
    if (!confirmed(credential, digest)) throw new DomainError('unknown_key', 'The API key is not known.');
    const now = this.clock.now();
    // Becoming inactive disables the key in the store: that is authenticate's to do.
    if (isInactive(credential, policy, now)) return null;
    return this.#admit(credential, digest, policy, scheme, now);
  }

  #assertWellFormed(secret: string): void {
    if (!this.isWellFormed(secret)) {
      throw new DomainError('malformed_key', `The API key is malformed: expected ${this.prefix} followed by 36 letters and digits with a valid checksum.`);
    }
  }

  /** The principal of a found credential, or the 401 of its first failed check. */
  #admit(credential: Credential, digest: string, policy: Policy, scheme: AuthScheme, now: number): Principal {
    const failures = lifecycleFailures(credential, policy, now);
    if (failures.length > 0) {
      const first = failures[0]!;
      throw new DomainError(first.error, first.detail);
    }
    if (!policy.allowed_auth_schemes.includes(scheme)) {
      throw new DomainError(
        'auth_scheme_not_allowed',
        `The organization's policy allows only ${policy.allowed_auth_schemes.join(' and ')} authentication.`,
      );
    }
    this.#noteUse(credential, digest, now);
    return {
      key: credential.key,
      owner_role: credential.owner_role,
      scheme,
      secret: credential.secret === 'previous' ? 'previous' : 'current',
      digest,
    };
  }

  authorize = authorize;

  /** Marks the credential used now: visible at once in this process, written in the next flush. */
  #noteUse(credential: Credential, digest: string, now: number): void {
    credential.key.last_used_at = now;
    if (credential.secret === 'previous') credential.key.prev_last_used_at = now;
    // Updated in place when queued already (a flush takes the whole map and starts a new one).
    const queued = this.#pendingUses.get(digest);
    if (queued && queued.key_id === credential.key.id) queued.at = now;
    else this.#pendingUses.set(digest, { key_id: credential.key.id, digest, at: now });
  }

  /** Queues a usage-log entry; written in the next flush, never on the request path. */
  recordRequest(record: RequestRecord): void {
    const { principal } = record;
    this.#pendingUsage.push({
      org_id: principal.key.org_id,
      key_id: principal.key.id,
      at: this.clock.now(),
      method: record.method,
      route: record.route,
      status: record.status,
      ip: record.ip,
      user_agent: record.user_agent === null ? null : record.user_agent.slice(0, 256),
      secret: principal.secret,
    });
  }

  /**
   * Writes queued last-use times and usage entries. Called on a timer, before usage reads and at
   * shutdown. Flushes run one after another, so when this resolves everything queued before the
   * call is in the store; a failed write puts its batch back in the queue for the next flush.
   */
  flush(): Promise<void> {
    const run = this.#flushChain.then(() => this.#flushOnce());
    this.#flushChain = run.catch(() => {});
    return run;
  }

  #flushChain: Promise<void> = Promise.resolve();

  async #flushOnce(): Promise<void> {
    const uses = this.#pendingUses;
    const usage = this.#pendingUsage;
    this.#pendingUses = new Map();
    this.#pendingUsage = [];
    for (const [digest, use] of uses) this.#flushingUses.set(digest, use);
    try {
      if (uses.size > 0) {
        await this.store.recordUse([...uses.values()]);
        // Their records read by id would miss these uses once they leave the queues: they get
        // them as the store now has them, instead of being read again.
        this.cache.reads.noteWritten(uses.values(), applyUse);
      }
    } catch (error) {
      for (const [digest, use] of uses) {
        const newer = this.#pendingUses.get(digest);
        if (!newer || newer.at < use.at) this.#pendingUses.set(digest, use);
      }
      this.#requeueUsage(usage);
      throw error;
    } finally {
      for (const [digest, use] of uses) if (this.#flushingUses.get(digest) === use) this.#flushingUses.delete(digest);
    }
    // In batches, letting requests in between: a store that writes on the event loop (in-memory
    // SQLite) would otherwise hold it for a second's worth of entries in one go.
    for (let written = 0; written < usage.length; written += USAGE_BATCH) {
      try {
        if (written > 0) await new Promise((resolve) => setTimeout(resolve, 0));
        await this.store.appendUsage(usage.slice(written, written + USAGE_BATCH));
      } catch (error) {
        this.#requeueUsage(usage.slice(written));
        throw error;
      }
    }
  }

  /** Puts a failed batch back ahead of newer entries, keeping at most MAX_QUEUED_USAGE (newest). */
  #requeueUsage(batch: UsageEntry[]): void {
    const queue = [...batch, ...this.#pendingUsage];
    this.#pendingUsage = queue.length > MAX_QUEUED_USAGE ? queue.slice(queue.length - MAX_QUEUED_USAGE) : queue;
  }

  /**
   * A key record as read from the store, plus this process's uses not written yet, so reads
   * show last use at once without a write on the request path.
   */
  #withQueuedUses(key: KeyRecord): KeyRecord {
    for (const queue of [this.#flushingUses, this.#pendingUses]) {
      for (const digest of [key.digest, key.prev_digest]) {
        const use = digest === null ? undefined : queue.get(digest);
        if (use) applyUse(key, use);
      }
    }
    return key;
  }

  get pendingWrites(): number {
    return this.#pendingUses.size + this.#pendingUsage.length;
  }

  /**
   * Disables every key past its organization's inactivity window; returns how many. `pause`, when
   * given, is awaited before each organization: the server passes one that lets the event loop
   * answer requests, since a store may answer synchronously (SQLite) and awaiting its answers
   * alone never leaves the microtask queue, which made a sweep of 1 000 organizations one block.
   */
  async sweepInactive(options: { pause?: () => Promise<void> } = {}): Promise<number> {
    await this.flush();
    const now = this.clock.now();
    let disabled = 0;
    for (const orgId of await this.store.listOrganizationIds()) {
      if (options.pause) await options.pause();
      const policy = await this.store.getPolicy(orgId);
      if (!policy || policy.inactivity_days === null) continue;
      for (const key of await this.store.findInactiveKeys(orgId, now - policy.inactivity_days * DAY)) {
        if (await this.#autoDisable(orgId, key.id, now)) disabled++;
      }
    }
    await this.store.pruneUsage(now - this.usageRetentionDays * DAY);
    return disabled;
  }

  async #autoDisable(orgId: string, keyId: string, now: number): Promise<boolean> {
    const policy = await this.policy(orgId);
    let done = false;
    await this.#mutateKey(orgId, keyId, (key) => {
      if (!isInactive({ key, secret: 'current', owner_role: null }, policy, now)) return null;
      done = true;
      const next = { ...key, status: 'disabled' as const, disabled_reason: 'inactivity' as const, updated_at: now };
      const changes = { status: { from: 'active', to: 'disabled' }, disabled_reason: { from: null, to: 'inactivity' } };
      return { key: next, audit: [this.#audit(orgId, 'api_key.auto_disabled', key.id, key.id, null, null, now, changes)] };
    });
    return done;
  }

  // ---------------------------------------------------------------- verify

  /** For other services. Expected outcomes are values; only contract failures are errors. */
  async verify(ctx: RequestContext, input: VerifyInput): Promise<VerifyOutcome> {
    if (!this.isWellFormed(input.secret)) return malformedSecret();
    const found = await this.#lookup(input.secret);
    if (!found || found.credential.key.org_id !== ctx.principal.key.org_id) return notThisOrganization();
    const { credential, digest } = found;
    const policy = await this.policy(credential.key.org_id);
    if (isInactive(credential, policy, ctx.now)) await this.#autoDisable(credential.key.org_id, credential.key.id, ctx.now);
    return this.#verifyFound(ctx, input, credential, digest, policy);
  }

  /**
   * The same as `verify` when the answer needs nothing but what is cached (the verified credential
   * and its organization's policy, the usual case under load), without a promise: null when it
   * needs the store (not cached, or just become inactive: disabling it is `verify`'s to do).
   */
  verifyCached(ctx: RequestContext, input: VerifyInput): VerifyOutcome | null {
    if (!this.isWellFormed(input.secret)) return malformedSecret();
    const digest = this.crypto.sha256Hex(input.secret);
    const credential = this.cache.get(digest);
    if (!credential) return null;
    if (!confirmed(credential, digest) || credential.key.org_id !== ctx.principal.key.org_id) return notThisOrganization();
    const policy = this.cache.getPolicy(credential.key.org_id);
    if (!policy || isInactive(credential, policy, ctx.now)) return null;
    return this.#verifyFound(ctx, input, credential, digest, policy);
  }

  /** Verify's checks of a credential of the caller's organization, with its policy at hand. */
  #verifyFound(ctx: RequestContext, input: VerifyInput, credential: Credential, digest: string, policy: Policy): VerifyOutcome {
    const failures: Pick<FailedCheck, 'code' | 'detail'>[] = lifecycleFailures(credential, policy, ctx.now);
    if (credential.key.status === 'revoked') {
      return { valid: false, code: 'REVOKED', failed_checks: failures.map(({ code, detail }) => ({ code, detail })), key: null };
    }
    const missing = missingScopes(credential.key.permission.scopes, input.scopes ?? []);
    if (missing.length > 0) failures.push({ code: 'INSUFFICIENT_SCOPE', detail: `The API key lacks: ${missing.join(', ')}.` });
    if (input.workspace_id !== undefined && !canReachWorkspace(credential.key, input.workspace_id)) {
      failures.push({ code: 'WORKSPACE_FORBIDDEN', detail: `The API key cannot reach workspace ${input.workspace_id}.` });
    }
    if (failures.length === 0) this.#noteUse(credential, digest, ctx.now);
    return {
      valid: failures.length === 0,
      code: failures[0]?.code ?? 'VALID',
      failed_checks: failures.map(({ code, detail }) => ({ code, detail })),
      key: credential.key,
    };
  }

  // ---------------------------------------------------------------- keys

  #newKeyRecord(input: {
    org_id: string;
    name: string;
    description: string | null;
    permission: KeyRecord['permission'];
    owner: MemberRef;
    created_by: MemberRef;
    workspace_access: WorkspaceAccess;
    workspace_id: string | null;
    expires_at: number | null;
    secret: string;
    now: number;
  }): KeyRecord {
    const { secret, now, ...rest } = input;
    return {
      id: this.#id('key'),
      ...rest,
      status: 'active',
      disabled_reason: null,
      created_at: now,
      updated_at: now,
      revoked_at: null,
      inactivity_from: now,
      last_used_at: null,
      digest: this.crypto.sha256Hex(secret),
      hint: keyHint(this.prefix, secret),
      prev_digest: null,
      prev_hint: null,
      prev_expires_at: null,
      prev_last_used_at: null,
      version: 1,
    };
  }

  #expiry(input: CreateKeyInput, policy: Policy, now: number): number | null {
    let expiresAt: number | null;
    if (input.expires_in_days !== undefined) expiresAt = now + input.expires_in_days * DAY;
    else if (input.expires_at !== undefined) {
      expiresAt = input.expires_at === null ? null : Date.parse(input.expires_at);
      if (expiresAt !== null && expiresAt <= now) {
        throw DomainError.validation([{ field: 'body/expires_at', message: `must be in the future (now is ${iso(now)})` }]);
      }
    } else expiresAt = policy.default_expiry_days === null ? null : now + policy.default_expiry_days * DAY;
    if (expiresAt === null && policy.require_expiry) {
      throw DomainError.policy('require_expiry', "The organization's policy require_expiry requires every key to expire: give expires_in_days or expires_at.");
    }
    if (policy.max_expiry_days !== null && (expiresAt === null || expiresAt > now + policy.max_expiry_days * DAY)) {
      throw DomainError.policy(
        'max_expiry_days',
        `The organization's policy max_expiry_days allows keys to live at most ${policy.max_expiry_days} days.`,
      );
    }
    return expiresAt;
  }

  async #assertWorkspacesExist(orgId: string, ids: string[], field: string): Promise<void> {
    const errors = [];
    for (const id of ids) {
      if (!(await this.store.getWorkspace(orgId, id))) errors.push({ field, message: `names unknown workspace ${id}` });
    }
    if (errors.length > 0) throw DomainError.validation(errors);
  }

  /** Creates a key; pinned to `workspaceId` for workspace-level keys. Returns the secret once. */
  async createKey(ctx: RequestContext, input: CreateKeyInput, workspaceId: string | null = null): Promise<{ key: KeyRecord; secret: string }> {
    const actor = ctx.principal;
    const orgId = actor.key.org_id;
    const now = ctx.now;
    if (workspaceId !== null) await this.#reachableWorkspace(actor, workspaceId);
    else if (reachableWorkspaces(actor.key) !== null) {
      throw new DomainError(
        'workspace_forbidden',
        'A key limited to some workspaces can only create workspace-level keys (POST /v1/workspaces/{id}/api-keys).',
      );
    }
    const permission = resolvePermission(input.permission ?? { type: 'all' });
    const access: WorkspaceAccess = workspaceId ? { type: 'selected', workspace_ids: [workspaceId] } : (input.workspace_access ?? { type: 'all' });
    assertNoEscalation(actor.key, permission.scopes, access, workspaceId);
    if (!workspaceId && access.type === 'selected') await this.#assertWorkspacesExist(orgId, access.workspace_ids, 'body/workspace_access/workspace_ids');

    const owner = input.owner ?? { type: 'user' };
    let machineUser: Member | undefined;
    let ownerRef: MemberRef = actor.key.owner;
    if (owner.type === 'machine') {
      if (actor.owner_role !== 'owner') {
        throw new DomainError('owner_required', 'Only workspace owners may create machine users; this key does not belong to an owner.');
      }
      machineUser = { id: this.#id('usr'), org_id: orgId, type: 'machine', name: owner.name, email: null, role: null, created_at: now };
      ownerRef = { type: 'machine', id: machineUser.id, name: machineUser.name };
    } else if (actor.key.owner.type === 'machine') {
      throw new DomainError('conflict', 'A machine user holds exactly one key; create this key for a new machine user instead.');
    }
    const policy = await this.policy(orgId);
    const expiresAt = this.#expiry(input, policy, now);
    const actorExpiry = actor.key.expires_at;
    if (actorExpiry !== null && (expiresAt === null || expiresAt > actorExpiry)) {
      // Outliving its creator would let a short-lived key mint access that lasts longer than its own.
      throw new DomainError(
        'privilege_escalation',
        `This API key expires on ${iso(actorExpiry)}; a key it creates cannot outlive it: give an expires_at no later than that.`,
      );
    }
    const secret = generateKey(this.crypto, this.prefix);
    const key = this.#newKeyRecord({
      org_id: orgId,
      name: input.name,
      description: input.description ?? null,
      permission,
      owner: ownerRef,
      created_by: actor.key.owner,
      workspace_access: access,
      workspace_id: workspaceId,
      expires_at: expiresAt,
      secret,
      now,
    });
    const audit: AuditEvent[] = [];
    if (machineUser) audit.push(this.#audit(orgId, 'machine_user.created', key.id, machineUser.id, ctx, actor, now));
    audit.push(this.#audit(orgId, 'api_key.created', key.id, key.id, ctx, actor, now));
    const result = await this.store.insertKey({ key, machine_user: machineUser, audit, max_keys: policy.max_keys });
    if (result === 'cap_reached') {
      throw DomainError.policy('max_keys', `The organization's policy max_keys allows at most ${policy.max_keys} keys; revoke one first.`);
    }
    return { key, secret };
  }

  /**
   * A key the caller can see, or 404 (another organization's key answers the same as a missing
   * one). Served from the key-read cache when it holds the key (domain/cache.ts says how it stays
   * coherent); writes never use it.
   */
  async getKey(ctx: RequestContext, keyId: string): Promise<KeyRecord> {
    const orgId = ctx.principal.key.org_id;
    const key = this.cache.reads.get(orgId, keyId, ctx.now) ?? (await this.#readKey(orgId, keyId, ctx.now)) ?? undefined;
    return this.#visibleKey(ctx, keyId, key);
  }

  /** Store reads of keys by id in flight, by organization and key id. */
  #keyReads = new Map<string, { generation: number; read: Promise<KeyRecord | null> }>();

  /**
   * One store read per key at a time: requests that miss the cache together (a read key's
   * record is cached for a second, so a busy key misses on many requests at once) share one
   * read instead of each making its own. A request after a change never shares a read begun before it.
   */
  #readKey(orgId: string, keyId: string, now: number): Promise<KeyRecord | null> {
    const reads = this.cache.reads;
    const generation = reads.generation;
    const id = `${orgId}/${keyId}`;
    const inFlight = this.#keyReads.get(id);
    if (inFlight?.generation === generation) return inFlight.read;
    const settled = (): void => {
      if (this.#keyReads.get(id)?.read === read) this.#keyReads.delete(id);
    };
    // A renewal's answer that cannot be kept (or its failure) leaves the record to ask again.
    const read = this.store.getKey(orgId, keyId).then(
      (key) => {
        settled();
        if (key && reads.generation === generation) reads.set(key, now);
        else reads.renewAgain(keyId);
        return key;
      },
      (error: unknown) => {
        settled();
        reads.renewAgain(keyId);
        throw error;
      },
    );
    this.#keyReads.set(id, { generation, read });
    return read;
  }

  /** The same as `getKey` when the record is cached, without a promise: null when it needs the store. */
  getKeyCached(ctx: RequestContext, keyId: string): KeyRecord | null {
    const key = this.cache.reads.get(ctx.principal.key.org_id, keyId, ctx.now);
    return key ? this.#visibleKey(ctx, keyId, key) : null;
  }

  /** A key read by id as its reader may see it (with the uses not written yet), or its 404. */
  #visibleKey(ctx: RequestContext, keyId: string, key: KeyRecord | undefined): KeyRecord {
    if (!key || key.status === 'revoked' || !canSeeKey(ctx.principal.key, key)) throw DomainError.notFound('API key', keyId);
    return this.#withQueuedUses(key);
  }

  async listKeys(ctx: RequestContext, filter: KeyFilter, page: PageRequest, workspaceId: string | null = null): Promise<Page<KeyRecord>> {
    const actor = ctx.principal.key;
    const effective: KeyFilter = { ...filter };
    if (workspaceId !== null) {
      await this.#reachableWorkspace(ctx.principal, workspaceId);
      effective.pinned_to = [workspaceId];
    } else {
      const reach = reachableWorkspaces(actor);
      if (reach !== null) effective.pinned_to = reach;
    }
    const page_ = await this.store.listKeys(actor.org_id, effective, page);
    return { ...page_, data: page_.data.map((k) => this.#withQueuedUses(k)) };
  }

  /**
   * Read-modify-write of one key with compare-and-set, retried on a lost race. `change` returns
   * the new state and its audit events, or null for "nothing to do". The cached credential is
   * dropped before this returns, so the change is enforced on the very next request.
   */
  async #mutateKey(
    orgId: string,
    keyId: string,
    change: (key: KeyRecord) => { key: KeyRecord; audit: AuditEvent[]; delete_member_id?: string } | null,
    visible: (key: KeyRecord) => boolean = (key) => key.status !== 'revoked',
  ): Promise<KeyRecord> {
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const stored = await this.store.getKey(orgId, keyId);
      if (!stored || !visible(stored)) throw DomainError.notFound('API key', keyId);
      const current = this.#withQueuedUses(stored);
      const next = change(current);
      if (!next) {
        // Nothing to write, but the cache may hold an older copy (e.g. another process's uses).
        this.cache.dropKey(keyId);
        return current;
      }
      const written = { ...next.key, version: current.version + 1 };
      const ok = await this.store.writeKey({
        key: written,
        expected_version: current.version,
        audit: next.audit,
        delete_member_id: next.delete_member_id,
      });
      this.cache.dropKey(keyId);
      if (ok) return written;
    }
    throw new DomainError('conflict', `The API key ${keyId} is being changed by another request; try again.`);
  }

  #visibleTo(actor: Principal) {
    return (key: KeyRecord) => key.status !== 'revoked' && canSeeKey(actor.key, key);
  }

  async updateKey(ctx: RequestContext, keyId: string, input: UpdateKeyInput): Promise<KeyRecord> {
    const actor = ctx.principal;
    const orgId = actor.key.org_id;
    const permission = input.permission ? resolvePermission(input.permission) : undefined;
    if (input.workspace_access?.type === 'selected') {
      await this.#assertWorkspacesExist(orgId, input.workspace_access.workspace_ids, 'body/workspace_access/workspace_ids');
    }
    return this.#mutateKey(
      orgId,
      keyId,
      (key) => {
        if (input.workspace_access && key.workspace_id) {
          throw new DomainError('conflict', `The key is pinned to workspace ${key.workspace_id}; its workspace access cannot change.`);
        }
        const next: KeyRecord = {
          ...key,
          name: input.name ?? key.name,
          description: input.description !== undefined ? input.description : key.description,
          permission: permission ?? key.permission,
          workspace_access: input.workspace_access ?? key.workspace_access,
        };
        const changes = diff(key, next, ['name', 'description', 'permission', 'workspace_access']);
        if (!changes) return null;
        if (changes['permission'] || changes['workspace_access']) {
          assertNoEscalation(actor.key, next.permission.scopes, next.workspace_access, next.workspace_id);
        }
        next.updated_at = ctx.now;
        return { key: next, audit: [this.#audit(orgId, 'api_key.updated', key.id, key.id, ctx, actor, ctx.now, changes)] };
      },
      this.#visibleTo(actor),
    );
  }

  /** Immediate and permanent. Revoking a machine user's key deletes the machine user. */
  async revokeKey(ctx: RequestContext, keyId: string): Promise<void> {
    const actor = ctx.principal;
    const orgId = actor.key.org_id;
    await this.#mutateKey(
      orgId,
      keyId,
      (key) => this.#revocation(ctx, key),
      this.#visibleTo(actor),
    );
  }

  #revocation(ctx: RequestContext, key: KeyRecord): { key: KeyRecord; audit: AuditEvent[]; delete_member_id?: string } {
    const orgId = key.org_id;
    const next: KeyRecord = { ...key, status: 'revoked', revoked_at: ctx.now, updated_at: ctx.now };
    const audit = [this.#audit(orgId, 'api_key.revoked', key.id, key.id, ctx, ctx.principal, ctx.now)];
    if (key.owner.type !== 'machine') return { key: next, audit };
    audit.push(this.#audit(orgId, 'machine_user.deleted', key.id, key.owner.id, ctx, ctx.principal, ctx.now));
    return { key: next, audit, delete_member_id: key.owner.id };
  }

  async disableKey(ctx: RequestContext, keyId: string): Promise<KeyRecord> {
    const actor = ctx.principal;
    return this.#mutateKey(
      actor.key.org_id,
      keyId,
      (key) => {
        if (key.status === 'disabled') return null;
        const next: KeyRecord = { ...key, status: 'disabled', disabled_reason: 'manual', updated_at: ctx.now };
        const changes = { status: { from: 'active', to: 'disabled' }, disabled_reason: { from: null, to: 'manual' } };
        return { key: next, audit: [this.#audit(key.org_id, 'api_key.disabled', key.id, key.id, ctx, actor, ctx.now, changes)] };
      },
      this.#visibleTo(actor),
    );
  }

  /** A revoked key can never be enabled (409). Inactivity counts again from now. */
  async enableKey(ctx: RequestContext, keyId: string): Promise<KeyRecord> {
    const actor = ctx.principal;
    return this.#mutateKey(
      actor.key.org_id,
      keyId,
      (key) => {
        if (key.status === 'revoked') {
          throw new DomainError('key_revoked_conflict', `The API key ${key.id} was revoked on ${iso(key.revoked_at ?? key.updated_at)} and can never be enabled again.`);
        }
        if (key.status === 'active') return null;
        const next: KeyRecord = { ...key, status: 'active', disabled_reason: null, inactivity_from: ctx.now, updated_at: ctx.now };
        const changes = { status: { from: 'disabled', to: 'active' }, disabled_reason: { from: key.disabled_reason, to: null } };
        return { key: next, audit: [this.#audit(key.org_id, 'api_key.enabled', key.id, key.id, ctx, actor, ctx.now, changes)] };
      },
      (key) => canSeeKey(actor.key, key),
    );
  }

  /** A new secret for the same key; the previous one works for `graceSeconds` more. */
  async rotateKey(ctx: RequestContext, keyId: string, graceSeconds: number): Promise<{ key: KeyRecord; secret: string }> {
    const actor = ctx.principal;
    const secret = generateKey(this.crypto, this.prefix);
    const key = await this.#mutateKey(
      actor.key.org_id,
      keyId,
      (key) => {
        // Rotation hands out the key's secret: only a caller at least as strong may do it.
        assertNoEscalation(actor.key, key.permission.scopes, key.workspace_access, key.workspace_id);
        const next: KeyRecord = {
          ...key,
          digest: this.crypto.sha256Hex(secret),
          hint: keyHint(this.prefix, secret),
          prev_digest: key.digest,
          prev_hint: key.hint,
          prev_expires_at: ctx.now + graceSeconds * 1000,
          prev_last_used_at: key.last_used_at,
          updated_at: ctx.now,
        };
        const changes = { hint: { from: key.hint, to: next.hint }, grace_period_seconds: { from: null, to: graceSeconds } };
        return { key: next, audit: [this.#audit(key.org_id, 'api_key.rotated', key.id, key.id, ctx, actor, ctx.now, changes)] };
      },
      this.#visibleTo(actor),
    );
    return { key, secret };
  }

  async usage(ctx: RequestContext, keyId: string, page: PageRequest) {
    await this.getKey(ctx, keyId);
    await this.flush(); // the log shows this process's queued entries too
    const orgId = ctx.principal.key.org_id;
    const before = page.cursor === undefined ? null : parseUsageCursor(page.cursor);
    const [entries, counts] = await Promise.all([
      this.store.listUsage(orgId, keyId, { limit: page.limit, before }),
      this.store.countUsage(orgId, keyId, ctx.now - this.usageRetentionDays * DAY),
    ]);
    return { ...entries, counts: { ...counts, retention_days: this.usageRetentionDays } };
  }

  // ---------------------------------------------------------------- members

  async listMembers(ctx: RequestContext, page: PageRequest) {
    const orgId = ctx.principal.key.org_id;
    const [members, counts] = await Promise.all([this.store.listMembers(orgId, page), this.store.countMembers(orgId)]);
    return { ...members, seat_count: counts.users, machine_user_count: counts.machines };
  }

  /** Deletes a machine user and revokes its key, together. */
  async deleteMember(ctx: RequestContext, memberId: string): Promise<void> {
    const orgId = ctx.principal.key.org_id;
    const member = await this.store.getMember(orgId, memberId);
    if (!member) throw DomainError.notFound('member', memberId);
    if (member.type !== 'machine') {
      throw new DomainError('conflict', `Member ${memberId} is a person; only machine users can be deleted through the API.`);
    }
    if (!member.api_key_id) throw DomainError.notFound('member', memberId);
    await this.#mutateKey(orgId, member.api_key_id, (key) => this.#revocation(ctx, key));
  }

  // ---------------------------------------------------------------- workspaces and tags

  async #reachableWorkspace(actor: Principal, workspaceId: string): Promise<Workspace> {
    const ws = await this.store.getWorkspace(actor.key.org_id, workspaceId);
    if (!ws || !canReachWorkspace(actor.key, workspaceId)) throw DomainError.notFound('workspace', workspaceId);
    return ws;
  }

  #assertAllWorkspaces(actor: Principal, what: string): void {
    if (reachableWorkspaces(actor.key) !== null) {
      throw new DomainError('workspace_forbidden', `Only a key with access to all workspaces may ${what}.`);
    }
  }

  async listWorkspaces(ctx: RequestContext, page: PageRequest): Promise<Page<Workspace>> {
    return this.store.listWorkspaces(ctx.principal.key.org_id, page, reachableWorkspaces(ctx.principal.key) ?? undefined);
  }

  async createWorkspace(ctx: RequestContext, name: string): Promise<Workspace> {
    this.#assertAllWorkspaces(ctx.principal, 'create workspaces');
    const orgId = ctx.principal.key.org_id;
    const ws: Workspace = { id: this.#id('ws'), org_id: orgId, name, created_at: ctx.now };
    await this.store.createWorkspace(ws, [this.#audit(orgId, 'workspace.created', null, ws.id, ctx, ctx.principal, ctx.now)]);
    return ws;
  }

  getWorkspace(ctx: RequestContext, workspaceId: string): Promise<Workspace> {
    return this.#reachableWorkspace(ctx.principal, workspaceId);
  }

  async renameWorkspace(ctx: RequestContext, workspaceId: string, name: string): Promise<Workspace> {
    const ws = await this.#reachableWorkspace(ctx.principal, workspaceId);
    const orgId = ctx.principal.key.org_id;
    const changes = { name: { from: ws.name, to: name } };
    const audit = [this.#audit(orgId, 'workspace.updated', null, ws.id, ctx, ctx.principal, ctx.now, changes)];
    const renamed = await this.store.renameWorkspace(orgId, workspaceId, name, audit);
    if (!renamed) throw DomainError.notFound('workspace', workspaceId);
    return renamed;
  }

  async deleteWorkspace(ctx: RequestContext, workspaceId: string): Promise<void> {
    this.#assertAllWorkspaces(ctx.principal, 'delete workspaces');
    await this.#reachableWorkspace(ctx.principal, workspaceId);
    const orgId = ctx.principal.key.org_id;
    const audit = [this.#audit(orgId, 'workspace.deleted', null, workspaceId, ctx, ctx.principal, ctx.now)];
    const revoked = await this.store.deleteWorkspace(orgId, workspaceId, ctx.now, audit);
    if (revoked === null) throw DomainError.notFound('workspace', workspaceId);
    for (const keyId of revoked) this.cache.dropKey(keyId);
  }

  async listTags(ctx: RequestContext, workspaceId: string, page: PageRequest): Promise<Page<Tag>> {
    await this.#reachableWorkspace(ctx.principal, workspaceId);
    return this.store.listTags(ctx.principal.key.org_id, workspaceId, page);
  }

  async createTag(ctx: RequestContext, workspaceId: string, name: string): Promise<Tag> {
    await this.#reachableWorkspace(ctx.principal, workspaceId);
    const tag: Tag = { id: this.#id('tag'), org_id: ctx.principal.key.org_id, workspace_id: workspaceId, name, created_at: ctx.now };
    if (!(await this.store.createTag(tag))) throw new DomainError('conflict', `Workspace ${workspaceId} already has a tag named "${name}".`);
    return tag;
  }

  async deleteTag(ctx: RequestContext, workspaceId: string, tagId: string): Promise<void> {
    await this.#reachableWorkspace(ctx.principal, workspaceId);
    if (!(await this.store.deleteTag(ctx.principal.key.org_id, workspaceId, tagId))) throw DomainError.notFound('tag', tagId);
  }

  // ---------------------------------------------------------------- policy and audit

  async updatePolicy(ctx: RequestContext, patch: Partial<Policy>): Promise<Policy> {
    const orgId = ctx.principal.key.org_id;
    const current = (await this.store.getPolicy(orgId)) ?? { ...DEFAULT_POLICY };
    const next: Policy = { ...current, ...patch };
    if (next.default_expiry_days !== null && next.max_expiry_days !== null && next.default_expiry_days > next.max_expiry_days) {
      throw DomainError.validation([
        { field: 'body/default_expiry_days', message: `must not exceed max_expiry_days (${next.max_expiry_days})` },
      ]);
    }
    const changes = diff(current, next, ['inactivity_days', 'default_expiry_days', 'max_expiry_days', 'require_expiry', 'allowed_auth_schemes', 'max_keys']);
    if (changes) {
      await this.store.updatePolicy(orgId, next, [this.#audit(orgId, 'policy.updated', null, orgId, ctx, ctx.principal, ctx.now, changes)]);
    }
    this.cache.dropPolicy(orgId);
    return next;
  }

  listAudit(ctx: RequestContext, filter: AuditFilter, page: PageRequest): Promise<Page<AuditEvent>> {
    return this.store.listAudit(ctx.principal.key.org_id, filter, page);
  }

  #audit(
    orgId: string,
    action: AuditAction,
    keyId: string | null,
    subjectId: string,
    ctx: RequestContext | null,
    actor: Principal | null,
    at: number,
    changes: AuditEvent['changes'] = null,
  ): AuditEvent {
    return {
      id: this.#id('evt'),
      org_id: orgId,
      at,
      action,
      key_id: keyId,
      subject_id: subjectId,
      actor: actor ? { key_id: actor.key.id, member: actor.key.owner } : null,
      ip: ctx?.ip ?? null,
      changes,
    };
  }

  async close(): Promise<void> {
    this.#unsubscribe();
    await this.flush();
  }
}

/** The crypto port with randomBytes served from a pool filled `poolSize` bytes at a time. */
function pooledRandom(crypto: CryptoPort, poolSize = 4096): CryptoPort {
  let pool: Uint8Array = new Uint8Array(0);
  let used = 0;
  return {
    ...crypto,
    randomBytes(length) {
      if (length > poolSize) return crypto.randomBytes(length);
      if (used + length > pool.length) {
        pool = crypto.randomBytes(poolSize);
        used = 0;
      }
      used += length;
      return pool.subarray(used - length, used);
    },
  };
}

/** The fields that differ between two versions, as `{ field: { from, to } }`, or null for none. */
function diff<T extends object>(before: T, after: T, fields: (keyof T & string)[]): Record<string, { from: unknown; to: unknown }> | null {
  const changes: Record<string, { from: unknown; to: unknown }> = {};
  for (const f of fields) {
    if (JSON.stringify(before[f]) !== JSON.stringify(after[f])) changes[f] = { from: before[f], to: after[f] };
  }
  return Object.keys(changes).length > 0 ? changes : null;
}

/** A verify answer for a secret that fails before any key is found. */
function verifyFailure(code: 'MALFORMED' | 'NOT_FOUND', detail: string): VerifyOutcome {
  return { valid: false, code, failed_checks: [{ code, detail }], key: null };
}

const malformedSecret = (): VerifyOutcome => verifyFailure('MALFORMED', 'The secret is not a well-formed key of this service.');
const notThisOrganization = (): VerifyOutcome => verifyFailure('NOT_FOUND', 'No key of this organization has this secret.');

/** A use of the key, on its record as the stores write it: last use, and the previous secret's own. */
function applyUse(key: KeyRecord, use: KeyUse): void {
  if (use.key_id !== key.id) return;
  key.last_used_at = Math.max(key.last_used_at ?? 0, use.at);
  if (use.digest === key.prev_digest) key.prev_last_used_at = Math.max(key.prev_last_used_at ?? 0, use.at);
}

/**
 * Defence in depth: the lookup was by digest; confirm the digest the credential stands for
 * without leaking timing. A retired secret has no stored digest left to compare; its lookup
 * row alone marks it.
 */
function confirmed(credential: Credential, digest: string): boolean {
  if (credential.secret === 'retired') return true;
  const stored = credential.secret === 'previous' ? credential.key.prev_digest : credential.key.digest;
  return constantTimeEqual(stored ?? '', digest);
}
