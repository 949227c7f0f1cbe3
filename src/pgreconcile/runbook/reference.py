"""Where the expected schema comes from: the project's migrations, another database,
or a SQL file. Migrations and SQL files are materialised in a scratch database
that is always dropped."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from pgreconcile.django.project import DjangoProject, check_project, migrate_to
from pgreconcile.errors import UsageError
from pgreconcile.pg.connection import ConnectionSpec, redact
from pgreconcile.pg.scratch import sandbox_role, scratch_database
from pgreconcile.pg.sqlfile import ReferenceSql, read_reference_sql
from pgreconcile.progress import NULL, Reporter
from pgreconcile.schema.catalog import inspect_schema
from pgreconcile.schema.model import Schema


@dataclass(frozen=True)
class ReferenceSource:
    kind: str                                  # django | dsn | sql
    project: DjangoProject | None = None
    dsn: ConnectionSpec | None = None
    sql_file: Path | None = None

    @classmethod
    def from_args(cls, *, project_dir=None, settings=None, python=None, reference_dsn=None,
                  reference_sql=None) -> "ReferenceSource":
        given = [x for x in (project_dir, reference_dsn, reference_sql) if x]
        if len(given) != 1:
            raise UsageError("give exactly one reference: --project-dir (with --settings), "
                             "--reference-dsn or --reference-sql")
        if project_dir:
            return cls("django", project=DjangoProject.from_args(project_dir, settings, python))
        if reference_dsn:
            return cls("dsn", dsn=ConnectionSpec.resolve(reference_dsn))
        path = Path(reference_sql)
        if not path.is_file():
            raise UsageError(f"--reference-sql {path} does not exist")
        # psql commands are refused here, before any backup, lock or scratch database.
        read_reference_sql(path.absolute())
        return cls("sql", sql_file=path.absolute())

    def describe(self) -> str:
        if self.kind == "django":
            return f"migrations of {self.project.project_dir} ({self.project.settings})"
        if self.kind == "dsn":
            return f"database {self.dsn.describe()}"
        return f"SQL file {self.sql_file}"


def build_reference(source: ReferenceSource, live: ConnectionSpec, *,
                    scratch_server: ConnectionSpec | None = None,
                    schemas: list[str] | None = None, exclude_schemas: list[str] | None = None,
                    pg_bin_dir: str | None = None, targets: list[str] | None = None,
                    cache_key: str | None = None, reporter: Reporter = NULL) -> Schema:
    """The schema the reference describes, inspected the same way as live.

    For a Django project, `targets` ("app.migration") builds the state live claims
    to be in (its applied migrations) instead of the latest state, so pending
    migrations are not mistaken for drift.
    """
    if source.kind == "dsn":
        return inspect_schema(source.dsn, schemas=schemas, exclude_schemas=exclude_schemas)
    server = scratch_server or live
    cached = _cache_path(source, server, cache_key, targets, schemas, exclude_schemas)
    if cached is not None and cached.exists():
        try:
            return Schema.from_dict(json.loads(cached.read_text()))
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            cached.unlink(missing_ok=True)
    schema = _materialise(source, live, server, schemas, exclude_schemas, pg_bin_dir, targets,
                          reporter)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(schema.to_dict()))
        os.replace(tmp, cached)
    return schema


def build_field_defaults(source: ReferenceSource, live: ConnectionSpec, *,
                         targets: list[str] | None = None, cache_key: str | None = None,
                         scratch_server: ConnectionSpec | None = None) -> dict:
    """The Django field defaults of the same migration state as `build_reference` (empty
    for a DSN or SQL reference), cached beside the reference schema: same key inputs."""
    from pgreconcile.django import defaults
    if source.kind != "django":
        return {}
    cached = _cache_path(source, scratch_server or live,
                         f"field-defaults:{cache_key}" if cache_key else None, targets,
                         None, None)
    if cached is not None and cached.exists():
        try:
            return defaults.loads(cached.read_text())
        except (ValueError, KeyError, TypeError, AttributeError):
            cached.unlink(missing_ok=True)
    found = defaults.field_defaults(source.project, live, targets)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(defaults.dumps(found))
        os.replace(tmp, cached)
    return found


def _cache_path(source: ReferenceSource, server: ConnectionSpec, cache_key: str | None,
                targets, schemas, exclude_schemas) -> Path | None:
    """Reference schemas built from migrations are cached by the digest of every migration
    file, the targets, the scope and the server version: same inputs, same schema."""
    if source.kind != "django" or not cache_key or os.environ.get("PGRECONCILE_NO_CACHE"):
        return None
    with server.connect() as conn:
        version = conn.info.server_version
    key = hashlib.sha256(json.dumps([cache_key, targets, sorted(schemas or []),
                                     sorted(exclude_schemas or []), version,
                                     source.project.settings]).encode()).hexdigest()[:32]
    base = Path(os.environ.get("PGRECONCILE_CACHE_DIR")
                or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                / "pgreconcile")
    return base / "reference" / f"{key}.json"


def _materialise(source: ReferenceSource, live: ConnectionSpec, server: ConnectionSpec,
                 schemas, exclude_schemas, pg_bin_dir, targets, reporter) -> Schema:
    if source.kind == "django":
        check_project(source.project, live)
        with scratch_database(server, "reference") as scratch:
            with reporter.task("running the project's migrations into a scratch database"):
                migrate_to(source.project, scratch, targets)
            return inspect_schema(scratch, schemas=schemas, exclude_schemas=exclude_schemas)
    # A SQL file is refused (psql commands) before any role or database is made.
    script = read_reference_sql(source.sql_file)
    if server is not live:
        # --scratch-dsn: a separate scratch server, where the file runs as the role given.
        with scratch_database(server, "reference") as scratch:
            load_sql(scratch, script, script.text, sandboxed=False)
            return inspect_schema(scratch, schemas=schemas, exclude_schemas=exclude_schemas)
    # On live's own server the file runs, and its result is read, as a temporary role that
    # owns the scratch database and nothing else: the operator never connects to a database
    # the file wrote.
    with sandbox_role(server) as sandbox, scratch_database(server, "reference") as scratch:
        sandbox.own(scratch.dbname)
        with sandbox.session(scratch.dbname) as conn:
            load_sql(conn, script, script.without_owner_changes(), sandboxed=True)
        return inspect_schema(sandbox.reopen(scratch.dbname), schemas=schemas,
                              exclude_schemas=exclude_schemas)


def load_sql(target, script: ReferenceSql, text: str, *, sandboxed: bool) -> None:
    """The file's SQL in one simple query on `target` (a spec or an open connection),
    without psql: no meta-command can run, and it loads completely or not at all (one
    implicit transaction, unless the file says otherwise)."""
    import psycopg
    if isinstance(target, ConnectionSpec):
        with target.connect() as conn:
            return load_sql(conn, script, text, sandboxed=sandboxed)
    try:
        target.execute("SET client_encoding TO 'UTF8'")
        target.execute(text.encode(), prepare=False)
    except psycopg.Error as exc:
        raise UsageError(f"{script.path} does not load: {_describe(exc, text)}",
                         hint=_load_hint(exc, sandboxed)) from None


def _describe(exc, text: str) -> str:
    diag = getattr(exc, "diag", None)
    message = (diag.message_primary if diag is not None and diag.message_primary
               else str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    where = ""
    position = diag.statement_position if diag is not None else None
    if position and position.isdigit():
        # a character position (1-based) in the text the server was given
        where = f"line {text.count(chr(10), 0, int(position) - 1) + 1}: "
    return redact(where + message)[:400]


def _load_hint(exc, sandboxed: bool) -> str:
    import psycopg
    if sandboxed and isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return ("the file runs as a temporary role that owns only the scratch database; "
                "statements that need more (an untrusted extension, other roles, other "
                "databases) are refused: remove them, or pass --scratch-dsn naming a "
                "separate scratch server (see docs/reference-sql.md)")
    return "the reference SQL must apply cleanly to an empty database"
