-- COMMENT ON schemas, tables, columns (of tables, views and materialized views), views,
-- materialized views, sequences, functions and procedures, types (enums and composite
-- types) and domains, each with its object named the way the model names it. Comments on
-- constraints, indexes and triggers are left out (their names may be generated), and so
-- are those on anything an extension owns.
WITH ns AS (/* scope.sql */)
SELECT 'schema' AS kind, ns.nspname::text AS object, d.description AS text
FROM pg_description d
JOIN ns ON ns.oid = d.objoid
WHERE d.classoid = 'pg_namespace'::regclass AND d.objsubid = 0
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_namespace'::regclass AND e.objid = ns.oid
                    AND e.deptype = 'e')
UNION ALL
SELECT CASE WHEN d.objsubid > 0 THEN 'column'
            WHEN c.relkind IN ('r', 'p') THEN 'table'
            WHEN c.relkind IN ('v', 'm') THEN 'view'
            ELSE 'sequence' END,
       ns.nspname || '.' || c.relname || COALESCE('.' || a.attname, ''),
       d.description
FROM pg_description d
JOIN pg_class c ON c.oid = d.objoid
JOIN ns ON ns.oid = c.relnamespace
LEFT JOIN pg_attribute a ON d.objsubid > 0 AND a.attrelid = c.oid AND a.attnum = d.objsubid
WHERE d.classoid = 'pg_class'::regclass
  AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
  AND (d.objsubid = 0 OR (c.relkind <> 'S' AND a.attnum > 0 AND NOT a.attisdropped))
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
UNION ALL
SELECT 'function',
       ns.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       d.description
FROM pg_description d
JOIN pg_proc p ON p.oid = d.objoid
JOIN ns ON ns.oid = p.pronamespace
WHERE d.classoid = 'pg_proc'::regclass AND d.objsubid = 0
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid AND e.deptype = 'e')
UNION ALL
SELECT CASE WHEN t.typtype = 'd' THEN 'domain' ELSE 'type' END,
       ns.nspname || '.' || t.typname,
       d.description
FROM pg_description d
JOIN pg_type t ON t.oid = d.objoid
JOIN ns ON ns.oid = t.typnamespace
LEFT JOIN pg_class r ON r.oid = t.typrelid
WHERE d.classoid = 'pg_type'::regclass AND d.objsubid = 0
  AND (t.typtype IN ('e', 'd') OR (t.typtype = 'c' AND r.relkind = 'c'))
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_type'::regclass AND e.objid = t.oid AND e.deptype = 'e')
ORDER BY 1, 2;
