-- User triggers (constraint triggers included). Internal ones (foreign key
-- enforcement) and the clones PostgreSQL puts on partitions (tgparentid, 13+) are not.
WITH ns AS (/* scope.sql */)
SELECT ns.nspname AS schema,
       c.relname AS table_name,
       t.tgname AS name,
       pg_get_triggerdef(t.oid) AS definition,
       t.tgfoid::regproc::text AS function,
       t.tgenabled::text AS enabled
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN ns ON ns.oid = c.relnamespace
WHERE NOT t.tgisinternal
  AND t.tgparentid = 0
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE (d.classid = 'pg_trigger'::regclass AND d.objid = t.oid
                         OR d.classid = 'pg_class'::regclass AND d.objid = c.oid)
                    AND d.deptype = 'e')
ORDER BY 1, 2, 3;
