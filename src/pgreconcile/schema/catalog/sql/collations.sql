-- User collations (CREATE COLLATION). The ICU/builtin locale is colliculocale on 15-16,
-- colllocale on 17+, and collcollate on 13-14 (which have no separate column): read
-- through to_jsonb so that one query works on every version. lc_collate/lc_ctype only
-- mean something for libc collations. The collation version is left out: it follows the
-- library the server is built with, not the schema.
WITH ns AS (/* scope.sql */)
SELECT ns.nspname AS schema,
       c.collname AS name,
       c.collprovider::text AS provider,
       CASE WHEN c.collprovider <> 'c'
            THEN COALESCE(to_jsonb(c) ->> 'colllocale', to_jsonb(c) ->> 'colliculocale',
                          c.collcollate::text) END AS locale,
       CASE WHEN c.collprovider = 'c' THEN c.collcollate::text END AS lc_collate,
       CASE WHEN c.collprovider = 'c' THEN c.collctype::text END AS lc_ctype,
       c.collisdeterministic AS deterministic
FROM pg_collation c
JOIN ns ON ns.oid = c.collnamespace
WHERE NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_collation'::regclass AND d.objid = c.oid
                    AND d.deptype = 'e')
ORDER BY 1, 2;
