"""A missing NOT NULL column filled from its Django field default (ctx.field_defaults).

Django keeps field defaults in Python, so the reference schema has none; the migration state
has them. A constant default is added the way Django's own AddField does it, in ONE
transaction: `ADD COLUMN … DEFAULT <constant> NOT NULL` (PostgreSQL 11+ stores the
constant in the catalog: no rewrite, no scan) and, when the expected column has no database
default, `DROP DEFAULT`. A callable default with an SQL equivalent (uuid4 →
gen_random_uuid(), timezone.now → now()) goes through the batched backfill: the column is
added nullable with the SQL as its DEFAULT for new rows, existing rows are filled in keyset
batches, then NOT NULL (CHECK NOT VALID, VALIDATE, SET NOT NULL) and the default dropped.
A callable without an SQL equivalent is refused, naming it.

A nullable column with a constant default gets the same one step without NOT NULL: Django's
AddField fills existing rows with the default there too.

Called by column.missing(); `plan` returns None when the column is not one for it (no
field default known, a database default the expected schema already has, a generated or
identity column, or a nullable one whose default is a callable: its rows stay NULL).
"""
from __future__ import annotations

from pgreconcile.plan import probes
from pgreconcile.plan.context import FieldDefault, PlanContext, Planned, est_seconds, rows
from pgreconcile.plan.sqltext import ident, qualified_name
from pgreconcile.plan.steps import Backfill, ObjectRef, StepKind
from pgreconcile.schema.diff import Change
from pgreconcile.schema.model import Column, Table


def field_default(change: Change, ctx: PlanContext) -> FieldDefault | None:
    return ctx.field_defaults.get(change.object)


def plan(change: Change, ctx: PlanContext) -> Planned | None:
    col = Column.from_dict(change.expected)
    found = field_default(change, ctx)
    table = ctx.live_table(change.table)
    if found is None or table is None or col.default or col.generated or col.identity:
        return None
    if found.sql:
        return constant(change, col, found)
    if not col.not_null:
        return None  # added NULL for existing rows: nothing to backfill
    if found.volatile_sql:
        return backfilled(change, ctx, table, col, found)
    out = Planned()
    out.refuse(change, f"NOT NULL column whose Django default is the callable "
                       f"{found.callable or '(unknown)'}, which has no SQL equivalent: "
                       "existing rows need a value; write a data migration")
    return out


def constant(change: Change, col: Column, found: FieldDefault) -> Planned:
    out = Planned()
    t, c = qualified_name(change.table), ident(col.name)
    base = change.table.partition(".")[2]
    ref = ObjectRef.in_table("column", change.table, col.name)
    not_null = " NOT NULL" if col.not_null else ""
    sql = (f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {c} {col.type} DEFAULT {found.sql}"
           f"{not_null}", f"ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT")
    out.add(f"add-column-{base}-{col.name}",
            title=f"add {change.object} {col.type}{not_null}, existing rows {found.sql} "
                  "(Django default; no rewrite)",
            reason=f"missing column {change.object}; the migration state's default fills "
                   "existing rows, as Django's AddField does",
            kind=StepKind.DDL, table=change.table, target=ref, creates=(ref,), sql=sql,
            probe=(f"SELECT {probes.has_column(t, col.name)} AND "
                   + (f"{probes.column_not_null(t, col.name)} AND " if col.not_null else "")
                   + f"{probes.default_is(t, col.name, None)}"),
            reverse=(f"ALTER TABLE {t} DROP COLUMN IF EXISTS {c}",),
            lock="ACCESS EXCLUSIVE", lock_duration="instant")
    return out


def backfilled(change: Change, ctx: PlanContext, table: Table, col: Column,
               found: FieldDefault) -> Planned:
    from pgreconcile.plan.kinds.column import not_null_steps
    out = Planned()
    key = _single_key(table)
    if key is None:
        out.refuse(change, f"NOT NULL column with the callable default {found.callable}: a "
                           "batched backfill needs a single-column primary key on "
                           f"{change.table}")
        return out
    t, c = qualified_name(change.table), ident(col.name)
    base = change.table.partition(".")[2]
    ref = ObjectRef.in_table("column", change.table, col.name)
    row_count = rows(table)
    # Column and default in one instant transaction: rows inserted from now on get a value;
    # a volatile DEFAULT set on an existing column rewrites nothing.
    out.add(f"add-column-{base}-{col.name}",
            title=f"add {change.object} {col.type}, nullable, DEFAULT {found.volatile_sql} "
                  "for new rows (no rewrite)",
            reason=f"missing column {change.object} (Django default {found.callable})",
            kind=StepKind.DDL, table=change.table, target=ref, creates=(ref,),
            sql=(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {c} {col.type}",
                 f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {found.volatile_sql}"),
            probe=(f"SELECT {probes.has_column(t, col.name)} AND ("
                   f"{probes.has_default(t, col.name)} OR "
                   f"{probes.column_not_null(t, col.name)})"),
            reverse=(f"ALTER TABLE {t} DROP COLUMN IF EXISTS {c}",),
            lock="ACCESS EXCLUSIVE", lock_duration="instant")
    out.add(f"backfill-{base}-{col.name}",
            title=f"backfill {col.name} = {found.volatile_sql} for existing rows in batches",
            reason=f"existing rows need a value before {col.name} can be NOT NULL",
            kind=StepKind.BACKFILL, table=change.table, target=ref,
            probe=f"SELECT NOT EXISTS (SELECT 1 FROM {t} WHERE {c} IS NULL)",
            lock="ROW EXCLUSIVE (per batch)", lock_duration="instant",
            estimated_rows=row_count, estimated_seconds=est_seconds(row_count, 150_000),
            backfill=Backfill(table.schema, table.name, key, col.name, found.volatile_sql))
    not_null_steps(out, change.table, col.name, row_count, precheck=False)
    if not col.default:
        out.add(f"drop-default-{base}-{col.name}",
                title=f"DROP DEFAULT on {change.object} (Django keeps it in Python)",
                reason="the migration state has no database default", kind=StepKind.DDL,
                table=change.table, target=ref,
                sql=(f"ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT",),
                probe=f"SELECT {probes.default_is(t, col.name, None)}",
                reverse=(f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {found.volatile_sql}",),
                lock="ACCESS EXCLUSIVE", lock_duration="instant")
    return out


def _single_key(table: Table) -> str | None:
    pk = table.primary_key
    return pk.columns[0] if pk is not None and len(pk.columns) == 1 else None
