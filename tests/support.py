"""Plain helpers shared by the test modules; fixtures live in conftest.py.

Test modules import shared helpers from here and never from one another
(tests/test_layout.py checks both).
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
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
    """The seed case in `spec` (an empty database): pettycash drifted from its migrations,
    `rows` payments. Built by make_drift.py once per size and session, then copied (see
    copy_drifted at the end of this file); `spec` keeps its name and owner."""
    if not copy_drifted(spec, rows):
        load_make_drift().build_drifted_database(spec.conninfo(), rows=rows,
                                                 python=sys.executable)
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


# --------------------------------------------------------------------------- writers
class Writers:
    """Connections behaving like the *old* application while a test runs pgreconcile: each
    inserts payments without `payment_id`, updates `status`/`updated_at` of existing rows and
    deletes some of its own rows, at `rate` statements per second, in autocommit.

    `stop()` returns what they saw: statements by kind, every error, and the longest wait
    (the slowest single statement, which includes any lock wait). Use it through the
    `writers` fixture, which stops them even when the test fails.
    """

    INSERT = ("INSERT INTO treasury_payment (reference, payee, amount, currency, memo, status, "
              "created_at, updated_at) VALUES (%s, 'writer', 1.00, 'USD', '', 'pending', now(), "
              "now()) RETURNING id")
    UPDATE = ("UPDATE treasury_payment SET status = %s, updated_at = now() WHERE id = %s")
    DELETE = "DELETE FROM treasury_payment WHERE id = %s"

    def __init__(self, spec: ConnectionSpec, *, connections: int = 2, rate: float = 100.0):
        import threading
        self.spec, self.connections, self.rate = spec, connections, rate
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list = []
        self.counts = {"insert": 0, "update": 0, "delete": 0}
        self.errors: list[str] = []
        self.max_wait = 0.0
        self.inserted: set[int] = set()
        self.deleted: set[int] = set()
        self.updated: set[int] = set()
        self.started_at = self.stopped_at = 0.0

    def start(self) -> Writers:
        import threading
        import time
        with self.spec.connect() as conn:
            self.max_id = conn.execute("SELECT max(id) FROM treasury_payment").fetchone()[0] or 1
        self.started_at = time.monotonic()
        for n in range(self.connections):
            t = threading.Thread(target=self._run, args=(n,), daemon=True,
                                 name=f"writer-{n}")
            t.start()
            self._threads.append(t)
        time.sleep(0.3)  # the writers are writing before the caller goes on
        return self

    def _run(self, n: int) -> None:
        import random
        import time

        import psycopg
        rnd = random.Random(n)
        mine: list[int] = []
        interval = 1.0 / self.rate
        i = 0
        try:
            conn = psycopg.connect(self.spec.conninfo(), autocommit=True,
                                   application_name=f"test writer {n}")
        except psycopg.Error as exc:
            with self._lock:
                self.errors.append(f"writer {n} could not connect: {exc}")
            return
        with conn:
            nxt = time.monotonic()
            while not self._stop.is_set():
                kind = ("insert", "update", "insert", "update", "delete")[i % 5]
                i += 1
                t0 = time.monotonic()
                try:
                    if kind == "insert":
                        new_id = conn.execute(self.INSERT, (f"W{n}-{i}",)).fetchone()[0]
                        mine.append(new_id)
                        with self._lock:
                            self.inserted.add(new_id)
                    elif kind == "update":
                        row = rnd.randint(1, self.max_id)
                        conn.execute(self.UPDATE, (rnd.choice(("approved", "paid")), row))
                        with self._lock:
                            self.updated.add(row)
                    elif mine:
                        victim = mine.pop(rnd.randrange(len(mine)))
                        conn.execute(self.DELETE, (victim,))
                        with self._lock:
                            self.deleted.add(victim)
                except psycopg.Error as exc:
                    with self._lock:
                        self.errors.append(f"{kind}: {type(exc).__name__}: {exc}".strip())
                waited = time.monotonic() - t0
                with self._lock:
                    self.counts[kind] += 1
                    self.max_wait = max(self.max_wait, waited)
                nxt += interval
                pause = nxt - time.monotonic()
                if pause > 0:
                    self._stop.wait(pause)
                else:
                    nxt = time.monotonic()  # behind schedule: do not burst to catch up

    def stop(self) -> Writers:
        import time
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)
        self._threads = []
        if not self.stopped_at:
            self.stopped_at = time.monotonic()
        return self

    @property
    def statements(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        return (f"{self.statements} statements {self.counts} in "
                f"{self.stopped_at - self.started_at:.1f}s, longest wait {self.max_wait:.3f}s, "
                f"{len(self.errors)} error(s) {self.errors[:3]}")


# --------------------------------------------------------------------------- dump/restore copies
def same_major_client(name: str, server_major: int) -> str:
    """pg_dump/pg_restore of the server's own major version if there is one (its SQL
    restores cleanly), else the newest that can talk to the server."""
    from pgreconcile.pg import toolchain
    same = [t for t in toolchain.candidates(name) if t.major == server_major]
    return same[0].path if same else toolchain.find_tool(name, server_major).path


def restore_copy(original: ConnectionSpec, restored: ConnectionSpec, server_major: int,
                 dump: Path) -> None:
    """`original` dumped (custom format) into `dump` and restored into the empty database
    `restored`, owners left out: the copy a diff must find identical."""
    subprocess.run([same_major_client("pg_dump", server_major), "--format=custom",
                    f"--file={dump}", "--no-password", f"--dbname={original.public_conninfo()}"],
                   env=original.child_env(), check=True, capture_output=True, timeout=120)
    subprocess.run([same_major_client("pg_restore", server_major), "--exit-on-error",
                    "--no-owner", "--no-password", f"--dbname={restored.public_conninfo()}",
                    str(dump)], env=restored.child_env(), check=True, capture_output=True,
                   timeout=120)


# --------------------------------------------------------------------------- drifted templates
# make_drift.py builds the same bytes for the same size (deterministic rows, fixed dates),
# but takes 3-10 s (two `manage.py migrate` children). Each size is built once per
# session into a template database; build_drifted then gives an empty database the
# template's content by CREATE DATABASE ... TEMPLATE (a file copy, ~0.1 s) under its own
# name and owner. Anything unusual about the empty database (not empty, another encoding
# or owner role's objects, settings, grants, open connections) falls back to the real
# build. The templates are dropped at the end of the session (conftest.py).
_DRIFTED_TEMPLATES: dict[tuple, tuple[str, ConnectionSpec]] = {}
_DB_SHAPE = ("SELECT pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, "
             "pg_get_userbyid(d.datdba), d.datacl IS NULL, "
             "NOT EXISTS (SELECT 1 FROM pg_db_role_setting s WHERE s.setdatabase = d.oid) "
             "FROM pg_database d WHERE d.datname = %s")
_USER_OBJECTS = """
    SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast'))
         + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))
         + (SELECT count(*) FROM pg_namespace
            WHERE nspname !~ '^pg_' AND nspname NOT IN ('public', 'information_schema'))
         + (SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql')"""


def copy_drifted(spec: ConnectionSpec, rows: int) -> bool:
    """Give the empty database `spec` the drifted template of `rows` payments (built on
    first use); False (nothing changed) when the copy would not be the same as a build."""
    from psycopg import Error, sql

    from pgreconcile.pg.scratch import drop_database
    try:
        with spec.connect() as conn:
            key = (conn.info.host, conn.info.port, conn.info.user, rows,
                   conn.execute("SELECT pg_postmaster_start_time()::text").fetchone()[0])
            if conn.execute(_USER_OBJECTS).fetchone()[0]:
                return False
        admin = spec.with_dbname("postgres")
        template = _DRIFTED_TEMPLATES.get(key, (None,))[0]
        if template is None:
            template = f"{TEST_DB_PREFIX}drifted{rows}_template_{os.getpid()}"
            with admin.connect() as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(
                    sql.Identifier(template)))
                conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(
                    sql.Identifier(template)))
            try:
                load_make_drift().build_drifted_database(
                    spec.with_dbname(template).conninfo(), rows=rows, python=sys.executable)
                with admin.connect() as conn:  # nobody may connect to it while it is copied
                    conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(
                        sql.Identifier(template)))
            except BaseException:
                drop_database(admin, template)
                raise
            _DRIFTED_TEMPLATES[key] = (template, admin)
        with admin.connect() as conn:
            target = conn.execute(_DB_SHAPE, (spec.dbname,)).fetchone()
            source = conn.execute(_DB_SHAPE, (template,)).fetchone()
            if target is None or target[:3] != source[:3] or not all(target[4:]) \
                    or target[3] != conn.info.user:
                return False
            staged = f"{spec.dbname[:40]}_{secrets.token_hex(4)}_copy"
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(staged), sql.Identifier(template)))
            try:
                conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(spec.dbname)))
            except Error:  # someone is connected to it: build it the slow way
                conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(staged)))
                return False
            conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(staged), sql.Identifier(spec.dbname)))
        return True
    except Error:
        return False


def drop_drifted_templates() -> None:
    """Drop the session's drifted templates (conftest.py's `server`, before it stops)."""
    from psycopg import Error, sql
    while _DRIFTED_TEMPLATES:
        _, (name, admin) = _DRIFTED_TEMPLATES.popitem()
        try:
            with admin.connect() as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(
                    sql.Identifier(name)))
        except Error:
            pass  # the server is gone: so is the template


# --------------------------------------------------------------------------- module seeds
def create_test_db(server: ConnectionSpec, label: str, template: str = "template0") -> str:
    """A new database named with the suite's prefix, copied from `template`
    (CREATE DATABASE … TEMPLATE): modules build one seed and give each test a copy."""
    from psycopg import sql
    name = f"{TEST_DB_PREFIX}{label}_{secrets.token_hex(4)}"
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)))
    return name
