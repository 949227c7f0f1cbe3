"""Plain helpers shared by the test modules; fixtures live in conftest.py.

Test modules import shared helpers from here and never from one another
(tests/test_layout.py checks both).
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from types import ModuleType

from pgreconcile.pg import census
from pgreconcile.pg.connection import ConnectionSpec

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "pettycash"
TEST_DB_PREFIX = "pgrt_"
BIN = Path(sys.executable).parent  # the venv's scripts: pgreconcile, ansible-playbook, ...
CLI = [sys.executable, "-m", "pgreconcile"]
P = ["--project-dir", str(EXAMPLE)]  # the seed case's Django project, for CLI calls


# --------------------------------------------------------------------------- SQL
def run_sql(spec: ConnectionSpec, statements: str) -> None:
    with spec.connect() as conn:
        conn.execute(statements)


def query(spec: ConnectionSpec, q: str, params=None) -> list[tuple]:
    with spec.connect() as conn:
        return conn.execute(q, params).fetchall()


def fingerprint_and_counts(spec: ConnectionSpec) -> tuple[str, dict]:
    """Schema fingerprint and per-table row counts: what a run must (not) change."""
    with spec.connect() as conn:
        return census.schema_fingerprint(conn), census.row_counts(conn)


# --------------------------------------------------------------------------- the CLI
def cli(*args: str, spec: ConnectionSpec | None = None, env: dict | None = None,
        extra_env: dict | None = None, check: bool = False) -> subprocess.CompletedProcess:
    """`python -m pgreconcile ARGS`. The environment is `env` (default: this process's
    without DATABASE_URL), with DATABASE_URL set to `spec` when given, plus `extra_env`.
    `check`: a non-zero exit fails with the CLI's output."""
    if env is None:
        env = dict(os.environ)
        env.pop("DATABASE_URL", None)
    else:
        env = dict(env)
    if spec is not None:
        env["DATABASE_URL"] = spec.conninfo()
    env.update(extra_env or {})
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"pgreconcile {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def as_json(proc: subprocess.CompletedProcess) -> dict:
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"no JSON (exit {proc.returncode}):\n{proc.stdout}\n"
                             f"{proc.stderr}") from None


def make_plan_file(spec: ConnectionSpec, tmp_path: Path, *extra: str) -> dict:
    """`pgreconcile plan` for the seed case into tmp_path (plan.json, plan.sql, a draft)."""
    out = tmp_path / "plan.json"
    proc = cli("plan", *P, "--out", str(out), "--sql", str(tmp_path / "plan.sql"),
               "--migration-draft", str(tmp_path / "0003_reconcile.py"), "--json", *extra,
               spec=spec)
    assert proc.returncode == 3, proc.stderr
    return json.loads(out.read_text())


def closed_window() -> str:
    """A one-hour window three days from now: never open while the tests run."""
    day = (datetime.now(timezone.utc) + timedelta(days=3)).strftime("%a")
    return f"{day} 01:00-02:00 UTC"


# --------------------------------------------------------------------------- the seed case
def load_module(name: str, path: Path) -> ModuleType:
    """Import a file of the example project as module `name`."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@cache
def load_make_drift() -> ModuleType:
    """examples/pettycash/make_drift.py, which builds the seed's drifted database."""
    return load_module("make_drift", EXAMPLE / "make_drift.py")


def build_drifted(spec: ConnectionSpec, rows: int) -> ConnectionSpec:
    """The seed case in `spec`: pettycash drifted from its migrations, `rows` payments."""
    load_make_drift().build_drifted_database(spec.conninfo(), rows=rows, python=sys.executable)
    return spec


def drifted_db(make_db, rows: int) -> ConnectionSpec:
    """A new database (from the make_db fixture) holding the seed case with `rows` payments."""
    return build_drifted(make_db("apply"), rows)


# --------------------------------------------------------------------------- Ansible
def tool_env(spec: ConnectionSpec | None, **extra: str) -> dict[str, str]:
    """The environment an operator runs Ansible with: PG* variables of `spec` (never a
    password in -e), the venv first on PATH, results printed as JSON, no colour."""
    env = spec.child_env() if spec is not None else dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_NOCOLOR"] = "1"
    env["NO_COLOR"] = "1"
    env["ANSIBLE_CALLBACK_RESULT_FORMAT"] = "json"
    env.pop("ANSIBLE_CONFIG", None)
    env.update(extra)
    return env


def ansible(tool: str, *args: str, spec: ConnectionSpec | None = None,
            env: dict | None = None, timeout: int = 180) -> subprocess.CompletedProcess:
    """Run an Ansible command (`tool` from the venv) from the repository root, as a user
    would, in tool_env(spec) plus `env`.

    Results are printed as JSON by the stock `default` callback (ansible-core ships no
    `json` stdout callback; that one lives in the ansible.posix collection).
    """
    return subprocess.run([str(BIN / tool), *args], cwd=REPO, env=tool_env(spec, **(env or {})),
                          capture_output=True, text=True, timeout=timeout, check=False)


def _output(run: subprocess.CompletedProcess | str) -> str:
    """A run's stdout; a CompletedProcess must have succeeded."""
    if isinstance(run, str):
        return run
    assert run.returncode == 0, f"ansible-playbook failed:\n{run.stdout[-5000:]}\n{run.stderr}"
    return run.stdout


_TASK = re.compile(r"^TASK \[(?:[\w.]+ : )?(?P<name>.*)\] \**$", re.MULTILINE)
_RESULT = re.compile(r"^(?P<status>ok|changed|skipping|fatal): \[localhost\](?:: FAILED!)? => ",
                     re.MULTILINE)
_STATUS = re.compile(r"^(?P<status>ok|changed|skipping|fatal|failed): \[localhost\]",
                     re.MULTILINE)


def task_results(run: subprocess.CompletedProcess | str) -> dict[str, dict]:
    """Task name -> localhost's result (plus `status`) for tasks that print one, from -v
    output in JSON format. `run`: the output, or a run that must have succeeded."""
    output = _output(run)
    results: dict[str, dict] = {}
    headers = list(_TASK.finditer(output))
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        section = output[header.end():following.start() if following else None]
        found = _RESULT.search(section)
        if found:
            result, _ = json.JSONDecoder().raw_decode(section[found.end():])
            results[header["name"]] = {**result, "status": found["status"]}
        elif status := _STATUS.search(section):
            results[header["name"]] = {"status": status["status"]}
    return results


def recap(run: subprocess.CompletedProcess | str) -> dict[str, int]:
    """localhost's PLAY RECAP counts. `run`: the output, or a run that must have succeeded."""
    output = _output(run)
    line = re.search(r"^localhost\s+:\s+(.*)$", output, re.MULTILINE)
    assert line, f"no PLAY RECAP in:\n{output[-3000:]}"
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line[1])}


# --------------------------------------------------------------------------- report.json
def schema_errors(report: dict) -> list[str]:
    """Where `report` breaks report.schema.json, one line per violation (empty when valid)."""
    import jsonschema

    from pgreconcile.report.build import report_schema
    validator = jsonschema.Draft202012Validator(report_schema())
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in validator.iter_errors(json.loads(json.dumps(report, default=str)))]
