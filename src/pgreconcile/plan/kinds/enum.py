"""A missing enum: CREATE TYPE … AS ENUM. An enum that lacks labels: ALTER TYPE … ADD
VALUE, each in its place. Labels removed or reordered mean a new type and a rewrite of
every column using it: unsupported."""
from __future__ import annotations

from pgreconcile.plan import probes
from pgreconcile.plan.context import PlanContext, Planned
from pgreconcile.plan.sqltext import literal, qualified
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change

HANDLES = (("enum", "missing"), ("enum", "different"))


def plan(change: Change, ctx: PlanContext) -> Planned:
    if change.bucket == "missing":
        return missing(change)
    out = Planned()
    live, exp = list(change.live.get("labels", [])), list(change.expected.get("labels", []))
    if [x for x in live if x in exp] != [x for x in exp if x in live] or set(live) - set(exp):
        out.refuse(change, "enum labels removed or reordered")
        return out
    ref = ObjectRef.of("enum", change.object)
    for i, label in enumerate(exp):
        if label in live:
            continue
        position = (f" AFTER {literal(exp[i - 1])}" if i > 0 else
                    (f" BEFORE {literal(exp[1])}" if len(exp) > 1 else ""))
        out.add(f"enum-{ref.name}-{label}", title=f"add label {label!r} to {change.object}",
                reason=f"enum {change.object} lacks {label!r}", kind=StepKind.CONCURRENT,
                table=None, target=ref,
                sql=(f"ALTER TYPE {qualified(ref.schema, ref.name)} ADD VALUE IF NOT EXISTS "
                     f"{literal(label)}{position}",),
                probe=f"SELECT {probes.has_enum_label(ref.schema, ref.name, label)}",
                lock="ACCESS EXCLUSIVE", lock_duration="instant")
        live = live[:i] + [label] + live[i:]
    return out


def missing(change: Change) -> Planned:
    """CREATE TYPE … AS ENUM with the reference's labels, in their order (instant: a new
    type nobody uses yet). Planned in the diff's order, before the columns that use it."""
    out = Planned()
    ref = ObjectRef.of("enum", change.object)
    name = qualified(ref.schema, ref.name)
    labels = ", ".join(literal(label) for label in change.expected.get("labels", ()))
    out.add(f"enum-{ref.name}", title=f"CREATE TYPE {change.object} AS ENUM",
            reason=f"missing enum {change.object}", kind=StepKind.DDL, table=None, target=ref,
            creates=(ref,), sql=(f"CREATE TYPE {name} AS ENUM ({labels})",),
            probe=(f"SELECT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = "
                   f"t.typnamespace WHERE n.nspname = {literal(ref.schema)} AND t.typname = "
                   f"{literal(ref.name)} AND t.typtype = 'e')"),
            reverse=(f"DROP TYPE IF EXISTS {name}",), lock="none", lock_duration="instant")
    return out
