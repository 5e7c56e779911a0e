-- The initial PostgreSQL schema: the same tables as SQLite's 001_initial.sql. Times are BIGINT
-- milliseconds since the epoch. Structured key and policy values are jsonb; audit actor and changes
-- are json, kept verbatim (jsonb would reorder their keys in what the audit log shows).
-- Every id column uses the "C" collation, so `ORDER BY id` and `id < cursor` compare bytes, the
-- order the memory store uses, whatever the database's default collation is.
-- Tables and functions are created in the first schema of the search_path (see docs/postgres.md).

CREATE TABLE organizations (
  id             text COLLATE "C" PRIMARY KEY,
  name           text NOT NULL,
  created_at     bigint NOT NULL,
  -- Unrevoked keys of the organization, kept by the keys_count trigger. insertKey locks this row,
  -- reads the count and inserts, so racing inserts never exceed the cap.
  unrevoked_keys integer NOT NULL DEFAULT 0 CHECK (unrevoked_keys >= 0)
);

CREATE TABLE policies (
  org_id               text COLLATE "C" PRIMARY KEY REFERENCES organizations (id),
  inactivity_days      integer,
  default_expiry_days  integer,
  max_expiry_days      integer,
  require_expiry       boolean NOT NULL,
  allowed_auth_schemes jsonb NOT NULL,
  max_keys             integer NOT NULL
);

CREATE TABLE members (
  id         text COLLATE "C" PRIMARY KEY,
  org_id     text COLLATE "C" NOT NULL REFERENCES organizations (id),
  type       text NOT NULL CHECK (type IN ('user', 'machine')),
  name       text NOT NULL,
  email      text,
  role       text CHECK (role IN ('owner', 'member')),
  created_at bigint NOT NULL
);
CREATE INDEX members_by_org ON members (org_id, id);

CREATE TABLE workspaces (
  id         text COLLATE "C" PRIMARY KEY,
  org_id     text COLLATE "C" NOT NULL REFERENCES organizations (id),
  name       text NOT NULL,
  created_at bigint NOT NULL
);
CREATE INDEX workspaces_by_org ON workspaces (org_id, id);

CREATE TABLE tags (
  id           text COLLATE "C" PRIMARY KEY,
  org_id       text COLLATE "C" NOT NULL REFERENCES organizations (id),
  workspace_id text COLLATE "C" NOT NULL REFERENCES workspaces (id),
  name         text NOT NULL,
  created_at   bigint NOT NULL,
  UNIQUE (workspace_id, name)
);
CREATE INDEX tags_by_workspace ON tags (workspace_id, id);

-- The owner is not a foreign key: a machine user is deleted when its key is revoked, and the
-- revoked key keeps its row (and its owner reference) so its digests stay known.
CREATE TABLE keys (
  id                text COLLATE "C" PRIMARY KEY,
  org_id            text COLLATE "C" NOT NULL REFERENCES organizations (id),
  name              text NOT NULL,
  -- name.toLowerCase() computed in JavaScript, so the name filter folds case exactly like the
  -- memory store, and strpos() finds it without LIKE's wildcards.
  name_folded       text NOT NULL,
  description       text,
  permission        jsonb NOT NULL, -- {type, scopes}
  owner_type        text NOT NULL CHECK (owner_type IN ('user', 'machine')),
  owner_id          text COLLATE "C" NOT NULL,
  owner_name        text NOT NULL,
  created_by        jsonb NOT NULL, -- MemberRef
  workspace_access  jsonb NOT NULL, -- {type:'all'} | {type:'selected', workspace_ids}
  workspace_id      text COLLATE "C",
  status            text NOT NULL CHECK (status IN ('active', 'disabled', 'revoked')),
  disabled_reason   text,
  created_at        bigint NOT NULL,
  updated_at        bigint NOT NULL,
  expires_at        bigint,
  revoked_at        bigint,
  inactivity_from   bigint NOT NULL,
  last_used_at      bigint,
  digest            text NOT NULL,
  hint              text NOT NULL,
  prev_digest       text,
  prev_hint         text,
  prev_expires_at   bigint,
  prev_last_used_at bigint,
  version           integer NOT NULL
);
CREATE INDEX keys_by_org ON keys (org_id, id);
CREATE INDEX keys_by_owner ON keys (owner_id);
CREATE INDEX keys_by_workspace ON keys (workspace_id) WHERE workspace_id IS NOT NULL;

-- Every digest a key ever had (current, previous, and retired ones as tombstones), so a lookup by
-- digest is one primary-key probe and a replaced secret is recognised instead of "unknown".
CREATE TABLE key_secrets (
  digest text COLLATE "C" PRIMARY KEY,
  key_id text COLLATE "C" NOT NULL REFERENCES keys (id)
);

CREATE TABLE usage (
  id         text COLLATE "C" PRIMARY KEY,
  org_id     text COLLATE "C" NOT NULL,
  key_id     text COLLATE "C" NOT NULL,
  at         bigint NOT NULL,
  method     text NOT NULL,
  route      text NOT NULL,
  status     integer NOT NULL,
  ip         text,
  user_agent text,
  secret     text NOT NULL CHECK (secret IN ('current', 'previous'))
);
CREATE INDEX usage_by_key ON usage (org_id, key_id, id);
-- Covering index for the per-status counts since a time, so counting never reads the rows.
CREATE INDEX usage_by_key_time ON usage (org_id, key_id, at) INCLUDE (status);
CREATE INDEX usage_by_time ON usage (at);

CREATE TABLE audit (
  id         text COLLATE "C" PRIMARY KEY,
  org_id     text COLLATE "C" NOT NULL,
  at         bigint NOT NULL,
  action     text NOT NULL,
  key_id     text COLLATE "C",
  subject_id text NOT NULL,
  actor      json, -- AuditActor
  ip         text,
  changes    json
);
CREATE INDEX audit_by_org ON audit (org_id, id);
CREATE INDEX audit_by_key ON audit (org_id, key_id, id);

-- ------------------------------------------------------------------ the unrevoked-key count

-- SET search_path FROM CURRENT: the function finds `organizations` in the schema it was created
-- in, whatever search_path the writing session has.
CREATE FUNCTION heykeys_count_keys() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'revoked' THEN
      UPDATE organizations SET unrevoked_keys = unrevoked_keys + 1 WHERE id = NEW.org_id;
    END IF;
  ELSIF (OLD.status = 'revoked') <> (NEW.status = 'revoked') THEN
    UPDATE organizations SET unrevoked_keys = unrevoked_keys + CASE WHEN NEW.status = 'revoked' THEN -1 ELSE 1 END
      WHERE id = NEW.org_id;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER keys_count_insert AFTER INSERT ON keys FOR EACH ROW EXECUTE FUNCTION heykeys_count_keys();
CREATE TRIGGER keys_count_status AFTER UPDATE OF status ON keys FOR EACH ROW
  WHEN ((OLD.status = 'revoked') IS DISTINCT FROM (NEW.status = 'revoked'))
  EXECUTE FUNCTION heykeys_count_keys();

-- ------------------------------------------------------------------ change notifications

-- Every committed change that a cached credential or policy depends on is announced on the
-- channel heykeys_changes, so other server processes drop their cached copy (docs/postgres.md).
-- A trigger rather than application code: the NOTIFY is part of the writing transaction (sent
-- only on commit, never for a rolled-back write), and a change made by hand in psql propagates too.
-- The payload names the schema (a database may hold several deployments) and the writing
-- process (heykeys.origin, set on each pool connection), which ignores its own notifications.
CREATE FUNCTION heykeys_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  payload json;
BEGIN
  IF TG_TABLE_NAME = 'policies' THEN
    payload := json_build_object('s', TG_TABLE_SCHEMA, 'o', current_setting('heykeys.origin', true), 't', 'policy', 'id', NEW.org_id);
  ELSIF TG_OP = 'DELETE' THEN
    payload := json_build_object('s', TG_TABLE_SCHEMA, 'o', current_setting('heykeys.origin', true), 't', 'key', 'id', OLD.id);
  ELSE
    payload := json_build_object('s', TG_TABLE_SCHEMA, 'o', current_setting('heykeys.origin', true), 't', 'key', 'id', NEW.id);
  END IF;
  PERFORM pg_notify('heykeys_changes', payload::text);
  RETURN NULL;
END $$;

-- Last-use times (recordUse, every flush) are left out on purpose: they change all the time and
-- no cache decision depends on another process's last use within the inactivity window.
CREATE TRIGGER keys_notify_update AFTER UPDATE ON keys FOR EACH ROW
  WHEN ((OLD.name, OLD.description, OLD.permission, OLD.owner_type, OLD.owner_id, OLD.owner_name, OLD.created_by,
         OLD.workspace_access, OLD.workspace_id, OLD.status, OLD.disabled_reason, OLD.updated_at, OLD.expires_at,
         OLD.revoked_at, OLD.inactivity_from, OLD.digest, OLD.hint, OLD.prev_digest, OLD.prev_hint,
         OLD.prev_expires_at, OLD.version)
        IS DISTINCT FROM
        (NEW.name, NEW.description, NEW.permission, NEW.owner_type, NEW.owner_id, NEW.owner_name, NEW.created_by,
         NEW.workspace_access, NEW.workspace_id, NEW.status, NEW.disabled_reason, NEW.updated_at, NEW.expires_at,
         NEW.revoked_at, NEW.inactivity_from, NEW.digest, NEW.hint, NEW.prev_digest, NEW.prev_hint,
         NEW.prev_expires_at, NEW.version))
  EXECUTE FUNCTION heykeys_notify_change();
CREATE TRIGGER keys_notify_delete AFTER DELETE ON keys FOR EACH ROW EXECUTE FUNCTION heykeys_notify_change();
CREATE TRIGGER policies_notify AFTER INSERT OR UPDATE ON policies FOR EACH ROW EXECUTE FUNCTION heykeys_notify_change();
