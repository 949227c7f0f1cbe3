-- Installed extensions. plpgsql is in every database and is left out; an extension
-- installed into pg_catalog is kept (the schema filters apply to the others).
SELECT e.extname AS name,
       n.nspname AS schema,
       e.extversion AS version
FROM pg_extension e
JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname <> 'plpgsql'
  AND (n.nspname = 'pg_catalog'
       OR (n.nspname <> ALL (%(exclude)s::text[])
           AND (%(include)s::text[] IS NULL OR n.nspname = ANY (%(include)s::text[]))))
ORDER BY 1;
