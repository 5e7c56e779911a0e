-- The initial schema. Times are INTEGER milliseconds since the epoch; structured values the store
-- never queries into on a hot path (permission, created_by, audit actor/changes) are JSON text.
-- STRICT tables so a wrong type is an error instead of a silently coerced value.

CREATE TABLE organizations (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE policies (
  org_id               TEXT PRIMARY KEY REFERENCES organizations (id),
  inactivity_days      INTEGER,
  default_expiry_days  INTEGER,
  max_expiry_days      INTEGER,
  require_expiry       INTEGER NOT NULL,
  allowed_auth_schemes TEXT NOT NULL, -- JSON array
  max_keys             INTEGER NOT NULL
) STRICT;

CREATE TABLE members (
  id         TEXT PRIMARY KEY,
  org_id     TEXT NOT NULL REFERENCES organizations (id),
  type       TEXT NOT NULL,
  name       TEXT NOT NULL,
  email      TEXT,
  role       TEXT,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX members_by_org ON members (org_id, id);

CREATE TABLE workspaces (
  id         TEXT PRIMARY KEY,
  org_id     TEXT NOT NULL REFERENCES organizations (id),
  name       TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX workspaces_by_org ON workspaces (org_id, id);

CREATE TABLE tags (
  id           TEXT PRIMARY KEY,
  org_id       TEXT NOT NULL REFERENCES organizations (id),
  workspace_id TEXT NOT NULL REFERENCES workspaces (id),
  name         TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  UNIQUE (workspace_id, name)
) STRICT;
CREATE INDEX tags_by_workspace ON tags (workspace_id, id);

-- The owner is not a foreign key: a machine user is deleted when its key is revoked, and the
-- revoked key keeps its row (and its owner reference) so its digests stay known.
CREATE TABLE keys (
  id                TEXT PRIMARY KEY,
  org_id            TEXT NOT NULL REFERENCES organizations (id),
  name              TEXT NOT NULL,
  -- name.toLowerCase() computed in JavaScript, so the name filter folds case exactly like the
  -- memory store (SQLite's lower() and LIKE fold ASCII only) and without LIKE's wildcards.
  name_folded       TEXT NOT NULL,
  description       TEXT,
  permission        TEXT NOT NULL, -- JSON {type, scopes}
  owner_type        TEXT NOT NULL,
  owner_id          TEXT NOT NULL,
  owner_name        TEXT NOT NULL,
  created_by        TEXT NOT NULL, -- JSON MemberRef
  workspace_access  TEXT NOT NULL, -- JSON {type:'all'} | {type:'selected', workspace_ids}
  workspace_id      TEXT,
  status            TEXT NOT NULL,
  disabled_reason   TEXT,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  expires_at        INTEGER,
  revoked_at        INTEGER,
  inactivity_from   INTEGER NOT NULL,
  last_used_at      INTEGER,
  digest            TEXT NOT NULL,
  hint              TEXT NOT NULL,
  prev_digest       TEXT,
  prev_hint         TEXT,
  prev_expires_at   INTEGER,
  prev_last_used_at INTEGER,
  version           INTEGER NOT NULL
) STRICT;
CREATE INDEX keys_by_org ON keys (org_id, id);
CREATE INDEX keys_by_owner ON keys (owner_id);
CREATE INDEX keys_by_workspace ON keys (workspace_id) WHERE workspace_id IS NOT NULL;

-- Every digest a key ever had (current, previous, and retired ones as tombstones), so a lookup by
-- digest is one primary-key probe and a replaced secret is recognised instead of "unknown".
CREATE TABLE key_secrets (
  digest TEXT PRIMARY KEY,
  key_id TEXT NOT NULL REFERENCES keys (id)
) STRICT, WITHOUT ROWID;

-- Unrevoked keys per organization, kept by triggers so insertKey's cap check costs one probe
-- however many keys an organization holds (counting rows would make bulk creation quadratic).
CREATE TABLE org_key_counts (
  org_id    TEXT PRIMARY KEY,
  unrevoked INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TRIGGER keys_count_insert AFTER INSERT ON keys WHEN new.status <> 'revoked'
BEGIN
  INSERT INTO org_key_counts (org_id, unrevoked) VALUES (new.org_id, 1)
    ON CONFLICT (org_id) DO UPDATE SET unrevoked = unrevoked + 1;
END;

CREATE TRIGGER keys_count_status AFTER UPDATE OF status ON keys
  WHEN (old.status = 'revoked') <> (new.status = 'revoked')
BEGIN
  INSERT INTO org_key_counts (org_id, unrevoked) VALUES (new.org_id, CASE WHEN new.status = 'revoked' THEN 0 ELSE 1 END)
    ON CONFLICT (org_id) DO UPDATE SET unrevoked = unrevoked + CASE WHEN new.status = 'revoked' THEN -1 ELSE 1 END;
END;

CREATE TABLE usage (
  id         TEXT PRIMARY KEY,
  org_id     TEXT NOT NULL,
  key_id     TEXT NOT NULL,
  at         INTEGER NOT NULL,
  method     TEXT NOT NULL,
  route      TEXT NOT NULL,
  status     INTEGER NOT NULL,
  ip         TEXT,
  user_agent TEXT,
  secret     TEXT NOT NULL
) STRICT;
CREATE INDEX usage_by_key ON usage (org_id, key_id, id);
-- Covering index for the per-status counts since a time, so counting never reads the rows.
CREATE INDEX usage_by_key_time ON usage (org_id, key_id, at, status);
CREATE INDEX usage_by_time ON usage (at);

CREATE TABLE audit (
  id         TEXT PRIMARY KEY,
  org_id     TEXT NOT NULL,
  at         INTEGER NOT NULL,
  action     TEXT NOT NULL,
  key_id     TEXT,
  subject_id TEXT NOT NULL,
  actor      TEXT, -- JSON AuditActor
  ip         TEXT,
  changes    TEXT  -- JSON
) STRICT;
CREATE INDEX audit_by_org ON audit (org_id, id);
CREATE INDEX audit_by_key ON audit (org_id, key_id, id);
