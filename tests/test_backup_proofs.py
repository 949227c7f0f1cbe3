"""The proofs a backup records, taken the fast way, are still exact: sha256 of every file
equals hashlib over the final bytes, row counts equal count(*) in the dump's own snapshot
(index-only counts included, with writers committing meanwhile), the TOC count equals
`pg_restore --list`, the files are private. Real server, real pg_dump, through the CLI."""
from __future__ import annotations

import hashlib
import json
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from pgreconcile.pg import census
from pgreconcile.pg.toolchain import find_tool

from .support import cli, query, run_sql

# ~10 MB of heap (over census.INDEX_ONLY_MIN_PAGES) with a small primary key, vacuumed so
# the visibility map covers it: the shape counted by an index-only scan.
BIG_TABLE = """
SET synchronous_commit = on;  -- VACUUM marks a page all-visible only once the commit is flushed
CREATE TABLE ledger (id bigint PRIMARY KEY, note text NOT NULL, amount numeric NOT NULL);
INSERT INTO ledger SELECT g, repeat('x', 120), g FROM generate_series(1, 70000) g;
CREATE TABLE small (id int PRIMARY KEY, name text);
INSERT INTO small SELECT g, 'n' || g FROM generate_series(1, 50) g;
CREATE TABLE no_index (v int);
INSERT INTO no_index SELECT g FROM generate_series(1, 30) g;
"""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sha256sum(path: Path) -> str:
    return subprocess.run(["sha256sum", str(path)], check=True, capture_output=True,
                          text=True).stdout.split()[0]


@pytest.fixture
def big_db(db):
    run_sql(db, BIG_TABLE)
    with db.connect(autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    return db


def _index_only_tables(spec) -> set[str]:
    with spec.connect() as conn:
        return {f"{s}.{t}" for settings, chunk, _ in census.count_statements(conn)
                if settings.get("enable_seqscan") == "off" for s, t in chunk}


def test_counts_in_a_snapshot_stay_exact_while_writers_commit(big_db):
    """Rows inserted, updated and deleted by other sessions after the snapshot (clearing
    visibility-map bits) change nothing: each count, index-only or not, is the snapshot's."""
    assert _index_only_tables(big_db) == {"public.ledger"}
    show = ("SELECT current_setting('enable_seqscan'), "
            "current_setting('max_parallel_workers_per_gather')")
    with big_db.connect() as conn:
        before = conn.execute(show).fetchone()
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        conn.execute("SELECT pg_export_snapshot()").fetchone()
        with big_db.connect(autocommit=True) as writer:
            writer.execute("INSERT INTO ledger SELECT g, 'new', g FROM "
                           "generate_series(100001, 103000) g")
            writer.execute("DELETE FROM ledger WHERE id % 7 = 0")
            writer.execute("UPDATE ledger SET amount = amount + 1 WHERE id % 11 = 0")
            writer.execute("DELETE FROM small WHERE id <= 10")
            writer.execute("INSERT INTO no_index VALUES (1), (2)")
        fast = census.row_counts(conn)
        (settings, _, statement), = [s for s in census.count_statements(conn)
                                     if s[1] == [("public", "ledger")]]
        with census.planner_settings(conn, settings):
            plan = conn.execute(b"EXPLAIN " + statement.as_bytes(conn)).fetchall()
        assert "Index Only Scan" in str(plan), plan
        plain = census.row_counts(conn, index_only=False)
        after = conn.execute(show).fetchone()
        conn.execute("COMMIT")
    assert fast == plain == {"public.ledger": 70000, "public.no_index": 30, "public.small": 50}
    assert after == before  # the planner settings are put back
    live = dict(query(big_db, "SELECT 'ledger', count(*) FROM ledger UNION ALL "
                              "SELECT 'small', count(*) FROM small"))
    assert live == {"ledger": 70000 + 3000 - 10000 - 429, "small": 40}  # 429: 7 | 100001..103000


def test_backup_proofs_are_exact_with_writers_committing(big_db, make_db, server_major,
                                                         tmp_path):
    """Through the CLI, writers committing the whole time: the manifest's counts are those
    of the dump (restored and counted), sha256 is sha256sum's, the TOC count is
    pg_restore --list's, files are 0600."""
    stop = threading.Event()
    commits: list[int] = []

    def write() -> None:
        with big_db.connect(autocommit=True) as conn:
            n = 200000
            while not stop.is_set():
                n += 1
                conn.execute("INSERT INTO ledger VALUES (%s, 'w', 1), (%s, 'w', 2)",
                             (2 * n, 2 * n + 1))
                conn.execute("DELETE FROM ledger WHERE id = %s", (n - 199000,))  # 1001, ...
                commits.append(n)  # net one row more per round

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        proc = cli("backup", "--dsn", big_db.conninfo(), "--out-dir", str(tmp_path), "--json",
                   check=True)
        during = len(commits)
    finally:
        stop.set()
        writer.join()
    assert during > 0
    result = json.loads(proc.stdout)
    dump, manifest_path = Path(result["path"]), Path(result["manifest"])
    manifest = json.loads(manifest_path.read_text())
    assert manifest["sha256"] == _sha256(dump) == _sha256sum(dump)
    assert manifest["files"] == {dump.name: _sha256sum(dump)}
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    assert stat.S_IMODE(manifest_path.stat().st_mode) == 0o600

    restore = find_tool("pg_restore", server_major)
    listing = subprocess.run([restore.path, "--list", str(dump)], check=True,
                             capture_output=True, text=True).stdout
    assert manifest["toc_entries"] == len([line for line in listing.splitlines()
                                           if line and not line.startswith(";")])
    # the data pg_dump wrote: restored and counted the plain way
    copy = make_db("proofs_copy")
    subprocess.run([restore.path, "--no-owner", "--exit-on-error", "--no-password",
                    f"--dbname={copy.public_conninfo()}", str(dump)], env=copy.child_env(),
                   check=True, capture_output=True)
    with copy.connect() as conn:
        restored = census.row_counts(conn, index_only=False)
    assert manifest["row_counts"] == restored
    live = query(big_db, "SELECT count(*) FROM ledger")[0][0]
    assert 70000 <= restored["public.ledger"] < live == 70000 + len(commits)


def test_directory_backup_hashes_every_file(big_db, tmp_path):
    result = json.loads(cli("backup", "--dsn", big_db.conninfo(), "--out-dir", str(tmp_path),
                            "--format", "directory", "--jobs", "2", "--json",
                            check=True).stdout)
    root = Path(result["path"])
    manifest = json.loads(Path(result["manifest"]).read_text())
    on_disk = {str(p.relative_to(root)): _sha256sum(p)
               for p in sorted(root.rglob("*")) if p.is_file()}
    assert manifest["files"] == on_disk and len(on_disk) >= 4  # toc.dat + a file per table
    combined = "".join(f"{h}  {n}\n" for n, h in sorted(on_disk.items()))
    assert manifest["sha256"] == hashlib.sha256(combined.encode()).hexdigest()
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in root.rglob("*")
               if p.is_file())
    assert manifest["row_counts"]["public.ledger"] == 70000
