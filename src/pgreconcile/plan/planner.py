"""Turn a diff into the smallest safe, ordered, lock-aware list of steps. Pure: no DB.

Every step says what SQL it runs, which lock it takes and for how long
(instant / scan / rewrite), how to tell it is already done (a probe query that
returns true), how to undo it, and whether it destroys anything. The executor
trusts nothing else.

Safe patterns: columns are added nullable without volatile defaults; data is
backfilled in keyset batches; unique indexes are built CONCURRENTLY and then
attached with `USING INDEX`; NOT NULL goes through `CHECK … NOT VALID` +
`VALIDATE`; foreign keys are added `NOT VALID` and validated separately.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass

from pgreconcile.schema.diff import Change, Diff
from pgreconcile.schema.model import Column, Constraint, Index, Schema, Table

#: Fixed namespace for stable, name-based UUIDs: uuid3(NAMESPACE, "<table>:<id>").
#: Every environment derives the same payment_id for the same row.
STABLE_UUID_NAMESPACE = uuid.UUID("6f1c0d2e-8a4b-4f3e-9c7d-2b5a1e0f9c31")


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    reason: str                       # the change it fixes
    kind: str                         # ddl | concurrent | backfill
    table: str | None
    sql: tuple[str, ...] = ()
    probe: str = ""                   # SELECT returning true when the step is done
    reverse: tuple[str, ...] = ()
    lock: str = ""                    # lock mode taken
    lock_duration: str = "instant"    # instant | scan | rewrite
    destructive: bool = False
    estimated_rows: int = 0
    estimated_seconds: float = 0.0
    backfill: dict | None = None      # table, key, column, expression, where
    precheck: str = ""                # SELECT count, sample: rows that would make it fail
    done_if: str = ""                 # asked before `probe`: true when a later step already
                                      # made this one moot (e.g. its temporary column is gone)

    def to_dict(self) -> dict:
        return {**asdict(self), "sql": list(self.sql), "reverse": list(self.reverse)}

    @classmethod
    def from_dict(cls, d: dict) -> "Step":
        return cls(**{**d, "sql": tuple(d.get("sql", ())), "reverse": tuple(d.get("reverse", ()))})


@dataclass(frozen=True)
class Plan:
    id: str
    database: str
    strategy: str
    backfill_mode: str
    live_fingerprint: str
    steps: tuple[Step, ...]
    kept: tuple[dict, ...] = ()       # drift left in place on purpose (reported, not fixed)
    unsupported: tuple[dict, ...] = ()  # drift we cannot fix safely
    residual: tuple[dict, ...] = ()   # differences verify must accept after this plan
    notes: tuple[str, ...] = ()
    lint: tuple[dict, ...] = ()

    @property
    def destructive_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.destructive)

    def to_dict(self) -> dict:
        return {"id": self.id, "database": self.database, "strategy": self.strategy,
                "backfill_mode": self.backfill_mode, "live_fingerprint": self.live_fingerprint,
                "steps": [s.to_dict() for s in self.steps], "kept": list(self.kept),
                "unsupported": list(self.unsupported), "residual": list(self.residual),
                "notes": list(self.notes), "lint": list(self.lint),
                "destructive": [s.id for s in self.destructive_steps]}

    @classmethod
    def from_dict(cls, d: dict) -> "Plan":
        return cls(d["id"], d["database"], d["strategy"], d["backfill_mode"],
                   d["live_fingerprint"], tuple(Step.from_dict(s) for s in d["steps"]),
                   tuple(d.get("kept", ())), tuple(d.get("unsupported", ())),
                   tuple(d.get("residual", ())), tuple(d.get("notes", ())),
                   tuple(d.get("lint", ())))

    def with_lint(self, findings: list[dict]) -> "Plan":
        return Plan(**{**{f: getattr(self, f) for f in self.__dataclass_fields__},
                       "lint": tuple(findings)})

    def sql_script(self) -> str:
        lines = [f"-- pgreconcile plan {self.id} for database {self.database}",
                 f"-- strategy {self.strategy}; review before running by hand.",
                 "-- Statements marked CONCURRENTLY must run outside a transaction.",
                 "SET lock_timeout = '2s';", ""]
        for n, step in enumerate(self.steps, 1):
            lines.append(f"-- step {n}: {step.title}"
                         + (" [DESTRUCTIVE]" if step.destructive else ""))
            lines.append(f"--   why: {step.reason}")
            lines.append(f"--   lock: {step.lock} ({step.lock_duration})")
            if step.kind == "backfill":
                lines.append(backfill_do_block(step.backfill))
            else:
                lines.extend(s.rstrip(";") + ";" for s in step.sql)
            lines.append("")
        return "\n".join(lines)


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def qt(qualified: str) -> str:
    schema, _, name = qualified.partition(".")
    return f"{q(schema)}.{q(name)}"


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# -- probes: catalog facts that say a step is already done ------------------------------
def has_column(t: str, column: str) -> str:
    return (f"EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = {lit(t)}::regclass AND "
            f"attname = {lit(column)} AND NOT attisdropped)")


def column_not_null(t: str, column: str) -> str:
    return (f"EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = {lit(t)}::regclass AND "
            f"attname = {lit(column)} AND attnotnull)")


def has_default(t: str, column: str) -> str:
    return (f"EXISTS (SELECT 1 FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid "
            f"AND a.attnum = d.adnum WHERE d.adrelid = {lit(t)}::regclass AND a.attname = "
            f"{lit(column)})")


def has_constraint(t: str, name: str, *, validated: bool = False) -> str:
    return (f"EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = {lit(t)}::regclass AND "
            f"conname = {lit(name)}{' AND convalidated' if validated else ''})")


def has_valid_index(t: str, name: str) -> str:
    """Only a VALID index counts: an interrupted CONCURRENTLY build leaves an INVALID one."""
    return (f"EXISTS (SELECT 1 FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid WHERE "
            f"i.indrelid = {lit(t)}::regclass AND x.relname = {lit(name)} AND i.indisvalid)")


def stable_uuid_sql(table_name: str, key_expr: str) -> str:
    """A name-based UUID (version 3) computed in SQL, equal to Python's
    `uuid.uuid3(STABLE_UUID_NAMESPACE, f"{table}:{key}")`. No extension needed."""
    h = (f"md5(decode({lit(STABLE_UUID_NAMESPACE.hex)}, 'hex') || "
         f"convert_to({lit(table_name + ':')} || ({key_expr})::text, 'UTF8'))")
    return (f"(SELECT (substr(h, 1, 12) || '3' || substr(h, 14, 3) || "
            f"to_hex((('x' || substr(h, 17, 1))::bit(4)::int & 3) | 8) || "
            f"substr(h, 18, 15))::uuid FROM (SELECT {h} AS h) AS stable)")


def backfill_batch_sql(b: dict, last_key: str, upper_key: str) -> str:
    """One batch as a key range. (A `WITH batch AS (… LIMIT n) UPDATE … FROM batch` join
    switches to a full-table hash join at ~0.5 % of the rows per batch: measured in bench/.)"""
    table, key, column = qt(b["table"]), q(b["key"]), q(b["column"])
    expr = b["expression"].replace("__KEY__", "t." + key)
    where = f" AND {b['where']}" if b.get("where") else ""
    return (f"UPDATE {table} AS t SET {column} = {expr} WHERE t.{key} > {last_key} "
            f"AND t.{key} <= {upper_key} AND t.{column} IS NULL{where}")


def backfill_do_block(b: dict, batch_size: int = 5_000) -> str:
    """The backfill as a runnable DO block for a person running plan.sql by hand: keyset
    batches, each committed on its own (PostgreSQL 11+, outside a transaction block)."""
    table, key, column = qt(b["table"]), q(b["key"]), q(b["column"])
    expr = b["expression"].replace("__KEY__", f"t.{key}")
    where = f" AND {b['where']}" if b.get("where") else ""
    return (f"DO $$\nDECLARE\n    last_key bigint := (SELECT min({key}) - 1 FROM {table});\n"
            f"    upper_key bigint;\nBEGIN\n    LOOP\n"
            f"        SELECT max({key}) INTO upper_key FROM (SELECT {key} FROM {table} "
            f"WHERE {key} > last_key ORDER BY {key} LIMIT {batch_size}) AS batch;\n"
            f"        EXIT WHEN upper_key IS NULL;\n"
            f"        UPDATE {table} AS t SET {column} = {expr}\n"
            f"         WHERE t.{key} > last_key AND t.{key} <= upper_key AND t.{column} IS NULL"
            f"{where};\n"
            f"        last_key := upper_key;\n        COMMIT;\n    END LOOP;\nEND\n$$;")


def _est_seconds(rows: int, per_sec: float) -> float:
    return round(rows / per_sec, 1) if rows else 0.0


def _rows(table: Table | None) -> int:
    return max(int(table.row_estimate or 0), 0) if table else 0


class _Planner:
    def __init__(self, live: Schema, expected: Schema, diff: Diff, strategy: str,
                 backfill: str):
        self.live, self.expected, self.diff = live, expected, diff
        self.strategy, self.backfill_mode = strategy, backfill
        self.steps: list[Step] = []
        self.kept: list[dict] = []
        self.unsupported: list[dict] = []
        self.residual: list[dict] = []
        self.notes: list[str] = []
        self.handled: set[str] = set()

    def add(self, **kw) -> None:
        n = len(self.steps) + 1
        self.steps.append(Step(id=f"{n:02d}-{kw.pop('slug')}", **kw))

    def keep(self, change: Change, why: str) -> None:
        self.kept.append({**_key(change), "why": why})
        self.residual.append(_key(change))

    # -- the seed case: primary key on another column -------------------------------
    def primary_keys(self) -> None:
        for change in self.diff.significant:
            if change.kind != "constraint" or change.bucket != "different":
                continue
            live_c = Constraint.from_dict(change.live)
            exp_c = Constraint.from_dict(change.expected)
            if live_c.kind != "pk" or exp_c.kind != "pk" or live_c.columns == exp_c.columns:
                continue
            self.pk_move(change, live_c, exp_c)

    def pk_move(self, change: Change, live_pk: Constraint, exp_pk: Constraint) -> None:
        table_name = change.table
        live_t, exp_t = self.live.table(table_name), self.expected.table(table_name)
        if len(exp_pk.columns) != 1 or len(live_pk.columns) != 1:
            self.unsupported.append({**_key(change), "why": "composite primary keys are not "
                                     "moved automatically"})
            return
        new_col = exp_t.column(exp_pk.columns[0])
        old_key = live_pk.columns[0]
        if live_t.column(new_col.name) is None and new_col.type != "uuid":
            self.unsupported.append({**_key(change), "why": f"the new key {new_col.name} is "
                                     f"{new_col.type}; only uuid keys can be derived safely"})
            return
        rows = _rows(live_t)
        t, c = qt(table_name), q(new_col.name)
        base = live_t.name
        idx = f"{base}_{new_col.name}_uniq"[:63]
        key_con = f"{base}_{new_col.name}_key"[:63]
        self.handled.add(f"column:{table_name}.{new_col.name}")
        existed = live_t.column(new_col.name) is not None
        # Column and default in one instant transaction: no row can be inserted in between
        # without a value. A volatile DEFAULT set on an existing column rewrites nothing.
        self.add(slug=f"add-column-{base}-{new_col.name}",
                 title=f"add {table_name}.{new_col.name} uuid, nullable, DEFAULT "
                       "gen_random_uuid() for new rows (no rewrite)",
                 reason=f"{change.object}: expected primary key ({new_col.name}) is missing",
                 kind="ddl", table=table_name,
                 sql=(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {c} uuid",
                      f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT gen_random_uuid()"),
                 probe=f"SELECT {has_column(t, new_col.name)} AND {has_default(t, new_col.name)}",
                 reverse=((f"ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT",) if existed else
                          (f"ALTER TABLE {t} DROP COLUMN IF EXISTS {c}",)),
                 lock="ACCESS EXCLUSIVE", lock_duration="instant")
        expression = ("gen_random_uuid()" if self.backfill_mode == "random"
                      else stable_uuid_sql(live_t.name, "__KEY__"))
        self.add(slug=f"backfill-{base}-{new_col.name}",
                 title=f"backfill {new_col.name} for existing rows in batches "
                       f"({self.backfill_mode} uuid from {old_key})",
                 reason="existing rows need a value before the key can be unique and NOT NULL",
                 kind="backfill", table=table_name,
                 probe=f"SELECT NOT EXISTS (SELECT 1 FROM {t} WHERE {c} IS NULL)",
                 lock="ROW EXCLUSIVE (per batch)", lock_duration="instant",
                 estimated_rows=rows, estimated_seconds=_est_seconds(rows, 150_000),
                 backfill={"table": table_name, "key": old_key, "column": new_col.name,
                           "expression": expression})
        self.add(slug=f"unique-index-{base}-{new_col.name}",
                 title=f"build unique index {idx} CONCURRENTLY",
                 reason="the foreign keys of pending migrations need a unique target",
                 kind="concurrent", table=table_name,
                 sql=(f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {q(idx)} ON {t} ({c})",),
                 probe=f"SELECT {has_valid_index(t, idx)} OR {has_constraint(t, key_con)}",
                 reverse=(f"DROP INDEX CONCURRENTLY IF EXISTS {qt(live_t.schema + '.' + idx)}",),
                 lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan",
                 estimated_rows=rows, estimated_seconds=_est_seconds(rows, 1_000_000))
        self.not_null_steps(table_name, base, new_col.name, rows, precheck=False)
        if self.strategy == "keep":
            self.add(slug=f"unique-constraint-{base}-{new_col.name}",
                     title=f"attach {idx} as UNIQUE constraint {key_con}",
                     reason="a named unique constraint is the FK target Django expects",
                     kind="ddl", table=table_name,
                     sql=(f"ALTER TABLE {t} ADD CONSTRAINT {q(key_con)} UNIQUE USING INDEX "
                          f"{q(idx)}",),
                     probe=f"SELECT {has_constraint(t, key_con)}",
                     reverse=(f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {q(key_con)}",),
                     lock="ACCESS EXCLUSIVE", lock_duration="instant")
            self.keep(change, f"pk_strategy=keep: {old_key} stays the primary key; "
                              f"{new_col.name} is unique and NOT NULL")
            self.handled.add(f"column:{table_name}.{old_key}")
            for extra in self.diff.significant:
                if extra.table == table_name and extra.bucket == "extra" and (
                        extra.object.endswith("." + old_key) or extra.kind == "sequence"):
                    self.keep(extra, f"kept: the old key {old_key} is not dropped "
                                     "(pk_strategy=keep)")
            self.residual.append({"bucket": "different", "kind": "column",
                                  "object": f"{table_name}.{new_col.name}"})
            self.residual.append({"bucket": "extra", "kind": "constraint",
                                  "object": f"{table_name}.{key_con}"})
            self.residual.append({"bucket": "extra", "kind": "index",
                                  "object": f"{table_name}.{idx}"})
            self.notes.append(f"{table_name}: {old_key} kept as primary key, {new_col.name} "
                              "added as unique NOT NULL uuid; pending foreign keys now have a "
                              "target")
        else:
            self.swap_pk(change, live_t, live_pk, new_col, idx, old_key)

    def swap_pk(self, change: Change, live_t: Table, live_pk: Constraint, new_col: Column,
                idx: str, old_key: str) -> None:
        t, c = qt(live_t.qualified_name), q(new_col.name)
        referencing = [(tb, con) for tb in self.live.tables for con in tb.constraints
                       if con.kind == "fk" and con.ref_table == live_t.qualified_name
                       and con.ref_columns == (old_key,)]
        moves = []
        for tb, con in referencing:
            move = self.prepare_fk_move(tb, con, live_t, old_key, new_col)
            if move is None:
                return
            moves.append(move)
        pk_name = live_pk.name
        swap_sql: list[str] = []
        for m in moves:
            swap_sql += [
                # rows written by old code since the backfill, under this step's lock
                f"UPDATE {m['t']} AS t SET {q(m['tmp'])} = {m['expr']} WHERE "
                f"t.{q(m['tmp'])} IS NULL AND t.{q(m['col'])} IS NOT NULL",
                f"ALTER TABLE {m['t']} DROP CONSTRAINT {q(m['con'].name)}",
                f"ALTER TABLE {m['t']} DROP COLUMN {q(m['col'])}",
                f"ALTER TABLE {m['t']} RENAME COLUMN {q(m['tmp'])} TO {q(m['col'])}"]
        swap_sql += [f"ALTER TABLE {t} DROP CONSTRAINT {q(pk_name)}",
                     f"ALTER TABLE {t} ADD CONSTRAINT {q(pk_name)} PRIMARY KEY USING INDEX "
                     f"{q(idx)}"]
        for m in moves:
            swap_sql.append(f"ALTER TABLE {m['t']} ADD CONSTRAINT {q(m['con'].name)} "
                            f"{m['definition']} NOT VALID")
        swapped = (f"EXISTS (SELECT 1 FROM pg_constraint k JOIN pg_attribute a ON "
                   f"a.attrelid = k.conrelid AND a.attnum = k.conkey[1] WHERE k.conrelid = "
                   f"{lit(t)}::regclass AND k.contype = 'p' AND a.attname = "
                   f"{lit(new_col.name)})")
        # Once the key is swapped, every preparatory step is moot (a later step may have
        # undone its traces, e.g. the temporary DEFAULT): rerunning the plan changes nothing.
        self.steps = [Step(**{**st.__dict__, "done_if": _either(st.done_if, swapped)})
                      for st in self.steps]
        self.add(slug=f"swap-primary-key-{live_t.name}",
                 title=f"make {new_col.name} the primary key USING INDEX {idx}"
                       + (f"; move {len(moves)} foreign key(s) to it" if moves else ""),
                 reason=f"{change.object}: expected primary key ({new_col.name})",
                 kind="ddl", table=live_t.qualified_name, destructive=True,
                 sql=tuple(swap_sql), probe=f"SELECT {swapped}",
                 lock="ACCESS EXCLUSIVE (all tables involved, one short transaction)",
                 lock_duration="instant")
        for m in moves:
            self.add(slug=f"validate-{m['con'].name}", title=f"VALIDATE CONSTRAINT {m['con'].name}",
                     reason="the moved foreign key is checked without blocking writers",
                     kind="ddl", table=m["table"],
                     sql=(f"ALTER TABLE {m['t']} VALIDATE CONSTRAINT {q(m['con'].name)}",),
                     probe=f"SELECT {has_constraint(m['t'], m['con'].name, validated=True)}",
                     lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan",
                     estimated_rows=m["rows"])
            if m["not_null"]:
                self.not_null_steps(m["table"], m["base"], m["col"], m["rows"], precheck=False)
        self.add(slug=f"drop-default-{live_t.name}-{new_col.name}",
                 title=f"drop the temporary DEFAULT on {new_col.name}",
                 reason="the model sets the key itself; the reference has no default",
                 kind="ddl", table=live_t.qualified_name,
                 sql=(f"ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT",),
                 probe=f"SELECT NOT {has_default(t, new_col.name)}",
                 lock="ACCESS EXCLUSIVE", lock_duration="instant")
        self.add(slug=f"drop-old-key-{live_t.name}-{old_key}",
                 title=f"drop the old key column {old_key} (and its sequence)",
                 reason="pk_strategy=swap: the reference has no such column",
                 kind="ddl", table=live_t.qualified_name, destructive=True,
                 sql=(f"ALTER TABLE {t} DROP COLUMN IF EXISTS {q(old_key)}",),
                 probe=f"SELECT NOT {has_column(t, old_key)}",
                 lock="ACCESS EXCLUSIVE", lock_duration="instant")
        self.handled.add(f"column:{live_t.qualified_name}.{old_key}")
        self.handled.add(f"constraint:{change.object}")
        self.notes.append(f"{live_t.qualified_name}: primary key swapped from {old_key} to "
                          f"{new_col.name}; {old_key} dropped")

    def prepare_fk_move(self, tb: Table, con: Constraint, parent: Table, old_key: str,
                        new_col: Column) -> dict | None:
        """Steps that give a referencing table a uuid copy of its foreign key, filled by
        join in batches and indexed, ready for the swap transaction to rename it into place."""
        col = con.columns[0] if len(con.columns) == 1 else None
        pk = tb.primary_key
        if col is None or pk is None or len(pk.columns) != 1:
            self.unsupported.append({"bucket": "different", "kind": "constraint",
                                     "object": f"{tb.qualified_name}.{con.name}",
                                     "why": "only single-column foreign keys on tables with a "
                                            "single-column primary key are moved automatically"})
            return None
        tt, tmp = qt(tb.qualified_name), f"{col}__uuid"[:63]
        t = qt(parent.qualified_name)
        moved = (f"(SELECT format_type(atttypid, atttypmod) = 'uuid' FROM pg_attribute WHERE "
                 f"attrelid = {lit(tt)}::regclass AND attname = {lit(col)})")
        expr = (f"(SELECT p.{q(new_col.name)} FROM {t} AS p WHERE p.{q(old_key)} = "
                f"t.{q(col)})")
        rows = _rows(tb)
        self.add(slug=f"add-column-{tb.name}-{tmp}",
                 title=f"add {tb.qualified_name}.{tmp} uuid (the moved foreign key, nullable)",
                 reason=f"{con.name} references {parent.qualified_name}({old_key}) and must "
                        f"follow the key to {new_col.name}",
                 kind="ddl", table=tb.qualified_name,
                 sql=(f"ALTER TABLE {tt} ADD COLUMN IF NOT EXISTS {q(tmp)} uuid",),
                 probe=f"SELECT {has_column(tt, tmp)}", done_if=f"SELECT {moved}",
                 reverse=(f"ALTER TABLE {tt} DROP COLUMN IF EXISTS {q(tmp)}",),
                 lock="ACCESS EXCLUSIVE", lock_duration="instant")
        self.add(slug=f"backfill-{tb.name}-{tmp}",
                 title=f"backfill {tmp} by join in batches",
                 reason="every reference must point at the same row through the new key",
                 kind="backfill", table=tb.qualified_name,
                 probe=(f"SELECT NOT EXISTS (SELECT 1 FROM {tt} WHERE {q(tmp)} IS "
                        f"NULL AND {q(col)} IS NOT NULL)"), done_if=f"SELECT {moved}",
                 lock="ROW EXCLUSIVE (per batch)", lock_duration="instant",
                 estimated_rows=rows, estimated_seconds=_est_seconds(rows, 80_000),
                 backfill={"table": tb.qualified_name, "key": pk.columns[0], "column": tmp,
                           "expression": expr, "where": f"t.{q(col)} IS NOT NULL"})
        index = f"{tb.name}_{tmp}_idx"[:63]
        self.add(slug=f"index-{index}", title=f"index {tmp} CONCURRENTLY",
                 reason="a foreign key column needs its index (Django creates one)",
                 kind="concurrent", table=tb.qualified_name,
                 sql=(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {q(index)} ON {tt} ({q(tmp)})",),
                 probe=f"SELECT {has_valid_index(tt, index)}", done_if=f"SELECT {moved}",
                 reverse=(f"DROP INDEX CONCURRENTLY IF EXISTS {qt(tb.schema + '.' + index)}",),
                 lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan", estimated_rows=rows)
        clauses = [f"FOREIGN KEY ({q(col)}) REFERENCES {t}({q(new_col.name)})"]
        if con.on_delete and con.on_delete != "NO ACTION":
            clauses.append(f"ON DELETE {con.on_delete}")
        if con.on_update and con.on_update != "NO ACTION":
            clauses.append(f"ON UPDATE {con.on_update}")
        if con.deferrable:
            clauses.append("DEFERRABLE INITIALLY " + ("DEFERRED" if con.deferred else
                                                      "IMMEDIATE"))
        column = tb.column(col)
        return {"t": tt, "table": tb.qualified_name, "base": tb.name, "col": col, "tmp": tmp,
                "con": con, "expr": expr, "definition": " ".join(clauses), "rows": rows,
                "not_null": bool(column and column.not_null)}

    # -- generic drift ------------------------------------------------------------
    def generic(self) -> None:
        for change in self.diff.significant:
            key = f"{change.kind}:{change.object}"
            if key in self.handled or any(k == _key(change) for k in map(_strip, self.kept)):
                continue
            if change.bucket == "extra":
                self.keep(change, "extra on live: kept and reported, never dropped by default")
            elif change.kind == "column" and change.bucket == "missing":
                self.missing_column(change)
            elif change.kind == "column" and change.bucket == "different":
                self.different_column(change)
            elif change.kind == "index" and change.bucket == "missing":
                self.missing_index(change)
            elif change.kind == "constraint" and change.bucket == "missing":
                self.missing_constraint(change)
            elif change.kind == "extension" and change.bucket == "missing":
                name = change.expected["name"]
                self.add(slug=f"extension-{name}", title=f"CREATE EXTENSION {name}",
                         reason=change.object, kind="ddl", table=None,
                         sql=(f"CREATE EXTENSION IF NOT EXISTS {q(name)}",),
                         probe=f"SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = "
                               f"{lit(name)})",
                         reverse=(f"DROP EXTENSION IF EXISTS {q(name)}",),
                         lock="none", lock_duration="instant")
            elif change.kind == "enum" and change.bucket == "different":
                self.enum_labels(change)
            else:
                self.unsupported.append({**_key(change), "why": change.risk or
                                         "no safe automatic fix; write a migration for it"})

    def missing_column(self, change: Change) -> None:
        col = Column.from_dict(change.expected)
        table = self.live.table(change.table)
        if table is None:
            self.unsupported.append({**_key(change), "why": "table is missing too"})
            return
        t = qt(change.table)
        probe = f"SELECT {has_column(t, col.name)}"
        default = f" DEFAULT {col.default}" if col.default and _non_volatile(col.default) else ""
        self.add(slug=f"add-column-{table.name}-{col.name}",
                 title=f"add {change.object} {col.type}{default}",
                 reason=f"missing column {change.object}", kind="ddl", table=change.table,
                 sql=(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {q(col.name)} {col.type}"
                      f"{default}",),
                 probe=probe, reverse=(f"ALTER TABLE {t} DROP COLUMN IF EXISTS {q(col.name)}",),
                 lock="ACCESS EXCLUSIVE", lock_duration="instant")
        if col.not_null:
            if not default:
                if _rows(table):
                    self.unsupported.append({**_key(change), "why": "NOT NULL column without a "
                                             "constant default on a non-empty table needs a "
                                             "backfill rule; write a data migration"})
                    self.steps.pop()
                    return
                # Row estimates can be stale: the executor checks the table is really empty.
                self.steps[-1] = Step(**{**self.steps[-1].__dict__, "precheck": (
                    f"SELECT count(*), 'the table is not empty; a NOT NULL column without a "
                    f"default needs a data migration'::text FROM {t}")})
            self.not_null_steps(change.table, table.name, col.name, _rows(table))

    def not_null_steps(self, table_name: str, base: str, column: str, rows: int, *,
                       precheck: bool = True) -> None:
        """NOT NULL without a long ACCESS EXCLUSIVE scan: CHECK NOT VALID, VALIDATE under
        SHARE UPDATE EXCLUSIVE, then SET NOT NULL (which uses the validated CHECK)."""
        t, c = qt(table_name), q(column)
        chk = f"{base}_{column}_not_null"[:63]
        done = column_not_null(t, column)
        self.add(slug=f"check-not-null-{base}-{column}",
                 title=f"CHECK ({column} IS NOT NULL) NOT VALID",
                 reason=f"expected {table_name}.{column} NOT NULL", kind="ddl", table=table_name,
                 precheck=(f"SELECT count(*), string_agg(ctid::text, ', ') FILTER (WHERE n <= 5) "
                           f"FROM (SELECT ctid, row_number() OVER () AS n FROM {t} WHERE {c} IS "
                           f"NULL) AS v") if precheck else "",
                 sql=(f"ALTER TABLE {t} ADD CONSTRAINT {q(chk)} CHECK ({c} IS NOT NULL) "
                      "NOT VALID",),
                 probe=f"SELECT {done} OR {has_constraint(t, chk)}",
                 reverse=(f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {q(chk)}",),
                 lock="ACCESS EXCLUSIVE", lock_duration="instant")
        self.add(slug=f"validate-not-null-{base}-{column}", title=f"VALIDATE CONSTRAINT {chk}",
                 reason="scan under SHARE UPDATE EXCLUSIVE: writers keep writing", kind="ddl",
                 table=table_name, sql=(f"ALTER TABLE {t} VALIDATE CONSTRAINT {q(chk)}",),
                 probe=f"SELECT {done} OR {has_constraint(t, chk, validated=True)}",
                 lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan", estimated_rows=rows,
                 estimated_seconds=_est_seconds(rows, 2_000_000))
        self.add(slug=f"set-not-null-{base}-{column}",
                 title=f"SET NOT NULL on {column} (uses the validated CHECK, no scan)",
                 reason=f"expected {table_name}.{column} NOT NULL", kind="ddl", table=table_name,
                 sql=(f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL",
                      f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {q(chk)}"),
                 probe=f"SELECT {done} AND NOT {has_constraint(t, chk)}",
                 reverse=(f"ALTER TABLE {t} ALTER COLUMN {c} DROP NOT NULL",),
                 lock="ACCESS EXCLUSIVE", lock_duration="instant")

    def different_column(self, change: Change) -> None:
        live, exp = Column.from_dict(change.live), Column.from_dict(change.expected)
        table = self.live.table(change.table)
        t, c = qt(change.table), q(exp.name)
        attrs = set(change.attributes) or {"type", "not_null", "default"}
        if "type" in attrs and live.type != exp.type:
            safe = _widening(live.type, exp.type)
            self.add(slug=f"type-{table.name}-{exp.name}",
                     title=f"change type of {change.object}: {live.type} → {exp.type}",
                     reason=change.risk or "type differs", kind="ddl", table=change.table,
                     sql=(f"ALTER TABLE {t} ALTER COLUMN {c} TYPE {exp.type}",),
                     probe=(f"SELECT format_type(atttypid, atttypmod) = {lit(exp.type)} FROM "
                            f"pg_attribute WHERE attrelid = {lit(t)}::regclass AND attname = "
                            f"{lit(exp.name)}"),
                     reverse=(f"ALTER TABLE {t} ALTER COLUMN {c} TYPE {live.type}",),
                     lock="ACCESS EXCLUSIVE", lock_duration="instant" if safe else "rewrite",
                     destructive=not safe, estimated_rows=_rows(table))
        if "default" in attrs and live.default != exp.default:
            sql = (f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {exp.default}"
                   if exp.default else f"ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT")
            probe_expr = (f"= {lit(exp.default)}" if exp.default else "IS NULL")
            self.add(slug=f"default-{table.name}-{exp.name}", title=sql.split(" ", 3)[-1],
                     reason=f"default of {change.object} differs", kind="ddl",
                     table=change.table, sql=(sql,),
                     probe=(f"SELECT (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d "
                            f"JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = "
                            f"d.adnum WHERE d.adrelid = {lit(t)}::regclass AND a.attname = "
                            f"{lit(exp.name)}) {probe_expr}"),
                     reverse=((f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {live.default}"
                               if live.default else
                               f"ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT"),),
                     lock="ACCESS EXCLUSIVE", lock_duration="instant")
        if "not_null" in attrs and live.not_null != exp.not_null:
            if exp.not_null:
                self.not_null_steps(change.table, table.name, exp.name, _rows(table))
            else:
                self.add(slug=f"drop-not-null-{table.name}-{exp.name}",
                         title=f"DROP NOT NULL on {change.object}", reason="nullability differs",
                         kind="ddl", table=change.table,
                         sql=(f"ALTER TABLE {t} ALTER COLUMN {c} DROP NOT NULL",),
                         probe=(f"SELECT NOT attnotnull FROM pg_attribute WHERE attrelid = "
                                f"{lit(t)}::regclass AND attname = {lit(exp.name)}"),
                         reverse=(f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL",),
                         lock="ACCESS EXCLUSIVE", lock_duration="instant")
        other = attrs - {"type", "default", "not_null"}
        if other:
            self.unsupported.append({**_key(change), "why": f"{', '.join(sorted(other))} "
                                     "differ; no safe automatic fix"})

    def missing_index(self, change: Change) -> None:
        index = Index.from_dict(change.expected)
        table = self.live.table(change.table)
        if table is None:
            self.unsupported.append({**_key(change), "why": "table is missing"})
            return
        definition = index.definition.replace(" INDEX ", " INDEX CONCURRENTLY IF NOT EXISTS ", 1)
        schema = change.table.split(".", 1)[0]
        self.add(slug=f"index-{index.name}", title=f"build index {index.name} CONCURRENTLY",
                 reason=f"missing index {change.object}", kind="concurrent", table=change.table,
                 sql=(definition,),
                 probe=(f"SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class x ON x.oid = "
                        f"i.indexrelid JOIN pg_namespace n ON n.oid = x.relnamespace WHERE "
                        f"x.relname = {lit(index.name)} AND n.nspname = {lit(schema)} AND "
                        f"i.indisvalid)"),
                 reverse=(f"DROP INDEX CONCURRENTLY IF EXISTS {qt(schema + '.' + index.name)}",),
                 lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan",
                 estimated_rows=_rows(table))

    def missing_constraint(self, change: Change) -> None:
        con = Constraint.from_dict(change.expected)
        table = self.live.table(change.table)
        if table is None:
            self.unsupported.append({**_key(change), "why": "table is missing"})
            return
        t = qt(change.table)
        exists = (f"EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = {lit(t)}::regclass AND "
                  f"conname = {lit(con.name)}")
        reverse = (f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {q(con.name)}",)
        if con.kind in ("fk", "check"):
            definition = con.definition.removesuffix(" NOT VALID")
            precheck = _violations_sql(t, con, definition)
            self.add(slug=f"constraint-{con.name}", title=f"add {con.kind} {con.name} NOT VALID",
                     reason=f"missing constraint {change.object}", kind="ddl", table=change.table,
                     precheck=precheck,
                     sql=(f"ALTER TABLE {t} ADD CONSTRAINT {q(con.name)} {definition} NOT VALID",),
                     probe=f"SELECT {exists})", reverse=reverse,
                     lock="SHARE ROW EXCLUSIVE" if con.kind == "fk" else "ACCESS EXCLUSIVE",
                     lock_duration="instant")
            if con.validated:
                self.add(slug=f"validate-{con.name}", title=f"VALIDATE CONSTRAINT {con.name}",
                         reason="existing rows are checked without blocking writers",
                         kind="ddl", table=change.table,
                         sql=(f"ALTER TABLE {t} VALIDATE CONSTRAINT {q(con.name)}",),
                         probe=f"SELECT {exists} AND convalidated)",
                         lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan",
                         estimated_rows=_rows(table))
        elif con.kind in ("unique", "pk") and con.columns:
            idx = con.name
            cols = ", ".join(q(x) for x in con.columns)
            self.add(slug=f"index-{idx}", title=f"build unique index {idx} CONCURRENTLY",
                     reason=f"missing constraint {change.object}", kind="concurrent",
                     table=change.table, precheck=_duplicates_sql(t, con.columns),
                     sql=(f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {q(idx)} ON {t} "
                          f"({cols})",),
                     probe=(f"SELECT {exists}) OR EXISTS (SELECT 1 FROM pg_index i JOIN pg_class "
                            f"x ON x.oid = i.indexrelid WHERE i.indrelid = {lit(t)}::regclass "
                            f"AND x.relname = {lit(idx)} AND i.indisvalid)"),
                     reverse=(f"DROP INDEX CONCURRENTLY IF EXISTS {q(idx)}",),
                     lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan",
                     estimated_rows=_rows(table))
            word = "PRIMARY KEY" if con.kind == "pk" else "UNIQUE"
            self.add(slug=f"constraint-{con.name}", title=f"attach {idx} as {word}",
                     reason=f"missing constraint {change.object}", kind="ddl", table=change.table,
                     sql=(f"ALTER TABLE {t} ADD CONSTRAINT {q(con.name)} {word} USING INDEX "
                          f"{q(idx)}",),
                     probe=f"SELECT {exists})", reverse=reverse,
                     lock="ACCESS EXCLUSIVE", lock_duration="instant")
        else:
            self.unsupported.append({**_key(change), "why": f"{con.kind} constraints are not "
                                     "added automatically"})

    def enum_labels(self, change: Change) -> None:
        live, exp = change.live.get("labels", []), change.expected.get("labels", [])
        if [x for x in live if x in exp] != [x for x in exp if x in live] or \
                set(live) - set(exp):
            self.unsupported.append({**_key(change), "why": "enum labels removed or reordered"})
            return
        name = change.object
        for i, label in enumerate(exp):
            if label in live:
                continue
            position = (f" AFTER {lit(exp[i - 1])}" if i > 0 else
                        (f" BEFORE {lit(exp[1])}" if len(exp) > 1 else ""))
            schema, _, type_name = name.partition(".")
            self.add(slug=f"enum-{type_name}-{label}", title=f"add label {label!r} to {name}",
                     reason=f"enum {name} lacks {label!r}", kind="concurrent", table=None,
                     sql=(f"ALTER TYPE {qt(name)} ADD VALUE IF NOT EXISTS {lit(label)}{position}",),
                     probe=(f"SELECT EXISTS (SELECT 1 FROM pg_enum e JOIN pg_type t ON t.oid = "
                            f"e.enumtypid JOIN pg_namespace n ON n.oid = t.typnamespace WHERE "
                            f"n.nspname = {lit(schema)} AND t.typname = {lit(type_name)} AND "
                            f"e.enumlabel = {lit(label)})"),
                     lock="ACCESS EXCLUSIVE", lock_duration="instant")
            live = live[:i] + [label] + live[i:]


def _violations_sql(t: str, con: Constraint, definition: str) -> str:
    """Rows that would make VALIDATE fail: FK orphans or CHECK violations, with samples."""
    if con.kind == "fk":
        cols = [q(c) for c in con.columns]
        refs = [q(c) for c in con.ref_columns]
        join = " AND ".join(f"p.{r} = c.{x}" for x, r in zip(cols, refs, strict=True))
        notnull = " AND ".join(f"c.{x} IS NOT NULL" for x in cols)
        key = " || ',' || ".join(f"c.{x}::text" for x in cols)
        return (f"SELECT count(*), string_agg(k, ', ') FILTER (WHERE n <= 5) FROM (SELECT {key} "
                f"AS k, row_number() OVER () AS n FROM {t} AS c WHERE {notnull} AND NOT EXISTS "
                f"(SELECT 1 FROM {qt(con.ref_table)} AS p WHERE {join})) AS v")
    expr = definition.removeprefix("CHECK ").strip()
    return (f"SELECT count(*), string_agg(ctid::text, ', ') FILTER (WHERE n <= 5) FROM "
            f"(SELECT ctid, row_number() OVER () AS n FROM {t} WHERE NOT {expr}) AS v")


def _duplicates_sql(t: str, columns: tuple[str, ...]) -> str:
    cols = ", ".join(q(c) for c in columns)
    key = " || ',' || ".join(f"{q(c)}::text" for c in columns)
    return (f"SELECT count(*), string_agg(k, ', ') FILTER (WHERE n <= 5) FROM (SELECT {key} AS k,"
            f" row_number() OVER () AS n FROM {t} WHERE "
            + " AND ".join(f"{q(c)} IS NOT NULL" for c in columns)
            + f" GROUP BY {cols} HAVING count(*) > 1) AS v")


def _either(probe: str, condition: str) -> str:
    """`probe` (a "SELECT …" or empty) widened with OR `condition`."""
    return (f"SELECT ({probe.removeprefix('SELECT ')}) OR ({condition})" if probe
            else f"SELECT {condition}")


def _key(change: Change) -> dict:
    return {"bucket": change.bucket, "kind": change.kind, "object": change.object}


def _strip(d: dict) -> dict:
    return {k: d[k] for k in ("bucket", "kind", "object")}


def _non_volatile(default: str) -> bool:
    volatile = ("nextval(", "random(", "gen_random_uuid(", "uuid_generate", "clock_timestamp(")
    return not any(v in default for v in volatile)


def _widening(old: str, new: str) -> bool:
    """Type changes PostgreSQL does without a rewrite."""
    import re
    m_old, m_new = re.fullmatch(r"character varying\((\d+)\)", old), \
        re.fullmatch(r"character varying\((\d+)\)", new)
    if m_old and (new in ("text", "character varying") or
                  (m_new and int(m_new.group(1)) >= int(m_old.group(1)))):
        return True
    return (old, new) in {("character varying", "text")}


def make_plan(live: Schema, expected: Schema, diff: Diff, *, strategy: str = "keep",
              backfill: str = "stable") -> Plan:
    if strategy not in ("keep", "swap"):
        raise ValueError("strategy must be keep or swap")
    if backfill not in ("stable", "random"):
        raise ValueError("backfill must be stable or random")
    planner = _Planner(live, expected, diff, strategy, backfill)
    planner.primary_keys()
    planner.generic()
    body = json.dumps({"fp": live.fingerprint(), "steps": [s.to_dict() for s in planner.steps]},
                      sort_keys=True)
    plan_id = hashlib.sha256(body.encode()).hexdigest()[:16]
    return Plan(plan_id, live.database, strategy, backfill, live.fingerprint(),
                tuple(planner.steps), tuple(planner.kept), tuple(planner.unsupported),
                tuple(planner.residual), tuple(planner.notes))


def django_migration_draft(plan: Plan, app_label: str, after: str) -> str:
    """A reviewable Django migration that records the same change (never applied by us)."""
    ops = []
    for step in plan.steps:
        if step.kind == "backfill":
            b = step.backfill
            expr = b["expression"].replace("__KEY__", q(b["key"]))
            sql = (f"UPDATE {qt(b['table'])} SET {q(b['column'])} = {expr} "
                   f"WHERE {q(b['column'])} IS NULL")
        elif step.kind == "concurrent":
            continue_note = "  # built CONCURRENTLY by pgreconcile; idempotent here"
            sql = step.sql[0]
            ops.append(f"        migrations.RunSQL({sql!r}, reverse_sql={list(step.reverse)!r}),"
                       f"{continue_note}")
            continue
        else:
            sql = "; ".join(step.sql)
        ops.append(f"        migrations.RunSQL({sql!r}, reverse_sql={list(step.reverse)!r}),")
    body = "\n".join(ops)
    return f'''"""Draft generated by pgreconcile plan {plan.id}.

FOR REVIEW ONLY: pgreconcile never applies it and never edits existing migrations.

Strategy: {plan.strategy}. Every statement is idempotent (IF [NOT] EXISTS), so this
migration is a no-op on databases pgreconcile already reconciled.
"""
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction
    dependencies = [("{app_label}", "{after}")]

    operations = [
        migrations.SeparateDatabaseAndState(database_operations=[
{body}
        ], state_operations=[]),
    ]
'''
