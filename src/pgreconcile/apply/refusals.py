"""Refusals made before anything changes, as free functions every face can call."""
from __future__ import annotations

import psycopg

from pgreconcile.apply.probes import is_done
from pgreconcile.errors import DestructiveStepRefused, Refused
from pgreconcile.plan.steps import Plan


def refuse_destructive(plan: Plan, allow_destructive: bool) -> None:
    """A plan with destructive steps runs only when explicitly allowed."""
    destructive = plan.destructive_steps
    if destructive and not allow_destructive:
        raise DestructiveStepRefused(
            f"the plan has {len(destructive)} destructive step(s) "
            f"({', '.join(s.id for s in destructive)}); nothing was changed")


def unsupported_refusal(plan: Plan) -> Refused | None:
    """The refusal for drift the plan cannot fix safely (None when there is none)."""
    if not plan.unsupported:
        return None
    return Refused(f"{len(plan.unsupported)} difference(s) cannot be fixed safely: "
                   + "; ".join(f"{u.object}: {u.why}" for u in plan.unsupported[:3]),
                   hint="write a migration for these, or reconcile them by hand")


def refuse_unsupported(plan: Plan) -> None:
    refusal = unsupported_refusal(plan)
    if refusal is not None:
        raise refusal


def refuse_existing_data(conn, plan: Plan) -> None:
    """Refuse when existing rows would make a step fail (FK orphans, duplicates under a
    new unique key, NULLs, CHECK violations), naming counts and samples."""
    problems = []
    for step in plan.steps:
        if not step.precheck or is_done(conn, step):
            continue
        try:
            count, sample = conn.execute(step.precheck).fetchone()
        except psycopg.Error:
            continue  # the table or column does not exist yet: an earlier step adds it
        if count:
            problems.append(f"{step.id}: {count} row(s) would violate it (e.g. {sample})")
    if problems:
        raise Refused("existing data would make the plan fail; nothing was changed: "
                      + "; ".join(problems),
                      hint="fix or delete those rows (or add the constraint in a data "
                           "migration), then apply again")
