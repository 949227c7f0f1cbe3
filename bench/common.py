"""What the benchmarks share: the machine's load, scratch databases, the drifted pettycash
database they are built on, and pgbench writers with the figures read from their logs.

Not a benchmark (bench/run.py runs only ``bench_*.py``); the benchmarks import it as
``common``: bench/ is on ``sys.path`` when bench/run.py runs them.
"""
from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "pettycash"


# -- the machine and the server ---------------------------------------------------------

def loadavg() -> str:
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "n/a"


def busy(*loads: str) -> bool:
    """More than half the CPUs busy with something else (1-minute load average)."""
    cpus = os.cpu_count() or 1
    return any(load != "n/a" and float(load.split()[0]) > cpus / 2 for load in loads)


def median(values):
    """The median of the values that are not None; None when there are none."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def create_database(admin, name: str, template: str = "template0") -> None:
    """`name`, dropped first if it exists, as a copy of `template`."""
    from pgreconcile.pg.scratch import drop_database
    drop_database(admin, name)
    with admin.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)))


def checkpoint(admin) -> None:
    with admin.connect() as conn:
        conn.execute("CHECKPOINT")


def fresh_copy(admin, name: str, template: str, loads: list[str]) -> str:
    """`name` as a fresh copy of `template`, between two CHECKPOINTs (so an arm starts with
    no dirty pages of the last one); the load average then, also appended to `loads`."""
    checkpoint(admin)
    create_database(admin, name, template=template)
    checkpoint(admin)
    loads.append(loadavg())
    return loads[-1]


def build_drifted(admin, name: str, rows: int) -> tuple[float, int, str, int]:
    """Database `name` (re)created with the drifted pettycash database of `rows` payments
    (examples/pettycash/make_drift.py), vacuumed; (build seconds, server major, server
    version, database size in bytes)."""
    from pgreconcile.pg.toolchain import server_major

    sys.path.insert(0, str(EXAMPLE))
    try:
        from make_drift import build_drifted_database
    finally:
        sys.path.remove(str(EXAMPLE))

    spec = admin.with_dbname(name)
    create_database(admin, name)
    print(f"building the drifted pettycash database ({rows:,} payments)...", flush=True)
    t0 = time.perf_counter()
    build_drifted_database(spec.conninfo(), rows=rows, python=sys.executable)
    build_s = time.perf_counter() - t0
    with spec.connect(autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")  # settle hint bits: every run reads the same pages
        major = server_major(conn)
        version = conn.execute("SHOW server_version").fetchone()[0]
        db_size = int(conn.execute(
            "SELECT pg_database_size(current_database())").fetchone()[0])
    return build_s, major, version, db_size


def clean_up(admin, args, workdir: Path, *databases: str, keep: str | None = None) -> None:
    """The work directory and the databases gone; `keep` too unless --keep-db."""
    from pgreconcile.pg.scratch import drop_database
    shutil.rmtree(workdir, ignore_errors=True)
    for name in databases:
        drop_database(admin, name)
    if keep is not None and not getattr(args, "keep_db", False):
        drop_database(admin, keep)


# -- pgbench writers --------------------------------------------------------------------

def add_writer_arguments(parser, name: str) -> None:
    """The benchmark's --<name>-clients and --<name>-threads: pgbench's -c and -j."""
    option = name.replace("_", "-")
    parser.add_argument(f"--{option}-clients", type=int, default=4,
                        help=f"{name} benchmark: pgbench clients (-c, default 4)")
    parser.add_argument(f"--{option}-threads", type=int, default=2,
                        help=f"{name} benchmark: pgbench threads (-j, default 2)")


def read_pgbench_logs(prefix: Path, names: list[str] | tuple[str, ...] = ()
                      ) -> tuple[list[tuple[float, float]], int, int, dict[str, int]]:
    """(completion epoch seconds, latency seconds) of every completed transaction, the
    numbers of failed and skipped ones, and completed transactions by script name (`names`
    in pgbench's script order).

    Log lines: client_id transaction_no time script_no time_epoch time_us [schedule_lag]
    [retries]; `time` (µs; from the scheduled start under --rate) is `failed` or `skipped`
    for a transaction that did not complete.
    """
    done, failed, skipped = [], 0, 0
    names = list(names)
    kinds = dict.fromkeys(names, 0)
    for path in prefix.parent.glob(prefix.name + ".*"):
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) < 6:
                continue
            if parts[2] == "failed":
                failed += 1
                continue
            if parts[2] == "skipped":
                skipped += 1
                continue
            if not parts[2].isdigit():
                continue
            try:
                end = int(parts[4]) + int(parts[5]) / 1e6
            except ValueError:
                continue
            done.append((end, int(parts[2]) / 1e6))
            if parts[3].isdigit() and int(parts[3]) < len(names):
                kinds[names[int(parts[3])]] += 1
    done.sort()
    return done, failed, skipped, kinds


def window_stats(txns: list[tuple[float, float]], t0: float, t1: float,
                 slow: float = 1.0) -> dict:
    """Writer throughput and latency over [t0, t1] (epoch seconds); `over_1s` counts the
    transactions overlapping it that took longer than `slow` seconds."""
    length = max(t1 - t0, 1e-9)
    completed = sum(1 for end, _ in txns if t0 <= end <= t1)
    overlapping = sorted(lat for end, lat in txns if end >= t0 and end - lat <= t1)
    p99 = overlapping[int(0.99 * (len(overlapping) - 1))] if overlapping else None
    return {"seconds": round(length, 3), "transactions": completed,
            "tps": round(completed / length, 1),
            "max_latency": round(overlapping[-1], 4) if overlapping else None,
            "p99_latency": round(p99, 4) if p99 is not None else None,
            "over_1s": sum(1 for lat in overlapping if lat > slow)}


class Writers:
    """pgbench against one database, stopped by terminating its sessions.

    A benchmark subclasses it with its `scripts` ({name: (weight, script text)}), the `app`
    word of the sessions' application_name and any extra pgbench variables (`defines`).
    `rate` > 0 fixes the offered load (pgbench --rate); 0 runs the writers flat out.
    """

    scripts: dict[str, tuple[int, str]] = {}
    app = "writer"
    defines: dict[str, object] = {}

    def __init__(self, pgbench: str, spec, admin, workdir: Path, tag: str, rows: int,
                 clients: int, threads: int, rate: float):
        self.admin, self.clients = admin, clients
        self.appname = f"pgreconcile-bench-{self.app}-{os.getpid()}-{tag}"
        self.prefix = workdir / f"pgbench-{tag}"
        files = []
        for name, (weight, text) in self.scripts.items():
            path = workdir / f"writer-{name}.sql"
            if not path.exists():
                path.write_text(text)
            files.append(f"--file={path}@{weight}")
        self.argv = [pgbench, "--no-vacuum", "--protocol=prepared", f"--client={clients}",
                     f"--jobs={threads}", "--time=86400", *files, f"--define=rows={rows}",
                     *(f"--define={k}={v}" for k, v in self.defines.items()), "--log",
                     f"--log-prefix={self.prefix}"]
        if rate > 0:
            self.argv.append(f"--rate={rate}")
        self.argv.append(spec.public_conninfo())
        self.env = {**spec.child_env(), "PGAPPNAME": self.appname}
        self.proc: subprocess.Popen | None = None
        self.stderr = ""
        self.alive_at_stop: int | None = None

    def _sessions(self) -> int:
        with self.admin.connect() as conn:
            return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE "
                                "application_name = %s", (self.appname,)).fetchone()[0]

    def __enter__(self):
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=self.prefix.parent)
        deadline = time.time() + 30
        while time.time() < deadline:  # started when all its sessions are there
            if self.proc.poll() is not None:
                raise RuntimeError(f"pgbench exited {self.proc.returncode}: "
                                   f"{self.proc.stderr.read()[-800:]}")
            if self._sessions() >= self.clients:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("pgbench did not connect within 30 s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None and self.alive_at_stop is None:
                self.alive_at_stop = 0  # it exited on its own: every client is gone
                _out, self.stderr = self.proc.communicate()
            return
        # Before stopping them: a client that aborted on its own has closed its session.
        self.alive_at_stop = self._sessions()
        with self.admin.connect() as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                         "application_name = %s", (self.appname,))
        try:
            _out, self.stderr = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)  # our own child, by its pid
            _out, self.stderr = self.proc.communicate(timeout=30)

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def aborted_clients(self) -> int:
        """Clients that aborted before the stop (their sessions were already gone)."""
        return self.clients - (self.alive_at_stop or 0) if self.proc is not None else 0

    def logs(self) -> tuple[list[tuple[float, float]], int, int, dict[str, int]]:
        """read_pgbench_logs of this run, with the scripts' names."""
        return read_pgbench_logs(self.prefix, list(self.scripts))

    def transactions(self) -> list[tuple[float, float]]:
        return self.logs()[0]


def writers_alone(writers: Writers, lead: float, seconds: float, tail: float
                  ) -> tuple[float, float]:
    """The writers alone for `seconds` after `lead` and before `tail`, then stopped; the
    window (epoch seconds)."""
    with writers:
        time.sleep(lead)
        t0 = time.time()
        time.sleep(seconds)
        t1 = time.time()
        time.sleep(tail)
        writers.stop()
    return t0, t1
