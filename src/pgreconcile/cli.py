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
    return parser


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
        result = verify_backup(args.path, pg_bin_dir=args.pg_bin_dir).to_dict()
        return {**result, "target_db": args.target_db, "changed": False, "would_change": True}
    return restore_backup(args.path, spec_from(args), args.target_db, replace=args.replace,
                          jobs=args.jobs, pg_bin_dir=args.pg_bin_dir,
                          safety_backup_dir=args.backup_dir, no_owner=args.no_owner,
                          reporter=reporter).to_dict()


# --------------------------------------------------------------------------- rendering
def _render_human(name: str, result: dict, reporter) -> None:
    from rich.console import Console
    from rich.table import Table
    console = Console()
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
