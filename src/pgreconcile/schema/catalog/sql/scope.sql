-- The schemas a catalog query looks at: the CTE `ns` (oid, nspname) the queries start with,
-- written `WITH ns AS (/* scope.sql */)` in them and replaced by this query (these comment
-- lines left out) when they are read. Left out: the excluded schemas (pg_catalog,
-- information_schema, pgreconcile, and any asked for), pg_toast and pg_temp_*; with an
-- include list, only those schemas.
SELECT n.oid, n.nspname
FROM pg_namespace n
WHERE n.nspname <> ALL (%(exclude)s::text[])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND (%(include)s::text[] IS NULL OR n.nspname = ANY (%(include)s::text[]))
