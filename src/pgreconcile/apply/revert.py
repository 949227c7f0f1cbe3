"""Undo a plan's started steps: all of it or none of it, and never into data written since.

A rollback is checked whole before its first statement:
* a started step that is destructive and has no reverse (the primary-key swap, dropping the
  old key) cannot be undone: the rollback is refused;
* every table or column a started step created (`Step.creates`, which its reverse drops) is
  checked for data: a table with any row, or a column holding values pgreconcile did not
  write itself (see `columns_at_risk`) is refused, naming each object and its row count, unless
  `allow_destructive` (the caller adds the tables and columns the migrations being unapplied
  would drop, see runbook/stages.py);
* the reverse SQL then runs in ONE transaction under lock_timeout (DROP INDEX CONCURRENTLY
  becomes DROP INDEX: it cannot run in a transaction, and dropping is short, metadata only),
  with the ledger marked in the same transaction; a busy lock retries the whole transaction
  with backoff; any other error rolls everything back and names the statement.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg import errors as pgerr
from psycopg import sql

from pgreconcile.apply import ledger
from pgreconcile.apply.lock import reconcile_lock
from pgreconcile.apply.options import ApplyOptions
from pgreconcile.apply.retry import attempts
from pgreconcile.errors import LockNotAcquired, RollbackRefused
from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.plan.sqltext import ident
from pgreconcile.plan.steps import Plan, Step, StepKind
from pgreconcile.progress import NULL, Reporter

#: The statement's own leading words only: a name may hold the same words (quoted).
_CONCURRENTLY = re.compile(r"^\s*DROP\s+INDEX\s+CONCURRENTLY\b", re.I)
#: An expression whose value cannot be recomputed: its values cannot be told from others.
_VOLATILE = re.compile(r"random|gen_random_uuid|uuid_generate|clock_timestamp|now\(|"
                       r"nextval|statement_timestamp|txid|timeofday", re.I)


@dataclass
class Reversal:
    """What rolling a plan back would do, worked out before anything runs."""

    plan_id: str
    steps: list[Step] = field(default_factory=list)      # started steps, newest first
    statements: list[str] = field(default_factory=list)  # their reverse SQL, in order
    irreversible: list[Step] = field(default_factory=list)

    @property
    def step_ids(self) -> list[str]:
        return [s.id for s in self.steps]


def prepare(conn, plan: Plan) -> Reversal:
    """The plan's started steps (ledger.started: not those someone else made), newest first,
    and the reverse SQL that undoes them, as it will run inside one transaction."""
    reversal = Reversal(plan.id)
    if not ledger.exists(conn):
        return reversal  # nothing was ever applied here
    started = ledger.started(conn, plan.id)
    for step in reversed(plan.steps):
        if step.id not in started:
            continue
        reversal.steps.append(step)
        if step.destructive and not step.reverse:
            reversal.irreversible.append(step)
        reversal.statements += [_CONCURRENTLY.sub("DROP INDEX", s, count=1) for s in step.reverse]
    return reversal


def refuse_irreversible(reversal: Reversal, why: str = "") -> None:
    if reversal.irreversible:
        names = ", ".join(f"{s.id} ({s.title})" for s in reversal.irreversible)
        raise RollbackRefused(
            f"{_after(why)}the reverse cannot complete: step(s) {names} changed the database "
            "destructively and have no reverse SQL; nothing was reverted")


def _after(why: str) -> str:
    return f"rolling back after: {why}; " if why else ""


def dropped_objects(steps: list[Step]) -> tuple[list[tuple[str | None, str]],
                                              list[tuple[str | None, str, str]]]:
    """Tables (schema, name) and columns (schema, table, column) the steps' reverse drops:
    the objects each step created (`Step.creates`: its reverse drops them), read from the
    plan's structure rather than from its SQL text."""
    tables: list = []
    columns: list = []
    for step in steps:
        for ref in step.creates:
            if ref.kind == "table":
                tables.append((ref.schema or None, ref.name))
            elif ref.kind == "column" and ref.table:
                columns.append((ref.schema or None, ref.table, ref.name))
    return tables, columns


def _regclass(conn, schema: str | None, name: str) -> tuple[str, str] | None:
    """(schema, table) of an existing table, resolved the way the statement would be."""
    ref = sql.Identifier(schema, name) if schema else sql.Identifier(name)
    row = conn.execute(sql.SQL("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
                               "ON n.oid = c.relnamespace WHERE c.oid = to_regclass({})").format(
        sql.Literal(ref.as_string(conn)))).fetchone()
    return (row[0], row[1]) if row else None


def tables_at_risk(conn, tables: list[tuple[str | None, str]]) -> list[dict]:
    """Tables that hold any row, with their exact row count."""
    found = []
    for schema, name in dict.fromkeys(tables):
        resolved = _regclass(conn, schema, name)
        if resolved is None:
            continue
        rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(*resolved))).fetchone()[0]
        if rows:
            found.append({"kind": "table", "object": ".".join(resolved), "rows": rows})
    return found


def columns_at_risk(conn, plan: Plan, columns: list[tuple[str | None, str, str]]) -> list[dict]:
    """Columns holding values pgreconcile did not write itself, with the number of rows.

    pgreconcile's own values are those of the plan's backfill of the column (recomputed for
    each row when its expression is deterministic) and of a DEFAULT the plan gave the column
    (rows old code inserted meanwhile). A value the plan wrote with a volatile expression
    (a DEFAULT gen_random_uuid(), a random backfill) cannot be told from one the application
    wrote: such a column is counted only through what depends on it (a foreign key from a
    table holding rows makes the DROP fail, so the whole reverse is refused).
    """
    found = []
    for schema, table, column in dict.fromkeys(columns):
        resolved = _regclass(conn, schema, table)
        if resolved is None or not conn.execute(
                "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s "
                "AND NOT attisdropped", (sql.Identifier(*resolved).as_string(conn),
                                          column)).fetchone():
            continue
        qualified = ".".join(resolved)
        if _plan_sets_default(plan, qualified, column):
            continue  # values the plan's DEFAULT made are indistinguishable (docstring)
        backfill = next((s.backfill for s in plan.steps if s.kind == StepKind.BACKFILL
                         and s.backfill and s.backfill.qualified_table == qualified
                         and s.backfill.column == column), None)
        if backfill is not None and _VOLATILE.search(backfill.expression):
            continue
        own = sql.SQL("")
        if backfill is not None:
            own = sql.SQL(" AND NOT (t.{c} IS NOT DISTINCT FROM {e}{w})").format(
                c=sql.Identifier(column),
                e=sql.SQL(backfill.expression_for("t." + backfill.key_sql)),
                w=sql.SQL(backfill.and_where))
        rows = conn.execute(sql.SQL("SELECT count(*) FROM {} AS t WHERE t.{} IS NOT NULL").format(
            sql.Identifier(*resolved), sql.Identifier(column)) + own).fetchone()[0]
        if rows:
            found.append({"kind": "column", "object": f"{qualified}.{column}", "rows": rows})
    return found


def _plan_sets_default(plan: Plan, qualified: str, column: str) -> bool:
    names = "|".join(re.escape(n) for n in dict.fromkeys((ident(column), column)))
    pattern = re.compile(rf"ALTER\s+COLUMN\s+(?:{names})\s+SET\s+DEFAULT", re.I)
    return any(s.table == qualified and any(pattern.search(q) for q in s.sql)
               for s in plan.steps)


def refuse_data_loss(at_risk: list[dict], allow_destructive: bool, why: str = "") -> None:
    """RollbackRefused naming every table and column that would lose data."""
    if at_risk and not allow_destructive:
        names = "; ".join(f"{r['kind']} {r['object']} holds {r['rows']} row(s)" for r in at_risk)
        raise RollbackRefused(
            f"{_after(why)}the rollback would drop data written since the change: {names}; "
            "nothing was reverted", hint=RollbackRefused.hint)


def run_in_one_transaction(conn, statements: list[str], options: ApplyOptions,
                           then: Callable[[object], None] | None = None,
                           reporter: Reporter = NULL, why: str = "") -> int:
    """Run `statements` (and `then(conn)`) in one transaction under lock_timeout; a busy
    lock rolls back and retries the whole transaction with backoff (LockNotAcquired after
    the last attempt); any other error rolls back and is refused, naming the statement.
    Returns the attempts taken."""
    for attempt in attempts(options, reporter, "lock busy"):
        current = None
        try:
            with conn.transaction():
                conn.execute("SELECT set_config('lock_timeout', %s, true)",
                             (options.lock_timeout,))
                conn.execute("SELECT set_config('statement_timeout', %s, true)",
                             (options.statement_timeout,))
                for current in statements:
                    conn.execute(current)
                current = None
                if then is not None:
                    then(conn)
            return attempt.number
        except (pgerr.LockNotAvailable, pgerr.DeadlockDetected) as exc:
            if attempt.last:
                raise LockNotAcquired(
                    f"the reverse could not get its locks within lock_timeout="
                    f"{options.lock_timeout} after {attempt.number} attempts "
                    f"({type(exc).__name__} on {current!r}); nothing was reverted and writers "
                    "were never queued longer than lock_timeout") from None
        except psycopg.Error as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            what = repr(current) if current is not None else "marking the ledger"
            raise RollbackRefused(
                f"{_after(why)}the reverse cannot complete: {what} failed: {type(exc).__name__}: "
                f"{text}; the transaction was rolled back, nothing was reverted") from None
    return options.retries


def mark_reverted(conn, reversal: Reversal) -> None:
    for step_id in reversal.step_ids:
        ledger.mark_reverted(conn, reversal.plan_id, step_id)


def revert_plan(spec: ConnectionSpec, plan: Plan, reporter: Reporter = NULL,
                options: ApplyOptions | None = None, why: str = "") -> list[str]:
    """Undo the plan's started steps in one transaction; ids of the steps reverted (newest
    first), each marked `reverted` in the ledger in that same transaction. Refused (nothing
    changed) when a step cannot be undone or a drop would lose data (unless
    options.allow_destructive)."""
    options = options or ApplyOptions()
    with spec.connect(autocommit=True) as conn:
        conn.execute("SET application_name = 'pgreconcile rollback'")
        if not ledger.exists(conn):
            return []  # nothing was ever applied here
        # The same lock as apply: never revert steps another run is applying right now.
        with reconcile_lock(conn, spec.dbname, "roll back", options.run_id):
            reversal = prepare(conn, plan)
            if not reversal.steps:
                return []
            refuse_irreversible(reversal, why)
            tables, columns = dropped_objects(reversal.steps)
            refuse_data_loss(tables_at_risk(conn, tables) + columns_at_risk(conn, plan, columns),
                             options.allow_destructive, why)
            reporter.info(f"reverting {len(reversal.steps)} step(s) in one transaction: "
                          + ", ".join(reversal.step_ids))
            run_in_one_transaction(conn, reversal.statements, options,
                                   lambda c: mark_reverted(c, reversal), reporter, why)
            return reversal.step_ids
