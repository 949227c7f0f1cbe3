"""A backfill in keyset batches: each batch is one short transaction that commits with its
progress in the ledger, so a killed run resumes after the last committed batch."""
from __future__ import annotations

import functools
import time
from collections.abc import Callable

from psycopg import sql

from pgreconcile.apply import ledger
from pgreconcile.apply.ledger import LedgerEntry
from pgreconcile.apply.options import ApplyOptions
from pgreconcile.errors import Refused
from pgreconcile.plan.backfill import backfill_batch_sql, backfill_rest_sql
from pgreconcile.plan.steps import Step
from pgreconcile.progress import Reporter

#: Runs an action with the step's bounded lock retries; returns the attempts it took.
Retry = Callable[[Callable[[], None]], int]


class BackfillPaused(Refused):
    hint = "the maintenance window ends; the next run resumes from the ledger"


def set_lock_timeout(conn, options: ApplyOptions, *, local: bool = True) -> None:
    """lock_timeout for this transaction (or, local=False, the session), bound as a value."""
    conn.execute("SELECT set_config('lock_timeout', %s, %s)", (options.lock_timeout, local))


def run_backfill(conn, plan_id: str, step: Step, entry: LedgerEntry | None,
                 options: ApplyOptions, reporter: Reporter, retry: Retry) -> tuple[int, int]:
    """Fill the step's column; returns (rows written, attempts)."""
    b = step.backfill
    table, key = sql.Identifier(b.schema, b.table), sql.Identifier(b.key)
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
    batch = backfill_batch_sql(b, f"%(last)s::{key_type}", f"%(upper)s::{key_type}")
    scan = sql.SQL("SELECT max({k}) FROM (SELECT {k} FROM {t} WHERE {k} > %(last)s::{c} AND "
                   "{k} <= %(ceiling)s::{c} ORDER BY {k} LIMIT %(n)s) s").format(
        k=key, t=table, c=cast)
    attempts = 0
    with reporter.task(f"backfill {b.qualified_table}.{b.column}",
                       total=step.estimated_rows or None) as task:
        task.update(completed=done_rows)
        while True:
            if options.deadline and time.time() > options.deadline:
                raise BackfillPaused(f"backfill of {b.qualified_table} paused at {b.key} > "
                                     f"{last} ({done_rows} rows done): the maintenance window "
                                     "is ending")
            params = {"last": last, "n": options.batch_size, "ceiling": ceiling}
            box: dict = {}
            attempts += retry(functools.partial(_batch, conn, plan_id, step, options, scan,
                                                batch, params, done_rows, box))
            upper, updated = box["result"]
            if upper is None:
                break
            last = upper
            done_rows += updated
            task.update(completed=done_rows)
            if options.batch_delay:
                time.sleep(options.batch_delay)
    # Rows written meanwhile by old code got the column DEFAULT; any NULL left is a bug.
    left = conn.execute(sql.SQL("SELECT count(*) FROM {} AS t WHERE t.{} IS NULL").format(
        table, sql.Identifier(b.column)) + sql.SQL(b.and_where)).fetchone()[0]
    if left:
        conn.execute(backfill_rest_sql(b))
        done_rows += left
    return done_rows, attempts


def _batch(conn, plan_id: str, step: Step, options: ApplyOptions, scan, batch: str,
           params: dict, done_rows: int, box: dict) -> None:
    """One batch in its own short transaction, committed together with its progress."""
    with conn.transaction():
        set_lock_timeout(conn, options)
        upper = conn.execute(scan, params).fetchone()[0]
        if upper is None:
            box["result"] = (None, 0)
            return
        updated = conn.execute(batch, {**params, "upper": upper}).rowcount
        ledger.record(conn, plan_id, step.id, "running", rows=done_rows + updated,
                      last_key=str(upper))
    box["result"] = (upper, updated)


def _before(value):
    if isinstance(value, int):
        return value - 1
    return value  # non-integer keys: the row at the minimum is caught by the final pass
