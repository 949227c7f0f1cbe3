"""The immutable schema model that `catalog` reads and `diff` compares.

Every value is plain data (strings, booleans, ints, tuples) so a `Schema` can be
hashed, compared, written to JSON and read back without a database. Text such as
types, defaults and definitions is exactly what PostgreSQL prints for it
(format_type, pg_get_expr, pg_get_constraintdef, pg_get_indexdef) with every
non-catalog name schema-qualified, so it does not depend on anyone's search_path.
"""
from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import attrgetter

from pgreconcile import canonical_json

#: 2: tables carry their row-level security flags and policies.
#: 3: partitions, inheritance and unlogged tables; sequences' last value and their column's
#: maximum; views' dependencies; functions and procedures, domains, composite types,
#: collations, comments and privileges.
#: A model written by an older version is refused by `Schema.from_dict` (a cached reference
#: schema is then built again), because reading it with the new fields defaulted would
#: report drift that is not there.
MODEL_VERSION = 3

CONSTRAINT_KINDS = ("pk", "unique", "exclude", "check", "fk")
FK_ACTIONS = ("NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT")
POLICY_COMMANDS = ("ALL", "SELECT", "INSERT", "UPDATE", "DELETE")


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a while (back on afterwards if it was on).

    Reading a schema into the model and comparing two models allocate some 10^5 objects
    (rows, dataclasses, dicts) that form no reference cycles; the collector's passes over
    them, and over the other model a diff holds, cost ~0.3 s of an inspect ×2 + diff at
    2,000 tables and free nothing. Nothing kept is lost: what is garbage is collected at the
    next pass after this."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


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
    unlogged: bool = False  # pg_class.relpersistence = 'u'
    partition_key: str | None = None  # pg_get_partkeydef of a partitioned table: RANGE (day)
    partition_of: str | None = None  # "schema.parent" of a partition
    partition_bound: str | None = None  # pg_get_expr(relpartbound): FOR VALUES FROM … TO …
    inherits: tuple[str, ...] = ()  # "schema.parent" of plain INHERITS, in inhseqno order

    @property
    def qualified_name(self) -> str:
        return qualify(self.schema, self.name)

    @property
    def is_partition(self) -> bool:
        return self.partition_of is not None

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
                "policies": [p.to_dict() for p in self.policies],
                "unlogged": self.unlogged, "partition_key": self.partition_key,
                "partition_of": self.partition_of, "partition_bound": self.partition_bound,
                "inherits": list(self.inherits)}

    @classmethod
    def from_dict(cls, d: dict) -> Table:
        return cls(schema=d["schema"], name=d["name"],
                   columns=tuple(Column.from_dict(c) for c in d["columns"]),
                   constraints=tuple(Constraint.from_dict(c) for c in d["constraints"]),
                   indexes=tuple(Index.from_dict(i) for i in d["indexes"]),
                   row_estimate=d.get("row_estimate"),
                   rls_enabled=d.get("rls_enabled", False),
                   rls_forced=d.get("rls_forced", False),
                   policies=tuple(Policy.from_dict(p) for p in d.get("policies", ())),
                   unlogged=d.get("unlogged", False), partition_key=d.get("partition_key"),
                   partition_of=d.get("partition_of"),
                   partition_bound=d.get("partition_bound"),
                   inherits=tuple(d.get("inherits") or ()))


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
    # State, not structure (left out of `canonical()`): pg_sequences.last_value (None when
    # nextval was never called; after setval(…, false), the value before the one nextval
    # hands out next) and max() of the owning column, read when the column leads a btree
    # index (None otherwise, or on an empty table).
    last_value: int | None = None
    column_max: int | None = None

    @property
    def qualified_name(self) -> str:
        return qualify(self.schema, self.name)

    @property
    def behind(self) -> bool:
        """The next value nextval() hands out is already used by the owning column: the
        classic Django drift after a data load with explicit ids."""
        if self.column_max is None:
            return False
        current = self.last_value if self.last_value is not None else self.start - self.increment
        return self.increment > 0 and current < self.column_max

    @property
    def owner_table(self) -> str | None:
        return self.owned_by.rsplit(".", 1)[0] if self.owned_by else None

    def to_dict(self) -> dict:
        return {"schema": self.schema, "name": self.name, "data_type": self.data_type,
                "start": self.start, "increment": self.increment, "minimum": self.minimum,
                "maximum": self.maximum, "cache": self.cache, "cycle": self.cycle,
                "owned_by": self.owned_by, "last_value": self.last_value,
                "column_max": self.column_max}

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
    depends_on: tuple[str, ...] = ()  # "schema.relation" of the tables and views it reads, sorted
    # pg_class.reloptions as "name=value", sorted: security_barrier, security_invoker (15+),
    # check_option (local|cascaded); a materialized view's storage parameters.
    options: tuple[str, ...] = ()

    @property
    def qualified_name(self) -> str:
        return qualify(self.schema, self.name)

    def to_dict(self) -> dict:
        return {"schema": self.schema, "name": self.name, "definition": self.definition,
                "materialized": self.materialized,
                "indexes": [i.to_dict() for i in self.indexes],
                "depends_on": list(self.depends_on), "options": list(self.options)}

    @classmethod
    def from_dict(cls, d: dict) -> View:
        return cls(schema=d["schema"], name=d["name"], definition=d["definition"],
                   materialized=d.get("materialized", False),
                   indexes=tuple(Index.from_dict(i) for i in d.get("indexes", ())),
                   depends_on=tuple(d.get("depends_on") or ()),
                   options=tuple(d.get("options") or ()))


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
class Function:
    """A function or procedure, known by its name and argument types (overloads differ)."""

    schema: str
    name: str
    arguments: str  # pg_get_function_identity_arguments: "a integer, b text"
    kind: str = "f"  # pg_proc.prokind: f function, p procedure, a aggregate, w window
    returns: str | None = None  # pg_get_function_result (None for procedures)
    language: str = "sql"
    definition: str = ""  # pg_get_functiondef: a whole CREATE OR REPLACE statement

    @property
    def qualified_name(self) -> str:
        return f"{qualify(self.schema, self.name)}({self.arguments})"

    def to_dict(self) -> dict:
        return {"schema": self.schema, "name": self.name, "arguments": self.arguments,
                "kind": self.kind, "returns": self.returns, "language": self.language,
                "definition": self.definition}

    @classmethod
    def from_dict(cls, d: dict) -> Function:
        return cls(**d)


@dataclass(frozen=True, slots=True)
class DomainCheck:
    name: str
    definition: str  # pg_get_constraintdef: CHECK (VALUE > 0) [NOT VALID]
    validated: bool = True

    def to_dict(self) -> dict:
        return {"name": self.name, "definition": self.definition, "validated": self.validated}

    @classmethod
    def from_dict(cls, d: dict) -> DomainCheck:
        return cls(**d)


@dataclass(frozen=True, slots=True)
class Domain:
    schema: str
    name: str
    base_type: str  # format_type of the base type
    not_null: bool = False
    default: str | None = None
    collation: str | None = None  # only when it differs from the base type's
    checks: tuple[DomainCheck, ...] = ()  # by name

    @property
    def qualified_name(self) -> str:
        return qualify(self.schema, self.name)

    def to_dict(self) -> dict:
        return {"schema": self.schema, "name": self.name, "base_type": self.base_type,
                "not_null": self.not_null, "default": self.default,
                "collation": self.collation, "checks": [c.to_dict() for c in self.checks]}

    @classmethod
    def from_dict(cls, d: dict) -> Domain:
        return cls(**{**d, "checks": tuple(DomainCheck.from_dict(c) for c in d["checks"])})


@dataclass(frozen=True, slots=True)
class TypeAttribute:
    name: str
    type: str
    collation: str | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "collation": self.collation}

    @classmethod
    def from_dict(cls, d: dict) -> TypeAttribute:
        return cls(**d)


@dataclass(frozen=True, slots=True)
class CompositeType:
    """CREATE TYPE … AS (…): a free-standing composite type (not a table's row type)."""

    schema: str
    name: str
    attributes: tuple[TypeAttribute, ...] = ()  # in attnum order

    @property
    def qualified_name(self) -> str:
        return qualify(self.schema, self.name)

    def to_dict(self) -> dict:
        return {"schema": self.schema, "name": self.name,
                "attributes": [a.to_dict() for a in self.attributes]}

    @classmethod
    def from_dict(cls, d: dict) -> CompositeType:
        return cls(schema=d["schema"], name=d["name"],
                   attributes=tuple(TypeAttribute.from_dict(a) for a in d["attributes"]))


@dataclass(frozen=True, slots=True)
class Collation:
    schema: str
    name: str
    provider: str = "c"  # pg_collation.collprovider: c libc, i icu, b builtin (17+)
    locale: str | None = None  # ICU/builtin locale (colliculocale 15–16, colllocale 17+)
    lc_collate: str | None = None  # libc
    lc_ctype: str | None = None  # libc
    deterministic: bool = True

    @property
    def qualified_name(self) -> str:
        return qualify(self.schema, self.name)

    def to_dict(self) -> dict:
        return {"schema": self.schema, "name": self.name, "provider": self.provider,
                "locale": self.locale, "lc_collate": self.lc_collate,
                "lc_ctype": self.lc_ctype, "deterministic": self.deterministic}

    @classmethod
    def from_dict(cls, d: dict) -> Collation:
        return cls(**d)


#: What a comment can be on, and how its object is named.
COMMENT_KINDS = ("schema", "table", "column", "view", "sequence", "function", "type",
                 "domain")


@dataclass(frozen=True, slots=True)
class Comment:
    """COMMENT ON <kind> <object> IS <text>. Comments on constraints and indexes are not
    modelled: their names are generated and may legitimately differ."""

    kind: str  # one of COMMENT_KINDS; "type" covers enums and composite types
    object: str  # the object's qualified name as the model knows it (functions with args)
    text: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.object}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "object": self.object, "text": self.text}

    @classmethod
    def from_dict(cls, d: dict) -> Comment:
        return cls(**d)


@dataclass(frozen=True, slots=True)
class Privilege:
    """What one grantee may do on one table, view, materialized view or sequence
    (aclexplode of relacl); the owner's own implicit rights are not listed."""

    kind: str  # table | view | sequence
    object: str  # "schema.name"
    grantee: str  # role name, or "PUBLIC"
    privileges: tuple[str, ...]  # sorted: SELECT, INSERT, UPDATE, DELETE, TRUNCATE, …
    grantable: tuple[str, ...] = ()  # the subset held WITH GRANT OPTION, sorted

    @property
    def key(self) -> str:
        return f"{self.object}:{self.grantee}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "object": self.object, "grantee": self.grantee,
                "privileges": list(self.privileges), "grantable": list(self.grantable)}

    @classmethod
    def from_dict(cls, d: dict) -> Privilege:
        return cls(kind=d["kind"], object=d["object"], grantee=d["grantee"],
                   privileges=tuple(d["privileges"]), grantable=tuple(d.get("grantable") or ()))


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
    functions: tuple[Function, ...] = ()
    domains: tuple[Domain, ...] = ()
    composite_types: tuple[CompositeType, ...] = ()
    collations: tuple[Collation, ...] = ()
    comments: tuple[Comment, ...] = ()  # by key
    privileges: tuple[Privilege, ...] = ()  # by key
    # The sequences of identity columns (part of their column, so left out of `sequences`
    # and of `canonical()`), read for their state only: a sequence behind its column's
    # maximum is drift whether the column is serial or identity.
    identity_sequences: tuple[Sequence, ...] = ()
    server_version: int = 0  # server_version_num, e.g. 180000
    database: str = ""
    # fingerprint(), once computed (a diff, the plan made from it and the report each ask)
    _fingerprint: str | None = field(default=None, init=False, compare=False, repr=False)

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
                "triggers": len(self.triggers), "functions": len(self.functions),
                "domains": len(self.domains), "composite_types": len(self.composite_types),
                "collations": len(self.collations), "comments": len(self.comments),
                "privileges": len(self.privileges)}

    def to_dict(self) -> dict:
        return {"model_version": MODEL_VERSION, "server_version": self.server_version,
                "database": self.database, "namespaces": list(self.namespaces),
                "tables": [t.to_dict() for t in self.tables],
                "sequences": [s.to_dict() for s in self.sequences],
                "enums": [e.to_dict() for e in self.enums],
                "extensions": [e.to_dict() for e in self.extensions],
                "views": [v.to_dict() for v in self.views],
                "triggers": [t.to_dict() for t in self.triggers],
                "functions": [f.to_dict() for f in self.functions],
                "domains": [x.to_dict() for x in self.domains],
                "composite_types": [x.to_dict() for x in self.composite_types],
                "collations": [x.to_dict() for x in self.collations],
                "comments": [x.to_dict() for x in self.comments],
                "privileges": [x.to_dict() for x in self.privileges],
                "identity_sequences": [x.to_dict() for x in self.identity_sequences]}

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
                   functions=tuple(Function.from_dict(x) for x in d.get("functions", ())),
                   domains=tuple(Domain.from_dict(x) for x in d.get("domains", ())),
                   composite_types=tuple(CompositeType.from_dict(x)
                                         for x in d.get("composite_types", ())),
                   collations=tuple(Collation.from_dict(x) for x in d.get("collations", ())),
                   comments=tuple(Comment.from_dict(x) for x in d.get("comments", ())),
                   privileges=tuple(Privilege.from_dict(x) for x in d.get("privileges", ())),
                   identity_sequences=tuple(Sequence.from_dict(x)
                                            for x in d.get("identity_sequences", ())),
                   server_version=d.get("server_version", 0), database=d.get("database", ""))

    def canonical(self) -> dict:
        """The structure only: what survives pg_dump/restore and CREATE DATABASE … TEMPLATE.

        Leaves out the database name, the server version, row estimates, sequences'
        state (last value, column maximum) and identity columns' sequences, and sorts
        columns by name (restoring inherited tables may reorder them).
        Object names stay in, because a restore keeps them.
        """
        # canonical_of(self.to_dict()), without writing out what it leaves out
        d = {"model_version": MODEL_VERSION, "namespaces": list(self.namespaces),
             "tables": [_canonical_table(t) for t in self.tables],
             "sequences": [_canonical_sequence(s) for s in self.sequences]}
        for name in _CANONICAL_AS_IS:
            d[name] = [x.to_dict() for x in getattr(self, name)]
        return d

    def fingerprint(self) -> str:
        """sha256 of `canonical()` as compact, key-sorted, ASCII JSON; computed once."""
        if self._fingerprint is None:
            with gc_paused():
                text = canonical_json.dumps(self.canonical())
            object.__setattr__(self, "_fingerprint",
                               hashlib.sha256(text.encode("ascii")).hexdigest())
        return self._fingerprint


#: The lists of `Schema.to_dict()` that `canonical_of` keeps as they are.
_CANONICAL_AS_IS = ("enums", "extensions", "views", "triggers", "functions", "domains",
                    "composite_types", "collations", "comments", "privileges")
_BY_NAME = attrgetter("name")


def _canonical_table(table: Table) -> dict:
    d = table.to_dict()
    del d["row_estimate"]
    d["columns"] = [c.to_dict() for c in sorted(table.columns, key=_BY_NAME)]
    return d


def _canonical_sequence(sequence: Sequence) -> dict:
    d = sequence.to_dict()
    del d["last_value"], d["column_max"]
    return d


def canonical_of(schema: dict) -> dict:
    """`Schema.canonical()` of a schema already written as `to_dict()` (left unchanged)."""
    d = {k: v for k, v in schema.items()
         if k not in ("server_version", "database", "identity_sequences")}
    d["tables"] = [{**{k: v for k, v in t.items() if k != "row_estimate"},
                    "columns": sorted(t["columns"], key=lambda c: c["name"])}
                   for t in schema["tables"]]
    d["sequences"] = [{k: v for k, v in s.items() if k not in ("last_value", "column_max")}
                      for s in schema.get("sequences", ())]
    return d


def fingerprint_of(schema: dict) -> str:
    """`Schema.fingerprint()` of a schema already written as `to_dict()`: sha256 of the
    canonical structure as compact, key-sorted, ASCII JSON."""
    return hashlib.sha256(canonical_json.dumps(canonical_of(schema)).encode("ascii")).hexdigest()
