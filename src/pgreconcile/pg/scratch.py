"""Scratch databases: recognisable names, always dropped (also on error and Ctrl-C)."""
from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from typing import Iterator

from psycopg import sql

from pgreconcile.errors import ReconcileError
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
    provider = ("CASE datlocprovider WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu' "
                "ELSE 'builtin' END" if conn.info.server_version >= 150000 else "'libc'")
    row = conn.execute(f"SELECT pg_encoding_to_char(encoding), datcollate, datctype, {provider} "
                       "FROM pg_database WHERE datname = current_database()").fetchone()
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
    import psycopg
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
