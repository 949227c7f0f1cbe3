"""A missing table (dropped from live while its migration stays recorded), and a missing
schema it lives in.

Planned before every other change except a moved primary key (`applies`), so that foreign
keys of existing tables pointing at a missing table (DROP TABLE … CASCADE dropped them)
find it, and so that a missing schema or extension comes before the tables that need it:

* each missing schema: CREATE SCHEMA IF NOT EXISTS;
* each missing extension, when a table is missing too: the extension module's step, here,
  so that a column of the new table can use its types;
* each missing table: ONE transaction that creates its serial sequences, the table with
  its columns (types, collations, identity, generated, defaults, NOT NULL), its primary
  key, unique, exclusion and check constraints, its other indexes, and gives the sequences
  to their columns (OWNED BY). The table is new and empty: nothing needs CONCURRENTLY or
  NOT VALID, and nobody else waits for its lock;
* then the foreign keys of all the missing tables, added directly (an empty table has
  nothing to validate), after every table they may reference exists.

The diff reports a missing table as one change (its columns, constraints and indexes are
not listed separately); its serial sequences are reported as missing sequences, which the
table's step covers. Missing collations, domains, composite types and free-standing
sequences a new table's columns may use are planned here too, by their own modules, before
the tables.

Partitions, inheritance and unlogged tables:

* a missing partitioned table: CREATE TABLE … (…) PARTITION BY <key>, before its
  partitions; a missing partition: CREATE TABLE … PARTITION OF parent FOR VALUES … (its
  columns, primary key, constraints, indexes and foreign keys come from the parent; only
  those the parent lacks are added); a missing inheritance child: CREATE TABLE (its local
  columns only) INHERITS (parents); an unlogged one: CREATE UNLOGGED TABLE. Parents are
  created before their children;
* a table that differs (`different`): logged/unlogged → ALTER TABLE SET LOGGED / SET
  UNLOGGED (a rewrite under ACCESS EXCLUSIVE; SET UNLOGGED is destructive: a crash empties
  an unlogged table); another parent list → ALTER TABLE INHERIT / NO INHERIT (refused when
  the table lacks a column or check of the new parent, or the order would differ); another
  partition parent, bound or key → refused: detaching and attaching again needs a check of
  every row against the new bound, which a migration must decide.
"""
from __future__ import annotations

from pgreconcile.plan.context import PlanContext, Planned, change_key, est_seconds, rows
from pgreconcile.plan.kinds import collation as collation_kind
from pgreconcile.plan.kinds import composite as composite_kind
from pgreconcile.plan.kinds import domain as domain_kind
from pgreconcile.plan.kinds import enum as enum_kind
from pgreconcile.plan.kinds import extension as extension_kind
from pgreconcile.plan.kinds import function as function_kind
from pgreconcile.plan.kinds import rls
from pgreconcile.plan.kinds import sequence as sequence_kind
from pgreconcile.plan.kinds.index import index_body
from pgreconcile.plan.kinds.sequence import create_sequence_sql
from pgreconcile.plan.sqltext import ident, literal, qualified, qualified_name
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change, constraint_signature
from pgreconcile.schema.model import Column, Constraint, Index, Sequence, Table

HANDLES = (("table", "missing"), ("schema", "missing"), ("table", "different"))

#: What the new tables' columns may use, planned by their own module before the tables.
_BEFORE_TABLES = {"extension": extension_kind, "collation": collation_kind,
                  "enum": enum_kind, "domain": domain_kind, "type": composite_kind,
                  "sequence": sequence_kind, "function": function_kind}

#: Rows per second of an ALTER TABLE SET LOGGED / UNLOGGED rewrite (a rough estimate).
_REWRITE_ROWS_PER_SEC = 200_000.0

#: Inline constraints of CREATE TABLE, in the order they are written.
_INLINE_ORDER = {"pk": 0, "unique": 1, "exclude": 2, "check": 3}


def applies(change: Change) -> bool:
    """Missing schemas and tables, and what their columns may use: `plan` decides which
    it takes."""
    return change.bucket == "missing" and change.kind in ("schema", "table", *_BEFORE_TABLES)


def plan(change: Change, ctx: PlanContext) -> Planned:
    if change.kind == "schema":
        return schema_step(change)
    if change.kind == "table" and change.bucket == "different":
        return different(change, ctx)
    missing = missing_tables(ctx)
    if not missing:
        return Planned()
    names = {t.qualified_name for t in missing}
    if change.kind in _BEFORE_TABLES and not (change.kind == "sequence"
                                              and change.table in names):
        out = _BEFORE_TABLES[change.kind].plan(change, ctx)
        out.handled.add(change_key(change))
        return out
    first = next(c for c in ctx.diff.significant if c.kind == "table" and c.bucket == "missing")
    if change.kind == "table" and change == first:
        return tables_steps(ctx, missing)
    return Planned()  # a serial sequence: covered by its table's step


def missing_tables(ctx: PlanContext) -> list[Table]:
    """The missing tables, every parent (partitioned or inherited) before its children."""
    tables = [Table.from_dict(c.expected) for c in ctx.diff.significant
              if c.kind == "table" and c.bucket == "missing"]
    pending = {t.qualified_name for t in tables}
    ordered: list[Table] = []
    while tables:
        ready = [t for t in tables if not (set(parents_of(t)) & (pending - {t.qualified_name}))]
        ready = ready or tables[:1]  # a cycle cannot happen; never loop forever
        for t in ready:
            tables.remove(t)
            pending.discard(t.qualified_name)
            ordered.append(t)
    return ordered


def parents_of(table: Table) -> tuple[str, ...]:
    return ((table.partition_of,) if table.partition_of else ()) + tuple(table.inherits)


def schema_step(change: Change) -> Planned:
    out = Planned()
    name = change.object
    ref = ObjectRef("schema", "", None, name)
    out.add(f"schema-{name}", title=f"CREATE SCHEMA {name}", reason=f"missing schema {name}",
            kind=StepKind.DDL, table=None, target=ref, creates=(ref,),
            sql=(f"CREATE SCHEMA IF NOT EXISTS {ident(name)}",),
            probe=f"SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = {literal(name)})",
            reverse=(f"DROP SCHEMA IF EXISTS {ident(name)}",),
            lock="none", lock_duration="instant")
    out.handled.add(change_key(change))
    return out


def tables_steps(ctx: PlanContext, tables: list[Table]) -> Planned:
    """Every missing table's step, then every foreign key of theirs."""
    out = Planned()
    names = {t.qualified_name for t in tables}
    for change in ctx.diff.significant:
        if change.kind == "table" and change.bucket == "missing":
            out.handled.add(change_key(change))
        elif change.kind == "sequence" and change.table in names and (
                change.bucket == "missing" or (change.bucket == "different" and set(
                    change.attributes) <= {"owned_by", "start", "name"})):
            out.handled.add(change_key(change))
    for table in tables:
        out.extend(create_table_step(table, owned_sequences(ctx, table),
                                     {change_key_of("sequence", s) for s in
                                      owned_sequences(ctx, table)} & missing_keys(ctx),
                                     parents=parent_tables(ctx, table)))
    for table in tables:
        for con in own(foreign_keys(table), parent_tables(ctx, table), table):
            out.extend(foreign_key_step(table, con))
    return out


def parent_tables(ctx: PlanContext, table: Table) -> list[Table]:
    """The reference's (else live's) parents of a partition or inheritance child."""
    found = []
    for name in parents_of(table):
        parent = ctx.expected_table(name) or ctx.live_table(name)
        if parent is not None:
            found.append(parent)
    return found


def own(constraints, parents: list[Table], child: Table) -> list[Constraint]:
    """The constraints a child has that none of its parents gives it: a partition gets
    every constraint of its parent, an inheritance child only the CHECK constraints."""
    inherited = ({constraint_signature(c) for p in parents for c in p.constraints}
                 if child.partition_of else set())
    inherited_checks = {c.name for p in parents for c in p.constraints if c.kind == "check"}
    return [c for c in constraints if constraint_signature(c) not in inherited
            and not (c.kind == "check" and c.name in inherited_checks)]


def _index_shape(i: Index) -> tuple:
    return (i.columns, i.unique, i.method, i.predicate)


def change_key_of(kind: str, seq: Sequence) -> str:
    return f"{kind}:{seq.qualified_name}"


def missing_keys(ctx: PlanContext) -> set[str]:
    return {change_key(c) for c in ctx.diff.significant if c.bucket == "missing"}


def owned_sequences(ctx: PlanContext, table: Table) -> list[Sequence]:
    """The reference's sequences owned by a column of `table` (its serial columns)."""
    return [s for s in ctx.expected.sequences if s.owner_table == table.qualified_name]


def foreign_keys(table: Table) -> list[Constraint]:
    return [c for c in table.constraints if c.kind == "fk"]


def inline_constraints(table: Table) -> list[Constraint]:
    """What CREATE TABLE can hold: validated pk, unique, exclusion and check constraints."""
    return sorted((c for c in table.constraints
                   if c.kind in _INLINE_ORDER and (c.validated or c.kind != "check")),
                  key=lambda c: (_INLINE_ORDER[c.kind], c.name))


def column_sql(col: Column, *, not_null: bool = True) -> str:
    """The column as CREATE TABLE and ADD COLUMN write it: type, COLLATE, identity or
    GENERATED ALWAYS AS (…) STORED|VIRTUAL or DEFAULT, and NOT NULL unless `not_null` is
    false (ADD COLUMN on a populated table sets it in later steps)."""
    parts = [ident(col.name), col.type]
    if col.collation:
        parts.append(f"COLLATE {col.collation}")
    if col.identity:
        parts.append("GENERATED " + ("ALWAYS" if col.identity == "a" else "BY DEFAULT")
                     + " AS IDENTITY")
    elif col.generated and col.generation_expression:
        kind = "VIRTUAL" if col.generated == "v" else "STORED"
        parts.append(f"GENERATED ALWAYS AS ({col.generation_expression}) {kind}")
    elif col.default is not None:
        parts.append(f"DEFAULT {col.default}")
    if col.not_null and not_null:
        parts.append("NOT NULL")
    return " ".join(parts)


def create_table_sql(table: Table, parents: list[Table] | None = None) -> str:
    """CREATE [UNLOGGED] TABLE: plain, PARTITION OF its parent (nothing of its own inline),
    or with its local columns INHERITS its parents; PARTITION BY when partitioned."""
    t = qualified(table.schema, table.name)
    unlogged = "UNLOGGED " if table.unlogged else ""
    partition_by = f" PARTITION BY {table.partition_key}" if table.partition_key else ""
    if table.partition_of:
        return (f"CREATE {unlogged}TABLE IF NOT EXISTS {t} PARTITION OF "
                f"{qualified_name(table.partition_of)} {table.partition_bound or 'DEFAULT'}"
                f"{partition_by}")
    inherited = {c.name for p in parents or () for c in p.columns}
    elements = [column_sql(c) for c in table.columns if c.name not in inherited]
    elements += [f"CONSTRAINT {ident(c.name)} {c.definition.removesuffix(' NOT VALID')}"
                 for c in own(inline_constraints(table), parents or [], table)]
    body = ",\n    ".join(elements)
    inherits = (f" INHERITS ({', '.join(qualified_name(p) for p in table.inherits)})"
                if table.inherits else "")
    return f"CREATE {unlogged}TABLE IF NOT EXISTS {t} (\n    {body}\n){inherits}{partition_by}"


def create_index_sql(index: Index, table: Table) -> str:
    unique = "UNIQUE " if index.unique else ""
    return (f"CREATE {unique}INDEX IF NOT EXISTS {ident(index.name)} ON "
            f"{qualified(table.schema, table.name)} USING {index_body(index)}")


def create_table_step(table: Table, sequences: list[Sequence],
                      created_sequences: set[str], parents: list[Table] | None = None) -> Planned:
    out = Planned()
    name = table.qualified_name
    t = qualified(table.schema, table.name)
    ref = ObjectRef.of("table", name)
    parents = parents or []
    sql: list[str] = [create_sequence_sql(s) for s in sequences]
    sql.append(create_table_sql(table, parents))
    if table.partition_of:
        # Only what the parent does not give the partition: added after it exists.
        sql += [f"ALTER TABLE {t} ADD CONSTRAINT {ident(c.name)} {c.definition}"
                for c in own(table.constraints, parents, table) if c.kind != "fk"]
    else:
        sql += [f"ALTER TABLE {t} ADD CONSTRAINT {ident(c.name)} {c.definition}"
                for c in own(table.constraints, parents, table)
                if c.kind == "check" and not c.validated]
    # A partition gets its parent's indexes (under names of its own) when it is created.
    from_parent = ({_index_shape(i) for p in parents for i in p.indexes}
                   if table.partition_of else set())
    sql += [create_index_sql(i, table) for i in table.indexes
            if i.constraint is None and _index_shape(i) not in from_parent]
    # Policies first, then row-level security on: no role is locked out in between.
    sql += [rls.create_policy_sql(p, name) for p in table.policies]
    sql += rls.flag_statements(name, True if table.rls_enabled else None,
                               True if table.rls_forced else None)
    for seq in sequences:
        column = seq.owned_by.rsplit(".", 1)[1]
        sql.append(f"ALTER SEQUENCE {qualified(seq.schema, seq.name)} OWNED BY "
                   f"{t}.{ident(column)}")
    reverse = [f"DROP TABLE IF EXISTS {t}"]
    reverse += [f"DROP SEQUENCE IF EXISTS {qualified(s.schema, s.name)}" for s in sequences
                if change_key_of("sequence", s) in created_sequences]
    parts = [f"partition of {table.partition_of}" if table.partition_of else
             f"{len(table.columns)} column(s)"]
    if table.inherits:
        parts.append(f"inherits {', '.join(table.inherits)}")
    if table.constraints:
        parts.append(f"{len(table.constraints)} constraint(s)")
    if sequences:
        parts.append(f"{len(sequences)} sequence(s)")
    out.add(f"table-{table.schema}-{table.name}", title=f"CREATE TABLE {name}",
            reason=f"missing table {name} ({', '.join(parts)})", kind=StepKind.DDL,
            table=name, target=ref, creates=(ref,), sql=tuple(sql),
            probe=f"SELECT to_regclass({literal(t)}) IS NOT NULL",
            reverse=tuple(reverse), lock="ACCESS EXCLUSIVE", lock_duration="instant")
    return out


def foreign_key_step(table: Table, con: Constraint) -> Planned:
    """A foreign key of a new, empty table: added directly, nothing to validate. As printed
    (NOT VALID stays when the reference has it so)."""
    out = Planned()
    name = table.qualified_name
    t = qualified(table.schema, table.name)
    ref = ObjectRef.in_table("constraint", name, con.name)
    out.add(f"fk-{table.name}-{con.name}", title=f"add foreign key {con.name}",
            reason=f"foreign key of missing table {name} to {con.ref_table}",
            kind=StepKind.DDL, table=name, target=ref, creates=(ref,),
            sql=(f"ALTER TABLE {t} ADD CONSTRAINT {ident(con.name)} {con.definition}",),
            probe=(f"SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = "
                   f"to_regclass({literal(t)}) AND conname = {literal(con.name)})"),
            reverse=(f"ALTER TABLE IF EXISTS {t} DROP CONSTRAINT IF EXISTS "
                     f"{ident(con.name)}",),
            lock="SHARE ROW EXCLUSIVE", lock_duration="instant")
    return out



# -- a table that differs: logged or not, its parents ---------------------------------------
def different(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    live, exp = Table.from_dict(change.live), Table.from_dict(change.expected)
    name = change.object
    t = qualified_name(name)
    ref = ObjectRef.of("table", name)
    partitioning = [a for a in ("partition_key", "partition_of", "partition_bound")
                    if getattr(live, a) != getattr(exp, a)]
    if partitioning:
        out.refuse(change, f"{', '.join(partitioning)} of {name} differ(s) "
                           f"({_describe_partitioning(live)} live, "
                           f"{_describe_partitioning(exp)} expected): detaching and attaching "
                           "a partition (or partitioning a table) needs every row checked "
                           "against the new bound; write a migration")
    if live.unlogged != exp.unlogged:
        table = ctx.live_table(name) or live
        verb, undo = ("UNLOGGED", "LOGGED") if exp.unlogged else ("LOGGED", "UNLOGGED")
        persistence = "u" if exp.unlogged else "p"
        n = rows(table)
        out.add(f"set-{verb.lower()}-{live.schema}-{live.name}",
                title=f"ALTER TABLE {name} SET {verb}",
                reason=(f"{name} is {'logged' if exp.unlogged else 'unlogged'} live, "
                        f"{'unlogged' if exp.unlogged else 'logged'} in the reference"
                        + ("; an unlogged table is emptied by a crash" if exp.unlogged
                           else "")),
                kind=StepKind.DDL, table=name, target=ref,
                sql=(f"ALTER TABLE {t} SET {verb}",),
                probe=(f"SELECT relpersistence = {literal(persistence)} FROM pg_class WHERE "
                       f"oid = to_regclass({literal(t)})"),
                reverse=(f"ALTER TABLE {t} SET {undo}",), lock="ACCESS EXCLUSIVE",
                lock_duration="rewrite", destructive=exp.unlogged, estimated_rows=n,
                estimated_seconds=est_seconds(n, _REWRITE_ROWS_PER_SEC))
    if tuple(live.inherits) != tuple(exp.inherits):
        inherit_steps(out, change, live, exp, ctx)
    return out


def _describe_partitioning(table: Table) -> str:
    if table.partition_of:
        return f"partition of {table.partition_of} {table.partition_bound or ''}".strip()
    if table.partition_key:
        return f"PARTITION BY {table.partition_key}"
    return "not partitioned"


def inherit_steps(out: Planned, change: Change, live: Table, exp: Table,
                  ctx: PlanContext) -> None:
    """ALTER TABLE … NO INHERIT the parents the reference lacks, then INHERIT the new ones
    (appended: refused when the order of the kept ones, or of the new ones, would differ)."""
    name = change.object
    t = qualified_name(name)
    ref = ObjectRef.of("table", name)
    removed = [p for p in live.inherits if p not in exp.inherits]
    added = [p for p in exp.inherits if p not in live.inherits]
    if [p for p in live.inherits if p in exp.inherits] + added != list(exp.inherits):
        out.refuse(change, f"the parents of {name} are in another order ({', '.join(exp.inherits)}"
                           f" expected): NO INHERIT and INHERIT cannot reorder them")
        return
    child = ctx.live_table(name) or live
    for p in added:
        parent = ctx.live_table(p) or ctx.expected_table(p)  # a missing one is made first
        problem = _cannot_inherit(child, parent, p)
        if problem:
            out.refuse(change, problem)
            return
    for p in removed:
        out.add(f"no-inherit-{live.name}-{p.replace('.', '-')}", title=f"ALTER TABLE {name} "
                f"NO INHERIT {p}", reason=f"{name} inherits {p} live, not in the reference",
                kind=StepKind.DDL, table=name, target=ref,
                sql=(f"ALTER TABLE {t} NO INHERIT {qualified_name(p)}",),
                probe=f"SELECT NOT {_inherits_probe(t, p)}",
                reverse=(f"ALTER TABLE {t} INHERIT {qualified_name(p)}",),
                lock="ACCESS EXCLUSIVE", lock_duration="instant")
    for p in added:
        out.add(f"inherit-{live.name}-{p.replace('.', '-')}", title=f"ALTER TABLE {name} "
                f"INHERIT {p}", reason=f"{name} should inherit {p}", kind=StepKind.DDL,
                table=name, target=ref, sql=(f"ALTER TABLE {t} INHERIT {qualified_name(p)}",),
                probe=f"SELECT {_inherits_probe(t, p)}",
                reverse=(f"ALTER TABLE {t} NO INHERIT {qualified_name(p)}",),
                lock="ACCESS EXCLUSIVE", lock_duration="instant")


def _inherits_probe(t: str, parent: str) -> str:
    return (f"EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass({literal(t)}) "
            f"AND inhparent = to_regclass({literal(qualified_name(parent))}))")


def _cannot_inherit(child: Table, parent: Table | None, parent_name: str) -> str:
    """Why ALTER TABLE child INHERIT parent would fail ("" when it would not)."""
    if parent is None:
        return f"parent {parent_name} exists neither live nor in the reference"
    for col in parent.columns:
        mine = child.column(col.name)
        if mine is None:
            return (f"{child.qualified_name} lacks column {col.name} of {parent_name}: "
                    "INHERIT needs every column of the parent")
        if mine.type != col.type:
            return (f"column {col.name} is {mine.type} in {child.qualified_name}, {col.type} "
                    f"in {parent_name}: INHERIT needs the same types")
        if col.not_null and not mine.not_null:
            return (f"column {col.name} is NOT NULL in {parent_name}, nullable in "
                    f"{child.qualified_name}")
    mine = {(c.name, constraint_signature(c)) for c in child.constraints if c.kind == "check"}
    for con in parent.constraints:
        if con.kind == "check" and (con.name, constraint_signature(con)) not in mine:
            return (f"{child.qualified_name} lacks check {con.name} of {parent_name}: "
                    "INHERIT needs the parent's checks")
    return ""
