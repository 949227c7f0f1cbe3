"""The seed case: the primary key is on another column live than in the reference.

Both strategies first give the table the new key column, without a rewrite and without
blocking writers: add it nullable with a DEFAULT for new rows, backfill existing rows in
batches, build its unique index CONCURRENTLY, and make it NOT NULL through a validated
CHECK. Then

* keep (Option A): attach the index as a UNIQUE constraint; the old key stays the
  primary key, and the foreign keys of pending migrations have their target;
* swap (Option B): every foreign key that points at the old key gets a uuid copy first
  (filled by join, indexed), then one short transaction makes the new column the primary
  key and renames the copies into place; the old key column is dropped (destructive).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from pgreconcile.plan import probes
from pgreconcile.plan.backfill import stable_uuid_sql
from pgreconcile.plan.context import PlanContext, Planned, change_key, est_seconds, rows
from pgreconcile.plan.kinds.column import not_null_steps
from pgreconcile.plan.sqltext import MAX_NAME, fit, ident, qualified, qualified_name
from pgreconcile.plan.steps import Backfill, DriftNote, ObjectRef, StepKind
from pgreconcile.schema.diff import Change
from pgreconcile.schema.model import Column, Constraint, Table

#: Not looked up in HANDLERS: the planner's FIRST pass gives it the changes `applies` claims
#: (a moved primary key); every other changed constraint is constraint.py's.
HANDLES: tuple = ()


@dataclass(frozen=True)
class FkMove:
    """A foreign key that references the old key and must follow it to the new one."""

    table: Table            # the referencing table, as live has it
    constraint: Constraint  # its foreign key
    column: str             # the referencing column
    temp_column: str        # its uuid copy, renamed into place by the swap
    expression: str         # the new key of the referenced row (SQL; the row's alias is t)
    definition: str         # the moved foreign key: FOREIGN KEY (…) REFERENCES …
    not_null: bool          # the referencing column is NOT NULL

    @property
    def table_sql(self) -> str:
        return qualified(self.table.schema, self.table.name)

    @property
    def rows(self) -> int:
        return rows(self.table)


def applies(change: Change) -> bool:
    """A primary key that moved to other columns (not one that was merely renamed)."""
    if change.kind != "constraint" or change.bucket != "different":
        return False
    live, expected = Constraint.from_dict(change.live), Constraint.from_dict(change.expected)
    return live.kind == "pk" and expected.kind == "pk" and live.columns != expected.columns


def plan(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    table_name = change.table
    live_pk = Constraint.from_dict(change.live)
    exp_pk = Constraint.from_dict(change.expected)
    live_t, exp_t = ctx.live_table(table_name), ctx.expected_table(table_name)
    if len(exp_pk.columns) != 1 or len(live_pk.columns) != 1:
        out.refuse(change, "composite primary keys are not moved automatically")
        out.handled.add(change_key(change))
        return out
    new_col = exp_t.column(exp_pk.columns[0])
    old_key = live_pk.columns[0]
    existed = live_t.column(new_col.name) is not None
    if existed and new_col.type != "uuid":
        _existing_key(out, change, ctx, live_t, live_pk, exp_pk, new_col)
        return out
    if not existed and new_col.type != "uuid":
        out.refuse(change, f"the new key {new_col.name} is {new_col.type}; only uuid keys "
                           "can be derived safely")
        out.handled.add(change_key(change))
        return out
    row_count = rows(live_t)
    t, c = qualified_name(table_name), ident(new_col.name)
    base = live_t.name
    idx = f"{fit(f'{base}_{new_col.name}', MAX_NAME - 5)}_uniq"
    key_con = f"{fit(f'{base}_{new_col.name}', MAX_NAME - 4)}_key"
    column_ref = ObjectRef.in_table("column", table_name, new_col.name)
    index_ref = ObjectRef.in_table("index", table_name, idx)
    out.handled.add(f"column:{table_name}.{new_col.name}")
    # Column and default in one instant transaction: no row can be inserted in between
    # without a value. A volatile DEFAULT set on an existing column rewrites nothing.
    out.add(f"add-column-{base}-{new_col.name}",
            title=f"add {table_name}.{new_col.name} uuid, nullable, DEFAULT "
                  "gen_random_uuid() for new rows (no rewrite)",
            reason=f"{change.object}: expected primary key ({new_col.name}) is missing",
            kind=StepKind.DDL, table=table_name, target=column_ref,
            creates=() if existed else (column_ref,),
            sql=(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {c} uuid",
                 f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT gen_random_uuid()"),
            probe=(f"SELECT {probes.has_column(t, new_col.name)} AND "
                   f"{probes.has_default(t, new_col.name)}"),
            reverse=((f"ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT",) if existed else
                     (f"ALTER TABLE {t} DROP COLUMN IF EXISTS {c}",)),
            lock="ACCESS EXCLUSIVE", lock_duration="instant")
    expression = ("gen_random_uuid()" if ctx.backfill == "random"
                  else stable_uuid_sql(live_t.name, Backfill.KEY))
    out.add(f"backfill-{base}-{new_col.name}",
            title=f"backfill {new_col.name} for existing rows in batches "
                  f"({ctx.backfill} uuid from {old_key})",
            reason="existing rows need a value before the key can be unique and NOT NULL",
            kind=StepKind.BACKFILL, table=table_name, target=column_ref,
            probe=f"SELECT NOT EXISTS (SELECT 1 FROM {t} WHERE {c} IS NULL)",
            lock="ROW EXCLUSIVE (per batch)", lock_duration="instant",
            estimated_rows=row_count, estimated_seconds=est_seconds(row_count, 150_000),
            backfill=Backfill(live_t.schema, live_t.name, old_key, new_col.name, expression))
    out.add(f"unique-index-{base}-{new_col.name}", title=f"build unique index {idx} CONCURRENTLY",
            reason="the foreign keys of pending migrations need a unique target",
            kind=StepKind.CONCURRENT, table=table_name, target=index_ref, creates=(index_ref,),
            sql=(f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {ident(idx)} ON {t} ({c})",),
            probe=(f"SELECT {probes.has_valid_index(t, idx)} OR "
                   f"{probes.has_constraint(t, key_con)}"),
            reverse=(f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(live_t.schema, idx)}",),
            lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan",
            estimated_rows=row_count, estimated_seconds=est_seconds(row_count, 1_000_000))
    not_null_steps(out, table_name, new_col.name, row_count, precheck=False)
    if ctx.strategy == "keep":
        _keep(out, change, ctx, new_col, old_key, idx, key_con)
    else:
        _swap(out, change, ctx, live_t, live_pk, new_col, idx, old_key)
    return out


def attach_unique(out: Planned, table_name: str, column: str, idx: str, key_con: str,
                  reason: str) -> None:
    """ADD CONSTRAINT key_con UNIQUE USING INDEX idx: the new key's index, built
    CONCURRENTLY before, becomes a named unique constraint (instant)."""
    t = qualified_name(table_name)
    con_ref = ObjectRef.in_table("constraint", table_name, key_con)
    out.add(f"unique-constraint-{table_name.partition('.')[2]}-{column}",
            title=f"attach {idx} as UNIQUE constraint {key_con}", reason=reason,
            kind=StepKind.DDL, table=table_name, target=con_ref, creates=(con_ref,),
            sql=(f"ALTER TABLE {t} ADD CONSTRAINT {ident(key_con)} UNIQUE USING INDEX "
                 f"{ident(idx)}",),
            probe=f"SELECT {probes.has_constraint(t, key_con)}",
            reverse=(f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {ident(key_con)}",),
            lock="ACCESS EXCLUSIVE", lock_duration="instant")


def _keep(out: Planned, change: Change, ctx: PlanContext, new_col: Column, old_key: str,
          idx: str, key_con: str) -> None:
    table_name = change.table
    attach_unique(out, table_name, new_col.name, idx, key_con,
                  "a named unique constraint is the FK target Django expects")
    out.keep(change, f"pk_strategy=keep: {old_key} stays the primary key; "
                     f"{new_col.name} is unique and NOT NULL")
    out.handled.add(f"column:{table_name}.{old_key}")
    for extra in ctx.diff.significant:
        if extra.table == table_name and extra.bucket == "extra" and (
                extra.object.endswith("." + old_key) or extra.kind == "sequence"):
            out.keep(extra, f"kept: the old key {old_key} is not dropped (pk_strategy=keep)")
    out.residual += [DriftNote("different", "column", f"{table_name}.{new_col.name}"),
                     DriftNote("extra", "constraint", f"{table_name}.{key_con}"),
                     DriftNote("extra", "index", f"{table_name}.{idx}")]
    out.notes.append(f"{table_name}: {old_key} kept as primary key, {new_col.name} added as "
                     "unique NOT NULL uuid; pending foreign keys now have a target")


def _swap(out: Planned, change: Change, ctx: PlanContext, live_t: Table, live_pk: Constraint,
          new_col: Column, idx: str, old_key: str) -> None:
    t, c = qualified_name(live_t.qualified_name), ident(new_col.name)
    referencing = [(tb, con) for tb in ctx.live.tables for con in tb.constraints
                   if con.kind == "fk" and con.ref_table == live_t.qualified_name
                   and con.ref_columns == (old_key,)]
    moves = []
    for tb, con in referencing:
        move = _prepare_fk_move(out, tb, con, live_t, old_key, new_col)
        if move is None:
            return
        moves.append(move)
    pk_name = live_pk.name
    swap_sql: list[str] = []
    for m in moves:
        tmp, col, con = ident(m.temp_column), ident(m.column), ident(m.constraint.name)
        swap_sql += [
            # rows written by old code since the backfill, under this step's lock
            f"UPDATE {m.table_sql} AS t SET {tmp} = {m.expression} WHERE "
            f"t.{tmp} IS NULL AND t.{col} IS NOT NULL",
            f"ALTER TABLE {m.table_sql} DROP CONSTRAINT {con}",
            f"ALTER TABLE {m.table_sql} DROP COLUMN {col}",
            f"ALTER TABLE {m.table_sql} RENAME COLUMN {tmp} TO {col}"]
    swap_sql += [f"ALTER TABLE {t} DROP CONSTRAINT {ident(pk_name)}",
                 f"ALTER TABLE {t} ADD CONSTRAINT {ident(pk_name)} PRIMARY KEY USING INDEX "
                 f"{ident(idx)}"]
    for m in moves:
        swap_sql.append(f"ALTER TABLE {m.table_sql} ADD CONSTRAINT "
                        f"{ident(m.constraint.name)} {m.definition} NOT VALID")
    swapped = probes.primary_key_is(t, new_col.name)
    # Once the key is swapped, every preparatory step of this move is moot (a later step
    # may have undone its traces, e.g. the temporary DEFAULT): rerunning changes nothing.
    out.steps[:] = [replace(st, done_if=probes.either(st.done_if, swapped)) for st in out.steps]
    out.add(f"swap-primary-key-{live_t.name}",
            title=f"make {new_col.name} the primary key USING INDEX {idx}"
                  + (f"; move {len(moves)} foreign key(s) to it" if moves else ""),
            reason=f"{change.object}: expected primary key ({new_col.name})",
            kind=StepKind.DDL, table=live_t.qualified_name, destructive=True,
            target=ObjectRef.in_table("constraint", live_t.qualified_name, pk_name),
            sql=tuple(swap_sql), probe=f"SELECT {swapped}",
            lock="ACCESS EXCLUSIVE (all tables involved, one short transaction)",
            lock_duration="instant")
    for m in moves:
        name = m.constraint.name
        out.add(f"validate-{name}", title=f"VALIDATE CONSTRAINT {name}",
                reason="the moved foreign key is checked without blocking writers",
                kind=StepKind.DDL, table=m.table.qualified_name,
                target=ObjectRef.in_table("constraint", m.table.qualified_name, name),
                sql=(f"ALTER TABLE {m.table_sql} VALIDATE CONSTRAINT {ident(name)}",),
                probe=f"SELECT {probes.has_constraint(m.table_sql, name, validated=True)}",
                lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan", estimated_rows=m.rows)
        if m.not_null:
            not_null_steps(out, m.table.qualified_name, m.column, m.rows, precheck=False)
    column_ref = ObjectRef.in_table("column", live_t.qualified_name, new_col.name)
    out.add(f"drop-default-{live_t.name}-{new_col.name}",
            title=f"drop the temporary DEFAULT on {new_col.name}",
            reason="the model sets the key itself; the reference has no default",
            kind=StepKind.DDL, table=live_t.qualified_name, target=column_ref,
            sql=(f"ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT",),
            probe=f"SELECT NOT {probes.has_default(t, new_col.name)}",
            lock="ACCESS EXCLUSIVE", lock_duration="instant")
    out.add(f"drop-old-key-{live_t.name}-{old_key}",
            title=f"drop the old key column {old_key} (and its sequence)",
            reason="pk_strategy=swap: the reference has no such column",
            kind=StepKind.DDL, table=live_t.qualified_name, destructive=True,
            target=ObjectRef.in_table("column", live_t.qualified_name, old_key),
            sql=(f"ALTER TABLE {t} DROP COLUMN IF EXISTS {ident(old_key)}",),
            probe=f"SELECT NOT {probes.has_column(t, old_key)}",
            lock="ACCESS EXCLUSIVE", lock_duration="instant")
    out.handled.add(f"column:{live_t.qualified_name}.{old_key}")
    out.handled.add(change_key(change))
    out.notes.append(f"{live_t.qualified_name}: primary key swapped from {old_key} to "
                     f"{new_col.name}; {old_key} dropped")


def _prepare_fk_move(out: Planned, tb: Table, con: Constraint, parent: Table, old_key: str,
                     new_col: Column) -> FkMove | None:
    """Steps that give a referencing table a uuid copy of its foreign key, filled by join
    in batches and indexed, ready for the swap transaction to rename it into place."""
    col = con.columns[0] if len(con.columns) == 1 else None
    pk = tb.primary_key
    if col is None or pk is None or len(pk.columns) != 1:
        out.unsupported.append(DriftNote(
            "different", "constraint", f"{tb.qualified_name}.{con.name}",
            "only single-column foreign keys on tables with a single-column primary key are "
            "moved automatically"))
        return None
    tt, tmp = qualified(tb.schema, tb.name), f"{fit(col, MAX_NAME - 6)}__uuid"
    t = qualified(parent.schema, parent.name)
    moved = f"(SELECT {probes.column_type_is(tt, col, 'uuid')})"
    expr = (f"(SELECT p.{ident(new_col.name)} FROM {t} AS p WHERE p.{ident(old_key)} = "
            f"t.{ident(col)})")
    row_count = rows(tb)
    tmp_ref = ObjectRef.in_table("column", tb.qualified_name, tmp)
    out.add(f"add-column-{tb.name}-{tmp}",
            title=f"add {tb.qualified_name}.{tmp} uuid (the moved foreign key, nullable)",
            reason=f"{con.name} references {parent.qualified_name}({old_key}) and must "
                   f"follow the key to {new_col.name}",
            kind=StepKind.DDL, table=tb.qualified_name, target=tmp_ref, creates=(tmp_ref,),
            sql=(f"ALTER TABLE {tt} ADD COLUMN IF NOT EXISTS {ident(tmp)} uuid",),
            probe=f"SELECT {probes.has_column(tt, tmp)}", done_if=f"SELECT {moved}",
            reverse=(f"ALTER TABLE {tt} DROP COLUMN IF EXISTS {ident(tmp)}",),
            lock="ACCESS EXCLUSIVE", lock_duration="instant")
    out.add(f"backfill-{tb.name}-{tmp}", title=f"backfill {tmp} by join in batches",
            reason="every reference must point at the same row through the new key",
            kind=StepKind.BACKFILL, table=tb.qualified_name, target=tmp_ref,
            probe=(f"SELECT NOT EXISTS (SELECT 1 FROM {tt} WHERE {ident(tmp)} IS "
                   f"NULL AND {ident(col)} IS NOT NULL)"), done_if=f"SELECT {moved}",
            lock="ROW EXCLUSIVE (per batch)", lock_duration="instant",
            estimated_rows=row_count, estimated_seconds=est_seconds(row_count, 80_000),
            backfill=Backfill(tb.schema, tb.name, pk.columns[0], tmp, expr,
                              f"t.{ident(col)} IS NOT NULL"))
    index = f"{fit(f'{tb.name}_{tmp}', MAX_NAME - 4)}_idx"
    index_ref = ObjectRef.in_table("index", tb.qualified_name, index)
    out.add(f"index-{index}", title=f"index {tmp} CONCURRENTLY",
            reason="a foreign key column needs its index (Django creates one)",
            kind=StepKind.CONCURRENT, table=tb.qualified_name, target=index_ref,
            creates=(index_ref,),
            sql=(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {ident(index)} ON {tt} "
                 f"({ident(tmp)})",),
            probe=f"SELECT {probes.has_valid_index(tt, index)}", done_if=f"SELECT {moved}",
            reverse=(f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(tb.schema, index)}",),
            lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan", estimated_rows=row_count)
    clauses = [f"FOREIGN KEY ({ident(col)}) REFERENCES {t}({ident(new_col.name)})"]
    if con.on_delete and con.on_delete != "NO ACTION":
        clauses.append(f"ON DELETE {con.on_delete}")
    if con.on_update and con.on_update != "NO ACTION":
        clauses.append(f"ON UPDATE {con.on_update}")
    if con.deferrable:
        clauses.append("DEFERRABLE INITIALLY " + ("DEFERRED" if con.deferred else "IMMEDIATE"))
    column = tb.column(col)
    return FkMove(tb, con, col, tmp, expr, " ".join(clauses),
                  bool(column and column.not_null))


def _existing_key(out: Planned, change: Change, ctx: PlanContext, live_t: Table,
                  live_pk: Constraint, exp_pk: Constraint, new_col: Column) -> None:
    """The key moved to a column live already has, with its values (not a uuid to derive):
    a unique index on it CONCURRENTLY (duplicates refused before anything runs), NOT NULL
    through a validated CHECK, then, with pk_strategy=swap, one short transaction drops the
    old key and makes the index the primary key. With keep, the index becomes a UNIQUE
    constraint and the old key stays (its columns then stay NOT NULL)."""
    from pgreconcile.plan.kinds.constraint import duplicates_sql

    table_name = change.table
    t, c = qualified_name(table_name), ident(new_col.name)
    base, old_key = live_t.name, live_pk.columns[0]
    idx = f"{fit(f'{base}_{new_col.name}', MAX_NAME - 5)}_uniq"
    index_ref = ObjectRef.in_table("index", table_name, idx)
    swapped = probes.primary_key_is(t, new_col.name)
    referencing = [f"{tb.qualified_name}.{con.name}" for tb in ctx.live.tables
                   for con in tb.constraints
                   if con.kind == "fk" and con.ref_table == table_name
                   and set(con.ref_columns) <= set(live_pk.columns)]
    if ctx.strategy == "swap" and referencing:
        out.refuse(change, f"foreign keys reference the old key ({', '.join(referencing)}); "
                           f"moving them to the existing column {new_col.name} is not "
                           "automated")
        out.handled.add(change_key(change))
        return
    out.handled.add(f"column:{table_name}.{new_col.name}")
    out.add(f"unique-index-{base}-{new_col.name}", title=f"build unique index {idx} CONCURRENTLY",
            reason=f"{change.object}: the expected primary key ({new_col.name}) needs a "
                   "unique index first", kind=StepKind.CONCURRENT, table=table_name,
            target=index_ref, creates=(index_ref,), precheck=duplicates_sql(t, (new_col.name,)),
            sql=(f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {ident(idx)} ON {t} ({c})",),
            probe=f"SELECT {probes.has_valid_index(t, idx)} OR {swapped}",
            reverse=(f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(live_t.schema, idx)}",),
            lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan", estimated_rows=rows(live_t),
            estimated_seconds=est_seconds(rows(live_t), 1_000_000))
    live_col = live_t.column(new_col.name)
    if live_col is not None and not live_col.not_null:
        not_null_steps(out, table_name, new_col.name, rows(live_t))
    if ctx.strategy == "keep":
        key_con = f"{fit(f'{base}_{new_col.name}', MAX_NAME - 4)}_key"
        attach_unique(out, table_name, new_col.name, idx, key_con,
                      "pk_strategy=keep: the old key stays the primary key")
        out.keep(change, f"pk_strategy=keep: {live_pk.name} ({', '.join(live_pk.columns)}) "
                         f"stays the primary key; {new_col.name} is unique and NOT NULL")
        out.residual += [DriftNote("extra", "constraint", f"{table_name}.{key_con}"),
                         DriftNote("extra", "index", f"{table_name}.{idx}")]
        return
    out.steps[:] = [replace(st, done_if=probes.either(st.done_if, swapped))
                    if st.table == table_name else st for st in out.steps]
    cols = ", ".join(ident(x) for x in live_pk.columns)
    out.add(f"swap-primary-key-{base}",
            title=f"make {new_col.name} the primary key USING INDEX {idx} (drop "
                  f"{live_pk.name} on {', '.join(live_pk.columns)})",
            reason=f"{change.object}: expected primary key ({new_col.name})",
            kind=StepKind.DDL, table=table_name,
            target=ObjectRef.in_table("constraint", table_name, exp_pk.name),
            sql=(f"ALTER TABLE {t} DROP CONSTRAINT {ident(live_pk.name)}",
                 f"ALTER TABLE {t} ADD CONSTRAINT {ident(exp_pk.name)} PRIMARY KEY USING "
                 f"INDEX {ident(idx)}"),
            probe=f"SELECT {swapped}",
            reverse=(f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {ident(exp_pk.name)}",
                     f"ALTER TABLE {t} ADD CONSTRAINT {ident(live_pk.name)} PRIMARY KEY "
                     f"({cols})"),
            lock="ACCESS EXCLUSIVE", lock_duration="instant")
    out.handled.add(change_key(change))
    out.notes.append(f"{table_name}: primary key moved from {old_key} to {new_col.name}")
