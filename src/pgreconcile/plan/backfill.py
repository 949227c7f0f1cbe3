"""Backfill SQL (text): stable uuids, one keyset batch, and the whole loop as a DO block."""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from pgreconcile.plan.sqltext import literal

if TYPE_CHECKING:
    from pgreconcile.plan.steps import Backfill

#: Fixed namespace for stable, name-based UUIDs: uuid3(NAMESPACE, "<table>:<id>").
#: Every environment derives the same payment_id for the same row.
STABLE_UUID_NAMESPACE = uuid.UUID("6f1c0d2e-8a4b-4f3e-9c7d-2b5a1e0f9c31")


def stable_uuid_sql(table_name: str, key_expr: str) -> str:
    """A name-based UUID (version 3) computed in SQL, equal to Python's
    `uuid.uuid3(STABLE_UUID_NAMESPACE, f"{table}:{key}")`. No extension needed."""
    h = (f"md5(decode({literal(STABLE_UUID_NAMESPACE.hex)}, 'hex') || "
         f"convert_to({literal(table_name + ':')} || ({key_expr})::text, 'UTF8'))")
    return (f"(SELECT (substr(h, 1, 12) || '3' || substr(h, 14, 3) || "
            f"to_hex((('x' || substr(h, 17, 1))::bit(4)::int & 3) | 8) || "
            f"substr(h, 18, 15))::uuid FROM (SELECT {h} AS h) AS stable)")


def backfill_batch_sql(b: Backfill, last_key: str, upper_key: str, *,
                       inclusive: bool = False) -> str:
    """One batch as a key range (last_key, upper_key], or [last_key, upper_key] when
    `inclusive`. (A `WITH batch AS (… LIMIT n) UPDATE … FROM batch` join switches to a
    full-table hash join at ~0.5 % of the rows per batch: measured in bench/.)"""
    table, key, column = b.table_sql, b.key_sql, b.column_sql
    op = ">=" if inclusive else ">"
    return (f"UPDATE {table} AS t SET {column} = {b.expression_for('t.' + key)} WHERE "
            f"t.{key} {op} {last_key} AND t.{key} <= {upper_key} AND t.{column} IS NULL"
            f"{b.and_where}")


def backfill_rest_sql(b: Backfill) -> str:
    """Every row still NULL in one statement, for the migration draft a person reviews; the
    executor sweeps the same rows in keyset batches instead (apply/backfill.py)."""
    return (f"UPDATE {b.table_sql} AS t SET {b.column_sql} = {b.expression_for('t.' + b.key_sql)}"
            f" WHERE t.{b.column_sql} IS NULL{b.and_where}")


def backfill_do_block(b: Backfill, batch_size: int = 5_000) -> str:
    """The backfill as a runnable DO block for a person running plan.sql by hand: keyset
    batches, each committed on its own (PostgreSQL 11+, outside a transaction block)."""
    table, key, column = b.table_sql, b.key_sql, b.column_sql
    return (f"DO $$\nDECLARE\n    last_key bigint := (SELECT min({key}) - 1 FROM {table});\n"
            f"    upper_key bigint;\nBEGIN\n    LOOP\n"
            f"        SELECT max({key}) INTO upper_key FROM (SELECT {key} FROM {table} "
            f"WHERE {key} > last_key ORDER BY {key} LIMIT {batch_size}) AS batch;\n"
            f"        EXIT WHEN upper_key IS NULL;\n"
            f"        UPDATE {table} AS t SET {column} = {b.expression_for('t.' + key)}\n"
            f"         WHERE t.{key} > last_key AND t.{key} <= upper_key AND t.{column} IS NULL"
            f"{b.and_where};\n"
            f"        last_key := upper_key;\n        COMMIT;\n    END LOOP;\nEND\n$$;")
