"""Triggers: a missing one, one defined differently, one enabled differently.

The definition is pg_get_triggerdef's CREATE TRIGGER statement; its function is created
earlier in the plan (functions come before tables in the planner's order).

* missing: CREATE TRIGGER, then its firing mode when that is not the default (O).
* definition or function differs: DROP TRIGGER IF EXISTS + CREATE in one transaction.
* only `enabled` differs: ALTER TABLE … ENABLE / DISABLE / ENABLE REPLICA / ENABLE ALWAYS
  TRIGGER.
"""
from __future__ import annotations

from pgreconcile.plan.context import PlanContext, Planned
from pgreconcile.plan.kinds.view import normalized
from pgreconcile.plan.sqltext import ident, literal, qualified_name, regclass
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change
from pgreconcile.schema.model import Trigger

HANDLES = (("trigger", "missing"), ("trigger", "different"))

#: pg_trigger.tgenabled → the ALTER TABLE clause that sets it.
ENABLE = {"O": "ENABLE TRIGGER", "D": "DISABLE TRIGGER", "R": "ENABLE REPLICA TRIGGER",
          "A": "ENABLE ALWAYS TRIGGER"}
MODE = {"O": "enabled", "D": "disabled", "R": "enabled for replicas only",
        "A": "enabled always"}


def plan(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    trg = Trigger.from_dict(change.expected)
    if trg.enabled not in ENABLE:
        out.refuse(change, f"unknown trigger firing mode {trg.enabled!r}")
        return out
    table = trg.table_name
    ref = ObjectRef.in_table("trigger", table, trg.name)
    probe = f"SELECT {trigger_is(trg)}"
    if change.bucket == "missing":
        out.add(f"create-trigger-{trg.table}-{trg.name}",
                title=f"create trigger {trg.name} on {table}"
                      + (f" ({MODE[trg.enabled]})" if trg.enabled != "O" else ""),
                reason=f"missing trigger {change.object}", kind=StepKind.DDL, table=table,
                target=ref, creates=(ref,), sql=tuple(create_sql(trg)), probe=probe,
                reverse=(drop_sql(trg),), lock="SHARE ROW EXCLUSIVE",
                lock_duration="instant")
        return out
    live = Trigger.from_dict(change.live)
    if set(change.attributes) == {"enabled"}:
        out.add(f"enable-trigger-{trg.table}-{trg.name}",
                title=f"trigger {trg.name} on {table}: {MODE[live.enabled]} → "
                      f"{MODE[trg.enabled]}",
                reason=f"trigger {change.object} is {MODE[live.enabled]} live",
                kind=StepKind.DDL, table=table, target=ref, sql=(enable_sql(trg),),
                probe=probe, reverse=(enable_sql(live),), lock="SHARE ROW EXCLUSIVE",
                lock_duration="instant")
        return out
    out.add(f"recreate-trigger-{trg.table}-{trg.name}",
            title=f"recreate trigger {trg.name} on {table} (DROP + CREATE in one transaction)",
            reason=f"trigger {change.object}: {', '.join(change.attributes)} differs",
            kind=StepKind.DDL, table=table, target=ref,
            sql=(drop_sql(live), *create_sql(trg)), probe=probe,
            reverse=(drop_sql(trg), *create_sql(live)), lock="ACCESS EXCLUSIVE",
            lock_duration="instant")
    return out


def create_sql(trg: Trigger) -> list[str]:
    sql = [trg.definition.strip().rstrip(";")]
    if trg.enabled != "O":
        sql.append(enable_sql(trg))
    return sql


def drop_sql(trg: Trigger) -> str:
    return f"DROP TRIGGER IF EXISTS {ident(trg.name)} ON {qualified_name(trg.table_name)}"


def enable_sql(trg: Trigger) -> str:
    return (f"ALTER TABLE {qualified_name(trg.table_name)} {ENABLE[trg.enabled]} "
            f"{ident(trg.name)}")


def trigger_is(trg: Trigger) -> str:
    """Probe expression: the trigger exists on its table with this definition (compared
    without qualifiers, whitespace squashed) and this firing mode."""
    return (f"EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = "
            f"{regclass(qualified_name(trg.table_name))} AND t.tgname = {literal(trg.name)} "
            f"AND NOT t.tgisinternal AND t.tgenabled = {literal(trg.enabled)} "
            f"AND {normalized('pg_get_triggerdef(t.oid)')} = "
            f"{normalized(literal(trg.definition))})")
