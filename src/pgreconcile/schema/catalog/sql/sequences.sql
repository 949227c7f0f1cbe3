-- Sequences with their settings (never last_value: it changes with every insert) and
-- the column that owns them (OWNED BY, deptype 'a'). Identity sequences (deptype 'i')
-- are part of their column's identity and are left out.
WITH ns AS (/* scope.sql */)
SELECT ns.nspname AS schema,
       c.relname AS name,
       format_type(s.seqtypid, NULL) AS data_type,
       s.seqstart AS start,
       s.seqincrement AS increment,
       s.seqmin AS minimum,
       s.seqmax AS maximum,
       s.seqcache AS cache,
       s.seqcycle AS cycle,
       own.owner_schema,
       own.owner_table,
       own.owner_column
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN ns ON ns.oid = c.relnamespace
LEFT JOIN LATERAL (
    SELECT d.deptype, tn.nspname AS owner_schema, t.relname AS owner_table,
           a.attname AS owner_column
    FROM pg_depend d
    JOIN pg_class t ON t.oid = d.refobjid
    JOIN pg_namespace tn ON tn.oid = t.relnamespace
    JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
      AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
      AND d.deptype IN ('a', 'i')
    LIMIT 1
) own ON true
WHERE own.deptype IS DISTINCT FROM 'i'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2;
