-- Functions, procedures, aggregates and window functions (prokind f, p, a, w) that no
-- extension owns, known by name and identity arguments (overloads differ there).
-- pg_get_functiondef cannot print aggregates: a plain aggregate's definition is put
-- together from pg_aggregate as the CREATE OR REPLACE AGGREGATE (PostgreSQL 12+) that
-- makes it; an ordered-set or hypothetical-set aggregate's is left empty.
-- pg_get_function_result is NULL for procedures.
WITH ns AS (/* scope.sql */)
SELECT ns.nspname AS schema,
       p.proname AS name,
       pg_get_function_identity_arguments(p.oid) AS arguments,
       p.prokind::text AS kind,
       pg_get_function_result(p.oid) AS returns,
       l.lanname AS language,
       CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid)
            WHEN ag.aggkind = 'n' THEN
                'CREATE OR REPLACE AGGREGATE ' || quote_ident(ns.nspname) || '.'
                || quote_ident(p.proname) || '(' || pg_get_function_arguments(p.oid) || ') ('
                || 'SFUNC = ' || ag.aggtransfn::regproc::text
                || ', STYPE = ' || format_type(ag.aggtranstype, NULL)
                || CASE WHEN ag.aggfinalfn <> 0
                        THEN ', FINALFUNC = ' || ag.aggfinalfn::regproc::text ELSE '' END
                || CASE WHEN ag.aggfinalextra THEN ', FINALFUNC_EXTRA' ELSE '' END
                || CASE WHEN ag.aggcombinefn <> 0
                        THEN ', COMBINEFUNC = ' || ag.aggcombinefn::regproc::text ELSE '' END
                || CASE WHEN ag.aggserialfn <> 0
                        THEN ', SERIALFUNC = ' || ag.aggserialfn::regproc::text ELSE '' END
                || CASE WHEN ag.aggdeserialfn <> 0
                        THEN ', DESERIALFUNC = ' || ag.aggdeserialfn::regproc::text ELSE '' END
                || COALESCE(', INITCOND = ' || quote_literal(ag.agginitval), '')
                || CASE WHEN ag.aggmtransfn <> 0
                        THEN ', MSFUNC = ' || ag.aggmtransfn::regproc::text
                             || ', MINVFUNC = ' || ag.aggminvtransfn::regproc::text
                             || ', MSTYPE = ' || format_type(ag.aggmtranstype, NULL)
                        ELSE '' END
                || CASE WHEN ag.aggmfinalfn <> 0
                        THEN ', MFINALFUNC = ' || ag.aggmfinalfn::regproc::text ELSE '' END
                || COALESCE(', MINITCOND = ' || quote_literal(ag.aggminitval), '')
                || CASE WHEN ag.aggsortop <> 0
                        THEN ', SORTOP = OPERATOR(' || ag.aggsortop::regoper::text || ')'
                        ELSE '' END
                || CASE p.proparallel WHEN 's' THEN ', PARALLEL = SAFE'
                                      WHEN 'r' THEN ', PARALLEL = RESTRICTED' ELSE '' END
                || ')'
            ELSE '' END AS definition
FROM pg_proc p
JOIN ns ON ns.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
LEFT JOIN pg_aggregate ag ON ag.aggfnoid = p.oid
WHERE p.prokind IN ('f', 'p', 'a', 'w')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1, 2, 3;
