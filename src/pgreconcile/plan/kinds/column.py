"""Columns: a missing column, and a column whose type, default or nullability differs.

NOT NULL never takes a long ACCESS EXCLUSIVE scan: CHECK (… IS NOT NULL) NOT VALID,
VALIDATE under SHARE UPDATE EXCLUSIVE, then SET NOT NULL (which uses the validated CHECK).
"""
from __future__ import annotations

import re
from dataclasses import replace

from pgreconcile.plan import probes
from pgreconcile.plan.context import PlanContext, Planned, est_seconds, rows
from pgreconcile.plan.kinds import fill
from pgreconcile.plan.sqltext import fit, ident, literal, qualified_name, regclass
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
    from pgreconcile.plan.kinds.table import column_sql

    t = qualified_name(change.table)
    ref = ObjectRef.in_table("column", change.table, col.name)
    # A volatile default would rewrite the table: those columns are added without it.
    keep_default = bool(col.default) and non_volatile(col.default) and not col.generated
    default = f" DEFAULT {col.default}" if keep_default else ""
    # An identity column fills every row (and is NOT NULL by itself); a generated one gets
    # its values from its expression: neither needs a backfill rule.
    filled_by_pg = bool(col.identity or col.generated)
    precheck = ""
    if col.not_null and not default and not filled_by_pg:
        if rows(table):
            out.refuse(change, "NOT NULL column without a constant default on a non-empty "
                               "table needs a backfill rule; write a data migration")
            return out
        # Row estimates can be stale: the executor checks the table is really empty.
        precheck = (f"SELECT count(*), 'the table is not empty; a NOT NULL column without a "
                    f"default needs a data migration'::text FROM {t}")
    # Same clauses as CREATE TABLE (COLLATE, identity, GENERATED … STORED|VIRTUAL), the
    # default only when constant, NOT NULL in the steps after (CHECK NOT VALID, VALIDATE).
    body = column_sql(replace(col, default=col.default if keep_default else None),
                      not_null=False)
    # A STORED generated or identity column is written into every row: a table rewrite
    # under ACCESS EXCLUSIVE (not destructive: nothing is lost).
    rewrite = col.generated == "s" or bool(col.identity)
    out.add(f"add-column-{table.name}-{col.name}",
            title=f"add {change.object} {body.partition(' ')[2]}",
            reason=f"missing column {change.object}", kind=StepKind.DDL, table=change.table,
            target=ref, creates=(ref,), precheck=precheck,
            sql=(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {body}",),
            probe=f"SELECT {column_is(t, col, col.default if keep_default else None)}",
            reverse=(f"ALTER TABLE {t} DROP COLUMN IF EXISTS {ident(col.name)}",),
            lock="ACCESS EXCLUSIVE", lock_duration="rewrite" if rewrite else "instant",
            **({"estimated_rows": rows(table),
                "estimated_seconds": est_seconds(rows(table), _REWRITE_ROWS_PER_SEC)}
               if rewrite else {}))
    if col.not_null and not col.identity:
        not_null_steps(out, change.table, col.name, rows(table))
    return out


#: Rows per second of an ADD COLUMN that writes every row (a rough estimate).
_REWRITE_ROWS_PER_SEC = 200_000.0


def column_is(t: str, col: Column, default: str | None = None) -> str:
    """`col` exists in `t` as the reference has it: its type, collation, identity and
    generation (kind and expression), and `default` when the step sets one (NOT NULL has
    its own steps). Expressions are compared without qualifiers: a probe's search_path
    may differ from the catalog's."""
    from pgreconcile.plan.kinds.view import normalized

    coll = (f"a.attcollation = {literal(col.collation)}::regcollation" if col.collation
            else "a.attcollation = ty.typcollation")
    expr = (f" AND {normalized('pg_get_expr(d.adbin, d.adrelid)')} = "
            f"{normalized(literal(col.generation_expression))}"
            if col.generated and col.generation_expression else "")
    if default is not None:
        expr += (f" AND {normalized('pg_get_expr(d.adbin, d.adrelid)')} = "
                 f"{normalized(literal(default))}")
    return (f"EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid "
            f"LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            f"WHERE a.attrelid = {regclass(t)} AND a.attname = {literal(col.name)} AND NOT "
            f"a.attisdropped AND {normalized('format_type(a.atttypid, a.atttypmod)')} = "
            f"{normalized(literal(col.type))} AND {coll} AND a.attidentity = "
            f"{literal(col.identity)} AND a.attgenerated = {literal(col.generated)}{expr})")


def not_null_steps(out: Planned, table: str, column: str, row_count: int, *,
                   precheck: bool = True) -> None:
    """CHECK NOT VALID, VALIDATE, SET NOT NULL: three steps on `table` ("schema.table")."""
    base = table.partition(".")[2]
    t, c = qualified_name(table), ident(column)
    chk = fit(f"{base}_{column}_not_null")
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
    """Type, default, nullability and identity, in the order PostgreSQL accepts them: the
    type (with its dependent views dropped and recreated around it), an identity the
    reference does not have dropped, the default, NOT NULL (set or dropped), then the
    identity added or switched (it needs NOT NULL and no default)."""
    out = Planned()
    live, exp = Column.from_dict(change.live), Column.from_dict(change.expected)
    table = ctx.live_table(change.table)
    t, c = qualified_name(change.table), ident(exp.name)
    ref = ObjectRef.in_table("column", change.table, exp.name)
    attrs = set(change.attributes) or {"type", "not_null", "default"}
    default_done = False
    if "type" in attrs and live.type != exp.type:
        default_done = _type_step(out, change, ctx, live, exp)
    identity = "identity" in attrs and live.identity != exp.identity
    dropping_not_null = "not_null" in attrs and live.not_null and not exp.not_null
    if live.identity and not exp.identity and (identity or dropping_not_null):
        out.add(f"drop-identity-{table.name}-{exp.name}",
                title=f"DROP IDENTITY on {change.object}",
                reason=f"{change.object} is an identity column live, not in the reference",
                kind=StepKind.DDL, table=change.table, target=ref,
                sql=(f"ALTER TABLE {t} ALTER COLUMN {c} DROP IDENTITY IF EXISTS",),
                probe=f"SELECT {identity_is(t, exp.name, '')}",
                reverse=_add_identity_sql(t, live),
                lock="ACCESS EXCLUSIVE", lock_duration="instant")
    adding_identity = identity and bool(exp.identity) and not live.identity
    if "default" in attrs and live.default != exp.default and not default_done and not (
            adding_identity and exp.default is None):
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
            blocker = _primary_key_first(out, change, ctx, exp.name)
            if blocker:
                out.refuse(change, blocker)
            else:
                out.add(f"drop-not-null-{table.name}-{exp.name}",
                        title=f"DROP NOT NULL on {change.object}",
                        reason="nullability differs", kind=StepKind.DDL, table=change.table,
                        target=ref, sql=(f"ALTER TABLE {t} ALTER COLUMN {c} DROP NOT NULL",),
                        probe=f"SELECT {probes.column_nullable(t, exp.name)}",
                        reverse=(f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL",),
                        lock="ACCESS EXCLUSIVE", lock_duration="instant")
    if identity and exp.identity:
        _identity_step(out, change, live, exp)
    other = attrs - {"type", "default", "not_null", "identity"}
    if other:
        out.refuse(change, f"{', '.join(sorted(other))} differ; no safe automatic fix")
    return out


_IDENTITY = {"a": "ALWAYS", "d": "BY DEFAULT"}
_TEXT_LIKE = re.compile(r"(text|character varying(\(\d+\))?|character(\(\d+\))?)")


def identity_is(t: str, column: str, identity: str) -> str:
    return (f"attidentity = {literal(identity)} FROM pg_attribute WHERE attrelid = "
            f"{regclass(t)} AND attname = {literal(column)}")


def _add_identity_sql(t: str, col: Column) -> tuple[str, ...]:
    """Make `col` an identity column as `col` says, its sequence past the column's values."""
    c = ident(col.name)
    return (f"ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT",
            f"ALTER TABLE {t} ALTER COLUMN {c} ADD GENERATED {_IDENTITY[col.identity]} AS "
            "IDENTITY",
            f"SELECT setval(pg_get_serial_sequence({literal(t)}, {literal(col.name)}), "
            f"coalesce(max({c}), 0) + 1, false) FROM {t}")


def _identity_step(out: Planned, change: Change, live: Column, exp: Column) -> None:
    table_name = change.table
    t, c = qualified_name(table_name), ident(exp.name)
    base = table_name.partition(".")[2]
    ref = ObjectRef.in_table("column", table_name, exp.name)
    if live.identity:
        sql: tuple[str, ...] = (f"ALTER TABLE {t} ALTER COLUMN {c} SET GENERATED "
                                f"{_IDENTITY[exp.identity]}",)
        reverse: tuple[str, ...] = (f"ALTER TABLE {t} ALTER COLUMN {c} SET GENERATED "
                                    f"{_IDENTITY[live.identity]}",)
        title = f"SET GENERATED {_IDENTITY[exp.identity]} on {change.object}"
    else:
        sql = _add_identity_sql(t, exp)
        reverse = (f"ALTER TABLE {t} ALTER COLUMN {c} DROP IDENTITY IF EXISTS",
                   *((f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {live.default}",)
                     if live.default else ()))
        title = (f"make {change.object} GENERATED {_IDENTITY[exp.identity]} AS IDENTITY "
                 "(sequence set past max)"
                 + (f", instead of its default {live.default}" if live.default else ""))
    out.add(f"identity-{base}-{exp.name}", title=title,
            reason=f"identity of {change.object} differs", kind=StepKind.DDL,
            table=table_name, target=ref, sql=sql,
            probe=f"SELECT {identity_is(t, exp.name, exp.identity)}", reverse=reverse,
            lock="ACCESS EXCLUSIVE", lock_duration="instant")


def _type_step(out: Planned, change: Change, ctx: PlanContext, live: Column,
               exp: Column) -> bool:
    """ALTER COLUMN … TYPE, with USING when PostgreSQL needs a cast, the views that read the
    table dropped before and recreated after in the same transaction. True when the step
    also sets the column's expected default (an old default may not cast to the new type)."""
    from pgreconcile.plan.kinds import view

    table = ctx.live_table(change.table)
    t, c = qualified_name(change.table), ident(exp.name)
    ref = ObjectRef.in_table("column", change.table, exp.name)
    safe = widening(live.type, exp.type)
    enums = {e.qualified_name for e in (*ctx.live.enums, *ctx.expected.enums)}
    via_text = (live.type.removesuffix("[]") in enums or exp.type.removesuffix("[]") in enums)
    cast = f"{c}::text::{exp.type}" if via_text else f"{c}::{exp.type}"
    back = f"{c}::text::{live.type}" if via_text else f"{c}::{live.type}"
    using = via_text or needs_using(live.type, exp.type)
    alter = [f"ALTER TABLE {t} ALTER COLUMN {c} TYPE {exp.type}"
             + (f" USING ({cast})" if using else "")]
    undo = [f"ALTER TABLE {t} ALTER COLUMN {c} TYPE {live.type}"
            + (f" USING ({back})" if via_text or needs_using(exp.type, live.type) else "")]
    default_done = bool(live.default) and using
    if default_done:
        # The old default may not cast to the new type: dropped before, the expected one
        # set after, in the same transaction.
        alter = [f"ALTER TABLE {t} {_set_default(c, None)}", *alter,
                 *([f"ALTER TABLE {t} {_set_default(c, exp.default)}"] if exp.default else [])]
        undo = [f"ALTER TABLE {t} {_set_default(c, None)}", *undo,
                f"ALTER TABLE {t} {_set_default(c, live.default)}"]
    deps = view.dependants(ctx.live, {change.table})
    recreated = [view.recreation(d, ctx) for d in deps]
    # Policies and WHEN clauses of triggers may use the column too ("cannot alter type of a
    # column used in a policy definition"): dropped and recreated as live has them.
    drop_more, create_more = _policies_and_triggers(ctx, change.table)
    drops = [view.drop_sql(r.live) for r in reversed(recreated)] + drop_more
    sql = [*drops, *alter, *create_more]
    reverse = [*drops, *undo, *create_more]
    for r in recreated:
        sql += [*view.create_sql(r.view), *r.restore]
    for r in view.as_live(deps, ctx.live):
        reverse += [*view.create_sql(r.view), *r.restore]
    view.mark_recreated(out, ctx, recreated)
    precheck = ""
    if not safe and (via_text or _TEXT_LIKE.fullmatch(live.type)):
        # Values that do not read as the new type (pg_input_is_valid, PostgreSQL 16+; on
        # older servers the check cannot run and the ALTER itself fails on them).
        precheck = (f"SELECT count(*), string_agg(v, ', ') FILTER (WHERE n <= 5), "
                    f"string_agg(r, ' ') FILTER (WHERE n <= 5) FROM (SELECT {c}::text AS v, "
                    f"ctid::text AS r, row_number() OVER () AS n FROM {t} WHERE {c} IS "
                    f"NOT NULL AND NOT pg_input_is_valid({c}::text, {literal(exp.type)})) AS s")
    title = f"change type of {change.object}: {live.type} → {exp.type}"
    if using:
        title += f" USING {cast.replace(c, exp.name)}"
    if deps:
        title += (f"; drop and recreate {len(deps)} dependent view(s) "
                  f"({', '.join(d.qualified_name for d in deps)})")
    out.add(f"type-{table.name}-{exp.name}", title=title,
            reason=change.risk or "type differs", kind=StepKind.DDL, table=change.table,
            target=ref, sql=tuple(sql), precheck=precheck,
            probe=f"SELECT {type_is(t, exp.name, exp.type)}",
            reverse=tuple(reverse), lock="ACCESS EXCLUSIVE",
            lock_duration="instant" if safe else "rewrite",
            destructive=not safe, estimated_rows=rows(table))
    return default_done


def _policies_and_triggers(ctx: PlanContext, table: str) -> tuple[list[str], list[str]]:
    """(drop, create) statements for the table's policies and its triggers with a WHEN
    clause, as live has them."""
    from pgreconcile.plan.kinds import rls, trigger

    live_t = ctx.live_table(table)
    drops: list[str] = []
    creates: list[str] = []
    for policy in live_t.policies if live_t else ():
        drops.append(rls.drop_policy_sql(policy.name, table))
        creates.append(rls.create_policy_sql(policy, table))
    for trg in ctx.live.triggers:
        if trg.table_name == table and " WHEN (" in trg.definition:
            drops.append(trigger.drop_sql(trg))
            creates += trigger.create_sql(trg)
    return drops, creates


def type_is(t: str, column: str, type_: str) -> str:
    """The column has this type, as format_type prints it under any search_path (a type of
    a schema on the path prints unqualified, so qualifiers are taken out of both sides)."""
    from pgreconcile.plan.kinds.view import normalized

    return (f"{normalized('format_type(atttypid, atttypmod)')} = {normalized(literal(type_))} "
            f"FROM pg_attribute WHERE attrelid = {regclass(t)} AND attname = {literal(column)}")


def _primary_key_first(out: Planned, change: Change, ctx: PlanContext,
                       column: str) -> str:
    """Why NOT NULL cannot be dropped from `column` (empty: it can). A column of the live
    primary key is NOT NULL until the key no longer holds it: a moved key is planned first
    (primary_key, a FIRST handler); a key the reference does not have is dropped here first
    when extras are dropped (--drop-extra); anything else is refused, not left to fail."""
    from pgreconcile.plan.kinds import primary_key

    live_t = ctx.live_table(change.table)
    pk = live_t.primary_key if live_t else None
    if pk is None or column not in pk.columns:
        return ""
    moved = next((c for c in ctx.diff.significant
                  if c.table == change.table and primary_key.applies(c)), None)
    if moved is not None:
        refused = primary_key.plan(moved, ctx).unsupported
        if refused:
            return (f"{column} is in the live primary key {pk.name}, whose move cannot be "
                    f"planned ({refused[0].why}); DROP NOT NULL would fail")
        if ctx.strategy == "keep":
            return (f"{column} stays in the primary key {pk.name}: pk_strategy=keep keeps the "
                    "old key, so DROP NOT NULL would fail; plan with --pk-strategy swap")
        return ""
    exp_t = ctx.expected_table(change.table)
    if exp_t is not None and exp_t.primary_key is None:
        extra = next((c for c in ctx.diff.significant if c.table == change.table
                      and c.kind == "constraint" and c.bucket == "extra"
                      and (c.live or {}).get("kind") == "pk"), None)
        if ctx.drop_extra and extra is not None:
            t = qualified_name(change.table)
            con = ObjectRef.in_table("constraint", change.table, pk.name)
            out.add(f"drop-primary-key-{live_t.name}",
                    title=f"drop primary key {pk.name} (the reference has none)",
                    reason=f"{change.object} is nullable in the reference and the key "
                           "holds it NOT NULL", kind=StepKind.DDL, table=change.table,
                    target=con, sql=(f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS "
                                     f"{ident(pk.name)}",),
                    probe=f"SELECT NOT {probes.has_constraint(t, pk.name)}",
                    lock="ACCESS EXCLUSIVE", lock_duration="instant", destructive=True)
            out.handled.add(f"constraint:{extra.object}")
            return ""
        return (f"{column} is in the live primary key {pk.name}, which the reference does "
                "not have and which is kept (extras are kept unless --drop-extra); "
                "DROP NOT NULL would fail")
    return f"{column} is in the primary key {pk.name}; a key column cannot be nullable"


def _set_default(column_sql: str, default: str | None) -> str:
    return (f"ALTER COLUMN {column_sql} SET DEFAULT {default}" if default
            else f"ALTER COLUMN {column_sql} DROP DEFAULT")


def non_volatile(default: str) -> bool:
    return not any(v in default for v in _VOLATILE)


_FAMILIES = (
    re.compile(r"text|character varying(\(\d+\))?|character(\(\d+\))?|\"char\"|name"),
    re.compile(r"smallint|integer|bigint|numeric(\(\d+,\d+\))?|real|double precision"),
    re.compile(r"date|timestamp(\(\d\))? with(out)? time zone"),
    re.compile(r"time(\(\d\))? with(out)? time zone"),
)


def needs_using(old: str, new: str) -> bool:
    """No assignment cast from `old` to `new` (PostgreSQL asks for USING): any change
    between type families; to a character type there is always one."""
    if _FAMILIES[0].fullmatch(new):
        return False
    return not any(f.fullmatch(old) and f.fullmatch(new) for f in _FAMILIES)


def widening(old: str, new: str) -> bool:
    """Type changes PostgreSQL does without a rewrite."""
    m_old, m_new = _VARCHAR.fullmatch(old), _VARCHAR.fullmatch(new)
    if m_old and (new in ("text", "character varying") or
                  (m_new and int(m_new.group(1)) >= int(m_old.group(1)))):
        return True
    return (old, new) in {("character varying", "text")}

