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
            # libpq quotes the fragment it choked on, which may be part of a password.
            detail = ("(libpq's detail is withheld: the string holds a secret)"
                      if re.search(r"passw|secret|://[^/?#]*:[^\s]*@", source, re.I)
                      else _cut(redact(_first_line(exc))))
            raise UsageError(f"cannot parse the connection string: {detail}",
                             hint=_DSN_HINT) from None
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
        return make_conninfo("", **{k: v for k, v in self.params.items()
                                    if not is_secret_key(k)})

    def redacted(self) -> str:
        """conninfo for messages: every secret option shown as ********."""
        parts = {k: MASK if is_secret_key(k) else v for k, v in self.params.items()}
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
        if self.params.get("sslpassword"):
            # libpq reads sslpassword from the conninfo only (no environment variable), and
            # a conninfo on a command line is visible to every user of the host.
            raise UsageError(
                "sslpassword cannot be passed to pg_dump, psql or manage.py without putting "
                "it on their command line; nothing was run",
                hint="use a client key without a passphrase (kept 0600), or decrypt it "
                     "into a private file and point sslkey at it")
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


def is_secret_key(key: str) -> bool:
    """Whether a connection option holds a secret (password, sslpassword, ...)."""
    return key.lower() in SECRET_KEYS or bool(re.search(r"passw(or)?d|secret", key, re.I))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


#: Connection options that hold a secret: never in argv, a log, a report or a result.
SECRET_KEYS = frozenset({"password", "sslpassword"})
MASK = "********"

# A key naming a secret: password, passwd, sslpassword, PGPASSWORD, db_password, "password"
# (quoted in JSON or a Python repr), followed by `=`, `:` or (SQL: PASSWORD 'x') blanks.
_KEY = r"""(?P<key>["']?\b\w*(?:passw(?:or)?d|secret)["']?)"""
_QUOTED = r"""'(?:[^'\\]|\\.|'')*(?:'|$)|"(?:[^"\\]|\\.)*(?:"|$)"""
_CHUNK = r"""'(?:[^'\\]|\\.)*(?:'|$)|"(?:[^"\\]|\\.)*(?:"|$)|[^\s'"]"""  # no '' escape
_SECRET_PATTERNS = (
    # key = value (conninfo, query string, env, shell): quoted chunks (with their escapes;
    # shell's 'a'"'"'b' is three) and unquoted characters, up to a blank.
    re.compile(_KEY + r"(?P<sep>\s*=\s*)(?P<value>(?:" + _CHUNK + r")+|\S+)", re.I | re.S),
    # YAML block scalar: key: | (or >) and the indented lines below it.
    re.compile(_KEY + r"(?P<sep>\s*:[ \t]*)(?P<value>[|>][-+0-9]*[ \t]*(?:\r?\n[ \t]+[^\r\n]*)+)",
               re.I),
    # key: value (JSON, YAML, a Python dict): a quoted value, else the rest of the line
    # (never SQL's :: cast).
    re.compile(_KEY + r"(?P<sep>\s*:(?!:)[ \t]*)(?P<value>" + _QUOTED + r"|[^\r\n]+)", re.I | re.S),
    # SQL: PASSWORD 'value'.
    re.compile(r"(?P<key>\bpassword)(?P<sep>\s+)(?P<value>'(?:[^'\\]|\\.|'')*(?:'|$))", re.I),
)
# A URI's user:password@: the password runs to the LAST @ on the line, so one holding @, :
# or / goes whole (a line holding two URIs loses more than the password, never less).
_URI = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s:@/?#]*:)(?P<value>[^\r\n]*)@", re.I)


def redact(text) -> str:
    """`text` with every secret it holds replaced by ********: the one function every
    message, log line, report, manifest and Ansible result goes through.

    Covers key=value conninfo (quoted, with escapes), `?password=` query parameters,
    PGPASSWORD=... environment forms, JSON, YAML and Python-repr `password: ...` forms, SQL
    `PASSWORD '...'`, `sslpassword` and any key naming a password or secret, and URIs'
    `user:password@host` (the password may hold @ and :). It errs towards removing more.
    """
    if text is None:
        return ""
    text = str(text)

    def mask(match: re.Match) -> str:
        value = match.group("value")
        if value[:1] in "'\"" and value.endswith(value[:1]) and len(value) > 1:
            masked = value[0] + MASK + value[0]
        else:
            masked = MASK
        return match.group("key") + match.group("sep") + masked

    text = _URI.sub(lambda m: m.group("head") + MASK + "@", text)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(mask, text)
    return text


def _os_user() -> str:
    import getpass
    try:
        return getpass.getuser()
    except Exception:  # pragma: no cover - no passwd entry
        return "postgres"
