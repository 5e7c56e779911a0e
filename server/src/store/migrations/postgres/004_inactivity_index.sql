-- The inactivity sweep asks, once a minute and per organization, for the active keys not used
-- since a cutoff. Without an index on that expression each ask read every active key of the
-- organization: a scan of the whole key table a minute, 1 000 queries of it at 1 M keys in 1 000
-- organizations (docs/decisions/0007-fast-path.md). The query (findInactiveKeys in
-- store/postgres.ts) must write the expression the same way for the planner to use it.
CREATE INDEX keys_inactive ON keys (org_id, (GREATEST(coalesce(last_used_at, 0), inactivity_from))) WHERE status = 'active';
