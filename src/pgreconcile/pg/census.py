"""Facts about a database's contents: exact row counts, size, schema fingerprint.

Used by the backup manifest, the restore test and verification; all of them must
count the same way, so they all count here.
"""
from __future__ import annotations

from psycopg import sql

from pgreconcile.progress import NULL, Reporter

# Everything that holds rows (materialized views too), in the same scope `catalog`
# inspects: its schema exclusions and no extension-owned relations.
_USER_TABLES = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm')
  AND n.nspname <> ALL (%s::text[])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""


def user_tables(conn) -> list[tuple[str, str]]:
    from pgreconcile.schema.catalog import DEFAULT_EXCLUDED_SCHEMAS
    rows = conn.execute(_USER_TABLES, (list(DEFAULT_EXCLUDED_SCHEMAS),)).fetchall()
    return [(r[0], r[1]) for r in rows]


def row_counts(conn, reporter: Reporter = NULL, batch: int = 200) -> dict[str, int]:
    """Exact `count(*)` of every user table, keyed "schema.table".

    Tables are counted a batch at a time in one statement (UNION ALL), so a
    2,000-table database costs ten round trips, not 2,000.
    """
    tables = user_tables(conn)
    counts: dict[str, int] = {}
    with reporter.task("counting rows", total=len(tables)) as task:
        for start in range(0, len(tables), batch):
            chunk = tables[start:start + batch]
            union = sql.SQL(" UNION ALL ").join(
                sql.SQL("SELECT {}::int, count(*) FROM {}").format(
                    sql.Literal(i), sql.Identifier(schema, name))
                for i, (schema, name) in enumerate(chunk))
            for i, count in conn.execute(union).fetchall():
                schema, name = chunk[i]
                counts[f"{schema}.{name}"] = int(count)
            task.advance(len(chunk))
    return counts


def database_size(conn) -> int:
    return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])


def schema_fingerprint(conn) -> str:
    """sha256 of the structural model (names, types, constraints, indexes; no data, no OIDs)."""
    from pgreconcile.schema.catalog import inspect_schema
    return inspect_schema(conn).fingerprint()
