"""The records a plan is made of: typed, immutable, and written to plan.json (format 1).

A step says what SQL it runs, which object it creates or changes (`target`, `creates`),
which lock it takes and for how long, how to tell it is already done (a probe query),
how to undo it, and whether it destroys anything. docs/plan-format.md documents every
field as it appears in plan.json.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from pgreconcile.errors import UsageError
from pgreconcile.plan.backfill import backfill_do_block
from pgreconcile.plan.sqltext import ident, qualified

#: The version of plan.json this code writes and reads.
PLAN_FORMAT = 1


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
    def from_dict(cls, d: dict) -> ObjectRef:
        return cls(d["kind"], d["schema"], d.get("table"), d["name"])


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
    def from_dict(cls, d: dict) -> Backfill:
        return cls(d["schema"], d["table"], d["key"], d["column"], d["expression"],
                   d.get("where"))


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
    def from_dict(cls, d: dict) -> DriftNote:
        return cls(d["bucket"], d["kind"], d["object"], d.get("why") or "")


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
    def from_dict(cls, d: dict) -> Step:
        target, backfill = d.get("target"), d.get("backfill")
        return cls(**{**d, "target": ObjectRef.from_dict(target) if target else None,
                      "creates": tuple(ObjectRef.from_dict(c) for c in d.get("creates", ())),
                      "sql": tuple(d.get("sql", ())), "reverse": tuple(d.get("reverse", ())),
                      "backfill": Backfill.from_dict(backfill) if backfill else None})


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
        """A plan read back from plan.json; anything else is refused with a clear error."""
        if not isinstance(d, dict):
            raise UsageError(f"a plan must be a JSON object as `pgreconcile plan` writes it, "
                             f"not {type(d).__name__}",
                             hint="pass the plan.json written by `pgreconcile plan --out`")
        version = d.get("format")
        if version != PLAN_FORMAT:
            what = "has no format field" if version is None else f"has format {version!r}"
            raise UsageError(f"the plan {what}; this pgreconcile reads plan format "
                             f"{PLAN_FORMAT} only",
                             hint="make the plan again with this version: `pgreconcile plan`")
        try:
            scope = d.get("scope") or {}
            return cls(d["id"], d["database"], d["strategy"], d["backfill_mode"],
                       d["live_fingerprint"], tuple(Step.from_dict(s) for s in d["steps"]),
                       tuple(DriftNote.from_dict(k) for k in d.get("kept", ())),
                       tuple(DriftNote.from_dict(u) for u in d.get("unsupported", ())),
                       tuple(DriftNote.from_dict(r) for r in d.get("residual", ())),
                       tuple(d.get("notes", ())), tuple(d.get("lint", ())),
                       _tupled(scope.get("schemas")), _tupled(scope.get("exclude_schemas")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"the plan is malformed ({type(exc).__name__}: {exc})",
                             hint="pass the plan.json written by `pgreconcile plan --out`, "
                                  "unedited") from None

    def with_lint(self, findings: list[dict]) -> Plan:
        return replace(self, lint=tuple(findings))

    def with_scope(self, schemas, exclude_schemas) -> Plan:
        return replace(self, schemas=_tupled(schemas), exclude_schemas=_tupled(exclude_schemas))

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




def _listed(names: tuple[str, ...] | None) -> list[str] | None:
    return list(names) if names is not None else None


def _tupled(names) -> tuple[str, ...] | None:
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"a scope lists schema names, not {names!r}")
    return tuple(names)
