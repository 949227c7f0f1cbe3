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
        if not isinstance(source, str):
            raise UsageError(f"a connection string is text, not {type(source).__name__}",
                             hint=_DSN_HINT)
        _check_text(source)
        try:
            params = conninfo_to_dict(source) if source else {}
        except psycopg.ProgrammingError as exc:
            raise UsageError("cannot parse the connection string: "
                             f"{_cut(redact(_first_line(exc)))}", hint=_DSN_HINT) from None
        params = {k: str(v) for k, v in params.items() if v is not None}
        _check_params(params)
        return cls(params)

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


_DSN_HINT = ("use a URI like postgresql://user@host:5432/dbname or key=value pairs; "
             "put the password in ~/.pgpass or PGPASSWORD")
_DSN_MAX = 4096
_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_INTEGER_KEYS = ("connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
                 "keepalives_count", "tcp_user_timeout")


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _check_text(source: str) -> None:
    """What libpq would silently mangle: a NUL ends its C string (so `dbname=a<NUL>b` would
    connect to `a`), text that is not UTF-8 cannot be sent, and a DSN of kilobytes is no
    DSN. Refused before parsing (exit 2); the text is never echoed (it may hold a password)."""
    if len(source) > _DSN_MAX:
        raise UsageError(f"the connection string is {len(source)} characters long "
                         f"(at most {_DSN_MAX})", hint=_DSN_HINT)
    if "\0" in source:
        raise UsageError("the connection string holds a NUL character", hint=_DSN_HINT)
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError("the connection string is not valid UTF-8", hint=_DSN_HINT) from None


def _check_params(params: Mapping[str, str]) -> None:
    """Values libpq would only reject when connecting, refused while parsing (exit 2):
    a port that is no number in 1..65535 (one per host), an unknown sslmode, a timeout
    that is no whole number."""
    for port in (params.get("port") or "").split(","):
        if port and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
            raise UsageError(f"port {_cut(port, 20)!r} in the connection string is not a "
                             "port number (1-65535)", hint=_DSN_HINT)
    sslmode = params.get("sslmode")
    if sslmode and sslmode not in _SSLMODES:
        raise UsageError(f"sslmode {_cut(sslmode, 20)!r} in the connection string is not one "
                         f"of {', '.join(_SSLMODES)}", hint=_DSN_HINT)
    for key in _INTEGER_KEYS:
        value = params.get(key)
        if value and not re.fullmatch(r"-?\d{1,9}", value.strip(), re.ASCII):
            raise UsageError(f"{key} {_cut(value, 20)!r} in the connection string is not a "
                             "whole number", hint=_DSN_HINT)


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
