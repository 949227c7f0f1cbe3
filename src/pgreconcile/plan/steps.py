"""The records a plan is made of: typed, immutable, and written to plan.json (format 2).

A step says what SQL it runs, which object it creates or changes (`target`, `creates`),
which lock it takes and for how long, how to tell it is already done (a probe query),
how to undo it, and whether it destroys anything. docs/plan-format.md documents every
field as it appears in plan.json.

A plan read back is checked whole before anything uses it: every field of the type
to_dict writes (no more, no fewer), its id equal to the digest of its content
(`plan_digest`: an edited file is refused, PlanTampered), and each step's `destructive`
derived again (pgreconcile.plan.destructive), never taken from the file alone.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from enum import StrEnum

from pgreconcile import canonical_json
from pgreconcile.errors import PlanTampered, UsageError
from pgreconcile.plan.backfill import backfill_do_block
from pgreconcile.plan.destructive import step_is_destructive
from pgreconcile.plan.sqltext import ident, qualified

#: The version of plan.json this code writes and reads. 2: the id is the digest of the
#: whole content (plan_digest) and is checked on load; every field is required.
PLAN_FORMAT = 2

_MALFORMED_HINT = "pass the plan.json written by `pgreconcile plan --out`, unedited"


class _Malformed(ValueError):
    """A field of the plan file is missing, extra or of the wrong type (where: its path)."""


class StepKind(StrEnum):
    """How the executor runs a step (a str, so plan.json stays readable)."""

    DDL = "ddl"                # every statement in one transaction with lock_timeout
    CONCURRENT = "concurrent"  # outside a transaction (CREATE INDEX CONCURRENTLY, ADD VALUE)
    BACKFILL = "backfill"      # keyset batches, each committed with its ledger progress


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """A database object by name: what a step creates or changes.

    `table` is the owning table's name for columns, constraints and indexes, else None;
    `schema` is empty for objects outside schemas (extensions).
    """

    kind: str   # table | column | constraint | index | enum | extension | schema
    schema: str
    table: str | None
    name: str

    @classmethod
    def in_table(cls, kind: str, table: str, name: str) -> ObjectRef:
        """A column, constraint or index of `table` ("schema.table")."""
        schema, _, table_name = table.partition(".")
        return cls(kind, schema, table_name, name)

    @classmethod
    def of(cls, kind: str, dotted: str) -> ObjectRef:
        """A table, enum, … known as "schema.name"."""
        schema, _, name = dotted.partition(".")
        return cls(kind, schema, None, name)

    @property
    def qualified(self) -> str:
        """The diff's key for the object: schema.table.name, schema.name or name."""
        return ".".join(p for p in (self.schema, self.table, self.name) if p)

    @property
    def table_qualified(self) -> str | None:
        """"schema.table" of the table the object is or belongs to."""
        if self.table:
            return f"{self.schema}.{self.table}"
        return self.qualified if self.kind == "table" else None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "schema": self.schema, "table": self.table,
                "name": self.name}

    @classmethod
    def from_dict(cls, d: object, where: str = "object ref") -> ObjectRef:
        d = _record(d, where, ("kind", "schema", "table", "name"))
        return cls(_str(d["kind"], f"{where}.kind"), _str(d["schema"], f"{where}.schema"),
                   _str_or_none(d["table"], f"{where}.table"), _str(d["name"], f"{where}.name"))


@dataclass(frozen=True, slots=True)
class Backfill:
    """Fill `column` of every row where it IS NULL (and `where` holds) with `expression`,
    in batches ordered by the single-column key `key`. In `expression`, KEY stands for
    the key of the row being filled; the table's alias is `t`."""

    KEY = "__KEY__"

    schema: str
    table: str
    key: str
    column: str
    expression: str
    where: str | None = None

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def table_sql(self) -> str:
        return qualified(self.schema, self.table)

    @property
    def key_sql(self) -> str:
        return ident(self.key)

    @property
    def column_sql(self) -> str:
        return ident(self.column)

    @property
    def and_where(self) -> str:
        return f" AND {self.where}" if self.where else ""

    def expression_for(self, key_sql: str) -> str:
        """The expression with the row's key written as `key_sql` (e.g. `t."id"`)."""
        return self.expression.replace(self.KEY, key_sql)

    def to_dict(self) -> dict:
        return {"schema": self.schema, "table": self.table, "key": self.key,
                "column": self.column, "expression": self.expression, "where": self.where}

    @classmethod
    def from_dict(cls, d: object, where: str = "backfill") -> Backfill:
        d = _record(d, where, ("schema", "table", "key", "column", "expression", "where"))
        return cls(*(_str(d[k], f"{where}.{k}")
                     for k in ("schema", "table", "key", "column", "expression")),
                   _str_or_none(d["where"], f"{where}.where"))


@dataclass(frozen=True, slots=True)
class DriftNote:
    """One difference the plan does not fix with a step: kept on purpose, unsupported
    (no safe automatic fix), or residual (verify accepts it after the plan)."""

    bucket: str   # missing | extra | different
    kind: str     # the diff's kind: column, constraint, index, …
    object: str   # the diff's qualified name
    why: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return self.bucket, self.kind, self.object

    def to_dict(self) -> dict:
        d = {"bucket": self.bucket, "kind": self.kind, "object": self.object}
        if self.why:
            d["why"] = self.why
        return d

    @classmethod
    def from_dict(cls, d: object, where: str = "drift note") -> DriftNote:
        d = _record(d, where, ("bucket", "kind", "object"), optional=("why",))
        return cls(_str(d["bucket"], f"{where}.bucket"), _str(d["kind"], f"{where}.kind"),
                   _str(d["object"], f"{where}.object"), _str(d.get("why", ""), f"{where}.why"))


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    title: str
    reason: str                       # the change it fixes
    kind: StepKind
    table: str | None                 # "schema.table" whose lock it takes, if one
    target: ObjectRef | None = None   # the object it creates or changes
    creates: tuple[ObjectRef, ...] = ()  # objects it creates; its reverse drops them
    sql: tuple[str, ...] = ()
    probe: str = ""                   # SELECT returning true when the step is done
    reverse: tuple[str, ...] = ()
    lock: str = ""                    # lock mode taken
    lock_duration: str = "instant"    # instant | scan | rewrite
    destructive: bool = False
    estimated_rows: int = 0
    estimated_seconds: float = 0.0
    backfill: Backfill | None = None  # for kind backfill
    precheck: str = ""                # SELECT count, sample: rows that would make it fail
    done_if: str = ""                 # asked before `probe`: true when a later step already
                                      # made this one moot (e.g. its temporary column is gone)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", StepKind(self.kind))  # "ddl" works too
        # One JSON form for each (the plan's digest is over the JSON): rows an integer,
        # seconds a float, whatever number a handler computed them as.
        object.__setattr__(self, "estimated_rows", int(self.estimated_rows))
        object.__setattr__(self, "estimated_seconds", float(self.estimated_seconds))

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "reason": self.reason,
                "kind": self.kind.value, "table": self.table,
                "target": self.target.to_dict() if self.target else None,
                "creates": [c.to_dict() for c in self.creates],
                "sql": list(self.sql), "probe": self.probe, "reverse": list(self.reverse),
                "lock": self.lock, "lock_duration": self.lock_duration,
                "destructive": self.destructive, "estimated_rows": self.estimated_rows,
                "estimated_seconds": self.estimated_seconds,
                "backfill": self.backfill.to_dict() if self.backfill else None,
                "precheck": self.precheck, "done_if": self.done_if}

    @classmethod
    def from_dict(cls, d: object, where: str = "step") -> Step:
        """A step as to_dict wrote it, `destructive` as written: Plan.from_dict checks the
        plan's digest over it, then derives it again (`derived`)."""
        d = _record(d, where, _STEP_FIELDS)
        kind = _str(d["kind"], f"{where}.kind")
        if kind not in {k.value for k in StepKind}:
            raise _Malformed(f"{where}.kind: {ascii(kind)[:40]} is not one of "
                             f"{', '.join(k.value for k in StepKind)}")
        target, backfill = d["target"], d["backfill"]
        return cls(
            id=_str(d["id"], f"{where}.id"), title=_str(d["title"], f"{where}.title"),
            reason=_str(d["reason"], f"{where}.reason"), kind=StepKind(kind),
            table=_str_or_none(d["table"], f"{where}.table"),
            target=None if target is None else ObjectRef.from_dict(target, f"{where}.target"),
            creates=tuple(ObjectRef.from_dict(c, f"{where}.creates[{n}]")
                          for n, c in enumerate(_list(d["creates"], f"{where}.creates"))),
            sql=_strs(d["sql"], f"{where}.sql"), probe=_str(d["probe"], f"{where}.probe"),
            reverse=_strs(d["reverse"], f"{where}.reverse"),
            lock=_str(d["lock"], f"{where}.lock"),
            lock_duration=_str(d["lock_duration"], f"{where}.lock_duration"),
            destructive=_bool(d["destructive"], f"{where}.destructive"),
            estimated_rows=_int(d["estimated_rows"], f"{where}.estimated_rows"),
            estimated_seconds=_num(d["estimated_seconds"], f"{where}.estimated_seconds"),
            backfill=(None if backfill is None
                      else Backfill.from_dict(backfill, f"{where}.backfill")),
            precheck=_str(d["precheck"], f"{where}.precheck"),
            done_if=_str(d["done_if"], f"{where}.done_if"))

    def derived(self) -> Step:
        """This step, destructive when the planner said so or the classifier over its SQL
        finds it destructive (pgreconcile.plan.destructive)."""
        if self.destructive or not step_is_destructive(self):
            return self
        return replace(self, destructive=True)


_STEP_FIELDS = ("id", "title", "reason", "kind", "table", "target", "creates", "sql", "probe",
                "reverse", "lock", "lock_duration", "destructive", "estimated_rows",
                "estimated_seconds", "backfill", "precheck", "done_if")


@dataclass(frozen=True, slots=True)
class Plan:
    id: str
    database: str
    strategy: str
    backfill_mode: str
    live_fingerprint: str
    steps: tuple[Step, ...]
    kept: tuple[DriftNote, ...] = ()         # drift left in place on purpose (reported)
    unsupported: tuple[DriftNote, ...] = ()  # drift we cannot fix safely
    residual: tuple[DriftNote, ...] = ()     # differences verify must accept after this plan
    notes: tuple[str, ...] = ()
    lint: tuple[dict, ...] = ()  # squawk findings, as squawk reports them
    # The schemas the plan was made for (None: every schema, pgreconcile's own left out);
    # its live_fingerprint covers exactly these, and apply compares the same scope.
    schemas: tuple[str, ...] | None = None
    exclude_schemas: tuple[str, ...] | None = None

    @property
    def destructive_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.destructive)

    def to_dict(self) -> dict:
        return {"format": PLAN_FORMAT, "id": self.id, "database": self.database,
                "strategy": self.strategy, "backfill_mode": self.backfill_mode,
                "live_fingerprint": self.live_fingerprint,
                "steps": [s.to_dict() for s in self.steps],
                "kept": [k.to_dict() for k in self.kept],
                "unsupported": [u.to_dict() for u in self.unsupported],
                "residual": [r.to_dict() for r in self.residual],
                "notes": list(self.notes), "lint": list(self.lint),
                "scope": {"schemas": _listed(self.schemas),
                          "exclude_schemas": _listed(self.exclude_schemas)},
                "destructive": [s.id for s in self.destructive_steps]}

    @classmethod
    def from_dict(cls, d: object) -> Plan:
        """A plan read back from plan.json: refused with one clear error when it is not an
        object of format 2 (UsageError), lacks a field, has one too many or of the wrong
        type (UsageError), or when its id is not the digest of its content (PlanTampered)."""
        if not isinstance(d, dict):
            raise UsageError(f"a plan must be a JSON object as `pgreconcile plan` writes it, "
                             f"not {type(d).__name__}",
                             hint="pass the plan.json written by `pgreconcile plan --out`")
        version = d.get("format")
        if version != PLAN_FORMAT or isinstance(version, bool):
            what = ("has no format field" if version is None
                    else f"has format {ascii(version)[:40]}")
            raise UsageError(f"the plan {what}; this pgreconcile reads plan format "
                             f"{PLAN_FORMAT} only",
                             hint="make the plan again with this version: `pgreconcile plan`")
        try:
            plan = cls._read(d)
        except _Malformed as exc:
            raise UsageError(f"the plan is malformed: {exc}", hint=_MALFORMED_HINT) from None
        except RecursionError:
            raise UsageError("the plan is malformed: nested too deeply",
                             hint=_MALFORMED_HINT) from None
        digest = plan_digest(plan)
        if plan.id != digest:
            raise PlanTampered(
                f"plan {ascii(plan.id)[:40]} was edited after it was made: its content "
                f"(steps, SQL, flags, scope) no longer matches its id (digest {digest}); "
                "nothing was changed")
        return replace(plan, steps=tuple(s.derived() for s in plan.steps))

    @classmethod
    def _read(cls, d: dict) -> Plan:
        d = _record(d, "plan", _PLAN_FIELDS)
        strategy = _str(d["strategy"], "plan.strategy")
        backfill_mode = _str(d["backfill_mode"], "plan.backfill_mode")
        if strategy not in ("keep", "swap"):
            raise _Malformed(f"plan.strategy: {ascii(strategy)[:40]} is not keep or swap")
        if backfill_mode not in ("stable", "random"):
            raise _Malformed(f"plan.backfill_mode: {ascii(backfill_mode)[:40]} is not "
                             "stable or random")
        scope = _record(d["scope"], "plan.scope", ("schemas", "exclude_schemas"))
        _strs(d["destructive"], "plan.destructive")  # derived: checked, never used
        return cls(
            _str(d["id"], "plan.id"), _str(d["database"], "plan.database"), strategy,
            backfill_mode, _str(d["live_fingerprint"], "plan.live_fingerprint"),
            tuple(Step.from_dict(s, f"plan.steps[{n}]")
                  for n, s in enumerate(_list(d["steps"], "plan.steps"))),
            *(tuple(DriftNote.from_dict(x, f"plan.{name}[{n}]")
                    for n, x in enumerate(_list(d[name], f"plan.{name}")))
              for name in ("kept", "unsupported", "residual")),
            _strs(d["notes"], "plan.notes"),
            tuple(_record(x, f"plan.lint[{n}]", (), free=True)
                  for n, x in enumerate(_list(d["lint"], "plan.lint"))),
            _scope(scope["schemas"], "plan.scope.schemas"),
            _scope(scope["exclude_schemas"], "plan.scope.exclude_schemas"))

    def sealed(self) -> Plan:
        """This plan with its id set to the digest of its content (plan_digest)."""
        return replace(self, id=plan_digest(self))

    def with_lint(self, findings: list[dict]) -> Plan:
        return replace(self, lint=tuple(findings))

    def with_scope(self, schemas, exclude_schemas) -> Plan:
        """The plan for this scope, its id the digest again (the scope is part of it)."""
        return replace(self, schemas=_tupled(schemas),
                       exclude_schemas=_tupled(exclude_schemas)).sealed()

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
            if step.kind == StepKind.BACKFILL and step.backfill is not None:
                lines.append(backfill_do_block(step.backfill))
            else:
                lines.extend(s.rstrip(";") + ";" for s in step.sql)
            lines.append("")
        return "\n".join(lines)


_PLAN_FIELDS = ("format", "id", "database", "strategy", "backfill_mode", "live_fingerprint",
                "steps", "kept", "unsupported", "residual", "notes", "lint", "scope",
                "destructive")
#: What the id does not cover: the id itself, squawk's findings (added after planning,
#: never executed) and the list of destructive step ids (derived from the steps).
_UNDIGESTED = ("id", "lint", "destructive")


def plan_digest(plan: Plan) -> str:
    """16 hex digits of the sha256 of the plan's content: format, database, strategy,
    backfill mode, live fingerprint, scope, every field of every step (SQL, reverse, probe,
    precheck, done_if, backfill, lock, kind, table, target, creates, destructive, …) and the
    drift notes, as canonical JSON (floats as their repr, so the text does not depend on
    which JSON encoder made it)."""
    content = {k: v for k, v in plan.to_dict().items() if k not in _UNDIGESTED}
    text = canonical_json.dumps(_floats_as_text(content))
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]


def _floats_as_text(value):
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {k: _floats_as_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_floats_as_text(v) for v in value]
    return value


# -- reading plan.json: each helper returns the value or raises _Malformed naming the field

def _kind(value) -> str:
    return "null" if value is None else type(value).__name__


def _record(d, where: str, fields, *, optional=(), free: bool = False) -> dict:
    if not isinstance(d, dict):
        raise _Malformed(f"{where} must be an object, not {_kind(d)}")
    if free:
        return d
    missing = [k for k in fields if k not in d]
    if missing:
        raise _Malformed(f"{where} lacks {', '.join(missing)}")
    extra = [k for k in d if k not in fields and k not in optional]
    if extra:
        raise _Malformed(f"{where} has unknown field(s) "
                         f"{', '.join(ascii(k)[:40] for k in extra[:5])}")
    return d


def _str(value, where: str) -> str:
    if not isinstance(value, str):
        raise _Malformed(f"{where} must be a string, not {_kind(value)}")
    if "\x00" in value:
        raise _Malformed(f"{where} contains a NUL character")
    return value


def _str_or_none(value, where: str) -> str | None:
    return None if value is None else _str(value, where)


def _list(value, where: str) -> list:
    if not isinstance(value, list):
        raise _Malformed(f"{where} must be a list, not {_kind(value)}")
    return value


def _strs(value, where: str) -> tuple[str, ...]:
    return tuple(_str(v, f"{where}[{n}]") for n, v in enumerate(_list(value, where)))


def _scope(value, where: str) -> tuple[str, ...] | None:
    return None if value is None else _strs(value, where)


def _bool(value, where: str) -> bool:
    if not isinstance(value, bool):
        raise _Malformed(f"{where} must be true or false, not {_kind(value)}")
    return value


def _int(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Malformed(f"{where} must be an integer, not {_kind(value)}")
    if not -2 ** 63 <= value < 2 ** 63:
        raise _Malformed(f"{where} must fit in 64 bits")
    return value


def _num(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Malformed(f"{where} must be a number, not {_kind(value)}")
    if isinstance(value, int) and not -2 ** 63 <= value < 2 ** 63:
        raise _Malformed(f"{where} must be a finite number of seconds")
    value = float(value)
    if not math.isfinite(value):
        raise _Malformed(f"{where} must be a finite number of seconds")
    return value


def _listed(names: tuple[str, ...] | None) -> list[str] | None:
    return list(names) if names is not None else None


def _tupled(names) -> tuple[str, ...] | None:
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"a scope lists schema names, not {names!r}")
    return tuple(names)
