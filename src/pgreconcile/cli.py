"""The command-line face: parse, call the engine, render. No decisions here.

`pgreconcile <command> [--dsn DSN] [--json] ...`; exit codes from DESIGN.md:
0 ok, 1 error, 2 usage, 3 drift/pending changes, 4 refused.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable

from . import __version__
from .connection import ConnectionSpec, redact
from .errors import EXIT_ERROR, EXIT_OK, EXIT_USAGE, ReconcileError
from .progress import Reporter, default_reporter

Handler = Callable[[argparse.Namespace, Reporter], dict]
COMMANDS: dict[str, Handler] = {}


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors, as DESIGN.md wants; keep its message short."""

    def error(self, message: str):  # noqa: D401
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"pgreconcile: error: {message}\n"
                              f"hint: run `pgreconcile {self.prog.split()[-1]} --help`\n")


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connection and output")
    g.add_argument("--dsn", help="libpq URI or key=value string; default DATABASE_URL, then "
                                 "PG* variables and ~/.pgpass (keep passwords out of it)")
    g.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    g.add_argument("--pg-bin-dir", help="directory holding pg_dump/pg_restore to use first")


def _project(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Django project")
    g.add_argument("--project-dir", help="directory holding manage.py")
    g.add_argument("--settings", help="settings module, e.g. pettycash_system.settings")
    g.add_argument("--python", help="the project's interpreter (default: this one)")


def command(name: str, help: str):
    def register(fn: Handler) -> Handler:
        COMMANDS[name] = fn
        fn.cli_help = help  # type: ignore[attr-defined]
        fn.cli_name = name  # type: ignore[attr-defined]
        return fn
    return register


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pgreconcile",
                     description="Repair drift between Django migrations and a live "
                                 "PostgreSQL database, safely and repeatably.")
    parser.add_argument("--version", action="version", version=f"pgreconcile {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("backup", help="pg_dump, prove it, write a manifest")
    _common(p)
    p.add_argument("--out-dir", default="backups", help="where backups go (default ./backups)")
    p.add_argument("--format", choices=["custom", "directory"], default="custom")
    p.add_argument("--jobs", type=_positive_int, default=1,
                   help="parallel dump jobs (directory format only)")
    p.add_argument("--compress", help="pg_dump --compress value, e.g. 6 or zstd:3")
    p.add_argument("--test-restore", action="store_true",
                   help="restore into a scratch database and compare row counts and schema")
    p.add_argument("--keep", type=_positive_int,
                   help="keep the newest N verified backups of this database, delete older ones")
    p.add_argument("--dry-run", action="store_true",
                   help="say what would be dumped, with which pg_dump; write nothing")

    p = sub.add_parser("backup-verify", help="re-check a backup's checksums and readability")
    _common(p)
    p.add_argument("path", help="the dump file/directory or its manifest")
    p.add_argument("--test-restore", action="store_true",
                   help="also restore into a scratch database on --dsn's server and compare")

    p = sub.add_parser("restore", help="restore a verified backup into a new database")
    _common(p)
    p.add_argument("path", help="the dump file/directory or its manifest")
    p.add_argument("--target-db", required=True, help="database to restore into (created)")
    p.add_argument("--replace", action="store_true",
                   help="allow replacing an existing non-empty database (backed up first)")
    p.add_argument("--jobs", type=_positive_int, default=1)
    p.add_argument("--no-owner", action="store_true",
                   help="do not restore ownership and privileges")
    p.add_argument("--backup-dir", help="where the safety backup of a replaced database goes")
    p.add_argument("--dry-run", action="store_true", help="verify the backup and say what "
                                                          "would happen; change nothing")
    p = sub.add_parser("inspect", help="read the live schema (and migration state) from pg_catalog")
    _common(p)
    _schemas(p)
    _project(p)
    p.add_argument("--out", help="also write the schema model as JSON to this file")

    p = sub.add_parser("migrations", help="applied, pending and unknown Django migrations")
    _common(p)
    _project(p)

    p = sub.add_parser("diff", help="compare live with what the migrations (or a reference) "
                                    "expect; exit 3 on drift")
    _common(p)
    _schemas(p)
    _reference(p)
    p.add_argument("--out", help="also write the diff as JSON to this file")

    p = sub.add_parser("preflight", help="run pending migrations on a structure-only clone of "
                                         "live and report exactly how they fail")
    _common(p)
    _project(p)
    p.add_argument("--scratch-dsn", help="server for scratch databases (default: live's)")

    p = sub.add_parser("plan", help="turn the diff into ordered, lock-aware steps")
    _common(p)
    _schemas(p)
    _reference(p)
    _plan_options(p)
    p.add_argument("--out", help="write the plan as JSON (input of `apply`)")
    p.add_argument("--sql", help="write the plan as a reviewable SQL script")
    p.add_argument("--migration-draft", help="write a Django migration draft for review")

    p = sub.add_parser("apply", help="carry out a plan: idempotent, resumable, lock-aware")
    _common(p)
    p.add_argument("plan", help="plan.json written by `pgreconcile plan --out`")
    _apply_options(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--backup", help="a verified backup taken before (checked again)")
    g.add_argument("--no-backup", action="store_true",
                   help="apply without a backup (you take responsibility)")

    p = sub.add_parser("migrate", help="show `migrate --plan`, then run pending migrations")
    _common(p)
    _project(p)
    p.add_argument("--dry-run", action="store_true", help="only show the plan")

    p = sub.add_parser("verify", help="zero drift, migrate --check, data preserved; exit 3 if not")
    _common(p)
    _schemas(p)
    _reference(p)
    p.add_argument("--plan", help="plan.json whose kept differences are accepted")
    p.add_argument("--backup", help="backup manifest whose row counts must still hold")
    p.add_argument("--run-tests", action="store_true", help="also run manage.py test")
    p.add_argument("--test-settings", help="settings for the tests, e.g. staging_settings")

    p = sub.add_parser("reconcile", help="backup → inspect → preflight → plan → apply → "
                                         "migrate → verify, in one command")
    _common(p)
    _schemas(p)
    _reference(p)
    _plan_options(p)
    _apply_options(p)
    p.add_argument("--out-dir", default="backups", help="backup directory")
    p.add_argument("--keep", type=_positive_int, default=7, help="backups to keep")
    p.add_argument("--no-backup", action="store_true", help="skip the backup (not advised)")
    p.add_argument("--report-dir", default="reports", help="where the run's plan/report go")
    p.add_argument("--no-migrate", action="store_true", help="do not run pending migrations")
    p.add_argument("--run-tests", action="store_true", help="run manage.py test in verify")
    p.add_argument("--test-settings", help="settings for the tests, e.g. staging_settings")
    p.add_argument("--dry-run", action="store_true",
                   help="backup-free inspection, preflight and plan only; change nothing")
    return parser


def _plan_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("planning")
    g.add_argument("--pk-strategy", choices=["keep", "swap"], default="keep",
                   help="keep the old key (default, non-destructive) or swap the primary key "
                        "(destructive: needs --allow-destructive to apply)")
    g.add_argument("--backfill", choices=["stable", "random"], default="stable",
                   help="stable name-based uuid from (table, id) (default) or uuid4")


def _apply_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("applying")
    g.add_argument("--allow-destructive", action="store_true",
                   help="allow steps that drop or rewrite (take a verified backup first)")
    g.add_argument("--lock-timeout", default="2s", help="per-statement lock_timeout (2s)")
    g.add_argument("--statement-timeout", default="0", help="per-step statement_timeout")
    g.add_argument("--retries", type=_positive_int, default=5,
                   help="attempts when a lock is busy, with backoff")
    g.add_argument("--batch-size", type=_positive_int, default=10_000, help="rows per batch")
    g.add_argument("--batch-delay", type=float, default=0.0, help="seconds between batches")


def _schemas(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scope")
    g.add_argument("--schema", action="append", dest="schemas", metavar="SCHEMA",
                   help="only these schemas (repeatable)")
    g.add_argument("--exclude-schema", action="append", dest="exclude_schemas",
                   metavar="SCHEMA", help="leave these schemas out (repeatable)")


def _reference(p: argparse.ArgumentParser) -> None:
    _project(p)
    g = p.add_argument_group("reference (exactly one)")
    g.add_argument("--reference-dsn", help="another database holding the expected schema")
    g.add_argument("--reference-sql", help="a SQL file holding the expected schema")
    g.add_argument("--scratch-dsn", help="server for scratch databases (default: live's)")
    g.add_argument("--reference-state", choices=["applied", "latest"], default="applied",
                   help="Django reference: the migrations live has applied (default; pending "
                        "ones are reported, not counted as drift) or all of them")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def spec_from(args: argparse.Namespace) -> ConnectionSpec:
    return ConnectionSpec.resolve(getattr(args, "dsn", None))


# --------------------------------------------------------------------------- commands
@command("backup", "pg_dump, prove it, write a manifest")
def cmd_backup(args, reporter) -> dict:
    from .backup import create_backup, describe_backup
    spec = spec_from(args)
    if args.jobs > 1 and args.format != "directory":
        from .errors import UsageError
        raise UsageError("--jobs > 1 needs --format directory")
    if args.dry_run:
        return describe_backup(spec, Path(args.out_dir), fmt=args.format,
                               pg_bin_dir=args.pg_bin_dir).to_dict()
    return create_backup(spec, args.out_dir, fmt=args.format, jobs=args.jobs,
                         test_restore=args.test_restore, keep=args.keep,
                         pg_bin_dir=args.pg_bin_dir, compress=args.compress,
                         reporter=reporter).to_dict()


@command("backup-verify", "re-check a backup")
def cmd_backup_verify(args, reporter) -> dict:
    from .backup import trial_restore, verify_backup
    result = verify_backup(args.path, pg_bin_dir=args.pg_bin_dir, reporter=reporter).to_dict()
    if args.test_restore:
        result["test_restore"] = trial_restore(args.path, spec_from(args),
                                               pg_bin_dir=args.pg_bin_dir, reporter=reporter)
    return result


@command("restore", "restore a verified backup")
def cmd_restore(args, reporter) -> dict:
    from .backup import restore_backup, verify_backup
    if args.dry_run:
        from .backup import target_state
        from .errors import RestoreRefused
        result = verify_backup(args.path, pg_bin_dir=args.pg_bin_dir).to_dict()
        state = target_state(spec_from(args), args.target_db)
        if state == "nonempty" and not args.replace:
            raise RestoreRefused(f"database {args.target_db!r} exists and is not empty; "
                                 "a real run would refuse")
        return {**result, "target_db": args.target_db, "target_state": state,
                "changed": False, "would_change": True}
    return restore_backup(args.path, spec_from(args), args.target_db, replace=args.replace,
                          jobs=args.jobs, pg_bin_dir=args.pg_bin_dir,
                          safety_backup_dir=args.backup_dir, no_owner=args.no_owner,
                          reporter=reporter).to_dict()


@command("inspect", "read the live schema")
def cmd_inspect(args, reporter) -> dict:
    from .catalog import inspect_schema
    spec = spec_from(args)
    with spec.connect() as conn:
        schema = inspect_schema(conn, schemas=args.schemas, exclude_schemas=args.exclude_schemas)
    result = {"database": spec.dbname, "server_version": schema.server_version,
              "fingerprint": schema.fingerprint(), "summary": schema.summary(),
              "schema": schema.to_dict()}
    if args.project_dir:
        from .django_ref import DjangoProject, migration_state
        project = DjangoProject.from_args(args.project_dir, args.settings, args.python)
        result["migrations"] = migration_state(project, spec).to_dict()
    if args.out:
        _write_json(args.out, schema.to_dict())
    return result


@command("migrations", "migration state")
def cmd_migrations(args, reporter) -> dict:
    from .django_ref import DjangoProject, migration_state
    project = DjangoProject.from_args(args.project_dir, args.settings, args.python)
    state = migration_state(project, spec_from(args))
    return {**state.to_dict(), "project": project.to_dict(),
            "_exit_code": 3 if state.pending or state.unknown_applied else 0}


def run_diff(args, reporter) -> tuple[dict, object]:
    from .catalog import inspect_schema
    from .diff import diff_schemas
    from .reference import ReferenceSource, build_reference
    live = spec_from(args)
    source = ReferenceSource.from_args(
        project_dir=args.project_dir, settings=args.settings, python=args.python,
        reference_dsn=args.reference_dsn, reference_sql=args.reference_sql)
    with live.connect() as conn:
        live_schema = inspect_schema(conn, schemas=args.schemas,
                                     exclude_schemas=args.exclude_schemas)
    scratch = ConnectionSpec.resolve(args.scratch_dsn) if args.scratch_dsn else None
    state = None
    targets = None
    if source.kind == "django":
        from .django_ref import migration_state
        state = migration_state(source.project, live)
        if getattr(args, "reference_state", "applied") == "applied":
            targets = state.applied_targets
    expected = build_reference(source, live, scratch_server=scratch, schemas=args.schemas,
                               exclude_schemas=args.exclude_schemas, targets=targets,
                               pg_bin_dir=args.pg_bin_dir, reporter=reporter)
    diff = diff_schemas(live_schema, expected)
    _LAST_REFERENCE["schema"] = expected
    _LAST_REFERENCE["live"] = live_schema
    result = {"database": live.dbname, "reference": source.describe(), **diff.to_dict()}
    if state is not None:
        result["reference_state"] = "applied" if targets is not None else "latest"
        drifted = {c.table.split(".", 1)[-1] for c in diff.significant if c.table}
        result["migrations"] = {**state.to_dict(),
                                "suspect_edited": state.suspect_edited(drifted)}
    result["_exit_code"] = 0 if diff.is_empty else 3
    return result, diff


@command("diff", "compare live with the reference")
def cmd_diff(args, reporter) -> dict:
    result, _ = run_diff(args, reporter)
    if args.out:
        _write_json(args.out, {k: v for k, v in result.items() if not k.startswith("_")})
    return result


@command("preflight", "run pending migrations on a clone")
def cmd_preflight(args, reporter) -> dict:
    from .django_ref import DjangoProject
    from .preflight import run_preflight
    project = DjangoProject.from_args(args.project_dir, args.settings, args.python)
    scratch = ConnectionSpec.resolve(args.scratch_dsn) if args.scratch_dsn else None
    result = run_preflight(project, spec_from(args), scratch_server=scratch,
                           pg_bin_dir=args.pg_bin_dir, reporter=reporter)
    return {**result.to_dict(), "summary": result.summary(),
            "_exit_code": 0 if result.ok else 3}


def _make_plan(args, reporter):
    from .planner import make_plan
    result, diff = run_diff(args, reporter)
    live_schema, expected = _LAST_REFERENCE["live"], _LAST_REFERENCE["schema"]
    plan = make_plan(live_schema, expected, diff, strategy=args.pk_strategy,
                     backfill=args.backfill)
    plan = plan.with_lint(_squawk(plan.sql_script()))
    return plan, result


def _squawk(script: str) -> list[dict]:
    """Findings of the squawk linter on the plan's SQL, when squawk is installed."""
    import shutil
    import subprocess
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


_LAST_REFERENCE: dict = {}
MIGRATE_WRITES = {"django_migrations", "django_content_type", "auth_permission"}


@command("plan", "turn the diff into steps")
def cmd_plan(args, reporter) -> dict:
    plan, diff_result = _make_plan(args, reporter)
    if args.out:
        _write_json(args.out, plan.to_dict())
    if args.sql:
        Path(args.sql).write_text(plan.sql_script())
    if args.migration_draft and args.project_dir:
        from .planner import django_migration_draft
        Path(args.migration_draft).write_text(django_migration_draft(
            plan, "treasury", (diff_result.get("migrations") or {}).get("applied", ["x.x"])[-1]
            .split(".", 1)[1]))
    return {**plan.to_dict(), "drift": diff_result.get("counts"),
            "_exit_code": 3 if plan.steps else 0}


def _load_plan(path: str):
    from .planner import Plan
    try:
        return Plan.from_dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError, KeyError) as exc:
        from .errors import UsageError
        raise UsageError(f"cannot read plan {path}: {exc}") from None


def _apply_opts(args, fingerprint=None):
    from .executor import ApplyOptions
    return ApplyOptions(allow_destructive=args.allow_destructive, lock_timeout=args.lock_timeout,
                        statement_timeout=args.statement_timeout, retries=args.retries,
                        batch_size=args.batch_size, batch_delay=args.batch_delay,
                        current_fingerprint=fingerprint)


@command("apply", "carry out a plan")
def cmd_apply(args, reporter) -> dict:
    from .catalog import inspect_schema
    from .errors import BackupUnverified
    from .executor import Executor
    plan = _load_plan(args.plan)
    live = spec_from(args)
    executor_probe = Executor(live, plan, _apply_opts(args))
    executor_probe.check_refusals()
    if not args.no_backup:
        if not args.backup:
            raise BackupUnverified("apply needs a verified backup: pass --backup PATH "
                                   "(from `pgreconcile backup`) or --no-backup explicitly",
                                   hint="run `pgreconcile backup` first")
        from .backup import verify_backup
        verify_backup(args.backup, pg_bin_dir=args.pg_bin_dir)
    with live.connect() as conn:
        fingerprint = inspect_schema(conn).fingerprint()
    result = Executor(live, plan, _apply_opts(args, fingerprint), reporter).run()
    result.backup = args.backup
    return result.to_dict()


@command("migrate", "run pending migrations")
def cmd_migrate(args, reporter) -> dict:
    from .django_ref import DjangoProject, manage, migration_state
    project = DjangoProject.from_args(args.project_dir, args.settings, args.python)
    live = spec_from(args)
    plan = manage(project, live, "migrate", "--plan", "--no-input")
    pending = migration_state(project, live).pending
    if args.dry_run or not pending:
        return {"changed": False, "pending": pending, "plan": plan.stdout.strip()}
    run = manage(project, live, "migrate", "--no-input")
    if not run.ok:
        from .errors import MigrationPreflightFailed
        tail = [ln for ln in run.stderr.splitlines() if ln.strip()][-1:] or ["?"]
        raise MigrationPreflightFailed(f"migrate failed: {tail[0]}")
    return {"changed": True, "applied": pending, "plan": plan.stdout.strip(),
            "output": run.stdout.strip()[-2000:]}


@command("verify", "verify live")
def cmd_verify(args, reporter) -> dict:
    from .verify import verify_live
    args.reference_state = "latest"
    result, diff = run_diff(args, reporter)
    residual = list(_load_plan(args.plan).residual) if args.plan else []
    counts = None
    if args.backup:
        from .backup import load_manifest
        counts = load_manifest(args.backup).row_counts
    project = None
    if args.project_dir:
        from .django_ref import DjangoProject
        project = DjangoProject.from_args(args.project_dir, args.settings, args.python)
    v = verify_live(spec_from(args), diff, residual, project=project, expected_counts=counts,
                    run_tests=args.run_tests, test_settings=args.test_settings)
    return {**v.to_dict(), "diff": result, "_exit_code": 0 if v.ok else 3}


@command("reconcile", "the whole runbook")
def cmd_reconcile(args, reporter) -> dict:
    """backup → inspect → preflight → plan → apply → migrate → verify; report either way."""
    import time as _time
    from .django_ref import DjangoProject, migration_state
    from .executor import Executor, revert_plan
    from .preflight import run_preflight
    from .verify import data_fingerprints, verify_live
    live = spec_from(args)
    report_dir = Path(args.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    stages: list[dict] = []
    report: dict = {"database": live.dbname, "stages": stages, "ok": False,
                    "dry_run": args.dry_run}

    def stage(name, fn):
        started = _time.monotonic()
        entry = {"stage": name, "ok": False}
        stages.append(entry)
        reporter.info(f"[bold]{name}[/bold]")
        try:
            value = fn()
            entry["ok"] = True
            return value
        except ReconcileError as exc:
            entry["error"] = exc.to_dict()
            raise
        finally:
            entry["seconds"] = round(_time.monotonic() - started, 3)

    try:
        project = DjangoProject.from_args(args.project_dir, args.settings, args.python) \
            if args.project_dir else None
        if not args.dry_run and not args.no_backup:
            from .backup import create_backup
            backup = stage("backup", lambda: create_backup(
                live, args.out_dir, keep=args.keep, pg_bin_dir=args.pg_bin_dir,
                test_restore=True, reporter=reporter))
            report["backup"] = backup.to_dict()
        if project is not None:
            pre = stage("preflight", lambda: run_preflight(project, live,
                                                           pg_bin_dir=args.pg_bin_dir,
                                                           reporter=reporter))
            report["preflight_before"] = {**pre.to_dict(), "summary": pre.summary()}
        plan, diff_result = stage("plan", lambda: _make_plan(args, reporter))
        report["diff_before"] = diff_result
        report["plan"] = plan.to_dict()
        plan_path = report_dir / "plan.json"
        _write_json(str(plan_path), plan.to_dict())
        (report_dir / "plan.sql").write_text(plan.sql_script())
        if plan.unsupported:
            from .errors import Refused
            raise Refused(f"{len(plan.unsupported)} difference(s) cannot be fixed safely: "
                          + "; ".join(f"{u['object']}: {u['why']}" for u in plan.unsupported[:3]),
                          hint="write a migration for these, or reconcile them by hand")
        if args.dry_run:
            report["ok"] = True
            report["changed"] = False
            return report
        fingerprint_columns = {}
        for step in plan.steps:
            if step.table and step.table not in fingerprint_columns:
                t = _LAST_REFERENCE["live"].table(step.table)
                if t is not None and t.primary_key is not None:
                    pk = list(t.primary_key.columns)
                    fingerprint_columns[step.table] = pk + [c.name for c in t.columns
                                                            if c.name not in pk]
        with live.connect() as conn:
            before_fp = data_fingerprints(conn, fingerprint_columns)
            from . import census
            # `migrate` itself writes these; every other table must keep its rows.
            counts_before = {t: n for t, n in census.row_counts(conn).items()
                             if t.split(".", 1)[-1] not in MIGRATE_WRITES}
        executor = Executor(live, plan, _apply_opts(args, plan.live_fingerprint), reporter)
        try:
            applied = stage("apply", executor.run)
            report["apply"] = applied.to_dict()
            if project is not None and not args.no_migrate:
                report["migrate"] = stage("migrate", lambda: cmd_migrate(argparse.Namespace(
                    project_dir=args.project_dir, settings=args.settings, python=args.python,
                    dsn=args.dsn, dry_run=False), reporter))
            args.reference_state = "latest"
            after, diff_after = run_diff(args, reporter)
            report["diff_after"] = after
            verification = stage("verify", lambda: _verify_or_raise(
                verify_live(live, diff_after, list(plan.residual), project=project,
                            expected_counts=counts_before, fingerprints_before=before_fp,
                            fingerprint_columns=fingerprint_columns,
                            run_tests=args.run_tests, test_settings=args.test_settings)))
            report["verify"] = verification.to_dict()
        except ReconcileError as exc:
            if not (report.get("migrate") or {}).get("changed"):
                report["rollback"] = {"reverted": revert_plan(live, plan, reporter),
                                      "why": str(exc)}
            else:
                report["rollback"] = {"reverted": [], "why": str(exc), "advice":
                                      "migrations ran; restore the backup into a new database "
                                      "with `pgreconcile restore` and switch to it"}
            raise
        report["ok"] = True
        report["changed"] = bool(applied.changed or (report.get("migrate") or {}).get("changed"))
        return report
    finally:
        _write_json(str(report_dir / "report.json"), report)
        try:
            from .report import render_reports
            render_reports(report, report_dir)
        except ImportError:
            pass


def _verify_or_raise(v):
    if not v.ok:
        from .errors import VerificationFailed
        raise VerificationFailed("verification failed: " + "; ".join(v.problems))
    return v


def _write_json(path: str, data: dict) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


# --------------------------------------------------------------------------- rendering
def _render_diff(result: dict, console) -> None:
    from rich.table import Table
    changes = result.get("changes", [])
    if not changes:
        console.print(f"[green]no drift[/green]: {result['database']} matches "
                      f"{result['reference']}")
    by_table: dict = {}
    for change in changes:
        by_table.setdefault(change.get("table") or "(database)", []).append(change)
    for table_name, items in by_table.items():
        table = Table(title=table_name, title_justify="left", show_lines=False)
        for col in ("bucket", "kind", "object", "live", "expected", "risk"):
            table.add_column(col, overflow="fold")
        for c in items:
            style = "dim" if c.get("cosmetic") else {"missing": "red", "extra": "yellow",
                                                     "different": "magenta"}[c["bucket"]]
            table.add_row(c["bucket"] + (" (cosmetic)" if c.get("cosmetic") else ""), c["kind"],
                          c["object"], _short(c.get("live")), _short(c.get("expected")),
                          c.get("risk", ""), style=style)
        console.print(table)
    counts = result.get("counts", {})
    console.print("drift: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    suspects = (result.get("migrations") or {}).get("suspect_edited") or []
    for s in suspects:
        console.print(f"[yellow]applied migration {s['migration']} no longer matches live "
                      f"tables {', '.join(s['tables'])}: it was probably edited after it was "
                      "applied")
    pending = (result.get("migrations") or {}).get("pending") or []
    if pending:
        console.print(f"pending migrations: {', '.join(pending)}")


def _short(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict):
        for key in ("definition", "type", "labels", "name"):
            if key in value:
                text = value[key] if not isinstance(value[key], list) else ",".join(value[key])
                extra = ""
                if key == "type":
                    extra = (" NOT NULL" if value.get("not_null") else "") + (
                        f" DEFAULT {value['default']}" if value.get("default") else "")
                return f"{text}{extra}"
    return str(value)[:80]


def _render_human(name: str, result: dict, reporter) -> None:
    from rich.console import Console
    from rich.table import Table
    console = Console()
    if name == "diff":
        return _render_diff(result, console)
    if name == "inspect":
        result = {k: v for k, v in result.items() if k != "schema"}
    if name == "preflight":
        style = "green" if result["ok"] else "red"
        console.print(f"[{style}]preflight: {result['summary']}")
        if result.get("error", {}) and result["error"].get("sql"):
            console.print(f"failing SQL: {result['error']['sql']}", highlight=False)
        return
    table = Table(title=f"pgreconcile {name}", show_header=False, title_justify="left")
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in result.items():
        if isinstance(value, (dict, list)):
            if not value:
                continue
            value = json.dumps(value, indent=1, default=str)
            if len(value) > 600:
                value = value[:600] + " …"
        table.add_row(key, str(value))
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = COMMANDS[args.command]
    as_json = getattr(args, "json", False)
    reporter = default_reporter(quiet=as_json and not sys.stderr.isatty() or args.quiet)
    try:
        result = handler(args, reporter)
        code = int(result.pop("_exit_code", EXIT_OK)) if isinstance(result, dict) else EXIT_OK
    except ReconcileError as exc:
        return _render_error(exc.to_dict(), exc.exit_code, as_json)
    except KeyboardInterrupt:
        return _render_error({"error": "Interrupted", "message": "interrupted",
                              "hint": "re-run the same command; finished work is kept",
                              "exit_code": 130}, 130, as_json)
    except OSError as exc:
        return _render_error({"error": type(exc).__name__, "message": redact(str(exc)),
                              "hint": "check the path and permissions named above",
                              "exit_code": EXIT_ERROR}, EXIT_ERROR, as_json)
    if as_json:
        json.dump(result, sys.stdout, indent=2, default=str, sort_keys=True)
        sys.stdout.write("\n")
    else:
        _render_human(args.command, result, reporter)
    return code


def _render_error(payload: dict, code: int, as_json: bool) -> int:
    payload = {**payload, "message": redact(payload["message"]), "ok": False}
    if as_json:
        json.dump(payload, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    line = f"pgreconcile: {payload['error']}: {payload['message']}"
    sys.stderr.write(line + "\n")
    if payload.get("hint"):
        sys.stderr.write(f"hint: {payload['hint']}\n")
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
