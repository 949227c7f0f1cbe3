"""Start-up: `pgreconcile --version`, `--help` and `<command> --help` import only what they
use (issue 15, point 3; docs/cli.md "Start-up"), and still print what they printed.

Times are never asserted here (bench/bench_startup.py measures them); what is asserted is
which modules a path loads, read from `python -X importtime` in a fresh process, and that
the parser built lazily (only the chosen command's options) parses and helps exactly as the
whole parser does.
"""
from __future__ import annotations

import subprocess

import pytest

from pgreconcile import __version__
from pgreconcile.cli.commands import COMMANDS, build_parser

from .support import CLI, REPO

#: What a path that only prints text has no use for: the database driver, the terminal
#: renderer, the templates, Django, YAML, and the engine's layers.
HEAVY = ("psycopg", "rich", "jinja2", "django", "yaml", "orjson", "pgreconcile.pg",
         "pgreconcile.schema", "pgreconcile.runbook", "pgreconcile.apply", "pgreconcile.plan",
         "pgreconcile.report", "pgreconcile.django", "pgreconcile.progress")


def imported(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """One run of the CLI under -X importtime, and the modules it imported."""
    proc = subprocess.run([CLI[0], "-X", "importtime", *CLI[1:], *args], capture_output=True,
                          text=True, cwd=REPO, timeout=60, check=False)
    names = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
             if line.startswith("import time:") and "imported package" not in line}
    assert names, proc.stderr[-2000:]
    return proc, names


def heavy(names: set[str]) -> list[str]:
    return sorted(n for n in names if any(n == h or n.startswith(h + ".") for h in HEAVY))


def test_version_imports_neither_argparse_nor_anything_heavy():
    proc, names = imported("--version")
    assert proc.returncode == 0
    assert proc.stdout == f"pgreconcile {__version__}\n"
    assert heavy(names) == []
    assert "argparse" not in names and "pgreconcile.cli.commands" not in names, \
        "--version answers before the parser is built"


def test_help_lists_every_command_without_heavy_imports():
    proc, names = imported("--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: pgreconcile ")
    for name in COMMANDS:
        assert f"    {name} " in proc.stdout or f"    {name}\n" in proc.stdout, name
    assert heavy(names) == []


@pytest.mark.parametrize("command", ["backup", "reconcile", "inspect"])
def test_command_help_prints_its_options_without_heavy_imports(command):
    proc, names = imported(command, "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"usage: pgreconcile {command} ")
    assert "--dsn" in proc.stdout and "--json" in proc.stdout
    if command == "backup":
        assert "--test-restore" in proc.stdout and "--out-dir" in proc.stdout
    assert heavy(names) == []


def test_version_through_main_prints_the_same_as_argparse(capsys):
    from pgreconcile.cli import main
    assert main(["--version"]) == 0
    fast = capsys.readouterr().out
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == fast == f"pgreconcile {__version__}\n"


def _subparser(parser, name):
    return parser._subparsers._group_actions[0].choices[name]


def test_lazy_parser_helps_and_parses_as_the_whole_one():
    whole = build_parser()
    assert build_parser(None, lazy=True).format_help() == whole.format_help()
    samples = {
        "backup": ["--out-dir", "b", "--format", "directory", "--jobs", "2", "--keep", "3"],
        "reconcile": ["--project-dir", "p", "--drop-extra", "--allow-destructive",
                      "--schema", "a", "--schema", "b", "--rehearsal-dir", "r"],
        "window": ["Sat 01:00-03:00 UTC", "--json"],
        "apply": ["plan.json", "--no-backup", "--batch-size", "10"],
    }
    for name in COMMANDS:
        lazy = build_parser(name, lazy=True)
        assert _subparser(lazy, name).format_help() == _subparser(whole, name).format_help()
        if name in samples:
            argv = [name, *samples[name]]
            assert vars(lazy.parse_args(argv)) == vars(whole.parse_args(argv)), name


def test_unknown_command_is_the_same_usage_error(capsys):
    from pgreconcile.cli import main
    assert main(["bogus"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'bogus'" in err
    assert "reconcile" in err and "fleet-report" in err  # every choice, though none built
