"""The command-line face: parse, call the engine, hand the result to a renderer.

`pgreconcile <command> [--dsn DSN] [--json] ...`; docs/cli.md lists every command, what
it prints and its exit codes: 0 ok / nothing to do, 1 error, 2 usage, 3 drift or pending
work found, 4 refused. No decisions here: the engine decides, cli/render.py draws.

Start-up stays cheap: psycopg, the engine and rich are imported by the command that
needs them, so `--help`, `window` and `report` never load a database driver, and
`--json` never loads rich.
"""
from __future__ import annotations

import argparse
import os
import re
import sys

from pgreconcile import __version__
from pgreconcile.errors import EXIT_ERROR, EXIT_OK, ReconcileError, UsageError

TYPE_CHECKING = False  # typing itself is not imported: it costs start-up time
if TYPE_CHECKING:
    from collections.abc import Callable

    from pgreconcile.progress import Reporter

    Handler = Callable[[argparse.Namespace, Reporter], dict]
SCRATCH_HELP = ("server for scratch databases (default: live's); default "
                "$PGRECONCILE_SCRATCH_DSN, which keeps a password off the command line")
JSON_HELP = "print one JSON document on stdout (indented on a terminal, compact when piped)"
COMMANDS: dict[str, "Handler"] = {}
_ARGV: list[str] = []  # the arguments main() parses, for the hints of usage errors


class _Parser(argparse.ArgumentParser):
    """A usage error of argparse is a UsageError (exit 2, docs/cli.md), rendered by main()
    like every other error: with `--json`, one JSON error object on stdout too."""

    def error(self, message: str):  # noqa: D401
        self.print_usage(sys.stderr)
        words = self.prog.split()
        where = f"pgreconcile {words[-1]} --help" if len(words) > 1 else "pgreconcile --help"
        hint = f"run `{where}`"
        if "expected one argument" in message or (
                "arguments are required" in message
                and any(re.match(r"-[^-]", a) for a in _ARGV)):
            hint += ("; a value starting with '-' is written --option=VALUE, or after `--` "
                     "for a positional one (`pgreconcile window -- -1h`)")
        raise UsageError(_cut(message), hint=hint)


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connection and output")
    g.add_argument("--dsn", help="libpq URI or key=value string; default DATABASE_URL, then "
                                 "PG* variables and ~/.pgpass (keep passwords out of it)")
    g.add_argument("--json", action="store_true", help=JSON_HELP)
    g.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    g.add_argument("--pg-bin-dir", help="directory holding pg_dump/pg_restore to use first")


def _project(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Django project")
    g.add_argument("--project-dir", help="directory holding manage.py")
    g.add_argument("--settings", help="settings module, e.g. pettycash_system.settings")
    g.add_argument("--python", help="the project's interpreter (default: this one)")


def command(name: str):
    """Register `fn` as the handler of `pgreconcile NAME`. A handler returns the dict that
    `--json` prints; two private keys are taken out of it first: `_exit_code` (when not 0)
    and `_human` (facts only the human rendering shows, e.g. the files written)."""
    def register(fn: "Handler") -> "Handler":
        COMMANDS[name] = fn
        return fn
    return register


# --------------------------------------------------------------------------- parser
class _Unbuilt:
    """Stands in for the parser of a command this run does not parse: its options are
    not built (argparse only ever reads the chosen command's), which keeps `--help`,
    `window` and every `<command> --help` fast."""

    def add_argument(self, *args, **kwargs) -> None:
        return None

    def add_argument_group(self, *args, **kwargs) -> _Unbuilt:
        return self

    add_mutually_exclusive_group = add_argument_group


def build_parser(only: str | None = None, *, lazy: bool = False) -> argparse.ArgumentParser:
    """The whole parser; with `lazy`, every command is listed (for `--help` and the "invalid
    choice" error) but only the options of `only` are built (main() passes the command it
    is about to run). Parsing `[only, ...]` gives the same result either way."""
    parser = _Parser(prog="pgreconcile",
                     description="Repair drift between Django migrations and a live "
                                 "PostgreSQL database, safely and repeatably.")
    parser.add_argument("--version", action="version", version=f"pgreconcile {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def add(name: str, **kwargs):
        p = sub.add_parser(name, **kwargs)
        return p if not lazy or name == only else _Unbuilt()

    p = add("backup", help="pg_dump, prove it, write a manifest")
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

    p = add("backup-verify", help="re-check a backup's checksums and readability")
    _common(p)
    p.add_argument("path", help="the dump file/directory or its manifest")
    p.add_argument("--test-restore", action="store_true",
                   help="also restore into a scratch database on --dsn's server and compare")

    p = add("restore", help="restore a verified backup into a new database")
    _common(p)
    p.add_argument("path", help="the dump file/directory or its manifest")
    p.add_argument("--target-db", required=True,
                   help="database to restore into; created, an existing one is refused")
    p.add_argument("--replace", action="store_true",
                   help="replace an existing database: new connections are blocked, open ones "
                        "terminated, and it is backed up first")
    p.add_argument("--jobs", type=_positive_int, default=1)
    p.add_argument("--no-owner", action="store_true",
                   help="do not restore ownership and privileges")
    p.add_argument("--backup-dir", help="where the safety backup of a replaced database goes")
    p.add_argument("--dry-run", action="store_true", help="verify the backup and say what "
                                                          "would happen; change nothing")
    p = add("inspect", help="read the live schema (and migration state) from pg_catalog")
    _common(p)
    _schemas(p)
    _project(p)
    p.add_argument("--out", help="also write the schema model as JSON to this file")

    p = add("migrations", help="applied, pending and unknown Django migrations")
    _common(p)
    _project(p)

    p = add("diff", help="compare live with what the migrations (or a reference) "
                                    "expect; exit 3 on drift")
    _common(p)
    _schemas(p)
    _reference(p)
    p.add_argument("--out", help="also write the diff as JSON to this file")

    p = add("preflight", help="run pending migrations on a structure-only clone of "
                                         "live and report exactly how they fail")
    _common(p)
    _project(p)
    p.add_argument("--scratch-dsn", default=os.environ.get("PGRECONCILE_SCRATCH_DSN"),
                   help=SCRATCH_HELP)

    p = add("plan", help="turn the diff into ordered, lock-aware steps")
    _common(p)
    _schemas(p)
    _reference(p)
    _plan_options(p)
    p.add_argument("--out", help="write the plan as JSON (input of `apply`)")
    p.add_argument("--sql", help="write the plan as a reviewable SQL script")
    p.add_argument("--migration-draft", help="write a Django migration draft for review")

    p = add("apply", help="carry out a plan: idempotent, resumable, lock-aware")
    _common(p)
    p.add_argument("plan", help="plan.json written by `pgreconcile plan --out`")
    _apply_options(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--backup", help="a verified backup taken before (checked again)")
    g.add_argument("--no-backup", action="store_true",
                   help="apply without a backup (you take responsibility)")
    _window(p)

    p = add("migrate", help="show `migrate --plan`, then run pending migrations")
    _common(p)
    _project(p)
    p.add_argument("--dry-run", action="store_true", help="only show the plan")
    p.add_argument("--lock-timeout", default="2s",
                   help="lock_timeout of every statement the migrations run (2s)")
    p.add_argument("--retries", type=_positive_int, default=5,
                   help="attempts of `migrate` when a lock stays busy, with backoff")
    _window(p)

    p = add("verify", help="zero drift, migrate --check, data preserved; exit 3 if not")
    _common(p)
    _schemas(p)
    _reference(p)
    p.add_argument("--plan", help="plan.json whose kept differences are accepted")
    p.add_argument("--backup", help="backup manifest whose row counts must still hold")
    p.add_argument("--run-tests", action="store_true", help="also run manage.py test")
    p.add_argument("--test-settings", help="settings for the tests, e.g. staging_settings")

    p = add("reconcile", help="inspect → plan → preflight → backup → apply → "
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
    p.add_argument("--no-test-restore", action="store_true",
                   help="skip the backup's test restore (faster, less proof)")
    p.add_argument("--rollback", choices=["reverse", "restore"], default="reverse",
                   help="on failure: undo with reverse steps (default) or restore the backup "
                        "into a new database")
    p.add_argument("--fail-verify", action="store_true",
                   help="rollback drill: treat verification as failed")
    g = p.add_argument_group("promotion gate (staging first, then production)")
    g.add_argument("--rehearsal-dir", metavar="DIR",
                   help="where promotion records live: a clean run writes one here (staging); "
                        "with --require-rehearsal one is looked up here (production)")
    g.add_argument("--require-rehearsal", action="store_true",
                   help="refuse before any change (exit 4) unless --rehearsal-dir holds a "
                        "record of the same migrations and plan shape (production)")
    g.add_argument("--rehearsal-max-age", default="7d", metavar="AGE",
                   help="how old a record may be: 7d (default), 36h, 90m, 0s")
    g.add_argument("--override-rehearsal", metavar="REASON",
                   help="with --require-rehearsal: proceed without a record; the report shows "
                        "the reason")
    _window(p)

    p = add("window", help="check a maintenance window: is it valid, is it open, "
                                      "when does it open next (exit 2 when it is not valid)")
    p.add_argument("maintenance_window", metavar="WINDOW",
                   help='e.g. "Sat 01:00-03:00 UTC" (several separated by ";")')
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.add_argument("--quiet", "-q", action="store_true")

    p = add("fleet-report", help="one summary of many runs: fleet.json, fleet.md "
                                            "and fleet.html beside their reports")
    p.add_argument("--report-dir", required=True,
                   help="directory holding the runs' reports (searched for report.json; links "
                        "in the summary are relative to it)")
    p.add_argument("--runs", metavar="FILE",
                   help="what the reconcile role recorded (JSON; - reads stdin): every host "
                        "and database of the rollout, also those that did not run")
    p.add_argument("--out-dir", help="where the fleet files go (default: --report-dir)")
    p.add_argument("--dry-run", action="store_true",
                   help="build and print the summary, write nothing")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.add_argument("--quiet", "-q", action="store_true")

    p = add("report", help="render a run's report.json as Markdown and HTML")
    p.add_argument("report_json", help="report.json written by `reconcile`")
    p.add_argument("--out-dir", help="where report.md/report.html go (default: beside it)")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.add_argument("--quiet", "-q", action="store_true")
    return parser


def _window(p: argparse.ArgumentParser) -> None:
    p.add_argument("--maintenance-window", metavar="WINDOW",
                   help='e.g. "Sat 01:00-03:00 UTC" (several separated by ";"); changing '
                        "stages refuse outside it (exit 4)")


def _plan_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("planning")
    g.add_argument("--pk-strategy", choices=["keep", "swap"], default="keep",
                   help="keep the old key (default, non-destructive) or swap the primary key "
                        "(destructive: needs --allow-destructive to apply)")
    g.add_argument("--backfill", choices=["stable", "random"], default="stable",
                   help="stable name-based uuid from (table, id) (default) or uuid4")
    g.add_argument("--drop-extra", action="store_true",
                   help="drop what only live has (tables, columns, indexes, views, …) instead "
                        "of keeping and reporting it (destructive: needs --allow-destructive "
                        "to apply)")


def _apply_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("applying")
    g.add_argument("--allow-destructive", action="store_true",
                   help="allow steps that drop or rewrite (take a verified backup first)")
    g.add_argument("--lock-timeout", default="2s", help="per-statement lock_timeout (2s)")
    g.add_argument("--statement-timeout", default="0", help="per-step statement_timeout")
    g.add_argument("--retries", type=_positive_int, default=5,
                   help="attempts when a lock is busy, with backoff")
    g.add_argument("--batch-size", type=_positive_int, default=5_000,
                   help="rows per backfill batch (5000, tuned by bench/bench_apply.py)")
    g.add_argument("--batch-delay", type=float, default=0.0, help="seconds between batches")
    g.add_argument("--show-samples", action="store_true",
                   help="a refusal over existing rows shows their values (by default only "
                        "their primary keys: reports and logs may be read by others)")


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
    g.add_argument("--scratch-dsn", default=os.environ.get("PGRECONCILE_SCRATCH_DSN"),
                   help=SCRATCH_HELP)
    g.add_argument("--reference-state", choices=["applied", "latest"], default="applied",
                   help="Django reference: the migrations live has applied (default; pending "
                        "ones are reported, not counted as drift) or all of them")


#: The largest count an option takes (--jobs, --keep, --retries, --batch-size).
MAX_COUNT = 10_000_000


def _positive_int(text: str) -> int:
    """A count from 1 to MAX_COUNT in ASCII digits (`-3`, `0`, `1e3`, `٣`, 5,000 nines:
    a usage error naming the bounds, the value cut short)."""
    digits = text.strip().lstrip("+-")
    if not (digits.isascii() and digits.isdigit()):
        raise argparse.ArgumentTypeError(f"{_cut(text, 40)!r} is not a whole number")
    if text.strip().startswith("-") or len(digits) > 9 or not 1 <= int(digits) <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"{_cut(text, 20)!r}: must be at least 1 and at "
                                         f"most {MAX_COUNT:,}")
    return int(digits)


def _cut(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


#: Options whose value is a name or a path: an empty one is a mistake, never "the default".
_NOT_EMPTY = ("target_db", "out_dir", "report_dir", "runs", "out", "sql", "migration_draft",
              "backup_dir", "path", "plan", "report_json", "backup", "project_dir", "python",
              "pg_bin_dir", "reference_sql", "reference_dsn", "settings", "test_settings",
              "compress", "lock_timeout", "statement_timeout", "schemas", "exclude_schemas")
#: How an option whose dest differs from its flag is named in an error.
_OPTION_NAMES = {"schemas": "--schema", "exclude_schemas": "--exclude-schema", "path": "PATH",
                 "plan": "the plan file", "report_json": "REPORT_JSON",
                 "maintenance_window": "the maintenance window"}
#: Longest option value (a DSN, a path, a window list); more is a mistake, not input.
MAX_OPTION_CHARS = 4096


def check_options(args: argparse.Namespace) -> None:
    """What argparse lets through but no command can use, refused before anything runs
    (UsageError, exit 2): a NUL character (a C string would end there), text that is not
    UTF-8 (argv decoded with surrogateescape), a value of more than MAX_OPTION_CHARS, an
    empty name or path, a --batch-delay that is negative, not finite or over an hour."""
    for name, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        flag = _OPTION_NAMES.get(name) or f"--{name.replace('_', '-')}"
        for item in values:
            if not isinstance(item, str):
                continue
            if "\0" in item:
                raise UsageError(f"{flag} holds a NUL character",
                                 hint="pass the value without control characters")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise UsageError(f"{flag} is not valid UTF-8 text",
                                 hint="pgreconcile reads options as UTF-8; set a UTF-8 "
                                      "locale or rename the file") from None
            if len(item) > MAX_OPTION_CHARS:
                raise UsageError(f"{flag} is {len(item):,} characters long (at most "
                                 f"{MAX_OPTION_CHARS:,})", hint="check the value")
            if name in _NOT_EMPTY and not item.strip():
                raise UsageError(f"{flag} is empty",
                                 hint=f"give {flag} a value, or leave the option out")
    target = getattr(args, "target_db", None)
    if target and len(target.encode("utf-8")) > 63:  # PostgreSQL would cut it to 63 bytes
        raise UsageError(f"--target-db is {len(target.encode('utf-8'))} bytes long; a "
                         "database name has at most 63",
                         hint="choose a shorter name (PostgreSQL truncates longer ones, so "
                              "the database created would not be the one named)")
    if getattr(args, "maintenance_window", None):  # refused before anything else runs
        from pgreconcile.runbook.window import MaintenanceWindows
        MaintenanceWindows.parse(args.maintenance_window)
    timeouts = {k: getattr(args, k) for k in ("lock_timeout", "statement_timeout")
                if isinstance(getattr(args, k, None), str)}
    if timeouts:  # the checks ApplyOptions makes, before a plan or project is read
        from pgreconcile.apply.options import ApplyOptions
        ApplyOptions(**timeouts)
    delay = getattr(args, "batch_delay", None)
    import math
    if delay is not None and not (math.isfinite(delay) and 0 <= delay <= 3600):
        raise UsageError(f"--batch-delay {delay} is not a number of seconds from 0 to 3600",
                         hint="e.g. --batch-delay 0.5 (seconds between backfill batches)")


def spec_from(args: argparse.Namespace):
    from pgreconcile.pg.connection import ConnectionSpec
    return ConnectionSpec.resolve(getattr(args, "dsn", None))


# --------------------------------------------------------------------------- commands
@command("backup")
def cmd_backup(args, reporter) -> dict:
    from pathlib import Path

    from pgreconcile.pg.backup import create_backup, describe_backup
    spec = spec_from(args)
    if args.jobs > 1 and args.format != "directory":
        from pgreconcile.errors import UsageError
        raise UsageError("--jobs > 1 needs --format directory")
    if args.dry_run:
        return describe_backup(spec, Path(args.out_dir), fmt=args.format,
                               pg_bin_dir=args.pg_bin_dir).to_dict()
    return create_backup(spec, args.out_dir, fmt=args.format, jobs=args.jobs,
                         test_restore=args.test_restore, keep=args.keep,
                         pg_bin_dir=args.pg_bin_dir, compress=args.compress,
                         reporter=reporter).to_dict()


@command("backup-verify")
def cmd_backup_verify(args, reporter) -> dict:
    from pgreconcile.pg.backup import trial_restore, verify_backup
    result = verify_backup(args.path, pg_bin_dir=args.pg_bin_dir, reporter=reporter).to_dict()
    if args.test_restore:
        result["test_restore"] = trial_restore(args.path, spec_from(args),
                                               pg_bin_dir=args.pg_bin_dir, reporter=reporter)
    return result


@command("restore")
def cmd_restore(args, reporter) -> dict:
    from pgreconcile.pg.backup import preview_restore, restore_backup
    if args.dry_run:
        return preview_restore(args.path, spec_from(args), args.target_db,
                               replace=args.replace, pg_bin_dir=args.pg_bin_dir)
    return restore_backup(args.path, spec_from(args), args.target_db, replace=args.replace,
                          jobs=args.jobs, pg_bin_dir=args.pg_bin_dir,
                          safety_backup_dir=args.backup_dir, no_owner=args.no_owner,
                          reporter=reporter).to_dict()


def target_from(args, *, need_reference: bool = True):
    from pgreconcile.pg.connection import ConnectionSpec
    from pgreconcile.runbook.reference import ReferenceSource
    from pgreconcile.runbook.target import Target
    reference = None
    if need_reference or getattr(args, "project_dir", None):
        reference = ReferenceSource.from_args(
            project_dir=getattr(args, "project_dir", None),
            settings=getattr(args, "settings", None),
            python=getattr(args, "python", None),
            reference_dsn=getattr(args, "reference_dsn", None),
            reference_sql=getattr(args, "reference_sql", None))
    scratch = getattr(args, "scratch_dsn", None)
    return Target(spec_from(args), reference,
                  ConnectionSpec.resolve(scratch) if scratch else None,
                  tuple(args.schemas) if getattr(args, "schemas", None) else None,
                  tuple(args.exclude_schemas) if getattr(args, "exclude_schemas", None) else None,
                  getattr(args, "pg_bin_dir", None))


def windows_from(args):
    from pgreconcile.runbook.window import MaintenanceWindows
    return MaintenanceWindows.parse(getattr(args, "maintenance_window", None))


@command("inspect")
def cmd_inspect(args, reporter) -> dict:
    from pgreconcile.files import write_private_json
    from pgreconcile.runbook.inspection import inspect_live
    result = inspect_live(target_from(args, need_reference=False))
    if args.out:
        write_private_json(args.out, result["schema"])
        result["_human"] = {"wrote": {"schema": args.out}}
    return result


@command("migrations")
def cmd_migrations(args, reporter) -> dict:
    from pgreconcile.django.project import DjangoProject, migration_state
    project = DjangoProject.from_args(args.project_dir, args.settings, args.python)
    state = migration_state(project, spec_from(args))
    return {**state.to_dict(), "project": project.to_dict(),
            "_exit_code": 3 if state.pending or state.unknown_applied else 0}


@command("diff")
def cmd_diff(args, reporter) -> dict:
    from pgreconcile.files import write_private_json
    from pgreconcile.runbook.stages import diagnose
    result = diagnose(target_from(args), args.reference_state, reporter).to_dict()
    if args.out:
        write_private_json(args.out, result)
    return {**result, "_exit_code": 0 if result["empty"] else 3,
            "_human": {"wrote": {"diff": args.out} if args.out else {}}}


@command("preflight")
def cmd_preflight(args, reporter) -> dict:
    from pgreconcile.django.preflight import run_preflight
    from pgreconcile.django.project import DjangoProject
    from pgreconcile.pg.connection import ConnectionSpec
    project = DjangoProject.from_args(args.project_dir, args.settings, args.python)
    scratch = ConnectionSpec.resolve(args.scratch_dsn) if args.scratch_dsn else None
    result = run_preflight(project, spec_from(args), scratch_server=scratch,
                           pg_bin_dir=args.pg_bin_dir, reporter=reporter)
    return {**result.to_dict(), "summary": result.summary(),
            "_exit_code": 0 if result.ok else 3}


@command("plan")
def cmd_plan(args, reporter) -> dict:
    from pgreconcile.files import write_private_json, write_private_text
    from pgreconcile.runbook.stages import plan_changes
    target = target_from(args)
    plan, diagnosis = plan_changes(target, strategy=args.pk_strategy,
                                   backfill=args.backfill, drop_extra=args.drop_extra,
                                   reporter=reporter)
    wrote = {}
    if args.out:
        write_private_json(args.out, plan.to_dict())
        wrote["plan"] = args.out
    if args.sql:
        write_private_text(args.sql, plan.sql_script())
        wrote["SQL script"] = args.sql
    drafts = _migration_drafts(args.migration_draft, target, plan, diagnosis, wrote) \
        if args.migration_draft else None
    return {**plan.to_dict(), "drift": diagnosis.diff.counts(),
            **({"migration_drafts": drafts} if drafts is not None else {}),
            "_exit_code": 3 if plan.steps else 0, "_human": {"wrote": wrote}}


def _migration_drafts(where: str, target, plan, diagnosis, wrote: dict) -> dict[str, str]:
    """One Django migration draft per app owning drifted tables: WHERE/<app>/<next>_
    pgreconcile_reconcile.py; WHERE ending in .py with one app: that file (with several:
    <stem>_<app>.py beside it). Returns {app: path}."""
    from pathlib import Path

    from pgreconcile.django.project import migration_state
    from pgreconcile.files import atomic_write_text
    from pgreconcile.plan.draft import django_migration_draft, django_migration_drafts
    applied = (diagnosis.migrations or {}).get("applied_targets", [])
    if target.project is None or not plan.steps:
        if not plan.steps:
            return {}
        label, after = (applied[-1] if applied else "app.0001_initial").split(".", 1)
        atomic_write_text(where, django_migration_draft(plan, label, after))
        wrote["Django migration draft"] = where
        return {label: where}
    state = migration_state(target.project, target.live)
    drafts = django_migration_drafts(plan, state.tables_by_migration, state.applied_targets)
    base = Path(where)
    single = base.suffix == ".py"
    paths = {}
    for d in drafts:
        if single:
            path = base if len(drafts) == 1 else base.with_name(f"{base.stem}_{d.app}.py")
        else:
            path = base / d.app / d.filename
        atomic_write_text(path, d.text)
        paths[d.app] = str(path)
        wrote[f"Django migration draft ({d.app})"] = str(path)
    return paths


def _apply_opts(args):
    from pgreconcile.apply.options import ApplyOptions
    return ApplyOptions(allow_destructive=args.allow_destructive, lock_timeout=args.lock_timeout,
                        statement_timeout=args.statement_timeout, retries=args.retries,
                        batch_size=args.batch_size, batch_delay=args.batch_delay,
                        show_samples=args.show_samples)


@command("apply")
def cmd_apply(args, reporter) -> dict:
    from pgreconcile.runbook.stages import apply_changes, load_plan
    return apply_changes(spec_from(args), load_plan(args.plan), _apply_opts(args),
                         backup=args.backup, no_backup=args.no_backup,
                         windows=windows_from(args), pg_bin_dir=args.pg_bin_dir,
                         reporter=reporter).to_dict()


@command("migrate")
def cmd_migrate(args, reporter) -> dict:
    from pgreconcile.apply.options import ApplyOptions
    from pgreconcile.django.project import DjangoProject
    from pgreconcile.runbook.stages import run_migrations
    project = DjangoProject.from_args(args.project_dir, args.settings, args.python)
    return run_migrations(project, spec_from(args), dry_run=args.dry_run,
                          windows=windows_from(args),
                          options=ApplyOptions(lock_timeout=args.lock_timeout,
                                               retries=args.retries),
                          reporter=reporter)


@command("verify")
def cmd_verify(args, reporter) -> dict:
    from pgreconcile.runbook.stages import load_plan, verify_target
    from pgreconcile.runbook.verify import counts_to_preserve
    plan = load_plan(args.plan) if args.plan else None
    residual = list(plan.residual) if plan else []
    counts = None
    if args.backup:
        from pgreconcile.pg.backup import load_manifest
        counts = counts_to_preserve(load_manifest(args.backup).row_counts)
    # With the plan, its ledger audit decides what pgreconcile wrote; the backup's counts
    # are then evidence only (the application may write meanwhile).
    v, diagnosis = verify_target(target_from(args), residual=residual, plan=plan,
                                 expected_counts=counts,
                                 run_tests=args.run_tests, test_settings=args.test_settings,
                                 reporter=reporter)
    return {**v.to_dict(), "diff": diagnosis.to_dict(), "_exit_code": 0 if v.ok else 3}


def _drop_extra_allowed(args) -> None:
    """`reconcile --drop-extra` plans drops it could only run with --allow-destructive:
    refused as a usage error before anything is read or changed (a dry run may plan them)."""
    if args.drop_extra and not args.allow_destructive and not args.dry_run:
        from pgreconcile.errors import UsageError
        raise UsageError("--drop-extra drops what only live has, which is destructive: "
                         "reconcile needs --allow-destructive with it",
                         hint="add --allow-destructive (a verified backup is taken first), "
                              "or look first with --dry-run or `pgreconcile plan --drop-extra`")


@command("reconcile")
def cmd_reconcile(args, reporter) -> dict:
    from pgreconcile.runbook.stages import ReconcileOptions, reconcile
    _drop_extra_allowed(args)
    opts = ReconcileOptions(
        strategy=args.pk_strategy, backfill=args.backfill, drop_extra=args.drop_extra,
        apply=_apply_opts(args),
        backup_dir=args.out_dir, backup_keep=args.keep,
        backup_test_restore=not args.no_test_restore, no_backup=args.no_backup,
        run_migrations=not args.no_migrate, run_tests=args.run_tests,
        test_settings=args.test_settings, rollback=args.rollback, report_dir=args.report_dir,
        dry_run=args.dry_run, windows=windows_from(args), fail_verify=args.fail_verify,
        promotion=_promotion_gate(args))
    return reconcile(target_from(args), opts, reporter)


def _promotion_gate(args):
    """The promotion gate of `reconcile`, its flags checked before anything is read."""
    from pgreconcile.errors import UsageError
    from pgreconcile.runbook.promotion import PromotionGate, parse_max_age
    parse_max_age(args.rehearsal_max_age)
    reason = (args.override_rehearsal or "").strip()
    if args.override_rehearsal is not None and not reason:
        raise UsageError("--override-rehearsal needs a reason",
                         hint='say why production goes first: --override-rehearsal "hotfix '
                              'INC-123, approved by …"')
    if reason and not args.require_rehearsal:
        raise UsageError("--override-rehearsal only makes sense with --require-rehearsal")
    if args.require_rehearsal and not args.rehearsal_dir and not reason:
        raise UsageError("--require-rehearsal needs --rehearsal-dir DIR (where staging "
                         "wrote its promotion record)")
    if not (args.rehearsal_dir or args.require_rehearsal):
        return None
    return PromotionGate(directory=args.rehearsal_dir, require=args.require_rehearsal,
                         max_age=args.rehearsal_max_age, override=reason or None)


@command("window")
def cmd_window(args, reporter) -> dict:
    from pgreconcile.runbook.window import window_status
    return window_status(windows_from(args))


@command("report")
def cmd_report(args, reporter) -> dict:
    from pathlib import Path

    from pgreconcile.report.load import load_report
    from pgreconcile.report.render import render_reports
    source = Path(args.report_json)
    data = load_report(source)
    return {"files": render_reports(data, Path(args.out_dir or source.parent),
                                    json_path=source),
            "_human": {"report": data}}


@command("fleet-report")
def cmd_fleet_report(args, reporter) -> dict:
    from pathlib import Path

    from pgreconcile.report.fleet import build_fleet, load_runs, write_fleet
    runs = None
    if args.runs:
        try:
            text = sys.stdin.read() if args.runs == "-" else Path(args.runs).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {args.runs}: {exc}",
                             hint="pass the JSON file the reconcile role writes") from None
        runs = load_runs(text, "stdin" if args.runs == "-" else args.runs)
    fleet = build_fleet(args.report_dir, runs)
    files = {} if args.dry_run else write_fleet(fleet, Path(args.out_dir or args.report_dir))
    return {"ok": fleet["ok"], "counts": fleet["counts"], "files": files,
            "written": not args.dry_run, "hosts": fleet["hosts"]}


#: Set to 1 (or pass --debug anywhere) to let an unexpected error show its traceback.
DEBUG_ENV = "PGRECONCILE_DEBUG"


def _wants(argv: list[str], flag: str) -> bool:
    """`flag` among the options of `argv` (not after `--`, where only values are)."""
    head = argv[:argv.index("--")] if "--" in argv else argv
    return flag in head


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = _wants(argv, "--debug") or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    if _wants(argv, "--debug"):
        cut = argv.index("--") if "--" in argv else len(argv)
        argv = [a for a in argv[:cut] if a != "--debug"] + argv[cut:]
    as_json = _wants(argv, "--json")
    _ARGV[:] = argv
    try:
        # Only the options of the command named are built: the top level has no option
        # taking a value, so the first word not starting with "-" names the command.
        chosen = next((a for a in argv if not a.startswith("-")), None)
        args = build_parser(chosen, lazy=True).parse_args(argv)
        check_options(args)
    except ReconcileError as exc:
        return _render_error(exc.to_dict(), exc.exit_code, as_json)
    if not hasattr(args, "pg_bin_dir"):
        args.pg_bin_dir = None
    from pgreconcile.progress import default_reporter
    handler = COMMANDS[args.command]
    as_json = getattr(args, "json", False)
    reporter = _Redacting(default_reporter(quiet=as_json and not sys.stderr.isatty()
                                           or args.quiet))
    try:
        result = handler(args, reporter)
        code = int(result.pop("_exit_code", EXIT_OK))
        extras = result.pop("_human", None) or {}
        if as_json:
            print_json(result)
        else:
            from pgreconcile.cli.render import render
            render(args.command, result, extras)
    except ReconcileError as exc:
        return _render_error(exc.to_dict(), exc.exit_code, as_json)
    except KeyboardInterrupt:
        return _render_error({"error": "Interrupted", "message": "interrupted",
                              "hint": "re-run the same command; finished work is kept",
                              "exit_code": 130}, 130, as_json)
    except Exception as exc:  # noqa: BLE001 - never a traceback (docs/cli.md, errors)
        return _unexpected(exc, as_json, debug)
    return code


def _unexpected(exc: Exception, as_json: bool, debug: bool) -> int:
    """The last resort: an exception no ReconcileError names. A file or database error
    (OSError, psycopg.Error) is said as such; anything else is a bug of pgreconcile, said
    in one line with the way to see its traceback. Exit 1 either way."""
    psycopg = sys.modules.get("psycopg")  # never imported: it cannot be a psycopg error
    known = (OSError, psycopg.Error) if psycopg else (OSError,)
    text = str(exc).strip()
    first = _cut(text.splitlines()[0] if text else type(exc).__name__)
    if debug:
        import traceback

        from pgreconcile.pg.connection import redact
        sys.stderr.write(redact("".join(traceback.format_exception(exc))))
    if isinstance(exc, known):
        return _render_error({"error": type(exc).__name__, "message": first,
                              "hint": "check the path, permissions or database state named "
                                      "above; finished work is kept",
                              "exit_code": EXIT_ERROR}, EXIT_ERROR, as_json)
    return _render_error({"error": "InternalError",
                          "message": f"{type(exc).__name__}: {first}",
                          "hint": "this is a bug in pgreconcile; finished work is kept. Re-run "
                                  f"with --debug (or {DEBUG_ENV}=1) to see the traceback, "
                                  "and report it",
                          "exit_code": EXIT_ERROR}, EXIT_ERROR, as_json)


def print_json(document: dict) -> None:
    """One JSON document on stdout: indented for a person at a terminal, compact (one line,
    no spaces) for a pipe or a file, where it is read by a program and 2,000 tables make
    megabytes. Same keys, same values, sorted keys either way."""
    if sys.stdout.isatty():
        import json
        text = json.dumps(document, indent=2, sort_keys=True, default=str)
    else:  # compact: the same text json.dumps gives, from orjson when it can (~10x faster)
        from pgreconcile import canonical_json
        text = canonical_json.dumps(document)
    sys.stdout.write(text + "\n")


class _Redacting:
    """The reporter with every log line and task description through `redact`."""

    def __init__(self, inner: Reporter):
        self.inner = inner

    def info(self, message: str) -> None:
        from pgreconcile.pg.connection import redact
        self.inner.info(redact(message))

    def task(self, description: str, total: float | None = None):
        from pgreconcile.pg.connection import redact
        return self.inner.task(redact(description), total)


def _render_error(payload: dict, code: int, as_json: bool) -> int:
    from pgreconcile.pg.connection import redact
    payload = {**payload, "message": redact(payload["message"]),
               "hint": redact(payload.get("hint") or ""), "ok": False}
    if as_json:
        print_json(payload)
    line = f"pgreconcile: {payload['error']}: {payload['message']}"
    sys.stderr.write(line + "\n")
    if payload.get("hint"):
        sys.stderr.write(f"hint: {payload['hint']}\n")
    return code
