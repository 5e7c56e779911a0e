/**
 * The seeded world every mock API starts from (and returns to on `reset()`): two organizations,
 * keys of each kind with fixed, documented secrets, a machine user, workspaces and a tag.
 *
 * Everything is created through the domain (KeyService), so the records, audit events and seat
 * counts are exactly what the server would hold. Only the secrets are then pinned to fixed values
 * (same digest and hint a real key with that secret would have), because the domain draws every
 * secret at random and a test needs to know them. Ids come from a fixed random stream and a fixed
 * clock, so they are the same on every reset and in every run.
 */
import type { Principal, RequestContext } from '../../../server/src/domain/access.ts';
import { SECOND, type ManualClock } from '../../../server/src/domain/clock.ts';
import type { CryptoPort } from '../../../server/src/domain/crypto.ts';
import { formatKey, keyHint, RANDOM_LENGTH } from '../../../server/src/domain/key-format.ts';
import type { KeyService } from '../../../server/src/domain/service.ts';

/** The instant the mock clock reads after seeding and after every `reset()`. */
export const FIXTURE_NOW = '2026-01-01T00:00:00.000Z';
/** Fixtures are created one second apart starting here, one minute before FIXTURE_NOW. */
const SEEDING_STARTS = Date.parse(FIXTURE_NOW) - 60 * SECOND;
/** Seeds the random stream that mints the fixtures' ids; change it and every documented id changes. */
export const FIXTURE_SEED = 'heykeys-mocks-fixtures-v1';

/** The fixed random part of each fixture secret (30 base62 characters); the checksum is computed. */
const RANDOM_PARTS = {
  acmeOwner: 'AcmeOwnerKey',
  acmeReadOnly: 'AcmeReadOnlyKey',
  acmeTagsReader: 'AcmeTagsReaderKey',
  acmeCiBot: 'AcmeCiBotKey',
  acmeMarketing: 'AcmeMarketingKey',
  globexOwner: 'GlobexOwnerKey',
} as const;

export type FixtureSecretName = keyof typeof RANDOM_PARTS;

/** The fixture secrets for a key prefix: `prefix` + fixed random part (padded with 0) + a valid checksum. */
export function fixtureSecrets(crypto: Pick<CryptoPort, 'crc32'>, prefix = 'hey_'): Record<FixtureSecretName, string> {
  const secrets = {} as Record<FixtureSecretName, string>;
  for (const [name, part] of Object.entries(RANDOM_PARTS) as [FixtureSecretName, string][]) {
    secrets[name] = formatKey(crypto as CryptoPort, prefix, part.padEnd(RANDOM_LENGTH, '0'));
  }
  return secrets;
}

/** A seeded key: its id, name and the secret to call the API with. */
export interface FixtureKey {
  id: string;
  name: string;
  secret: string;
}

export interface FixtureMember {
  id: string;
  name: string;
}

export interface Fixtures {
  acme: {
    id: string;
    name: string;
    /** The human owner ("Ada Lovelace", ada@acme.test). */
    owner: FixtureMember & { email: string };
    /** Owned by Ada; permission `all`, every workspace, never expires. */
    ownerKey: FixtureKey;
    /** Owned by Ada; permission `read_only` (every `:read` scope). */
    readOnlyKey: FixtureKey;
    /** Owned by Ada; restricted to `{ tags: read }`, i.e. only `tags:read`. */
    tagsReaderKey: FixtureKey;
    /** The machine user "ci-bot"; it holds `machineKey` and does not count as a seat. */
    machineUser: FixtureMember;
    /** Owned by ci-bot; restricted to `{ tags: write }` (`tags:read` and `tags:write`). */
    machineKey: FixtureKey;
    /** The workspace "Marketing". */
    workspace: FixtureMember;
    /** The tag "newsletter" in Marketing. */
    tag: FixtureMember;
    /** A workspace-level key pinned to Marketing; restricted to `{ tags: write }`. */
    workspaceKey: FixtureKey;
  };
  globex: {
    id: string;
    name: string;
    owner: FixtureMember & { email: string };
    /** Globex's owner key (permission `all`): for tenant-isolation tests. */
    ownerKey: FixtureKey;
    /** The workspace "Research". */
    workspace: FixtureMember;
  };
}

/** Replaces a key's random secret with a fixed one, as if the domain had drawn it. */
async function pinSecret(service: KeyService, orgId: string, keyId: string, secret: string): Promise<void> {
  const key = await service.store.getKey(orgId, keyId);
  if (!key) throw new Error(`fixture key ${keyId} vanished while seeding`);
  const written = await service.store.writeKey({
    key: { ...key, digest: service.crypto.sha256Hex(secret), hint: keyHint(service.prefix, secret), version: key.version + 1 },
    expected_version: key.version,
    audit: [],
  });
  service.cache.dropKey(keyId);
  if (!written) throw new Error(`could not pin the secret of fixture key ${keyId}`);
}

/**
 * Creates the fixtures in `service`'s (empty) store. Call it with the random source already made
 * deterministic when the ids must be stable; leaves the clock at FIXTURE_NOW.
 */
export async function seedFixtures(service: KeyService, clock: ManualClock): Promise<Fixtures> {
  const secrets = fixtureSecrets(service.crypto, service.prefix);
  clock.set(SEEDING_STARTS);
  const tick = () => clock.advance(SECOND);

  // The seeding acts as the owner key without authenticating it, so no fixture counts as used.
  const actingAs = async (orgId: string, keyId: string): Promise<RequestContext> => {
    const key = await service.store.getKey(orgId, keyId);
    if (!key) throw new Error(`fixture key ${keyId} vanished while seeding`);
    const principal: Principal = { key, owner_role: 'owner', scheme: 'bearer', secret: 'current', digest: key.digest };
    return { principal, ip: null, now: clock.now() };
  };
  const createKey = async (ctx: RequestContext, secret: string, input: Parameters<KeyService['createKey']>[1], workspaceId: string | null = null) => {
    tick();
    const { key } = await service.createKey({ ...ctx, now: clock.now() }, input, workspaceId);
    await pinSecret(service, key.org_id, key.id, secret);
    return { id: key.id, name: key.name, secret, ownerId: key.owner.id };
  };

  const acme = await service.createOrganization({ name: 'Acme', owner_name: 'Ada Lovelace', owner_email: 'ada@acme.test' });
  await pinSecret(service, acme.organization.id, acme.key.id, secrets.acmeOwner);
  const asAda = await actingAs(acme.organization.id, acme.key.id);

  const readOnly = await createKey(asAda, secrets.acmeReadOnly, { name: 'Read-only dashboard', permission: { type: 'read_only' } });
  const tagsReader = await createKey(asAda, secrets.acmeTagsReader, {
    name: 'Tags reader',
    permission: { type: 'restricted', resources: { tags: 'read' } },
  });
  tick();
  const marketing = await service.createWorkspace({ ...asAda, now: clock.now() }, 'Marketing');
  tick();
  const newsletter = await service.createTag({ ...asAda, now: clock.now() }, marketing.id, 'newsletter');
  const ciBot = await createKey(asAda, secrets.acmeCiBot, {
    name: 'CI deploy',
    description: 'Pushes tags from CI.',
    owner: { type: 'machine', name: 'ci-bot' },
    permission: { type: 'restricted', resources: { tags: 'write' } },
  });
  const marketingKey = await createKey(
    asAda,
    secrets.acmeMarketing,
    { name: 'Marketing tags', permission: { type: 'restricted', resources: { tags: 'write' } } },
    marketing.id,
  );

  tick();
  const globex = await service.createOrganization({ name: 'Globex', owner_name: 'Hank Scorpio', owner_email: 'hank@globex.test' });
  await pinSecret(service, globex.organization.id, globex.key.id, secrets.globexOwner);
  const asHank = await actingAs(globex.organization.id, globex.key.id);
  tick();
  const research = await service.createWorkspace({ ...asHank, now: clock.now() }, 'Research');

  clock.set(FIXTURE_NOW);
  const fixtureKey = ({ id, name, secret }: FixtureKey): FixtureKey => ({ id, name, secret });
  return {
    acme: {
      id: acme.organization.id,
      name: acme.organization.name,
      owner: { id: acme.owner.id, name: acme.owner.name, email: acme.owner.email! },
      ownerKey: { id: acme.key.id, name: acme.key.name, secret: secrets.acmeOwner },
      readOnlyKey: fixtureKey(readOnly),
      tagsReaderKey: fixtureKey(tagsReader),
      machineUser: { id: ciBot.ownerId, name: 'ci-bot' },
      machineKey: fixtureKey(ciBot),
      workspace: { id: marketing.id, name: marketing.name },
      tag: { id: newsletter.id, name: newsletter.name },
      workspaceKey: fixtureKey(marketingKey),
    },
    globex: {
      id: globex.organization.id,
      name: globex.organization.name,
      owner: { id: globex.owner.id, name: globex.owner.name, email: globex.owner.email! },
      ownerKey: { id: globex.key.id, name: globex.key.name, secret: secrets.globexOwner },
      workspace: { id: research.id, name: research.name },
    },
  };
}
