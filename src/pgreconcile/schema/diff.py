"""Compare two `Schema`s: what the live database lacks, has extra, or has differently.

Pure functions over the model; no database. `live` is what is there, `expected`
is what the reference (today's migrations, another database, a SQL file) says
should be there, and every change reads "to get from live to expected".

Constraints and indexes are matched by what they do (kind + definition without
the name), not by name: Django and PostgreSQL generate names with hashes and
suffixes that legitimately differ between databases built at different times, so
a name that differs on an otherwise identical object is a cosmetic change.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, TypeVar

from pgreconcile.schema.model import (
    Column,
    Constraint,
    Index,
    Policy,
    Schema,
    Sequence,
    Table,
    qualify,
)

BUCKETS = ("missing", "extra", "different")
# Within a table, in the order the planner fixes them: policies after the columns their
# expressions use, row-level security switched on after the policies it enforces.
# Types and functions before the tables that use them; views after the tables they read;
# comments and privileges last, on objects that exist by then.
KINDS = ("schema", "extension", "collation", "enum", "domain", "type", "sequence", "function",
         "table", "column", "constraint", "index", "policy", "rls", "trigger", "view",
         "comment", "privilege")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Change:
    """One difference. `live`/`expected` are the object's `to_dict()` (None when absent)."""

    bucket: str  # missing | extra | different
    kind: str  # one of KINDS
    object: str  # qualified name: schema.table.column, schema.table.constraint, …
    table: str | None  # "schema.table" the object belongs to, when it belongs to one
    live: Any = None
    expected: Any = None
    risk: str = ""
    cosmetic: bool = False
    attributes: tuple[str, ...] = ()  # for "different": which attributes differ

    def to_dict(self) -> dict:
        return {"bucket": self.bucket, "kind": self.kind, "object": self.object,
                "table": self.table, "live": self.live, "expected": self.expected,
                "risk": self.risk, "cosmetic": self.cosmetic,
                "attributes": list(self.attributes)}

    @classmethod
    def from_dict(cls, d: dict) -> Change:
        return cls(**{**d, "attributes": tuple(d.get("attributes") or ())})


@dataclass(frozen=True, slots=True)
class Diff:
    changes: tuple[Change, ...] = ()
    live_fingerprint: str = ""
    expected_fingerprint: str = ""

    @property
    def significant(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if not c.cosmetic)

    @property
    def cosmetic(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.cosmetic)

    @property
    def is_empty(self) -> bool:
        """No drift that matters (cosmetic changes, such as generated names, do not count)."""
        return not self.significant

    def bucket(self, name: str) -> tuple[Change, ...]:
        return tuple(c for c in self.significant if c.bucket == name)

    def counts(self) -> dict[str, int]:
        counts = {bucket: len(self.bucket(bucket)) for bucket in BUCKETS}
        counts["cosmetic"] = len(self.cosmetic)
        return counts

    def to_dict(self) -> dict:
        return {"empty": self.is_empty, "counts": self.counts(),
                "live_fingerprint": self.live_fingerprint,
                "expected_fingerprint": self.expected_fingerprint,
                "changes": [c.to_dict() for c in self.changes]}

    @classmethod
    def from_dict(cls, d: dict) -> Diff:
        return cls(changes=tuple(Change.from_dict(c) for c in d.get("changes", ())),
                   live_fingerprint=d.get("live_fingerprint", ""),
                   expected_fingerprint=d.get("expected_fingerprint", ""))


def describe_side(kind: str, value: Any) -> str:
    """One line for the live or expected side of a change (a `to_dict()` or None), as the
    terminal and the report both show it."""
    if value is None:
        return "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    if not isinstance(value, dict):
        return str(value)
    if kind == "policy":
        return describe_policy(value)
    if kind == "rls":
        return describe_rls(value)
    if kind == "column" or ("type" in value and "not_null" in value):
        parts = [str(value.get("type") or "?")]
        if value.get("not_null"):
            parts.append("NOT NULL")
        if value.get("default"):
            parts.append(f"DEFAULT {value['default']}")
        if value.get("identity"):
            parts.append(f"IDENTITY {value['identity']}")
        if value.get("generated"):
            parts.append(f"GENERATED {value.get('generation_expression') or ''}".strip())
        if value.get("collation"):
            parts.append(f"COLLATE {value['collation']}")
        return " ".join(parts)
    for key in ("definition", "sql", "values", "labels", "type", "name"):
        if value.get(key):
            v = value[key]
            text = ", ".join(map(str, v)) if isinstance(v, list) else str(v)
            if key == "definition" and value.get("validated") is False:
                text += " NOT VALID"
            return text
    return ", ".join(f"{k} {v}" for k, v in value.items() if v not in (None, "", [], {}))


def describe_policy(value: dict) -> str:
    """`PERMISSIVE FOR ALL TO public USING (…) WITH CHECK (…)` of a policy's `to_dict()`."""
    parts = ["PERMISSIVE" if value.get("permissive", True) else "RESTRICTIVE",
             f"FOR {value.get('command') or 'ALL'}",
             f"TO {', '.join(value.get('roles') or ['public'])}"]
    if value.get("using"):
        parts.append(f"USING ({value['using']})")
    if value.get("with_check"):
        parts.append(f"WITH CHECK ({value['with_check']})")
    return " ".join(parts)


def describe_rls(value: dict) -> str:
    """A table's row-level security flags (`{"enabled": …, "forced": …}`) in words."""
    text = "row level security " + ("enabled" if value.get("enabled") else "disabled")
    return text + (", forced" if value.get("forced") else "")


def diff_schemas(live: Schema, expected: Schema) -> Diff:
    """Every difference between `live` and `expected`, in a stable order."""
    d = _Differ(live, expected)
    d.namespaces()
    d.extensions()
    d.enums()
    d.tables()
    d.sequences()
    d.views()
    d.triggers()
    return Diff(changes=tuple(sorted(d.changes, key=_order)),
                live_fingerprint=live.fingerprint(),
                expected_fingerprint=expected.fingerprint())


# -- ordering ---------------------------------------------------------------------------

_KIND_RANK = {kind: i for i, kind in enumerate(KINDS)}
_CONSTRAINT_RANK = {"pk": 0, "unique": 1, "exclude": 2, "check": 3, "fk": 4}
_BUCKET_RANK = {"missing": 0, "different": 1, "extra": 2}


def _order(c: Change) -> tuple:
    """Database-wide objects first, then table by table, views last (they use tables)."""
    if c.kind in ("comment", "privilege"):
        group = 3
    elif c.kind == "view":
        group = 2
    elif c.table is None:
        group = 0
    else:
        group = 1
    value = c.expected if c.expected is not None else c.live
    sub = _CONSTRAINT_RANK.get(value.get("kind"), 9) if c.kind == "constraint" else 0
    return (group, c.table or "", _KIND_RANK[c.kind], sub, c.object, _BUCKET_RANK[c.bucket])


# -- normalisation ----------------------------------------------------------------------

_WS = re.compile(r"\s+")
_INDEX_NAME = re.compile(r'^(CREATE (?:UNIQUE )?INDEX )("(?:[^"]|"")+"|\S+)( ON )')
_NEXTVAL = re.compile(r"^nextval\('(.+)'::regclass\)$")


def _squash(text: str | None) -> str | None:
    return None if text is None else _WS.sub(" ", text).strip()


def constraint_signature(c: Constraint) -> tuple[str, str]:
    """What the constraint does, without its name or its validation state."""
    definition = c.definition
    definition = definition.removesuffix(" NOT VALID")
    return c.kind, _squash(definition)


def index_signature(i: Index) -> str:
    """The index definition with the index name taken out."""
    return _squash(_INDEX_NAME.sub(r"\1\3", i.definition))


def policy_attributes(live: Policy, expected: Policy) -> tuple[str, ...]:
    """Which of a policy's attributes differ (expressions compared whitespace-squashed)."""
    def value(policy: Policy, attribute: str):
        v = getattr(policy, attribute)
        return _squash(v) if attribute in ("using", "with_check") else v

    return tuple(a for a in ("command", "permissive", "roles", "using", "with_check")
                 if value(live, a) != value(expected, a))


def _unquote(name: str) -> str:
    return name.replace('"', "")


# -- the comparison ---------------------------------------------------------------------

@dataclass
class _Differ:
    live: Schema
    expected: Schema
    changes: list[Change] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.live_tables = {t.qualified_name: t for t in self.live.tables}
        self.expected_tables = {t.qualified_name: t for t in self.expected.tables}
        self.live_owned = _owned_sequences(self.live)
        self.expected_owned = _owned_sequences(self.expected)

    def add(self, bucket: str, kind: str, obj: str, table: str | None, live=None,
            expected=None, risk: str = "", cosmetic: bool = False,
            attributes: Iterable[str] = ()) -> None:
        self.changes.append(Change(
            bucket=bucket, kind=kind, object=obj, table=table,
            live=live.to_dict() if hasattr(live, "to_dict") else live,
            expected=expected.to_dict() if hasattr(expected, "to_dict") else expected,
            risk=risk, cosmetic=cosmetic, attributes=tuple(attributes)))

    # -- database-wide objects ---------------------------------------------------------
    def namespaces(self) -> None:
        missing, extra, _ = _pair(self.live.namespaces, self.expected.namespaces, str)
        for name in missing:
            self.add("missing", "schema", name, None, expected={"name": name},
                     risk="CREATE SCHEMA is instant; its objects are listed separately")
        for name in extra:
            self.add("extra", "schema", name, None, live={"name": name},
                     risk="schema not in the reference; leave it unless you own it")

    def extensions(self) -> None:
        missing, extra, both = _pair(self.live.extensions, self.expected.extensions,
                                     attrgetter("name"))
        for ex in missing:
            self.add("missing", "extension", ex.name, None, expected=ex,
                     risk="CREATE EXTENSION needs the extension installed on the server "
                          "and usually superuser (or a trusted extension)")
        for lv in extra:
            self.add("extra", "extension", lv.name, None, live=lv,
                     risk="extension not in the reference; dropping it drops what uses it")
        for lv, ex in both:
            name = ex.name
            if lv.schema != ex.schema:
                self.add("different", "extension", name, None, lv, ex, attributes=("schema",),
                         risk=f"extension lives in schema {lv.schema}, expected {ex.schema}: "
                              "ALTER EXTENSION … SET SCHEMA moves its objects")
            elif lv.version != ex.version:
                self.add("different", "extension", name, None, lv, ex, cosmetic=True,
                         attributes=("version",),
                         risk=f"extension version {lv.version} live, {ex.version} in the "
                              "reference (usually just the server's packaged version)")

    def enums(self) -> None:
        missing, extra, both = _pair(self.live.enums, self.expected.enums,
                                     attrgetter("qualified_name"))
        for ex in missing:
            self.add("missing", "enum", ex.qualified_name, None, expected=ex,
                     risk="CREATE TYPE … AS ENUM is instant")
        for lv in extra:
            self.add("extra", "enum", lv.qualified_name, None, live=lv,
                     risk="enum type not in the reference; columns may still use it")
        for lv, ex in both:
            if lv.labels != ex.labels:
                self.add("different", "enum", ex.qualified_name, None, lv, ex,
                         attributes=("labels",),
                         risk=_enum_risk(lv.labels, ex.labels))

    # -- tables ------------------------------------------------------------------------
    def tables(self) -> None:
        missing, extra, both = _pair(self.live.tables, self.expected.tables,
                                     attrgetter("qualified_name"))
        for table in missing:
            name = table.qualified_name
            self.add("missing", "table", name, name, expected=table,
                     risk=f"CREATE TABLE with {_count(table.columns, 'column')}, "
                          f"{_count(table.constraints, 'constraint')} and "
                          f"{_count(_plain_indexes(table), 'other index', 'other indexes')}")
        for table in extra:
            name = table.qualified_name
            rows = _rows(table)
            self.add("extra", "table", name, name, live=table,
                     risk=f"table not in the reference ({rows}); "
                          "dropping it destroys data — keep it unless you are sure")
        for lv, ex in both:
            self.columns(lv, ex)
            self.constraints(lv, ex)
            self.indexes(lv.qualified_name, _plain_indexes(lv), _plain_indexes(ex), lv)
            self.row_security(lv, ex)
            self.policies(lv, ex)

    def row_security(self, live: Table, expected: Table) -> None:
        """ENABLE / FORCE ROW LEVEL SECURITY: one change per table, kind `rls`."""
        attributes = [a for a, lv, ex in (("enabled", live.rls_enabled, expected.rls_enabled),
                                          ("forced", live.rls_forced, expected.rls_forced))
                      if lv != ex]
        if not attributes:
            return
        table = live.qualified_name
        notes = []
        if "enabled" in attributes:
            notes.append("row level security is off live: every role with table privileges "
                         "sees and writes every row, the policies are not applied"
                         if expected.rls_enabled else
                         "row level security is on live but off in the reference: roles "
                         "other than the owner see only what the policies allow")
        if "forced" in attributes:
            notes.append("FORCE ROW LEVEL SECURITY differs: it decides whether the table's "
                         "owner is subject to the policies too")
        notes.append("ALTER TABLE … ROW LEVEL SECURITY takes an ACCESS EXCLUSIVE lock, "
                     "briefly (metadata only)")
        self.add("different", "rls", table, table,
                 live={"enabled": live.rls_enabled, "forced": live.rls_forced},
                 expected={"enabled": expected.rls_enabled, "forced": expected.rls_forced},
                 attributes=attributes, risk="; ".join(notes))

    def policies(self, live: Table, expected: Table) -> None:
        """Policies matched by name (chosen by whoever wrote them, never generated)."""
        table = live.qualified_name
        missing, extra, both = _pair(live.policies, expected.policies, attrgetter("name"))
        for ex in missing:
            self.add("missing", "policy", qualify(table, ex.name), table, expected=ex,
                     risk="CREATE POLICY takes an ACCESS EXCLUSIVE lock, briefly"
                          + ("" if expected.rls_enabled else
                             "; it applies only while row level security is enabled"))
        for lv in extra:
            self.add("extra", "policy", qualify(table, lv.name), table, live=lv,
                     risk=("permissive" if lv.permissive else "restrictive")
                          + " policy not in the reference: it "
                          + ("lets roles see or write rows the reference's policies do not"
                             if lv.permissive else
                             "hides or rejects rows the reference's policies allow")
                          + "; kept, dropping it changes who sees which rows")
        for lv, ex in both:
            attributes = policy_attributes(lv, ex)
            if attributes:
                self.add("different", "policy", qualify(table, ex.name), table, lv, ex,
                         attributes=attributes,
                         risk="policy differs: DROP POLICY + CREATE POLICY in one "
                              "transaction (ALTER POLICY cannot change the command or "
                              "PERMISSIVE/RESTRICTIVE); ACCESS EXCLUSIVE lock, briefly")

    def columns(self, live: Table, expected: Table) -> None:
        table = live.qualified_name
        lcols = {c.name: c for c in live.columns}
        ecols = {c.name: c for c in expected.columns}
        expected_pk = expected.primary_key
        for name in [c.name for c in expected.columns if c.name not in lcols]:
            col = ecols[name]
            self.add("missing", "column", qualify(table, name), table, expected=col,
                     risk=_missing_column_risk(col, live, expected_pk))
        for name in [c.name for c in live.columns if c.name not in ecols]:
            col = lcols[name]
            risk = "column not in the reference; Django ignores it"
            if col.not_null and col.default is None and not col.identity and not col.generated:
                risk = ("column not in the reference is NOT NULL without a default: "
                        "inserts from Django will fail (drop NOT NULL or add a default)")
            self.add("extra", "column", qualify(table, name), table, live=col, risk=risk)
        for name in [c.name for c in expected.columns if c.name in lcols]:
            self.column(table, lcols[name], ecols[name], live)

    def column(self, table: str, live: Column, expected: Column, live_table: Table) -> None:
        obj = qualify(table, live.name)
        differs = [a for a in ("type", "not_null", "default", "identity", "generated",
                               "generation_expression", "collation")
                   if getattr(live, a) != getattr(expected, a)]
        if "default" in differs and (self._default(obj, live.default, self.live_owned)
                                     == self._default(obj, expected.default,
                                                      self.expected_owned)):
            differs.remove("default")  # only the owned sequence's name differs
        notes: list[str] = []
        serial_vs_identity = self._serial_vs_identity(obj, live, expected)
        if serial_vs_identity:
            differs = [a for a in differs if a not in ("default", "identity")]
            notes.append(serial_vs_identity)
        if not differs and not notes:
            return
        for attribute in differs:
            notes.append(_column_risk(attribute, live, expected, live_table))
        self.add("different", "column", obj, table, live, expected, risk="; ".join(notes),
                 cosmetic=not differs, attributes=differs or ("default", "identity"))

    def _default(self, column: str, default: str | None,
                 owned: dict[str, Sequence]) -> str | None:
        match = _NEXTVAL.match(default or "")
        if match:
            seq = owned.get(_unquote(match.group(1)))
            if seq is not None and seq.owned_by == column:
                return "nextval(<owned sequence>)"
        return default

    def _serial_vs_identity(self, obj: str, live: Column, expected: Column) -> str:
        def serial(col: Column, owned: dict[str, Sequence]) -> bool:
            return (not col.identity and
                    self._default(obj, col.default, owned) == "nextval(<owned sequence>)")

        if serial(live, self.live_owned) and expected.identity and expected.default is None:
            return ("serial column live, identity column in the reference (Django 4.1+ "
                    "creates identity columns): both number rows the same way; converting "
                    "is optional")
        if live.identity and live.default is None and serial(expected, self.expected_owned):
            return ("identity column live, serial column in the reference: both number "
                    "rows the same way; converting is optional")
        return ""

    def constraints(self, live: Table, expected: Table) -> None:
        table = live.qualified_name
        unmatched_live, unmatched_expected = list(live.constraints), []
        # 1. same kind and definition: the same constraint, perhaps under another name
        for ex in expected.constraints:
            lv = _take(unmatched_live, constraint_signature, constraint_signature(ex),
                       prefer_name=ex.name)
            if lv is None:
                unmatched_expected.append(ex)
                continue
            if lv.validated != ex.validated:
                self.add("different", "constraint", qualify(table, ex.name), table, lv, ex,
                         attributes=("validated",) + (("name",) if lv.name != ex.name else ()),
                         risk=_validation_risk(lv, ex))
            elif lv.name != ex.name:
                self.add("different", "constraint", qualify(table, ex.name), table, lv, ex,
                         cosmetic=True, attributes=("name",),
                         risk=f"same constraint, named {lv.name} live "
                              "(generated names differ between databases)")
        # 2. one constraint that changed: same kind and name, else same kind on the same
        #    columns, else the one primary key each side has
        pairings = (attrgetter("kind", "name"), attrgetter("kind", "columns"),
                    lambda c: c.kind if c.kind == "pk" else None)
        for pairing in pairings:
            still_unmatched = []
            for ex in unmatched_expected:
                key = pairing(ex)
                lv = _take(unmatched_live, pairing, key) if key is not None else None
                if lv is None:
                    still_unmatched.append(ex)
                    continue
                self.add("different", "constraint", qualify(table, ex.name), table, lv, ex,
                         attributes=_constraint_attributes(lv, ex),
                         risk=_changed_constraint_risk(lv, ex, live))
            unmatched_expected = still_unmatched
        for ex in unmatched_expected:
            self.add("missing", "constraint", qualify(table, ex.name), table, expected=ex,
                     risk=_missing_constraint_risk(ex, live))
        for lv in unmatched_live:
            self.add("extra", "constraint", qualify(table, lv.name), table, live=lv,
                     risk=_extra_constraint_risk(lv))

    def indexes(self, table: str, live: list[Index], expected: list[Index],
                live_table: Table | None) -> None:
        unmatched_live, unmatched_expected = list(live), []
        for ex in expected:
            lv = _take(unmatched_live, index_signature, index_signature(ex),
                       prefer_name=ex.name)
            if lv is None:
                unmatched_expected.append(ex)
            elif lv.valid != ex.valid:
                self.add("different", "index", qualify(table, ex.name), table, lv, ex,
                         attributes=("valid",),
                         risk="index is INVALID live (an interrupted CREATE INDEX "
                              "CONCURRENTLY?): drop it and build it again CONCURRENTLY"
                         if not lv.valid else "index is invalid in the reference")
            elif lv.name != ex.name:
                self.add("different", "index", qualify(table, ex.name), table, lv, ex,
                         cosmetic=True, attributes=("name",),
                         risk=f"same index, named {lv.name} live "
                              "(generated names differ between databases)")
        for ex in unmatched_expected:
            lv = _take(unmatched_live, attrgetter("name"), ex.name)
            if lv is not None:
                attributes = [a for a in ("columns", "unique", "predicate", "method")
                              if getattr(lv, a) != getattr(ex, a)] or ["definition"]
                self.add("different", "index", qualify(table, ex.name), table, lv, ex,
                         attributes=attributes,
                         risk=f"{_build_index_note(live_table)}; drop and recreate "
                              "(CREATE INDEX CONCURRENTLY, then DROP INDEX CONCURRENTLY "
                              "of the old one under a new name)")
            else:
                self.add("missing", "index", qualify(table, ex.name), table, expected=ex,
                         risk=f"{_build_index_note(live_table)}; use CREATE "
                              f"{'UNIQUE ' if ex.unique else ''}INDEX CONCURRENTLY")
        for lv in unmatched_live:
            self.add("extra", "index", qualify(table, lv.name), table, live=lv,
                     risk="index not in the reference; it costs writes but is harmless "
                          "to Django" + ("" if not lv.unique else
                                         "; being UNIQUE it can reject inserts"))

    # -- sequences, views, triggers ----------------------------------------------------
    def sequences(self) -> None:
        unmatched_live = list(self.live.sequences)
        unmatched_expected: list[Sequence] = []
        for ex in self.expected.sequences:
            lv = (_take(unmatched_live, attrgetter("owned_by"), ex.owned_by,
                        prefer_name=ex.name) if ex.owned_by else None) or _take(
                unmatched_live, attrgetter("qualified_name"), ex.qualified_name)
            if lv is None:
                unmatched_expected.append(ex)
                continue
            attributes = [a for a in ("data_type", "increment", "minimum", "maximum", "cache",
                                      "cycle", "owned_by", "start")
                          if getattr(lv, a) != getattr(ex, a)]
            obj = ex.qualified_name
            table = ex.owner_table
            if [a for a in attributes if a != "start"]:
                self.add("different", "sequence", obj, table, lv, ex, attributes=attributes,
                         risk="ALTER SEQUENCE is instant; a narrower type or maximum fails "
                              "if the current value is beyond it")
            elif attributes or lv.name != ex.name:
                self.add("different", "sequence", obj, table, lv, ex, cosmetic=True,
                         attributes=attributes + (["name"] if lv.name != ex.name else []),
                         risk=("same sequence for the same column under another name"
                               if lv.name != ex.name else
                               "only the START value differs; it matters only to RESTART"))
        for ex in unmatched_expected:
            self.add("missing", "sequence", ex.qualified_name, ex.owner_table, expected=ex,
                     **self._identity_twin(ex, self.live_tables, "missing"))
        for lv in unmatched_live:
            if self._goes_with_extra_owner(lv):
                continue
            self.add("extra", "sequence", lv.qualified_name, lv.owner_table, live=lv,
                     **self._identity_twin(lv, self.expected_tables, "extra"))

    def _goes_with_extra_owner(self, seq: Sequence) -> bool:
        """Dropping an extra table or column drops the sequences it owns.

        The other way round is reported: a missing table or column needs its sequence
        created first, and the table's or column's own description does not carry it.
        """
        if not seq.owned_by:
            return False
        table_name, column_name = seq.owned_by.rsplit(".", 1)
        expected = self.expected_tables.get(table_name)
        return expected is None or expected.column(column_name) is None

    def _identity_twin(self, seq: Sequence, other_tables: dict[str, Table],
                       bucket: str) -> dict:
        """A serial's sequence whose column is an identity column on the other side."""
        if seq.owned_by:
            table_name, column_name = seq.owned_by.rsplit(".", 1)
            other = other_tables.get(table_name)
            column = other.column(column_name) if other else None
            if column is not None and column.identity:
                return {"cosmetic": True,
                        "risk": f"the other side numbers {seq.owned_by} with an identity "
                                "column instead of this serial sequence"}
        if bucket == "missing":
            return {"risk": "CREATE SEQUENCE is instant; set its value past existing keys"}
        return {"risk": "sequence not in the reference; harmless unless something uses it"}

    def views(self) -> None:
        missing, extra, both = _pair(self.live.views, self.expected.views,
                                     attrgetter("qualified_name"))
        for ex in missing:
            self.add("missing", "view", ex.qualified_name, None, expected=ex,
                     risk="CREATE VIEW is instant; a materialized view is filled on creation")
        for lv in extra:
            self.add("extra", "view", lv.qualified_name, None, live=lv,
                     risk="view not in the reference; something outside Django may read it")
        for lv, ex in both:
            name = ex.qualified_name
            attributes = []
            if lv.materialized != ex.materialized:
                attributes.append("materialized")
            if _squash(lv.definition) != _squash(ex.definition):
                attributes.append("definition")
            if attributes:
                self.add("different", "view", name, None, lv, ex, attributes=attributes,
                         risk="CREATE OR REPLACE VIEW works only when the columns stay "
                              "compatible; otherwise drop and recreate it and its dependants")
            if lv.materialized and ex.materialized:
                self.indexes(name, list(lv.indexes), list(ex.indexes), None)

    def triggers(self) -> None:
        missing, extra, both = _pair(self.live.triggers, self.expected.triggers,
                                     attrgetter("qualified_name"))
        for trigger in missing:
            self.add("missing", "trigger", trigger.qualified_name, trigger.table_name,
                     expected=trigger,
                     risk="CREATE TRIGGER takes a SHARE ROW EXCLUSIVE lock briefly; "
                          "its function must exist")
        for trigger in extra:
            if trigger.table_name not in self.expected_tables:
                continue  # goes with its extra table
            self.add("extra", "trigger", trigger.qualified_name, trigger.table_name,
                     live=trigger,
                     risk="trigger not in the reference: it still fires on Django's writes")
        for lv, ex in both:
            name = ex.qualified_name
            attributes = [a for a in ("definition", "function", "enabled")
                          if (_squash(getattr(lv, a)) != _squash(getattr(ex, a)))]
            if attributes:
                self.add("different", "trigger", name, lv.table_name, lv, ex,
                         attributes=attributes,
                         risk="trigger is disabled or enabled differently"
                         if attributes == ["enabled"] else
                         "recreate the trigger (DROP + CREATE in one transaction)")


# -- helpers ----------------------------------------------------------------------------

def _pair(live: Iterable[T], expected: Iterable[T], key: Callable[[T], Any]
          ) -> tuple[list[T], list[T], list[tuple[T, T]]]:
    """Objects matched by `key`: (missing from live, extra on live, (live, expected) pairs),
    each in key order, so every kind of object is compared the same way."""
    lmap = {key(o): o for o in live}
    emap = {key(o): o for o in expected}
    return ([emap[k] for k in sorted(emap.keys() - lmap.keys())],
            [lmap[k] for k in sorted(lmap.keys() - emap.keys())],
            [(lmap[k], emap[k]) for k in sorted(lmap.keys() & emap.keys())])


def _take(items: list[T], key: Callable[[T], Any], value: Any,
          prefer_name: str | None = None) -> T | None:
    """Remove and return the first item whose `key` is `value`, one named `prefer_name` first."""
    candidates = [i for i, item in enumerate(items) if key(item) == value]
    if not candidates:
        return None
    if prefer_name is not None:
        candidates.sort(key=lambda i: items[i].name != prefer_name)
    return items.pop(candidates[0])


def _owned_sequences(schema: Schema) -> dict[str, Sequence]:
    return {s.qualified_name: s for s in schema.sequences if s.owned_by}


def _plain_indexes(table: Table) -> list[Index]:
    """Indexes that are not the backing index of a constraint (those go with it)."""
    return [i for i in table.indexes if i.constraint is None]


def _rows(table: Table) -> str:
    if table.row_estimate is None:
        return "row count unknown: never analysed"
    return f"about {table.row_estimate:,} rows"


def _count(items, singular: str, plural: str | None = None) -> str:
    return f"{len(items)} {singular if len(items) == 1 else plural or singular + 's'}"


def _build_index_note(table: Table | None) -> str:
    return ("building it reads the whole table" if table is None
            else f"building it reads the whole table ({_rows(table)})")


def _enum_risk(live: tuple[str, ...], expected: tuple[str, ...]) -> str:
    added = [label for label in expected if label not in live]
    removed = [label for label in live if label not in expected]
    kept_live = [label for label in live if label in expected]
    kept_expected = [label for label in expected if label in live]
    if not removed and kept_live == kept_expected:
        return (f"add label(s) {', '.join(added)} with ALTER TYPE … ADD VALUE "
                "(instant; outside a transaction before PostgreSQL 12)")
    parts = []
    if removed:
        parts.append(f"label(s) {', '.join(removed)} exist only live")
    if added:
        parts.append(f"label(s) {', '.join(added)} are missing")
    if kept_live != kept_expected:
        parts.append("labels are in a different order")
    return ("; ".join(parts) + ": removing or reordering labels means creating a new type "
            "and rewriting every column that uses it")


_INT_TYPES = {"smallint": 2, "integer": 4, "bigint": 8}
_VARCHAR = re.compile(r"^character varying(?:\((\d+)\))?$")
_NUMERIC = re.compile(r"^numeric(?:\((\d+),(\d+)\))?$")


def type_change_risk(live: str, expected: str) -> str:
    """What changing a column from `live` to `expected` costs, in words."""
    arrow = f"{live}→{expected}"
    ints = {live, expected} & _INT_TYPES.keys()
    if ints and "uuid" in {live, expected}:
        return (f"type change {arrow} has no cast: it rewrites the table and needs a "
                "mapping for existing values, and every foreign key to the column must "
                "change with it")
    lv, ev = _VARCHAR.match(live), _VARCHAR.match(expected)
    if (lv or live == "text") and (ev or expected == "text"):
        live_len = int(lv.group(1)) if lv and lv.group(1) else None
        expected_len = int(ev.group(1)) if ev and ev.group(1) else None
        if expected_len is None or (live_len is not None and expected_len >= live_len):
            return f"type change {arrow} widens the column: metadata only, no rewrite"
        return (f"type change {arrow} shortens the column: rewrites the table under an "
                "ACCESS EXCLUSIVE lock and fails if longer values exist")
    ln, en = _NUMERIC.match(live), _NUMERIC.match(expected)
    if ln and en:
        if en.group(1) is None or (ln.group(1) is not None and ln.group(2) == en.group(2)
                                   and int(en.group(1)) >= int(ln.group(1))):
            return f"type change {arrow} widens the precision: metadata only, no rewrite"
        return (f"type change {arrow} changes precision or scale: rewrites the table under "
                "an ACCESS EXCLUSIVE lock and can fail or round existing values")
    if live in _INT_TYPES and expected in _INT_TYPES:
        if _INT_TYPES[expected] > _INT_TYPES[live]:
            return (f"type change {arrow} rewrites the table under an ACCESS EXCLUSIVE lock "
                    "(on a big table: new column, batched backfill, swap)")
        return (f"type change {arrow} rewrites the table and fails on values out of "
                "range")
    return (f"type change {arrow} rewrites the table under an ACCESS EXCLUSIVE lock and "
            "needs a USING expression when there is no implicit cast")


def _column_risk(attribute: str, live: Column, expected: Column, table: Table) -> str:
    if attribute == "type":
        return type_change_risk(live.type, expected.type)
    if attribute == "not_null":
        if expected.not_null:
            return ("SET NOT NULL scans the table under an ACCESS EXCLUSIVE lock and fails "
                    "on NULLs; backfill, add CHECK (… IS NOT NULL) NOT VALID, VALIDATE, "
                    f"then SET NOT NULL ({_rows(table)})")
        return "DROP NOT NULL is metadata only"
    if attribute == "default":
        return (f"default {live.default or 'none'} live, {expected.default or 'none'} "
                "expected: metadata only, affects new rows only")
    if attribute == "identity":
        names = {"": "not identity", "a": "GENERATED ALWAYS", "d": "GENERATED BY DEFAULT"}
        return (f"identity {names[live.identity]} live, {names[expected.identity]} expected: "
                "ALTER COLUMN … SET/ADD/DROP IDENTITY is metadata only (set the sequence "
                "past existing values)")
    if attribute in ("generated", "generation_expression"):
        return ("generated column differs: changing it means dropping and re-adding the "
                "column (a table rewrite) before PostgreSQL 17")
    if attribute == "collation":
        return (f"collation {live.collation or 'default'} live, "
                f"{expected.collation or 'default'} expected: rewrites the column's indexes")
    return f"{attribute} differs"


def _missing_column_risk(col: Column, table: Table, expected_pk: Constraint | None) -> str:
    notes = []
    if expected_pk is not None and col.name in expected_pk.columns:
        notes.append(f"it is (part of) the expected primary key "
                     f"({', '.join(expected_pk.columns)})")
    if col.not_null and col.default is None and not col.identity and not col.generated:
        notes.append("NOT NULL without a default fails on a non-empty table: add it "
                     "nullable, backfill in batches, then SET NOT NULL "
                     f"({_rows(table)})")
    elif col.generated == "s":
        notes.append("a stored generated column rewrites the table")
    else:
        notes.append("ADD COLUMN is metadata only"
                     + ("" if col.default is None else " (a volatile default rewrites)"))
    return "; ".join(notes)


def _constraint_attributes(live: Constraint, expected: Constraint) -> tuple[str, ...]:
    attributes = [a for a in ("columns", "ref_table", "ref_columns", "on_delete", "on_update",
                              "deferrable", "deferred", "validated")
                  if getattr(live, a) != getattr(expected, a)]
    attributes.append("definition")
    if live.name != expected.name:
        attributes.append("name")
    return tuple(attributes)


def _changed_constraint_risk(live: Constraint, expected: Constraint, table: Table) -> str:
    if expected.kind == "pk":
        return (f"primary key differs: expected {', '.join(expected.columns)}, "
                f"live {', '.join(live.columns)}; foreign keys that point at it must "
                "move with it")
    if expected.kind == "fk":
        parts = []
        if (live.ref_table, live.ref_columns) != (expected.ref_table, expected.ref_columns):
            parts.append(f"references {live.ref_table}({', '.join(live.ref_columns)}) live, "
                         f"{expected.ref_table}({', '.join(expected.ref_columns)}) expected")
        if live.on_delete != expected.on_delete:
            parts.append(f"ON DELETE {live.on_delete} live, {expected.on_delete} expected")
        if live.on_update != expected.on_update:
            parts.append(f"ON UPDATE {live.on_update} live, {expected.on_update} expected")
        parts.append("replace it: ADD the new one NOT VALID, VALIDATE, then DROP the old")
        return "; ".join(parts)
    if expected.kind == "check":
        return ("check differs: add the new one NOT VALID, VALIDATE (scans the table, "
                "fails on violating rows), then drop the old")
    return (f"{expected.kind} constraint differs: building its index reads the whole table "
            f"({_rows(table)})")


def _missing_constraint_risk(c: Constraint, table: Table) -> str:
    if c.kind == "fk":
        return (f"foreign key to {c.ref_table}({', '.join(c.ref_columns)}): ADD … NOT VALID, "
                "then VALIDATE (fails on orphan rows); the target needs a unique index on "
                "those columns")
    if c.kind in ("pk", "unique"):
        twin = next((i.name for i in table.indexes if i.unique and i.constraint is None
                     and i.predicate is None and i.columns == c.columns), None)
        how = (f"the unique index {twin} exists live: ADD CONSTRAINT … USING INDEX {twin} "
               "is instant" if twin else
               "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … USING INDEX; "
               "fails on duplicates")
        if c.kind == "pk":
            how += "; the columns must be NOT NULL"
        return how
    if c.kind == "check":
        return "ADD … NOT VALID, then VALIDATE (scans the table, fails on violating rows)"
    return f"{c.kind} constraint: building its index reads the whole table ({_rows(table)})"


def _extra_constraint_risk(c: Constraint) -> str:
    if c.kind == "fk":
        return ("foreign key not in the reference: it can reject Django's writes and "
                "deletes; dropping it is instant")
    if c.kind in ("pk", "unique", "exclude", "check"):
        return (f"{c.kind} constraint not in the reference: it can reject Django's writes; "
                "dropping it is instant")
    return "constraint not in the reference"


def _validation_risk(live: Constraint, expected: Constraint) -> str:
    if not live.validated:
        return ("constraint is NOT VALID live: VALIDATE CONSTRAINT scans the table under a "
                "SHARE UPDATE EXCLUSIVE lock and fails on violating rows")
    return "constraint is NOT VALID in the reference but validated live"
