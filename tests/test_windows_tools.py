"""Windows hosts: PostgreSQL's client tools are pg_dump.exe, pg_restore.exe and psql.exe.

No Windows here: a directory of `.exe`-named wrappers around the real tools stands for
`C:\\Program Files\\PostgreSQL\\17\\bin`, given to the CLI as --pg-bin-dir (what the
PowerShell scripts pass for -PgBinDir). Each wrapper logs its name, then runs the real tool.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from pgreconcile.errors import ToolchainError
from pgreconcile.pg import toolchain
from pgreconcile.pg.toolchain import embedded_bin_dir, executable_in, find_tool

from .support import cli, run_sql

TOOLS = ("pg_dump", "pg_restore", "psql")


def _real_bin() -> Path:
    found = embedded_bin_dir() or (Path(shutil.which("pg_dump")).parent
                                   if shutil.which("pg_dump") else None)
    if found is None:
        pytest.skip("no pg_dump on this machine to wrap")
    return found


@pytest.fixture(scope="module")
def exe_bin(tmp_path_factory) -> tuple[Path, Path]:
    """(directory holding only pg_dump.exe, pg_restore.exe, psql.exe; the wrappers' log)."""
    real = _real_bin()
    root = tmp_path_factory.mktemp("windows-bin")
    bindir, log = root / "bin", root / "calls.log"
    bindir.mkdir()
    for name in TOOLS:
        wrapper = bindir / f"{name}.exe"
        wrapper.write_text(f'#!/bin/sh\necho "{name}.exe $1" >> "{log}"\n'
                           f'exec "{real / name}" "$@"\n')
        wrapper.chmod(0o755)
    return bindir, log


def test_exe_named_tools_are_found_in_the_given_directory(exe_bin):
    bindir, _ = exe_bin
    for name in TOOLS:
        tool = find_tool(name, 13, str(bindir))
        assert tool.path == str(bindir / f"{name}.exe")
        assert tool.name == name and tool.source == "--pg-bin-dir" and tool.major >= 13


def test_plain_name_first_off_windows_exe_first_on_windows(tmp_path, monkeypatch):
    for name in ("pg_dump", "pg_dump.exe"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    (tmp_path / "psql.exe").write_text("#!/bin/sh\n")  # not executable: not a tool
    assert executable_in(tmp_path, "pg_dump") == tmp_path / "pg_dump"
    assert executable_in(tmp_path, "psql") is None
    assert executable_in(tmp_path, "pg_restore") is None
    monkeypatch.setattr(toolchain.os, "name", "nt")
    assert executable_in(tmp_path, "pg_dump") == tmp_path / "pg_dump.exe"


def test_a_directory_without_the_tool_is_one_clear_error(tmp_path):
    with pytest.raises(ToolchainError, match="pg_dump not found in --pg-bin-dir"):
        find_tool("pg_dump", 13, str(tmp_path))


def test_backup_through_the_cli_runs_the_exe_tools(exe_bin, db, tmp_path):
    """`pgreconcile backup --pg-bin-dir DIR`: the dump is written by pg_dump.exe and proven
    by pg_restore.exe (its --list and the test restore), with nothing else on offer in DIR."""
    bindir, log = exe_bin
    run_sql(db, "CREATE TABLE payment (id int PRIMARY KEY, amount numeric);"
                "INSERT INTO payment SELECT g, g FROM generate_series(1, 50) g;")
    log.unlink(missing_ok=True)
    proc = cli("backup", "--dsn", db.conninfo(), "--out-dir", str(tmp_path / "out"),
               "--pg-bin-dir", str(bindir), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert str(bindir / "pg_dump.exe") in json.dumps(result)
    called = {line.split()[0] for line in log.read_text().splitlines()}
    assert {"pg_dump.exe", "pg_restore.exe"} <= called
    assert list((tmp_path / "out").iterdir()), "no backup written"


def test_missing_exe_through_the_cli_is_exit_1_with_a_hint(tmp_path, db):
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = cli("backup", "--dsn", db.conninfo(), "--out-dir", str(tmp_path / "out"),
               "--pg-bin-dir", str(empty), "--json", env={**os.environ, "PATH": os.defpath})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = json.loads(proc.stdout)
    assert err["error"] == "ToolchainError" and "pg_dump not found" in err["message"]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


if sys.platform == "win32":  # pragma: no cover - the wrappers are shell scripts
    pytestmark = pytest.mark.skip(reason="the .exe wrappers here are POSIX shell scripts")
