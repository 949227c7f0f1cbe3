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
        try:
            params = conninfo_to_dict(source) if source else {}
        except psycopg.ProgrammingError as exc:
            # libpq quotes the fragment it choked on, which may be part of a password.
            detail = ("(libpq's detail is withheld: the string holds a secret)"
                      if re.search(r"passw|secret|://[^/?#]*:[^\s]*@", source, re.I)
                      else redact(str(exc)))
            raise UsageError(f"cannot parse the connection string: {detail}",
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
        try:
            return psycopg.connect(self.conninfo(), autocommit=autocommit, **kwargs)
        except psycopg.OperationalError as exc:
            raise ConnectionFailed(
                f"cannot connect to {self.describe()}: {redact(_first_line(exc))}") from None


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
