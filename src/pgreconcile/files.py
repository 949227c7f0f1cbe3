"""Files a run leaves behind (plans, reports, manifests): written whole or not at all.

A reader (a person, a second run, a scheduled job) never sees half a file: text goes to a
hidden temporary name beside the target, is flushed and synced, then renamed into place.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path


def utc_now() -> str:
    """The time stamp every report, manifest and ledger note uses: UTC, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def atomic_write_text(path: str | Path, text: str, *, mode: int = 0o644,
                      durable: bool = False) -> Path:
    """Write `text` to `path` via a temporary file and a rename.

    `mode` is set before the rename, so a 0600 file is never readable by others, not even
    for a moment. `durable` also syncs the directory (backups and their manifests).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # ".<name>.<random>.<pid>.partial": backup's stale-partial sweep keeps it while we live.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".{os.getpid()}.partial",
                               dir=path.parent)
    try:
        os.fchmod(fd, mode) if hasattr(os, "fchmod") else os.chmod(tmp, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        sync_directory(path.parent)
    return path


def write_json(path: str | Path, data, *, mode: int = 0o644, durable: bool = False) -> Path:
    """`data` as indented, key-sorted JSON (the form every pgreconcile file uses)."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str)
                             + "\n", mode=mode, durable=durable)


def write_private_text(path: str | Path, text: str, *, durable: bool = False) -> Path:
    """A file only its owner may read (reports, plans: they name tables, keys and
    servers): 0600 from its first byte; on Windows its inherited ACL is replaced by one
    granting the current user alone (`restrict_acl`)."""
    path = atomic_write_text(path, text, mode=0o600, durable=durable)
    restrict_acl(path)
    return path


def write_private_json(path: str | Path, data, *, durable: bool = False) -> Path:
    """`write_json`, readable by its owner only (see `write_private_text`)."""
    return write_private_text(path, json.dumps(data, indent=2, sort_keys=True, default=str)
                              + "\n", durable=durable)


def acl_command(path: str | Path, user: str, *, directory: bool = False) -> list[str]:
    """icacls: drop inherited entries and grant `user` alone full control of `path` (of
    a directory: inherited by what it holds and will hold)."""
    return ["icacls", str(path), "/inheritance:r", "/grant:r",
            f"{user}:(OI)(CI)F" if directory else f"{user}:F"]


def restrict_acl(path: str | Path, *, os_name: str | None = None, run=subprocess.run) -> bool:
    """On Windows, where the mode bits mean nothing, restrict `path` to the current user
    with icacls; elsewhere nothing (the 0600 mode does it). True when icacls ran."""
    if (os_name or os.name) != "nt":
        return False
    user = os.environ.get("USERNAME") or ""
    domain = os.environ.get("USERDOMAIN")
    if domain and user:
        user = f"{domain}\\{user}"
    if not user:
        import getpass
        user = getpass.getuser()
    run(acl_command(path, user, directory=Path(path).is_dir()), check=True, capture_output=True)
    return True


def sync_directory(path: str | Path) -> None:
    """fsync a directory so a rename in it survives a crash (a no-op where unsupported)."""
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
