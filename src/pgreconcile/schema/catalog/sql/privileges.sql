-- Granted privileges on tables, partitioned tables, views, materialized views and
-- sequences (aclexplode of relacl), one row per object and grantee. Left out: objects
-- whose ACL was never changed (relacl NULL: the owner's implicit rights only), the
-- owner's own entry, and anything an extension owns. Grantee 0 is PUBLIC.
WITH ns AS (/* scope.sql */)
SELECT CASE WHEN c.relkind IN ('r', 'p') THEN 'table'
            WHEN c.relkind IN ('v', 'm') THEN 'view'
            ELSE 'sequence' END AS kind,
       ns.nspname || '.' || c.relname AS object,
       CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(acl.grantee)::text END
           AS grantee,
       array_agg(DISTINCT acl.privilege_type::text) AS privileges,
       array_agg(DISTINCT acl.privilege_type::text) FILTER (WHERE acl.is_grantable)
           AS grantable
FROM pg_class c
JOIN ns ON ns.oid = c.relnamespace
CROSS JOIN LATERAL aclexplode(c.relacl) AS acl
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S')
  AND c.relacl IS NOT NULL
  AND acl.grantee <> c.relowner
  AND NOT EXISTS (SELECT 1 FROM pg_depend e
                  WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;
