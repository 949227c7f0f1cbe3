"""Refusals made before anything changes, as free functions every face can call."""
from __future__ import annotations

import re

import psycopg
from psycopg import sql

from pgreconcile.apply.probes import is_done
from pgreconcile.errors import DestructiveStepRefused, Refused
from pgreconcile.plan.sqltext import qualified_name
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


def refuse_existing_data(conn, plan: Plan, show_samples: bool = False) -> None:
    """Refuse when existing rows would make a step fail (FK orphans, duplicates under a
    new unique key, NULLs, CHECK violations), naming counts and samples.

    The refusal lands in reports and Ansible results, so a sample names the offending
    rows by their primary key, never by their values (e-mails, names), unless
    `show_samples` (--show-samples)."""
    problems = []
    for step in plan.steps:
        if not step.precheck or is_done(conn, step):
            continue
        try:
            row = _precheck(conn, step.precheck)
        except psycopg.Error:
            continue  # the table or column does not exist yet: an earlier step adds it
        count, sample = row[0], row[1]
        if count:
            rows = row[2] if len(row) > 2 else None
            problems.append(f"{step.id}: {count} row(s) would violate it"
                            + sample_text(conn, step, sample, rows, show_samples))
    if problems:
        raise Refused("existing data would make the plan fail; nothing was changed: "
                      + "; ".join(problems),
                      hint="fix or delete those rows (or add the constraint in a data "
                           "migration), then apply again"
                           + ("" if show_samples else "; --show-samples shows their values"))


_TID = re.compile(r"\(\d+,\d+\)")


def sample_text(conn, step, sample, rows: str | None, show_samples: bool) -> str:
    """" (e.g. ...)" for a refusal: the sample itself with `show_samples`, or when it is
    no row data (a sequence value, a role, objects in a schema); else the primary keys of
    the rows (`rows`: their ctids, or ctids as the sample), or no values at all."""
    if sample is None:
        return ""
    row_data = rows is not None or "row_number() OVER ()" in step.precheck
    if show_samples or not row_data:
        return f" (e.g. {sample})"
    tids = _TID.findall(rows if rows is not None else str(sample))
    if rows is None and _TID.sub("", str(sample)).strip(" ,"):
        tids = []  # a sample of values from an older plan: never shown by default
    keys = _primary_keys(conn, step.table, tids) if tids and step.table else None
    if keys:
        return f" (e.g. rows with {keys})"
    if tids:
        return f" (e.g. rows at {', '.join(tids[:5])}; values hidden)"
    return " (values hidden)"


def _primary_keys(conn, table: str, tids: list[str]) -> str | None:
    """`id = 3, 7` (or `(a, b) = (1, 2), ...`) for the rows at `tids` of `table`; None
    when it has no primary key or cannot be read."""
    try:
        cols = [r[0] for r in conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY (i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary "
            "ORDER BY array_position(i.indkey::int2[], a.attnum)",
            (qualified_name(table),)).fetchall()]
        if not cols:
            return None
        key = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in cols)
        schema, _, name = table.partition(".")
        values = conn.execute(sql.SQL("SELECT {} FROM {} WHERE ctid = ANY (%s::tid[]) "
                                      "ORDER BY ctid").format(
            key, sql.Identifier(schema, name)), (list(dict.fromkeys(tids))[:10],)).fetchall()
    except psycopg.Error:
        return None
    if not values:
        return None
    if len(cols) == 1:
        return f"{cols[0]} = " + ", ".join(str(v[0]) for v in values)
    return (f"({', '.join(cols)}) = "
            + ", ".join("(" + ", ".join(str(x) for x in v) + ")" for v in values))


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
            "SELECT p.n, encode(convert_to(p.s::text, 'SQL_ASCII'), 'escape'), "
            # the row ids a newer precheck returns third (sample_text), when there
            "(SELECT value FROM jsonb_each_text(to_jsonb(p) - 'n' - 's') LIMIT 1) "
            "FROM ({}) AS p(n, s)").format(sql.SQL(query.strip().rstrip(";")))).fetchone()
