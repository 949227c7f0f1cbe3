"""The command-line face: `pgreconcile <command> ...` (entry point `pgreconcile.cli:main`).

commands.py parses and calls the engine; render.py turns results into tables.
"""
from pgreconcile.cli.commands import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "main"]
