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
import secrets
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from psycopg import sql

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
from pgreconcile.pg.scratch import (
    admin_spec,
    create_database,
    database_locale,
    drop_database,
    locale_clause,
    scratch_name,
)
from pgreconcile.pg.toolchain import Tool, executable_in, find_tool, server_major
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
    # "system_identifier:<n>" (pg_control_system()) or "address:<host:port>" when that is not
    # readable; retention compares it, with `database`, before it deletes anything.
    server_id: str = ""
    locale: dict | None = None       # encoding, lc_collate, lc_ctype, provider of the source

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data) -> "BackupManifest":
        """A manifest from untrusted JSON: every field checked, else `ManifestInvalid`."""
        return parse_manifest(data)


@dataclass(frozen=True)
class BackupResult:
    path: str
    manifest: str
    sha256: str
    verified: bool
    manifest_data: BackupManifest
    removed: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

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
                "removed": list(self.removed), "warnings": list(self.warnings)}


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


# --------------------------------------------------------------------------- manifests
# The only names pgreconcile gives a backup: `<database, made safe>-<UTC stamp><suffix>`.
# Retention and cleanup delete nothing whose name does not match (plain names, no path).
_NAME = r"[A-Za-z0-9_.-]{1,200}-[0-9]{8}T[0-9]{12}Z\.(?:dump|dir)"
BACKUP_NAME = re.compile(_NAME)
_PARTIAL = re.compile(rf"\.(?P<backup>{_NAME})\.(?P<host>[A-Za-z0-9_-]{{1,64}})"
                      rf"\.(?P<pid>[0-9]{{1,10}}){re.escape(PARTIAL_SUFFIX)}")
_MANIFEST_MAX_BYTES = 64 * 1024 * 1024


class ManifestInvalid(BackupUnverified):
    hint = ("the manifest is not one pgreconcile wrote (or it was edited or damaged); do not "
            "rely on this backup; take a fresh one with `pgreconcile backup`")


def _host_token() -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", socket.gethostname())[:64] or "host"


def is_backup_name(name: object) -> bool:
    """A plain file/directory name of the form pgreconcile gives its backups."""
    return isinstance(name, str) and BACKUP_NAME.fullmatch(name) is not None \
        and name not in (".", "..")


def manifest_name(backup_name: str) -> str:
    return backup_name.rsplit(".", 1)[0] + MANIFEST_SUFFIX


def backup_path(directory: Path, name: object) -> Path:
    """`directory / name`, only for a pgreconcile backup name that stays inside `directory`
    (no separators, no `..`, not absolute, not a symbolic link)."""
    if not is_backup_name(name):
        raise ManifestInvalid(f"backup name {str(name)[:80]!r} is not a pgreconcile backup name "
                              "(a plain name like mydb-20250101T000000000000Z.dump)")
    path = directory / name
    if path.is_symlink():
        raise ManifestInvalid(f"backup {name} in {directory} is a symbolic link; "
                              "pgreconcile never makes one")
    if path.resolve().parent != directory.resolve():
        raise ManifestInvalid(f"backup {name} resolves outside {directory}")
    return path


def _want(data: dict, key: str, kind, *, optional: bool = False, default=None):
    if key not in data:
        if optional:
            return default
        raise ManifestInvalid(f"the manifest has no {key!r}")
    value = data[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if optional and value is None and default is None:
        ok = True
    if not ok:
        names = "/".join(k.__name__ for k in kinds)
        raise ManifestInvalid(f"the manifest's {key!r} is {type(value).__name__}, "
                              f"expected {names}")
    return value


def _want_map(data: dict, key: str, value_kind) -> dict:
    value = _want(data, key, dict)
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, value_kind) or isinstance(v, bool):
            raise ManifestInvalid(f"the manifest's {key!r} must map names to "
                                  f"{value_kind.__name__} values")
    return dict(value)


def parse_manifest(data) -> BackupManifest:
    """A `BackupManifest` from parsed JSON, or `ManifestInvalid`: never another exception."""
    if not isinstance(data, dict):
        raise ManifestInvalid(f"the manifest is a JSON {type(data).__name__}, not an object")
    backup = _want(data, "backup", str)
    if not is_backup_name(backup):
        raise ManifestInvalid(f"the manifest's backup {backup[:80]!r} is not a pgreconcile "
                              "backup name (a plain name like mydb-20250101T000000000000Z.dump)")
    fmt = _want(data, "format", str)
    if fmt not in FORMATS or not backup.endswith(FORMATS[fmt][1]):
        raise ManifestInvalid(f"the manifest's format {fmt[:40]!r} does not match its backup "
                              f"{backup!r}")
    server_version = _want(data, "server_version", str)
    if not re.match(r"[0-9]{1,4}(\.|$| )", server_version):
        raise ManifestInvalid(f"the manifest's server_version {server_version[:40]!r} does "
                              "not start with a major version")
    sha256 = _want(data, "sha256", str)
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ManifestInvalid("the manifest's sha256 is not 64 hexadecimal digits")
    ints = {k: _want(data, k, int) for k in ("size_bytes", "database_size_bytes", "toc_entries")}
    if any(v < 0 for v in ints.values()):
        raise ManifestInvalid("the manifest has a negative size or entry count")
    return BackupManifest(
        backup=backup, format=fmt, database=_want(data, "database", str),
        server=_want(data, "server", str), server_version=server_version,
        pg_dump=_want(data, "pg_dump", dict), started_at=_want(data, "started_at", str),
        finished_at=_want(data, "finished_at", str), sha256=sha256,
        files=_want_map(data, "files", str), row_counts=_want_map(data, "row_counts", int),
        schema_fingerprint=_want(data, "schema_fingerprint", str),
        verified=_want(data, "verified", bool),
        test_restore=_want(data, "test_restore", dict, optional=True),
        tool_version=_want(data, "tool_version", str, optional=True, default=""),
        server_id=_want(data, "server_id", str, optional=True, default=""),
        locale=_want_locale(data), **ints)


def _want_locale(data: dict) -> dict | None:
    """The source's encoding and locale (`scratch.database_locale`): names only."""
    if data.get("locale") is None:
        return None
    value = _want_map(data, "locale", str)
    unknown = set(value) - {"encoding", "lc_collate", "lc_ctype", "provider"}
    if unknown or any(not re.fullmatch(r"[A-Za-z0-9_.@-]{0,64}", v) for v in value.values()):
        raise ManifestInvalid("the manifest's locale must name an encoding, lc_collate, "
                              "lc_ctype and provider only")
    return value


def read_manifest(manifest_path: Path) -> BackupManifest:
    """Read and check one manifest file; it must name the backup beside it of its own name."""
    try:
        if manifest_path.is_symlink() or not manifest_path.is_file():
            raise ManifestInvalid(f"manifest {manifest_path.name} is not a regular file")
        if manifest_path.stat().st_size > _MANIFEST_MAX_BYTES:
            raise ManifestInvalid(f"manifest {manifest_path.name} is too large to be one")
        text = manifest_path.read_bytes().decode("utf-8")
        data = json.loads(text)
    except ManifestInvalid:
        raise
    except (OSError, ValueError, RecursionError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) else str(exc)[:120]
        raise ManifestInvalid(f"manifest {manifest_path.name} is unreadable: {detail}") from None
    try:
        manifest = parse_manifest(data)
    except ManifestInvalid as exc:
        raise ManifestInvalid(f"manifest {manifest_path.name}: {exc}") from None
    if manifest_path.name != manifest_name(manifest.backup):
        raise ManifestInvalid(f"manifest {manifest_path.name} names backup {manifest.backup}, "
                              "which is not its own")
    return manifest


def server_identity(conn, spec: ConnectionSpec) -> str:
    """The cluster's system_identifier (pg_control_system(), PostgreSQL 9.6+, readable
    without superuser by default); "address:host:port" when it cannot be read."""
    try:
        row = conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()
    except psycopg.Error:
        row = None
    if row and row[0] is not None:
        return f"system_identifier:{row[0]}"
    return f"address:{_server_label(spec)}"


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
    """The standard sha256 of the file's bytes (what `sha256sum` prints): one sequential
    read into a reused buffer; hashlib releases the GIL on big buffers, so other threads
    (an fsync, a second file) run meanwhile."""
    digest = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as fh:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        while n := fh.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def _files_of(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def _hash_backup(path: Path, name: str | None = None) -> tuple[str, dict[str, str]]:
    """sha256 of the backup; a single file is keyed by its final `name`. A directory's
    files are hashed by two threads (each file in one sequential read)."""
    if path.is_dir():
        paths = _files_of(path)
        digests = _parallel(sha256_file, paths, workers=2)
        files = {str(p.relative_to(path)): h for p, h in zip(paths, digests, strict=True)}
        combined = hashlib.sha256("".join(f"{h}  {n}\n" for n, h in sorted(files.items()))
                                  .encode()).hexdigest()
        return combined, files
    digest = sha256_file(path)
    return digest, {name or path.name: digest}


def _parallel(func, items: list, workers: int) -> list:
    """[func(item) for item in items] on `workers` threads; the first exception is raised."""
    if len(items) < 2 or workers < 2:
        return [func(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(func, items))


def _fsync_file(target: Path) -> None:
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    for target in _files_of(path):
        _fsync_file(target)
    sync_directory(path.parent)
    if path.is_dir():
        sync_directory(path)


class _EarlyWriteback:
    """While pg_dump writes (with --no-sync), flush what it has written so far every
    `interval` seconds from a thread, so the fsync that proves the backup durable at the end
    has little left to write. Costs no CPU to speak of (the kernel writes); never raises:
    the final `_fsync_tree` is the proof, this only moves its work earlier."""

    def __init__(self, path: Path, interval: float = 0.5) -> None:
        self.path, self.interval = path, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        if hasattr(os, "fdatasync"):
            self.thread.start()

    def finish(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                targets = _files_of(self.path) if self.path.exists() else []
                for target in targets:
                    fd = os.open(target, os.O_RDONLY)
                    try:
                        os.fdatasync(fd)
                    finally:
                        os.close(fd)
            except OSError:
                continue


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


def _remove_validated(path: Path) -> str | None:
    """Delete a path already checked to be ours; a failure is returned, never ignored."""
    try:
        if path.is_symlink():
            return f"{path.name} is a symbolic link; left alone"
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:
        return f"could not delete {path.name}: {exc.strerror or exc}"
    return None


def _clean_stale_partials(out_dir: Path) -> tuple[list[str], list[str]]:
    """Remove partial dumps this host left when a run was killed (its pid is gone). A
    partial of another host (shared storage), or not named the way pgreconcile names them,
    is left alone: its pid means nothing here."""
    removed, warnings = [], []
    host = _host_token()
    for partial in sorted(out_dir.glob(f".*{PARTIAL_SUFFIX}")):
        m = _PARTIAL.fullmatch(partial.name)
        if not m or m["host"] != host or _pid_alive(int(m["pid"])):
            continue
        problem = _remove_validated(partial)
        if problem:
            warnings.append(problem)
        else:
            removed.append(partial.name)
    return removed, warnings


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
                  label: str | None = None, reporter: Reporter = NULL) -> BackupResult:
    """pg_dump → fsync → verify → rename → manifest (0600) → optional test restore → retention.

    `label`: the database name the backup is filed under (default: the one dumped); a
    restore --replace dumps the original under a temporary name and files it under its own."""
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
            identity = server_identity(conn, spec)
            locale = database_locale(conn)
            _check_out_dir(out_dir, db_size)
            _, warnings = _clean_stale_partials(out_dir)
            reporter.info(f"backing up {spec.describe()} ({db_size:,} bytes) with "
                          f"{tool.path} {tool.version}")

            letter, suffix = FORMATS[fmt]
            database = label or spec.dbname
            final = out_dir / f"{_safe_name(database)[:120]}-{_stamp()}{suffix}"
            partial = out_dir / f".{final.name}.{_host_token()}.{os.getpid()}{PARTIAL_SUFFIX}"
            # Facts for the manifest are read in the snapshot pg_dump will dump.
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            argv = [tool.path, f"--format={letter}", f"--file={partial}",
                    f"--snapshot={snapshot}", "--no-password", "--no-sync",
                    f"--dbname={spec.public_conninfo()}"]
            if jobs > 1:
                argv.append(f"--jobs={jobs}")
            if compress:
                argv.append(f"--compress={compress}")
            writeback = None
            try:
                proc = subprocess.Popen(argv, env=spec.child_env(), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True,
                                        errors="backslashreplace")
                stderr_box: list[str] = []
                reader = threading.Thread(target=lambda: stderr_box.append(proc.stderr.read()),
                                          daemon=True)
                reader.start()
                writeback = _EarlyWriteback(partial)
                writeback.start()
                counts = census.row_counts(conn, reporter)
                fingerprint = census.schema_fingerprint(conn)
                # Needed only after the dump; looked up while pg_dump runs.
                restore_tool = _sibling_tool(tool, "pg_restore") or find_tool(
                    "pg_restore", major, pg_bin_dir)
                with reporter.task("pg_dump", total=None) as task:
                    # stderr reaches its end when pg_dump exits: the join returns at once
                    # then (Popen.wait with a timeout would poll in steps of up to 50 ms)
                    while reader.join(timeout=0.1) or reader.is_alive():
                        if partial.exists():
                            task.update(completed=_dir_size(partial) if partial.is_dir()
                                        else partial.stat().st_size)
                proc.wait()
                writeback.finish()
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
                toc, digest, files = _prove(partial, final.name, restore_tool)
                os.replace(partial, final)
                sync_directory(out_dir)
            except BaseException:
                if writeback is not None:
                    writeback.finish()
                _remove(partial)
                raise
    finally:
        os.umask(old_umask)

    manifest_path = final.with_name(manifest_name(final.name))
    manifest = BackupManifest(
        backup=final.name, format=fmt, database=database, server=_server_label(spec),
        server_version=version, pg_dump=tool.to_dict(), started_at=started,
        finished_at=utc_now(), size_bytes=_dir_size(final), database_size_bytes=db_size,
        sha256=digest, files=files, row_counts=counts, schema_fingerprint=fingerprint,
        toc_entries=toc, verified=True, server_id=identity, locale=locale)
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

    removed: list[str] = []
    if keep:
        removed, skipped = apply_retention(out_dir, database, keep, server_id=identity,
                                           protect=final)
        warnings += skipped
    for warning in warnings:
        reporter.info(f"warning: {warning}")
    return BackupResult(str(final), str(manifest_path), digest, True, manifest, tuple(removed),
                        tuple(warnings))


def _sibling_tool(tool: Tool, name: str) -> Tool | None:
    """pg_restore from the same directory as the chosen pg_dump (same version by build)."""
    path = executable_in(Path(tool.path).parent, name)  # pg_restore or pg_restore.exe
    if path is not None:
        return Tool(name, str(path), tool.version, tool.major, tool.source)
    return None


def _prove(partial: Path, name: str, restore_tool: Tool) -> tuple[int, str, dict[str, str]]:
    """The three proofs of a finished dump, at the same time: fsync every file (and the
    directories) on one thread, `pg_restore --list` in its process, sha256 of every file
    here (the dump is still in the page cache: one read, no disk). All must succeed.
    Returns (TOC entries, sha256, {file: sha256})."""
    listing = _start_restore_list(restore_tool, partial)
    synced: list[BaseException | None] = []

    def sync() -> None:
        try:
            _fsync_tree(partial)
            synced.append(None)
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in this thread
            synced.append(exc)

    syncer = threading.Thread(target=sync, daemon=True)
    syncer.start()
    try:
        digest, files = _hash_backup(partial, name)
    finally:
        syncer.join()
        toc = _finish_restore_list(listing, partial)
    if synced[0] is not None:
        raise synced[0]
    return toc, digest, files


def _start_restore_list(tool: Tool, path: Path) -> subprocess.Popen:
    return subprocess.Popen([tool.path, "--list", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="backslashreplace")


def _restore_list(tool: Tool, path: Path) -> int:
    """`pg_restore --list` must read the archive; returns the number of TOC entries."""
    return _finish_restore_list(_start_restore_list(tool, path), path)


def _finish_restore_list(listing: subprocess.Popen, path: Path) -> int:
    # Names print in the archive's encoding (LATIN1, SQL_ASCII bytes): only lines are counted.
    stdout, stderr = listing.communicate()
    proc = subprocess.CompletedProcess(listing.args, listing.returncode, stdout, stderr)
    if proc.returncode != 0:
        raise BackupUnverified(f"pg_restore --list cannot read {path.name}: "
                               f"{redact(proc.stderr.strip()) or 'exit ' + str(proc.returncode)}")
    entries = [line for line in proc.stdout.splitlines() if line and not line.startswith(";")]
    if not entries:
        raise BackupUnverified(f"{path.name} has no table of contents entries")
    return len(entries)


# --------------------------------------------------------------------------- verify
def _locate(path: str | Path) -> tuple[Path, Path, BackupManifest]:
    """Accept the dump, its directory or its manifest: (backup path, manifest path, manifest),
    all checked (the manifest parses, names a pgreconcile backup beside it of its own name)."""
    path = Path(path).absolute()
    if path.name.endswith(MANIFEST_SUFFIX):
        if not path.exists():
            raise BackupUnverified(f"manifest {path} does not exist")
        manifest = read_manifest(path)
        return backup_path(path.parent, manifest.backup), path, manifest
    if not path.exists() and not path.is_symlink():
        raise BackupUnverified(f"backup {path} does not exist")
    if not is_backup_name(path.name):
        raise BackupUnverified(f"{path.name} is not named like a pgreconcile backup "
                               "(mydb-20250101T000000000000Z.dump or .dir)",
                               hint="pass the backup pgreconcile wrote, or its manifest")
    manifest_path = path.with_name(manifest_name(path.name))
    if not manifest_path.exists():
        raise BackupUnverified(f"backup {path.name} has no manifest ({manifest_path.name}); "
                               "without it the backup cannot be proven")
    manifest = read_manifest(manifest_path)
    return backup_path(path.parent, manifest.backup), manifest_path, manifest


def find_manifest(path: str | Path) -> tuple[Path, Path]:
    """Accept the dump, its directory or its manifest; return (backup path, manifest path)."""
    backup, manifest_path, _ = _locate(path)
    return backup, manifest_path


def load_manifest(path: str | Path) -> BackupManifest:
    """The checked manifest of a backup (given as dump, directory or manifest)."""
    return _locate(path)[2]


def verify_backup(path: str | Path, *, pg_bin_dir: str | None = None,
                  reporter: Reporter = NULL) -> VerifyResult:
    """Re-check every file's checksum and that pg_restore can read the archive."""
    backup, manifest_path, manifest = _locate(path)
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
    major = int(re.match(r"[0-9]+", manifest.server_version)[0])
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
    proc = subprocess.run(argv, env=target.child_env(), capture_output=True, text=True,
                          errors="backslashreplace")
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
    backup, _, manifest = _locate(path)
    admin = admin_spec(server)
    name = scratch_name("restoretest")
    started = time.monotonic()
    with server.connect() as conn:
        tool = find_tool("pg_restore", server_major(conn), pg_bin_dir)
    # The source's encoding and locale: a SQL_ASCII dump holding bytes that are not UTF-8
    # does not restore into a UTF8 database, and LATIN1 text would be converted.
    create_database(admin, name, locale=manifest.locale)
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


def _database_info(admin: ConnectionSpec, name: str) -> tuple[bool, bool] | None:
    """(allows connections, is a template) of database `name`, or None when it is absent."""
    with admin.connect() as conn:
        return conn.execute("SELECT datallowconn, datistemplate FROM pg_database "
                            "WHERE datname = %s", (name,)).fetchone()


def target_state(server: ConnectionSpec, name: str) -> str:
    """'absent' or 'exists': what a restore into `name` would meet. Only an absent database
    is restored into without --replace; what an existing one holds does not matter."""
    return "absent" if _database_info(admin_spec(server), name) is None else "exists"


def preview_restore(path: str | Path, server: ConnectionSpec, target_db: str, *,
                    replace: bool = False, pg_bin_dir: str | None = None) -> dict:
    """What `restore` would do, changing nothing (CLI --dry-run, Ansible check mode): the
    backup is verified, and a target that exists without `replace` is refused exactly as a
    real run would refuse it (exit 4)."""
    result = verify_backup(path, pg_bin_dir=pg_bin_dir).to_dict()
    state = target_state(server, target_db)
    if state != "absent" and not replace:
        raise RestoreRefused(f"database {target_db!r} exists; restore without --replace "
                             "only creates a new database; a real run would refuse")
    return {**result, "target_db": target_db, "target_state": state,
            "changed": False, "would_change": True}


def _create_target(admin: ConnectionSpec, name: str, *, locale: dict | None) -> None:
    """CREATE DATABASE in the source's encoding and locale, and only that: an existing
    database (even one created a moment ago by someone else) is refused, never reused."""
    with admin.connect() as conn:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0{}").format(
                sql.Identifier(name), locale_clause(conn, locale)))
        except psycopg.errors.DuplicateDatabase:
            raise RestoreRefused(f"database {name!r} exists; restore without --replace only "
                                 "creates a new database; nothing was changed") from None
        except psycopg.errors.InsufficientPrivilege as exc:
            raise RestoreRefused(f"cannot create database {name!r}: {_first(exc)}",
                                 hint="grant CREATEDB to the role, or restore as one that "
                                      "has it") from None


def _first(exc: BaseException) -> str:
    return redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)


def _alter(conn, template: str, *names: str) -> None:
    conn.execute(sql.SQL(template).format(*(sql.Identifier(n) for n in names)))


def _end_sessions(conn, name: str, timeout_s: float = 10.0) -> int:
    """Terminate every other session on database `name` and wait until none is left."""
    terminated = 0
    deadline = time.monotonic() + timeout_s
    while True:
        rows = conn.execute("SELECT pid, usename, pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchall()
        terminated += sum(1 for r in rows if r[2])
        if not rows:
            return terminated
        if time.monotonic() > deadline:
            roles = sorted({str(r[1]) for r in rows})
            raise RestoreRefused(f"{len(rows)} session(s) on {name!r} could not be ended "
                                 f"(roles {', '.join(roles)}); nothing was replaced",
                                 hint="end them (or run as a role allowed to, e.g. a member of "
                                      "pg_signal_backend), then run restore --replace again")
        time.sleep(0.1)


def restore_backup(path: str | Path, server: ConnectionSpec, target_db: str, *,
                   replace: bool = False, jobs: int = 1, pg_bin_dir: str | None = None,
                   safety_backup_dir: str | Path | None = None, no_owner: bool = False,
                   reporter: Reporter = NULL) -> RestoreResult:
    """Restore a verified backup into a new database `target_db`; with `replace`, into the
    place of an existing one (see `_replace`). Without `replace` an existing database, empty
    or not, is refused (exit 4) and left untouched."""
    started = time.monotonic()
    backup, _, manifest = _locate(path)
    verify_backup(backup, pg_bin_dir=pg_bin_dir, reporter=reporter)
    admin = admin_spec(server)
    info = _database_info(admin, target_db)
    if info is not None and not replace:
        raise RestoreRefused(f"database {target_db!r} exists; restore without --replace only "
                             "creates a new database; nothing was changed")
    if info is not None and (info[1] or target_db == admin.dbname):
        raise RestoreRefused(f"database {target_db!r} is a template or the maintenance "
                             "database pgreconcile connects through; it is never replaced",
                             hint="restore into a new --target-db")
    with server.connect() as conn:
        tool = find_tool("pg_restore", server_major(conn), pg_bin_dir)
    if info is not None:
        safety, fp_ok = _replace(backup, manifest, server, target_db, tool, allowed=info[0],
                                 jobs=jobs, no_owner=no_owner, pg_bin_dir=pg_bin_dir,
                                 safety_dir=Path(safety_backup_dir or backup.parent),
                                 reporter=reporter)
        return RestoreResult(str(backup), target_db, fp_ok, True, fp_ok, True, safety,
                             round(time.monotonic() - started, 3))
    _create_target(admin, target_db, locale=manifest.locale)  # the source's encoding
    target = server.with_dbname(target_db)
    with reporter.task(f"pg_restore into {target_db}"):
        _pg_restore(tool, backup, target, jobs, no_owner)
    counts_ok, fp_ok, mismatched = _compare(manifest, target)
    if not counts_ok:
        raise BackupUnverified(f"restored {target_db!r} but row counts differ from the manifest "
                               f"for {sorted(mismatched)[:5]}",
                               hint=f"inspect {target_db!r}; do not switch to it")
    return RestoreResult(str(backup), target_db, counts_ok and fp_ok, counts_ok, fp_ok,
                         False, None, round(time.monotonic() - started, 3))


def _replace(backup: Path, manifest: BackupManifest, server: ConnectionSpec, target_db: str,
             tool: Tool, *, allowed: bool, jobs: int, no_owner: bool, pg_bin_dir: str | None,
             safety_dir: Path, reporter: Reporter) -> tuple[str, bool]:
    """Replace `target_db` by the backup. In order: block new connections to it
    (ALLOW_CONNECTIONS false), terminate the open ones, rename it aside (a name no
    application uses) and dump it there (the safety backup), restore into a staging database,
    check it against the manifest, rename the staging database to `target_db`, drop the
    original. The application can reach `target_db` again only once it holds the backup.
    On any failure the staging database is dropped and the original is renamed back and
    accepts connections as before. Returns (the safety backup's path, fingerprint matches)."""
    admin = admin_spec(server)
    token = f"{os.getpid()}_{secrets.token_hex(3)}"
    aside, staging = f"pgreconcile_replaced_{token}", f"pgreconcile_restoring_{token}"
    blocked = renamed = staged = False
    try:
        with admin.connect() as conn:
            _alter(conn, "ALTER DATABASE {} ALLOW_CONNECTIONS false", target_db)
            blocked = True
            ended = _end_sessions(conn, target_db)
            reporter.info(f"{target_db!r} accepts no new connections; {ended} session(s) "
                          "terminated")
            _alter(conn, "ALTER DATABASE {} RENAME TO {}", target_db, aside)
            renamed = True
            _alter(conn, "ALTER DATABASE {} ALLOW_CONNECTIONS true", aside)
        reporter.info(f"taking a safety backup of {target_db!r} before replacing it")
        safety = create_backup(server.with_dbname(aside), safety_dir, pg_bin_dir=pg_bin_dir,
                               label=target_db, reporter=reporter).path
        _create_target(admin, staging, locale=manifest.locale)
        staged = True
        target = server.with_dbname(staging)
        with reporter.task(f"pg_restore into {target_db} (as {staging})"):
            _pg_restore(tool, backup, target, jobs, no_owner)
        counts_ok, fp_ok, mismatched = _compare(manifest, target)
        if not counts_ok:
            raise BackupUnverified(
                f"the restore's row counts differ from the manifest for "
                f"{sorted(mismatched)[:5]}; {target_db!r} was kept as it was",
                hint="do not rely on this backup; take a fresh one with `pgreconcile backup`")
        with admin.connect() as conn:
            _end_sessions(conn, staging)
            _alter(conn, "ALTER DATABASE {} RENAME TO {}", staging, target_db)
            staged = renamed = False
    except BaseException as exc:
        problems = _undo_replace(admin, target_db, aside, staging, allowed=allowed,
                                 blocked=blocked, renamed=renamed, staged=staged)
        if problems and isinstance(exc, Exception):
            raise BackupFailed(f"{exc}; and undoing the replace failed: {'; '.join(problems)}",
                               hint=f"the original database may be named {aside!r}: rename it "
                                    f"back to {target_db!r} and ALTER DATABASE ... "
                                    "ALLOW_CONNECTIONS true") from None
        raise
    with admin.connect() as conn:
        try:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(aside)))
        except psycopg.Error as exc:
            reporter.info(f"warning: the replaced database is kept as {aside!r}: {_first(exc)}")
    return safety, fp_ok


def _undo_replace(admin: ConnectionSpec, target_db: str, aside: str, staging: str, *,
                  allowed: bool, blocked: bool, renamed: bool, staged: bool) -> list[str]:
    problems = []
    try:
        with admin.connect() as conn:
            if staged:
                try:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(staging)))
                except psycopg.Error as exc:
                    problems.append(f"dropping {staging}: {_first(exc)}")
            name = target_db
            if renamed:
                try:
                    _end_sessions(conn, aside)
                    _alter(conn, "ALTER DATABASE {} RENAME TO {}", aside, target_db)
                except (psycopg.Error, RestoreRefused) as exc:
                    problems.append(f"renaming {aside} back to {target_db}: {_first(exc)}")
                    name = aside
            if blocked:
                try:
                    _alter(conn, "ALTER DATABASE {} ALLOW_CONNECTIONS "
                           + ("true" if allowed else "false"), name)
                except psycopg.Error as exc:
                    problems.append(f"allowing connections to {name}: {_first(exc)}")
    except psycopg.Error as exc:
        problems.append(_first(exc))
    return problems


# --------------------------------------------------------------------------- retention
def list_backups(out_dir: str | Path, database: str | None = None, *,
                 server_id: str | None = None,
                 warnings: list[str] | None = None) -> list[BackupManifest]:
    """Checked manifests in `out_dir` (of `database` and `server_id` when given), newest
    first. A manifest that does not check out is skipped, with a line in `warnings`."""
    found = []
    for manifest_path in sorted(Path(out_dir).glob(f"*{MANIFEST_SUFFIX}")):
        try:
            manifest = read_manifest(manifest_path)
        except BackupUnverified as exc:
            if warnings is not None:
                warnings.append(f"skipped {str(exc)[:300]}")
            continue
        if database is not None and manifest.database != database:
            continue
        if server_id is not None and manifest.server_id != server_id:
            continue
        found.append(manifest)
    return sorted(found, key=lambda m: (m.started_at, m.backup), reverse=True)


def apply_retention(out_dir: str | Path, database: str, keep: int, *, server_id: str,
                    protect: Path | None = None) -> tuple[list[str], list[str]]:
    """Keep the newest `keep` verified backups of `database` on server `server_id`; never
    delete `protect`. Only a backup whose manifest checks out, names a pgreconcile backup
    inside `out_dir` and records the same server and database is counted or deleted.
    Returns (removed paths, warnings)."""
    out_dir = Path(out_dir).absolute()
    warnings: list[str] = []
    verified = [m for m in list_backups(out_dir, database, server_id=server_id,
                                        warnings=warnings) if m.verified]
    kept = 0
    removed = []
    for manifest in verified:
        try:  # a symlink or a path out of the directory is neither counted nor deleted
            backup = backup_path(out_dir, manifest.backup)
        except BackupUnverified as exc:
            warnings.append(f"skipped manifest {manifest_name(manifest.backup)}: "
                            f"{str(exc)[:300]}")
            continue
        is_protected = protect is not None and manifest.backup == protect.name
        if is_protected or kept < keep:
            kept += 1
            continue
        problem = _remove_validated(backup)
        if problem:
            warnings.append(problem)
            continue
        (out_dir / manifest_name(manifest.backup)).unlink(missing_ok=True)
        removed.append(str(backup))
    return removed, warnings
