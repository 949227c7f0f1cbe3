"""A backfill in keyset batches: each batch is one short transaction that commits with its
progress in the ledger, so a killed run resumes after the last committed batch. The sweep
that fills rows left NULL afterwards is batched the same way. Every batch is audited
(apply/audit.py) before it commits: it may only update the backfill's table, exactly the
rows its UPDATE reported."""
from __future__ import annotations

import functools
import time
from collections.abc import Callable

from psycopg import sql

from pgreconcile.apply import ledger
from pgreconcile.apply.audit import Allowance, Fault, as_record, baseline, check
from pgreconcile.apply.ledger import LedgerEntry
from pgreconcile.apply.options import ApplyOptions
from pgreconcile.errors import BackfillPaused
from pgreconcile.plan.backfill import backfill_batch_sql
from pgreconcile.plan.steps import Step
from pgreconcile.progress import Reporter

#: Runs an action with the step's bounded lock retries; returns the attempts it took.
Retry = Callable[[Callable[[], None]], int]

__all__ = ["BackfillPaused", "run_backfill", "set_lock_timeout"]


def set_lock_timeout(conn, options: ApplyOptions, *, local: bool = True) -> None:
    """lock_timeout for this transaction (or, local=False, the session), bound as a value."""
    conn.execute("SELECT set_config('lock_timeout', %s, %s)", (options.lock_timeout, local))


def run_backfill(conn, plan_id: str, step: Step, entry: LedgerEntry | None,
                 options: ApplyOptions, reporter: Reporter, retry: Retry,
                 fault: Fault | None = None) -> tuple[int, int]:
    """Fill the step's column; returns (rows written, attempts). Raises BackfillPaused
    between batches once options.deadline has passed (the progress is committed)."""
    b = step.backfill
    table, key, column = sql.Identifier(b.schema, b.table), sql.Identifier(b.key), \
        sql.Identifier(b.column)
    # Resume from the last committed batch: the ledger and the batch commit together.
    last = entry.last_key if entry and entry.last_key is not None else None
    done_rows = entry.rows if entry and last is not None else 0
    # format_type prints the type as SQL, quoted where needed: the server's own words.
    key_type = conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
        "%s::regclass AND attname = %s", (b.table_sql, b.key)).fetchone()[0]
    cast = sql.SQL(key_type)
    if last is None:
        last = conn.execute(sql.SQL("SELECT min({}) FROM {}").format(key, table)).fetchone()[0]
        if last is None:
            return 0, 0
        last = _before(last)
    # Stop at the highest key that exists now: rows inserted later already get the
    # column DEFAULT, so chasing them would only spin (measured in bench/).
    ceiling = conn.execute(sql.SQL("SELECT max({}) FROM {}").format(key, table)).fetchone()[0]
    lower, upper_p = f"%(last)s::{key_type}", f"%(upper)s::{key_type}"
    batch = backfill_batch_sql(b, lower, upper_p)
    scan = sql.SQL("SELECT max({k}) FROM (SELECT {k} FROM {t} WHERE {k} > %(last)s::{c} AND "
                   "{k} <= %(ceiling)s::{c} ORDER BY {k} LIMIT %(n)s) s").format(
        k=key, t=table, c=cast)
    # The sweep: rows still NULL anywhere (old code wrote them without the DEFAULT, or a
    # non-integer key's first row), by key, in batches of the same size. Its first batch
    # includes its lowest key.
    sweep_scan = {op: sql.SQL(
        "SELECT max({k}) FROM (SELECT t.{k} FROM {t} AS t WHERE t.{col} IS NULL{w} AND "
        "t.{k} " + op + " %(last)s::{c} ORDER BY t.{k} LIMIT %(n)s) s").format(
        k=key, t=table, c=cast, col=column, w=sql.SQL(b.and_where)) for op in (">", ">=")}
    sweep_batch = {">": batch, ">=": backfill_batch_sql(b, lower, upper_p, inclusive=True)}
    sweep_start = sql.SQL("SELECT min(t.{k}) FROM {t} AS t WHERE t.{col} IS NULL{w}").format(
        k=key, t=table, col=column, w=sql.SQL(b.and_where))
    attempts = 0
    fault = fault or Fault(None)

    def one(scan_sql, batch_sql: str, params: dict, record_key: bool) -> tuple[object, int]:
        nonlocal attempts
        box: dict = {}
        attempts += retry(functools.partial(_batch, conn, plan_id, step, options, scan_sql,
                                            batch_sql, params, done_rows, record_key, fault,
                                            box))
        return box["result"]

    with reporter.task(f"backfill {b.qualified_table}.{b.column}",
                       total=step.estimated_rows or None) as task:
        task.update(completed=done_rows)
        while True:
            _pause_if_due(options, b, f"{b.key} > {last}", done_rows, last)
            upper, updated = one(scan, batch, {"last": last, "n": options.batch_size,
                                               "ceiling": ceiling}, True)
            if upper is None:
                break
            last = upper
            done_rows += updated
            task.update(completed=done_rows)
            if options.batch_delay:
                time.sleep(options.batch_delay)
        sweep_last, op = conn.execute(sweep_start).fetchone()[0], ">="
        while sweep_last is not None:
            _pause_if_due(options, b, "the final sweep", done_rows, last)
            upper, updated = one(sweep_scan[op], sweep_batch[op],
                                 {"last": sweep_last, "n": options.batch_size}, False)
            if upper is None:
                break
            sweep_last, op = upper, ">"
            done_rows += updated
            task.update(completed=done_rows)
            if options.batch_delay:
                time.sleep(options.batch_delay)
    return done_rows, attempts


def _pause_if_due(options: ApplyOptions, b, where: str, done_rows: int, last) -> None:
    if options.deadline and time.time() > options.deadline:
        raise BackfillPaused(f"backfill of {b.qualified_table} paused at {where} ({done_rows} "
                             "rows done): the maintenance window is ending",
                             detail={"rows": done_rows, "last_key": None if last is None
                                     else str(last)})


def _batch(conn, plan_id: str, step: Step, options: ApplyOptions, scan, batch: str,
           params: dict, done_rows: int, record_key: bool, fault: Fault, box: dict) -> None:
    """One batch in its own short transaction, audited, committed with its progress."""
    b = step.backfill
    with conn.transaction():
        set_lock_timeout(conn, options)
        start = baseline(conn)
        fault.fire(conn, step.id, b.table_sql)
        upper = conn.execute(scan, params).fetchone()[0]
        if upper is None and not fault.fired:
            box["result"] = (None, 0)
            return
        updated = 0
        if upper is not None:
            updated = conn.execute(batch, {"last": params["last"], "upper": upper}).rowcount
        allowance = Allowance()
        allowance.allow_update(conn, b.table_sql, updated)
        writes = check(conn, f"backfill batch of step {step.id}", allowance, start)
        ledger.add_writes(conn, plan_id, step.id, as_record(writes), updated)
        ledger.record(conn, plan_id, step.id, "running", rows=done_rows + updated,
                      last_key=str(upper) if record_key and upper is not None else None)
    box["result"] = (upper, updated)


def _before(value):
    if isinstance(value, int):
        return value - 1
    return value  # non-integer keys: the sweep's first batch includes this key
