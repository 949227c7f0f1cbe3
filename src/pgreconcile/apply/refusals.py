"""Refusals made before anything changes, as free functions every face can call."""
from __future__ import annotations

import psycopg
from psycopg import sql

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
            count, sample = _precheck(conn, step.precheck)
        except psycopg.Error:
            continue  # the table or column does not exist yet: an earlier step adds it
        if count:
            problems.append(f"{step.id}: {count} row(s) would violate it (e.g. {sample})")
    if problems:
        raise Refused("existing data would make the plan fail; nothing was changed: "
                      + "; ".join(problems),
                      hint="fix or delete those rows (or add the constraint in a data "
                           "migration), then apply again")


def _precheck(conn, query: str) -> tuple:
    """(count, sample) of a step's precheck. In a SQL_ASCII database the sample may hold
    bytes that are not UTF-8, which the server will not send to our UTF8 connection
    (pg/connection.py): then the sample is read again as escaped bytes (\\351), so the
    refusal still comes, naming them, instead of the precheck being skipped."""
    try:
        return conn.execute(query).fetchone()
    except psycopg.errors.CharacterNotInRepertoire:
        # Same statement as a subquery; only the sample is re-encoded, on the server.
        return conn.execute(sql.SQL(
            "SELECT p.n, encode(convert_to(p.s::text, 'SQL_ASCII'), 'escape') "
            "FROM ({}) AS p(n, s)").format(sql.SQL(query.strip().rstrip(";")))).fetchone()
