-- User schemas (namespaces), minus the ones an extension created.
WITH ns AS (/* scope.sql */)
SELECT ns.nspname AS name
FROM ns
WHERE NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_namespace'::regclass AND d.objid = ns.oid
                    AND d.deptype = 'e')
ORDER BY 1;
