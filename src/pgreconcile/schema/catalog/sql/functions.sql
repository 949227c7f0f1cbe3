-- Functions, procedures, aggregates and window functions (prokind f, p, a, w) that no
-- extension owns, known by name and identity arguments (overloads differ there).
-- pg_get_functiondef cannot print aggregates: their definition is left empty.
-- pg_get_function_result is NULL for procedures.
WITH ns AS (/* scope.sql */)
SELECT ns.nspname AS schema,
       p.proname AS name,
       pg_get_function_identity_arguments(p.oid) AS arguments,
       p.prokind::text AS kind,
       pg_get_function_result(p.oid) AS returns,
       l.lanname AS language,
       CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) ELSE '' END
           AS definition
FROM pg_proc p
JOIN ns ON ns.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
WHERE p.prokind IN ('f', 'p', 'a', 'w')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1, 2, 3;
