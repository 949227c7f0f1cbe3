-- Primary key, unique, foreign key, check and exclusion constraints.
-- Skipped: NOT NULL rows (contype 'n', PostgreSQL 18; nullability is a column fact),
-- constraint triggers ('t', listed as triggers), domain constraints (no table), and the
-- per-partition copies of a foreign key that points at a partitioned table (PostgreSQL
-- creates and drops those itself).
WITH ns AS (/* scope.sql */)
SELECT ns.nspname AS schema,
       c.relname AS table_name,
       con.conname AS name,
       con.contype::text AS contype,
       ARRAY(SELECT a.attname::text
             FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
             ORDER BY k.ord) AS columns,
       pg_get_constraintdef(con.oid) AS definition,
       con.condeferrable AS deferrable,
       con.condeferred AS deferred,
       con.convalidated AS validated,
       rn.nspname AS ref_schema,
       rc.relname AS ref_table,
       ARRAY(SELECT a.attname::text
             FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
             ORDER BY k.ord) AS ref_columns,
       NULLIF(con.confdeltype::text, ' ') AS on_delete,
       NULLIF(con.confupdtype::text, ' ') AS on_update,
       ic.relname AS index
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN ns ON ns.oid = c.relnamespace
LEFT JOIN pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
LEFT JOIN pg_class ic ON ic.oid = con.conindid AND con.contype IN ('p', 'u', 'x')
WHERE con.contype IN ('p', 'u', 'f', 'c', 'x')
  AND c.relkind IN ('r', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_constraint parent
                  WHERE parent.oid = con.conparentid AND parent.conrelid = con.conrelid)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2, 3;
