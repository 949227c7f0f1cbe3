"""What every kind handler gets (PlanContext) and gives back (Planned)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from pgreconcile.plan.steps import DriftNote, Step
from pgreconcile.schema.diff import Change, Diff
from pgreconcile.schema.model import Schema, Table


@dataclass(frozen=True, slots=True)
class FieldDefault:
    """A Django field's default as the migration state has it.

    `sql` is a constant SQL literal of the column's type (`true`, `0`, `'draft'`), set only
    when the default is a constant; `callable` names a callable default (`uuid.uuid4`,
    `django.utils.timezone.now`), whose SQL equivalent, when there is one, is `volatile_sql`
    (`gen_random_uuid()`, `now()`)."""

    sql: str | None = None
    callable: str | None = None
    volatile_sql: str | None = None

    def to_dict(self) -> dict:
        return {"sql": self.sql, "callable": self.callable, "volatile_sql": self.volatile_sql}

    @classmethod
    def from_dict(cls, d: dict) -> FieldDefault:
        return cls(d.get("sql"), d.get("callable"), d.get("volatile_sql"))


@dataclass(frozen=True)
class PlanContext:
    live: Schema
    expected: Schema
    diff: Diff
    strategy: str = "keep"      # keep | swap: what to do when the primary key moved
    backfill: str = "stable"    # stable | random: how new uuid keys are derived
    # --drop-extra: objects only live has get (destructive) drop steps instead of being kept.
    drop_extra: bool = False
    # What the Django migration state says a column's default is, for columns the database
    # has no default for (Django keeps field defaults in Python): {"schema.table.column":
    # FieldDefault}. Filled by the Django reference; empty for SQL or DSN references.
    field_defaults: Mapping[str, FieldDefault] = field(default_factory=dict)

    def live_table(self, qualified_name: str | None) -> Table | None:
        return self.live.table(qualified_name) if qualified_name else None

    def expected_table(self, qualified_name: str | None) -> Table | None:
        return self.expected.table(qualified_name) if qualified_name else None


def note(change: Change, why: str = "") -> DriftNote:
    return DriftNote(change.bucket, change.kind, change.object, why)


def change_key(change: Change) -> str:
    """"kind:object", how a handler says it also took care of another change."""
    return f"{change.kind}:{change.object}"


@dataclass
class Planned:
    """A handler's answer: steps (named by slug; make_plan numbers them), drift it keeps,
    drift it cannot fix, what verify must accept afterwards, notes for the reader, and the
    other changes (as "kind:object") its steps also take care of."""

    steps: list[Step] = field(default_factory=list)
    kept: list[DriftNote] = field(default_factory=list)
    unsupported: list[DriftNote] = field(default_factory=list)
    residual: list[DriftNote] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    handled: set[str] = field(default_factory=set)

    def add(self, slug: str, **fields) -> Step:
        step = Step(id=slug, **fields)
        self.steps.append(step)
        return step

    def keep(self, change: Change, why: str) -> None:
        """Left in place on purpose: reported, and accepted by verify."""
        self.kept.append(note(change, why))
        self.residual.append(note(change))

    def refuse(self, change: Change, why: str) -> None:
        """No safe automatic fix."""
        self.unsupported.append(note(change, why))

    def extend(self, other: Planned) -> None:
        self.steps += other.steps
        self.kept += other.kept
        self.unsupported += other.unsupported
        self.residual += other.residual
        self.notes += other.notes
        self.handled |= other.handled

    def covers(self, change: Change) -> bool:
        """Already taken care of, or kept, by an earlier handler."""
        return (change_key(change) in self.handled
                or any(k.key == note(change).key for k in self.kept))

    def numbered(self) -> list[Step]:
        """The steps with their plan ids: "NN-slug" in plan order."""
        return [replace(s, id=f"{n:02d}-{s.id}") for n, s in enumerate(self.steps, 1)]


def rows(table: Table | None) -> int:
    return max(int(table.row_estimate or 0), 0) if table else 0


def est_seconds(row_count: int, per_sec: float) -> float:
    return round(row_count / per_sec, 1) if row_count else 0.0
