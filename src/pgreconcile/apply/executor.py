"""Carry out a plan on a live database: one run at a time, every step in the ledger,
short locks with bounded retries, batched backfills that resume after a kill."""
from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict, dataclass, field

import psycopg
from psycopg import errors as pgerr

from pgreconcile.errors import (
    DestructiveStepRefused,
    LockNotAcquired,
    PlanOutdated,
    Refused,
    StepFailed,
)
from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.plan.planner import Plan, Step, backfill_batch_sql, q, qt
from pgreconcile.progress import NULL, Reporter

LEDGER_DDL = """
CREATE SCHEMA IF NOT EXISTS pgreconcile;
CREATE TABLE IF NOT EXISTS pgreconcile.ledger (
    plan_id     text NOT NULL,
    step_id     text NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'done', 'failed', 'reverted')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    rows        bigint NOT NULL DEFAULT 0,
    last_key    text,
    attempts    int NOT NULL DEFAULT 0,
    detail      jsonb,
    PRIMARY KEY (plan_id, step_id)
);
"""
ADVISORY_KEY = 0x70677263  # "pgrc": one reconcile per database at a time
KNOWN_STATUSES = {"running", "done", "failed", "reverted"}


@dataclass
class StepOutcome:
    id: str
    title: str
    outcome: str          # done | already-done | skipped-ledger | failed
    rows: int = 0
    seconds: float = 0.0
    attempts: int = 0
    detail: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ApplyResult:
    plan_id: str
    database: str
    changed: bool
    steps: list[StepOutcome] = field(default_factory=list)
    seconds: float = 0.0
    backup: str | None = None

    def to_dict(self) -> dict:
        return {"plan_id": self.plan_id, "database": self.database, "changed": self.changed,
                "seconds": self.seconds, "backup": self.backup,
                "steps": [s.to_dict() for s in self.steps]}


@dataclass(frozen=True)
class ApplyOptions:
    allow_destructive: bool = False
    lock_timeout: str = "2s"
    statement_timeout: str = "0"
    retries: int = 5
    backoff: float = 0.5
    batch_size: int = 5_000          # tuned by bench/bench_apply.py
    batch_delay: float = 0.0
    deadline: float | None = None       # time.time() after which backfills pause
    current_fingerprint: str | None = None


class BackfillPaused(Refused):
    hint = "the maintenance window ends; the next run resumes from the ledger"


def _lock_holder(conn) -> str:
    row = conn.execute(
        "SELECT a.pid, a.usename, a.application_name, a.client_addr, a.backend_start "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
        "AND l.objid = %s AND l.granted AND a.datname = current_database() LIMIT 1",
        (ADVISORY_KEY,)).fetchone()
    if not row:
        return "an unknown session"
    return f"pid {row[0]} (user {row[1]}, application {row[2] or '-'}, since {row[4]:%H:%M:%S})"


class Executor:
    def __init__(self, spec: ConnectionSpec, plan: Plan, options: ApplyOptions,
                 reporter: Reporter = NULL):
        self.spec, self.plan, self.opt, self.reporter = spec, plan, options, reporter
        self.touched = False  # True once any step started changing the database

    # -- guards -------------------------------------------------------------------
    def check_refusals(self) -> None:
        destructive = self.plan.destructive_steps
        if destructive and not self.opt.allow_destructive:
            raise DestructiveStepRefused(
                f"the plan has {len(destructive)} destructive step(s) "
                f"({', '.join(s.id for s in destructive)}); nothing was changed")

    def _ledger(self, conn) -> dict[str, dict]:
        conn.execute(LEDGER_DDL)
        rows = conn.execute("SELECT step_id, status, rows, last_key, attempts FROM "
                            "pgreconcile.ledger WHERE plan_id = %s", (self.plan.id,)).fetchall()
        ledger = {r[0]: {"status": r[1], "rows": r[2], "last_key": r[3], "attempts": r[4]}
                  for r in rows}
        ids = {s.id for s in self.plan.steps}
        unknown = [k for k, v in ledger.items() if k not in ids or v["status"] not in
                   KNOWN_STATUSES]
        if unknown:
            raise Refused(f"the ledger holds entries for plan {self.plan.id} that this plan "
                          f"does not know: {unknown}; nothing was changed",
                          hint="inspect pgreconcile.ledger; re-plan or clear the entries")
        return ledger

    # -- run ------------------------------------------------------------------------
    def run(self) -> ApplyResult:
        self.check_refusals()
        started = time.monotonic()
        result = ApplyResult(self.plan.id, self.spec.dbname, changed=False)
        with self.spec.connect(autocommit=True) as conn:
            conn.execute("SET application_name = 'pgreconcile apply'")
            if not conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_KEY,)).fetchone()[0]:
                raise LockNotAcquired(f"another pgreconcile run holds the reconcile lock on "
                                      f"{self.spec.dbname!r}: {_lock_holder(conn)}")
            try:
                self.check_data(conn)
                ledger = self._ledger(conn)
                if (not ledger and self.opt.current_fingerprint is not None
                        and self.opt.current_fingerprint != self.plan.live_fingerprint):
                    raise PlanOutdated(f"{self.spec.dbname!r} changed since plan "
                                       f"{self.plan.id} was made (schema fingerprint differs); "
                                       "nothing was changed")
                for step in self.plan.steps:
                    outcome = self.run_step(conn, step, ledger.get(step.id))
                    result.steps.append(outcome)
                    if outcome.outcome == "done":
                        result.changed = True
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_KEY,))
        result.seconds = round(time.monotonic() - started, 3)
        return result

    def check_data(self, conn) -> None:
        """Refuse before any change when existing rows would make a step fail
        (FK orphans, duplicates under a new unique key, NULLs, CHECK violations)."""
        problems = []
        for step in self.plan.steps:
            if not step.precheck or self._probe(conn, step):
                continue
            try:
                count, sample = conn.execute(step.precheck).fetchone()
            except psycopg.Error:
                continue  # the table or column does not exist yet: an earlier step adds it
            if count:
                problems.append(f"{step.id}: {count} row(s) would violate it "
                                f"(e.g. {sample})")
        if problems:
            raise Refused("existing data would make the plan fail; nothing was changed: "
                          + "; ".join(problems),
                          hint="fix or delete those rows (or add the constraint in a data "
                               "migration), then apply again")

    def _probe(self, conn, step: Step) -> bool:
        if step.done_if and self._ask(conn, step.done_if):
            return True
        if not step.probe:
            return False
        return self._ask(conn, step.probe)

    @staticmethod
    def _ask(conn, probe: str) -> bool:
        try:
            row = conn.execute(probe).fetchone()
        except psycopg.Error:
            return False
        return bool(row and row[0])

    def _record(self, conn, step: Step, status: str, rows: int = 0, last_key=None,
                attempts: int = 0, detail: dict | None = None) -> None:
        conn.execute(
            "INSERT INTO pgreconcile.ledger (plan_id, step_id, status, rows, last_key, attempts, "
            "detail, finished_at) VALUES (%s, %s, %s, %s, %s, %s, %s, "
            "CASE WHEN %s IN ('done', 'failed') THEN now() END) "
            "ON CONFLICT (plan_id, step_id) DO UPDATE SET status = EXCLUDED.status, "
            "rows = GREATEST(ledger.rows, EXCLUDED.rows), "
            "last_key = COALESCE(EXCLUDED.last_key, ledger.last_key), "
            "attempts = ledger.attempts + EXCLUDED.attempts, detail = EXCLUDED.detail, "
            "finished_at = EXCLUDED.finished_at",
            (self.plan.id, step.id, status, rows, last_key, attempts,
             json.dumps(detail) if detail else None, status))

    def run_step(self, conn, step: Step, entry: dict | None) -> StepOutcome:
        if entry is not None and entry["status"] == "reverted":
            entry = None  # undone by a rollback: start this step afresh
        if self._probe(conn, step):
            if entry is None or entry["status"] != "done":
                self._record(conn, step, "done", rows=entry["rows"] if entry else 0,
                             detail={"note": "already done when checked"})
                return StepOutcome(step.id, step.title, "already-done")
            return StepOutcome(step.id, step.title, "skipped-ledger", rows=entry["rows"])
        self.reporter.info(f"step {step.id}: {step.title}")
        started = time.monotonic()
        if step.kind == "concurrent":
            self._drop_invalid_index(conn, step)
        self._record(conn, step, "running")
        self.touched = True
        try:
            if step.kind == "backfill":
                rows, attempts = self._backfill(conn, step, entry)
            else:
                rows, attempts = 0, self._with_retries(conn, step, lambda: self._execute(conn,
                                                                                          step))
        except BaseException as exc:
            try:
                self._record(conn, step, "failed", detail={"error": str(exc)[:500]})
            except psycopg.Error:
                pass
            if isinstance(exc, psycopg.Error):
                raise StepFailed(f"step {step.id} ({step.title}) failed: "
                                 f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
                                 ) from None
            raise
        if not self._probe(conn, step):
            self._record(conn, step, "failed", detail={"error": "probe false after running"})
            raise Refused(f"step {step.id} ran but its check still says it is not done",
                          hint="inspect the table; the ledger marks the step failed")
        seconds = round(time.monotonic() - started, 3)
        self._record(conn, step, "done", rows=rows, detail={"seconds": seconds})
        return StepOutcome(step.id, step.title, "done", rows=rows, seconds=seconds,
                           attempts=attempts)

    def _drop_invalid_index(self, conn, step: Step) -> None:
        """An interrupted CREATE INDEX CONCURRENTLY leaves an INVALID index: drop it first."""
        import re
        m = re.search(r'INDEX CONCURRENTLY IF NOT EXISTS ("(?:[^"]|"")+"|\S+) ON ("[^"]+"\.)?',
                      step.sql[0] if step.sql else "")
        if not m:
            return
        name = m.group(1).strip('"').replace('""', '"')
        row = conn.execute("SELECT n.nspname FROM pg_index i JOIN pg_class x ON x.oid = "
                           "i.indexrelid JOIN pg_namespace n ON n.oid = x.relnamespace "
                           "WHERE x.relname = %s AND NOT i.indisvalid", (name,)).fetchone()
        if row:
            self.reporter.info(f"dropping INVALID index {name} left by an interrupted build")
            conn.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{row[0]}"."{name}"')

    def _execute(self, conn, step: Step) -> None:
        if step.kind == "concurrent":
            conn.execute(f"SET lock_timeout = '{self.opt.lock_timeout}'")
            for statement in step.sql:
                conn.execute(statement)
            return
        with conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = '{self.opt.lock_timeout}'")
            conn.execute(f"SET LOCAL statement_timeout = '{self.opt.statement_timeout}'")
            for statement in step.sql:
                conn.execute(statement)

    def _with_retries(self, conn, step: Step, action) -> int:
        delay = self.opt.backoff
        for attempt in range(1, self.opt.retries + 1):
            try:
                action()
                return attempt
            except (pgerr.LockNotAvailable, pgerr.QueryCanceled, pgerr.DeadlockDetected) as exc:
                if step.kind == "concurrent":
                    self._drop_invalid_index(conn, step)
                if attempt == self.opt.retries:
                    raise LockNotAcquired(
                        f"step {step.id} could not get its {step.lock} lock on "
                        f"{step.table} within lock_timeout={self.opt.lock_timeout} after "
                        f"{attempt} attempts ({type(exc).__name__}); the step was not applied "
                        "and writers were never queued behind it") from None
                self.reporter.info(f"  lock busy, retry {attempt}/{self.opt.retries} in "
                                   f"{delay:.1f}s")
                time.sleep(delay)
                delay = min(delay * 2, 10)
        return self.opt.retries

    def _batch(self, conn, step: Step, scan: str, sql: str, params: dict, done_rows: int,
               box: dict) -> None:
        """One batch in its own short transaction, committed together with its progress."""
        with conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = '{self.opt.lock_timeout}'")
            upper = conn.execute(scan, params).fetchone()[0]
            if upper is None:
                box["result"] = (None, 0)
                return
            updated = conn.execute(sql, {**params, "upper": upper}).rowcount
            self._record(conn, step, "running", rows=done_rows + updated, last_key=str(upper))
        box["result"] = (upper, updated)

    def _backfill(self, conn, step: Step, entry: dict | None) -> tuple[int, int]:
        b = step.backfill
        # Resume from the last committed batch: the ledger and the batch commit together.
        last = entry["last_key"] if entry and entry.get("last_key") is not None else None
        done_rows = entry["rows"] if entry and last is not None else 0
        key_type = conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
            "%s::regclass AND attname = %s", (qt(b["table"]), b["key"])).fetchone()[0]
        if last is None:
            last = conn.execute(f"SELECT min({q(b['key'])}) FROM {qt(b['table'])}").fetchone()[0]
            if last is None:
                return 0, 0
            last = _before(last)
        # Stop at the highest key that exists now: rows inserted later already get the
        # column DEFAULT, so chasing them would only spin (measured in bench/).
        ceiling = conn.execute(f"SELECT max({q(b['key'])}) FROM {qt(b['table'])}").fetchone()[0]
        sql = backfill_batch_sql(b, f"%(last)s::{key_type}", f"%(upper)s::{key_type}")
        scan = (f"SELECT max({q(b['key'])}) FROM (SELECT {q(b['key'])} FROM {qt(b['table'])} "
                f"WHERE {q(b['key'])} > %(last)s::{key_type} AND {q(b['key'])} <= "
                f"%(ceiling)s::{key_type} ORDER BY {q(b['key'])} LIMIT %(n)s) s")
        total = step.estimated_rows or None
        attempts = 0
        with self.reporter.task(f"backfill {b['table']}.{b['column']}", total=total) as task:
            task.update(completed=done_rows)
            while True:
                if self.opt.deadline and time.time() > self.opt.deadline:
                    raise BackfillPaused(f"backfill of {b['table']} paused at {b['key']} > "
                                         f"{last} ({done_rows} rows done): the maintenance "
                                         "window is ending")
                params = {"last": last, "n": self.opt.batch_size, "ceiling": ceiling}
                box: dict = {}
                attempts += self._with_retries(conn, step, functools.partial(
                    self._batch, conn, step, scan, sql, params, done_rows, box))
                upper, updated = box["result"]
                if upper is None:
                    break
                last = upper
                done_rows += updated
                task.update(completed=done_rows)
                if self.opt.batch_delay:
                    time.sleep(self.opt.batch_delay)
        # Rows written meanwhile by old code got the column DEFAULT; any NULL left is a bug.
        where = f" AND {b['where']}" if b.get("where") else ""
        left = conn.execute(f"SELECT count(*) FROM {qt(b['table'])} AS t WHERE "
                            f"t.{q(b['column'])} IS NULL{where}").fetchone()[0]
        if left:
            expr = b["expression"].replace("__KEY__", "t." + q(b["key"]))
            conn.execute(f"UPDATE {qt(b['table'])} AS t SET {q(b['column'])} = {expr} "
                         f"WHERE t.{q(b['column'])} IS NULL{where}")
            done_rows += left
        return done_rows, attempts


def _before(value):
    if isinstance(value, int):
        return value - 1
    return value  # non-integer keys: the first batch uses >= semantics via the NULL filter


def pending_steps(spec: ConnectionSpec, plan: Plan) -> list[str]:
    """Ids of the steps whose "already done?" probe says no; read-only."""
    executor = Executor(spec, plan, ApplyOptions())
    with spec.connect() as conn:
        return [step.id for step in plan.steps if not executor._probe(conn, step)]


def apply_plan(spec: ConnectionSpec, plan: Plan, options: ApplyOptions,
               reporter: Reporter = NULL) -> ApplyResult:
    return Executor(spec, plan, options, reporter).run()


def revert_plan(spec: ConnectionSpec, plan: Plan, reporter: Reporter = NULL) -> list[str]:
    """Undo the finished steps of `plan` with their reverse SQL, newest first."""
    with spec.connect(autocommit=True) as conn:
        if not conn.execute("SELECT to_regclass('pgreconcile.ledger')").fetchone()[0]:
            return []  # nothing was ever applied here
        # The same lock as apply: never revert steps another run is applying right now.
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_KEY,)).fetchone()[0]:
            raise LockNotAcquired(f"cannot roll back: another pgreconcile run holds the "
                                  f"reconcile lock on {spec.dbname!r}: {_lock_holder(conn)}")
        try:
            return _revert_locked(conn, plan, reporter)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_KEY,))


def _revert_locked(conn, plan: Plan, reporter: Reporter) -> list[str]:
    reverted = []
    done = {r[0] for r in conn.execute(
        "SELECT step_id FROM pgreconcile.ledger WHERE plan_id = %s AND status IN "
        "('done', 'running', 'failed')", (plan.id,)).fetchall()}
    for step in reversed(plan.steps):
        if step.id not in done or not step.reverse:
            continue
        reporter.info(f"reverting {step.id}: {step.title}")
        for statement in step.reverse:
            conn.execute(statement)
        conn.execute("UPDATE pgreconcile.ledger SET status = 'reverted', finished_at = now()"
                     " WHERE plan_id = %s AND step_id = %s", (plan.id, step.id))
        reverted.append(step.id)
    return reverted
