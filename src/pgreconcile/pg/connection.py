"""One place that turns --dsn / DATABASE_URL / PG* variables into connections.

The password never leaves this module except inside a child process environment
(`PGPASSWORD`); every DSN that is printed, logged or written is redacted, and
every command line built for pg_dump & co carries no password.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Mapping

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgreconcile.errors import ConnectionFailed, UsageError

_SECRET_KEYS = ("password",)
_ENV_FOR_KEY = {
    "host": "PGHOST", "port": "PGPORT", "dbname": "PGDATABASE", "user": "PGUSER",
    "password": "PGPASSWORD", "sslmode": "PGSSLMODE", "passfile": "PGPASSFILE",
    "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT", "service": "PGSERVICE",
    "application_name": "PGAPPNAME", "options": "PGOPTIONS",
}


@dataclass(frozen=True)
class ConnectionSpec:
    """libpq parameters, parsed once. Empty means "let libpq use PG* and ~/.pgpass"."""

    params: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def resolve(cls, dsn: str | None = None,
                env: Mapping[str, str] | None = None) -> "ConnectionSpec":
        env = os.environ if env is None else env
        source = dsn or env.get("DATABASE_URL") or ""
        try:
            params = conninfo_to_dict(source) if source else {}
        except psycopg.ProgrammingError as exc:
            raise UsageError(f"cannot parse the connection string: {redact(str(exc))}",
                             hint="use a URI like postgresql://user@host:5432/dbname "
                                  "or key=value pairs; put the password in ~/.pgpass") from None
        return cls({k: str(v) for k, v in params.items() if v is not None})

    # -- derived specs -------------------------------------------------------
    def with_dbname(self, dbname: str) -> "ConnectionSpec":
        return ConnectionSpec({**self.params, "dbname": dbname})

    def with_params(self, **extra: str) -> "ConnectionSpec":
        return ConnectionSpec({**self.params, **{k: v for k, v in extra.items() if v is not None}})

    # -- views ---------------------------------------------------------------
    @property
    def dbname(self) -> str:
        return (self.params.get("dbname") or os.environ.get("PGDATABASE")
                or self.params.get("user") or os.environ.get("PGUSER") or _os_user())

    def conninfo(self) -> str:
        """Full conninfo for in-process connections (never print this)."""
        return make_conninfo("", **self.params)

    def public_conninfo(self) -> str:
        """conninfo without secrets, safe for argv and logs."""
        return make_conninfo("", **{k: v for k, v in self.params.items() if k not in _SECRET_KEYS})

    def redacted(self) -> str:
        parts = dict(self.params)
        if "password" in parts:
            parts["password"] = "********"
        return make_conninfo("", **parts) if parts else "(libpq defaults)"

    def describe(self) -> str:
        host = self.params.get("host") or os.environ.get("PGHOST") or "local socket"
        port = self.params.get("port") or os.environ.get("PGPORT") or "5432"
        return f"database {self.dbname!r} on {host}:{port}"

    def child_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for pg_dump/pg_restore/psql/manage.py: PG* variables, password included.

        Command lines built from `public_conninfo()` + this env never expose the password
        in `ps` output.
        """
        env = dict(os.environ if base is None else base)
        env.pop("DATABASE_URL", None)
        for key, value in self.params.items():
            var = _ENV_FOR_KEY.get(key)
            if var:
                env[var] = value
        return env

    def connect(self, *, autocommit: bool = True, **kwargs) -> psycopg.Connection:
        # Always UTF8 on the wire, whatever the database's encoding: pgreconcile's own SQL
        # is UTF-8 text, and the server converts (LATIN1 & co.) or, for SQL_ASCII, passes
        # bytes through but checks that what it sends is valid UTF-8 (names are, when a
        # UTF-8 client made them). Under SQL_ASCII psycopg would otherwise return bytes
        # for text and refuse to encode non-ASCII SQL. pg_dump/pg_restore keep their own
        # default: the database's encoding, so data is dumped byte for byte.
        kwargs.setdefault("client_encoding", "UTF8")
        try:
            return psycopg.connect(self.conninfo(), autocommit=autocommit, **kwargs)
        except psycopg.OperationalError as exc:
            raise ConnectionFailed(
                f"cannot connect to {self.describe()}: {redact(_first_line(exc))}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def redact(text: str) -> str:
    """Remove anything that looks like a password from free text (errors from libpq, Django)."""
    text = re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1********", text, flags=re.I)
    return re.sub(r"(postgres(?:ql)?://[^:/@\s]+:)[^@\s]+@", r"\1********@", text)


def _os_user() -> str:
    import getpass
    try:
        return getpass.getuser()
    except Exception:  # pragma: no cover - no passwd entry
        return "postgres"
