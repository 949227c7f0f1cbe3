"""Preflight: run the pending migrations on a structure-only clone of live.

The clone holds live's schema and the `django_migrations` rows, no data, so
`migrate` meets exactly the tables and history it would meet on live, and the
error it raises is the one a real `migrate` would raise. Live is only read.
"""
from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass, field

from pgreconcile.django.project import DjangoProject, check_project, manage, preflight_probe
from pgreconcile.errors import BackupFailed
from pgreconcile.pg.connection import ConnectionSpec, redact
from pgreconcile.pg.scratch import database_locale, scratch_database
from pgreconcile.pg.toolchain import find_tool, server_major
from pgreconcile.progress import NULL, Reporter


@dataclass(frozen=True)
class PreflightResult:
    ok: bool
    pending: list[str]
    applied_on_clone: list[str]
    error: dict | None
    migrate_plan: str
    clone: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        if self.ok:
            return (f"all {len(self.pending)} pending migrations apply cleanly"
                    if self.pending else "no pending migrations")
        e = self.error or {}
        where = e.get("migration") or "?"
        if e.get("deferred"):
            where += " (deferred SQL run after its operations)"
        elif e.get("operation"):
            where += f" (operation {e.get('operation_index')}: {e['operation']})"
        return f"{where} fails with {e.get('type')}: {e.get('message')}"


def clone_structure(live: ConnectionSpec, target: ConnectionSpec, *,
                    pg_bin_dir: str | None = None, data_tables: tuple[str, ...] = (
                        "django_migrations",)) -> dict:
    """Copy live's schema (no data) plus the rows of `data_tables` into `target`."""
    with live.connect() as conn:
        major = server_major(conn)
        present = [t for t in data_tables
                   if conn.execute("SELECT to_regclass(%s)", (t,)).fetchone()[0]]
    pg_dump = find_tool("pg_dump", major, pg_bin_dir)
    psql = find_tool("psql", major, pg_bin_dir)
    dumps = [[pg_dump.path, "--schema-only", "--no-owner", "--no-privileges", "--no-password",
              f"--dbname={live.public_conninfo()}"]]
    if present:
        dumps.append([pg_dump.path, "--data-only", "--no-owner", "--no-password",
                      f"--dbname={live.public_conninfo()}",
                      *[f"--table={t}" for t in present]])
    for argv in dumps:
        dump = subprocess.run(argv, env=live.child_env(), capture_output=True)
        if dump.returncode != 0:
            raise BackupFailed("cannot copy the live schema for preflight: "
                               + redact(dump.stderr.decode(errors="replace").strip()[-300:]))
        load = subprocess.run([psql.path, "-X", "-q", "-v", "ON_ERROR_STOP=1",
                               "-d", target.public_conninfo()], input=dump.stdout,
                              env=target.child_env(), capture_output=True)
        if load.returncode != 0:
            raise BackupFailed("cannot load the live schema into the preflight clone: "
                               + redact(load.stderr.decode(errors="replace").strip()[-300:]))
    return {"pg_dump": pg_dump.to_dict(), "data_tables": present}


def run_preflight(project: DjangoProject, live: ConnectionSpec, *,
                  scratch_server: ConnectionSpec | None = None, pg_bin_dir: str | None = None,
                  prepare=None, reporter: Reporter = NULL) -> PreflightResult:
    """Clone, (optionally apply `prepare(clone_spec)`, e.g. a plan), then migrate the clone."""
    check_project(project, live)
    with live.connect() as conn:
        locale = database_locale(conn)
    # A clone in live's encoding (LATIN1, SQL_ASCII): migrations meet the bytes live has.
    # A UTF8 live keeps the scratch server's default locale, which it may be lacking.
    with scratch_database(scratch_server or live, "preflight",
                          locale=None if locale["encoding"] == "UTF8" else locale) as clone:
        with reporter.task("cloning the live schema (structure only)"):
            info = clone_structure(live, clone, pg_bin_dir=pg_bin_dir)
        if prepare is not None:
            prepare(clone)
        plan = manage(project, clone, "migrate", "--plan", "--no-input")
        with reporter.task("running pending migrations on the clone"):
            outcome = preflight_probe(project, clone)
    error = outcome.get("error")
    if error:
        error = {**error, "message": redact(error.get("message", ""))}
    return PreflightResult(bool(outcome["ok"]), outcome["pending"], outcome["applied"], error,
                           plan.stdout.strip() or plan.stderr.strip(), info)
