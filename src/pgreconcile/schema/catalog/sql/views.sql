-- Views and materialized views with their definitions.
WITH ns AS (/* scope.sql */)
SELECT ns.nspname AS schema,
       c.relname AS name,
       pg_get_viewdef(c.oid) AS definition,
       c.relkind = 'm' AS materialized
FROM pg_class c
JOIN ns ON ns.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2;
