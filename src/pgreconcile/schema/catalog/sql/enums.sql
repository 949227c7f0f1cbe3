-- Enum types with their labels in sort order.
WITH ns AS (/* scope.sql */)
SELECT ns.nspname AS schema,
       t.typname AS name,
       ARRAY(SELECT e.enumlabel::text FROM pg_enum e
             WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) AS labels
FROM pg_type t
JOIN ns ON ns.oid = t.typnamespace
WHERE t.typtype = 'e'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
ORDER BY 1, 2;
