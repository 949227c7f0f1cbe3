"""Hostile and broken input through the real CLI (issue 13, point 3): every case exits with
its documented code (docs/cli.md), prints no traceback, with `--json` prints exactly one
JSON error object on stdout, and leaves the server as it was: no database created or
dropped, the target database's schema unchanged.

The parsers themselves are property-tested in tests/unit/test_input_props.py; here a
curated list of argv cases runs once each against a real server. The cases run the CLI's
own entry point (`pgreconcile.cli.main(argv)`, what `python -m pgreconcile` calls) in this
process with its stdout and stderr captured: what they prove is the argument handling, the
exit code and the one error message. The cases marked SUBPROCESS also run as a real
`python -m pgreconcile` child: bytes that are not UTF-8 decoded by the interpreter
itself, an argparse usage error, and a failure inside the Django child.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
from pathlib import Path

import pytest

from pgreconcile.pg.scratch import drop_database

from .support import EXAMPLE, TEST_DB_PREFIX, cli, query, run_sql
from .support import fingerprint_and_counts as fingerprint

SECRET = "s3cr3t-hostile"


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _boom_project(where: Path) -> Path:
    """A Django project whose settings module raises on import."""
    where.mkdir()
    (where / "manage.py").write_text((EXAMPLE / "manage.py").read_text())
    (where / "boom_settings.py").write_text('raise RuntimeError("settings exploded")\n')
    return where


HUMAN = "human"  # a case marked so runs without --json (its stdout must stay empty)
#: Cases that also run as a real child process (all run in-process).
SUBPROCESS = {"window-dash", "window-not-utf8", "dsn-not-utf8", "settings-raise"}

#: ([HUMAN,] id, argv, exit code, text the error message must hold); each case runs once,
#: with --json unless marked HUMAN. `{...}` in argv are filled per case:
#: tmp (a directory), project (the example Django project), boom (a project whose
#: settings raise), live (the target database's DSN with another dbname), port (closed).
CASES = [
    # maintenance windows
    (HUMAN, "window-dash", ["window", "-1h"], 2, "arguments are required"),
    ("window-after-dashes", ["window", "--", "-1h"], 2, "cannot read maintenance window"),
    ("window-bad-range", ["window", "Sat-Sun-Mon 01:00-02:00"], 2, "unknown day"),
    (HUMAN, "window-zone-path", ["window", "Sat 01:00-02:00 /etc/passwd"], 2, "time zone"),
    ("window-not-utf8", ["window", os.fsdecode(b"Sat \xff")], 2, "UTF-8"),
    ("apply-window-dash", ["apply", "{tmp}/plan.json", "--no-backup",
                           "--maintenance-window", "-1h"], 2, "expected one argument"),
    ("apply-window-equals", ["apply", "{tmp}/plan.json", "--no-backup",
                             "--maintenance-window=-1h"], 2, "cannot read maintenance window"),
    ("reconcile-window-hour", ["reconcile", "--project-dir", "{project}",
                               "--maintenance-window", "Mon 25:00-26:00"], 2, "bad time"),
    # options in general
    ("no-command", [], 2, "arguments are required: COMMAND"),
    (HUMAN, "unknown-command", ["frobnicate"], 2, "invalid choice"),
    ("unknown-option", ["backup", "--frobnicate"], 2, "unrecognized arguments"),
    (HUMAN, "keep-negative", ["backup", "--keep", "-3", "--out-dir", "{tmp}/b"], 2, "at least 1"),
    ("jobs-huge", ["backup", "--jobs", "9" * 400, "--out-dir", "{tmp}/b"], 2, "at most"),
    ("batch-size-negative", ["apply", "{tmp}/plan.json", "--no-backup", "--batch-size=-5"], 2,
     "at least 1"),
    ("batch-delay-nan", ["apply", "{tmp}/plan.json", "--no-backup", "--batch-delay", "nan"], 2,
     "--batch-delay"),
    ("lock-timeout-sql", ["migrate", "--project-dir", "{project}", "--lock-timeout",
                          "1; DROP DATABASE postgres"], 2, "not a duration"),
    ("statement-timeout-negative", ["apply", "{tmp}/plan.json", "--no-backup",
                                    "--statement-timeout=-1s"], 2, "not a duration"),
    (HUMAN, "out-dir-empty", ["backup", "--out-dir", ""], 2, "--out-dir is empty"),
    ("target-db-empty", ["restore", "{tmp}/x.dump", "--target-db", ""], 2, "is empty"),
    ("target-db-long", ["restore", "{tmp}/x.dump", "--target-db", "é" * 40], 2, "at most 63"),
    ("schema-empty", ["inspect", "--schema", ""], 2, "--schema is empty"),
    # DSNs
    (HUMAN, "dsn-garbage", ["inspect", "--dsn", "garbage"], 2, "cannot parse the connection"),
    ("dsn-port-text", ["inspect", "--dsn", "host=127.0.0.1 port=notaport"], 2, "port"),
    ("dsn-not-utf8", ["inspect", "--dsn", os.fsdecode(b"host=\xff")], 2, "UTF-8"),
    ("dsn-wrong-port", ["inspect", "--dsn",
                        f"postgresql://app:{SECRET}@127.0.0.1:{{port}}/x"], 1,
     "cannot connect"),
    ("dsn-unreachable-host", ["inspect", "--dsn",
                              "host=pgreconcile-nowhere.invalid connect_timeout=3"], 1,
     "cannot connect"),
    ("dsn-wrong-dbname", ["inspect", "--dsn", "{live}"], 1, "cannot connect"),
    # Django projects and settings
    ("project-missing", ["migrations", "--project-dir", "{tmp}/nowhere"], 1, "no manage.py"),
    ("python-directory", ["migrations", "--project-dir", "{project}", "--python", "{tmp}"], 1,
     "is a directory"),
    ("python-not-a-program", ["migrations", "--project-dir", "{project}", "--python",
                              "{tmp}/array.json"], 1, "cannot run the project's interpreter"),
    ("settings-unknown", ["migrations", "--project-dir", "{project}", "--settings",
                          "nosuch.settings"], 1, "cannot be imported"),
    (HUMAN, "settings-path", ["migrations", "--project-dir", "{project}", "--settings",
                              "pettycash_system/settings.py"], 2, "not a settings module name"),
    ("settings-code", ["diff", "--project-dir", "{project}", "--settings",
                       "os; import os"], 2, "not a settings module name"),
    (HUMAN, "settings-raise", ["migrations", "--project-dir", "{boom}", "--settings",
                               "boom_settings"], 1, "settings exploded"),
    # reports read back
    (HUMAN, "report-array", ["report", "{tmp}/array.json"], 2, "not a pgreconcile report"),
    ("report-binary", ["report", "{tmp}/binary.json"], 2, "not UTF-8"),
    ("report-directory", ["report", "{tmp}"], 2, "directory"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("hostile")
    (tmp / "array.json").write_text("[]")
    (tmp / "binary.json").write_bytes(b"\xff\xfe{\x00")
    return {"tmp": str(tmp), "project": str(EXAMPLE),
            "boom": str(_boom_project(tmp / "boom")), "port": str(_closed_port())}


@pytest.fixture(scope="module")
def target(server):
    """The database every case points at (DATABASE_URL), with a table: one for the module,
    since no case may change it (each checks)."""
    name = f"{TEST_DB_PREFIX}hostile_{secrets.token_hex(4)}"
    run_sql(server, f'CREATE DATABASE "{name}" TEMPLATE template0')
    spec = server.with_dbname(name)
    run_sql(spec, "CREATE TABLE kept (id int PRIMARY KEY, note text)")
    yield spec
    drop_database(server, name)


def _databases(server) -> set[str]:
    return {name for (name,) in query(server, "SELECT datname FROM pg_database")}


def _fill(arg: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        arg = arg.replace("{" + key + "}", value)
    return arg


def _params(case: tuple) -> list:
    as_json = case[0] != HUMAN
    name, argv, code, words = case if as_json else case[1:]
    tag = f"{name}-{'json' if as_json else 'human'}"
    params = [pytest.param(argv, code, words, as_json, False, id=tag)]
    if name in SUBPROCESS:
        params.append(pytest.param(argv, code, words, as_json, True, id=f"{tag}-subprocess"))
    return params


def _in_process(argv: list[str], spec, capsys, monkeypatch) -> subprocess.CompletedProcess:
    """`main(argv)` as `python -m pgreconcile` runs it, with DATABASE_URL set to `spec`:
    the exit code and what it printed, as a CompletedProcess like support.cli's."""
    from pgreconcile.cli import main
    monkeypatch.setenv("DATABASE_URL", spec.conninfo())
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["pgreconcile", *argv], code, out, err)


@pytest.mark.parametrize("argv, code, words, as_json, child",
                         [p for c in CASES for p in _params(c)])
def test_hostile_input_is_one_clear_error(server, target, files, argv, code, words, as_json,
                                          child, capsys, monkeypatch):
    live = target.with_dbname(target.dbname + "_absent").conninfo()
    argv = [_fill(a, {**files, "live": live}) for a in argv]
    if as_json:  # right after the command: after `--` it would be a value
        argv = [*argv[:1], "--json", *argv[1:]]
    before = (_databases(server), fingerprint(target))

    proc = cli(*argv, spec=target) if child else _in_process(argv, target, capsys, monkeypatch)

    out = proc.stdout + proc.stderr
    assert proc.returncode == code, out
    assert "Traceback" not in out and SECRET not in out, out
    error_lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("pgreconcile: ")]
    assert len(error_lines) == 1 and words in error_lines[0], proc.stderr
    assert proc.stderr.count("\nhint: ") == 1 or proc.stderr.startswith("hint: "), proc.stderr
    if as_json:
        document = json.loads(proc.stdout)  # one document: json.loads refuses two
        assert document["ok"] is False and document["exit_code"] == code
        assert document["error"] in error_lines[0] and document["hint"]
        assert words in document["message"]
    else:
        assert proc.stdout == ""
    assert (_databases(server), fingerprint(target)) == before, "the server was changed"
