-- Domains with their base type, NOT NULL, default (deparsed now, never the creation-time
-- text in typdefault), collation when it differs from the base type's, and their CHECK
-- constraints (PostgreSQL 17+ also lists a domain's NOT NULL in pg_constraint, contype 'n':
-- skipped, typnotnull says it).
WITH ns AS (/* scope.sql */)
SELECT ns.nspname AS schema,
       t.typname AS name,
       format_type(t.typbasetype, t.typtypmod) AS base_type,
       t.typnotnull AS not_null,
       pg_get_expr(t.typdefaultbin, 0) AS "default",
       CASE WHEN t.typcollation <> 0 AND t.typcollation <> bt.typcollation
            THEN t.typcollation::regcollation::text END AS collation,
       COALESCE((SELECT jsonb_agg(jsonb_build_object(
                            'name', con.conname::text,
                            'definition', pg_get_constraintdef(con.oid),
                            'validated', con.convalidated))
                 FROM pg_constraint con
                 WHERE con.contypid = t.oid AND con.contype = 'c'), '[]'::jsonb) AS checks
FROM pg_type t
JOIN ns ON ns.oid = t.typnamespace
JOIN pg_type bt ON bt.oid = t.typbasetype
WHERE t.typtype = 'd'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
ORDER BY 1, 2;
