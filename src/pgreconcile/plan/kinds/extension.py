"""A missing extension: CREATE EXTENSION IF NOT EXISTS (needs it installed on the server)."""
from __future__ import annotations

from pgreconcile.plan import probes
from pgreconcile.plan.context import PlanContext, Planned
from pgreconcile.plan.sqltext import ident
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change

HANDLES = (("extension", "missing"),)


def plan(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    name = change.expected["name"]
    ref = ObjectRef("extension", "", None, name)
    out.add(f"extension-{name}", title=f"CREATE EXTENSION {name}", reason=change.object,
            kind=StepKind.DDL, table=None, target=ref, creates=(ref,),
            sql=(f"CREATE EXTENSION IF NOT EXISTS {ident(name)}",),
            probe=f"SELECT {probes.has_extension(name)}",
            reverse=(f"DROP EXTENSION IF EXISTS {ident(name)}",),
            lock="none", lock_duration="instant")
    return out
