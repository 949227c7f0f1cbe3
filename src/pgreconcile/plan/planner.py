"""Turn a diff into the smallest safe, ordered, lock-aware list of steps. Pure: no DB.

Every step says what SQL it runs, which lock it takes and for how long
(instant / scan / rewrite), how to tell it is already done (a probe query that
returns true), how to undo it, and whether it destroys anything. The executor
trusts nothing else.

Safe patterns: columns are added nullable without volatile defaults; data is
backfilled in keyset batches; unique indexes are built CONCURRENTLY and then
attached with `USING INDEX`; NOT NULL goes through `CHECK … NOT VALID` +
`VALIDATE`; foreign keys are added `NOT VALID` and validated separately.

Each kind of change has its own module in `pgreconcile.plan.kinds`; this one runs them
in order and numbers their steps.
"""
from __future__ import annotations

from collections.abc import Mapping

from pgreconcile.errors import Refused
from pgreconcile.plan.backfill import STABLE_UUID_NAMESPACE, backfill_batch_sql
from pgreconcile.plan.context import FieldDefault, PlanContext, Planned
from pgreconcile.plan.kinds import FIRST, extra, handler_for
from pgreconcile.plan.steps import Plan, Step
from pgreconcile.schema.diff import Diff
from pgreconcile.schema.model import Schema

__all__ = ["STABLE_UUID_NAMESPACE", "Plan", "Step", "backfill_batch_sql", "make_plan",
           "plan_changes"]


def plan_changes(ctx: PlanContext) -> Planned:
    """Every significant change through its handler: moved primary keys first, then the
    rest in diff order, skipping what an earlier handler already took care of or kept.
    With drop_extra, the extras' drops come last, all at once, in reverse dependency order
    (kinds/extra.py)."""
    total = Planned()
    for module in FIRST:
        for change in ctx.diff.significant:
            if module.applies(change):
                total.extend(module.plan(change, ctx))
    drops = []
    for change in ctx.diff.significant:
        if total.covers(change):
            continue
        handler = handler_for(change)
        if ctx.drop_extra and handler is extra.plan:
            drops.append(change)
        else:
            total.extend(handler(change, ctx))
    if drops:
        total.extend(extra.drop_all(drops, ctx))
    return total


def refuse_dotted_schemas(live: Schema, expected: Schema, diff: Diff) -> None:
    """A model knows an object by `schema.name`, and SQL is built by splitting that key at
    its first dot: a schema whose own name holds a dot would be split in the wrong place and
    a step would name another object (or none). Dots in table, column, index or constraint
    names are fine. A change in such a schema is refused before anything is planned."""
    dotted = {n for m in (live, expected) for n in (*m.namespaces, *(t.schema for t in m.tables))
              if "." in n}
    hit = sorted({s for s in dotted for c in diff.significant
                  for key in (c.object, c.table or "") if key == s or key.startswith(s + ".")})
    if hit:
        raise Refused(f"drift in schema(s) {', '.join(map(repr, hit))}, whose name holds a dot: "
                      "pgreconcile names objects `schema.name` and cannot tell where such a "
                      "schema's name ends, so it plans nothing; nothing was changed",
                      hint="leave the schema out with --exclude-schema, or rename it")


def make_plan(live: Schema, expected: Schema, diff: Diff, *, strategy: str = "keep",
              backfill: str = "stable", drop_extra: bool = False,
              field_defaults: Mapping[str, FieldDefault] | None = None) -> Plan:
    if strategy not in ("keep", "swap"):
        raise ValueError("strategy must be keep or swap")
    if backfill not in ("stable", "random"):
        raise ValueError("backfill must be stable or random")
    refuse_dotted_schemas(live, expected, diff)
    planned = plan_changes(PlanContext(live, expected, diff, strategy, backfill, drop_extra,
                                       dict(field_defaults or {})))
    # Destructive when the handler said so or the classifier does (plan/destructive.py):
    # the same union Plan.from_dict computes when the plan is read back.
    steps = tuple(s.derived() for s in planned.numbered())
    return Plan("", live.database, strategy, backfill, live.fingerprint(), steps,
                tuple(planned.kept), tuple(planned.unsupported), tuple(planned.residual),
                tuple(planned.notes)).sealed()
