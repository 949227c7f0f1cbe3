"""Facts about a database's contents: exact row counts, size, schema fingerprint.

Used by the backup manifest, the restore test and verification; all of them must
count the same way, so they all count here.

Counts are exact `count(*)` in the caller's transaction (for a backup: the snapshot
pg_dump dumps). How a table is read is chosen per table and changes no result:

* a big table whose visibility map covers (nearly) all of it, and that has a plain btree
  index much smaller than the heap, is counted by an index-only scan: PostgreSQL reads
  the index and the visibility map, and a heap page only where the map says it is not
  all-visible, so the answer is the same `count(*)` in the same snapshot;
* every other table is read sequentially, one backend, no parallel workers (a backup
  counts beside pg_dump on the same cores: workers would compete with the dump, not help).
"""
from __future__ import annotations

from psycopg import sql

from pgreconcile.progress import NULL, Reporter

# Everything that holds rows (materialized views too), in the same scope `catalog`
# inspects: its schema exclusions and no extension-owned relations. For each, the
# planner's statistics that choose how it is counted: heap pages, all-visible pages, and
# the pages of its smallest valid, non-partial btree index (every row has an entry there,
# NULLs included).
_USER_TABLES = """
SELECT n.nspname, c.relname, c.relkind, c.relpages, c.relallvisible,
       (SELECT min(i.relpages) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                                 JOIN pg_am a ON a.oid = i.relam
        WHERE x.indrelid = c.oid AND a.amname = 'btree' AND x.indisvalid
          AND x.indisready AND x.indpred IS NULL)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm')
  AND n.nspname <> ALL (%s::text[])
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""

# An index-only count pays off from this heap size (8 kB pages: 8 MB) when at least this
# share of the heap is all-visible and the index is at most this share of the heap.
INDEX_ONLY_MIN_PAGES = 1024
INDEX_ONLY_MIN_VISIBLE = 0.9
INDEX_ONLY_MAX_INDEX_SHARE = 0.5

# Planner settings while counting; every one is put back afterwards.
_SCAN_SETTINGS = {"max_parallel_workers_per_gather": "0"}
# (enable_indexscan stays on: off, it disables index-only scans too.)
_INDEX_ONLY_SETTINGS = {**_SCAN_SETTINGS, "enable_seqscan": "off",
                        "enable_bitmapscan": "off", "enable_indexonlyscan": "on"}


def _table_facts(conn) -> list[tuple]:
    from pgreconcile.schema.catalog import DEFAULT_EXCLUDED_SCHEMAS
    return conn.execute(_USER_TABLES, (list(DEFAULT_EXCLUDED_SCHEMAS),)).fetchall()


def user_tables(conn) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in _table_facts(conn)]


def _index_only(relkind: str, pages: int, visible: int, index_pages: int | None) -> bool:
    return (relkind in ("r", "m") and index_pages is not None
            and pages >= INDEX_ONLY_MIN_PAGES
            and visible >= INDEX_ONLY_MIN_VISIBLE * pages
            and index_pages <= INDEX_ONLY_MAX_INDEX_SHARE * pages)


def count_statements(conn, batch: int = 200, *, index_only: bool = True
                     ) -> list[tuple[dict[str, str], list[tuple[str, str]], sql.Composed]]:
    """[(planner settings, [(schema, table), ...], statement)] that `row_counts` runs: one
    `UNION ALL` statement per batch of tables, so 2,000 tables cost ten round trips."""
    plain, fast = [], []
    for schema, name, relkind, pages, visible, index_pages in _table_facts(conn):
        use = index_only and _index_only(relkind, pages or 0, visible or 0, index_pages)
        (fast if use else plain).append((schema, name))
    out = []
    for settings, tables, size in ((_SCAN_SETTINGS, plain, batch),
                                   (_INDEX_ONLY_SETTINGS, fast, batch)):
        for start in range(0, len(tables), size):
            chunk = tables[start:start + size]
            union = sql.SQL(" UNION ALL ").join(
                sql.SQL("SELECT {}::int, count(*) FROM {}").format(
                    sql.Literal(i), sql.Identifier(schema, name))
                for i, (schema, name) in enumerate(chunk))
            out.append((settings, chunk, union))
    return out


class planner_settings:
    """Session settings for a while, then back to what they were. In a transaction that
    fails they roll back with it; otherwise (autocommit too) they are reset explicitly."""

    def __init__(self, conn, settings: dict[str, str]) -> None:
        self.conn, self.settings, self.saved = conn, settings, {}

    def __enter__(self):
        for name, value in self.settings.items():
            self.saved[name] = self.conn.execute(
                "SELECT current_setting(%s), set_config(%s, %s, false)",
                (name, name, value)).fetchone()[0]
        return self

    def __exit__(self, exc_type, *_):
        from psycopg.pq import TransactionStatus
        if self.conn.closed or self.conn.info.transaction_status == TransactionStatus.INERROR:
            return
        for name, value in self.saved.items():
            self.conn.execute("SELECT set_config(%s, %s, false)", (name, value))


def row_counts(conn, reporter: Reporter = NULL, batch: int = 200, *,
               index_only: bool = True) -> dict[str, int]:
    """Exact `count(*)` of every user table, keyed "schema.table" (see the module's note on
    how each table is read). `index_only=False` reads every table sequentially."""
    statements = count_statements(conn, batch, index_only=index_only)
    found: dict[tuple[str, str], int] = {}
    with reporter.task("counting rows", total=sum(len(s[1]) for s in statements)) as task:
        for settings, chunk, union in statements:
            with planner_settings(conn, settings):
                rows = conn.execute(union).fetchall()
            for i, count in rows:
                found[chunk[i]] = int(count)
            task.advance(len(chunk))
    return {f"{schema}.{name}": found[(schema, name)] for schema, name in sorted(found)}


def database_size(conn) -> int:
    return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])


def schema_fingerprint(conn) -> str:
    """sha256 of the structural model (names, types, constraints, indexes; no data, no OIDs)."""
    from pgreconcile.schema.catalog import inspect_schema
    return inspect_schema(conn).fingerprint()
