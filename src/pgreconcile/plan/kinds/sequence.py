"""Sequences: a missing free-standing sequence, options that differ, and a sequence that is
behind its column.

* missing: CREATE SEQUENCE IF NOT EXISTS with every option of the reference, then OWNED BY
  its column when that column exists live; when the column already holds values, a second
  step moves the new sequence past them (see "behind"). A serial sequence of a missing
  table is created by the table's own step (plan/kinds/table.py), not here;
* different options: ONE ALTER SEQUENCE with the clauses that differ (AS type, INCREMENT,
  MINVALUE, MAXVALUE, START, CACHE, CYCLE, OWNED BY). Instant; a narrower type or maximum
  fails (atomically) when the current value is beyond it, which the precheck reports first;
* behind (the next nextval() would hand out a value the owning column already has: a data
  load with explicit ids): `setval(seq, GREATEST(max(column), current), true)`. It never
  moves a sequence backwards; the probe is "the current value is at least max(column)".
  It may come with option changes on the same change: the options step runs first.
  It has no reverse: moving a sequence back would hand out used values again.
"""
from __future__ import annotations

from pgreconcile.plan.context import PlanContext, Planned
from pgreconcile.plan.sqltext import ident, literal, qualified, qualified_name
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change
from pgreconcile.schema.model import Sequence

HANDLES = (("sequence", "missing"), ("sequence", "different"))

#: The attributes ALTER SEQUENCE can change, in the order its clauses are written.
OPTIONS = ("data_type", "increment", "minimum", "maximum", "start", "cache", "cycle",
           "owned_by")

_INT_WIDTH = {"smallint": 2, "integer": 4, "bigint": 8}


def plan(change: Change, ctx: PlanContext) -> Planned:
    if change.bucket == "missing":
        return missing(change, ctx)
    return different(change, ctx)


def create_sequence_sql(seq: Sequence) -> str:
    return (f"CREATE SEQUENCE IF NOT EXISTS {qualified(seq.schema, seq.name)} AS "
            f"{seq.data_type} INCREMENT BY {seq.increment} MINVALUE {seq.minimum} "
            f"MAXVALUE {seq.maximum} START WITH {seq.start} CACHE {seq.cache} "
            f"{'CYCLE' if seq.cycle else 'NO CYCLE'}")


def owned_by_sql(owned_by: str | None) -> str:
    """The OWNED BY target: `"schema"."table"."column"`, or NONE."""
    if not owned_by:
        return "NONE"
    table, column = owned_by.rsplit(".", 1)
    return f"{qualified_name(table)}.{ident(column)}"


def owner_exists(ctx: PlanContext, owned_by: str | None) -> bool:
    if not owned_by:
        return True
    table_name, column = owned_by.rsplit(".", 1)
    table = ctx.live_table(table_name)
    return table is not None and table.column(column) is not None


def options_probe(seq_sql: str, seq: Sequence, attributes) -> str:
    """True when the sequence has `seq`'s values for `attributes`."""
    tests = []
    for a in attributes:
        if a == "data_type":
            tests.append(f"s.seqtypid = {literal(seq.data_type)}::regtype")
        elif a == "owned_by":
            tests.append(owned_probe(seq_sql, seq.owned_by))
        else:
            column = {"increment": "seqincrement", "minimum": "seqmin", "maximum": "seqmax",
                      "start": "seqstart", "cache": "seqcache", "cycle": "seqcycle"}[a]
            value = str(getattr(seq, a)).lower()
            tests.append(f"s.{column} = {value}")
    where = " AND ".join(tests) or "true"
    return (f"SELECT EXISTS (SELECT 1 FROM pg_sequence s WHERE s.seqrelid = "
            f"to_regclass({literal(seq_sql)}) AND {where})")


def owned_probe(seq_sql: str, owned_by: str | None) -> str:
    """The sequence is owned by `owned_by` ("schema.table.column"), or by nothing."""
    owner = (f"SELECT d.refobjid, d.refobjsubid FROM pg_depend d WHERE d.classid = "
             f"'pg_class'::regclass AND d.objid = to_regclass({literal(seq_sql)}) AND "
             f"d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')")
    if not owned_by:
        return f"NOT EXISTS ({owner})"
    table, column = owned_by.rsplit(".", 1)
    t = qualified_name(table)
    return (f"EXISTS (SELECT 1 FROM ({owner}) o JOIN pg_attribute a ON a.attrelid = o.refobjid "
            f"AND a.attnum = o.refobjsubid WHERE o.refobjid = to_regclass({literal(t)}) AND "
            f"a.attname = {literal(column)})")


def missing(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    seq = Sequence.from_dict(change.expected)
    s = qualified(seq.schema, seq.name)
    ref = ObjectRef.of("sequence", seq.qualified_name)
    sql = [create_sequence_sql(seq)]
    owned = seq.owned_by if owner_exists(ctx, seq.owned_by) else None
    if owned:
        sql.append(f"ALTER SEQUENCE {s} OWNED BY {owned_by_sql(owned)}")
    elif seq.owned_by:
        out.notes.append(f"sequence {seq.qualified_name}: its column {seq.owned_by} does not "
                         "exist yet; OWNED BY is planned on the next run")
    out.add(f"sequence-{seq.schema}-{seq.name}", title=f"CREATE SEQUENCE {seq.qualified_name}",
            reason=f"missing sequence {seq.qualified_name}", kind=StepKind.DDL, table=None,
            target=ref, creates=(ref,), sql=tuple(sql),
            probe=(f"SELECT to_regclass({literal(s)}) IS NOT NULL"
                   + (f" AND {owned_probe(s, owned)}" if owned else "")),
            reverse=(f"DROP SEQUENCE IF EXISTS {s}",), lock="none", lock_duration="instant")
    if owned:
        catch_up_step(out, s, seq.qualified_name, seq.owned_by, ctx,
                      why=f"new sequence {seq.qualified_name} must start past the values "
                          f"{seq.owned_by} already has")
    return out


def different(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    live, exp = Sequence.from_dict(change.live), Sequence.from_dict(change.expected)
    s = qualified(live.schema, live.name)  # the sequence that exists (its name may differ)
    ref = ObjectRef.of("sequence", live.qualified_name)
    options = [a for a in OPTIONS if a in change.attributes]
    if "data_type" in options:  # the type's default limits would otherwise apply
        options = [a for a in OPTIONS if a in options or a in ("minimum", "maximum")]
    if "owned_by" in options and not owner_exists(ctx, exp.owned_by):
        options.remove("owned_by")
        out.notes.append(f"sequence {live.qualified_name}: its column {exp.owned_by} does "
                         "not exist yet; OWNED BY is planned on the next run")
    if options:
        narrower = (_INT_WIDTH.get(exp.data_type, 8) < _INT_WIDTH.get(live.data_type, 8)
                    or exp.maximum < live.maximum or exp.minimum > live.minimum)
        precheck = ""
        if narrower:
            precheck = (f"SELECT count(*), 'current value ' || min(last_value)::text || "
                        f"' is outside {exp.minimum}..{exp.maximum}' FROM pg_sequences "
                        f"WHERE schemaname = {literal(live.schema)} AND sequencename = "
                        f"{literal(live.name)} AND (last_value > {exp.maximum} OR "
                        f"last_value < {exp.minimum})")
        out.add(f"alter-sequence-{live.schema}-{live.name}",
                title=f"ALTER SEQUENCE {live.qualified_name} ({', '.join(options)})",
                reason=f"sequence {change.object} differs: {', '.join(options)}",
                kind=StepKind.DDL, table=None, target=ref,
                sql=(f"ALTER SEQUENCE {s} {alter_clauses(exp, options)}",),
                probe=options_probe(s, exp, options),
                reverse=(f"ALTER SEQUENCE IF EXISTS {s} {alter_clauses(live, options)}",),
                lock="SHARE ROW EXCLUSIVE", lock_duration="instant", precheck=precheck)
    if "behind" in change.attributes:
        owned_by = live.owned_by or exp.owned_by
        if owned_by is None:
            out.refuse(change, "the sequence is behind, but it belongs to no column")
        else:
            catch_up_step(out, s, live.qualified_name, owned_by, ctx,
                          why=(f"sequence {live.qualified_name} is behind {owned_by}: "
                               f"last value {live.last_value}, column maximum "
                               f"{live.column_max}"))
    return out


def alter_clauses(seq: Sequence, options) -> str:
    parts = []
    for a in options:
        if a == "data_type":
            parts.append(f"AS {seq.data_type}")
        elif a == "increment":
            parts.append(f"INCREMENT BY {seq.increment}")
        elif a == "minimum":
            parts.append(f"MINVALUE {seq.minimum}")
        elif a == "maximum":
            parts.append(f"MAXVALUE {seq.maximum}")
        elif a == "start":
            parts.append(f"START WITH {seq.start}")
        elif a == "cache":
            parts.append(f"CACHE {seq.cache}")
        elif a == "cycle":
            parts.append("CYCLE" if seq.cycle else "NO CYCLE")
        elif a == "owned_by":
            parts.append(f"OWNED BY {owned_by_sql(seq.owned_by)}")
    return " ".join(parts)


def current_sql(seq_sql: str) -> str:
    """The last value nextval() handed out (start - 1 when it never ran: the next one is
    `last_value` itself then)."""
    return (f"(SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END "
            f"FROM {seq_sql})")


def catch_up_step(out: Planned, seq_sql: str, seq_name: str, owned_by: str,
                  ctx: PlanContext, *, why: str) -> None:
    """setval past max(column), never backwards; done when the sequence is there already."""
    table, column = owned_by.rsplit(".", 1)
    t = qualified_name(table)
    maximum = f"(SELECT max({ident(column)}) FROM {t})"
    ref = ObjectRef.of("sequence", seq_name)
    out.add(f"setval-{seq_name.replace('.', '-')}", title=f"move {seq_name} past max({column})",
            reason=why, kind=StepKind.DDL, table=table, target=ref,
            sql=(f"SELECT setval({literal(seq_sql)}::regclass, GREATEST({maximum}, "
                 f"{current_sql(seq_sql)}), true)",),
            probe=f"SELECT COALESCE({maximum} <= {current_sql(seq_sql)}, true)",
            reverse=(), lock="ACCESS SHARE", lock_duration="instant")
