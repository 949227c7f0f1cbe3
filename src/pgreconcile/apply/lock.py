"""The reconcile lock: a session advisory lock, so one run at a time changes a database
(apply and rollback alike). A second run is refused at once, naming the holder."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pgreconcile.errors import LockNotAcquired

ADVISORY_KEY = 0x70677263  # "pgrc": one reconcile per database at a time


@contextmanager
def reconcile_lock(conn, dbname: str, action: str) -> Iterator[None]:
    """Hold the lock for the block; `action` ("apply", "roll back") names the refusal."""
    if not conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_KEY,)).fetchone()[0]:
        raise LockNotAcquired(f"cannot {action}: another pgreconcile run holds the reconcile "
                              f"lock on {dbname!r}: {lock_holder(conn)}")
    try:
        yield
    finally:
        if not conn.broken:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_KEY,))


def lock_holder(conn) -> str:
    """Who holds the reconcile lock, as a person can find it in pg_stat_activity."""
    row = conn.execute(
        "SELECT a.pid, a.usename, a.application_name, a.client_addr, a.backend_start "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
        "AND l.objid = %s AND l.granted AND a.datname = current_database() LIMIT 1",
        (ADVISORY_KEY,)).fetchone()
    if not row:
        return "an unknown session"
    return f"pid {row[0]} (user {row[1]}, application {row[2] or '-'}, since {row[4]:%H:%M:%S})"
