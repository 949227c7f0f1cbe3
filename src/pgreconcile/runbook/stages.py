"""The runbook's stages as engine calls, shared by every face (CLI, Ansible, PowerShell).

Each function takes plain request objects and returns plain data; the faces only
parse inputs and render results.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import psycopg

from pgreconcile.apply import revert
from pgreconcile.apply.executor import ApplyResult, Executor
from pgreconcile.apply.options import ApplyOptions
from pgreconcile.apply.probes import pending_steps
from pgreconcile.apply.refusals import (
    refuse_destructive,
    refuse_existing_data,
    refuse_unsupported,
)
from pgreconcile.apply.retry import attempts
from pgreconcile.django.project import DjangoProject, manage, migration_state
from pgreconcile.errors import (
    BackupUnverified,
    LockNotAcquired,
    MigrationPreflightFailed,
    Paused,
    PlanOutdated,
    PlanTampered,
    ReconcileError,
    Refused,
    RollbackRefused,
    StepFailed,
    UsageError,
    VerificationFailed,
)
from pgreconcile.files import write_private_json, write_private_text
from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.plan.planner import make_plan
from pgreconcile.plan.steps import DriftNote, Plan
from pgreconcile.progress import NULL, Reporter
from pgreconcile.report.build import RunReport
from pgreconcile.runbook.promotion import Fingerprints, PromotionGate
from pgreconcile.runbook.reference import build_reference
from pgreconcile.runbook.target import Target
from pgreconcile.runbook.window import MaintenanceWindows
from pgreconcile.schema.catalog import inspect_schema
from pgreconcile.schema.diff import Diff, diff_schemas
from pgreconcile.schema.model import Schema


@dataclass(frozen=True)
class Diagnosis:
    live: Schema
    expected: Schema
    diff: Diff
    reference: str
    reference_state: str | None = None
    migrations: dict | None = None
    # the project's MigrationState it was made with (not serialised): a verify right after
    # a run that changed nothing reuses it instead of starting Django once more
    state: object = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict:
        d = {"database": self.live.database, "reference": self.reference, **self.diff.to_dict()}
        if self.reference_state:
            d["reference_state"] = self.reference_state
        if self.migrations is not None:
            d["migrations"] = self.migrations
        return d


def diagnose(target: Target, reference_state: str = "applied",
             reporter: Reporter = NULL, state=None) -> Diagnosis:
    """Live vs reference. For Django, `applied` builds the state live claims to be in.
    `state`: the project's migration state when the caller knows it is current."""
    if target.reference is None:
        raise UsageError("a reference is needed: --project-dir, --reference-dsn or "
                         "--reference-sql")
    live_schema = inspect_schema(target.live, schemas=target.schemas,
                                 exclude_schemas=target.exclude_schemas)
    targets = None
    if target.project is None:
        state = None
    elif state is None:
        state = migration_state(target.project, target.live)
    if state is not None:
        if reference_state == "applied":
            targets = state.applied_targets
    expected = build_reference(target.reference, target.live, scratch_server=target.scratch,
                               schemas=target.schemas, exclude_schemas=target.exclude_schemas,
                               targets=targets, pg_bin_dir=target.pg_bin_dir,
                               cache_key=state.migrations_digest if state else None,
                               reporter=reporter)
    diff = diff_schemas(live_schema, expected)
    migrations = None
    if state is not None:
        drifted = {c.table.split(".", 1)[-1] for c in diff.significant if c.table}
        migrations = {**state.to_dict(), "suspect_edited": state.suspect_edited(drifted)}
    return Diagnosis(live_schema, expected, diff, target.reference.describe(),
                     reference_state if state is not None else None, migrations, state)


def squawk_findings(script: str) -> list[dict]:
    """Findings of the squawk linter on the plan's SQL (pip squawk-cli), when installed."""
    import os
    import shutil
    import subprocess
    import sys
    import tempfile
    exe = shutil.which("squawk") or str(Path(sys.executable).with_name("squawk"))
    if not Path(exe).exists():
        return [{"rule": "squawk-missing", "message": "squawk not installed; SQL not linted"}]
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        fh.write(script)
    try:
        proc = subprocess.run([exe, "--reporter", "Json", fh.name], capture_output=True,
                              text=True, timeout=60)
        try:
            data = json.loads(proc.stdout or "[]")
        except ValueError:
            return [{"rule": "squawk-output", "message": proc.stdout[-300:]}]
        return [{"rule": d.get("rule_name") or d.get("code"), "message": d.get("message"),
                 "line": d.get("line")} for d in data if isinstance(d, dict)]
    finally:
        os.unlink(fh.name)


def plan_changes(target: Target, *, strategy: str = "keep", backfill: str = "stable",
                 lint: bool = True, drop_extra: bool = False,
                 reporter: Reporter = NULL) -> tuple[Plan, Diagnosis]:
    diagnosis = diagnose(target, "applied", reporter)
    plan = make_plan(diagnosis.live, diagnosis.expected, diagnosis.diff, strategy=strategy,
                     backfill=backfill, drop_extra=drop_extra,
                     field_defaults=_field_defaults(target, diagnosis),
                     ).with_scope(target.schemas, target.exclude_schemas)
    if lint:
        plan = plan.with_lint(squawk_findings(plan.sql_script()))
    return plan, diagnosis


def _field_defaults(target: Target, diagnosis: Diagnosis) -> dict:
    """Django's field defaults at the state the reference was built for (applied), only
    when the diff has a missing column they could fill."""
    if target.project is None or not any(c.kind == "column" and c.bucket == "missing"
                                         for c in diagnosis.diff.significant):
        return {}
    from pgreconcile.runbook.reference import build_field_defaults
    state = diagnosis.migrations or {}
    return build_field_defaults(target.reference, target.live,
                                targets=state.get("applied_targets"),
                                cache_key=state.get("migrations_digest") or None,
                                scratch_server=target.scratch)


def load_plan(path: str | Path) -> Plan:
    """The plan in `path`, checked whole (Plan.from_dict): one clear error, naming the file,
    for a file that is unreadable, not JSON, malformed (UsageError) or edited (PlanTampered)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError included
        raise UsageError(f"cannot read plan {path}: {exc}",
                         hint="pass the plan.json written by `pgreconcile plan --out`") from None
    except RecursionError:
        raise UsageError(f"cannot read plan {path}: nested too deeply to be a plan",
                         hint="pass the plan.json written by `pgreconcile plan --out`") from None
    try:
        return Plan.from_dict(data)
    except PlanTampered as exc:
        raise PlanTampered(f"cannot use plan {path}: {exc}", hint=exc.hint) from None
    except UsageError as exc:
        raise UsageError(f"cannot read plan {path}: {exc}", hint=exc.hint) from None


def apply_changes(live: ConnectionSpec, plan: Plan, options: ApplyOptions, *,
                  backup: str | None = None, no_backup: bool = False,
                  windows: MaintenanceWindows | None = None, pg_bin_dir: str | None = None,
                  reporter: Reporter = NULL) -> ApplyResult:
    """Refusals first (nothing changed), then the executor.

    Every refusal that needs no lock comes before the executor takes one and before it
    creates or writes the ledger: destructive steps without allow_destructive (the plan's
    flags are derived on load, Plan.from_dict), no backup, a closed window, a live schema
    that changed since planning (unless the ledger shows the plan started)."""
    refuse_destructive(plan, options.allow_destructive)
    if windows is not None and pending_steps(live, plan):
        windows.require_open()
        options = replace(options, deadline=windows.current_end_epoch())
    if not no_backup:
        if not backup:
            raise BackupUnverified("apply needs a verified backup: pass --backup PATH "
                                   "(from `pgreconcile backup`) or --no-backup explicitly",
                                   hint="run `pgreconcile backup` first")
        from pgreconcile.pg.backup import verify_backup
        verify_backup(backup, pg_bin_dir=pg_bin_dir)
    if options.current_fingerprint is None:
        options = replace(options, current_fingerprint=live_fingerprint(live, plan))
    refuse_outdated(live, plan, options.current_fingerprint)
    result = Executor(live, plan, options, reporter).run()
    result.backup = backup
    return result


def live_fingerprint(live: ConnectionSpec, plan: Plan) -> str:
    """Live's schema fingerprint over the plan's own scope: what plan.live_fingerprint is."""
    return inspect_schema(live, schemas=plan.schemas,
                          exclude_schemas=plan.exclude_schemas).fingerprint()


def refuse_outdated(live: ConnectionSpec, plan: Plan, current: str) -> None:
    """PlanOutdated when live's fingerprint is not the plan's and no run of the plan has
    started (the executor's own rule), read-only: the ledger is read where it exists,
    never created, so the refusal leaves no trace in live."""
    if current == plan.live_fingerprint:
        return
    with live.connect(autocommit=True) as conn:
        started = conn.execute(
            "SELECT to_regclass('pgreconcile.ledger') IS NOT NULL").fetchone()[0]
        if started:
            started = conn.execute("SELECT EXISTS (SELECT 1 FROM pgreconcile.ledger WHERE "
                                   "plan_id = %s)", (plan.id,)).fetchone()[0]
    if not started:
        raise PlanOutdated(f"{live.dbname!r} changed since plan {plan.id} was made (schema "
                           "fingerprint differs); nothing was changed")


def refuse_before_changes(live: ConnectionSpec, plan: Plan, options: ApplyOptions) -> None:
    """The refusals reconcile makes before its first side effect (scratch clone, lock,
    backup, ledger): drift the plan cannot fix, destructive steps without
    allow_destructive, and existing rows that would make a pending step fail (asked again
    by the executor under its lock, as writers may add some meanwhile)."""
    refuse_unsupported(plan)
    refuse_destructive(plan, options.allow_destructive)
    if any(step.precheck for step in plan.steps):
        with live.connect(autocommit=True) as conn:
            refuse_existing_data(conn, plan, options.show_samples)


def recheck_plan(live: ConnectionSpec, plan: Plan) -> str:
    """Right before the first change: live (on the plan's scope) is still what the plan was
    made from. Returns the fingerprint; refuses, nothing changed, when it is not."""
    current = live_fingerprint(live, plan)
    if current != plan.live_fingerprint:
        raise PlanOutdated(f"{live.dbname!r} changed between planning and the first change "
                           f"(schema fingerprint of the plan's scope differs); nothing was "
                           "changed", hint="someone changed the schema meanwhile: run again to "
                                          "plan from what live is now")
    return current


def new_run_id() -> str:
    """A run's id: when it started (UTC) and 6 random hex digits."""
    import secrets
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


def run_migrations(project: DjangoProject, live: ConnectionSpec, *, dry_run: bool = False,
                   windows: MaintenanceWindows | None = None,
                   options: ApplyOptions | None = None, reporter: Reporter = NULL) -> dict:
    """`migrate --plan` first, then `migrate` for the pending migrations, every statement
    under `options.lock_timeout` (PGOPTIONS of the Django child): a migration waiting for a
    lock gives up after lock_timeout instead of queueing writers behind it, and the whole
    `migrate` is retried with backoff (options.retries). Safe: on PostgreSQL Django runs each
    migration in one transaction, so a lock timeout rolls back the migration it stopped, and
    a retry starts from the first migration not applied; non-atomic migrations are never
    retried. After the last attempt: LockNotAcquired, nothing half applied."""
    options = options or ApplyOptions()
    plan = manage(project, live, "migrate", "--plan", "--no-input")
    pending = migration_state(project, live).pending
    if dry_run or not pending:
        return {"changed": False, "pending": pending, "applied": [],
                "plan": plan.stdout.strip()}
    if windows is not None:
        windows.require_open()
    run, attempts = _migrate_with_retries(project, live, pending, options, reporter)
    return {"changed": True, "pending": pending, "applied": pending, "plan": plan.stdout.strip(),
            "output": run.stdout.strip()[-2000:], "attempts": attempts,
            "lock_timeout": options.lock_timeout}


#: How a Django child reports that a statement gave up waiting for a lock (or deadlocked).
_LOCK_FAILURE = re.compile(r"lock timeout|LockNotAvailable|could not obtain lock|"
                           r"deadlock detected|DeadlockDetected", re.I)


def _migrate_with_retries(project: DjangoProject, live: ConnectionSpec, pending: list[str],
                          options: ApplyOptions, reporter: Reporter):
    from pgreconcile.django.project import pending_non_atomic
    for attempt in attempts(options, reporter, "migrate: lock busy"):
        run = manage(project, live, "migrate", "--no-input", lock_timeout=options.lock_timeout)
        if run.ok:
            return run, attempt.number
        if not _LOCK_FAILURE.search(run.stderr):
            raise MigrationPreflightFailed(f"migrate failed: {run.last_error_line}")
        left = migration_state(project, live).pending
        non_atomic = pending_non_atomic(project, live)
        if non_atomic:
            raise LockNotAcquired(
                f"migrate could not get a lock within lock_timeout={options.lock_timeout} "
                f"({run.last_error_line}); not retried because {non_atomic} are not atomic "
                f"and may be half applied; still pending: {left}")
        if attempt.last:
            raise LockNotAcquired(
                f"migrate could not get its locks within lock_timeout={options.lock_timeout} "
                f"after {attempt.number} attempts ({run.last_error_line}); still pending: "
                f"{left}. "
                "Each migration runs in one transaction, so none is half applied, and "
                "writers never queued longer than lock_timeout behind it")
    raise AssertionError("unreachable")  # pragma: no cover


def verify_target(target: Target, *, residual: list[DriftNote | dict] | None = None,
                  plan: Plan | None = None, baseline: dict | None = None,
                  expected_counts: dict | None = None, fingerprints_before: dict | None = None,
                  fingerprint_columns: dict | None = None, run_tests: bool = False,
                  test_settings: str | None = None, inject_failure: str | None = None,
                  reporter: Reporter = NULL, state=None):
    """Verify live against today's migrations. `plan`: the plan this run applied (its
    residual is accepted when `residual` is not given; its ledger audit and its own objects
    are checked); `baseline`: `verify_baseline(conn, plan)` taken before the first change
    (invalid objects before the run; counts and fingerprints as evidence). Without a plan,
    `expected_counts`/`fingerprints_before` decide (a standalone verify)."""
    from pgreconcile.runbook.verify import verify_live
    diagnosis = diagnose(target, "latest", reporter, state=state)
    if residual is None and plan is not None:
        residual = list(plan.residual)
    residual = [r.to_dict() if isinstance(r, DriftNote) else r for r in residual or []]
    v = verify_live(target.live, diagnosis.diff, residual, project=target.project,
                    plan=plan, baseline=baseline, expected=diagnosis.expected,
                    expected_counts=expected_counts, fingerprints_before=fingerprints_before,
                    fingerprint_columns=fingerprint_columns, run_tests=run_tests,
                    test_settings=test_settings, inject_failure=inject_failure)
    return v, diagnosis


@dataclass(frozen=True)
class ReconcileOptions:
    strategy: str = "keep"
    backfill: str = "stable"
    drop_extra: bool = False           # drop what only live has (destructive)
    apply: ApplyOptions = field(default_factory=ApplyOptions)
    backup_dir: str = "backups"
    backup_keep: int = 7
    backup_test_restore: bool = True
    no_backup: bool = False
    run_migrations: bool = True
    run_tests: bool = False
    test_settings: str | None = None
    rollback: str = "reverse"          # reverse | restore
    report_dir: str = "reports"
    dry_run: bool = False
    windows: MaintenanceWindows | None = None
    fail_verify: bool = False          # fault injection for rollback drills (tests, staging)
    run_id: str | None = None          # default: new_run_id()
    promotion: PromotionGate | None = None  # rehearsal record: check (production) or write


def reconcile(target: Target, opts: ReconcileOptions, reporter: Reporter = NULL) -> dict:
    """plan → refusals → preflight → backup → apply → migrate → verify; rollback on
    failure; report.

    Every refusal that can be known from the plan (unsupported drift, destructive steps
    without allow_destructive, existing rows a step would fail on) comes right after
    planning, before any scratch clone, lock, backup or ledger write (the reference itself
    is built in a scratch database that is dropped again).

    From the backup to the report the run holds the reconcile lock on a connection of its
    own (RunLock), so no other run interleaves with its migrate, verify or rollback. At the
    window's end a backfill pauses: the run ends `paused` (exit 5), nothing rolled back."""
    from contextlib import ExitStack

    from pgreconcile.apply.lock import RunLock
    from pgreconcile.django.preflight import run_preflight
    from pgreconcile.runbook.verify import verify_baseline
    live = target.live
    project = target.project
    report_dir = Path(opts.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    run_id = opts.run_id or new_run_id()
    report = RunReport("cli", database=live.dbname, server=live.describe(),
                       strategy=opts.strategy, dry_run=opts.dry_run)
    report["run_id"] = run_id

    def stage(name, fn):
        reporter.info(f"» {name}")
        return report.run_stage(name, fn)

    with ExitStack() as held:
        try:
            if opts.windows is not None:
                report["maintenance_window"] = opts.windows.describe()
                if not opts.dry_run:
                    stage("window", opts.windows.require_open)
            plan, diagnosis = stage("plan", lambda: plan_changes(
                target, strategy=opts.strategy, backfill=opts.backfill,
                drop_extra=opts.drop_extra, reporter=reporter))
            report["diff_before"] = diagnosis.to_dict()
            report["plan"] = plan.to_dict()
            write_private_json(report_dir / "plan.json", plan.to_dict())
            write_private_text(report_dir / "plan.sql", plan.sql_script())
            prints = None
            if opts.promotion is not None:
                prints = Fingerprints.of(plan.to_dict(), diagnosis.migrations,
                                         diagnosis.expected.fingerprint(),
                                         pending_steps(live, plan))
            if opts.dry_run:  # a dry run changes nothing: it plans what it would refuse
                if prints is not None and opts.promotion.require:
                    report["promotion"] = opts.promotion.preview(prints)
                refuse_unsupported(plan)
            else:
                if prints is not None and opts.promotion.require:
                    # Production: a rehearsal of this very change, before anything else.
                    report["promotion"] = stage("rehearsal",
                                                lambda: opts.promotion.check(prints))
                refuse_before_changes(live, plan, opts.apply)
            migrations_pending = (diagnosis.migrations or {}).get("pending") or []
            pending = pending_steps(live, plan)  # read-only: each step's "already done?"
            if project is not None and not migrations_pending:
                # Live has applied every migration (read in the plan stage): a clone would
                # run none, so no clone is made (docs/cli.md, "nothing to do").
                report["preflight_before"] = {
                    "ok": True, "pending": [], "applied_on_clone": [], "error": None,
                    "migrate_plan": None, "clone": {}, "summary": "no pending migrations",
                    "skipped": "no pending migrations: nothing to run on a clone"}
            elif project is not None:
                pre = stage("preflight", lambda: run_preflight(
                    project, live, scratch_server=target.scratch, pg_bin_dir=target.pg_bin_dir,
                    reporter=reporter))
                report["preflight_before"] = {**pre.to_dict(), "summary": pre.summary()}
            if project is not None and plan.steps and (pending or migrations_pending):
                # With every step already done on live and no migration pending there is
                # nothing to prove on a clone: neither apply nor migrate would run anything.
                after = stage("preflight-with-plan", lambda: prove_plan(target, plan,
                                                                        opts.apply, reporter))
                report["preflight_after"] = {**after.to_dict(), "summary": after.summary()}
                if not after.ok:
                    raise Refused("the plan does not make the pending migrations apply: "
                                  + after.summary(), hint="see the report; nothing was changed")
            if opts.dry_run:
                report["ok"] = True
                return report
            locked = False
            if not pending and not (opts.run_migrations and migrations_pending):
                report["backup"] = {"skipped": "nothing to change: no backup needed"}
            else:
                # One lock from here to the report: no other run between our stages.
                held.enter_context(RunLock(live, run_id))
                locked = True
                if not opts.no_backup:
                    # Taken right before the first change, after planning proved there is
                    # one to make.
                    from pgreconcile.pg.backup import create_backup
                    backup = stage("backup", lambda: create_backup(
                        live, opts.backup_dir, keep=opts.backup_keep,
                        pg_bin_dir=target.pg_bin_dir, test_restore=opts.backup_test_restore,
                        reporter=reporter))
                    report["backup"] = backup.to_dict()
                    report["backup"]["manifest_data"] = backup.manifest_data.to_dict()
            # Invalid objects before the run (only the run's own count later), and the data
            # as evidence: writers may change it, pgreconcile's own writes are audited.
            with live.connect() as conn:
                baseline = verify_baseline(conn, plan)
            report["data_before"] = baseline
            # The plan was made before the backup: live must still be what it was made from.
            current = stage("recheck", lambda: recheck_plan(live, plan)) if pending \
                else plan.live_fingerprint
            # The run id lets the executor see this run's own RunLock; without one (nothing
            # to change) the executor takes the advisory lock for itself, and no lease: a
            # lease is for runs whose stages are separate processes, and nothing here would
            # release it (a later run would be refused for its 15 minutes).
            apply_opts = replace(opts.apply, current_fingerprint=current,
                                 run_id=run_id if locked else None)
            if opts.windows is not None:
                deadline = opts.windows.current_end_epoch()
                if deadline is None and pending:
                    # Planning, preflight and the backup ran past the window's end: applying
                    # now would run with no deadline, outside the window. Nothing is changed
                    # yet, so nothing is rolled back; the next run in a window starts over.
                    raise Paused(
                        "the maintenance window ended before apply could start (planning, "
                        "preflight and the backup took until after its end); nothing was "
                        f"changed ({opts.windows.describe()})",
                        hint="the next run in a window plans again and applies; a longer "
                             "window, or --no-test-restore, leaves more of it to apply",
                        detail={"stage": "apply", "reason": "window-ended-before-apply"})
                apply_opts = replace(apply_opts, deadline=deadline)
            executor = Executor(live, plan, apply_opts, reporter)
            try:
                applied = stage("apply", executor.run)
                report["apply"] = applied.to_dict()
                report["changed"] = applied.changed
                if project is not None and opts.run_migrations and not locked:
                    # Nothing pending (plan stage) and nothing applied: pgreconcile never
                    # writes django_migrations, so `migrate` would find nothing to run.
                    report["migrate"] = {"changed": False, "pending": [], "applied": [],
                                         "skipped": "no pending migrations: migrate not run"}
                elif project is not None and opts.run_migrations:
                    report["migrate"] = stage("migrate", lambda: run_migrations(
                        project, live, windows=opts.windows, options=opts.apply,
                        reporter=reporter))
                    report["changed"] = report["changed"] or report["migrate"]["changed"]

                def _verify():
                    v, diag_after = verify_target(
                        target, plan=plan, baseline=baseline,
                        run_tests=opts.run_tests, test_settings=opts.test_settings,
                        inject_failure="--fail-verify" if opts.fail_verify else None,
                        # nothing changed: the migration state read when planning holds
                        # (pgreconcile never writes django_migrations); migrate --check
                        # still runs below
                        state=diagnosis.state if not locked else None)
                    report["diff_after"] = diag_after.to_dict()
                    report["verify"] = v.to_dict()
                    if not v.ok:
                        raise VerificationFailed("verification failed: "
                                                 + "; ".join(v.problems))
                    return v
                stage("verify", _verify)
            except Paused as exc:
                # The window ends: what is done stays done, the ledger holds the progress,
                # and the next run resumes. Not a failure, so nothing is rolled back.
                partial = getattr(exc, "result", None)
                if partial is not None and "apply" not in report:
                    report["apply"] = partial.to_dict()
                report["changed"] = report["changed"] or executor.touched
                raise
            except (ReconcileError, psycopg.Error) as exc:
                if isinstance(exc, psycopg.Error):
                    # A database error outside a step (a bug, a lost connection) still
                    # rolls back what this run changed, and is reported as such.
                    first = (str(exc).strip().splitlines() or [""])[0]
                    exc = StepFailed(f"database error during the run: {type(exc).__name__}: "
                                     f"{first}")
                why = str(exc)
                migrated = any(s.get("stage") == "migrate" for s in report["stages"])
                if executor.touched or migrated:
                    report["rollback"] = stage("rollback", lambda: rollback_run(
                        live, plan, report, opts, target, why, reporter))
                else:
                    report["rollback"] = {"method": "none", "reverted": [], "why": why,
                                          "note": "refused before any change; nothing to "
                                                  "roll back"}
                raise exc
            if prints is not None and opts.promotion.records and prints.changes:
                report["promotion"] = _record_rehearsal(opts.promotion, prints, report,
                                                        live, reporter)
            report["ok"] = True
            return report
        except ReconcileError as exc:
            report["error"] = exc.to_dict()
            raise
        finally:
            report.finish()
            report["files"] = report.write(report_dir)


def _record_rehearsal(gate: PromotionGate, prints: Fingerprints, report: dict,
                      live: ConnectionSpec, reporter: Reporter) -> dict:
    """After a clean run: the promotion record production will look for. A record that
    cannot be written does not undo a clean run; the report says so, and production
    refuses later for want of it."""
    import socket

    from pgreconcile.runbook.promotion import write_record
    try:
        path = write_record(gate.directory, prints, verify=report.get("verify") or {},
                            source={"host": socket.gethostname(), "server": live.describe(),
                                    "database": live.dbname},
                            run_id=report.get("run_id"))
    except OSError as exc:
        reporter.info(f"! promotion record not written: {exc}")
        return {"recorded": None, "error": f"not written: {exc}", **prints.to_dict()}
    reporter.info(f"» promotion record {path}")
    return {"recorded": str(path), **prints.to_dict()}


def prove_plan(target: Target, plan: Plan, options: ApplyOptions | None = None,
               reporter: Reporter = NULL):
    """Run the pending migrations on a structure-only clone with the plan applied first:
    proof, before live is touched, that the plan makes `migrate` succeed."""
    from pgreconcile.django.preflight import run_preflight
    options = replace(options or ApplyOptions(), allow_destructive=True,
                      current_fingerprint=None, deadline=None)

    def prepare(clone):
        Executor(clone, plan, options).run()
    return run_preflight(target.project, target.live, scratch_server=target.scratch,
                         pg_bin_dir=target.pg_bin_dir, prepare=prepare, reporter=reporter)


def rollback_run(live: ConnectionSpec, plan: Plan, report: dict, opts: ReconcileOptions,
                 target: Target, why: str, reporter: Reporter = NULL) -> dict:
    """Undo this run, all or nothing: unapply the migrations it applied and undo the plan's
    started steps in reverse order, in ONE transaction under lock_timeout (the Django child's
    when there are migrations to unapply, else ours). Checked whole first: a step without a
    reverse, or a drop that would lose data written since the change (opts.apply
    .allow_destructive overrides), is refused before the first statement (RollbackRefused,
    exit 4). With opts.rollback == "restore": restore the backup into a new database."""
    if opts.rollback != "reverse":
        return _restore_rollback(live, report, target, why, reporter)
    from pgreconcile.apply.lock import reconcile_lock
    options = opts.apply
    before = ((report.get("diff_before") or {}).get("migrations") or {}).get(
        "applied_targets") or []
    migrated = bool((report.get("migrate") or {}).get("changed")) or any(
        s.get("stage") == "migrate" for s in report.get("stages") or [])
    with live.connect(autocommit=True) as conn:
        conn.execute("SET application_name = 'pgreconcile rollback'")
        # The same lock as apply: never revert steps another run is applying right now.
        with reconcile_lock(conn, live.dbname, "roll back", report.get("run_id")):
            reversal = revert.prepare(conn, plan)
            revert.refuse_irreversible(reversal, why)
            drops = _migration_drops(target, live, before, why) if migrated else None
            tables, columns = revert.dropped_objects(reversal.steps)
            if drops:
                tables += [(None, t) for t in drops["tables"]]
                columns += [(None, t, c) for t, cs in drops["columns"].items() for c in cs]
            at_risk = (revert.tables_at_risk(conn, tables)
                       + revert.columns_at_risk(conn, plan, columns))
            revert.refuse_data_loss(at_risk, options.allow_destructive, why)
            unapplied: list[str] = []
            if drops:
                reporter.info(f"unapplying {', '.join(drops['migrations'])} and reverting "
                              f"{len(reversal.steps)} step(s) in one transaction")
                unapplied = _unapply_with_retries(target.project, live, before, reversal,
                                                  options, why, reporter)
                with conn.transaction():  # the child committed: the ledger follows
                    revert.mark_reverted(conn, reversal)
            elif reversal.steps:
                reporter.info(f"reverting {len(reversal.steps)} step(s) in one transaction")
                revert.run_in_one_transaction(conn, reversal.statements, options,
                                              lambda c: revert.mark_reverted(c, reversal),
                                              reporter, why)
    outcome = {"method": "reverse", "unapplied_migrations": unapplied,
               "reverted": reversal.step_ids, "why": why}
    if at_risk:
        outcome["dropped_data"] = at_risk  # allowed by allow_destructive
    if drops and drops.get("opaque"):
        outcome["opaque_operations"] = drops["opaque"]
    return outcome


def _migration_drops(target: Target, live: ConnectionSpec, before: list[str],
                     why: str) -> dict | None:
    """What unapplying this run's migrations drops (None: nothing to unapply), from Django's
    own project states: exact for renamed tables, custom db_table and many-to-many tables,
    and free of parsing `sqlmigrate` text or needing a schema snapshot from before the run."""
    from pgreconcile.django.project import backwards_drops
    if target.project is None:
        return None
    if not before:
        raise RollbackRefused(f"rolling back after: {why}; the migration state before the run "
                              "is unknown, so the migrations to unapply are too; nothing was "
                              "reverted")
    drops = backwards_drops(target.project, live, before)
    return drops if drops["migrations"] else None


def _unapply_with_retries(project: DjangoProject, live: ConnectionSpec, before: list[str],
                          reversal, options: ApplyOptions, why: str,
                          reporter: Reporter) -> list[str]:
    from pgreconcile.django.project import unapply_and_run
    for attempt in attempts(options, reporter, "rollback: lock busy"):
        out = unapply_and_run(project, live, before, reversal.statements, options.lock_timeout)
        if out["ok"]:
            return out["unapplied"]
        error = out["error"] or {}
        message = (error.get("message") or error.get("type") or "failed").splitlines()[0]
        if error.get("sqlstate") not in ("55P03", "40P01"):
            where = (f"statement {error['statement']!r}" if error.get("statement")
                     else f"migration {error.get('migration')}")
            raise RollbackRefused(f"rolling back after: {why}; the reverse cannot complete: "
                                  f"{where} failed: {message}; the transaction was rolled "
                                  "back, nothing was reverted")
        if attempt.last:
            raise LockNotAcquired(
                f"the rollback could not get its locks within lock_timeout="
                f"{options.lock_timeout} after {attempt.number} attempts ({message}); nothing "
                "was reverted and writers never queued longer than lock_timeout")
    raise AssertionError("unreachable")  # pragma: no cover


def _restore_rollback(live: ConnectionSpec, report: dict, target: Target, why: str,
                      reporter: Reporter) -> dict:
    backup = (report.get("backup") or {}).get("path")
    if not backup:
        return {"method": "none", "reverted": [], "why": why,
                "advice": "no backup was taken in this run; restore your latest backup"}
    from pgreconcile.pg.backup import restore_backup
    from pgreconcile.plan.sqltext import MAX_NAME, fit, ident
    # Cut in bytes, before the suffix: PostgreSQL would otherwise cut the suffix away and
    # a 63-byte live name would come back as the target's.
    suffix = f"_restored_{time.strftime('%Y%m%d%H%M%S')}"
    target_db = fit(live.dbname, MAX_NAME - len(suffix)) + suffix
    restored = restore_backup(backup, live, target_db, pg_bin_dir=target.pg_bin_dir,
                              reporter=reporter)
    failed = ident(fit(live.dbname, MAX_NAME - len("_failed")) + "_failed")
    return {"method": "restore", "why": why, "restored_into": target_db,
            "verified": restored.verified,
            "advice": f"the live database was left as it is; {target_db!r} holds the backup. "
                      f"To switch: stop the application, ALTER DATABASE {ident(live.dbname)} "
                      f"RENAME TO {failed}; ALTER DATABASE {ident(target_db)} RENAME TO "
                      f"{ident(live.dbname)}; start the application"}

