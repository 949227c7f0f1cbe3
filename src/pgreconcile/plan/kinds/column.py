"""Columns: a missing column, and a column whose type, default or nullability differs.

NOT NULL never takes a long ACCESS EXCLUSIVE scan: CHECK (… IS NOT NULL) NOT VALID,
VALIDATE under SHARE UPDATE EXCLUSIVE, then SET NOT NULL (which uses the validated CHECK).
"""
from __future__ import annotations

import re

from pgreconcile.plan import probes
from pgreconcile.plan.context import PlanContext, Planned, est_seconds, rows
from pgreconcile.plan.kinds import fill
from pgreconcile.plan.sqltext import ident, qualified_name
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change
from pgreconcile.schema.model import Column

HANDLES = (("column", "missing"), ("column", "different"))

_VOLATILE = ("nextval(", "random(", "gen_random_uuid(", "uuid_generate", "clock_timestamp(")
_VARCHAR = re.compile(r"character varying\((\d+)\)")


def plan(change: Change, ctx: PlanContext) -> Planned:
    return missing(change, ctx) if change.bucket == "missing" else different(change, ctx)


def missing(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    col = Column.from_dict(change.expected)
    table = ctx.live_table(change.table)
    if table is None:
        out.refuse(change, "table is missing too")
        return out
    filled = fill.plan(change, ctx)  # a NOT NULL column with a Django field default
    if filled is not None:
        return filled
    t = qualified_name(change.table)
    ref = ObjectRef.in_table("column", change.table, col.name)
    # A volatile default would rewrite the table: those columns are added without it.
    default = f" DEFAULT {col.default}" if col.default and non_volatile(col.default) else ""
    precheck = ""
    if col.not_null and not default:
        if rows(table):
            out.refuse(change, "NOT NULL column without a constant default on a non-empty "
                               "table needs a backfill rule; write a data migration")
            return out
        # Row estimates can be stale: the executor checks the table is really empty.
        precheck = (f"SELECT count(*), 'the table is not empty; a NOT NULL column without a "
                    f"default needs a data migration'::text FROM {t}")
    out.add(f"add-column-{table.name}-{col.name}",
            title=f"add {change.object} {col.type}{default}",
            reason=f"missing column {change.object}", kind=StepKind.DDL, table=change.table,
            target=ref, creates=(ref,), precheck=precheck,
            sql=(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {ident(col.name)} {col.type}"
                 f"{default}",),
            probe=f"SELECT {probes.has_column(t, col.name)}",
            reverse=(f"ALTER TABLE {t} DROP COLUMN IF EXISTS {ident(col.name)}",),
            lock="ACCESS EXCLUSIVE", lock_duration="instant")
    if col.not_null:
        not_null_steps(out, change.table, col.name, rows(table))
    return out


def not_null_steps(out: Planned, table: str, column: str, row_count: int, *,
                   precheck: bool = True) -> None:
    """CHECK NOT VALID, VALIDATE, SET NOT NULL: three steps on `table` ("schema.table")."""
    base = table.partition(".")[2]
    t, c = qualified_name(table), ident(column)
    chk = f"{base}_{column}_not_null"[:63]
    check = ObjectRef.in_table("constraint", table, chk)
    done = probes.column_not_null(t, column)
    out.add(f"check-not-null-{base}-{column}", title=f"CHECK ({column} IS NOT NULL) NOT VALID",
            reason=f"expected {table}.{column} NOT NULL", kind=StepKind.DDL, table=table,
            target=check, creates=(check,),
            precheck=(f"SELECT count(*), string_agg(ctid::text, ', ') FILTER (WHERE n <= 5) "
                      f"FROM (SELECT ctid, row_number() OVER () AS n FROM {t} WHERE {c} IS "
                      f"NULL) AS v") if precheck else "",
            sql=(f"ALTER TABLE {t} ADD CONSTRAINT {ident(chk)} CHECK ({c} IS NOT NULL) "
                 "NOT VALID",),
            probe=f"SELECT {done} OR {probes.has_constraint(t, chk)}",
            reverse=(f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {ident(chk)}",),
            lock="ACCESS EXCLUSIVE", lock_duration="instant")
    out.add(f"validate-not-null-{base}-{column}", title=f"VALIDATE CONSTRAINT {chk}",
            reason="scan under SHARE UPDATE EXCLUSIVE: writers keep writing", kind=StepKind.DDL,
            table=table, target=check,
            sql=(f"ALTER TABLE {t} VALIDATE CONSTRAINT {ident(chk)}",),
            probe=f"SELECT {done} OR {probes.has_constraint(t, chk, validated=True)}",
            lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan", estimated_rows=row_count,
            estimated_seconds=est_seconds(row_count, 2_000_000))
    out.add(f"set-not-null-{base}-{column}",
            title=f"SET NOT NULL on {column} (uses the validated CHECK, no scan)",
            reason=f"expected {table}.{column} NOT NULL", kind=StepKind.DDL, table=table,
            target=ObjectRef.in_table("column", table, column),
            sql=(f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL",
                 f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {ident(chk)}"),
            probe=f"SELECT {done} AND NOT {probes.has_constraint(t, chk)}",
            reverse=(f"ALTER TABLE {t} ALTER COLUMN {c} DROP NOT NULL",),
            lock="ACCESS EXCLUSIVE", lock_duration="instant")


def different(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    live, exp = Column.from_dict(change.live), Column.from_dict(change.expected)
    table = ctx.live_table(change.table)
    t, c = qualified_name(change.table), ident(exp.name)
    ref = ObjectRef.in_table("column", change.table, exp.name)
    attrs = set(change.attributes) or {"type", "not_null", "default"}
    if "type" in attrs and live.type != exp.type:
        safe = widening(live.type, exp.type)
        out.add(f"type-{table.name}-{exp.name}",
                title=f"change type of {change.object}: {live.type} → {exp.type}",
                reason=change.risk or "type differs", kind=StepKind.DDL, table=change.table,
                target=ref, sql=(f"ALTER TABLE {t} ALTER COLUMN {c} TYPE {exp.type}",),
                probe=f"SELECT {probes.column_type_is(t, exp.name, exp.type)}",
                reverse=(f"ALTER TABLE {t} ALTER COLUMN {c} TYPE {live.type}",),
                lock="ACCESS EXCLUSIVE", lock_duration="instant" if safe else "rewrite",
                destructive=not safe, estimated_rows=rows(table))
    if "default" in attrs and live.default != exp.default:
        out.add(f"default-{table.name}-{exp.name}", title=_set_default(c, exp.default),
                reason=f"default of {change.object} differs", kind=StepKind.DDL,
                table=change.table, target=ref,
                sql=(f"ALTER TABLE {t} {_set_default(c, exp.default)}",),
                probe=f"SELECT {probes.default_is(t, exp.name, exp.default)}",
                reverse=(f"ALTER TABLE {t} {_set_default(c, live.default)}",),
                lock="ACCESS EXCLUSIVE", lock_duration="instant")
    if "not_null" in attrs and live.not_null != exp.not_null:
        if exp.not_null:
            not_null_steps(out, change.table, exp.name, rows(table))
        else:
            out.add(f"drop-not-null-{table.name}-{exp.name}",
                    title=f"DROP NOT NULL on {change.object}", reason="nullability differs",
                    kind=StepKind.DDL, table=change.table, target=ref,
                    sql=(f"ALTER TABLE {t} ALTER COLUMN {c} DROP NOT NULL",),
                    probe=f"SELECT {probes.column_nullable(t, exp.name)}",
                    reverse=(f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL",),
                    lock="ACCESS EXCLUSIVE", lock_duration="instant")
    other = attrs - {"type", "default", "not_null"}
    if other:
        out.refuse(change, f"{', '.join(sorted(other))} differ; no safe automatic fix")
    return out


def _set_default(column_sql: str, default: str | None) -> str:
    return (f"ALTER COLUMN {column_sql} SET DEFAULT {default}" if default
            else f"ALTER COLUMN {column_sql} DROP DEFAULT")


def non_volatile(default: str) -> bool:
    return not any(v in default for v in _VOLATILE)


def widening(old: str, new: str) -> bool:
    """Type changes PostgreSQL does without a rewrite."""
    m_old, m_new = _VARCHAR.fullmatch(old), _VARCHAR.fullmatch(new)
    if m_old and (new in ("text", "character varying") or
                  (m_new and int(m_new.group(1)) >= int(m_old.group(1)))):
        return True
    return (old, new) in {("character varying", "text")}

