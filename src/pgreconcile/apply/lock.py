"""The reconcile lock: one run at a time changes a database, for the whole run.

Two forms, one rule:

* a session advisory lock, held while a process changes the database (apply, migrate,
  rollback). A run of the CLI (`reconcile`) holds it on a connection of its own from the
  backup to the report (`RunLock`), so no other run can interleave with its migrate, verify
  or rollback; the run's own stages see their run's lock and go on.
* a lease row (pgreconcile.run_lock) for runs whose stages are separate processes (the
  Ansible role: one module per stage). Each stage renews it under the advisory lock, the
  report stage releases it, and a lease not renewed within its time to live is over (a run
  killed between stages blocks others only that long).

A second run is refused at once, naming the holder.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pgreconcile.errors import LockNotAcquired, UsageError

ADVISORY_KEY = 0x70677263  # "pgrc": one reconcile per database at a time
RUN_APPLICATION = "pgreconcile run "  # application_name prefix of a run's lock connection
DEFAULT_LEASE_TTL = 900  # seconds a stage-by-stage run keeps the database between stages

LEASE_DDL = """
CREATE SCHEMA IF NOT EXISTS pgreconcile;
CREATE TABLE IF NOT EXISTS pgreconcile.run_lock (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    run_id      text NOT NULL,
    holder      text NOT NULL,
    ttl_seconds int NOT NULL,
    acquired_at timestamptz NOT NULL DEFAULT now(),
    renewed_at  timestamptz NOT NULL DEFAULT now()
);
"""


def check_run_id(run_id: str | None) -> str | None:
    if run_id is None:
        return None
    if not isinstance(run_id, str) or not run_id.strip() or len(run_id) > 40 \
            or not all(c.isalnum() or c in "-_.:" for c in run_id):
        raise UsageError(f"run id {run_id!r} is not valid",
                         hint="use 1-40 letters, digits and - _ . :")
    return run_id


@contextmanager
def reconcile_lock(conn, dbname: str, action: str, run_id: str | None = None
                   ) -> Iterator[None]:
    """Hold the lock for the block; `action` ("apply", "roll back") names the refusal.

    With `run_id`, the block belongs to that run: when the run's own lock connection
    (RunLock) holds the advisory lock it is not taken again; otherwise the advisory lock is
    taken for the block and the run's lease is claimed or renewed."""
    run_id = check_run_id(run_id)
    if run_id is not None and run_holds_lock(conn, run_id):
        yield
        return
    _take(conn, dbname, action)
    try:
        _refuse_other_lease(conn, dbname, action, run_id)
        if run_id is not None:
            _renew_lease(conn, run_id, action)
        yield
    finally:
        if not conn.broken:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_KEY,))


def _take(conn, dbname: str, action: str) -> None:
    if not conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_KEY,)).fetchone()[0]:
        raise LockNotAcquired(f"cannot {action}: another pgreconcile run holds the reconcile "
                              f"lock on {dbname!r}: {lock_holder(conn)}")


def run_holds_lock(conn, run_id: str) -> bool:
    """Whether the advisory lock is held right now by the lock connection of `run_id`."""
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.objid = %s AND l.granted "
        "AND a.datname = current_database() AND a.application_name = %s)",
        (ADVISORY_KEY, RUN_APPLICATION + run_id)).fetchone()[0]


def _lease(conn):
    if conn.execute("SELECT to_regclass('pgreconcile.run_lock')").fetchone()[0] is None:
        return None
    from pgreconcile.apply.ledger import refuse_untrusted
    refuse_untrusted(conn)  # a run_lock someone else made (a view, a trigger) is not read
    return conn.execute(
        "SELECT run_id, holder, renewed_at + make_interval(secs => ttl_seconds) > now(), "
        "renewed_at + make_interval(secs => ttl_seconds) FROM pgreconcile.run_lock"
    ).fetchone()


def _refuse_other_lease(conn, dbname: str, action: str, run_id: str | None) -> None:
    lease = _lease(conn)
    if lease and lease[2] and lease[0] != run_id:
        raise LockNotAcquired(
            f"cannot {action}: pgreconcile run {lease[0]} ({lease[1]}) is between its stages "
            f"on {dbname!r}; its lease runs until {lease[3]:%Y-%m-%d %H:%M:%S %Z}",
            hint="wait for that run to finish (its report stage releases the lease); if it "
                 "was killed, the lease ends by itself at the time shown")


def _renew_lease(conn, run_id: str, holder: str, ttl: int | None = None) -> None:
    from pgreconcile.apply.ledger import refuse_untrusted
    refuse_untrusted(conn)
    conn.execute(LEASE_DDL)
    conn.execute(
        "INSERT INTO pgreconcile.run_lock (run_id, holder, ttl_seconds) VALUES (%s, %s, %s) "
        "ON CONFLICT (singleton) DO UPDATE SET holder = EXCLUDED.holder, "
        "ttl_seconds = CASE WHEN run_lock.run_id = EXCLUDED.run_id AND %s::int IS NULL "
        "THEN run_lock.ttl_seconds ELSE EXCLUDED.ttl_seconds END, "
        "acquired_at = CASE WHEN run_lock.run_id = EXCLUDED.run_id THEN run_lock.acquired_at "
        "ELSE now() END, run_id = EXCLUDED.run_id, renewed_at = now()",
        (run_id, holder, ttl or DEFAULT_LEASE_TTL, ttl))


def claim_run(conn, dbname: str, run_id: str, holder: str,
              ttl: int = DEFAULT_LEASE_TTL) -> None:
    """Start (or renew) the lease of a stage-by-stage run; refused while another run holds
    the lock or a live lease."""
    run_id = check_run_id(run_id)
    if ttl < 1:
        raise UsageError(f"the run lock's time to live must be at least 1 s, not {ttl}")
    with reconcile_lock(conn, dbname, "start this run", run_id):
        _renew_lease(conn, run_id, holder, ttl)


def release_run(conn, run_id: str) -> bool:
    """End the lease of `run_id` (the report stage does, whatever happened). Another run's
    lease is never touched. True when there was one to end."""
    run_id = check_run_id(run_id)
    if conn.execute("SELECT to_regclass('pgreconcile.run_lock')").fetchone()[0] is None:
        return False
    return conn.execute("DELETE FROM pgreconcile.run_lock WHERE run_id = %s",
                        (run_id,)).rowcount > 0


class RunLock:
    """The lock of a whole run in one process (the CLI's `reconcile`): the advisory lock on a
    connection of its own, named after the run, held from the first change to the report."""

    def __init__(self, spec, run_id: str):
        self.spec, self.run_id = spec, check_run_id(run_id)
        self.conn = None

    def __enter__(self) -> RunLock:
        conn = self.spec.connect(autocommit=True)
        try:
            conn.execute("SELECT set_config('application_name', %s, false)",
                         (RUN_APPLICATION + self.run_id,))
            _take(conn, self.spec.dbname, "start this run")
            try:
                _refuse_other_lease(conn, self.spec.dbname, "start this run", self.run_id)
            except BaseException:
                conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_KEY,))
                raise
        except BaseException:
            conn.close()
            raise
        self.conn = conn
        return self

    def __exit__(self, *exc) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                if not conn.broken:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_KEY,))
            finally:
                conn.close()


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
