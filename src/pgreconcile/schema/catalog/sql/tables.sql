-- Ordinary and partitioned tables with the planner's row estimate and their row-level
-- security flags (ENABLE / FORCE ROW LEVEL SECURITY).
-- reltuples is -1 (PostgreSQL 14+) or 0 (13) before the first ANALYZE.
WITH ns AS (/* scope.sql */)
SELECT ns.nspname AS schema,
       c.relname AS name,
       CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END AS row_estimate,
       c.relrowsecurity AS rls_enabled,
       c.relforcerowsecurity AS rls_forced
FROM pg_class c
JOIN ns ON ns.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2;
