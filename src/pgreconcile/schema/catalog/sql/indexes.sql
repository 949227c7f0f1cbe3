-- Indexes of tables and materialized views, with the constraint each one backs.
-- conindid is also set on foreign keys (to the referenced index), hence the contype test.
WITH ns AS (/* scope.sql */)
SELECT ns.nspname AS schema,
       c.relname AS table_name,
       i.relname AS name,
       -- A key column is printed by name as pg_get_indexdef(oid, k, true) prints it
       -- (quote_ident); only expressions need the deparser, which costs ~0.1 ms a call.
       ARRAY(SELECT CASE WHEN x.indkey[k - 1] <> 0
                         THEN (SELECT quote_ident(a.attname) FROM pg_attribute a
                               WHERE a.attrelid = x.indrelid AND a.attnum = x.indkey[k - 1])
                         ELSE pg_get_indexdef(x.indexrelid, k, true) END
             FROM generate_series(1, x.indnkeyatts::int) AS k
             ORDER BY k) AS columns,
       pg_get_indexdef(x.indexrelid) AS definition,
       x.indisunique AS "unique",
       x.indisprimary AS "primary",
       pg_get_expr(x.indpred, x.indrelid) AS predicate,
       x.indisvalid AS valid,
       am.amname::text AS method,
       con.conname AS "constraint"
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class c ON c.oid = x.indrelid
JOIN ns ON ns.oid = c.relnamespace
JOIN pg_am am ON am.oid = i.relam
LEFT JOIN pg_constraint con
       ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid
      AND con.contype IN ('p', 'u', 'x')
WHERE c.relkind IN ('r', 'p', 'm')
  AND x.indislive
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid IN (c.oid, i.oid)
                    AND d.deptype = 'e')
ORDER BY 1, 2, 3;
