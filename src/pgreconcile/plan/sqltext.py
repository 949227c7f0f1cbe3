"""The one quoting layer for the SQL text a plan carries: identifiers and literals.

Every handler, probe and reverse builds its SQL through these functions, from model
fields, never by editing text PostgreSQL printed. Plain Python (the pure core must not
import psycopg); identifiers are always double-quoted, so a name never depends on case
folding or on whether it happens to be a keyword. Literals assume
standard_conforming_strings = on (the default since PostgreSQL 9.1).
"""
from __future__ import annotations

from collections.abc import Iterable


def ident(name: str) -> str:
    """A quoted identifier; an embedded double quote is doubled."""
    return '"' + name.replace('"', '""') + '"'


def idents(names: Iterable[str]) -> str:
    """A comma-separated list of quoted identifiers (a column list)."""
    return ", ".join(ident(n) for n in names)


def qualified(schema: str, name: str) -> str:
    """A schema-qualified name: `"schema"."name"`."""
    return f"{ident(schema)}.{ident(name)}"


def qualified_name(dotted: str) -> str:
    """`schema.name` (the diff's key for a table, enum, …) as a quoted, qualified name.
    Only the first dot separates: the schema is the part before it."""
    schema, _, name = dotted.partition(".")
    return qualified(schema, name)


def literal(text: str) -> str:
    """A quoted string literal: `it's` → `'it''s'`."""
    return "'" + text.replace("'", "''") + "'"


def regclass(table_sql: str) -> str:
    """`'"schema"."table"'::regclass`: a probe's way to name a table in the catalog."""
    return f"{literal(table_sql)}::regclass"


#: PostgreSQL's limit on a name's length (NAMEDATALEN - 1), in bytes.
MAX_NAME = 63


def fit(name: str, size: int = MAX_NAME) -> str:
    """`name` cut to at most `size` bytes (UTF-8), at a character boundary: what
    PostgreSQL would keep of it, so a name made by adding a suffix keeps its suffix
    (`fit(name, MAX_NAME - len(suffix)) + suffix`) instead of losing it silently."""
    while len(name.encode()) > size:
        name = name[:-1]
    return name
