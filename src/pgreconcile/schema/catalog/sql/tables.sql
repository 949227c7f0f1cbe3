-- Ordinary and partitioned tables with the planner's row estimate, their row-level
-- security flags (ENABLE / FORCE ROW LEVEL SECURITY), persistence (UNLOGGED), partitioning
-- (the key of a partitioned table; the parent and bound of a partition) and the parents
-- of plain INHERITS in inhseqno order.
-- reltuples is -1 (PostgreSQL 14+) or 0 (13) before the first ANALYZE.
WITH ns AS (/* scope.sql */)
SELECT ns.nspname AS schema,
       c.relname AS name,
       CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END AS row_estimate,
       c.relrowsecurity AS rls_enabled,
       c.relforcerowsecurity AS rls_forced,
       c.relpersistence = 'u' AS unlogged,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
       (SELECT pn.nspname || '.' || p.relname
        FROM pg_inherits i
        JOIN pg_class p ON p.oid = i.inhparent
        JOIN pg_namespace pn ON pn.oid = p.relnamespace
        WHERE c.relispartition AND i.inhrelid = c.oid) AS partition_of,
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END
           AS partition_bound,
       ARRAY(SELECT pn.nspname || '.' || p.relname
             FROM pg_inherits i
             JOIN pg_class p ON p.oid = i.inhparent
             JOIN pg_namespace pn ON pn.oid = p.relnamespace
             WHERE NOT c.relispartition AND i.inhrelid = c.oid
             ORDER BY i.inhseqno) AS inherits
FROM pg_class c
JOIN ns ON ns.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2;
