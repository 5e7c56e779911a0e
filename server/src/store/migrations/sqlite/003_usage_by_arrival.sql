-- Usage entries are numbered on arrival (seq, the rowid) instead of carrying a random id, and are
-- listed newest first by (at, seq). One index per key serves both the listing and the counts: the
-- entries of many keys arrive interleaved, so every index led by the key is written all over on
-- each batch, and two of them cost more than the rest of the insert (docs/decisions/0007).
-- usage_by_time keeps pruning a range delete; it is appended to in order, so it costs little.
CREATE TABLE usage_by_arrival (
  seq        INTEGER PRIMARY KEY,
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
INSERT INTO usage_by_arrival (org_id, key_id, at, method, route, status, ip, user_agent, secret)
  SELECT org_id, key_id, at, method, route, status, ip, user_agent, secret FROM usage ORDER BY id;
DROP TABLE usage;
ALTER TABLE usage_by_arrival RENAME TO usage;
CREATE INDEX usage_by_key ON usage (org_id, key_id, at, status);
CREATE INDEX usage_by_time ON usage (at);
