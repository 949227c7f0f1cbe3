"""The own-writes audit: what pgreconcile's own transaction wrote, checked before it commits.

Right before each of its transactions commits (a DDL step, a backfill batch, a sweep batch)
the executor reads `pg_stat_xact_user_tables`: the rows inserted, updated and deleted by
this session and not yet flushed to the statistics (the application's sessions never show
up there), per table, on PostgreSQL 13 to 18, minus the same read at the transaction's
start (see `baseline`): what this transaction alone wrote. A DDL step may write no row at
all, except the rows an `UPDATE` of the step itself reports on the table it names (the
swap's catch-up) and rows of tables the step created; a backfill batch may only update the
backfill's table (and its partitions), exactly as many rows as its UPDATE reported.
Anything else raises UnexpectedWrite inside the transaction, so it is rolled back. The
schema `pgreconcile` (the ledger) is not audited.

What the counters cannot see: TRUNCATE and table rewrites (`ALTER COLUMN … TYPE … USING`,
`DROP COLUMN`) change data without counting rows; the planner emits them only in steps
marked destructive, which need `--allow-destructive`. `CREATE INDEX CONCURRENTLY` runs
outside a transaction and cannot be audited: such steps may hold nothing but
`CREATE [UNIQUE] INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY` and `REINDEX … CONCURRENTLY`
(checked before they run); `ALTER TYPE … ADD VALUE` runs in an audited transaction.

Test-only fault injection (the drills and tests/test_apply_online.py use it; it exists for
nothing else): PGRECONCILE_TEST_FAULT="delete-row:<step-id-prefix>" or
"change-value:<step-id-prefix>" makes the executor, inside the first transaction of the
first step whose id starts with the prefix, delete one pre-existing row (the lowest primary
key) or change one pre-existing non-key value of the step's table. The audit must catch it.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from psycopg import sql

from pgreconcile.errors import Refused, UnexpectedWrite

FAULT_ENV = "PGRECONCILE_TEST_FAULT"

#: This transaction's own row counts per user table (pgreconcile's ledger excluded).
_OWN_WRITES = (
    "SELECT relid, schemaname, relname, n_tup_ins, n_tup_upd, n_tup_del "
    "FROM pg_stat_xact_user_tables WHERE schemaname <> 'pgreconcile' "
    "AND (n_tup_ins > 0 OR n_tup_upd > 0 OR n_tup_del > 0)")

#: Statements that may run outside a transaction (unaudited): index builds and drops only.
_CONCURRENT_OK = re.compile(
    r"\s*(CREATE\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY\s|DROP\s+INDEX\s+CONCURRENTLY\s|"
    r"REINDEX\s+(\([^)]*\)\s*)?(INDEX|TABLE|SCHEMA|DATABASE|SYSTEM)\s+CONCURRENTLY\s)",
    re.IGNORECASE)
#: Allowed in a transaction since PostgreSQL 12: run audited, not in autocommit.
_ADD_VALUE = re.compile(r"\s*ALTER\s+TYPE\s+.+\s+ADD\s+VALUE\s", re.IGNORECASE | re.DOTALL)
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_UPDATE_TARGET = re.compile(r"\s*UPDATE\s+(?:ONLY\s+)?((?:\"(?:[^\"]|\"\")*\"|[\w$]+)"
                            r"(?:\.(?:\"(?:[^\"]|\"\")*\"|[\w$]+))?)", re.IGNORECASE)


def _single_statement(statement: str) -> bool:
    """No second statement hides behind a `;` (quoted text aside), and no comment."""
    bare = _QUOTED.sub("''", statement).strip().rstrip(";")
    return ";" not in bare and "--" not in bare and "/*" not in bare


def concurrent_mode(statements: tuple[str, ...]) -> str:
    """How a CONCURRENT step's statements run: "autocommit" (index statements only, not
    auditable), "transaction" (ALTER TYPE … ADD VALUE, audited). Anything else, or a mix,
    is refused before the step starts."""
    if statements and all(_single_statement(s) and _CONCURRENT_OK.match(s + " ")
                          for s in statements):
        return "autocommit"
    if statements and all(_single_statement(s) and _ADD_VALUE.match(s + " ")
                          for s in statements):
        return "transaction"
    bad = next((s for s in statements if not (_single_statement(s) and (
        _CONCURRENT_OK.match(s + " ") or _ADD_VALUE.match(s + " ")))), statements[:1])
    raise Refused(f"a step run outside a transaction may only build or drop indexes "
                  f"CONCURRENTLY (its writes cannot be audited); refused: {str(bad)[:200]!r}",
                  hint="re-plan with this pgreconcile; a hand-edited plan.json is not run")


def update_target(statement: str) -> str | None:
    """The table an `UPDATE` statement names (as written), else None."""
    m = _UPDATE_TARGET.match(statement)
    return m.group(1) if m else None


@dataclass
class TableWrites:
    relid: int
    name: str           # schema.table
    inserted: int
    updated: int
    deleted: int

    def counts(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "deleted": self.deleted}


@dataclass
class Allowance:
    """What one transaction may write: updates per table (relid -> rows its own UPDATEs
    reported, counted over the table and its partitions), and any row of a table created in
    the same transaction."""

    updates: dict[int, int] = field(default_factory=dict)
    members: dict[int, frozenset[int]] = field(default_factory=dict)  # table -> its tree
    new_tables: frozenset[int] = frozenset()

    def allow_update(self, conn, table_sql: str, rows: int) -> None:
        relid = conn.execute("SELECT %s::regclass::oid", (table_sql,)).fetchone()[0]
        if relid not in self.members:
            # The table and, when partitioned, its partitions (pg_partition_tree, 12+,
            # lists nothing for a plain table).
            self.members[relid] = frozenset({relid} | {r[0] for r in conn.execute(
                "SELECT relid::oid FROM pg_partition_tree(%s::oid::regclass)", (relid,))})
        self.updates[relid] = self.updates.get(relid, 0) + rows

    @property
    def allowed_updates(self) -> int:
        return sum(self.updates.values())


def existing_tables(conn) -> frozenset[int]:
    """Tables that exist now: rows of any other table cannot be pre-existing data."""
    return frozenset(r[0] for r in conn.execute(
        "SELECT oid FROM pg_class WHERE relkind IN ('r', 'p', 'm')").fetchall())


def _pending(conn) -> dict[int, TableWrites]:
    return {r[0]: TableWrites(r[0], f"{r[1]}.{r[2]}", r[3], r[4], r[5])
            for r in conn.execute(_OWN_WRITES).fetchall()}


def baseline(conn) -> dict[int, TableWrites]:
    """Read at the start of the transaction. pg_stat_xact_* report the backend's counts not
    yet flushed to the cumulative statistics: on every version 13 to 18 they can still hold
    earlier transactions of this session (flushes are rate-limited and happen only when the
    session is idle outside a transaction), so a transaction's own writes are the counts
    at its end minus this baseline. No flush happens inside a transaction block."""
    return _pending(conn)


def own_writes(conn, start: dict[int, TableWrites]) -> list[TableWrites]:
    """Rows this transaction inserted/updated/deleted since `start`, per user table."""
    out = []
    for relid, w in _pending(conn).items():
        b = start.get(relid)
        if b is not None:
            w = TableWrites(relid, w.name, w.inserted - b.inserted, w.updated - b.updated,
                            w.deleted - b.deleted)
        if w.inserted or w.updated or w.deleted:
            out.append(w)
    return out


def as_record(writes: list[TableWrites]) -> dict[str, dict[str, int]]:
    """{"schema.table": {"inserted": n, "updated": n, "deleted": n}} (non-zero tables)."""
    return {w.name: w.counts() for w in writes}


def check(conn, what: str, allowance: Allowance, start: dict[int, TableWrites],
          existing: frozenset[int] | None = None) -> list[TableWrites]:
    """Read this transaction's writes (since `start`, its baseline) and raise
    UnexpectedWrite (the caller's transaction then rolls back) when they are not exactly
    what `allowance` permits. `existing`: tables that existed before the transaction
    (None: all tables with writes existed)."""
    writes = own_writes(conn, start)
    if existing is not None:
        # Created by this transaction (a materialized view filled on creation): it holds
        # no pre-existing row, so its rows are neither checked nor recorded.
        writes = [w for w in writes if w.relid in existing]
    problems: list[str] = []
    updated_in: dict[int, int] = {relid: 0 for relid in allowance.updates}
    for w in writes:
        owner = next((t for t, tree in allowance.members.items() if w.relid in tree), None)
        if w.inserted or w.deleted:
            problems.append(f"{w.name}: {w.inserted} inserted, {w.deleted} deleted")
        if w.updated and owner is None:
            problems.append(f"{w.name}: {w.updated} updated")
        elif owner is not None:
            updated_in[owner] += w.updated
    for relid, rows in allowance.updates.items():
        if updated_in.get(relid, 0) != rows:
            problems.append(f"{conn.execute('SELECT %s::regclass::text', (relid,)).fetchone()[0]}"
                            f": {updated_in.get(relid, 0)} rows updated where its own UPDATE "
                            f"reported {rows}")
    if problems:
        exc = UnexpectedWrite(f"{what} wrote rows it must not ({'; '.join(problems)}); its "
                              "transaction was rolled back")
        exc.writes = as_record(writes)
        raise exc
    return writes


# --------------------------------------------------------------------------- test faults
class Fault:
    """PGRECONCILE_TEST_FAULT, for the drills and tests only: one bad write, once."""

    def __init__(self, spec: str | None):
        kind, _, prefix = (spec or "").partition(":")
        self.kind = kind if kind in ("delete-row", "change-value") and prefix else ""
        self.prefix = prefix
        self.fired = False

    @classmethod
    def from_env(cls) -> Fault:
        return cls(os.environ.get(FAULT_ENV))

    def applies(self, step_id: str) -> bool:
        return bool(self.kind) and not self.fired and step_id.startswith(self.prefix)

    def fire(self, conn, step_id: str, table_sql: str | None) -> None:
        """Inside the caller's transaction: the bad write, on the step's table."""
        if not self.applies(step_id) or not table_sql:
            return
        self.fired = True
        relid = conn.execute("SELECT %s::regclass::oid", (table_sql,)).fetchone()[0]
        key = [r[0] for r in conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY (i.indkey) WHERE i.indrelid = %s AND i.indisprimary "
            "ORDER BY a.attnum", (relid,))]
        if not key:
            raise UnexpectedWrite(f"test fault: {table_sql} has no primary key")
        table = sql.SQL(table_sql)
        keys = sql.SQL(", ").join(map(sql.Identifier, key))
        first = sql.SQL("({}) = (SELECT {} FROM {} ORDER BY {} LIMIT 1)").format(
            keys, keys, table, keys)
        if self.kind == "delete-row":
            conn.execute(sql.SQL("DELETE FROM {} WHERE ").format(table) + first)
            return
        # A non-key column outside every index, first by position: text gets a '*', a
        # number grows by one, a boolean flips.
        column = conn.execute(
            "SELECT a.attname, t.typcategory FROM pg_attribute a JOIN pg_type t ON t.oid = "
            "a.atttypid WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped AND "
            "t.typcategory IN ('S', 'N', 'B') AND NOT EXISTS (SELECT 1 FROM pg_index i "
            "WHERE i.indrelid = a.attrelid AND a.attnum = ANY (i.indkey)) "
            "ORDER BY a.attnum LIMIT 1", (relid,)).fetchone()
        if column is None:
            raise UnexpectedWrite(f"test fault: {table_sql} has no column to change")
        col = sql.Identifier(column[0])
        change = {"S": sql.SQL("{} || '*'"), "N": sql.SQL("{} + 1"),
                  "B": sql.SQL("NOT {}")}[column[1]].format(col)
        conn.execute(sql.SQL("UPDATE {} SET {} = ").format(table, col) + change
                     + sql.SQL(" WHERE ") + first)
