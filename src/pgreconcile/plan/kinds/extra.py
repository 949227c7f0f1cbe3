"""Objects only live has: kept and reported, never dropped by default."""
from __future__ import annotations

from pgreconcile.plan.context import PlanContext, Planned
from pgreconcile.schema.diff import KINDS, Change

HANDLES = tuple((kind, "extra") for kind in KINDS)


def plan(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    out.keep(change, "extra on live: kept and reported, never dropped by default")
    return out
