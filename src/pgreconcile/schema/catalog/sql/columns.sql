-- Columns of every user table, in attnum order. not_null means NULLs are impossible:
-- attnotnull, except that PostgreSQL 18 sets attnotnull for a NOT NULL ... NOT VALID too
-- (its pg_constraint row, contype 'n', says convalidated = false; before 18 there are no
-- 'n' rows, and constraints.sql skips them on 18).
-- attgenerated exists since 12; 'v' (virtual) appears from 18.
WITH ns AS (/* scope.sql */)
SELECT ns.nspname AS schema,
       c.relname AS table_name,
       a.attname AS name,
       format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AND NOT EXISTS (
           SELECT 1 FROM pg_constraint nn
           WHERE nn.conrelid = a.attrelid AND nn.contype = 'n'
             AND nn.conkey[1] = a.attnum AND NOT nn.convalidated) AS not_null,
       CASE WHEN a.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END AS "default",
       a.attidentity::text AS identity,
       a.attgenerated::text AS generated,
       CASE WHEN a.attgenerated <> '' THEN pg_get_expr(ad.adbin, ad.adrelid) END
           AS generation_expression,
       CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
            THEN a.attcollation::regcollation::text END AS collation
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN ns ON ns.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE c.relkind IN ('r', 'p')
  AND a.attnum > 0
  AND NOT a.attisdropped
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2, a.attnum;
