-- The inactivity sweep asks, once a minute and per organization, for the active keys not used
-- since a cutoff. Without an index on that expression each ask read every active key of the
-- organization, on the event loop: 0.65 s a sweep at 1 M keys in 1 000 organizations, a stall of
-- every request once a minute (docs/decisions/0007-fast-path.md). SQLite uses an index on an
-- expression only for a query that writes the expression the same way: FIND_INACTIVE_KEYS in
-- store/sqlite.ts, and a test checks the plan.
CREATE INDEX keys_inactive ON keys (org_id, max(coalesce(last_used_at, 0), inactivity_from)) WHERE status = 'active';
