-- Views and materialized views with their definitions and the relations (tables, views,
-- materialized views, foreign tables) their rewrite rule reads, as "schema.name", and
-- their options (reloptions: security_barrier, security_invoker, check_option, a
-- materialized view's storage parameters) as "name=value" sorted bytewise.
WITH ns AS (/* scope.sql */)
SELECT ns.nspname AS schema,
       c.relname AS name,
       pg_get_viewdef(c.oid) AS definition,
       c.relkind = 'm' AS materialized,
       ARRAY(SELECT DISTINCT rn.nspname || '.' || ref.relname
             FROM pg_rewrite rw
             JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid
                             AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'n'
             JOIN pg_class ref ON ref.oid = d.refobjid
             JOIN pg_namespace rn ON rn.oid = ref.relnamespace
             WHERE rw.ev_class = c.oid AND d.refobjid <> c.oid
               AND ref.relkind IN ('r', 'p', 'v', 'm', 'f')) AS depends_on,
       ARRAY(SELECT o FROM unnest(coalesce(c.reloptions, '{}'::text[])) AS o
             ORDER BY o COLLATE "C")::text[] AS options
FROM pg_class c
JOIN ns ON ns.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2;
