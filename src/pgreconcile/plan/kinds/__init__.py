"""One module per kind of change, each with the same interface:

    HANDLES: tuple of (change.kind, change.bucket) it plans for
    plan(change, ctx: PlanContext) -> Planned

`primary_key` also has `applies(change)`: a moved primary key is planned first, before
any other change, because its steps also take care of the key's new column (and, with
pk_strategy=keep, of the old one). `table` comes next: missing schemas and tables (with
the extensions, collations, enums, domains, composite types, sequences and functions a new
table may need) exist before any other change refers to them, such as a foreign key of an
existing table to a missing one. Every other change is looked up in HANDLERS (a changed
constraint that is not a moved primary key goes to `constraint`); what is not there has no
safe automatic fix and is reported as unsupported.
"""
from __future__ import annotations

from collections.abc import Callable

from pgreconcile.plan.context import PlanContext, Planned
from pgreconcile.plan.kinds import (
    collation,
    column,
    comment,
    composite,
    constraint,
    domain,
    enum,
    extension,
    extra,
    function,
    index,
    primary_key,
    privilege,
    rls,
    sequence,
    trigger,
    view,
)
from pgreconcile.plan.kinds import table as new_table
from pgreconcile.schema.diff import Change

Handler = Callable[[Change, PlanContext], Planned]

#: Handlers that claim a change before the others run, in this order.
FIRST: tuple = (primary_key, new_table)

HANDLERS: dict[tuple[str, str], Handler] = {
    key: module.plan
    for module in (column, index, constraint, extension, enum, new_table, rls, extra,
                   sequence, domain, composite, collation, comment, privilege,
                   view, function, trigger)
    for key in module.HANDLES
}


def unsupported(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    out.refuse(change, change.risk or "no safe automatic fix; write a migration for it")
    return out


def handler_for(change: Change) -> Handler:
    return HANDLERS.get((change.kind, change.bucket), unsupported)
