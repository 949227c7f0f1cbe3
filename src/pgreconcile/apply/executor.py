"""Carry out a plan on a live database: one run at a time, every step in the ledger,
short locks with bounded retries, batched backfills that resume after a kill."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import psycopg
from psycopg import errors as pgerr
from psycopg import sql

from pgreconcile.apply import ledger
from pgreconcile.apply.backfill import run_backfill, set_lock_timeout
from pgreconcile.apply.ledger import LedgerEntry
from pgreconcile.apply.lock import reconcile_lock
from pgreconcile.apply.options import ApplyOptions
from pgreconcile.apply.probes import is_done
from pgreconcile.apply.refusals import refuse_destructive, refuse_existing_data
from pgreconcile.errors import LockNotAcquired, PlanOutdated, Refused, StepFailed
from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.plan.steps import Plan, Step, StepKind
from pgreconcile.progress import NULL, Reporter


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


class Executor:
    def __init__(self, spec: ConnectionSpec, plan: Plan, options: ApplyOptions,
                 reporter: Reporter = NULL):
        self.spec, self.plan, self.opt, self.reporter = spec, plan, options, reporter
        self.touched = False  # True once any step started changing the database

    def run(self) -> ApplyResult:
        refuse_destructive(self.plan, self.opt.allow_destructive)
        started = time.monotonic()
        result = ApplyResult(self.plan.id, self.spec.dbname, changed=False)
        with self.spec.connect(autocommit=True) as conn:
            conn.execute("SET application_name = 'pgreconcile apply'")
            with reconcile_lock(conn, self.spec.dbname, "apply", self.opt.run_id):
                refuse_existing_data(conn, self.plan)
                entries = ledger.read(conn, self.plan)
                if (not entries and self.opt.current_fingerprint is not None
                        and self.opt.current_fingerprint != self.plan.live_fingerprint):
                    raise PlanOutdated(f"{self.spec.dbname!r} changed since plan "
                                       f"{self.plan.id} was made (schema fingerprint differs); "
                                       "nothing was changed")
                for step in self.plan.steps:
                    outcome = self.run_step(conn, step, entries.get(step.id))
                    result.steps.append(outcome)
                    if outcome.outcome == "done":
                        result.changed = True
        result.seconds = round(time.monotonic() - started, 3)
        return result

    def _record(self, conn, step: Step, status: str, **fields) -> None:
        ledger.record(conn, self.plan.id, step.id, status, **fields)

    def run_step(self, conn, step: Step, entry: LedgerEntry | None) -> StepOutcome:
        if entry is not None and entry.status == "reverted":
            entry = None  # undone by a rollback: start this step afresh
        if is_done(conn, step):
            if entry is None or entry.status != "done":
                # No entry: no run of this plan touched the step, so someone else made it.
                # It is recorded as found, and a rollback leaves it alone (ledger.started).
                found = entry is None
                self._record(conn, step, "done", rows=entry.rows if entry else 0,
                             detail={"note": "already done when checked", "found_done": found})
                return StepOutcome(step.id, step.title, "already-done",
                                   detail="found done: made outside this plan, never reverted"
                                   if found else "")
            return StepOutcome(step.id, step.title, "skipped-ledger", rows=entry.rows)
        self.reporter.info(f"step {step.id}: {step.title}")
        started = time.monotonic()
        self._drop_invalid_index(conn, step)
        self._record(conn, step, "running")
        self.touched = True
        try:
            if step.kind == StepKind.BACKFILL:
                rows, attempts = run_backfill(conn, self.plan.id, step, entry, self.opt,
                                              self.reporter,
                                              lambda action: self._with_retries(conn, step,
                                                                                action))
            else:
                rows, attempts = 0, self._with_retries(conn, step,
                                                       lambda: self._execute(conn, step))
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
        if not is_done(conn, step):
            self._record(conn, step, "failed", detail={"error": "probe false after running"})
            raise Refused(f"step {step.id} ran but its check still says it is not done",
                          hint="inspect the table; the ledger marks the step failed")
        seconds = round(time.monotonic() - started, 3)
        self._record(conn, step, "done", rows=rows, detail={"seconds": seconds})
        return StepOutcome(step.id, step.title, "done", rows=rows, seconds=seconds,
                           attempts=attempts)

    def _drop_invalid_index(self, conn, step: Step) -> None:
        """An interrupted CREATE INDEX CONCURRENTLY leaves an INVALID index: drop it before
        building again. Only the step's own index, in its own schema."""
        target = step.target
        if step.kind != StepKind.CONCURRENT or target is None or target.kind != "index":
            return
        invalid = conn.execute(
            "SELECT 1 FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN "
            "pg_namespace n ON n.oid = x.relnamespace WHERE n.nspname = %s AND x.relname = %s "
            "AND NOT i.indisvalid", (target.schema, target.name)).fetchone()
        if invalid:
            self.reporter.info(f"dropping INVALID index {target.schema}.{target.name} left by "
                               "an interrupted build")
            conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(
                sql.Identifier(target.schema, target.name)))

    def _execute(self, conn, step: Step) -> None:
        if step.kind == StepKind.CONCURRENT:
            set_lock_timeout(conn, self.opt, local=False)  # no transaction to be local to
            for statement in step.sql:
                conn.execute(statement)
            return
        with conn.transaction():
            set_lock_timeout(conn, self.opt)
            conn.execute("SELECT set_config('statement_timeout', %s, true)",
                         (self.opt.statement_timeout,))
            for statement in step.sql:
                conn.execute(statement)

    def _with_retries(self, conn, step: Step, action) -> int:
        delay = self.opt.backoff
        for attempt in range(1, self.opt.retries + 1):
            try:
                action()
                return attempt
            except (pgerr.LockNotAvailable, pgerr.QueryCanceled, pgerr.DeadlockDetected) as exc:
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
