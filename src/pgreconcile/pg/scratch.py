"""Scratch databases: recognisable names, always dropped (also on error and Ctrl-C)."""
from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import psycopg
from psycopg import sql

from pgreconcile.errors import ConnectionFailed, ReconcileError
from pgreconcile.pg.connection import ConnectionSpec

SCRATCH_PREFIX = "pgreconcile_scratch_"


class ScratchUnavailable(ReconcileError):
    hint = ("grant CREATEDB to the role, or point --scratch-dsn at a server where "
            "pgreconcile may create and drop databases")


def scratch_name(purpose: str) -> str:
    return f"{SCRATCH_PREFIX}{purpose}_{os.getpid()}_{secrets.token_hex(3)}"[:63]


def database_locale(conn) -> dict:
    """The current database's encoding and libc locale, for a scratch database that must
    hold the same bytes (a SQL_ASCII dump does not restore into UTF8; LATIN1 text would be
    converted): {"encoding", "lc_collate", "lc_ctype", "provider"}."""
    provider = sql.SQL("CASE datlocprovider WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu' "
                       "ELSE 'builtin' END" if conn.info.server_version >= 150000 else "'libc'")
    row = conn.execute(sql.SQL("SELECT pg_encoding_to_char(encoding), datcollate, datctype, {} "
                               "FROM pg_database WHERE datname = current_database()")
                       .format(provider)).fetchone()
    return {"encoding": row[0], "lc_collate": row[1], "lc_ctype": row[2], "provider": row[3]}


def locale_clause(conn, locale: dict | None) -> sql.Composable:
    if not locale or not locale.get("encoding"):
        return sql.SQL("")
    parts = [sql.SQL(" ENCODING {}").format(sql.Literal(locale["encoding"]))]
    for key, option in (("lc_collate", "LC_COLLATE"), ("lc_ctype", "LC_CTYPE")):
        if locale.get(key):
            parts.append(sql.SQL(" {} {}").format(sql.SQL(option), sql.Literal(locale[key])))
    # template0 may use ICU (initdb --locale-provider=icu); a libc source needs libc here.
    if locale.get("provider") == "libc" and conn.info.server_version >= 150000:
        parts.append(sql.SQL(" LOCALE_PROVIDER libc"))
    return sql.Composed(parts)


def create_database(admin: ConnectionSpec, name: str, *, template: str = "template0",
                    locale: dict | None = None) -> None:
    """CREATE DATABASE from `template`; with `locale` (see `database_locale`) in that
    encoding and locale, else in the server's default."""
    with admin.connect() as conn:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}{}").format(
                sql.Identifier(name), sql.Identifier(template), locale_clause(conn, locale)))
        except psycopg.errors.InsufficientPrivilege as exc:
            raise ScratchUnavailable(f"cannot create scratch database {name}: {exc}") from None


def drop_database(admin: ConnectionSpec, name: str) -> None:
    with admin.connect() as conn:
        # WITH (FORCE) (PostgreSQL 13+, the oldest we support) ends leftover sessions.
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def admin_spec(spec: ConnectionSpec) -> ConnectionSpec:
    """A connection to the maintenance database of the same server."""
    return spec.with_dbname("postgres")


@contextmanager
def scratch_database(server: ConnectionSpec, purpose: str, *,
                     locale: dict | None = None) -> Iterator[ConnectionSpec]:
    """Create an empty scratch database on `server`'s cluster (in `locale`'s encoding, see
    `create_database`), yield its spec, always drop it."""
    admin = admin_spec(server)
    name = scratch_name(purpose)
    create_database(admin, name, locale=locale)
    try:
        yield server.with_dbname(name)
    finally:
        drop_database(admin, name)


def list_scratch_databases(server: ConnectionSpec) -> list[str]:
    with admin_spec(server).connect() as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1",
                            (SCRATCH_PREFIX + "%",)).fetchall()
    return [r[0] for r in rows]


# -- the sandbox role a reference SQL file runs as ------------------------------------------

SANDBOX_PREFIX = "pgreconcile_ref_"
# Advisory-lock class (first key) under which a run holds its sandbox role's name while the
# role exists: a role whose lock nobody holds belongs to a run that was killed.
_SANDBOX_LOCK_CLASS = 0x70677266


class SandboxUnavailable(ReconcileError):
    hint = ("grant CREATEROLE to the role pgreconcile connects as (it makes a temporary role "
            "that owns the scratch database only, with no rights on live), and let new roles "
            "log in with a password from this host (pg_hba.conf); or pass --scratch-dsn "
            "naming a separate scratch server")


@contextmanager
def sandbox_role(server: ConnectionSpec) -> Iterator["Sandbox"]:
    """A temporary LOGIN role with no rights at all (NOSUPERUSER NOCREATEDB NOCREATEROLE
    NOREPLICATION NOBYPASSRLS, logins for an hour), a random password only this process
    knows, always dropped; stale ones from killed runs are dropped first.

    It is INHERIT: its only membership is the implicit pg_database_owner of the scratch
    database it will own, which it needs to create in schema public (PostgreSQL 15+);
    nobody can grant it another one while it exists but the operator."""
    admin = admin_spec(server)
    name = f"{SANDBOX_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(32)
    with admin.connect() as conn:
        drop_stale_sandboxes(conn)
        conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (_SANDBOX_LOCK_CLASS, name))
        verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(),
                                                b"scram-sha-256").decode()
        try:
            # The verifier, not the password, goes to the server (and so to its log).
            conn.execute(sql.SQL(
                "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT "
                "NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 3 PASSWORD {} VALID UNTIL {}").format(
                    sql.Identifier(name), sql.Literal(verifier),
                    sql.Literal(_in(hours=1))))
        except psycopg.errors.InsufficientPrivilege as exc:
            raise SandboxUnavailable(
                "cannot create the role a reference SQL file runs as: "
                f"{str(exc).strip().splitlines()[0]}") from None
        try:
            superuser = conn.execute(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
            if not superuser:
                # Needed to hand it the scratch database (and to drop that again).
                conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(name)))
            yield Sandbox(name, password, admin)
        finally:
            _drop_sandbox(conn, name)
            conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))",
                         (_SANDBOX_LOCK_CLASS, name))


@dataclass
class Sandbox:
    """The temporary role. It may change its own password (any role may), so logins are
    closed while the file runs and reopened afterwards with a new password only this
    process knows."""

    role: str
    password: str = field(repr=False)
    admin: ConnectionSpec = field(repr=False)

    def own(self, dbname: str) -> None:
        """Make the role the owner of scratch database `dbname`, so it may create there
        what a dump creates, and nothing anywhere else."""
        with self.admin.connect() as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                sql.Identifier(dbname), sql.Identifier(self.role)))

    def spec(self, dbname: str) -> ConnectionSpec:
        spec = ConnectionSpec({k: v for k, v in self.admin.params.items()
                               if k not in ("passfile", "service")})
        return spec.with_params(dbname=dbname, user=self.role, password=self.password)

    @contextmanager
    def session(self, dbname: str) -> Iterator[psycopg.Connection]:
        """One connection to `dbname` as the role; no other login while it is open."""
        spec = self.spec(dbname)
        try:
            conn = spec.connect()
        except ConnectionFailed as exc:
            raise SandboxUnavailable(
                f"the temporary role {self.role} cannot log in to the scratch database: "
                f"{exc}") from None
        with conn:
            self._logins(until="epoch")
            yield conn

    def reopen(self, dbname: str) -> ConnectionSpec:
        """A new password, valid for an hour: the spec to read the scratch database with."""
        self.password = secrets.token_urlsafe(32)
        self._logins(until=_in(hours=1))
        return self.spec(dbname)

    def _logins(self, *, until: str) -> None:
        with self.admin.connect() as conn:
            verifier = conn.pgconn.encrypt_password(self.password.encode(), self.role.encode(),
                                                    b"scram-sha-256").decode()
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {} VALID UNTIL {}").format(
                sql.Identifier(self.role), sql.Literal(verifier), sql.Literal(until)))


def _in(*, hours: int) -> str:
    from datetime import datetime, timedelta, timezone
    return (datetime.now(timezone.utc) + timedelta(hours=hours)).isoformat()


def _drop_sandbox(conn, name: str) -> None:
    """Drop the databases the role owns (scratch ones only) and the role."""
    owned = conn.execute(
        "SELECT datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
        "WHERE r.rolname = %s", (name,)).fetchall()
    try:
        for (dbname,) in owned:
            if dbname.startswith(SCRATCH_PREFIX):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(dbname)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
    except psycopg.Error:
        pass   # still owns something outside a scratch database: left for a person to see


def drop_stale_sandboxes(conn) -> list[str]:
    """Drop sandbox roles whose run is gone (its advisory lock is free)."""
    stale = []
    names = [r[0] for r in conn.execute(
        "SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s) ORDER BY 1",
        (SANDBOX_PREFIX,)).fetchall()]
    for name in names:
        got = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                           (_SANDBOX_LOCK_CLASS, name)).fetchone()[0]
        if not got:
            continue
        try:
            _drop_sandbox(conn, name)
            stale.append(name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))",
                         (_SANDBOX_LOCK_CLASS, name))
    return stale


def list_sandbox_roles(server: ConnectionSpec) -> list[str]:
    with admin_spec(server).connect() as conn:
        return [r[0] for r in conn.execute(
            "SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s) ORDER BY 1",
            (SANDBOX_PREFIX,)).fetchall()]
