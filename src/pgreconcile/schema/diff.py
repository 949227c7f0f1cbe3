"""Compare two `Schema`s: what the live database lacks, has extra, or has differently.

Pure functions over the model; no database. `live` is what is there, `expected`
is what the reference (today's migrations, another database, a SQL file) says
should be there, and every change reads "to get from live to expected".

Constraints and indexes are matched by what they do (kind + definition without
the name), not by name: Django and PostgreSQL generate names with hashes and
suffixes that legitimately differ between databases built at different times, so
a name that differs on an otherwise identical object is a cosmetic change.

What a partition or an inheritance child has from its parent (columns, CHECK
constraints, and a partition's clones of its parent's keys, foreign keys and indexes)
is compared on the parent only: fixing the parent fixes the children. Comments and
grants of an extra object, like its triggers and owned sequences, go with it.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from operator import attrgetter
from typing import Any, TypeVar

from pgreconcile.schema.model import (
    Column,
    Constraint,
    Domain,
    Function,
    Index,
    Policy,
    Schema,
    Sequence,
    Table,
    gc_paused,
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
    describe = _DESCRIBE.get(kind)
    if describe is not None and "name" in value or kind in ("comment", "privilege") and (
            "text" in value or "privileges" in value):
        return describe(value)
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
            if key == "definition":
                text = _squash(text)  # a view's definition comes on several lines
            if key == "definition" and value.get("validated") is False:
                text += " NOT VALID"
            return text
    return ", ".join(f"{k} {v}" for k, v in value.items() if v not in (None, "", [], {}))


def _describe_table(value: dict) -> str:
    parts = [f"{'UNLOGGED ' if value.get('unlogged') else ''}table "
             f"{value.get('schema', '?')}.{value['name']}"]
    if value.get("partition_key"):
        parts.append(f"PARTITION BY {value['partition_key']}")
    if value.get("partition_of"):
        parts.append(f"PARTITION OF {value['partition_of']} "
                     f"{value.get('partition_bound') or ''}".strip())
    if value.get("inherits"):
        parts.append(f"INHERITS ({', '.join(value['inherits'])})")
    if "columns" in value:
        parts.append(f"({len(value['columns'])} columns)")
    return " ".join(parts)


def _describe_sequence(value: dict) -> str:
    parts = [f"{value.get('data_type', 'bigint')} start {value.get('start')} "
             f"increment {value.get('increment')}"]
    if value.get("cycle"):
        parts.append("cycle")
    if value.get("owned_by"):
        parts.append(f"owned by {value['owned_by']}")
    if value.get("last_value") is not None or value.get("column_max") is not None:
        last = value.get("last_value")
        parts.append(f"last value {'unused' if last is None else last}")
    if value.get("column_max") is not None:
        parts.append(f"column max {value['column_max']}")
    return ", ".join(parts)


def _describe_extension(value: dict) -> str:
    return f"{value['name']} {value.get('version') or ''} in schema {value.get('schema')}"


def _describe_function(value: dict) -> str:
    word = {"p": "PROCEDURE", "a": "AGGREGATE", "w": "WINDOW FUNCTION"}.get(
        value.get("kind"), "FUNCTION")
    text = f"{word} {value.get('schema')}.{value['name']}({value.get('arguments') or ''})"
    if value.get("returns"):
        text += f" RETURNS {value['returns']}"
    return text + f" LANGUAGE {value.get('language')}"


def _describe_domain(value: dict) -> str:
    parts = [str(value.get("base_type"))]
    if value.get("collation"):
        parts.append(f"COLLATE {value['collation']}")
    if value.get("default"):
        parts.append(f"DEFAULT {value['default']}")
    if value.get("not_null"):
        parts.append("NOT NULL")
    for check in value.get("checks") or ():
        text = check.get("definition", "")
        if check.get("validated") is False and not text.endswith(" NOT VALID"):
            text += " NOT VALID"
        parts.append(text)
    return " ".join(parts)


def _describe_type(value: dict) -> str:
    attributes = [f"{a['name']} {a['type']}" + (f" COLLATE {a['collation']}"
                                                if a.get("collation") else "")
                  for a in value.get("attributes") or ()]
    return f"({', '.join(attributes)})"


def _describe_collation(value: dict) -> str:
    provider = {"c": "libc", "i": "icu", "b": "builtin", "d": "default"}.get(
        value.get("provider"), str(value.get("provider")))
    parts = [f"provider {provider}"]
    if value.get("locale"):
        parts.append(f"locale {value['locale']}")
    if value.get("lc_collate"):
        parts.append(f"lc_collate {value['lc_collate']}")
    if value.get("lc_ctype") and value.get("lc_ctype") != value.get("lc_collate"):
        parts.append(f"lc_ctype {value['lc_ctype']}")
    if value.get("deterministic") is False:
        parts.append("nondeterministic")
    return ", ".join(parts)


def _describe_comment(value: dict) -> str:
    text = str(value.get("text", ""))
    text = _WS.sub(" ", text).strip()
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _describe_privilege(value: dict) -> str:
    privileges = ", ".join(value.get("privileges") or ()) or "nothing"
    text = f"{privileges} to {value.get('grantee')}"
    if value.get("grantable"):
        text += f" (WITH GRANT OPTION: {', '.join(value['grantable'])})"
    return text


_DESCRIBE: dict[str, Callable[[dict], str]] = {
    "table": _describe_table, "sequence": _describe_sequence,
    "extension": _describe_extension, "function": _describe_function,
    "domain": _describe_domain, "type": _describe_type, "collation": _describe_collation,
    "comment": _describe_comment, "privilege": _describe_privilege,
}


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
    with gc_paused():
        d = _Differ(live, expected)
        d.namespaces()
        d.extensions()
        d.collations()
        d.enums()
        d.domains()
        d.composite_types()
        d.functions()
        d.tables()
        d.sequences()
        d.views()
        d.triggers()
        d.comments()
        d.privileges()
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
                self.add("different", "extension", name, None, lv, ex,
                         attributes=("version",),
                         risk=f"extension version {lv.version} live, {ex.version} in the "
                              "reference: ALTER EXTENSION … UPDATE TO changes its objects; "
                              "going back needs a downgrade script the extension may not "
                              "ship")

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
            default = next((t.qualified_name for t in self.live.tables
                            if table.partition_of and t.partition_of == table.partition_of
                            and t.partition_bound == "DEFAULT"), None)
            self.add("missing", "table", name, name, expected=table,
                     risk=_missing_table_risk(table, default))
        for table in extra:
            name = table.qualified_name
            rows = _rows(table)
            self.add("extra", "table", name, name, live=table,
                     risk=f"table not in the reference ({rows}); "
                          "dropping it destroys data — keep it unless you are sure")
        for lv, ex in both:
            if _same_own_table(lv, ex):
                continue  # nothing below can differ
            self.table_attributes(lv, ex)
            lparents = _parents(lv, self.live_tables)
            eparents = _parents(ex, self.expected_tables)
            self.columns(lv, ex, lparents, eparents)
            if lparents or eparents:
                partition = lv.is_partition or ex.is_partition
                lv_own, ex_own = _own_parts(lv, ex, lparents, eparents, partition)
            else:
                lv_own, ex_own = lv, ex
            self.constraints(lv_own, ex_own)
            self.indexes(lv.qualified_name, _plain_indexes(lv_own), _plain_indexes(ex_own), lv)
            self.row_security(lv, ex)
            self.policies(lv, ex)

    def table_attributes(self, live: Table, expected: Table) -> None:
        """UNLOGGED, the partition key, the parent and bound of a partition, INHERITS:
        one change per table, kind `table`."""
        attributes = [a for a in TABLE_ATTRIBUTES
                      if _table_value(live, a) != _table_value(expected, a)]
        if attributes:
            name = live.qualified_name
            self.add("different", "table", name, name, live, expected,
                     attributes=attributes, risk=_table_risk(attributes, live, expected))

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

    def columns(self, live: Table, expected: Table, live_parents: list[Table] = (),
                expected_parents: list[Table] = ()) -> None:
        """Columns matched by name. A child's column that it inherits from its parent (a
        partition's, an inheritance child's) is compared on the parent only: the parent's
        change reaches the children."""
        table = live.qualified_name
        lcols = {c.name: c for c in live.columns}
        ecols = {c.name: c for c in expected.columns}
        expected_pk = expected.primary_key
        for name in [c.name for c in expected.columns if c.name not in lcols]:
            if _parent_column(expected_parents, name) is not None:
                continue  # comes with the parent's column
            col = ecols[name]
            self.add("missing", "column", qualify(table, name), table, expected=col,
                     risk=_missing_column_risk(col, live, expected_pk))
        for name in [c.name for c in live.columns if c.name not in ecols]:
            if _parent_column(live_parents, name) is not None:
                continue  # goes with the parent's column
            col = lcols[name]
            risk = "column not in the reference; Django ignores it"
            if col.not_null and col.default is None and not col.identity and not col.generated:
                risk = ("column not in the reference is NOT NULL without a default: "
                        "inserts from Django will fail (drop NOT NULL or add a default)")
            self.add("extra", "column", qualify(table, name), table, live=col, risk=risk)
        for name in [c.name for c in expected.columns if c.name in lcols]:
            self.column(table, lcols[name], ecols[name], live,
                        _parent_column(live_parents, name),
                        _parent_column(expected_parents, name))

    def column(self, table: str, live: Column, expected: Column, live_table: Table,
               live_parent: Column | None = None,
               expected_parent: Column | None = None) -> None:
        obj = qualify(table, live.name)
        differs = [a for a in ("type", "not_null", "default", "identity", "generated",
                               "generation_expression", "collation")
                   if getattr(live, a) != getattr(expected, a)]
        if live_parent is not None and expected_parent is not None:
            # what the child has as its parent has it, on both sides, the parent reports
            differs = [a for a in differs
                       if getattr(live, a) != getattr(live_parent, a)
                       or getattr(expected, a) != getattr(expected_parent, a)]
        if "default" in differs and (self._default(obj, live.default, self.live_owned)
                                     == self._default(obj, expected.default,
                                                      self.expected_owned)):
            differs.remove("default")  # only the owned sequence's name differs
        notes: list[str] = []
        serial_vs_identity = self._serial_vs_identity(obj, live, expected)
        if serial_vs_identity and live_parent is not None and expected_parent is not None and (
                (live.default, live.identity) == (live_parent.default, live_parent.identity)
                and (expected.default, expected.identity)
                == (expected_parent.default, expected_parent.identity)):
            serial_vs_identity = ""  # the parent's column says it
            differs = [a for a in differs if a not in ("default", "identity")]
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
                         risk=f"{_build_index_note(live_table)}; rebuilt beside the old "
                              "one (CREATE INDEX CONCURRENTLY under a new name, then the "
                              "old one dropped and the new one renamed into place)")
            else:
                how = ("CREATE INDEX ON ONLY the partitioned table, then CONCURRENTLY on "
                       "each partition and ATTACH PARTITION"
                       if live_table is not None and live_table.partition_key else
                       f"use CREATE {'UNIQUE ' if ex.unique else ''}INDEX CONCURRENTLY")
                self.add("missing", "index", qualify(table, ex.name), table, expected=ex,
                         risk=f"{_build_index_note(live_table)}; {how}")
        for lv in unmatched_live:
            self.add("extra", "index", qualify(table, lv.name), table, live=lv,
                     risk="index not in the reference; it costs writes but is harmless "
                          "to Django" + ("" if not lv.unique else
                                         "; being UNIQUE it can reject inserts"))

    # -- sequences, views, triggers ----------------------------------------------------
    def sequences(self) -> None:
        # by owning column (the name may be generated differently), else by name
        by_owner: dict[str, list[Sequence]] = {}
        by_name: dict[str, Sequence] = {}
        for seq in self.live.sequences:
            by_name[seq.qualified_name] = seq
            if seq.owned_by:
                by_owner.setdefault(seq.owned_by, []).append(seq)
        taken: set[str] = set()

        def take(candidates: list[Sequence], prefer: str) -> Sequence | None:
            free = [c for c in candidates if c.qualified_name not in taken]
            if not free:
                return None
            found = next((c for c in free if c.name == prefer), free[0])
            taken.add(found.qualified_name)
            return found

        unmatched_expected: list[Sequence] = []
        for ex in self.expected.sequences:
            lv = (take(by_owner.get(ex.owned_by, []), ex.name) if ex.owned_by else None) or (
                take([by_name[ex.qualified_name]], ex.name)
                if ex.qualified_name in by_name else None)
            if lv is None:
                unmatched_expected.append(ex)
                continue
            attributes = [a for a in ("data_type", "increment", "minimum", "maximum", "cache",
                                      "cycle", "owned_by", "start")
                          if getattr(lv, a) != getattr(ex, a)]
            obj = ex.qualified_name
            table = ex.owner_table
            if lv.behind:
                attributes.append("behind")
            if [a for a in attributes if a != "start"]:
                notes = []
                if [a for a in attributes if a not in ("start", "behind")]:
                    notes.append("ALTER SEQUENCE is instant; a narrower type or maximum "
                                 "fails if the current value is beyond it")
                if lv.behind:
                    notes.append(_behind_note(lv))
                self.add("different", "sequence", obj, table, lv, ex, attributes=attributes,
                         risk="; ".join(notes))
            elif attributes or lv.name != ex.name:
                self.add("different", "sequence", obj, table, lv, ex, cosmetic=True,
                         attributes=attributes + (["name"] if lv.name != ex.name else []),
                         risk=("same sequence for the same column under another name"
                               if lv.name != ex.name else
                               "only the START value differs; it matters only to RESTART"))
        for ex in unmatched_expected:
            self.add("missing", "sequence", ex.qualified_name, ex.owner_table, expected=ex,
                     **self._identity_twin(ex, self.live_tables, "missing"))
        unmatched_live = [s for s in self.live.sequences if s.qualified_name not in taken]
        for lv in unmatched_live:
            if self._goes_with_extra_owner(lv):
                continue
            self.add("extra", "sequence", lv.qualified_name, lv.owner_table, live=lv,
                     **self._identity_twin(lv, self.expected_tables, "extra"))
        self.identity_sequences_behind()

    def identity_sequences_behind(self) -> None:
        """An identity column's sequence behind the column's maximum (rows loaded with
        explicit ids): the same drift as a serial's, reported on the sequence."""
        twins = {s.owned_by: s for s in (*self.expected.sequences,
                                         *self.expected.identity_sequences) if s.owned_by}
        for lv in self.live.identity_sequences:
            if not lv.behind or self._goes_with_extra_owner(lv):
                continue
            ex = twins.get(lv.owned_by) or replace(lv, last_value=None, column_max=None)
            self.add("different", "sequence", lv.qualified_name, lv.owner_table, lv, ex,
                     attributes=("behind",),
                     risk=_behind_note(lv) + " (the sequence of an identity column)")

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
            if tuple(sorted(lv.options)) != tuple(sorted(ex.options)):
                attributes.append("options")
            if attributes == ["options"]:
                self.add("different", "view", name, None, lv, ex, attributes=attributes,
                         risk="ALTER VIEW SET/RESET (security_barrier, security_invoker, "
                              "check_option) is instant; they change who sees and may write "
                              "which rows")
            elif attributes:
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

    # -- collations, domains, composite types, functions ------------------------------
    def collations(self) -> None:
        missing, extra, both = _pair(self.live.collations, self.expected.collations,
                                     attrgetter("qualified_name"))
        for ex in missing:
            self.add("missing", "collation", ex.qualified_name, None, expected=ex,
                     risk="CREATE COLLATION is instant; the locale must exist on the server"
                          + (" (ICU)" if ex.provider == "i" else ""))
        for lv in extra:
            self.add("extra", "collation", lv.qualified_name, None, live=lv,
                     risk="collation not in the reference; columns and indexes may use it")
        for lv, ex in both:
            attributes = [a for a in COLLATION_ATTRIBUTES if getattr(lv, a) != getattr(ex, a)]
            if attributes:
                self.add("different", "collation", ex.qualified_name, None, lv, ex,
                         attributes=attributes,
                         risk="a collation cannot be altered: drop and recreate it, and "
                              "rebuild the indexes and columns that use it (their order "
                              "changes)")

    def domains(self) -> None:
        missing, extra, both = _pair(self.live.domains, self.expected.domains,
                                     attrgetter("qualified_name"))
        for ex in missing:
            self.add("missing", "domain", ex.qualified_name, None, expected=ex,
                     risk="CREATE DOMAIN is instant")
        for lv in extra:
            self.add("extra", "domain", lv.qualified_name, None, live=lv,
                     risk="domain not in the reference; columns may still use it")
        for lv, ex in both:
            attributes = [a for a in ("base_type", "not_null", "default", "collation")
                          if getattr(lv, a) != getattr(ex, a)]
            cosmetic_checks = False
            if _domain_checks(lv) != _domain_checks(ex):
                attributes.append("checks")
            elif [c.name for c in lv.checks] != [c.name for c in ex.checks]:
                cosmetic_checks = True
            if attributes:
                self.add("different", "domain", ex.qualified_name, None, lv, ex,
                         attributes=attributes, risk=_domain_risk(attributes, lv, ex))
            elif cosmetic_checks:
                self.add("different", "domain", ex.qualified_name, None, lv, ex,
                         cosmetic=True, attributes=("checks",),
                         risk="same checks under other names (generated names differ "
                              "between databases)")

    def composite_types(self) -> None:
        missing, extra, both = _pair(self.live.composite_types, self.expected.composite_types,
                                     attrgetter("qualified_name"))
        for ex in missing:
            self.add("missing", "type", ex.qualified_name, None, expected=ex,
                     risk="CREATE TYPE … AS (…) is instant")
        for lv in extra:
            self.add("extra", "type", lv.qualified_name, None, live=lv,
                     risk="composite type not in the reference; columns or functions may "
                          "use it")
        for lv, ex in both:
            if lv.attributes != ex.attributes:
                self.add("different", "type", ex.qualified_name, None, lv, ex,
                         attributes=("attributes",),
                         risk="ALTER TYPE … ADD/DROP/ALTER ATTRIBUTE; refused while a "
                              "table column uses the type and a change would rewrite it")

    def functions(self) -> None:
        missing, extra, both = _pair(self.live.functions, self.expected.functions,
                                     attrgetter("qualified_name"))
        for ex in missing:
            self.add("missing", "function", ex.qualified_name, None, expected=ex,
                     risk=f"CREATE {_function_word(ex).upper()} is instant; its language "
                          f"({ex.language}) must be installed")
        for lv in extra:
            self.add("extra", "function", lv.qualified_name, None, live=lv,
                     risk=f"{_function_word(lv)} not in the reference; triggers, views or "
                          "other code outside Django may call it")
        for lv, ex in both:
            attributes = [a for a in ("definition", "returns", "kind", "language")
                          if _function_value(lv, a) != _function_value(ex, a)]
            if attributes:
                self.add("different", "function", ex.qualified_name, None, lv, ex,
                         attributes=attributes,
                         risk="CREATE OR REPLACE is instant when the result type stays; "
                              "another result type or kind means DROP and CREATE (and "
                              "whatever depends on it)"
                         if {"returns", "kind"} & set(attributes) else
                         "CREATE OR REPLACE is instant; callers see the new body at once")

    # -- comments and privileges -------------------------------------------------------
    def comments(self) -> None:
        missing, extra, both = _pair(self.live.comments, self.expected.comments,
                                     attrgetter("key"))
        existing = _commentable(self.expected)
        views = {v.qualified_name for v in self.expected.views}
        for ex in missing:
            self.add("missing", "comment", ex.key, _comment_table(ex), expected=ex,
                     risk="COMMENT ON is instant (documentation only)")
        for lv in extra:
            if (lv.kind, lv.object) not in existing and not (
                    lv.kind == "column" and lv.object.rsplit(".", 1)[0] in views):
                continue  # goes with its extra object
            self.add("extra", "comment", lv.key, _comment_table(lv), live=lv,
                     risk="comment not in the reference (documentation only)")
        for lv, ex in both:
            if lv.text != ex.text:
                self.add("different", "comment", ex.key, _comment_table(ex), lv, ex,
                         attributes=("text",), risk="COMMENT ON is instant (documentation only)")

    def privileges(self) -> None:
        missing, extra, both = _pair(self.live.privileges, self.expected.privileges,
                                     attrgetter("key"))
        existing = ({t.qualified_name for t in self.expected.tables}
                    | {v.qualified_name for v in self.expected.views}
                    | {s.qualified_name for s in (*self.expected.sequences,
                                                  *self.expected.identity_sequences)})
        for ex in missing:
            self.add("missing", "privilege", ex.key, _privilege_table(ex), expected=ex,
                     risk=f"GRANT {', '.join(ex.privileges)} ON {ex.object} TO {ex.grantee} "
                          "is instant; until then that role's queries fail with permission "
                          "denied")
        for lv in extra:
            if lv.object not in existing:
                continue  # goes with its extra object
            self.add("extra", "privilege", lv.key, _privilege_table(lv), live=lv,
                     risk=f"{lv.grantee} holds {', '.join(lv.privileges)} on {lv.object} "
                          "that the reference does not grant; kept, revoking can break "
                          "whoever uses it")
        for lv, ex in both:
            attributes = [a for a in ("privileges", "grantable")
                          if getattr(lv, a) != getattr(ex, a)]
            if attributes:
                more = sorted(set(ex.privileges) - set(lv.privileges))
                fewer = sorted(set(lv.privileges) - set(ex.privileges))
                notes = []
                if more:
                    notes.append(f"{lv.grantee} lacks {', '.join(more)} live")
                if fewer:
                    notes.append(f"{lv.grantee} also holds {', '.join(fewer)} live")
                if "grantable" in attributes:
                    notes.append("WITH GRANT OPTION differs")
                notes.append("GRANT / REVOKE is instant")
                self.add("different", "privilege", ex.key, _privilege_table(ex), lv, ex,
                         attributes=attributes, risk="; ".join(notes))


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


TABLE_ATTRIBUTES = ("unlogged", "partition_key", "partition_of", "partition_bound",
                    "inherits")


#: The fields of a table that its comparison reads (all but row_estimate, an estimate).
_TABLE_COMPARED = attrgetter(*(f.name for f in fields(Table) if f.name != "row_estimate"))


def _same_own_table(live: Table, expected: Table) -> bool:
    """Whether comparing the two could report nothing: the same table on both sides (but
    for its row estimate), neither a partition nor an inheritance child. (A child's
    comparison also depends on its parents' on each side: it always goes the long way.)"""
    return (not (live.partition_of or live.inherits or expected.partition_of
                 or expected.inherits)
            and _TABLE_COMPARED(live) == _TABLE_COMPARED(expected))


def _table_value(table: Table, attribute: str):
    value = getattr(table, attribute)
    return _squash(value) if attribute in ("partition_key", "partition_bound") else value


def _parents(table: Table, tables: dict[str, Table]) -> list[Table]:
    """The parent of a partition, or the parents of an inheritance child, on its side."""
    names = (table.partition_of,) if table.partition_of else table.inherits
    return [tables[name] for name in names if name in tables]


def _parent_column(parents: Iterable[Table], name: str) -> Column | None:
    return next((c for p in parents if (c := p.column(name)) is not None), None)


def _index_shape(index: Index) -> tuple:
    """What an index does, whatever its name and table: a partition's clone of its parent's
    index has the shape of it."""
    return (index.unique, index.method, index.columns, _squash(index.predicate))


def _own_parts(live: Table, expected: Table, live_parents: list[Table],
               expected_parents: list[Table], partition: bool) -> tuple[Table, Table]:
    """`live` and `expected` without the constraints and indexes they have from their
    parents (either side's: a parent's change reaches its children).

    A partition has every constraint and index of its parent (clones); an inheritance
    child inherits only CHECK constraints (NOT NULL is a column fact), its keys, foreign
    keys and indexes are its own."""
    parents = (*live_parents, *expected_parents)
    signatures = {constraint_signature(c) for p in parents for c in p.constraints
                  if partition or c.kind == "check"}
    shapes = ({_index_shape(i) for p in parents for i in _plain_indexes(p)}
              if partition else set())

    def own(table: Table) -> Table:
        return replace(
            table,
            constraints=tuple(c for c in table.constraints
                              if constraint_signature(c) not in signatures),
            indexes=tuple(i for i in table.indexes
                          if i.constraint is not None or _index_shape(i) not in shapes))

    return own(live), own(expected)


def _missing_table_risk(table: Table, default_partition: str | None = None) -> str:
    parts = (f"{_count(table.columns, 'column')}, "
             f"{_count(table.constraints, 'constraint')} and "
             f"{_count(_plain_indexes(table), 'other index', 'other indexes')}")
    if table.partition_of:
        text = (f"CREATE TABLE … PARTITION OF {table.partition_of} "
                f"{table.partition_bound or ''} ({parts})").replace("  ", " ")
        if default_partition:
            text += (f"; it scans the default partition {default_partition} under an "
                     "ACCESS EXCLUSIVE lock and fails if rows of its bound are there")
        return text
    if table.inherits:
        return f"CREATE TABLE … INHERITS ({', '.join(table.inherits)}) ({parts})"
    return f"CREATE TABLE with {parts}"


def _table_risk(attributes: list[str], live: Table, expected: Table) -> str:
    notes = []
    if "unlogged" in attributes:
        notes.append("UNLOGGED live, logged in the reference: its rows are lost on a crash; "
                     "SET LOGGED rewrites the table and writes it all to the WAL"
                     if live.unlogged else
                     "UNLOGGED in the reference: SET UNLOGGED rewrites the table")
    if "partition_key" in attributes:
        notes.append(f"partition key {live.partition_key or 'none'} live, "
                     f"{expected.partition_key or 'none'} expected: a table cannot be "
                     "(re)partitioned in place; it means a new table and moving the rows")
    if "partition_of" in attributes or "partition_bound" in attributes:
        notes.append(f"partition of {live.partition_of or 'nothing'} "
                     f"{live.partition_bound or ''} live, of "
                     f"{expected.partition_of or 'nothing'} {expected.partition_bound or ''} "
                     "expected: DETACH / ATTACH PARTITION (ATTACH scans the table to check "
                     "the bound unless a matching CHECK constraint proves it)")
    if "inherits" in attributes:
        notes.append(f"inherits {', '.join(live.inherits) or 'nothing'} live, "
                     f"{', '.join(expected.inherits) or 'nothing'} expected: ALTER TABLE … "
                     "[NO] INHERIT takes an ACCESS EXCLUSIVE lock briefly")
    return "; ".join(n.replace("  ", " ") for n in notes)


COLLATION_ATTRIBUTES = ("provider", "locale", "lc_collate", "lc_ctype", "deterministic")


def _domain_checks(domain: Domain) -> list[tuple]:
    """A domain's checks by what they do (definition, validation), not by name."""
    return sorted((_squash(c.definition.removesuffix(" NOT VALID")), c.validated)
                  for c in domain.checks)


def _domain_risk(attributes: list[str], live: Domain, expected: Domain) -> str:
    notes = []
    if "base_type" in attributes:
        notes.append(f"base type {live.base_type} live, {expected.base_type} expected: a "
                     "domain's type cannot be altered; a new domain and every column "
                     "using it rewritten")
    if "not_null" in attributes:
        notes.append("SET NOT NULL checks every column using the domain (fails on NULLs)"
                     if expected.not_null else "DROP NOT NULL is instant")
    if "default" in attributes:
        notes.append("SET DEFAULT is instant (new rows only)")
    if "collation" in attributes:
        notes.append("a domain's collation cannot be altered: a new domain")
    if "checks" in attributes:
        notes.append("ADD CONSTRAINT … NOT VALID, VALIDATE (scans every column using the "
                     "domain), DROP CONSTRAINT for the old one")
    return "; ".join(notes)


_FUNCTION_WORDS = {"f": "function", "p": "procedure", "a": "aggregate", "w": "window function"}


def _function_word(f: Function) -> str:
    return _FUNCTION_WORDS.get(f.kind, "function")


def _function_value(f: Function, attribute: str):
    value = getattr(f, attribute)
    return _squash(value) if attribute == "definition" else value


def _comment_table(c) -> str | None:
    if c.kind == "table":
        return c.object
    if c.kind == "column":
        return c.object.rsplit(".", 1)[0]
    return None


def _privilege_table(p) -> str | None:
    return p.object if p.kind == "table" else None


def _commentable(schema: Schema) -> set[tuple[str, str]]:
    """(comment kind, object) of everything `schema` has that a comment can be on."""
    objects = {("schema", n) for n in schema.namespaces}
    for t in schema.tables:
        objects.add(("table", t.qualified_name))
        objects.update(("column", qualify(t.qualified_name, c.name)) for c in t.columns)
    for v in schema.views:
        objects.add(("view", v.qualified_name))
    objects.update(("sequence", s.qualified_name)
                   for s in (*schema.sequences, *schema.identity_sequences))
    objects.update(("function", f.qualified_name) for f in schema.functions)
    objects.update(("type", e.qualified_name) for e in schema.enums)
    objects.update(("type", c.qualified_name) for c in schema.composite_types)
    objects.update(("domain", d.qualified_name) for d in schema.domains)
    return objects


def _behind_note(seq: Sequence) -> str:
    last = seq.last_value if seq.last_value is not None else "unused"
    return (f"the sequence is behind its column: last value {last}, max({seq.owned_by}) = "
            f"{seq.column_max}, so the next insert fails with a duplicate key; setval() past "
            "the maximum is instant")


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
