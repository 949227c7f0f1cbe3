"""The command-line face: `pgreconcile <command> ...` (entry point `pgreconcile.cli:main`).

commands.py parses and calls the engine; render.py turns results into tables. This module
imports neither until asked: `pgreconcile --version` answers from here, in the time the
interpreter takes to start (docs/cli.md, "Start-up").
"""
from __future__ import annotations

__all__ = ["COMMANDS", "build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    import sys
    args = sys.argv[1:] if argv is None else argv
    if list(args) == ["--version"]:  # what argparse's version action prints, without it
        from pgreconcile import __version__
        sys.stdout.write(f"pgreconcile {__version__}\n")
        return 0
    from pgreconcile.cli.commands import main as run
    return run(argv)


def __getattr__(name: str):
    if name in ("COMMANDS", "build_parser"):
        from pgreconcile.cli import commands
        return getattr(commands, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
