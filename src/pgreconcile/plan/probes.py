"""Probe queries (SQL text): catalog facts that say a step is already done.

Each returns a boolean SQL expression; a step's `probe` is "SELECT <expression>".
`t` is a table as quoted, qualified SQL (`sqltext.qualified`).
"""
from __future__ import annotations

from pgreconcile.plan.sqltext import literal, regclass


def has_column(t: str, column: str) -> str:
    return (f"EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = {regclass(t)} AND "
            f"attname = {literal(column)} AND NOT attisdropped)")


def column_not_null(t: str, column: str) -> str:
    return (f"EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = {regclass(t)} AND "
            f"attname = {literal(column)} AND attnotnull)")


def has_default(t: str, column: str) -> str:
    return (f"EXISTS (SELECT 1 FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid "
            f"AND a.attnum = d.adnum WHERE d.adrelid = {regclass(t)} AND a.attname = "
            f"{literal(column)})")


def default_is(t: str, column: str, default: str | None) -> str:
    """The column's default prints as `default` (None: it has none)."""
    test = f"= {literal(default)}" if default else "IS NULL"
    return (f"(SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a ON "
            f"a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = {regclass(t)} AND "
            f"a.attname = {literal(column)}) {test}")


def column_type_is(t: str, column: str, type_: str) -> str:
    return (f"format_type(atttypid, atttypmod) = {literal(type_)} FROM pg_attribute WHERE "
            f"attrelid = {regclass(t)} AND attname = {literal(column)}")


def column_nullable(t: str, column: str) -> str:
    return (f"NOT attnotnull FROM pg_attribute WHERE attrelid = {regclass(t)} AND attname = "
            f"{literal(column)}")


def has_constraint(t: str, name: str, *, validated: bool = False) -> str:
    return (f"EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = {regclass(t)} AND "
            f"conname = {literal(name)}{' AND convalidated' if validated else ''})")


def has_valid_index(t: str, name: str) -> str:
    """Only a VALID index counts: an interrupted CONCURRENTLY build leaves an INVALID one."""
    return (f"EXISTS (SELECT 1 FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid WHERE "
            f"i.indrelid = {regclass(t)} AND x.relname = {literal(name)} AND i.indisvalid)")


def has_valid_index_in_schema(schema: str, name: str) -> str:
    return (f"EXISTS (SELECT 1 FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN "
            f"pg_namespace n ON n.oid = x.relnamespace WHERE x.relname = {literal(name)} AND "
            f"n.nspname = {literal(schema)} AND i.indisvalid)")


def primary_key_is(t: str, column: str) -> str:
    """The table's primary key is (starts with) `column`."""
    return (f"EXISTS (SELECT 1 FROM pg_constraint k JOIN pg_attribute a ON a.attrelid = "
            f"k.conrelid AND a.attnum = k.conkey[1] WHERE k.conrelid = {regclass(t)} AND "
            f"k.contype = 'p' AND a.attname = {literal(column)})")


def has_enum_label(schema: str, type_name: str, label: str) -> str:
    return (f"EXISTS (SELECT 1 FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid JOIN "
            f"pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = {literal(schema)} AND "
            f"t.typname = {literal(type_name)} AND e.enumlabel = {literal(label)})")


def has_extension(name: str) -> str:
    return f"EXISTS (SELECT 1 FROM pg_extension WHERE extname = {literal(name)})"


def either(probe: str, condition: str) -> str:
    """`probe` (a "SELECT …" or empty) widened with OR `condition`."""
    return (f"SELECT ({probe.removeprefix('SELECT ')}) OR ({condition})" if probe
            else f"SELECT {condition}")
