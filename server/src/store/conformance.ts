/**
 * The storage conformance suite: written once, run against every Store adapter. The memory store
 * defines the semantics; every other adapter must be indistinguishable from it here.
 *
 * Each test gets a fresh store. Records are built by the small factories below with fixed ids that
 * sort in creation order (ids are time-sortable in production; the newest has the greatest id),
 * and with millisecond timestamps so a store that truncates to seconds fails the round trips.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  AuditAction,
  AuditEvent,
  KeyRecord,
  Member,
  MemberRef,
  Page,
  Policy,
  Tag,
  UsageEntry,
  Workspace,
} from '../domain/model.ts';
import { parseUsageCursor } from '../domain/usage-cursor.ts';
import type { NewOrganization, Store, UsagePage } from './store.ts';

// ---------------------------------------------------------------- factories

/** 2026-01-15T09:30:00.123Z: the millisecond part must survive storage. */
const T0 = Date.UTC(2026, 0, 15, 9, 30, 0) + 123;
const SECOND = 1000;

const pad = (n: number): string => String(n).padStart(4, '0');

/** A 64-hex-character stand-in for a SHA-256 digest, distinct for each label. */
function digestOf(label: string): string {
  return [...label].map((c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('').padStart(64, '0');
}

const orgId = (org: string): string => `org_${org}`;
const ownerId = (org: string): string => `usr_${org}_0000`;
const memberId = (org: string, n: number): string => `usr_${org}_${pad(n)}`;
const keyId = (org: string, n: number): string => `key_${org}_${pad(n)}`;
const wsId = (org: string, n: number): string => `ws_${org}_${pad(n)}`;
const tagId = (org: string, n: number): string => `tag_${org}_${pad(n)}`;
const evtId = (org: string, n: number): string => `evt_${org}_${pad(n)}`;

const refOf = (m: Member): MemberRef => ({ type: m.type, id: m.id, name: m.name });
const ownerRef = (org: string): MemberRef => ({ type: 'user', id: ownerId(org), name: `Owner ${org}` });

/** A key record; `org` decides the org id and the default owner, `n` the id. */
function makeKey(org: string, n: number, overrides: Partial<KeyRecord> = {}): KeyRecord {
  const id = keyId(org, n);
  return {
    id,
    org_id: orgId(org),
    name: `Key ${org} ${n}`,
    description: null,
    permission: { type: 'restricted', scopes: ['campaigns:read', 'tags:write'] },
    owner: ownerRef(org),
    created_by: ownerRef(org),
    workspace_access: { type: 'all' },
    workspace_id: null,
    status: 'active',
    disabled_reason: null,
    created_at: T0 + n,
    updated_at: T0 + n,
    expires_at: null,
    revoked_at: null,
    inactivity_from: T0 + n,
    last_used_at: null,
    digest: digestOf(`${id}:1`),
    hint: `hey_...${pad(n)}`,
    prev_digest: null,
    prev_hint: null,
    prev_expires_at: null,
    prev_last_used_at: null,
    version: 1,
    ...overrides,
  };
}

function makeMachine(org: string, n: number): Member {
  return { id: memberId(org, n), org_id: orgId(org), type: 'machine', name: `Robot ${org} ${n}`, email: null, role: null, created_at: T0 + n };
}

function makeEvent(org: string, n: number, action: AuditAction = 'api_key.updated', key_id: string | null = null): AuditEvent {
  return {
    id: evtId(org, n),
    org_id: orgId(org),
    at: T0 + n * SECOND,
    action,
    key_id,
    subject_id: key_id ?? orgId(org),
    actor: { key_id: keyId(org, 0), member: ownerRef(org) },
    ip: '203.0.113.7',
    changes: { name: { from: 'old', to: 'new' }, description: { from: null, to: 'x' } },
  };
}

function makeWorkspace(org: string, n: number): Workspace {
  return { id: wsId(org, n), org_id: orgId(org), name: `Workspace ${org} ${n}`, created_at: T0 + n };
}

function makeTag(org: string, ws: number, n: number, name = `tag ${n}`): Tag {
  return { id: tagId(org, n), org_id: orgId(org), workspace_id: wsId(org, ws), name, created_at: T0 + n };
}

/** Usage entry n of `org`, at T0 + n seconds; its route names it (`/n`), since entries have no id. */
function makeUsage(org: string, n: number, overrides: Partial<UsageEntry> = {}): UsageEntry {
  return {
    org_id: orgId(org),
    key_id: keyId(org, 1),
    at: T0 + n * SECOND,
    method: 'GET',
    route: `/${n}`,
    status: 200,
    ip: '198.51.100.1',
    user_agent: 'conformance/1.0',
    secret: 'current',
    ...overrides,
  };
}

const POLICY: Policy = {
  inactivity_days: 90,
  default_expiry_days: null,
  max_expiry_days: null,
  require_expiry: false,
  allowed_auth_schemes: ['bearer', 'basic'],
  max_keys: 1000,
};

/** An organization with its owner (a person with role owner), owner key (n = 0) and one audit event. */
function makeOrganization(org: string): NewOrganization {
  const owner: Member = {
    id: ownerId(org),
    org_id: orgId(org),
    type: 'user',
    name: `Owner ${org}`,
    email: `owner@${org}.example`,
    role: 'owner',
    created_at: T0,
  };
  const key = makeKey(org, 0, { name: 'Owner key', description: 'Created with the organization.' });
  return {
    org: { id: orgId(org), name: `Organization ${org}`, created_at: T0 },
    policy: { ...POLICY },
    owner,
    key,
    audit: [makeEvent(org, 0, 'api_key.created', key.id)],
  };
}

const ids = <T extends { id: string }>(page: Page<T> | T[]): string[] => (Array.isArray(page) ? page : page.data).map((x) => x.id);
const sorted = (list: string[]): string[] => [...list].sort();

// ---------------------------------------------------------------- the suite

export function describeStoreConformance(
  name: string,
  open: () => Promise<Store>,
  close: (store: Store) => Promise<void> = (store) => store.close(),
): void {
  describe(`Store conformance: ${name}`, () => {
    let store: Store;

    beforeEach(async () => {
      store = await open();
    });

    afterEach(async () => {
      await close(store);
    });

    /** Organizations a and b, each with its owner and owner key. */
    async function seed(): Promise<{ a: NewOrganization; b: NewOrganization }> {
      const a = makeOrganization('a');
      const b = makeOrganization('b');
      await store.createOrganization(a);
      await store.createOrganization(b);
      return { a, b };
    }

    async function insert(key: KeyRecord, extra: { machine_user?: Member; audit?: AuditEvent[] } = {}): Promise<KeyRecord> {
      const result = await store.insertKey({ key, machine_user: extra.machine_user, audit: extra.audit ?? [], max_keys: 1_000_000 });
      expect(result).toBe('ok');
      return key;
    }

    /** Writes `next` over the stored key with compare-and-set, as the domain does. */
    async function write(next: KeyRecord, extra: { audit?: AuditEvent[]; delete_member_id?: string } = {}): Promise<boolean> {
      return store.writeKey({ key: next, expected_version: next.version - 1, audit: extra.audit ?? [], delete_member_id: extra.delete_member_id });
    }

    async function allAudit(org: string): Promise<AuditEvent[]> {
      return (await store.listAudit(orgId(org), {}, { limit: 1000 })).data;
    }

    it('reports its kind', () => {
      expect(['memory', 'sqlite', 'postgres']).toContain(store.kind);
    });

    // ------------------------------------------------------------ organizations

    describe('organizations', () => {
      it('an empty store has no organizations', async () => {
        expect(await store.countOrganizations()).toBe(0);
        expect(await store.listOrganizationIds()).toStrictEqual([]);
        expect(await store.getOrganization(orgId('a'))).toBeNull();
      });

      it('createOrganization stores the organization, policy, owner, owner key, its digest and the audit', async () => {
        const { a } = await seed();
        expect(await store.getOrganization(orgId('a'))).toStrictEqual(a.org);
        expect(await store.getPolicy(orgId('a'))).toStrictEqual(a.policy);
        expect(await store.getMember(orgId('a'), a.owner.id)).toStrictEqual({ ...a.owner, api_key_id: null });
        expect(await store.getKey(orgId('a'), a.key.id)).toStrictEqual(a.key);
        expect(await store.findCredential(a.key.digest)).toStrictEqual({ key: a.key, secret: 'current', owner_role: 'owner' });
        expect(await allAudit('a')).toStrictEqual(a.audit);
      });

      it('only_if_none creates the first organization once, even when asked concurrently, and never a second', async () => {
        const results = await Promise.all(
          ['a', 'b', 'c'].map((org) => store.createOrganization({ ...makeOrganization(org), only_if_none: true })),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await store.countOrganizations()).toBe(1);
        const winner = (await store.listOrganizationIds())[0]!;
        expect(await allAudit(winner.slice('org_'.length))).toHaveLength(1);
        expect(await store.createOrganization({ ...makeOrganization('d'), only_if_none: true })).toBe(false);
        expect(await store.createOrganization(makeOrganization('d'))).toBe(true);
        expect(await store.countOrganizations()).toBe(2);
      });

      it('counts and lists organizations', async () => {
        await seed();
        await store.createOrganization(makeOrganization('c'));
        expect(await store.countOrganizations()).toBe(3);
        expect(sorted(await store.listOrganizationIds())).toStrictEqual([orgId('a'), orgId('b'), orgId('c')]);
      });

      it('getOrganization answers null for an unknown id', async () => {
        await seed();
        expect(await store.getOrganization('org_unknown')).toBeNull();
      });
    });

    // ------------------------------------------------------------ policy

    describe('policy', () => {
      it('updatePolicy replaces the policy of that organization only and appends the audit', async () => {
        const { b } = await seed();
        const next: Policy = {
          inactivity_days: null,
          default_expiry_days: 30,
          max_expiry_days: 365,
          require_expiry: true,
          allowed_auth_schemes: ['basic'],
          max_keys: 5,
        };
        const event = makeEvent('a', 1, 'policy.updated');
        await store.updatePolicy(orgId('a'), next, [event]);
        expect(await store.getPolicy(orgId('a'))).toStrictEqual(next);
        expect(await store.getPolicy(orgId('b'))).toStrictEqual(b.policy);
        expect(ids(await allAudit('a'))).toContain(event.id);
        expect(ids(await allAudit('b'))).not.toContain(event.id);
      });

      it('getPolicy answers null for an unknown organization', async () => {
        expect(await store.getPolicy('org_unknown')).toBeNull();
      });

      it('a policy read back is a copy', async () => {
        await seed();
        const policy = (await store.getPolicy(orgId('a')))!;
        policy.allowed_auth_schemes.push('basic');
        policy.max_keys = 1;
        expect(await store.getPolicy(orgId('a'))).toStrictEqual(POLICY);
      });
    });

    // ------------------------------------------------------------ members

    describe('members', () => {
      it('getMember is scoped to the organization', async () => {
        const { a } = await seed();
        expect(await store.getMember(orgId('b'), a.owner.id)).toBeNull();
        expect(await store.getMember(orgId('a'), 'usr_unknown')).toBeNull();
      });

      it('a machine user created with its key reports that key as api_key_id', async () => {
        await seed();
        const robot = makeMachine('a', 1);
        const key = await insert(makeKey('a', 1, { owner: refOf(robot) }), { machine_user: robot });
        expect(await store.getMember(orgId('a'), robot.id)).toStrictEqual({ ...robot, api_key_id: key.id });
      });

      it('a machine user whose key is revoked (member kept) reports api_key_id null', async () => {
        await seed();
        const robot = makeMachine('a', 1);
        const key = await insert(makeKey('a', 1, { owner: refOf(robot) }), { machine_user: robot });
        expect(await write({ ...key, status: 'revoked', revoked_at: T0 + SECOND, version: 2 })).toBe(true);
        expect(await store.getMember(orgId('a'), robot.id)).toStrictEqual({ ...robot, api_key_id: null });
      });

      it('a person reports api_key_id null even when owning keys', async () => {
        const { a } = await seed();
        expect((await store.getMember(orgId('a'), a.owner.id))!.api_key_id).toBeNull();
      });

      it('countMembers counts people and machine users per organization', async () => {
        await seed();
        for (const n of [1, 2]) {
          const robot = makeMachine('a', n);
          await insert(makeKey('a', n, { owner: refOf(robot) }), { machine_user: robot });
        }
        expect(await store.countMembers(orgId('a'))).toStrictEqual({ users: 1, machines: 2 });
        expect(await store.countMembers(orgId('b'))).toStrictEqual({ users: 1, machines: 0 });
        expect(await store.countMembers('org_unknown')).toStrictEqual({ users: 0, machines: 0 });
      });

      it('listMembers pages newest first with api_key_id, within the organization', async () => {
        const { a } = await seed();
        const robots: Member[] = [];
        for (const n of [1, 2, 3]) {
          const robot = makeMachine('a', n);
          robots.push(robot);
          await insert(makeKey('a', n, { owner: refOf(robot) }), { machine_user: robot });
        }
        const first = await store.listMembers(orgId('a'), { limit: 2 });
        expect(first).toStrictEqual({
          data: [
            { ...robots[2]!, api_key_id: keyId('a', 3) },
            { ...robots[1]!, api_key_id: keyId('a', 2) },
          ],
          next_cursor: robots[1]!.id,
        });
        const second = await store.listMembers(orgId('a'), { limit: 2, cursor: first.next_cursor! });
        expect(second).toStrictEqual({
          data: [
            { ...robots[0]!, api_key_id: keyId('a', 1) },
            { ...a.owner, api_key_id: null },
          ],
          next_cursor: null,
        });
        expect(ids(await store.listMembers(orgId('b'), { limit: 10 }))).toStrictEqual([ownerId('b')]);
      });

      it('writeKey with delete_member_id deletes the machine user with the revoke', async () => {
        await seed();
        const robot = makeMachine('a', 1);
        const key = await insert(makeKey('a', 1, { owner: refOf(robot) }), { machine_user: robot });
        const revoked: KeyRecord = { ...key, status: 'revoked', revoked_at: T0 + SECOND, updated_at: T0 + SECOND, version: 2 };
        expect(await write(revoked, { delete_member_id: robot.id })).toBe(true);
        expect(await store.getMember(orgId('a'), robot.id)).toBeNull();
        expect(await store.countMembers(orgId('a'))).toStrictEqual({ users: 1, machines: 0 });
        expect(ids(await store.listMembers(orgId('a'), { limit: 10 }))).toStrictEqual([ownerId('a')]);
        expect(await store.getKey(orgId('a'), key.id)).toStrictEqual(revoked);
      });
    });

    // ------------------------------------------------------------ workspaces

    describe('workspaces', () => {
      it('createWorkspace round-trips, appends the audit, and getWorkspace is scoped to the organization', async () => {
        await seed();
        const ws = makeWorkspace('a', 1);
        const event = makeEvent('a', 1, 'workspace.created');
        await store.createWorkspace(ws, [event]);
        expect(await store.getWorkspace(orgId('a'), ws.id)).toStrictEqual(ws);
        expect(await store.getWorkspace(orgId('b'), ws.id)).toBeNull();
        expect(await store.getWorkspace(orgId('a'), 'ws_unknown')).toBeNull();
        expect(ids(await allAudit('a'))).toContain(event.id);
      });

      it('listWorkspaces pages newest first within the organization', async () => {
        await seed();
        for (const n of [1, 2, 3, 4, 5]) await store.createWorkspace(makeWorkspace('a', n), []);
        await store.createWorkspace(makeWorkspace('b', 6), []);
        const first = await store.listWorkspaces(orgId('a'), { limit: 2 });
        expect(first).toStrictEqual({ data: [makeWorkspace('a', 5), makeWorkspace('a', 4)], next_cursor: wsId('a', 4) });
        const second = await store.listWorkspaces(orgId('a'), { limit: 2, cursor: first.next_cursor! });
        expect(second).toStrictEqual({ data: [makeWorkspace('a', 3), makeWorkspace('a', 2)], next_cursor: wsId('a', 2) });
        const third = await store.listWorkspaces(orgId('a'), { limit: 2, cursor: second.next_cursor! });
        expect(third).toStrictEqual({ data: [makeWorkspace('a', 1)], next_cursor: null });
      });

      it('listWorkspaces with `only` lists just those (an empty list lists none)', async () => {
        await seed();
        for (const n of [1, 2, 3]) await store.createWorkspace(makeWorkspace('a', n), []);
        await store.createWorkspace(makeWorkspace('b', 4), []);
        const only = [wsId('a', 3), wsId('a', 1), wsId('b', 4), 'ws_unknown'];
        expect(ids(await store.listWorkspaces(orgId('a'), { limit: 10 }, only))).toStrictEqual([wsId('a', 3), wsId('a', 1)]);
        expect(await store.listWorkspaces(orgId('a'), { limit: 10 }, [])).toStrictEqual({ data: [], next_cursor: null });
        const paged = await store.listWorkspaces(orgId('a'), { limit: 1 }, only);
        expect(paged).toStrictEqual({ data: [makeWorkspace('a', 3)], next_cursor: wsId('a', 3) });
        expect(ids(await store.listWorkspaces(orgId('a'), { limit: 1, cursor: paged.next_cursor! }, only))).toStrictEqual([wsId('a', 1)]);
      });

      it('renameWorkspace renames within the organization and appends the audit', async () => {
        await seed();
        const ws = makeWorkspace('a', 1);
        await store.createWorkspace(ws, []);
        const event = makeEvent('a', 2, 'workspace.updated');
        const renamed = { ...ws, name: 'Renamed ✓' };
        expect(await store.renameWorkspace(orgId('a'), ws.id, 'Renamed ✓', [event])).toStrictEqual(renamed);
        expect(await store.getWorkspace(orgId('a'), ws.id)).toStrictEqual(renamed);
        expect(ids(await allAudit('a'))).toContain(event.id);
      });

      it('renameWorkspace answers null for another organization or an unknown id, changing nothing', async () => {
        await seed();
        const ws = makeWorkspace('a', 1);
        await store.createWorkspace(ws, []);
        expect(await store.renameWorkspace(orgId('b'), ws.id, 'Stolen', [makeEvent('b', 1, 'workspace.updated')])).toBeNull();
        expect(await store.renameWorkspace(orgId('a'), 'ws_unknown', 'Nothing', [makeEvent('a', 2, 'workspace.updated')])).toBeNull();
        expect(await store.getWorkspace(orgId('a'), ws.id)).toStrictEqual(ws);
        expect(ids(await allAudit('a'))).not.toContain(evtId('a', 2));
        expect(ids(await allAudit('b'))).not.toContain(evtId('b', 1));
      });

      it('deleteWorkspace removes the workspace and its tags, revokes its pinned keys and deletes their machine users', async () => {
        const { a } = await seed();
        for (const n of [1, 2]) await store.createWorkspace(makeWorkspace('a', n), []);
        await store.createTag(makeTag('a', 1, 1));
        await store.createTag(makeTag('a', 1, 2));
        const keptTag = makeTag('a', 2, 3);
        await store.createTag(keptTag);

        const robot = makeMachine('a', 1);
        const pinnedToRobot = await insert(
          makeKey('a', 1, { owner: refOf(robot), workspace_id: wsId('a', 1), workspace_access: { type: 'selected', workspace_ids: [wsId('a', 1)] } }),
          { machine_user: robot },
        );
        const pinnedToPerson = await insert(
          makeKey('a', 2, { workspace_id: wsId('a', 1), workspace_access: { type: 'selected', workspace_ids: [wsId('a', 1)] }, status: 'disabled', disabled_reason: 'manual' }),
        );
        const alreadyRevoked = await insert(makeKey('a', 3, { workspace_id: wsId('a', 1), status: 'revoked', revoked_at: T0 + 5 }));
        const pinnedElsewhere = await insert(makeKey('a', 4, { workspace_id: wsId('a', 2) }));
        const selectingIt = await insert(makeKey('a', 5, { workspace_access: { type: 'selected', workspace_ids: [wsId('a', 1), wsId('a', 2)] } }));

        const at = T0 + 60 * SECOND;
        const event = makeEvent('a', 9, 'workspace.deleted');
        const revoked = await store.deleteWorkspace(orgId('a'), wsId('a', 1), at, [event]);
        expect(sorted(revoked!)).toStrictEqual([pinnedToRobot.id, pinnedToPerson.id]);

        expect(await store.getWorkspace(orgId('a'), wsId('a', 1))).toBeNull();
        expect((await store.listTags(orgId('a'), wsId('a', 1), { limit: 10 })).data).toStrictEqual([]);
        expect((await store.listTags(orgId('a'), wsId('a', 2), { limit: 10 })).data).toStrictEqual([keptTag]);
        for (const key of [pinnedToRobot, pinnedToPerson]) {
          expect(await store.getKey(orgId('a'), key.id)).toStrictEqual({ ...key, status: 'revoked', revoked_at: at, updated_at: at, version: 2 });
        }
        for (const key of [alreadyRevoked, pinnedElsewhere, selectingIt]) expect(await store.getKey(orgId('a'), key.id)).toStrictEqual(key);
        expect(await store.getMember(orgId('a'), robot.id)).toBeNull();
        expect(await store.getMember(orgId('a'), a.owner.id)).not.toBeNull();
        expect((await store.findCredential(pinnedToRobot.digest))!.key.status).toBe('revoked');
        expect(ids(await allAudit('a'))).toContain(event.id);
        expect(ids(await store.listKeys(orgId('a'), {}, { limit: 10 }))).toStrictEqual([selectingIt.id, pinnedElsewhere.id, a.key.id]);
      });

      it('deleteWorkspace answers null for another organization or an unknown id, changing nothing', async () => {
        await seed();
        const ws = makeWorkspace('a', 1);
        await store.createWorkspace(ws, []);
        const pinned = await insert(makeKey('a', 1, { workspace_id: ws.id }));
        expect(await store.deleteWorkspace(orgId('b'), ws.id, T0 + SECOND, [makeEvent('b', 1, 'workspace.deleted')])).toBeNull();
        expect(await store.deleteWorkspace(orgId('a'), 'ws_unknown', T0 + SECOND, [makeEvent('a', 1, 'workspace.deleted')])).toBeNull();
        expect(await store.getWorkspace(orgId('a'), ws.id)).toStrictEqual(ws);
        expect(await store.getKey(orgId('a'), pinned.id)).toStrictEqual(pinned);
        expect(ids(await allAudit('a'))).not.toContain(evtId('a', 1));
        expect(ids(await allAudit('b'))).not.toContain(evtId('b', 1));
      });

      it('deleteWorkspace with no pinned keys returns an empty list', async () => {
        await seed();
        await store.createWorkspace(makeWorkspace('a', 1), []);
        expect(await store.deleteWorkspace(orgId('a'), wsId('a', 1), T0, [])).toStrictEqual([]);
        expect(await store.deleteWorkspace(orgId('a'), wsId('a', 1), T0, [])).toBeNull();
      });
    });

    // ------------------------------------------------------------ tags

    describe('tags', () => {
      beforeEach(async () => {
        await seed();
        for (const n of [1, 2]) await store.createWorkspace(makeWorkspace('a', n), []);
        await store.createWorkspace(makeWorkspace('b', 3), []);
      });

      it('a tag name is unique within a workspace, not across workspaces', async () => {
        const tag = makeTag('a', 1, 1, 'production');
        expect(await store.createTag(tag)).toBe(true);
        expect(await store.createTag(makeTag('a', 1, 2, 'production'))).toBe(false);
        expect((await store.listTags(orgId('a'), wsId('a', 1), { limit: 10 })).data).toStrictEqual([tag]);
        expect(await store.createTag(makeTag('a', 2, 3, 'production'))).toBe(true);
        expect(await store.createTag({ ...makeTag('b', 3, 4, 'production') })).toBe(true);
      });

      it('listTags pages newest first, scoped to organization and workspace', async () => {
        for (const n of [1, 2, 3]) await store.createTag(makeTag('a', 1, n));
        await store.createTag(makeTag('a', 2, 4));
        const first = await store.listTags(orgId('a'), wsId('a', 1), { limit: 2 });
        expect(first).toStrictEqual({ data: [makeTag('a', 1, 3), makeTag('a', 1, 2)], next_cursor: tagId('a', 2) });
        expect(await store.listTags(orgId('a'), wsId('a', 1), { limit: 2, cursor: first.next_cursor! })).toStrictEqual({
          data: [makeTag('a', 1, 1)],
          next_cursor: null,
        });
        expect((await store.listTags(orgId('b'), wsId('a', 1), { limit: 10 })).data).toStrictEqual([]);
      });

      it('deleteTag deletes only within the right organization and workspace', async () => {
        const tag = makeTag('a', 1, 1, 'production');
        await store.createTag(tag);
        expect(await store.deleteTag(orgId('b'), wsId('a', 1), tag.id)).toBe(false);
        expect(await store.deleteTag(orgId('a'), wsId('a', 2), tag.id)).toBe(false);
        expect((await store.listTags(orgId('a'), wsId('a', 1), { limit: 10 })).data).toStrictEqual([tag]);
        expect(await store.deleteTag(orgId('a'), wsId('a', 1), tag.id)).toBe(true);
        expect(await store.deleteTag(orgId('a'), wsId('a', 1), tag.id)).toBe(false);
        expect((await store.listTags(orgId('a'), wsId('a', 1), { limit: 10 })).data).toStrictEqual([]);
        expect(await store.createTag(makeTag('a', 1, 2, 'production'))).toBe(true);
      });
    });

    // ------------------------------------------------------------ keys: records

    describe('keys', () => {
      it('a key with every optional field set round-trips exactly', async () => {
        await seed();
        const key = makeKey('a', 1, {
          name: 'Zürich "reports" ✓ 100% _done_',
          description: 'Line one\nline two',
          permission: { type: 'restricted', scopes: ['tags:write', 'campaigns:read', 'api_keys:read'] },
          created_by: { type: 'machine', id: 'usr_a_0009', name: 'Robot' },
          workspace_access: { type: 'selected', workspace_ids: ['ws_a_0002', 'ws_a_0001'] },
          workspace_id: 'ws_a_0002',
          status: 'disabled',
          disabled_reason: 'inactivity',
          updated_at: T0 + 7 * SECOND + 1,
          expires_at: T0 + 365 * 86_400_000 + 999,
          inactivity_from: T0 + 2 * SECOND + 3,
          last_used_at: T0 + 3 * SECOND + 5,
          prev_digest: digestOf('previous'),
          prev_hint: 'hey_...prev',
          prev_expires_at: T0 + 4 * SECOND + 7,
          prev_last_used_at: T0 + SECOND + 9,
          version: 7,
        });
        await insert(key);
        expect(await store.getKey(orgId('a'), key.id)).toStrictEqual(key);
      });

      it('a key with every optional field null round-trips exactly', async () => {
        const { a } = await seed();
        expect(await store.getKey(orgId('a'), a.key.id)).toStrictEqual(a.key);
        const bare = makeKey('a', 1, { permission: { type: 'read_only', scopes: [] }, description: null });
        await insert(bare);
        expect(await store.getKey(orgId('a'), bare.id)).toStrictEqual(bare);
      });

      it('getKey is scoped to the organization and returns revoked keys', async () => {
        const { a } = await seed();
        const revoked = await insert(makeKey('a', 1, { status: 'revoked', revoked_at: T0 + SECOND }));
        expect(await store.getKey(orgId('b'), a.key.id)).toBeNull();
        expect(await store.getKey(orgId('a'), 'key_unknown')).toBeNull();
        expect(await store.getKey(orgId('a'), revoked.id)).toStrictEqual(revoked);
      });

      it('records are copies: changing what went in or came out changes nothing stored', async () => {
        await seed();
        const key = makeKey('a', 1, { workspace_access: { type: 'selected', workspace_ids: ['ws_a_0001'] } });
        const original = structuredClone(key);
        await insert(key);
        key.name = 'changed after insert';
        key.permission.scopes.push('api_keys:write');
        const read = (await store.getKey(orgId('a'), key.id))!;
        read.owner.name = 'changed after read';
        if (read.workspace_access.type === 'selected') read.workspace_access.workspace_ids.push('ws_x');
        expect(await store.getKey(orgId('a'), key.id)).toStrictEqual(original);
      });

      it('findKeyByOwner finds the unrevoked key a machine user holds, within the organization', async () => {
        await seed();
        const robot = makeMachine('a', 1);
        const key = await insert(makeKey('a', 1, { owner: refOf(robot) }), { machine_user: robot });
        expect(await store.findKeyByOwner(orgId('a'), robot.id)).toStrictEqual(key);
        expect(await store.findKeyByOwner(orgId('b'), robot.id)).toBeNull();
        expect(await store.findKeyByOwner(orgId('a'), 'usr_unknown')).toBeNull();
        await write({ ...key, status: 'revoked', revoked_at: T0 + SECOND, version: 2 });
        expect(await store.findKeyByOwner(orgId('a'), robot.id)).toBeNull();
      });
    });

    // ------------------------------------------------------------ keys: listing

    describe('listKeys', () => {
      it('pages newest first with cursors across several pages', async () => {
        const { a } = await seed();
        const keys = [a.key];
        for (const n of [1, 2, 3, 4, 5, 6, 7]) keys.push(await insert(makeKey('a', n)));
        const newestFirst = [...keys].reverse();
        const first = await store.listKeys(orgId('a'), {}, { limit: 3 });
        expect(first).toStrictEqual({ data: newestFirst.slice(0, 3), next_cursor: keyId('a', 5) });
        const second = await store.listKeys(orgId('a'), {}, { limit: 3, cursor: first.next_cursor! });
        expect(second).toStrictEqual({ data: newestFirst.slice(3, 6), next_cursor: keyId('a', 2) });
        const third = await store.listKeys(orgId('a'), {}, { limit: 3, cursor: second.next_cursor! });
        expect(third).toStrictEqual({ data: newestFirst.slice(6), next_cursor: null });
      });

      it('gives no cursor when the last page is exactly full', async () => {
        await seed();
        for (const n of [1, 2, 3, 4, 5]) await insert(makeKey('a', n));
        const first = await store.listKeys(orgId('a'), {}, { limit: 3 });
        expect(ids(first)).toStrictEqual([keyId('a', 5), keyId('a', 4), keyId('a', 3)]);
        const last = await store.listKeys(orgId('a'), {}, { limit: 3, cursor: first.next_cursor! });
        expect(last).toMatchObject({ next_cursor: null });
        expect(ids(last)).toStrictEqual([keyId('a', 2), keyId('a', 1), keyId('a', 0)]);
        expect((await store.listKeys(orgId('a'), {}, { limit: 6 })).next_cursor).toBeNull();
        expect((await store.listKeys(orgId('a'), {}, { limit: 5 })).next_cursor).toBe(keyId('a', 1));
      });

      it('excludes revoked keys and other organizations’ keys', async () => {
        const { a } = await seed();
        await insert(makeKey('a', 1, { status: 'revoked', revoked_at: T0 }));
        const disabled = await insert(makeKey('a', 2, { status: 'disabled', disabled_reason: 'manual' }));
        expect(await store.listKeys(orgId('a'), {}, { limit: 10 })).toStrictEqual({ data: [disabled, a.key], next_cursor: null });
      });

      it('filters by status and owner type', async () => {
        await seed();
        const robot = makeMachine('a', 1);
        await insert(makeKey('a', 1, { owner: refOf(robot) }), { machine_user: robot });
        await insert(makeKey('a', 2, { status: 'disabled', disabled_reason: 'manual' }));
        const robot2 = makeMachine('a', 3);
        await insert(makeKey('a', 3, { owner: refOf(robot2), status: 'disabled', disabled_reason: 'inactivity' }), { machine_user: robot2 });
        const list = async (filter: Parameters<Store['listKeys']>[1]) => ids(await store.listKeys(orgId('a'), filter, { limit: 10 }));
        expect(await list({ status: 'active' })).toStrictEqual([keyId('a', 1), keyId('a', 0)]);
        expect(await list({ status: 'disabled' })).toStrictEqual([keyId('a', 3), keyId('a', 2)]);
        expect(await list({ owner_type: 'machine' })).toStrictEqual([keyId('a', 3), keyId('a', 1)]);
        expect(await list({ owner_type: 'user' })).toStrictEqual([keyId('a', 2), keyId('a', 0)]);
        expect(await list({ owner_type: 'machine', status: 'active' })).toStrictEqual([keyId('a', 1)]);
      });

      it('filters by name: a case-insensitive substring, with no wildcards', async () => {
        await seed();
        await insert(makeKey('a', 1, { name: 'Billing Service' }));
        await insert(makeKey('a', 2, { name: 'billing-cron' }));
        await insert(makeKey('a', 3, { name: 'Reports 100%' }));
        await insert(makeKey('a', 4, { name: 'ZÜRICH exporter' }));
        await insert(makeKey('a', 5, { name: 'under_score' }));
        const byName = async (name: string) => ids(await store.listKeys(orgId('a'), { name }, { limit: 10 }));
        expect(await byName('BILL')).toStrictEqual([keyId('a', 2), keyId('a', 1)]);
        expect(await byName('ing s')).toStrictEqual([keyId('a', 1)]);
        expect(await byName('%')).toStrictEqual([keyId('a', 3)]);
        expect(await byName('r_s')).toStrictEqual([keyId('a', 5)]);
        expect(await byName('_')).toStrictEqual([keyId('a', 5)]);
        expect(await byName('zürich')).toStrictEqual([keyId('a', 4)]);
        expect(await byName('nothing like it')).toStrictEqual([]);
      });

      it('filters by workspace reach: all-access keys, selected keys naming it, keys pinned to it', async () => {
        await seed(); // the owner key (0) has access to all workspaces
        const [w1, w2, w3] = [wsId('a', 1), wsId('a', 2), wsId('a', 3)];
        await insert(makeKey('a', 1, { workspace_access: { type: 'selected', workspace_ids: [w1, w2] } }));
        await insert(makeKey('a', 2, { workspace_access: { type: 'selected', workspace_ids: [w2] } }));
        await insert(makeKey('a', 3, { workspace_id: w1, workspace_access: { type: 'selected', workspace_ids: [w1] } }));
        await insert(makeKey('a', 4, { workspace_id: w2, workspace_access: { type: 'selected', workspace_ids: [w2] } }));
        const reaching = async (workspace_id: string) => ids(await store.listKeys(orgId('a'), { workspace_id }, { limit: 10 }));
        expect(await reaching(w1)).toStrictEqual([keyId('a', 3), keyId('a', 1), keyId('a', 0)]);
        expect(await reaching(w2)).toStrictEqual([keyId('a', 4), keyId('a', 2), keyId('a', 1), keyId('a', 0)]);
        expect(await reaching(w3)).toStrictEqual([keyId('a', 0)]);
      });

      it('a pinned key reaches only its workspace, whatever its workspace_access says', async () => {
        await seed();
        await insert(makeKey('a', 1, { workspace_id: wsId('a', 1), workspace_access: { type: 'all' } }));
        await insert(makeKey('a', 2, { workspace_id: wsId('a', 1), workspace_access: { type: 'selected', workspace_ids: [wsId('a', 2)] } }));
        const reaching = async (workspace_id: string) => ids(await store.listKeys(orgId('a'), { workspace_id }, { limit: 10 }));
        expect(await reaching(wsId('a', 1))).toStrictEqual([keyId('a', 2), keyId('a', 1), keyId('a', 0)]);
        expect(await reaching(wsId('a', 2))).toStrictEqual([keyId('a', 0)]);
      });

      it('filters by pinned_to: only keys pinned to one of those workspaces (an empty list matches none)', async () => {
        await seed();
        const [w1, w2] = [wsId('a', 1), wsId('a', 2)];
        await insert(makeKey('a', 1, { workspace_access: { type: 'selected', workspace_ids: [w1] } }));
        await insert(makeKey('a', 2, { workspace_id: w1, workspace_access: { type: 'selected', workspace_ids: [w1] } }));
        await insert(makeKey('a', 3, { workspace_id: w2, workspace_access: { type: 'selected', workspace_ids: [w2] } }));
        const pinned = async (pinned_to: string[]) => ids(await store.listKeys(orgId('a'), { pinned_to }, { limit: 10 }));
        expect(await pinned([w1])).toStrictEqual([keyId('a', 2)]);
        expect(await pinned([w1, w2])).toStrictEqual([keyId('a', 3), keyId('a', 2)]);
        expect(await pinned([])).toStrictEqual([]);
      });

      it('combines filters and pages through the filtered keys', async () => {
        await seed();
        const w1 = wsId('a', 1);
        for (const n of [1, 2, 3, 4, 5, 6]) {
          await insert(makeKey('a', n, {
            name: n % 2 === 0 ? `Deploy ${n}` : `Other ${n}`,
            workspace_id: w1,
            workspace_access: { type: 'selected', workspace_ids: [w1] },
            ...(n === 6 ? { status: 'disabled' as const, disabled_reason: 'manual' as const } : {}),
          }));
        }
        const filter = { name: 'deploy', status: 'active' as const, workspace_id: w1, pinned_to: [w1] };
        const first = await store.listKeys(orgId('a'), filter, { limit: 1 });
        expect(ids(first)).toStrictEqual([keyId('a', 4)]);
        expect(first.next_cursor).toBe(keyId('a', 4));
        const second = await store.listKeys(orgId('a'), filter, { limit: 1, cursor: first.next_cursor! });
        expect(second).toStrictEqual({ data: [await store.getKey(orgId('a'), keyId('a', 2))], next_cursor: null });
      });
    });

    // ------------------------------------------------------------ keys: credentials

    describe('findCredential', () => {
      it('answers null for an unknown digest', async () => {
        await seed();
        expect(await store.findCredential(digestOf('unknown'))).toBeNull();
      });

      it('tells current, previous and retired secrets apart after two rotations', async () => {
        await seed();
        const v1 = await insert(makeKey('a', 1));
        const [d1, d2, d3] = [v1.digest, digestOf('second'), digestOf('third')];
        const v2: KeyRecord = { ...v1, digest: d2, hint: 'hey_...0002', prev_digest: d1, prev_hint: v1.hint, prev_expires_at: T0 + 60 * SECOND, version: 2 };
        expect(await write(v2)).toBe(true);
        const v3: KeyRecord = { ...v2, digest: d3, hint: 'hey_...0003', prev_digest: d2, prev_hint: v2.hint, prev_expires_at: T0 + 120 * SECOND, version: 3 };
        expect(await write(v3)).toBe(true);
        expect(await store.findCredential(d3)).toStrictEqual({ key: v3, secret: 'current', owner_role: 'owner' });
        expect(await store.findCredential(d2)).toStrictEqual({ key: v3, secret: 'previous', owner_role: 'owner' });
        expect(await store.findCredential(d1)).toStrictEqual({ key: v3, secret: 'retired', owner_role: 'owner' });
      });

      it('finds revoked keys (their digests must never work again)', async () => {
        await seed();
        const key = await insert(makeKey('a', 1));
        const revoked: KeyRecord = { ...key, status: 'revoked', revoked_at: T0 + SECOND, updated_at: T0 + SECOND, version: 2 };
        await write(revoked);
        expect(await store.findCredential(key.digest)).toStrictEqual({ key: revoked, secret: 'current', owner_role: 'owner' });
      });

      it('reads owner_role from the owner’s member row (null for machine users and deleted owners)', async () => {
        await seed();
        // The interface adds people only with an organization or a key; a member-role person via insertKey.
        const person: Member = { id: memberId('a', 1), org_id: orgId('a'), type: 'user', name: 'Pat', email: 'pat@a.example', role: 'member', created_at: T0 };
        const personKey = await insert(makeKey('a', 1, { owner: refOf(person) }), { machine_user: person });
        expect((await store.findCredential(personKey.digest))!.owner_role).toBe('member');

        const robot = makeMachine('a', 2);
        const robotKey = await insert(makeKey('a', 2, { owner: refOf(robot) }), { machine_user: robot });
        expect(await store.findCredential(robotKey.digest)).toStrictEqual({ key: robotKey, secret: 'current', owner_role: null });

        const revoked = { ...robotKey, status: 'revoked' as const, revoked_at: T0 + SECOND, version: 2 };
        await write(revoked, { delete_member_id: robot.id });
        expect(await store.findCredential(robotKey.digest)).toStrictEqual({ key: revoked, secret: 'current', owner_role: null });
      });
    });

    // ------------------------------------------------------------ keys: insert

    describe('insertKey', () => {
      it('inserts the key, its digest, the machine user and the audit together', async () => {
        await seed();
        const robot = makeMachine('a', 1);
        const key = makeKey('a', 1, { owner: refOf(robot) });
        const audit = [makeEvent('a', 1, 'machine_user.created', key.id), makeEvent('a', 2, 'api_key.created', key.id)];
        expect(await store.insertKey({ key, machine_user: robot, audit, max_keys: 10 })).toBe('ok');
        expect(await store.getKey(orgId('a'), key.id)).toStrictEqual(key);
        expect((await store.findCredential(key.digest))!.key).toStrictEqual(key);
        expect(await store.getMember(orgId('a'), robot.id)).toStrictEqual({ ...robot, api_key_id: key.id });
        expect((await store.listAudit(orgId('a'), { key_id: key.id }, { limit: 10 })).data).toStrictEqual([audit[1], audit[0]]);
      });

      it('refuses at the cap, writing nothing: no key, no digest, no machine user, no audit', async () => {
        await seed(); // the owner key holds 1 of the cap
        await insert(makeKey('a', 1));
        const robot = makeMachine('a', 2);
        const key = makeKey('a', 2, { owner: refOf(robot) });
        const audit = [makeEvent('a', 2, 'api_key.created', key.id)];
        expect(await store.insertKey({ key, machine_user: robot, audit, max_keys: 2 })).toBe('cap_reached');
        expect(await store.getKey(orgId('a'), key.id)).toBeNull();
        expect(await store.findCredential(key.digest)).toBeNull();
        expect(await store.getMember(orgId('a'), robot.id)).toBeNull();
        expect(await store.countMembers(orgId('a'))).toStrictEqual({ users: 1, machines: 0 });
        expect(ids(await allAudit('a'))).not.toContain(audit[0]!.id);
        expect(await store.insertKey({ key, machine_user: robot, audit, max_keys: 3 })).toBe('ok');
      });

      it('counts only this organization’s unrevoked keys toward the cap', async () => {
        await seed();
        const first = await insert(makeKey('a', 1));
        expect(await store.insertKey({ key: makeKey('a', 2), audit: [], max_keys: 2 })).toBe('cap_reached');
        // Organization b holds one key (its owner's) whatever a holds.
        expect(await store.insertKey({ key: makeKey('b', 3), audit: [], max_keys: 2 })).toBe('ok');
        await write({ ...first, status: 'revoked', revoked_at: T0 + SECOND, version: 2 });
        expect(await store.insertKey({ key: makeKey('a', 2), audit: [], max_keys: 2 })).toBe('ok');
        // A disabled key still counts.
        await write({ ...makeKey('a', 2), status: 'disabled', disabled_reason: 'manual', version: 2 });
        expect(await store.insertKey({ key: makeKey('a', 4), audit: [], max_keys: 2 })).toBe('cap_reached');
      });

      it('keys revoked by deleting their workspace stop counting toward the cap', async () => {
        await seed();
        await store.createWorkspace(makeWorkspace('a', 1), []);
        for (const n of [1, 2]) await insert(makeKey('a', n, { workspace_id: wsId('a', 1) }));
        expect(await store.insertKey({ key: makeKey('a', 3), audit: [], max_keys: 3 })).toBe('cap_reached');
        await store.deleteWorkspace(orgId('a'), wsId('a', 1), T0 + SECOND, []);
        expect(await store.insertKey({ key: makeKey('a', 3), audit: [], max_keys: 2 })).toBe('ok');
      });
    });

    // ------------------------------------------------------------ keys: compare-and-set writes

    describe('writeKey', () => {
      it('writes when the stored version is the expected one, appending the audit', async () => {
        await seed();
        const key = await insert(makeKey('a', 1));
        const next: KeyRecord = {
          ...key,
          name: 'Renamed',
          description: 'now described',
          permission: { type: 'all', scopes: ['campaigns:read', 'campaigns:write'] },
          workspace_access: { type: 'selected', workspace_ids: ['ws_a_0001'] },
          updated_at: T0 + SECOND + 1,
          version: 2,
        };
        const event = makeEvent('a', 1, 'api_key.updated', key.id);
        expect(await store.writeKey({ key: next, expected_version: 1, audit: [event] })).toBe(true);
        expect(await store.getKey(orgId('a'), key.id)).toStrictEqual(next);
        expect((await store.listAudit(orgId('a'), { key_id: key.id }, { limit: 10 })).data).toStrictEqual([event]);
      });

      it('refuses a stale expected_version and changes nothing: key, member and audit untouched', async () => {
        await seed();
        const robot = makeMachine('a', 1);
        const key = await insert(makeKey('a', 1, { owner: refOf(robot) }), { machine_user: robot });
        const disabled: KeyRecord = { ...key, status: 'disabled', disabled_reason: 'manual', version: 2 };
        expect(await store.writeKey({ key: disabled, expected_version: 1, audit: [] })).toBe(true);
        const lost: KeyRecord = { ...key, status: 'revoked', revoked_at: T0 + SECOND, digest: digestOf('lost'), version: 2 };
        const event = makeEvent('a', 5, 'api_key.revoked', key.id);
        expect(await store.writeKey({ key: lost, expected_version: 1, audit: [event], delete_member_id: robot.id })).toBe(false);
        expect(await store.getKey(orgId('a'), key.id)).toStrictEqual(disabled);
        expect(await store.getMember(orgId('a'), robot.id)).not.toBeNull();
        expect(await store.findCredential(digestOf('lost'))).toBeNull();
        expect(ids(await allAudit('a'))).not.toContain(event.id);
      });

      it('refuses an unknown key', async () => {
        await seed();
        expect(await store.writeKey({ key: makeKey('a', 1, { version: 2 }), expected_version: 1, audit: [makeEvent('a', 1)] })).toBe(false);
        expect(await store.getKey(orgId('a'), keyId('a', 1))).toBeNull();
        expect(ids(await allAudit('a'))).not.toContain(evtId('a', 1));
      });

      it('does not overwrite a newer last_used_at with an older one, but takes a newer one', async () => {
        await seed();
        const key = await insert(makeKey('a', 1));
        await store.recordUse([{ key_id: key.id, digest: key.digest, at: T0 + 50 * SECOND }]);
        // The writer read the key before that use was recorded.
        const stale: KeyRecord = { ...key, name: 'Renamed', last_used_at: null, version: 2 };
        expect(await write(stale)).toBe(true);
        expect(await store.getKey(orgId('a'), key.id)).toStrictEqual({ ...stale, last_used_at: T0 + 50 * SECOND });
        expect(await write({ ...stale, last_used_at: T0 + 10 * SECOND, version: 3 })).toBe(true);
        expect((await store.getKey(orgId('a'), key.id))!.last_used_at).toBe(T0 + 50 * SECOND);
        expect(await write({ ...stale, last_used_at: T0 + 90 * SECOND, version: 4 })).toBe(true);
        expect((await store.getKey(orgId('a'), key.id))!.last_used_at).toBe(T0 + 90 * SECOND);
      });

      it('keeps the newer prev_last_used_at while prev_digest is unchanged, and takes the written one on rotation', async () => {
        await seed();
        const key = await insert(makeKey('a', 1, { prev_digest: digestOf('old'), prev_hint: 'hey_...old0', prev_expires_at: T0 + 60 * SECOND, prev_last_used_at: T0 + SECOND }));
        await store.recordUse([{ key_id: key.id, digest: digestOf('old'), at: T0 + 30 * SECOND }]);
        const renamed: KeyRecord = { ...key, name: 'Renamed', version: 2 };
        expect(await write(renamed)).toBe(true);
        expect((await store.getKey(orgId('a'), key.id))!.prev_last_used_at).toBe(T0 + 30 * SECOND);
        // Rotation: the previous secret is now a different one, whose last use the writer knows.
        const rotated: KeyRecord = {
          ...renamed,
          digest: digestOf('new'),
          prev_digest: key.digest,
          prev_hint: key.hint,
          prev_last_used_at: T0 + 2 * SECOND,
          last_used_at: T0 + 30 * SECOND,
          version: 3,
        };
        expect(await write(rotated)).toBe(true);
        expect(await store.getKey(orgId('a'), key.id)).toStrictEqual(rotated);
        const rotatedUnused: KeyRecord = { ...rotated, digest: digestOf('newer'), prev_digest: rotated.digest, prev_last_used_at: null, version: 4 };
        expect(await write(rotatedUnused)).toBe(true);
        expect((await store.getKey(orgId('a'), key.id))!.prev_last_used_at).toBeNull();
      });
    });

    // ------------------------------------------------------------ last use and inactivity

    describe('recordUse', () => {
      it('records last use without bumping the version, never moving a time backwards', async () => {
        await seed();
        const key = await insert(makeKey('a', 1));
        await store.recordUse([
          { key_id: key.id, digest: key.digest, at: T0 + 20 * SECOND },
          { key_id: key.id, digest: key.digest, at: T0 + 10 * SECOND },
        ]);
        expect(await store.getKey(orgId('a'), key.id)).toStrictEqual({ ...key, last_used_at: T0 + 20 * SECOND });
        await store.recordUse([{ key_id: key.id, digest: key.digest, at: T0 + 5 * SECOND }]);
        expect((await store.getKey(orgId('a'), key.id))!.last_used_at).toBe(T0 + 20 * SECOND);
        await store.recordUse([{ key_id: key.id, digest: key.digest, at: T0 + 21 * SECOND }]);
        expect((await store.getKey(orgId('a'), key.id))!.last_used_at).toBe(T0 + 21 * SECOND);
      });

      it('sets prev_last_used_at only for a use of the previous digest', async () => {
        await seed();
        const key = await insert(makeKey('a', 1, { prev_digest: digestOf('old'), prev_hint: 'hey_...old0', prev_expires_at: T0 + 60 * SECOND }));
        await store.recordUse([{ key_id: key.id, digest: key.digest, at: T0 + 10 * SECOND }]);
        expect((await store.getKey(orgId('a'), key.id))!.prev_last_used_at).toBeNull();
        await store.recordUse([{ key_id: key.id, digest: digestOf('retired'), at: T0 + 11 * SECOND }]);
        expect((await store.getKey(orgId('a'), key.id))!.prev_last_used_at).toBeNull();
        await store.recordUse([{ key_id: key.id, digest: digestOf('old'), at: T0 + 12 * SECOND }]);
        expect(await store.getKey(orgId('a'), key.id)).toStrictEqual({ ...key, last_used_at: T0 + 12 * SECOND, prev_last_used_at: T0 + 12 * SECOND });
        await store.recordUse([{ key_id: key.id, digest: digestOf('old'), at: T0 + 3 * SECOND }]);
        expect((await store.getKey(orgId('a'), key.id))!.prev_last_used_at).toBe(T0 + 12 * SECOND);
      });

      it('moves each time on its own: an older use of the previous secret leaves a newer last_used_at', async () => {
        await seed();
        const key = await insert(makeKey('a', 1, { prev_digest: digestOf('old'), prev_hint: 'hey_...old0', prev_expires_at: T0 + 60 * SECOND }));
        await store.recordUse([
          { key_id: key.id, digest: key.digest, at: T0 + 20 * SECOND },
          { key_id: key.id, digest: digestOf('old'), at: T0 + 15 * SECOND },
        ]);
        expect(await store.getKey(orgId('a'), key.id)).toStrictEqual({ ...key, last_used_at: T0 + 20 * SECOND, prev_last_used_at: T0 + 15 * SECOND });
      });

      it('writes a batch over several keys and skips unknown keys', async () => {
        await seed();
        const one = await insert(makeKey('a', 1));
        const two = await insert(makeKey('b', 2));
        await store.recordUse([
          { key_id: one.id, digest: one.digest, at: T0 + 7 * SECOND },
          { key_id: 'key_unknown', digest: digestOf('x'), at: T0 + 8 * SECOND },
          { key_id: two.id, digest: two.digest, at: T0 + 9 * SECOND },
        ]);
        expect((await store.getKey(orgId('a'), one.id))!.last_used_at).toBe(T0 + 7 * SECOND);
        expect((await store.getKey(orgId('b'), two.id))!.last_used_at).toBe(T0 + 9 * SECOND);
        await store.recordUse([]);
      });
    });

    describe('findInactiveKeys', () => {
      it('returns active keys whose later of last use and inactivity_from is at or before the cutoff', async () => {
        const { a } = await seed(); // the owner key: inactivity_from T0, never used
        const cutoff = T0 + 100 * SECOND;
        const atCutoff = await insert(makeKey('a', 1, { inactivity_from: cutoff }));
        await insert(makeKey('a', 2, { inactivity_from: cutoff + 1 }));
        const usedAtCutoff = await insert(makeKey('a', 3, { last_used_at: cutoff }));
        await insert(makeKey('a', 4, { last_used_at: cutoff + 1 }));
        await insert(makeKey('a', 5, { inactivity_from: cutoff + 1, last_used_at: T0 }));
        await insert(makeKey('a', 6, { status: 'disabled', disabled_reason: 'manual' }));
        await insert(makeKey('a', 7, { status: 'revoked', revoked_at: T0 }));
        await insert(makeKey('b', 8));
        const found = await store.findInactiveKeys(orgId('a'), cutoff);
        expect([...found].sort((x, y) => (x.id < y.id ? -1 : 1))).toStrictEqual([a.key, atCutoff, usedAtCutoff]);
      });

      it('sees last use recorded by recordUse', async () => {
        await seed();
        const key = await insert(makeKey('a', 1));
        await store.recordUse([{ key_id: key.id, digest: key.digest, at: T0 + 100 * SECOND }]);
        expect(ids(await store.findInactiveKeys(orgId('a'), T0 + 99 * SECOND))).toStrictEqual([keyId('a', 0)]);
        expect(sorted(ids(await store.findInactiveKeys(orgId('a'), T0 + 100 * SECOND)))).toStrictEqual([keyId('a', 0), key.id]);
      });
    });

    // ------------------------------------------------------------ usage

    describe('usage', () => {
      const firstPage = (limit: number): UsagePage => ({ limit, before: null });
      const after = (cursor: string | null, limit: number): UsagePage => ({ limit, before: parseUsageCursor(cursor!) });
      const routes = (page: Page<UsageEntry>): string[] => page.data.map((u) => u.route);

      it('appends and lists a key’s entries newest first, round-tripping every field', async () => {
        await seed();
        const entries = [1, 2, 3, 4, 5].map((n) =>
          makeUsage('a', n, n === 2 ? { ip: null, user_agent: null, secret: 'previous', method: 'DELETE', status: 503 } : {}),
        );
        await store.appendUsage(entries.slice(0, 3));
        await store.appendUsage(entries.slice(3));
        await store.appendUsage([makeUsage('a', 6, { key_id: keyId('a', 2) }), makeUsage('b', 7, { key_id: keyId('a', 1) })]);
        const first = await store.listUsage(orgId('a'), keyId('a', 1), firstPage(2));
        expect(first.data).toStrictEqual([entries[4], entries[3]]);
        const second = await store.listUsage(orgId('a'), keyId('a', 1), after(first.next_cursor, 2));
        expect(second.data).toStrictEqual([entries[2], entries[1]]);
        const third = await store.listUsage(orgId('a'), keyId('a', 1), after(second.next_cursor, 2));
        expect(third).toStrictEqual({ data: [entries[0]], next_cursor: null });
        expect((await store.listUsage(orgId('b'), keyId('b', 1), firstPage(10))).data).toStrictEqual([]);
        await store.appendUsage([]);
      });

      it('orders by time, then by arrival among entries of the same instant, across pages', async () => {
        await seed();
        // Arrival order differs from time order, and four entries share one instant.
        const same = T0 + 10 * SECOND;
        await store.appendUsage([makeUsage('a', 3), makeUsage('a', 101, { at: same })]);
        await store.appendUsage([makeUsage('a', 1), makeUsage('a', 102, { at: same }), makeUsage('a', 103, { at: same })]);
        await store.appendUsage([makeUsage('a', 104, { at: same }), makeUsage('a', 2), makeUsage('a', 20)]);
        const seen: string[] = [];
        let page = await store.listUsage(orgId('a'), keyId('a', 1), firstPage(3));
        for (;;) {
          seen.push(...routes(page));
          if (page.next_cursor === null) break;
          expect(page.next_cursor).toMatch(/^[0-9A-Za-z_]{1,64}$/); // what the API's cursor parameter accepts
          page = await store.listUsage(orgId('a'), keyId('a', 1), after(page.next_cursor, 3));
        }
        expect(seen).toStrictEqual(['/20', '/104', '/103', '/102', '/101', '/3', '/2', '/1']);
      });

      it('counts a key’s entries since a time by status class', async () => {
        await seed();
        const statuses = [200, 204, 301, 399, 400, 404, 499, 500, 503];
        await store.appendUsage(statuses.map((status, i) => makeUsage('a', i + 1, { status })));
        await store.appendUsage([
          makeUsage('a', 20, { key_id: keyId('a', 2) }),
          makeUsage('b', 21, { key_id: keyId('a', 1) }),
        ]);
        expect(await store.countUsage(orgId('a'), keyId('a', 1), 0)).toStrictEqual({ total: 9, success: 4, client_error: 3, server_error: 2 });
        // Entry n is at T0 + n seconds; `since` is inclusive.
        expect(await store.countUsage(orgId('a'), keyId('a', 1), T0 + 5 * SECOND)).toStrictEqual({ total: 5, success: 0, client_error: 3, server_error: 2 });
        expect(await store.countUsage(orgId('a'), keyId('a', 1), T0 + 5 * SECOND + 1)).toStrictEqual({ total: 4, success: 0, client_error: 2, server_error: 2 });
        expect(await store.countUsage(orgId('a'), 'key_unknown', 0)).toStrictEqual({ total: 0, success: 0, client_error: 0, server_error: 0 });
      });

      it('prunes entries older than a time in every organization and says how many', async () => {
        await seed();
        await store.appendUsage([1, 2, 3, 4].map((n) => makeUsage('a', n)));
        await store.appendUsage([makeUsage('b', 5, { key_id: keyId('b', 1), at: T0 + SECOND })]);
        expect(await store.pruneUsage(T0 + 3 * SECOND)).toBe(3);
        expect(routes(await store.listUsage(orgId('a'), keyId('a', 1), firstPage(10)))).toStrictEqual(['/4', '/3']);
        expect((await store.listUsage(orgId('b'), keyId('b', 1), firstPage(10))).data).toStrictEqual([]);
        expect(await store.pruneUsage(T0 + 3 * SECOND)).toBe(0);
      });

      it('prunes more entries than one chunk of a delete', async () => {
        await seed();
        const many = Array.from({ length: 12_345 }, (_, i) => makeUsage('a', 1, { at: T0 + i }));
        await store.appendUsage(many);
        await store.appendUsage([makeUsage('a', 100)]);
        expect(await store.pruneUsage(T0 + 12_345)).toBe(12_345);
        expect(routes(await store.listUsage(orgId('a'), keyId('a', 1), firstPage(10)))).toStrictEqual(['/100']);
      });
    });

    // ------------------------------------------------------------ audit

    describe('listAudit', () => {
      /** Events 1..6 in organization a: keys 1 and 2, created then updated then revoked, interleaved. */
      async function seedAudit(): Promise<AuditEvent[]> {
        await seed();
        const events = [
          makeEvent('a', 1, 'api_key.created', keyId('a', 1)),
          makeEvent('a', 2, 'api_key.created', keyId('a', 2)),
          { ...makeEvent('a', 3, 'api_key.updated', keyId('a', 1)), actor: null, ip: null, changes: null },
          makeEvent('a', 4, 'api_key.updated', keyId('a', 2)),
          { ...makeEvent('a', 5, 'api_key.revoked', keyId('a', 1)), changes: { nested: { from: { a: [1, 'two', null] }, to: true } } },
          makeEvent('a', 6, 'workspace.created'),
        ];
        await insert(makeKey('a', 1), { audit: events.slice(0, 3) });
        await store.updatePolicy(orgId('a'), POLICY, events.slice(3));
        await insert(makeKey('b', 1), { audit: [makeEvent('b', 7, 'api_key.created', keyId('a', 1))] });
        return events;
      }

      it('lists the organization’s events newest first with cursors, round-tripping actor and changes', async () => {
        const events = await seedAudit();
        const all = [...events].reverse().concat([makeEvent('a', 0, 'api_key.created', keyId('a', 0))]);
        const first = await store.listAudit(orgId('a'), {}, { limit: 4 });
        expect(first).toStrictEqual({ data: all.slice(0, 4), next_cursor: evtId('a', 3) });
        const second = await store.listAudit(orgId('a'), {}, { limit: 4, cursor: first.next_cursor! });
        expect(second).toStrictEqual({ data: all.slice(4), next_cursor: null });
      });

      it('filters by key, by action, and by both', async () => {
        await seedAudit();
        const list = async (filter: Parameters<Store['listAudit']>[1], limit = 10) => ids(await store.listAudit(orgId('a'), filter, { limit }));
        expect(await list({ key_id: keyId('a', 1) })).toStrictEqual([evtId('a', 5), evtId('a', 3), evtId('a', 1)]);
        expect(await list({ action: 'api_key.created' })).toStrictEqual([evtId('a', 2), evtId('a', 1), evtId('a', 0)]);
        expect(await list({ key_id: keyId('a', 2), action: 'api_key.updated' })).toStrictEqual([evtId('a', 4)]);
        expect(await list({ key_id: 'key_unknown' })).toStrictEqual([]);
        const paged = await store.listAudit(orgId('a'), { key_id: keyId('a', 1) }, { limit: 2 });
        expect(paged.next_cursor).toBe(evtId('a', 3));
        expect(ids(await store.listAudit(orgId('a'), { key_id: keyId('a', 1) }, { limit: 2, cursor: paged.next_cursor! }))).toStrictEqual([evtId('a', 1)]);
      });

      it('never shows another organization’s events', async () => {
        await seedAudit();
        expect(ids(await store.listAudit(orgId('b'), {}, { limit: 10 }))).toStrictEqual([evtId('b', 7), evtId('b', 0)]);
        expect(ids(await store.listAudit(orgId('b'), { key_id: keyId('a', 1) }, { limit: 10 }))).toStrictEqual([evtId('b', 7)]);
        expect(ids(await store.listAudit(orgId('a'), { key_id: keyId('a', 1) }, { limit: 10 }))).not.toContain(evtId('b', 7));
      });
    });

    // ------------------------------------------------------------ events

    describe('subscribe', () => {
      it('returns an unsubscribe function', async () => {
        const unsubscribe = store.subscribe(() => {});
        expect(typeof unsubscribe).toBe('function');
        unsubscribe();
      });
    });
  });
}
