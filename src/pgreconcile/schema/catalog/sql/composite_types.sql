-- Free-standing composite types (CREATE TYPE ... AS (...)): typtype 'c' whose relation is of
-- relkind 'c' (a table's or view's row type is not one), with their attributes in attnum
-- order and each attribute's collation when it differs from its type's.
WITH ns AS (/* scope.sql */)
SELECT ns.nspname AS schema,
       t.typname AS name,
       COALESCE((SELECT jsonb_agg(jsonb_build_object(
                            'name', a.attname::text,
                            'type', format_type(a.atttypid, a.atttypmod),
                            'collation',
                            CASE WHEN a.attcollation <> 0 AND a.attcollation <> at.typcollation
                                 THEN a.attcollation::regcollation::text END)
                            ORDER BY a.attnum)
                 FROM pg_attribute a
                 JOIN pg_type at ON at.oid = a.atttypid
                 WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped),
                '[]'::jsonb) AS attributes
FROM pg_type t
JOIN ns ON ns.oid = t.typnamespace
JOIN pg_class r ON r.oid = t.typrelid
WHERE t.typtype = 'c' AND r.relkind = 'c'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
ORDER BY 1, 2;
