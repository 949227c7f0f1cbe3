"""Backups that are proven before they are called backups.

pg_dump writes to a hidden `.partial` name; only after pg_dump exited cleanly,
printed no error, wrote something `pg_restore --list` can read, and every file
is fsynced and hashed is it renamed to its final name and given a manifest.
Row counts and the schema fingerprint are taken in the very snapshot pg_dump
dumps (`pg_export_snapshot` + `--snapshot`), so a restore can be compared
with the manifest exactly.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pgreconcile import __version__
from pgreconcile.errors import (
    BackupFailed,
    BackupUnverified,
    InsufficientSpace,
    RestoreRefused,
    UsageError,
)
from pgreconcile.files import restrict_acl, sync_directory, utc_now, write_private_json
from pgreconcile.pg import census
from pgreconcile.pg.connection import ConnectionSpec, redact
from pgreconcile.pg.scratch import admin_spec, create_database, drop_database, scratch_name
from pgreconcile.pg.toolchain import Tool, find_tool, server_major
from pgreconcile.progress import NULL, Reporter

MANIFEST_SUFFIX = ".manifest.json"
PARTIAL_SUFFIX = ".partial"
FORMATS = {"custom": ("c", ".dump"), "directory": ("d", ".dir")}
_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class BackupManifest:
    """Everything needed to trust, verify and restore one backup. Never holds a password."""

    backup: str                      # file or directory name, relative to the manifest
    format: str                      # custom | directory
    database: str
    server: str                      # "host:port" as connected (no user, no password)
    server_version: str
    pg_dump: dict
    started_at: str
    finished_at: str
    size_bytes: int
    database_size_bytes: int
    sha256: str                      # of the file, or of the sorted per-file list for a directory
    files: dict[str, str]            # relative path -> sha256
    row_counts: dict[str, int]
    schema_fingerprint: str
    toc_entries: int
    verified: bool
    test_restore: dict | None = None
    tool_version: str = __version__

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "BackupManifest":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class BackupResult:
    path: str
    manifest: str
    sha256: str
    verified: bool
    manifest_data: BackupManifest
    removed: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"path": self.path, "manifest": self.manifest, "sha256": self.sha256,
                "verified": self.verified, "changed": True,
                "database": self.manifest_data.database,
                "size_bytes": self.manifest_data.size_bytes,
                "row_counts": self.manifest_data.row_counts,
                "schema_fingerprint": self.manifest_data.schema_fingerprint,
                "server_version": self.manifest_data.server_version,
                "pg_dump": self.manifest_data.pg_dump,
                "test_restore": self.manifest_data.test_restore,
                "removed": list(self.removed)}


@dataclass(frozen=True)
class VerifyResult:
    path: str
    manifest: str
    ok: bool
    checks: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"path": self.path, "manifest": self.manifest, "verified": self.ok,
                "checks": self.checks}


@dataclass(frozen=True)
class RestoreResult:
    path: str
    target_db: str
    verified: bool
    row_counts_match: bool
    fingerprint_match: bool
    replaced: bool
    safety_backup: str | None
    duration_s: float

    def to_dict(self) -> dict:
        return {**asdict(self), "changed": True}


@dataclass(frozen=True)
class BackupIntent:
    """What a backup would do, for check mode (`--dry-run`, Ansible `--check`)."""

    database: str
    server_version: str
    database_size_bytes: int
    tables: int
    out_dir: str
    format: str
    pg_dump: dict
    free_bytes: int

    def to_dict(self) -> dict:
        return {**asdict(self), "changed": False, "would_change": True}


# --------------------------------------------------------------------------- helpers
def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text) or "db"


def _server_label(spec: ConnectionSpec) -> str:
    host = spec.params.get("host") or os.environ.get("PGHOST") or "local"
    port = spec.params.get("port") or os.environ.get("PGPORT") or "5432"
    return f"{host}:{port}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _hash_backup(path: Path, name: str | None = None) -> tuple[str, dict[str, str]]:
    """sha256 of the backup; a single file is keyed by its final `name`."""
    if path.is_dir():
        files = {str(p.relative_to(path)): sha256_file(p)
                 for p in sorted(path.rglob("*")) if p.is_file()}
        combined = hashlib.sha256("".join(f"{h}  {n}\n" for n, h in sorted(files.items()))
                                  .encode()).hexdigest()
        return combined, files
    digest = sha256_file(path)
    return digest, {name or path.name: digest}


def _fsync_tree(path: Path) -> None:
    targets = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    for target in targets:
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    sync_directory(path.parent)
    if path.is_dir():
        sync_directory(path)


def _chmod_private(path: Path) -> None:
    if path.is_dir():
        path.chmod(0o700)
        for p in path.rglob("*"):
            p.chmod(0o700 if p.is_dir() else 0o600)
    else:
        path.chmod(0o600)
    restrict_acl(path)  # Windows: mode bits mean nothing there; icacls, current user only


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _stderr_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines()
            if re.search(r"\b(error|fatal|panic)\b", line, re.I)]


def _dir_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _clean_stale_partials(out_dir: Path) -> list[str]:
    """Remove partial dumps left by runs that were killed (their pid is gone)."""
    removed = []
    for partial in out_dir.glob(f".*{PARTIAL_SUFFIX}"):
        m = re.search(r"\.(\d+)\.partial$", partial.name)
        if m and _pid_alive(int(m.group(1))):
            continue
        _remove(partial)
        removed.append(partial.name)
    return removed


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        try:
            import psutil
        except ImportError:
            return True
        return psutil.pid_exists(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check_out_dir(out_dir: Path, needed: int) -> int:
    try:
        out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise BackupFailed(f"cannot create backup directory {out_dir}: {exc.strerror}",
                           hint="choose a writable --out-dir") from None
    if not out_dir.is_dir():
        raise BackupFailed(f"--out-dir {out_dir} is not a directory", hint="choose a directory")
    probe = out_dir / f".pgreconcile-write-probe.{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise BackupFailed(f"backup directory {out_dir} is not writable: {exc.strerror}",
                           hint="choose a writable --out-dir or fix its permissions") from None
    free = shutil.disk_usage(out_dir).free
    if free < needed:
        raise InsufficientSpace(
            f"backup directory {out_dir} has {free:,} bytes free; the database is "
            f"{needed:,} bytes and the dump may need up to that much")
    return free


# --------------------------------------------------------------------------- backup
def describe_backup(spec: ConnectionSpec, out_dir: Path, *, fmt: str = "custom",
                    pg_bin_dir: str | None = None) -> BackupIntent:
    """Check mode: what `create_backup` would dump and with which pg_dump; changes nothing."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown backup format {fmt!r}; use custom or directory")
    with spec.connect() as conn:
        tool = find_tool("pg_dump", server_major(conn), pg_bin_dir)
        size = census.database_size(conn)
        tables = len(census.user_tables(conn))
        version = conn.execute("SHOW server_version").fetchone()[0]
    existing = out_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    return BackupIntent(spec.dbname, version, size, tables, str(out_dir), fmt, tool.to_dict(),
                        free)


def create_backup(spec: ConnectionSpec, out_dir: str | Path, *, fmt: str = "custom",
                  jobs: int = 1, test_restore: bool = False, keep: int | None = None,
                  pg_bin_dir: str | None = None, compress: str | None = None,
                  reporter: Reporter = NULL) -> BackupResult:
    """pg_dump → fsync → verify → rename → manifest (0600) → optional test restore → retention."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown backup format {fmt!r}; use custom or directory")
    if jobs > 1 and fmt != "directory":
        raise UsageError("--jobs > 1 needs --format directory (pg_dump dumps in parallel "
                         "only into a directory)")
    if keep is not None and keep < 1:
        raise UsageError("--keep must be at least 1 (the backup just made is always kept)")
    out_dir = Path(out_dir).absolute()
    started = utc_now()
    old_umask = os.umask(0o077)
    try:
        with spec.connect() as conn:
            major = server_major(conn)
            tool = find_tool("pg_dump", major, pg_bin_dir)
            db_size = census.database_size(conn)
            version = conn.execute("SHOW server_version").fetchone()[0]
            _check_out_dir(out_dir, db_size)
            _clean_stale_partials(out_dir)
            reporter.info(f"backing up {spec.describe()} ({db_size:,} bytes) with "
                          f"{tool.path} {tool.version}")

            letter, suffix = FORMATS[fmt]
            final = out_dir / f"{_safe_name(spec.dbname)}-{_stamp()}{suffix}"
            partial = out_dir / f".{final.name}.{os.getpid()}{PARTIAL_SUFFIX}"
            # Facts for the manifest are read in the snapshot pg_dump will dump.
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            argv = [tool.path, f"--format={letter}", f"--file={partial}",
                    f"--snapshot={snapshot}", "--no-password",
                    f"--dbname={spec.public_conninfo()}"]
            if jobs > 1:
                argv.append(f"--jobs={jobs}")
            if compress:
                argv.append(f"--compress={compress}")
            try:
                proc = subprocess.Popen(argv, env=spec.child_env(), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
                stderr_box: list[str] = []
                reader = threading.Thread(target=lambda: stderr_box.append(proc.stderr.read()),
                                          daemon=True)
                reader.start()
                counts = census.row_counts(conn, reporter)
                fingerprint = census.schema_fingerprint(conn)
                # Needed only after the dump; looked up while pg_dump runs.
                restore_tool = _sibling_tool(tool, "pg_restore") or find_tool(
                    "pg_restore", major, pg_bin_dir)
                with reporter.task("pg_dump", total=None) as task:
                    while True:
                        try:
                            proc.wait(timeout=0.1)
                            break
                        except subprocess.TimeoutExpired:
                            if partial.exists():
                                task.update(completed=_dir_size(partial) if partial.is_dir()
                                            else partial.stat().st_size)
                reader.join()
                conn.execute("COMMIT")
                stderr = redact("".join(stderr_box))
                problems = _stderr_errors(stderr)
                if proc.returncode != 0 or problems:
                    detail = (problems or stderr.strip().splitlines() or ["no message"])[-1]
                    raise BackupFailed(f"pg_dump exited with code {proc.returncode}: {detail}")
                if not partial.exists() or _dir_size(partial) == 0:
                    raise BackupUnverified("pg_dump reported success but wrote an empty backup "
                                           f"({partial.name}); it was discarded")
                _chmod_private(partial)
                _fsync_tree(partial)
                toc = _restore_list(restore_tool, partial)
                digest, files = _hash_backup(partial, final.name)
                os.replace(partial, final)
                sync_directory(out_dir)
            except BaseException:
                _remove(partial)
                raise
    finally:
        os.umask(old_umask)

    manifest_path = final.with_name(final.name.rsplit(".", 1)[0] + MANIFEST_SUFFIX)
    manifest = BackupManifest(
        backup=final.name, format=fmt, database=spec.dbname, server=_server_label(spec),
        server_version=version, pg_dump=tool.to_dict(), started_at=started,
        finished_at=utc_now(), size_bytes=_dir_size(final), database_size_bytes=db_size,
        sha256=digest, files=files, row_counts=counts, schema_fingerprint=fingerprint,
        toc_entries=toc, verified=True)
    write_private_json(manifest_path, manifest.to_dict(), durable=True)
    reporter.info(f"backup written: {final} (sha256 {digest[:12]}…, {toc} TOC entries)")

    if test_restore:
        try:
            outcome = trial_restore(final, spec, pg_bin_dir=pg_bin_dir, reporter=reporter)
        except BaseException:
            write_private_json(manifest_path, {**manifest.to_dict(), "verified": False,
                                               "test_restore": {"ok": False}}, durable=True)
            raise
        manifest = BackupManifest.from_dict({**manifest.to_dict(), "test_restore": outcome})
        write_private_json(manifest_path, manifest.to_dict(), durable=True)

    removed = apply_retention(out_dir, spec.dbname, keep, protect=final) if keep else []
    return BackupResult(str(final), str(manifest_path), digest, True, manifest, tuple(removed))


def _sibling_tool(tool: Tool, name: str) -> Tool | None:
    """pg_restore from the same directory as the chosen pg_dump (same version by build)."""
    path = Path(tool.path).with_name(name)
    if path.exists() and os.access(path, os.X_OK):
        return Tool(name, str(path), tool.version, tool.major, tool.source)
    return None


def _restore_list(tool: Tool, path: Path) -> int:
    """`pg_restore --list` must read the archive; returns the number of TOC entries."""
    proc = subprocess.run([tool.path, "--list", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BackupUnverified(f"pg_restore --list cannot read {path.name}: "
                               f"{redact(proc.stderr.strip()) or 'exit ' + str(proc.returncode)}")
    entries = [line for line in proc.stdout.splitlines() if line and not line.startswith(";")]
    if not entries:
        raise BackupUnverified(f"{path.name} has no table of contents entries")
    return len(entries)


# --------------------------------------------------------------------------- verify
def find_manifest(path: str | Path) -> tuple[Path, Path]:
    """Accept the dump, its directory or its manifest; return (backup path, manifest path)."""
    path = Path(path).absolute()
    if path.name.endswith(MANIFEST_SUFFIX):
        manifest = path
        if not manifest.exists():
            raise BackupUnverified(f"manifest {manifest} does not exist")
        data = json.loads(manifest.read_text())
        return manifest.parent / data["backup"], manifest
    if not path.exists():
        raise BackupUnverified(f"backup {path} does not exist")
    manifest = path.with_name(path.name.rsplit(".", 1)[0] + MANIFEST_SUFFIX)
    if not manifest.exists():
        raise BackupUnverified(f"backup {path.name} has no manifest ({manifest.name}); "
                               "without it the backup cannot be proven")
    return path, manifest


def load_manifest(path: str | Path) -> BackupManifest:
    _, manifest = find_manifest(path)
    try:
        return BackupManifest.from_dict(json.loads(manifest.read_text()))
    except (ValueError, TypeError) as exc:
        raise BackupUnverified(f"manifest {manifest.name} is unreadable: {exc}") from None


def verify_backup(path: str | Path, *, pg_bin_dir: str | None = None,
                  reporter: Reporter = NULL) -> VerifyResult:
    """Re-check every file's checksum and that pg_restore can read the archive."""
    backup, manifest_path = find_manifest(path)
    manifest = load_manifest(manifest_path)
    if not backup.exists():
        raise BackupUnverified(f"backup {backup} named by {manifest_path.name} is missing")
    checks: dict = {}
    with reporter.task("verifying checksums", total=len(manifest.files)):
        digest, files = _hash_backup(backup)
    bad = sorted(name for name in set(files) | set(manifest.files)
                 if files.get(name) != manifest.files.get(name))
    checks["sha256"] = not bad and digest == manifest.sha256
    if bad:
        raise BackupUnverified(f"checksum mismatch in {backup.name}: "
                               f"{', '.join(bad[:5])} differ from the manifest; the backup was "
                               "changed or damaged after it was written")
    major = int(str(manifest.server_version).split(".")[0])
    tool = find_tool("pg_restore", major, pg_bin_dir)
    checks["toc_entries"] = _restore_list(tool, backup)
    if checks["toc_entries"] != manifest.toc_entries:
        raise BackupUnverified(f"{backup.name} lists {checks['toc_entries']} entries, "
                               f"the manifest says {manifest.toc_entries}")
    checks["readable"] = True
    return VerifyResult(str(backup), str(manifest_path), True, checks)


# --------------------------------------------------------------------------- restore
def _pg_restore(tool: Tool, backup: Path, target: ConnectionSpec, jobs: int,
                no_owner: bool) -> None:
    argv = [tool.path, "--exit-on-error", "--no-password",
            f"--dbname={target.public_conninfo()}"]
    if jobs > 1:
        argv.append(f"--jobs={jobs}")
    if no_owner:
        argv += ["--no-owner", "--no-privileges"]
    argv.append(str(backup))
    proc = subprocess.run(argv, env=target.child_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        lines = redact(proc.stderr.strip()).splitlines() or [f"exit code {proc.returncode}"]
        raise BackupFailed(f"pg_restore into {target.dbname!r} failed: {lines[-1]}",
                           hint="read the pg_restore message; a scratch database is dropped, a "
                                "named target is left for inspection")


def _compare(manifest: BackupManifest, target: ConnectionSpec) -> tuple[bool, bool, dict]:
    with target.connect() as conn:
        counts = census.row_counts(conn)
        fingerprint = census.schema_fingerprint(conn)
    mismatched = {t: {"manifest": manifest.row_counts.get(t), "restored": counts.get(t)}
                  for t in set(counts) | set(manifest.row_counts)
                  if counts.get(t) != manifest.row_counts.get(t)}
    return not mismatched, fingerprint == manifest.schema_fingerprint, mismatched


def trial_restore(path: str | Path, server: ConnectionSpec, *, jobs: int = 1,
                        pg_bin_dir: str | None = None, reporter: Reporter = NULL) -> dict:
    """Restore into a scratch database, compare with the manifest, always drop it."""
    backup, _ = find_manifest(path)
    manifest = load_manifest(path)
    admin = admin_spec(server)
    name = scratch_name("restoretest")
    started = time.monotonic()
    with server.connect() as conn:
        tool = find_tool("pg_restore", server_major(conn), pg_bin_dir)
    create_database(admin, name)
    try:
        target = server.with_dbname(name)
        with reporter.task(f"test restore into {name}"):
            _pg_restore(tool, backup, target, jobs, no_owner=True)
        counts_ok, fp_ok, mismatched = _compare(manifest, target)
    finally:
        drop_database(admin, name)
    if not counts_ok or not fp_ok:
        raise BackupUnverified(
            f"test restore of {backup.name} does not match its manifest: "
            + (f"row counts differ for {sorted(mismatched)[:5]}" if not counts_ok else
               "schema fingerprint differs"))
    return {"ok": True, "row_counts_match": True, "fingerprint_match": True,
            "tables": len(manifest.row_counts), "duration_s": round(time.monotonic() - started, 3)}


def _database_state(admin: ConnectionSpec, name: str) -> str:
    """'absent', 'empty' or 'nonempty' (has user tables)."""
    with admin.connect() as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return "absent"
    with admin.with_dbname(name).connect() as conn:
        return "nonempty" if census.user_tables(conn) else "empty"


def target_state(server: ConnectionSpec, name: str) -> str:
    """'absent', 'empty' or 'nonempty': what a restore into `name` would meet."""
    return _database_state(admin_spec(server), name)


def restore_backup(path: str | Path, server: ConnectionSpec, target_db: str, *,
                   replace: bool = False, jobs: int = 1, pg_bin_dir: str | None = None,
                   safety_backup_dir: str | Path | None = None, no_owner: bool = False,
                   reporter: Reporter = NULL) -> RestoreResult:
    """Restore a verified backup into `target_db` (new by default)."""
    started = time.monotonic()
    backup, manifest_path = find_manifest(path)
    verify_backup(backup, pg_bin_dir=pg_bin_dir, reporter=reporter)
    manifest = load_manifest(manifest_path)
    admin = admin_spec(server)
    state = _database_state(admin, target_db)
    safety = None
    if state == "nonempty":
        if not replace:
            raise RestoreRefused(f"database {target_db!r} exists and is not empty; "
                                 "nothing was changed")
        reporter.info(f"taking a safety backup of {target_db!r} before replacing it")
        safety = create_backup(server.with_dbname(target_db),
                               safety_backup_dir or backup.parent, pg_bin_dir=pg_bin_dir,
                               reporter=reporter).path
    if state != "absent":
        drop_database(admin, target_db)
    with server.connect() as conn:
        tool = find_tool("pg_restore", server_major(conn), pg_bin_dir)
    create_database(admin, target_db)
    target = server.with_dbname(target_db)
    with reporter.task(f"pg_restore into {target_db}"):
        _pg_restore(tool, backup, target, jobs, no_owner)
    counts_ok, fp_ok, mismatched = _compare(manifest, target)
    if not counts_ok:
        raise BackupUnverified(f"restored {target_db!r} but row counts differ from the manifest "
                               f"for {sorted(mismatched)[:5]}",
                               hint=f"inspect {target_db!r}; do not switch to it")
    return RestoreResult(str(backup), target_db, counts_ok and fp_ok, counts_ok, fp_ok,
                         state == "nonempty", safety, round(time.monotonic() - started, 3))


# --------------------------------------------------------------------------- retention
def list_backups(out_dir: str | Path, database: str | None = None) -> list[BackupManifest]:
    found = []
    for manifest_path in Path(out_dir).glob(f"*{MANIFEST_SUFFIX}"):
        try:
            manifest = BackupManifest.from_dict(json.loads(manifest_path.read_text()))
        except (ValueError, TypeError, OSError):
            continue
        if database is None or manifest.database == database:
            found.append(manifest)
    return sorted(found, key=lambda m: (m.started_at, m.backup), reverse=True)


def apply_retention(out_dir: str | Path, database: str, keep: int,
                    protect: Path | None = None) -> list[str]:
    """Keep the newest `keep` verified backups of `database`; never delete `protect`."""
    out_dir = Path(out_dir)
    verified = [m for m in list_backups(out_dir, database) if m.verified]
    kept = 0
    removed = []
    for manifest in verified:
        is_protected = protect is not None and manifest.backup == protect.name
        if is_protected or kept < keep:
            kept += 1
            continue
        backup = out_dir / manifest.backup
        _remove(backup)
        (out_dir / (manifest.backup.rsplit(".", 1)[0] + MANIFEST_SUFFIX)).unlink(missing_ok=True)
        removed.append(str(backup))
    return removed
