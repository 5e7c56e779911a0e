-- Usage entries are numbered on arrival (seq) instead of carrying an id made by the server, and
-- are listed newest first by (at, seq): usage_by_key_time serves both the listing and the counts,
-- and usage_by_key (led by the key, so written all over on every batch) goes (docs/decisions/0007).
-- The old id column stays, nullable, so instances of the previous release that are still running
-- during an upgrade can go on writing their usage entries; this release never reads it.
ALTER TABLE usage DROP CONSTRAINT usage_pkey;
ALTER TABLE usage ALTER COLUMN id DROP NOT NULL;
ALTER TABLE usage ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE usage ADD PRIMARY KEY (seq);
DROP INDEX usage_by_key;
