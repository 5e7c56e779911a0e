/**
 * The in-memory store: the reference semantics of the Store interface, and what the MSW mocks run
 * on. Portable (no Node API). Records are cloned on the way in and out so callers cannot alias them.
 */
import type {
  AuditEvent,
  Credential,
  KeyFilter,
  KeyRecord,
  KeyUse,
  Member,
  Organization,
  Page,
  PageRequest,
  Policy,
  Tag,
  UsageCounts,
  UsageEntry,
  Workspace,
} from '../domain/model.ts';
import { isBefore, usagePage } from '../domain/usage-cursor.ts';
import type { AuditFilter, KeyWrite, MemberWithKey, NewKey, NewOrganization, Store, StoreEvent, UsagePage } from './store.ts';

const clone = <T>(value: T): T => structuredClone(value);

/** Newest first by id (ids are time-sortable), after the cursor, one page. */
export function pageOf<T extends { id: string }>(items: Iterable<T>, page: PageRequest): Page<T> {
  const sorted = [...items].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const after = page.cursor === undefined ? sorted : sorted.filter((item) => item.id < page.cursor!);
  const data = after.slice(0, page.limit);
  const next_cursor = after.length > page.limit ? data[data.length - 1]!.id : null;
  return { data: data.map(clone), next_cursor };
}

export function matchesKeyFilter(key: KeyRecord, filter: KeyFilter): boolean {
  if (key.status === 'revoked') return false;
  if (filter.status && key.status !== filter.status) return false;
  if (filter.owner_type && key.owner.type !== filter.owner_type) return false;
  if (filter.name && !key.name.toLowerCase().includes(filter.name.toLowerCase())) return false;
  if (filter.pinned_to && (key.workspace_id === null || !filter.pinned_to.includes(key.workspace_id))) return false;
  if (filter.workspace_id) {
    const ws = filter.workspace_id;
    const reaches = key.workspace_id
      ? key.workspace_id === ws
      : key.workspace_access.type === 'all' || key.workspace_access.workspace_ids.includes(ws);
    if (!reaches) return false;
  }
  return true;
}

export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  #orgs = new Map<string, Organization>();
  #policies = new Map<string, Policy>();
  #members = new Map<string, Member>();
  #workspaces = new Map<string, Workspace>();
  #tags = new Map<string, Tag>();
  #keys = new Map<string, KeyRecord>();
  /** digest → key id, for every secret a key ever had (tombstones included). */
  #secrets = new Map<string, string>();
  #usage: (UsageEntry & { seq: number })[] = [];
  #usageSeq = 0;
  #audit: AuditEvent[] = [];

  async countOrganizations(): Promise<number> {
    return this.#orgs.size;
  }

  async createOrganization(input: NewOrganization): Promise<boolean> {
    if (input.only_if_none && this.#orgs.size > 0) return false;
    this.#orgs.set(input.org.id, clone(input.org));
    this.#policies.set(input.org.id, clone(input.policy));
    this.#members.set(input.owner.id, clone(input.owner));
    this.#putKey(input.key);
    this.#audit.push(...clone(input.audit));
    return true;
  }

  async getOrganization(orgId: string): Promise<Organization | null> {
    const org = this.#orgs.get(orgId);
    return org ? clone(org) : null;
  }

  async listOrganizationIds(): Promise<string[]> {
    return [...this.#orgs.keys()];
  }

  async getPolicy(orgId: string): Promise<Policy | null> {
    const policy = this.#policies.get(orgId);
    return policy ? clone(policy) : null;
  }

  async updatePolicy(orgId: string, policy: Policy, audit: AuditEvent[]): Promise<void> {
    this.#policies.set(orgId, clone(policy));
    this.#audit.push(...clone(audit));
  }

  #withKey(member: Member): MemberWithKey {
    let api_key_id: string | null = null;
    if (member.type === 'machine') {
      for (const key of this.#keys.values()) {
        if (key.owner.id === member.id && key.status !== 'revoked') api_key_id = key.id;
      }
    }
    return { ...clone(member), api_key_id };
  }

  async getMember(orgId: string, memberId: string): Promise<MemberWithKey | null> {
    const member = this.#members.get(memberId);
    return member && member.org_id === orgId ? this.#withKey(member) : null;
  }

  async listMembers(orgId: string, page: PageRequest): Promise<Page<MemberWithKey>> {
    const members = [...this.#members.values()].filter((m) => m.org_id === orgId).map((m) => this.#withKey(m));
    return pageOf(members, page);
  }

  async countMembers(orgId: string): Promise<{ users: number; machines: number }> {
    let users = 0;
    let machines = 0;
    for (const m of this.#members.values()) {
      if (m.org_id !== orgId) continue;
      if (m.type === 'user') users++;
      else machines++;
    }
    return { users, machines };
  }

  async createWorkspace(workspace: Workspace, audit: AuditEvent[]): Promise<void> {
    this.#workspaces.set(workspace.id, clone(workspace));
    this.#audit.push(...clone(audit));
  }

  async getWorkspace(orgId: string, workspaceId: string): Promise<Workspace | null> {
    const ws = this.#workspaces.get(workspaceId);
    return ws && ws.org_id === orgId ? clone(ws) : null;
  }

  async listWorkspaces(orgId: string, page: PageRequest, only?: string[]): Promise<Page<Workspace>> {
    const list = [...this.#workspaces.values()].filter((w) => w.org_id === orgId && (!only || only.includes(w.id)));
    return pageOf(list, page);
  }

  async renameWorkspace(orgId: string, workspaceId: string, name: string, audit: AuditEvent[]): Promise<Workspace | null> {
    const ws = this.#workspaces.get(workspaceId);
    if (!ws || ws.org_id !== orgId) return null;
    ws.name = name;
    this.#audit.push(...clone(audit));
    return clone(ws);
  }

  async deleteWorkspace(orgId: string, workspaceId: string, at: number, audit: AuditEvent[]): Promise<string[] | null> {
    const ws = this.#workspaces.get(workspaceId);
    if (!ws || ws.org_id !== orgId) return null;
    this.#workspaces.delete(workspaceId);
    for (const [id, tag] of this.#tags) if (tag.workspace_id === workspaceId) this.#tags.delete(id);
    const revoked: string[] = [];
    for (const key of this.#keys.values()) {
      if (key.workspace_id === workspaceId && key.status !== 'revoked') {
        key.status = 'revoked';
        key.revoked_at = at;
        key.updated_at = at;
        key.version++;
        revoked.push(key.id);
        if (key.owner.type === 'machine') this.#members.delete(key.owner.id);
      }
    }
    this.#audit.push(...clone(audit));
    return revoked;
  }

  async createTag(tag: Tag): Promise<boolean> {
    for (const t of this.#tags.values()) {
      if (t.workspace_id === tag.workspace_id && t.name === tag.name) return false;
    }
    this.#tags.set(tag.id, clone(tag));
    return true;
  }

  async listTags(orgId: string, workspaceId: string, page: PageRequest): Promise<Page<Tag>> {
    return pageOf([...this.#tags.values()].filter((t) => t.org_id === orgId && t.workspace_id === workspaceId), page);
  }

  async deleteTag(orgId: string, workspaceId: string, tagId: string): Promise<boolean> {
    const tag = this.#tags.get(tagId);
    if (!tag || tag.org_id !== orgId || tag.workspace_id !== workspaceId) return false;
    return this.#tags.delete(tagId);
  }

  async findCredential(digest: string): Promise<Credential | null> {
    const keyId = this.#secrets.get(digest);
    const key = keyId ? this.#keys.get(keyId) : undefined;
    if (!key) return null;
    const secret = key.digest === digest ? 'current' : key.prev_digest === digest ? 'previous' : 'retired';
    const owner = this.#members.get(key.owner.id);
    return { key: clone(key), secret, owner_role: owner?.role ?? null };
  }

  async getKey(orgId: string, keyId: string): Promise<KeyRecord | null> {
    const key = this.#keys.get(keyId);
    return key && key.org_id === orgId ? clone(key) : null;
  }

  async listKeys(orgId: string, filter: KeyFilter, page: PageRequest): Promise<Page<KeyRecord>> {
    return pageOf([...this.#keys.values()].filter((k) => k.org_id === orgId && matchesKeyFilter(k, filter)), page);
  }

  async findKeyByOwner(orgId: string, memberId: string): Promise<KeyRecord | null> {
    for (const key of this.#keys.values()) {
      if (key.org_id === orgId && key.owner.id === memberId && key.status !== 'revoked') return clone(key);
    }
    return null;
  }

  async insertKey(input: NewKey): Promise<'ok' | 'cap_reached'> {
    let held = 0;
    for (const key of this.#keys.values()) if (key.org_id === input.key.org_id && key.status !== 'revoked') held++;
    if (held >= input.max_keys) return 'cap_reached';
    if (input.machine_user) this.#members.set(input.machine_user.id, clone(input.machine_user));
    this.#putKey(input.key);
    this.#audit.push(...clone(input.audit));
    return 'ok';
  }

  #putKey(key: KeyRecord): void {
    const stored = this.#keys.get(key.id);
    // last-use times are written by recordUse only; a key write never moves them backwards.
    const copy = clone(key);
    if (stored) {
      copy.last_used_at = maxOrNull(stored.last_used_at, key.last_used_at);
      copy.prev_last_used_at = copy.prev_digest === stored.prev_digest ? maxOrNull(stored.prev_last_used_at, key.prev_last_used_at) : key.prev_last_used_at;
    }
    this.#keys.set(key.id, copy);
    this.#secrets.set(key.digest, key.id);
  }

  async writeKey(write: KeyWrite): Promise<boolean> {
    const stored = this.#keys.get(write.key.id);
    if (!stored || stored.org_id !== write.key.org_id || stored.version !== write.expected_version) return false;
    this.#putKey(write.key);
    const member = write.delete_member_id ? this.#members.get(write.delete_member_id) : undefined;
    if (member && member.org_id === stored.org_id) this.#members.delete(member.id);
    this.#audit.push(...clone(write.audit));
    return true;
  }

  async findInactiveKeys(orgId: string, cutoff: number): Promise<KeyRecord[]> {
    return [...this.#keys.values()]
      .filter((k) => k.org_id === orgId && k.status === 'active' && Math.max(k.last_used_at ?? 0, k.inactivity_from) <= cutoff)
      .map(clone);
  }

  async recordUse(uses: KeyUse[]): Promise<void> {
    for (const use of uses) {
      const key = this.#keys.get(use.key_id);
      if (!key) continue;
      key.last_used_at = maxOrNull(key.last_used_at, use.at);
      if (key.prev_digest === use.digest) key.prev_last_used_at = maxOrNull(key.prev_last_used_at, use.at);
    }
  }

  async appendUsage(entries: UsageEntry[]): Promise<void> {
    for (const entry of clone(entries)) this.#usage.push({ ...entry, seq: ++this.#usageSeq });
  }

  async listUsage(orgId: string, keyId: string, page: UsagePage): Promise<Page<UsageEntry>> {
    const newestFirst = this.#usage
      .filter((u) => u.org_id === orgId && u.key_id === keyId && isBefore(u.at, u.seq, page.before))
      .sort((a, b) => b.at - a.at || b.seq - a.seq);
    return usagePage(newestFirst, page.limit, ({ seq: _seq, ...entry }) => entry);
  }

  async countUsage(orgId: string, keyId: string, since: number): Promise<UsageCounts> {
    const counts = { total: 0, success: 0, client_error: 0, server_error: 0 };
    for (const u of this.#usage) {
      if (u.org_id !== orgId || u.key_id !== keyId || u.at < since) continue;
      counts.total++;
      if (u.status < 400) counts.success++;
      else if (u.status < 500) counts.client_error++;
      else counts.server_error++;
    }
    return counts;
  }

  async pruneUsage(before: number): Promise<number> {
    const kept = this.#usage.filter((u) => u.at >= before);
    const removed = this.#usage.length - kept.length;
    this.#usage = kept;
    return removed;
  }

  async listAudit(orgId: string, filter: AuditFilter, page: PageRequest): Promise<Page<AuditEvent>> {
    const events = this.#audit.filter(
      (e) => e.org_id === orgId && (!filter.key_id || e.key_id === filter.key_id) && (!filter.action || e.action === filter.action),
    );
    return pageOf(events, page);
  }

  /** One process owns this store: there are no other processes' changes to report. */
  subscribe(_listener: (event: StoreEvent) => void): () => void {
    return () => {};
  }

  async close(): Promise<void> {}
}

function maxOrNull(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}
