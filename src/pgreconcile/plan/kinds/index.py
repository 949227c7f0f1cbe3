"""Indexes, missing or changed, built without blocking writers.

* a missing index: CREATE INDEX CONCURRENTLY, from the model's fields;
* a missing index of a partitioned table (which cannot be built CONCURRENTLY): the
  parent's index ON ONLY the parent (instant, INVALID until every partition has its
  own), then for each partition an index built CONCURRENTLY and ATTACHed to it; a
  partition that is itself partitioned gets the same treatment, one level down. When the
  last partition's index is attached, PostgreSQL marks the parent's index VALID;
* an index whose definition changed under the same name: the new one is built (as
  above) under a temporary name, then one short transaction drops the old one and
  renames the new one;
* an index INVALID live (an interrupted build): built again CONCURRENTLY (the executor
  drops the INVALID one first).
"""
from __future__ import annotations

import hashlib

from pgreconcile.plan import probes
from pgreconcile.plan.context import PlanContext, Planned, rows
from pgreconcile.plan.sqltext import (
    MAX_NAME,
    fit,
    ident,
    literal,
    qualified,
    qualified_name,
    regclass,
)
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change
from pgreconcile.schema.model import Index, Table

HANDLES = (("index", "missing"), ("index", "different"))

# pg_get_indexdef prints a name schema-qualified unless the session's search_path makes
# it visible: the probe compares the definitions with every "qualifier." taken out.
_QUALIFIER = r'(?:"(?:[^"]|"")+"|[[:alpha:]_][[:alnum:]_$]*)\.'


def plan(change: Change, ctx: PlanContext) -> Planned:
    if change.bucket == "different":
        return changed(change, ctx)
    out = Planned()
    index = Index.from_dict(change.expected)
    table = ctx.live_table(change.table)
    if table is None:
        out.refuse(change, "table is missing")
        return out
    build(out, ctx, table, index, index.name, reason=f"missing index {change.object}")
    return out


def build(out: Planned, ctx: PlanContext, table: Table, index: Index, name: str, *,
          reason: str, done: str = "", undo: bool = True) -> None:
    """Steps that build `index` as `name` on `table` without blocking its writers.
    `done`: a probe expression also true once a later step consumed the index. `undo`
    False: a partitioned table's index exists (INVALID) already; its partitions' indexes
    the steps attach to it cannot be detached, and dropping it would drop the ones
    attached before: those steps have no reverse."""
    if table.partition_key:
        _build_partitioned(out, ctx, table, index, name, reason=reason, done=done,
                           undo=undo)
        return
    schema = table.schema
    ref = ObjectRef.in_table("index", table.qualified_name, name)
    probe = probes.has_valid_index_in_schema(schema, name)
    out.add(f"index-{name}", title=f"build index {name} CONCURRENTLY",
            reason=reason, kind=StepKind.CONCURRENT,
            table=table.qualified_name, target=ref, creates=(ref,),
            sql=(create_index_sql(index, table.qualified_name, name),),
            probe=f"SELECT {_either(done, probe)}",
            reverse=(f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(schema, name)}",)
            if undo else (),
            lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan", estimated_rows=rows(table))


def _build_partitioned(out: Planned, ctx: PlanContext, table: Table, index: Index,
                       name: str, *, reason: str, done: str, undo: bool) -> None:
    """The parent's index ON ONLY the parent, then each partition's built CONCURRENTLY
    and attached to it (recursively for partitions that are partitioned themselves)."""
    parent = table.qualified_name
    t = qualified_name(parent)
    ref = ObjectRef.in_table("index", parent, name)
    drop = f"DROP INDEX IF EXISTS {qualified(table.schema, name)}"
    unique = "UNIQUE " if index.unique else ""
    finished = probes.has_valid_index_in_schema(table.schema, name)
    out.add(f"index-{name}", title=f"create index {name} ON ONLY {parent} (INVALID until "
                                   "every partition's index is attached)",
            reason=f"{reason}: a partitioned table's index cannot be built CONCURRENTLY; "
                   "the parent's own is empty and instant, each partition's is built next",
            kind=StepKind.DDL, table=parent, target=ref, creates=(ref,),
            sql=(f"CREATE {unique}INDEX IF NOT EXISTS {ident(name)} ON ONLY {t} USING "
                 f"{index_body(index)}",),
            probe=f"SELECT {_either(done, _index_on(t, name))}",
            # Dropping the parent's index drops the partitions' attached to it.
            reverse=(drop,) if undo else (), lock="SHARE (the parent only)",
            lock_duration="instant")
    for part in partitions(ctx, parent):
        child = _child_name(ctx, part, name)
        part_name = part.qualified_name
        child_ref = ObjectRef.in_table("index", part_name, child)
        # The partition's part is done once some index of it is attached to the parent's
        # (an earlier, interrupted run may have attached one of another name).
        attached = _attached(table.schema, name, qualified_name(part_name))
        build(out, ctx, ctx.live_table(part_name) or part, index, child,
              reason=f"{reason}: the index of partition {part_name}",
              done=_either(done, finished, attached), undo=undo)
        out.add(f"attach-{child}", title=f"attach index {child} of {part_name} to {name}",
                reason=f"{reason}: index {name} of {parent} takes {child} as its partition's",
                kind=StepKind.DDL, table=part_name, target=child_ref,
                sql=(f"ALTER INDEX {qualified(table.schema, name)} ATTACH PARTITION "
                     f"{qualified(part.schema, child)}",),
                probe=f"SELECT {_either(done, attached)}",
                reverse=(drop,) if undo else (),
                lock="ACCESS EXCLUSIVE on the partition's index, SHARE UPDATE EXCLUSIVE on "
                     "the parent's", lock_duration="instant")


def partitions(ctx: PlanContext, parent: str) -> list[Table]:
    """The partitions of `parent`: live ones, and those the reference has that live lacks
    (the table handler creates them before any index step runs), by name."""
    found = {t.qualified_name: t for t in ctx.expected.tables if t.partition_of == parent
             and ctx.live_table(t.qualified_name) is None}
    found.update({t.qualified_name: t for t in ctx.live.tables if t.partition_of == parent})
    return [found[k] for k in sorted(found)]


def _child_name(ctx: PlanContext, part: Table, name: str) -> str:
    """A name for the partition's index, free in its schema: "<partition>_<index>",
    shortened with a hash when too long or taken."""
    taken = {n for t in (*ctx.live.tables, *ctx.expected.tables) if t.schema == part.schema
             for n in (t.name, *(i.name for i in t.indexes))}
    taken |= {s.name for s in ctx.live.sequences if s.schema == part.schema}
    taken |= {v.name for v in ctx.live.views if v.schema == part.schema}
    candidate = f"{part.name}_{name}"
    if len(candidate.encode()) <= MAX_NAME and candidate not in taken:
        return candidate
    digest = hashlib.sha256(f"{part.qualified_name}.{name}".encode()).hexdigest()[:8]
    return f"{fit(part.name, 27)}_{fit(name, 26)}_{digest}"


# -- a changed index ---------------------------------------------------------------------

def changed(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    live, expected = Index.from_dict(change.live), Index.from_dict(change.expected)
    table = ctx.live_table(change.table)
    attributes = set(change.attributes)
    if table is None:
        out.refuse(change, "table is missing")
    elif change.cosmetic or attributes <= {"name"}:
        pass  # the same index under another name: nothing to do
    elif attributes == {"valid"}:
        if live.valid:
            out.refuse(change, change.risk or "index is invalid in the reference")
        else:
            # Same definition, INVALID live. A plain table's: the executor drops the
            # INVALID index of the step's own name before it builds it again. A partitioned
            # table's (ON ONLY, partitions missing theirs): the partitions whose index is
            # not attached yet get theirs.
            build(out, ctx, table, expected, expected.name,
                  reason=f"index {change.object} is INVALID live",
                  undo=not table.partition_key)
    else:
        _replace(out, change, ctx, table, live, expected)
    return out


def _replace(out: Planned, change: Change, ctx: PlanContext, table: Table, live: Index,
             expected: Index) -> None:
    """The expected index built under a temporary name, then swapped in for the live one
    in one short transaction."""
    dependents = sorted(f"{tb.qualified_name}.{c.name}" for tb in ctx.live.tables
                        for c in tb.constraints if c.kind == "fk"
                        and c.ref_table == change.table
                        and set(c.ref_columns) == set(live.columns)) if live.unique else []
    if dependents:
        out.refuse(change, f"index differs ({', '.join(change.attributes)}); foreign keys "
                           f"depend on unique index {live.name} ({', '.join(dependents)}): "
                           "replacing it means dropping them; write a migration")
        return
    schema = table.schema
    t = qualified_name(change.table)
    temp = f"{fit(expected.name, MAX_NAME - 9)}_pgrc_new"
    done = definition_is(t, expected.name, expected)
    differs = ", ".join(change.attributes)
    build(out, ctx, table, expected, temp, done=done,
          reason=f"index {change.object} differs ({differs}): the new one is built first")
    ref = ObjectRef.in_table("index", change.table, expected.name)
    unique = "UNIQUE " if live.unique else ""
    word = " (and the partitions' attached to it)" if table.partition_key else ""
    out.add(f"swap-{expected.name}",
            title=f"replace index {live.name} by {temp} (renamed {expected.name})",
            reason=f"index {change.object} differs ({differs}): one short transaction drops "
                   f"the old index{word} and gives the new one its name",
            kind=StepKind.DDL, table=change.table, target=ref,
            sql=(f"DROP INDEX {qualified(schema, live.name)}",
                 f"ALTER INDEX {qualified(schema, temp)} RENAME TO {ident(expected.name)}"),
            probe=f"SELECT {done}",
            # Putting the old one back builds it under the lock (a scan).
            reverse=(f"DROP INDEX IF EXISTS {qualified(schema, expected.name)}",
                     f"CREATE {unique}INDEX IF NOT EXISTS {ident(live.name)} ON {t} USING "
                     f"{index_body(live)}"),
            lock="ACCESS EXCLUSIVE" + (" (the parent and its partitions)"
                                       if table.partition_key else ""),
            lock_duration="instant")


# -- SQL text and probes --------------------------------------------------------------

def create_index_sql(index: Index, table: str, name: str | None = None) -> str:
    """CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS name ON table USING method (keys)
    [WHERE predicate], for `index` on `table` ("schema.table"), named `name` (default: its
    own)."""
    unique = "UNIQUE " if index.unique else ""
    return (f"CREATE {unique}INDEX CONCURRENTLY IF NOT EXISTS {ident(name or index.name)} ON "
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


def _either(*conditions: str) -> str:
    present = [c for c in conditions if c]
    return present[0] if len(present) == 1 else " OR ".join(f"({c})" for c in present)


def _index_on(t: str, name: str) -> str:
    """An index `name` of table `t` exists, VALID or not."""
    return (f"EXISTS (SELECT 1 FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid WHERE "
            f"i.indrelid = {regclass(t)} AND x.relname = {literal(name)})")


def _attached(schema: str, name: str, part: str) -> str:
    """Some index of partition `part` (quoted, qualified) is attached to index `name` (in
    `schema`), the partitioned table's."""
    return (f"EXISTS (SELECT 1 FROM pg_inherits h JOIN pg_index i ON i.indexrelid = "
            f"h.inhrelid JOIN pg_class p ON p.oid = h.inhparent JOIN pg_namespace n ON "
            f"n.oid = p.relnamespace WHERE i.indrelid = {regclass(part)} AND "
            f"p.relname = {literal(name)} AND n.nspname = {literal(schema)})")


def _normalized(sql_text: str) -> str:
    """SQL of an index definition's clause after USING, without qualifiers or extra
    whitespace."""
    unqualified = f"regexp_replace({sql_text}, {literal(_QUALIFIER)}, '', 'g')"
    return f"btrim(regexp_replace({unqualified}, '\\s+', ' ', 'g'))"


def definition_is(t: str, name: str, index: Index) -> str:
    """Probe expression: index `name` of `t` is VALID and is `index` (unique or not, the
    same clause after USING as pg_get_indexdef prints it)."""
    body = printed_body(index.definition) or index_body(index)
    printed = r"regexp_replace(pg_get_indexdef(x.oid), '^.*? ON .*? USING ', '')"
    return (f"EXISTS (SELECT 1 FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid WHERE "
            f"i.indrelid = {regclass(t)} AND x.relname = {literal(name)} AND i.indisvalid AND "
            f"i.indisunique = {'true' if index.unique else 'false'} AND "
            f"{_normalized(printed)} = {_normalized(literal(body))})")
