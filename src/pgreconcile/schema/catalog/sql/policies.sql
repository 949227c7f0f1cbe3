-- Row-level security policies of ordinary and partitioned tables (pg_policy), with their
-- expressions as pg_get_expr prints them and their roles by name: 'public' for PUBLIC
-- (role oid 0). polcmd: '*' ALL, 'r' SELECT, 'a' INSERT, 'w' UPDATE, 'd' DELETE.
WITH ns AS (/* scope.sql */)
SELECT ns.nspname AS schema,
       c.relname AS table_name,
       p.polname AS name,
       p.polcmd::text AS command,
       p.polpermissive AS permissive,
       ARRAY(SELECT CASE WHEN r.oid = 0 THEN 'public' ELSE pg_get_userbyid(r.oid)::text END
             FROM unnest(p.polroles) AS r(oid)) AS roles,
       pg_get_expr(p.polqual, p.polrelid) AS using_expr,
       pg_get_expr(p.polwithcheck, p.polrelid) AS with_check
FROM pg_policy p
JOIN pg_class c ON c.oid = p.polrelid
JOIN ns ON ns.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2, 3;
