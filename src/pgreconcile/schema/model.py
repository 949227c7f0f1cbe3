"""The immutable schema model that `catalog` reads and `diff` compares.

Every value is plain data (strings, booleans, ints, tuples) so a `Schema` can be
hashed, compared, written to JSON and read back without a database. Text such as
types, defaults and definitions is exactly what PostgreSQL prints for it
(format_type, pg_get_expr, pg_get_constraintdef, pg_get_indexdef) with every
non-catalog name schema-qualified, so it does not depend on anyone's search_path.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pgreconcile import canonical_json

#: 2: tables carry their row-level security flags and policies. A model written by an
#: older version is refused by `Schema.from_dict` (a cached reference schema is then built
#: again), because reading it with the new fields defaulted would report drift that is not
#: there.
MODEL_VERSION = 2

CONSTRAINT_KINDS = ("pk", "unique", "exclude", "check", "fk")
FK_ACTIONS = ("NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT")
POLICY_COMMANDS = ("ALL", "SELECT", "INSERT", "UPDATE", "DELETE")


def qualify(*parts: str) -> str:
    """`schema.table[.column]`, the key every object is known by in models and diffs."""
    return ".".join(parts)


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    not_null: bool = False  # guaranteed: an unvalidated NOT NULL (PostgreSQL 18) is False
    default: str | None = None
    identity: str = ""  # '' | 'a' (ALWAYS) | 'd' (BY DEFAULT)
    generated: str = ""  # '' | 's' (STORED) | 'v' (VIRTUAL, PostgreSQL 18)
    generation_expression: str | None = None
    collation: str | None = None  # only when it differs from the type's default

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "not_null": self.not_null,
                "default": self.default, "identity": self.identity, "generated": self.generated,
                "generation_expression": self.generation_expression,
                "collation": self.collation}

    @classmethod
    def from_dict(cls, d: dict) -> Column:
        return cls(**d)


@dataclass(frozen=True, slots=True)
class Constraint:
    """A table constraint; NOT NULL is a column property, never one of these."""

    name: str
    kind: str  # one of CONSTRAINT_KINDS
    columns: tuple[str, ...]
    definition: str  # pg_get_constraintdef: no name, ends in NOT VALID when not validated
    deferrable: bool = False
    deferred: bool = False
    validated: bool = True
    ref_table: str | None = None  # fk target, "schema.table"
    ref_columns: tuple[str, ...] = ()
    on_delete: str | None = None  # fk only, one of FK_ACTIONS
    on_update: str | None = None
    index: str | None = None  # backing index of pk/unique/exclude

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "columns": list(self.columns),
                "definition": self.definition, "deferrable": self.deferrable,
                "deferred": self.deferred, "validated": self.validated,
                "ref_table": self.ref_table, "ref_columns": list(self.ref_columns),
                "on_delete": self.on_delete, "on_update": self.on_update, "index": self.index}

    @classmethod
    def from_dict(cls, d: dict) -> Constraint:
        return cls(**{**d, "columns": tuple(d["columns"]),
                      "ref_columns": tuple(d.get("ref_columns") or ())})


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    columns: tuple[str, ...]  # each key column or expression as PostgreSQL prints it
    definition: str  # pg_get_indexdef
    unique: bool = False
    primary: bool = False
    predicate: str | None = None  # partial index WHERE clause
    valid: bool = True
    method: str = "btree"
    constraint: str | None = None  # name of the pk/unique/exclude constraint it backs

    def to_dict(self) -> dict:
        return {"name": self.name, "columns": list(self.columns), "definition": self.definition,
                "unique": self.unique, "primary": self.primary, "predicate": self.predicate,
                "valid": self.valid, "method": self.method, "constraint": self.constraint}

    @classmethod
    def from_dict(cls, d: dict) -> Index:
        return cls(**{**d, "columns": tuple(d["columns"])})


@dataclass(frozen=True, slots=True)
class Policy:
    """A row-level security policy (CREATE POLICY) of its table."""

    name: str
    command: str = "ALL"  # one of POLICY_COMMANDS
    permissive: bool = True  # False: AS RESTRICTIVE
    roles: tuple[str, ...] = ("public",)  # role names, sorted; 'public' is PUBLIC
    using: str | None = None  # pg_get_expr of the USING expression
    with_check: str | None = None  # pg_get_expr of the WITH CHECK expression

    def to_dict(self) -> dict:
        return {"name": self.name, "command": self.command, "permissive": self.permissive,
                "roles": list(self.roles), "using": self.using, "with_check": self.with_check}

    @classmethod
    def from_dict(cls, d: dict) -> Policy:
        return cls(name=d["name"], command=d.get("command", "ALL"),
                   permissive=d.get("permissive", True),
                   roles=tuple(d.get("roles") or ("public",)), using=d.get("using"),
                   with_check=d.get("with_check"))


@dataclass(frozen=True, slots=True)
class Table:
    schema: str
    name: str
    columns: tuple[Column, ...] = ()  # in attnum order
    constraints: tuple[Constraint, ...] = ()  # by name
    indexes: tuple[Index, ...] = ()  # by name, constraint-backed ones included
    row_estimate: int | None = None  # pg_class.reltuples; None when never analysed
    rls_enabled: bool = False  # pg_class.relrowsecurity: ENABLE ROW LEVEL SECURITY
    rls_forced: bool = False  # pg_class.relforcerowsecurity: FORCE ROW LEVEL SECURITY
    policies: tuple[Policy, ...] = ()  # by name

    @property
    def qualified_name(self) -> str:
        return qualify(self.schema, self.name)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def primary_key(self) -> Constraint | None:
        return next((c for c in self.constraints if c.kind == "pk"), None)

    def to_dict(self) -> dict:
        return {"schema": self.schema, "name": self.name,
                "columns": [c.to_dict() for c in self.columns],
                "constraints": [c.to_dict() for c in self.constraints],
                "indexes": [i.to_dict() for i in self.indexes],
                "row_estimate": self.row_estimate,
                "rls_enabled": self.rls_enabled, "rls_forced": self.rls_forced,
                "policies": [p.to_dict() for p in self.policies]}

    @classmethod
    def from_dict(cls, d: dict) -> Table:
        return cls(schema=d["schema"], name=d["name"],
                   columns=tuple(Column.from_dict(c) for c in d["columns"]),
                   constraints=tuple(Constraint.from_dict(c) for c in d["constraints"]),
                   indexes=tuple(Index.from_dict(i) for i in d["indexes"]),
                   row_estimate=d.get("row_estimate"),
                   rls_enabled=d.get("rls_enabled", False),
                   rls_forced=d.get("rls_forced", False),
                   policies=tuple(Policy.from_dict(p) for p in d.get("policies", ())))


@dataclass(frozen=True, slots=True)
class Sequence:
    """A free-standing or serial sequence; identity sequences belong to their column."""

    schema: str
    name: str
    data_type: str = "bigint"
    start: int = 1
    increment: int = 1
    minimum: int = 1
    maximum: int = 9223372036854775807
    cache: int = 1
    cycle: bool = False
    owned_by: str | None = None  # "schema.table.column"

    @property
    def qualified_name(self) -> str:
        return qualify(self.schema, self.name)

    @property
    def owner_table(self) -> str | None:
        return self.owned_by.rsplit(".", 1)[0] if self.owned_by else None

    def to_dict(self) -> dict:
        return {"schema": self.schema, "name": self.name, "data_type": self.data_type,
                "start": self.start, "increment": self.increment, "minimum": self.minimum,
                "maximum": self.maximum, "cache": self.cache, "cycle": self.cycle,
                "owned_by": self.owned_by}

    @classmethod
    def from_dict(cls, d: dict) -> Sequence:
        return cls(**d)


@dataclass(frozen=True, slots=True)
class Enum:
    schema: str
    name: str
    labels: tuple[str, ...]  # in sort order

    @property
    def qualified_name(self) -> str:
        return qualify(self.schema, self.name)

    def to_dict(self) -> dict:
        return {"schema": self.schema, "name": self.name, "labels": list(self.labels)}

    @classmethod
    def from_dict(cls, d: dict) -> Enum:
        return cls(schema=d["schema"], name=d["name"], labels=tuple(d["labels"]))


@dataclass(frozen=True, slots=True)
class Extension:
    name: str
    schema: str
    version: str

    def to_dict(self) -> dict:
        return {"name": self.name, "schema": self.schema, "version": self.version}

    @classmethod
    def from_dict(cls, d: dict) -> Extension:
        return cls(**d)


@dataclass(frozen=True, slots=True)
class View:
    schema: str
    name: str
    definition: str  # pg_get_viewdef
    materialized: bool = False
    indexes: tuple[Index, ...] = ()  # materialized views only

    @property
    def qualified_name(self) -> str:
        return qualify(self.schema, self.name)

    def to_dict(self) -> dict:
        return {"schema": self.schema, "name": self.name, "definition": self.definition,
                "materialized": self.materialized,
                "indexes": [i.to_dict() for i in self.indexes]}

    @classmethod
    def from_dict(cls, d: dict) -> View:
        return cls(schema=d["schema"], name=d["name"], definition=d["definition"],
                   materialized=d.get("materialized", False),
                   indexes=tuple(Index.from_dict(i) for i in d.get("indexes", ())))


@dataclass(frozen=True, slots=True)
class Trigger:
    schema: str
    table: str
    name: str
    definition: str  # pg_get_triggerdef
    function: str
    enabled: str = "O"  # pg_trigger.tgenabled: O origin, D disabled, R replica, A always

    @property
    def table_name(self) -> str:
        return qualify(self.schema, self.table)

    @property
    def qualified_name(self) -> str:
        return qualify(self.schema, self.table, self.name)

    def to_dict(self) -> dict:
        return {"schema": self.schema, "table": self.table, "name": self.name,
                "definition": self.definition, "function": self.function,
                "enabled": self.enabled}

    @classmethod
    def from_dict(cls, d: dict) -> Trigger:
        return cls(**d)


@dataclass(frozen=True, slots=True)
class Schema:
    """Everything `inspect` knows about one database, sorted by name throughout."""

    namespaces: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    sequences: tuple[Sequence, ...] = ()
    enums: tuple[Enum, ...] = ()
    extensions: tuple[Extension, ...] = ()
    views: tuple[View, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    server_version: int = 0  # server_version_num, e.g. 180000
    database: str = ""

    def table(self, qualified_name: str) -> Table | None:
        return next((t for t in self.tables if t.qualified_name == qualified_name), None)

    def summary(self) -> dict[str, int]:
        return {"schemas": len(self.namespaces), "tables": len(self.tables),
                "columns": sum(len(t.columns) for t in self.tables),
                "constraints": sum(len(t.constraints) for t in self.tables),
                "indexes": sum(len(t.indexes) for t in self.tables),
                "policies": sum(len(t.policies) for t in self.tables),
                "sequences": len(self.sequences), "enums": len(self.enums),
                "extensions": len(self.extensions), "views": len(self.views),
                "triggers": len(self.triggers)}

    def to_dict(self) -> dict:
        return {"model_version": MODEL_VERSION, "server_version": self.server_version,
                "database": self.database, "namespaces": list(self.namespaces),
                "tables": [t.to_dict() for t in self.tables],
                "sequences": [s.to_dict() for s in self.sequences],
                "enums": [e.to_dict() for e in self.enums],
                "extensions": [e.to_dict() for e in self.extensions],
                "views": [v.to_dict() for v in self.views],
                "triggers": [t.to_dict() for t in self.triggers]}

    @classmethod
    def from_dict(cls, d: dict) -> Schema:
        version = d.get("model_version", MODEL_VERSION)
        if version != MODEL_VERSION:
            raise ValueError(f"schema model version {version} is not supported "
                             f"(this pgreconcile reads version {MODEL_VERSION})")
        return cls(namespaces=tuple(d.get("namespaces", ())),
                   tables=tuple(Table.from_dict(t) for t in d.get("tables", ())),
                   sequences=tuple(Sequence.from_dict(s) for s in d.get("sequences", ())),
                   enums=tuple(Enum.from_dict(e) for e in d.get("enums", ())),
                   extensions=tuple(Extension.from_dict(e) for e in d.get("extensions", ())),
                   views=tuple(View.from_dict(v) for v in d.get("views", ())),
                   triggers=tuple(Trigger.from_dict(t) for t in d.get("triggers", ())),
                   server_version=d.get("server_version", 0), database=d.get("database", ""))

    def canonical(self) -> dict:
        """The structure only: what survives pg_dump/restore and CREATE DATABASE … TEMPLATE.

        Leaves out the database name, the server version and row estimates, and
        sorts columns by name (restoring inherited tables may reorder them).
        Object names stay in, because a restore keeps them.
        """
        return canonical_of(self.to_dict())

    def fingerprint(self) -> str:
        return fingerprint_of(self.to_dict())


def canonical_of(schema: dict) -> dict:
    """`Schema.canonical()` of a schema already written as `to_dict()` (left unchanged)."""
    d = {k: v for k, v in schema.items() if k not in ("server_version", "database")}
    d["tables"] = [{**{k: v for k, v in t.items() if k != "row_estimate"},
                    "columns": sorted(t["columns"], key=lambda c: c["name"])}
                   for t in schema["tables"]]
    return d


def fingerprint_of(schema: dict) -> str:
    """`Schema.fingerprint()` of a schema already written as `to_dict()`: sha256 of the
    canonical structure as compact, key-sorted, ASCII JSON."""
    return hashlib.sha256(canonical_json.dumps(canonical_of(schema)).encode("ascii")).hexdigest()
