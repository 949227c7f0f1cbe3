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
table's step covers.
"""
from __future__ import annotations

from pgreconcile.plan.context import PlanContext, Planned, change_key
from pgreconcile.plan.kinds import extension as extension_kind
from pgreconcile.plan.kinds import rls
from pgreconcile.plan.kinds.index import index_body
from pgreconcile.plan.sqltext import ident, literal, qualified
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change
from pgreconcile.schema.model import Column, Constraint, Index, Sequence, Table

HANDLES = (("table", "missing"), ("schema", "missing"))

#: Inline constraints of CREATE TABLE, in the order they are written.
_INLINE_ORDER = {"pk": 0, "unique": 1, "exclude": 2, "check": 3}


def applies(change: Change) -> bool:
    """Missing schemas, tables, extensions and sequences: `plan` decides which it takes."""
    return change.bucket == "missing" and change.kind in ("schema", "table", "extension",
                                                          "sequence")


def plan(change: Change, ctx: PlanContext) -> Planned:
    if change.kind == "schema":
        return schema_step(change)
    missing = missing_tables(ctx)
    if not missing:
        return Planned()
    if change.kind == "extension":
        out = extension_kind.plan(change, ctx)
        out.handled.add(change_key(change))
        return out
    first = next(c for c in ctx.diff.significant if c.kind == "table" and c.bucket == "missing")
    if change.kind == "table" and change == first:
        return tables_steps(ctx, missing)
    return Planned()  # a sequence: covered by its table's step (or left to the others)


def missing_tables(ctx: PlanContext) -> list[Table]:
    return [Table.from_dict(c.expected) for c in ctx.diff.significant
            if c.kind == "table" and c.bucket == "missing"]


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
                                      owned_sequences(ctx, table)} & missing_keys(ctx)))
    for table in tables:
        for con in foreign_keys(table):
            out.extend(foreign_key_step(table, con))
    return out


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


def column_sql(col: Column) -> str:
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
    if col.not_null:
        parts.append("NOT NULL")
    return " ".join(parts)


def create_table_sql(table: Table) -> str:
    elements = [column_sql(c) for c in table.columns]
    elements += [f"CONSTRAINT {ident(c.name)} {c.definition.removesuffix(' NOT VALID')}"
                 for c in inline_constraints(table)]
    body = ",\n    ".join(elements)
    return f"CREATE TABLE IF NOT EXISTS {qualified(table.schema, table.name)} (\n    {body}\n)"


def create_index_sql(index: Index, table: Table) -> str:
    unique = "UNIQUE " if index.unique else ""
    return (f"CREATE {unique}INDEX IF NOT EXISTS {ident(index.name)} ON "
            f"{qualified(table.schema, table.name)} USING {index_body(index)}")


def create_sequence_sql(seq: Sequence) -> str:
    return (f"CREATE SEQUENCE IF NOT EXISTS {qualified(seq.schema, seq.name)} AS "
            f"{seq.data_type} INCREMENT BY {seq.increment} MINVALUE {seq.minimum} "
            f"MAXVALUE {seq.maximum} START WITH {seq.start} CACHE {seq.cache} "
            f"{'CYCLE' if seq.cycle else 'NO CYCLE'}")


def create_table_step(table: Table, sequences: list[Sequence],
                      created_sequences: set[str]) -> Planned:
    out = Planned()
    name = table.qualified_name
    t = qualified(table.schema, table.name)
    ref = ObjectRef.of("table", name)
    sql: list[str] = [create_sequence_sql(s) for s in sequences]
    sql.append(create_table_sql(table))
    sql += [f"ALTER TABLE {t} ADD CONSTRAINT {ident(c.name)} {c.definition}"
            for c in table.constraints if c.kind == "check" and not c.validated]
    sql += [create_index_sql(i, table) for i in table.indexes if i.constraint is None]
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
    parts = [f"{len(table.columns)} column(s)"]
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

