"""A missing index: built CONCURRENTLY, from the model's fields."""
from __future__ import annotations

from pgreconcile.plan import probes
from pgreconcile.plan.context import PlanContext, Planned, rows
from pgreconcile.plan.sqltext import ident, qualified, qualified_name
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change
from pgreconcile.schema.model import Index

HANDLES = (("index", "missing"),)


def plan(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    index = Index.from_dict(change.expected)
    table = ctx.live_table(change.table)
    if table is None:
        out.refuse(change, "table is missing")
        return out
    schema = change.table.partition(".")[0]
    ref = ObjectRef.in_table("index", change.table, index.name)
    out.add(f"index-{index.name}", title=f"build index {index.name} CONCURRENTLY",
            reason=f"missing index {change.object}", kind=StepKind.CONCURRENT,
            table=change.table, target=ref, creates=(ref,),
            sql=(create_index_sql(index, change.table),),
            probe=f"SELECT {probes.has_valid_index_in_schema(schema, index.name)}",
            reverse=(f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(schema, index.name)}",),
            lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan", estimated_rows=rows(table))
    return out


def create_index_sql(index: Index, table: str) -> str:
    """CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS name ON table USING method (keys)
    [WHERE predicate], for `index` on `table` ("schema.table")."""
    unique = "UNIQUE " if index.unique else ""
    return (f"CREATE {unique}INDEX CONCURRENTLY IF NOT EXISTS {ident(index.name)} ON "
            f"{qualified_name(table)} USING {index_body(index)}")


def index_body(index: Index) -> str:
    """`method (keys) [WHERE predicate]` from the fields. The fields hold the key columns
    and expressions only; when the definition PostgreSQL printed says more (DESC, an
    operator class, a collation, INCLUDE, NULLS NOT DISTINCT, storage parameters), its
    clause after USING is taken as printed, whole."""
    body = f"{index.method} ({', '.join(index.columns)})"
    if index.predicate:
        body += f" WHERE {index.predicate}"
    printed = printed_body(index.definition)
    return body if printed is None or printed == body else printed


def printed_body(definition: str) -> str | None:
    """The clause after ` USING ` in pg_get_indexdef output (None if it has none)."""
    _, on, rest = definition.partition(" ON ")
    _, using, body = rest.partition(" USING ")
    return body if on and using and body else None
