"""A missing constraint. Foreign keys and checks: ADD … NOT VALID, then VALIDATE
(a scan that does not block writers). Unique and primary keys: a unique index built
CONCURRENTLY, then ADD CONSTRAINT … USING INDEX (instant)."""
from __future__ import annotations

from pgreconcile.plan import probes
from pgreconcile.plan.context import PlanContext, Planned, rows
from pgreconcile.plan.sqltext import ident, idents, qualified, qualified_name
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change
from pgreconcile.schema.model import Constraint

HANDLES = (("constraint", "missing"),)


def plan(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    con = Constraint.from_dict(change.expected)
    table = ctx.live_table(change.table)
    if table is None:
        out.refuse(change, "table is missing")
        return out
    t = qualified_name(change.table)
    ref = ObjectRef.in_table("constraint", change.table, con.name)
    reverse = (f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {ident(con.name)}",)
    if con.kind in ("fk", "check"):
        # The whole clause as PostgreSQL prints it (a CHECK's expression is only there);
        # NOT VALID is the `validated` field, added here and validated by the next step.
        definition = con.definition.removesuffix(" NOT VALID")
        out.add(f"constraint-{con.name}", title=f"add {con.kind} {con.name} NOT VALID",
                reason=f"missing constraint {change.object}", kind=StepKind.DDL,
                table=change.table, target=ref, creates=(ref,),
                precheck=violations_sql(t, con, definition),
                sql=(f"ALTER TABLE {t} ADD CONSTRAINT {ident(con.name)} {definition} "
                     "NOT VALID",),
                probe=f"SELECT {probes.has_constraint(t, con.name)}", reverse=reverse,
                lock="SHARE ROW EXCLUSIVE" if con.kind == "fk" else "ACCESS EXCLUSIVE",
                lock_duration="instant")
        if con.validated:
            out.add(f"validate-{con.name}", title=f"VALIDATE CONSTRAINT {con.name}",
                    reason="existing rows are checked without blocking writers",
                    kind=StepKind.DDL, table=change.table, target=ref,
                    sql=(f"ALTER TABLE {t} VALIDATE CONSTRAINT {ident(con.name)}",),
                    probe=f"SELECT {probes.has_constraint(t, con.name, validated=True)}",
                    lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan",
                    estimated_rows=rows(table))
    elif con.kind in ("unique", "pk") and con.columns:
        idx = con.name
        schema = change.table.partition(".")[0]
        index_ref = ObjectRef.in_table("index", change.table, idx)
        out.add(f"index-{idx}", title=f"build unique index {idx} CONCURRENTLY",
                reason=f"missing constraint {change.object}", kind=StepKind.CONCURRENT,
                table=change.table, target=index_ref, creates=(index_ref,),
                precheck=duplicates_sql(t, con.columns),
                sql=(f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {ident(idx)} ON {t} "
                     f"({idents(con.columns)})",),
                probe=(f"SELECT {probes.has_constraint(t, con.name)} OR "
                       f"{probes.has_valid_index(t, idx)}"),
                reverse=(f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(schema, idx)}",),
                lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan",
                estimated_rows=rows(table))
        word = "PRIMARY KEY" if con.kind == "pk" else "UNIQUE"
        deferrable = (" DEFERRABLE INITIALLY " + ("DEFERRED" if con.deferred else "IMMEDIATE")
                      if con.deferrable else "")
        out.add(f"constraint-{con.name}", title=f"attach {idx} as {word}",
                reason=f"missing constraint {change.object}", kind=StepKind.DDL,
                table=change.table, target=ref, creates=(ref,),
                sql=(f"ALTER TABLE {t} ADD CONSTRAINT {ident(con.name)} {word} USING INDEX "
                     f"{ident(idx)}{deferrable}",),
                probe=f"SELECT {probes.has_constraint(t, con.name)}", reverse=reverse,
                lock="ACCESS EXCLUSIVE", lock_duration="instant")
    else:
        out.refuse(change, f"{con.kind} constraints are not added automatically")
    return out


def violations_sql(t: str, con: Constraint, definition: str) -> str:
    """Rows that would make VALIDATE fail: FK orphans or CHECK violations, with samples."""
    if con.kind == "fk":
        cols = [ident(c) for c in con.columns]
        refs = [ident(c) for c in con.ref_columns]
        join = " AND ".join(f"p.{r} = c.{x}" for x, r in zip(cols, refs, strict=True))
        notnull = " AND ".join(f"c.{x} IS NOT NULL" for x in cols)
        key = " || ',' || ".join(f"c.{x}::text" for x in cols)
        return (f"SELECT count(*), string_agg(k, ', ') FILTER (WHERE n <= 5) FROM (SELECT {key} "
                f"AS k, row_number() OVER () AS n FROM {t} AS c WHERE {notnull} AND NOT EXISTS "
                f"(SELECT 1 FROM {qualified_name(con.ref_table)} AS p WHERE {join})) AS v")
    expr = definition.removeprefix("CHECK ").strip()
    return (f"SELECT count(*), string_agg(ctid::text, ', ') FILTER (WHERE n <= 5) FROM "
            f"(SELECT ctid, row_number() OVER () AS n FROM {t} WHERE NOT {expr}) AS v")


def duplicates_sql(t: str, columns: tuple[str, ...]) -> str:
    """Groups of rows that would make a unique index on `columns` fail, with samples."""
    key = " || ',' || ".join(f"{ident(c)}::text" for c in columns)
    return (f"SELECT count(*), string_agg(k, ', ') FILTER (WHERE n <= 5) FROM (SELECT {key} AS k,"
            f" row_number() OVER () AS n FROM {t} WHERE "
            + " AND ".join(f"{ident(c)} IS NOT NULL" for c in columns)
            + f" GROUP BY {idents(columns)} HAVING count(*) > 1) AS v")
