"""Issue 13, points 4 and 5, end to end through the CLI on a real server with real pg_dump:
retention and partial cleanup delete only what pgreconcile made (name pattern, inside the
backup directory, same server and database, this host's partials); `restore` only creates a
database unless --replace, and --replace blocks and ends sessions before its safety dump."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pgreconcile.pg.backup import _host_token

from .support import cli, query, run_sql

STAMP = "T000000000000Z"


def backup(spec, out: Path, *extra: str) -> dict:
    proc = cli("backup", "--dsn", spec.conninfo(), "--out-dir", str(out), "--json", *extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def manifest_of(result: dict) -> dict:
    return json.loads(Path(result["manifest"]).read_text())


def fake_backup(out: Path, template: dict, day: int, **changes) -> tuple[Path, Path]:
    """A backup file + manifest as another run would have written it (older stamp)."""
    name = f"{template['database']}-200001{day:02d}{STAMP}.dump"
    dump = out / name
    dump.write_bytes(b"dump of another run")
    data = {**template, "backup": name, "started_at": f"2000-01-{day:02d}T00:00:00Z",
            "files": {name: template["sha256"]}, **changes}
    manifest = out / name.replace(".dump", ".manifest.json")
    manifest.write_text(json.dumps(data))
    return dump, manifest


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def small_db(db):
    run_sql(db, "CREATE TABLE item (id serial PRIMARY KEY, v int NOT NULL);"
                "INSERT INTO item (v) SELECT g FROM generate_series(1, 100) g;")
    return db


def test_hostile_manifests_and_foreign_partials_delete_nothing(small_db, tmp_path):
    out, outside = tmp_path / "backups", tmp_path / "x"
    outside.mkdir()
    (outside / "precious.txt").write_text("not a backup")
    first = backup(small_db, out, "--keep", "1")
    template = manifest_of(first)
    assert template["server_id"].startswith("system_identifier:")
    db = template["database"]
    hostile = {1: "/", 2: "../x", 3: "", 4: str(outside), 5: str(outside / "precious.txt"),
               6: "../" + first["path"].rsplit("/", 1)[1]}
    for day, value in hostile.items():
        manifest = out / f"{db}-200001{day:02d}{STAMP}.manifest.json"
        manifest.write_text(json.dumps({**template, "backup": value,
                                        "started_at": f"2000-01-{day:02d}T00:00:00Z"}))
    # A symlink with a backup name, pointing out of the directory.
    link = out / f"{db}-20000107{STAMP}.dump"
    link.symlink_to(outside)
    (out / f"{db}-20000107{STAMP}.manifest.json").write_text(json.dumps(
        {**template, "backup": link.name, "started_at": "2000-01-07T00:00:00Z"}))
    # Malformed: not JSON, wrong types, a list, a manifest naming another's backup.
    (out / f"{db}-20000108{STAMP}.manifest.json").write_text("{not json")
    (out / f"{db}-20000109{STAMP}.manifest.json").write_text(json.dumps(
        {**template, "backup": f"{db}-20000109{STAMP}.dump", "verified": "yes",
         "row_counts": [1, 2]}))
    (out / f"{db}-20000110{STAMP}.manifest.json").write_text("[]")
    victim, _ = fake_backup(out, template, 11)
    (out / f"{db}-20000112{STAMP}.manifest.json").write_text(json.dumps(
        {**template, "backup": victim.name, "started_at": "2000-01-12T00:00:00Z"}))
    # Partials: another host's (its pid means nothing here), this host's of a live run,
    # a name pgreconcile does not make; and this host's of a dead run (the only one removed).
    base = f".{db}-20000113{STAMP}.dump"
    foreign = out / f"{base}.otherhost.{dead_pid()}.partial"
    alive = out / f"{base}.{_host_token()}.{os.getpid()}.partial"
    odd = out / f".something.{_host_token()}.{dead_pid()}.partial"
    stale = out / f"{base}.{_host_token()}.{dead_pid()}.partial"
    for p in (foreign, alive, odd, stale):
        p.write_bytes(b"in progress")
    (out / "notes.txt").write_text("mine")
    everything_before = {p.name for p in out.iterdir()} - {Path(first["path"]).name,
                                                            Path(first["manifest"]).name}

    second = backup(small_db, out, "--keep", "1")

    assert (outside / "precious.txt").read_text() == "not a backup"
    assert link.is_symlink() and (outside / "precious.txt").exists()
    after = {p.name for p in out.iterdir()}
    # The older real backup was rotated out; the fake one (11) is older than keep allows and
    # its manifest is valid, so it goes too; everything else stays, the stale partial aside.
    assert not Path(first["path"]).exists() and Path(second["path"]).exists()
    assert second["removed"] == [first["path"], str(victim)]
    kept = everything_before - {stale.name, victim.name,
                                victim.name.replace(".dump", ".manifest.json")}
    assert kept <= after, kept - after
    assert not stale.exists() and foreign.exists() and alive.exists() and odd.exists()
    warnings = "\n".join(second["warnings"])
    for day in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12):
        assert f"{db}-200001{day:02d}{STAMP}.manifest.json" in warnings, (day, warnings)
    assert stat.S_IMODE(Path(second["path"]).stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(second["manifest"]).stat().st_mode) == 0o600

    # The same hostile manifests given to backup-verify and restore: one clear error each.
    for day in (1, 2, 3, 7, 8, 9, 10):
        manifest = out / f"{db}-200001{day:02d}{STAMP}.manifest.json"
        for args in (["backup-verify", str(manifest)],
                     ["restore", str(manifest), "--dsn", small_db.conninfo(),
                      "--target-db", "pgrt_never_created"]):
            proc = cli(*args, "--json")
            assert proc.returncode == 1, (day, proc.stdout, proc.stderr)
            err = json.loads(proc.stdout)
            assert err["error"] in ("ManifestInvalid", "BackupUnverified"), err
            assert "Traceback" not in proc.stderr
    assert not query(small_db, "SELECT 1 FROM pg_database WHERE datname = 'pgrt_never_created'")


def test_same_database_name_on_two_servers_keeps_its_own_backups(small_db, server, tmp_path):
    """Backups of database D from another server (another system_identifier, what retention
    reads) and pre-identity manifests share the directory: none is counted or deleted."""
    out = tmp_path / "shared"
    role = f"{small_db.dbname}_owner"
    run_sql(server, sql.SQL("CREATE ROLE {} LOGIN; ALTER DATABASE {} OWNER TO {}").format(
        sql.Identifier(role), sql.Identifier(small_db.dbname), sql.Identifier(role))
        )
    run_sql(small_db, sql.SQL("ALTER TABLE item OWNER TO {}").format(sql.Identifier(role))
            )
    owner = small_db.with_params(user=role)
    try:
        # As a role without superuser: pg_control_system() still names the server.
        with server.connect() as conn:
            real_id = conn.execute("SELECT system_identifier FROM pg_control_system()"
                                   ).fetchone()[0]
        first = backup(owner, out, "--keep", "2")
        template = manifest_of(first)
        assert template["server_id"] == f"system_identifier:{real_id}"
        others = [fake_backup(out, template, day, server_id="system_identifier:42",
                              server="elsewhere:5432") for day in (1, 2, 3)]
        legacy = fake_backup(out, {k: v for k, v in template.items() if k != "server_id"}, 4)
        ours = [first] + [backup(owner, out, "--keep", "2") for _ in range(2)]
        # Where pg_control_system() is not granted (some managed servers), host:port names
        # the server; retention then never touches the backups named by system_identifier.
        run_sql(small_db, "REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC")
        fallback = backup(owner, out, "--keep", "1")
        assert manifest_of(fallback)["server_id"].startswith("address:")
        assert fallback["removed"] == []
    finally:
        run_sql(server, sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER; REASSIGN OWNED BY {} "
                                "TO CURRENT_USER").format(
            sql.Identifier(small_db.dbname), sql.Identifier(role)))
        with small_db.connect() as conn:
            conn.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER; DROP OWNED BY {}")
                         .format(sql.Identifier(role), sql.Identifier(role)))
        run_sql(server, sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    assert [Path(r["path"]).exists() for r in ours] == [False, True, True]
    assert ours[-1]["removed"] == [ours[0]["path"]]
    for dump, manifest in [*others, legacy]:
        assert dump.exists() and manifest.exists()


def test_restore_without_replace_refuses_any_existing_database(small_db, make_db, tmp_path):
    result = backup(small_db, tmp_path)
    looks_empty = make_db("looksempty")  # no tables, but a view, a function, a large object
    run_sql(looks_empty, "CREATE VIEW v AS SELECT 1 AS one;"
                         "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';"
                         "SELECT lo_from_bytea(0, 'data');")
    empty = make_db("empty")
    run_sql(small_db, "INSERT INTO item (v) VALUES (-1)")
    for target, extra in ((small_db, []), (looks_empty, []), (empty, []),
                          (empty, ["--dry-run"])):
        if True:
            proc = cli("restore", result["path"], "--dsn", small_db.conninfo(), "--target-db",
                       target.dbname, "--json", *extra)
            assert proc.returncode == 4, proc.stdout + proc.stderr
            assert json.loads(proc.stdout)["error"] == "RestoreRefused"
    assert query(small_db, "SELECT count(*) FROM item")[0][0] == 101
    assert query(looks_empty, "SELECT (SELECT count(*) FROM pg_largeobject_metadata), "
                              "(SELECT one FROM v), f()")[0] == (1, 1, 1)
    assert query(empty, "SELECT count(*) FROM pg_class WHERE relnamespace = "
                        "'public'::regnamespace")[0][0] == 0


class Writer(threading.Thread):
    """The application: inserts in autocommit until its session is ended, then keeps trying
    to reconnect and reads what the database holds, until stopped."""

    def __init__(self, spec):
        super().__init__(daemon=True)
        self.spec, self.stop = spec, threading.Event()
        self.inserted, self.ended_by, self.seen, self.refused = 0, "", [], 0
        self.conn = spec.connect()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.conn.execute("INSERT INTO item (v) VALUES (0)")
                self.inserted += 1
                time.sleep(0.005)
        except psycopg.Error as exc:
            self.ended_by = str(exc)
        while not self.stop.is_set():
            try:
                with psycopg.connect(self.spec.conninfo(), autocommit=True,
                                     connect_timeout=2) as conn:
                    self.seen.append(conn.execute("SELECT count(*) FROM item").fetchone()[0])
            except psycopg.Error:
                self.refused += 1
            time.sleep(0.02)


def test_restore_replace_ends_writers_before_the_safety_dump(small_db, server, tmp_path):
    result = backup(small_db, tmp_path / "b")
    run_sql(small_db, "INSERT INTO item (v) SELECT g FROM generate_series(1, 50) g")
    writer = Writer(small_db)
    writer.start()
    time.sleep(0.3)
    try:
        proc = cli("restore", result["path"], "--dsn", server.conninfo(), "--target-db",
                   small_db.dbname, "--replace", "--backup-dir", str(tmp_path / "safety"),
                   "--json")
    finally:
        writer.stop.set()
        writer.join(10)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    restored = json.loads(proc.stdout)
    assert restored["replaced"] is True and restored["row_counts_match"] is True
    assert "terminat" in writer.ended_by and writer.inserted > 0
    safety = Path(restored["safety_backup"])
    assert safety.exists() and stat.S_IMODE(safety.stat().st_mode) == 0o600
    safety_manifest = json.loads(safety.with_name(
        safety.name.replace(".dump", ".manifest.json")).read_text())
    # Every write the application made is in the safety backup; none came after it.
    assert safety_manifest["row_counts"]["public.item"] == 150 + writer.inserted
    assert safety_manifest["database"] == small_db.dbname
    # While it was replaced no connection reached the old or a half-restored database.
    assert writer.refused > 0 and set(writer.seen) <= {100}
    assert query(small_db, "SELECT count(*) FROM item")[0][0] == 100
    assert query(server, "SELECT datallowconn FROM pg_database WHERE datname = %s",
                 (small_db.dbname,)) == [(True,)]
    assert not query(server, "SELECT datname FROM pg_database WHERE datname LIKE "
                             "'pgreconcile\\_re%%'")


def test_failed_replace_puts_the_original_back(small_db, server, tmp_path):
    result = backup(small_db, tmp_path / "b")
    run_sql(small_db, "INSERT INTO item (v) VALUES (-1)")
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    proc = cli("restore", result["path"], "--dsn", server.conninfo(), "--target-db",
               small_db.dbname, "--replace", "--backup-dir", str(not_a_dir / "sub"), "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["error"] == "BackupFailed"
    assert query(small_db, "SELECT count(*) FROM item")[0][0] == 101
    assert query(server, "SELECT datallowconn FROM pg_database WHERE datname = %s",
                 (small_db.dbname,)) == [(True,)]
    assert not query(server, "SELECT datname FROM pg_database WHERE datname LIKE "
                             "'pgreconcile\\_re%%'")
