"""How long a long step will take, from the size of its table: asked before it starts when
the run has a deadline (the maintenance window's end), so no index build or validation
starts that cannot finish inside the window.

The rates are deliberately conservative (slower than measured on the 2-core benchmark
machine, so an estimate errs long): a CREATE INDEX CONCURRENTLY reads the table twice and
sorts, a VALIDATE reads it once, a backfill writes rows in batches (measured: ~60,000 rows/s
at 5,000 per batch, bench/). Waits for other transactions are not in the estimate: a build
that is still waiting at the window's end is cancelled there (its statement_timeout is the
time left) and the run pauses.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pgreconcile.plan.sqltext import qualified_name
from pgreconcile.plan.steps import Step, StepKind

MIB = 1024 * 1024
#: Heap bytes per second a CREATE INDEX CONCURRENTLY gets through (two scans and a sort).
INDEX_BUILD_BYTES_PER_SECOND = 16 * MIB
#: Heap bytes per second a VALIDATE CONSTRAINT reads (one scan, the check per row).
VALIDATE_BYTES_PER_SECOND = 32 * MIB
#: Rows per second a backfill writes (a sixth of what bench/ measured).
BACKFILL_ROWS_PER_SECOND = 10_000
#: Fixed cost of any long step: catalog work, locks, commit.
OVERHEAD_SECONDS = 1.0

_INDEX = re.compile(r"\s*(CREATE\s+(UNIQUE\s+)?INDEX|REINDEX)\b", re.IGNORECASE)
_VALIDATE = re.compile(r"\bVALIDATE\s+CONSTRAINT\b", re.IGNORECASE)


@dataclass(frozen=True)
class Estimate:
    seconds: float        # the whole step
    first_seconds: float  # until its first commit (a backfill's first batch; else seconds)
    basis: str            # what it was computed from, for the report

    def to_dict(self) -> dict:
        return {"seconds": round(self.seconds, 1), "first_seconds":
                round(self.first_seconds, 1), "basis": self.basis}


def is_long(step: Step) -> bool:
    """Steps that scan or write a whole table: index builds, validations, backfills."""
    if step.kind == StepKind.BACKFILL:
        return True
    if step.kind == StepKind.CONCURRENT:
        return any(_INDEX.match(s) for s in step.sql)
    return any(_VALIDATE.search(s) for s in step.sql)


def _table(step: Step) -> str | None:
    if step.backfill is not None:
        return step.backfill.table_sql
    if step.table:
        return qualified_name(step.table)
    return None


def _size(conn, table: str) -> tuple[int, float]:
    """(heap bytes, estimated rows) of the table and its partitions; (0, 0) if unknown."""
    row = conn.execute(
        "SELECT coalesce(sum(pg_relation_size(t.relid)), 0), coalesce(sum(greatest("
        "c.reltuples, 0)), 0) FROM (SELECT relid FROM pg_partition_tree(to_regclass(%s)) "
        "UNION SELECT to_regclass(%s)) t JOIN pg_class c ON c.oid = t.relid",
        (table, table)).fetchone()
    return int(row[0]), float(row[1])


def estimate(conn, step: Step, *, done_rows: int = 0, batch_size: int = 5_000) -> Estimate | None:
    """The estimate for a long step (None for other steps or an unknown table)."""
    if not is_long(step):
        return None
    table = _table(step)
    if table is None:
        return None
    size, reltuples = _size(conn, table)
    if step.kind == StepKind.BACKFILL:
        rows = max(reltuples, float(step.estimated_rows), 0.0)
        if reltuples <= 0 and size:  # never analyzed: ~100 bytes a row
            rows = max(rows, size / 100)
        left = max(rows - done_rows, 0.0)
        seconds = OVERHEAD_SECONDS + left / BACKFILL_ROWS_PER_SECOND
        first = OVERHEAD_SECONDS + min(left, batch_size) / BACKFILL_ROWS_PER_SECOND
        return Estimate(seconds, first, f"~{int(left)} rows left at "
                                        f"{BACKFILL_ROWS_PER_SECOND} rows/s")
    rate = (INDEX_BUILD_BYTES_PER_SECOND if step.kind == StepKind.CONCURRENT
            else VALIDATE_BYTES_PER_SECOND)
    seconds = OVERHEAD_SECONDS + size / rate
    return Estimate(seconds, seconds, f"{size / MIB:.1f} MiB of {table} at "
                                      f"{rate // MIB} MiB/s")
