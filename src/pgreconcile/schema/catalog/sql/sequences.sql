-- Sequences with their settings and the column that owns them (OWNED BY, deptype 'a').
-- Identity sequences (deptype 'i') are part of their column's identity: flagged
-- `identity` (the model keeps them apart, for their state only).
-- last_value is state, not structure (NULL before the first nextval, after a
-- setval(..., false), or without the privilege to read it, as in pg_sequences).
-- owner_indexed: the owning column is an integer column that leads a btree index and can
-- be read, so max() of it is cheap (catalog/__init__.py reads it, and the sequence itself
-- when last_value is NULL and it is readable).
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
       own.owner_column,
       CASE WHEN has_sequence_privilege(c.oid, 'SELECT,USAGE')
            THEN pg_sequence_last_value(c.oid::regclass) END AS last_value,
       has_sequence_privilege(c.oid, 'SELECT') AS readable,
       COALESCE(own.owner_indexed, false) AS owner_indexed,
       own.deptype IS NOT DISTINCT FROM 'i' AS identity
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN ns ON ns.oid = c.relnamespace
LEFT JOIN LATERAL (
    SELECT d.deptype, tn.nspname AS owner_schema, t.relname AS owner_table,
           a.attname AS owner_column,
           a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
           AND has_column_privilege(t.oid, a.attnum, 'SELECT')
           AND EXISTS (SELECT 1 FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid
                       JOIN pg_am am ON am.oid = ic.relam
                       WHERE x.indrelid = t.oid AND x.indkey[0] = a.attnum
                         AND am.amname = 'btree' AND x.indpred IS NULL) AS owner_indexed
    FROM pg_depend d
    JOIN pg_class t ON t.oid = d.refobjid
    JOIN pg_namespace tn ON tn.oid = t.relnamespace
    JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
      AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
      AND d.deptype IN ('a', 'i')
    LIMIT 1
) own ON true
WHERE NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2;
