-- User schemas (namespaces), minus the ones an extension created.
WITH ns AS (
    SELECT n.oid, n.nspname
    FROM pg_namespace n
    WHERE n.nspname <> ALL (%(exclude)s::text[])
      AND n.nspname !~ '^pg_(toast|temp_)'
      AND (%(include)s::text[] IS NULL OR n.nspname = ANY (%(include)s::text[]))
)
SELECT ns.nspname AS name
FROM ns
WHERE NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_namespace'::regclass AND d.objid = ns.oid
                    AND d.deptype = 'e')
ORDER BY 1;
