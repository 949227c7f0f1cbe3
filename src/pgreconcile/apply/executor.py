"""Carry out a plan on a live database: one run at a time, every step in the ledger,
short locks with bounded retries, batched backfills that resume after a kill.

Every transaction the executor runs is audited before it commits (apply/audit.py): it may
write only what the step says. A long step (index build, validation, backfill) that its
estimate says cannot finish before the window's end is not started: the run pauses
(errors.Paused, exit 5) and the next run resumes from the ledger.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import psycopg
from psycopg import errors as pgerr
from psycopg import sql

from pgreconcile.apply import ledger
from pgreconcile.apply.audit import (
    Allowance,
    Fault,
    as_record,
    baseline,
    check,
    concurrent_mode,
    existing_tables,
    update_target,
)
from pgreconcile.apply.backfill import run_backfill, set_lock_timeout
from pgreconcile.apply.estimate import Estimate, estimate, is_long
from pgreconcile.apply.ledger import LedgerEntry
from pgreconcile.apply.lock import reconcile_lock
from pgreconcile.apply.options import ApplyOptions, duration_ms
from pgreconcile.apply.probes import is_done
from pgreconcile.apply.refusals import refuse_destructive, refuse_existing_data
from pgreconcile.apply.retry import attempts
from pgreconcile.errors import (
    LockNotAcquired,
    Paused,
    PlanOutdated,
    Refused,
    StepFailed,
    UnexpectedWrite,
)
from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.plan.sqltext import qualified_name
from pgreconcile.plan.steps import Plan, Step, StepKind
from pgreconcile.progress import NULL, Reporter

#: statement_timeout of the DROP INDEX CONCURRENTLY that cleans up after a build cancelled
#: at the window's end: short, the next run drops what is left before building again.
CLEANUP_TIMEOUT = "5s"


@dataclass
class StepOutcome:
    id: str
    title: str
    outcome: str          # done | already-done | skipped-ledger | failed
    rows: int = 0
    seconds: float = 0.0
    attempts: int = 0
    detail: str = ""
    estimate: dict | None = None   # long steps: estimate.Estimate.to_dict()

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
        self.fault = Fault.from_env()  # test-only (apply/audit.py); inert unless set

    def run(self) -> ApplyResult:
        refuse_destructive(self.plan, self.opt.allow_destructive)
        started = time.monotonic()
        result = ApplyResult(self.plan.id, self.spec.dbname, changed=False)
        with self.spec.connect(autocommit=True) as conn:
            conn.execute("SET application_name = 'pgreconcile apply'")
            with reconcile_lock(conn, self.spec.dbname, "apply", self.opt.run_id):
                refuse_existing_data(conn, self.plan, self.opt.show_samples)
                entries = ledger.read(conn, self.plan)
                if (not entries and self.opt.current_fingerprint is not None
                        and self.opt.current_fingerprint != self.plan.live_fingerprint):
                    raise PlanOutdated(f"{self.spec.dbname!r} changed since plan "
                                       f"{self.plan.id} was made (schema fingerprint differs); "
                                       "nothing was changed")
                try:
                    undone = False
                    for step in self.plan.steps:
                        entry = entries.get(step.id)
                        # After a step a rollback reverted, a later step's progress is
                        # stale (its work went with the earlier one, e.g. a backfill of a
                        # dropped column, whose own row a revert may not have reset).
                        undone = undone or (entry is not None and entry.status == "reverted")
                        outcome = self.run_step(conn, step, LedgerEntry("stale")
                                                if undone and entry is not None else entry)
                        result.steps.append(outcome)
                        if outcome.outcome == "done":
                            result.changed = True
                except Paused as exc:
                    # Not a failure: what ran so far stays, the next run resumes.
                    result.seconds = round(time.monotonic() - started, 3)
                    result.changed = result.changed or self.touched
                    exc.result = result
                    raise
        result.seconds = round(time.monotonic() - started, 3)
        return result

    def _record(self, conn, step: Step, status: str, **fields) -> None:
        ledger.record(conn, self.plan.id, step.id, status, **fields)

    def run_step(self, conn, step: Step, entry: LedgerEntry | None) -> StepOutcome:
        stale = entry is not None and entry.status == "stale"  # a run of the plan did it
        if entry is not None and entry.status in ("reverted", "stale"):
            entry = None  # undone by a rollback: start this step afresh
        if is_done(conn, step):
            if entry is None or entry.status != "done":
                # No entry: no run of this plan touched the step, so someone else made it.
                # It is recorded as found, and a rollback leaves it alone (ledger.started).
                found = entry is None and not stale
                self._record(conn, step, "done", rows=entry.rows if entry else 0,
                             detail={"note": "already done when checked", "found_done": found})
                return StepOutcome(step.id, step.title, "already-done",
                                   detail="found done: made outside this plan, never reverted"
                                   if found else "")
            return StepOutcome(step.id, step.title, "skipped-ledger", rows=entry.rows)
        mode = concurrent_mode(step.sql) if step.kind == StepKind.CONCURRENT else None
        est = self._estimate(conn, step, entry)  # pauses here, before touching anything
        self.reporter.info(f"step {step.id}: {step.title}"
                           + (f" (estimated {est.seconds:.0f}s)" if est else ""))
        started = time.monotonic()
        self._drop_invalid_index(conn, step)
        self._record(conn, step, "running",
                     detail={"estimate": est.to_dict()} if est else None)
        if entry is None:
            ledger.restart(conn, self.plan.id, step.id)  # afresh: no progress, no audit
        self.touched = True
        try:
            if step.kind == StepKind.BACKFILL:
                rows, attempts = run_backfill(conn, self.plan.id, step, entry, self.opt,
                                              self.reporter,
                                              lambda action: self._with_retries(conn, step,
                                                                                action),
                                              self.fault)
            elif mode == "autocommit":
                rows, attempts = 0, self._run_concurrent(conn, step)
            else:
                rows, attempts = 0, self._with_retries(conn, step,
                                                       lambda: self._execute(conn, step))
        except Paused as exc:
            # Stays `running` with its progress (rows, last_key): the next run resumes.
            exc.detail.setdefault("step", step.id)
            if est:
                exc.detail.setdefault("estimate", est.to_dict())
            try:
                self._record(conn, step, "running",
                             detail={"paused": {**exc.detail, "why": str(exc)[:500]}})
            except psycopg.Error:
                pass
            raise
        except BaseException as exc:
            detail: dict = {"error": str(exc)[:500]}
            if isinstance(exc, UnexpectedWrite):
                detail["rejected_writes"] = getattr(exc, "writes", {})
            try:
                self._record(conn, step, "failed", detail=detail)
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
        detail: dict = {"seconds": seconds}
        if mode == "autocommit":
            detail["unaudited"] = "outside a transaction: index statements only"
        self._record(conn, step, "done", rows=rows, detail=detail)
        return StepOutcome(step.id, step.title, "done", rows=rows, seconds=seconds,
                           attempts=attempts, estimate=est.to_dict() if est else None)

    def _estimate(self, conn, step: Step, entry: LedgerEntry | None) -> Estimate | None:
        """The long step's estimate; raises Paused (nothing touched) when the window's end
        comes first. A backfill is resumable, so it starts when its first batch fits; an
        index build or a validation must fit whole."""
        done_rows = entry.rows if entry and entry.last_key is not None else 0
        est = estimate(conn, step, done_rows=done_rows, batch_size=self.opt.batch_size)
        if est is None or not self.opt.deadline:
            return est
        left = self.opt.deadline - time.time()
        need = est.first_seconds if step.kind == StepKind.BACKFILL else est.seconds
        if need > left:
            raise Paused(f"step {step.id} ({step.title}) not started: it needs about "
                         f"{need:.0f}s ({est.basis}) and the window ends in "
                         f"{max(left, 0):.0f}s; the next run starts it",
                         detail={"step": step.id, "estimate": est.to_dict(),
                                 "seconds_left": round(max(left, 0.0), 1), "started": False})
        return est

    def _statement_timeout(self, step: Step) -> tuple[str, bool]:
        """(statement_timeout, set by the window's end?): a long step's statements end at
        the window's end at the latest."""
        if not self.opt.deadline or not is_long(step):
            return self.opt.statement_timeout, False
        left_ms = max(int((self.opt.deadline - time.time()) * 1000), 1)
        user_ms = duration_ms(self.opt.statement_timeout)
        if user_ms and user_ms <= left_ms:
            return self.opt.statement_timeout, False
        return f"{left_ms}ms", True

    def _window_ended(self, step: Step, what: str) -> Paused:
        return Paused(f"step {step.id} ({step.title}) was cancelled at the window's end "
                      f"{what}; nothing of it was kept and the next run starts it again",
                      detail={"step": step.id, "started": True})

    @staticmethod
    def _table_sql(step: Step) -> str | None:
        if step.backfill is not None:
            return step.backfill.table_sql
        return qualified_name(step.table) if step.table else None

    def _drop_invalid_index(self, conn, step: Step, *, cleanup: bool = False) -> bool:
        """An interrupted CREATE INDEX CONCURRENTLY leaves an INVALID index: drop it before
        building again. Only the step's own index, in its own schema. Runs without
        lock_timeout (SHARE UPDATE EXCLUSIVE queues no writer) and, `cleanup` after a
        cancel, with a short statement_timeout; returns False when it could not finish."""
        target = step.target
        if step.kind != StepKind.CONCURRENT or target is None or target.kind != "index":
            return True
        invalid = conn.execute(
            "SELECT 1 FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN "
            "pg_namespace n ON n.oid = x.relnamespace WHERE n.nspname = %s AND x.relname = %s "
            "AND NOT i.indisvalid", (target.schema, target.name)).fetchone()
        if not invalid:
            return True
        self.reporter.info(f"dropping INVALID index {target.schema}.{target.name} left by "
                           "an interrupted build")
        timeout, by_deadline = ((CLEANUP_TIMEOUT, False) if cleanup
                                else self._statement_timeout(step))
        try:
            self._concurrently(conn, [sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(
                sql.Identifier(target.schema, target.name))], timeout)
        except pgerr.QueryCanceled:
            if cleanup:
                return False
            if by_deadline:
                raise self._window_ended(step, "while dropping an INVALID index") from None
            raise
        return True

    def _concurrently(self, conn, statements, statement_timeout: str) -> None:
        """Statements outside a transaction: no lock_timeout (their SHARE UPDATE EXCLUSIVE
        does not conflict with writers' ROW EXCLUSIVE, so their waits queue no writer; a
        lock_timeout would only fail a finished build and loop), `statement_timeout`."""
        conn.execute("SELECT set_config('lock_timeout', '0', false)")
        conn.execute("SELECT set_config('statement_timeout', %s, false)",
                     (statement_timeout,))
        try:
            for statement in statements:
                conn.execute(statement)
        finally:
            if not conn.broken:
                conn.execute("RESET lock_timeout")
                conn.execute("RESET statement_timeout")

    def _run_concurrent(self, conn, step: Step) -> int:
        """Index statements (CREATE/DROP INDEX, REINDEX CONCURRENTLY), checked by
        audit.concurrent_mode. Built once: a cancel is never retried (a retry would build
        the whole index again); one at the window's end pauses the run."""
        for attempt in attempts(self.opt, self.reporter, "deadlock"):
            timeout, by_deadline = self._statement_timeout(step)
            try:
                self._concurrently(conn, step.sql, timeout)
                return attempt.number
            except pgerr.QueryCanceled:
                dropped = self._drop_invalid_index(conn, step, cleanup=True)
                left = "" if dropped else " (its INVALID index is dropped by the next run)"
                if by_deadline:
                    exc = self._window_ended(step, "during the build" + left)
                    exc.detail["invalid_index_left"] = not dropped
                    raise exc from None
                raise StepFailed(f"step {step.id} ({step.title}) reached statement_timeout="
                                 f"{timeout} and was cancelled{left}; not retried, a retry "
                                 "would build the whole index again") from None
            except pgerr.DeadlockDetected:
                self._drop_invalid_index(conn, step)
                if attempt.last:
                    raise LockNotAcquired(f"step {step.id} deadlocked {attempt.number} times; "
                                          "the step was not applied") from None
        return self.opt.retries

    def _execute(self, conn, step: Step) -> None:
        """A DDL step (or ALTER TYPE … ADD VALUE) in one audited transaction."""
        timeout, _ = self._statement_timeout(step)
        with conn.transaction():
            set_lock_timeout(conn, self.opt)
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (timeout,))
            existing, start = existing_tables(conn), baseline(conn)
            self.fault.fire(conn, step.id, self._table_sql(step))
            allowance = Allowance()
            for statement in step.sql:
                cur = conn.execute(statement)
                target = update_target(statement)
                if target is not None:  # e.g. the swap's catch-up of rows written meanwhile
                    allowance.allow_update(conn, target, max(cur.rowcount, 0))
            writes = check(conn, f"step {step.id}", allowance, start, existing)
            ledger.add_writes(conn, self.plan.id, step.id, as_record(writes),
                              allowance.allowed_updates)

    def _with_retries(self, conn, step: Step, action) -> int:
        for attempt in attempts(self.opt, self.reporter, "lock busy"):
            try:
                action()
                return attempt.number
            except (pgerr.LockNotAvailable, pgerr.QueryCanceled, pgerr.DeadlockDetected) as exc:
                if (isinstance(exc, pgerr.QueryCanceled) and self.opt.deadline
                        and is_long(step) and time.time() >= self.opt.deadline - 1):
                    raise self._window_ended(step, "") from None
                if attempt.last:
                    raise LockNotAcquired(
                        f"step {step.id} could not get its {step.lock} lock on "
                        f"{step.table} within lock_timeout={self.opt.lock_timeout} after "
                        f"{attempt.number} attempts ({type(exc).__name__}); the step was not "
                        "applied and writers were never queued behind it") from None
        return self.opt.retries
