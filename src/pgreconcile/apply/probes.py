"""Asking a step's probes: is it already done? Read-only."""
from __future__ import annotations

import psycopg

from pgreconcile.pg.connection import ConnectionSpec
from pgreconcile.plan.steps import Plan, Step


def ask(conn, query: str) -> bool:
    """A probe's answer; a probe that fails (its table does not exist yet) says no.

    Run with search_path = pg_catalog, as the catalog was read: a probe compares what
    PostgreSQL prints now (pg_get_expr, pg_get_functiondef, …) with the model's text, which
    names every user object schema-qualified; under the application's search_path the same
    default would print as `nextval('t_id_seq'::regclass)` and never match."""
    try:
        with conn.transaction():
            conn.execute("SELECT set_config('search_path', 'pg_catalog', true)")
            row = conn.execute(query).fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0])


def is_done(conn, step: Step) -> bool:
    """`done_if` first (a later step made this one moot), then the step's own probe."""
    if step.done_if and ask(conn, step.done_if):
        return True
    return bool(step.probe) and ask(conn, step.probe)


def pending_steps(spec: ConnectionSpec, plan: Plan) -> list[str]:
    """Ids of the steps whose "already done?" probe says no; read-only."""
    with spec.connect() as conn:
        return [step.id for step in plan.steps if not is_done(conn, step)]
