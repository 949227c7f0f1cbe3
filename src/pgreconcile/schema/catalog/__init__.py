"""Read a database's structure from pg_catalog into the immutable `Schema` model.

One query per object kind (catalog/sql/<kind>.sql), all run in one read-only
REPEATABLE READ transaction so they see the same catalog snapshot (on a large schema a
second connection shares that snapshot: `_SequenceStateBeside`), with
`search_path` set to pg_catalog so that PostgreSQL schema-qualifies every user
name it prints (types, defaults, definitions) the same way on every database.
"""
from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from importlib.resources import files

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from pgreconcile.errors import ReconcileError
from pgreconcile.schema.model import (
    Collation,
    Column,
    Comment,
    CompositeType,
    Constraint,
    Domain,
    DomainCheck,
    Enum,
    Extension,
    Function,
    Index,
    Policy,
    Privilege,
    Schema,
    Sequence,
    Table,
    Trigger,
    TypeAttribute,
    View,
    gc_paused,
    qualify,
)

SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")
TOOL_SCHEMA = "pgreconcile"
DEFAULT_EXCLUDED_SCHEMAS = (*SYSTEM_SCHEMAS, TOOL_SCHEMA)
QUERY_KINDS = ("schemas", "tables", "columns", "constraints", "indexes", "sequences",
               "enums", "extensions", "views", "triggers", "policies", "functions",
               "domains", "composite_types", "collations", "comments", "privileges")

_CONTYPE = {"p": "pk", "u": "unique", "f": "fk", "c": "check", "x": "exclude"}
_POLCMD = {"*": "ALL", "r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE"}
_FK_ACTION = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL",
              "d": "SET DEFAULT"}

__all__ = ["DEFAULT_EXCLUDED_SCHEMAS", "QUERY_KINDS", "inspect_schema", "query_text"]


#: Where a query's text takes the scope CTE's body (catalog/sql/scope.sql).
SCOPE_MARK = "/* scope.sql */"


def _sql_file(name: str) -> str:
    return (files(__package__) / "sql" / f"{name}.sql").read_text(encoding="utf-8")


@cache
def query_text(kind: str) -> str:
    """The SQL of one object kind, as shipped in catalog/sql/, with the schemas in scope
    (scope.sql, written once) put in place of its SCOPE_MARK."""
    scope = "\n".join(line for line in _sql_file("scope").splitlines()
                      if not line.startswith("--"))
    return _sql_file(kind).replace(SCOPE_MARK, "\n" + scope.strip() + "\n")


def inspect_schema(conn, schemas: Iterable[str] | None = None,
                   exclude_schemas: Iterable[str] | None = None) -> Schema:
    """The structure of the connected database.

    `schemas` limits the inspection to those schemas; `exclude_schemas` is added to
    the schemas that are always left out (pg_catalog, information_schema, pg_toast,
    pg_temp_*, and pgreconcile's own). Objects that belong to an extension are left
    out too: the extension stands for them.

    `conn` is a psycopg connection or anything with a `.connect()` returning one
    (a `ConnectionSpec`).
    """
    if not isinstance(conn, psycopg.Connection) and hasattr(conn, "connect"):
        with conn.connect() as owned:
            return inspect_schema(owned, schemas, exclude_schemas)
    params = {
        "include": sorted(set(schemas)) if schemas else None,
        "exclude": sorted({*DEFAULT_EXCLUDED_SCHEMAS, *(exclude_schemas or ())}),
    }
    try:
        return _inspect(conn, params)
    except psycopg.errors.CharacterNotInRepertoire as exc:
        # Only a SQL_ASCII database gets here: it stores whatever bytes a client sent, and
        # the server checks what it sends to our UTF8 connection (pg/connection.py).
        raise CatalogNotUtf8(
            f"{conn.info.dbname!r} holds a name, comment or definition that is not valid "
            f"UTF-8 ({_first_line(exc)}); pgreconcile reads the catalog as UTF-8") from None


class CatalogNotUtf8(ReconcileError):
    hint = ("the database is SQL_ASCII and an object was created by a client using another "
            "encoding: rename it (or fix its comment or default) in UTF-8, or move the "
            "database to a real encoding (pg_dump, then restore into a LATIN1 or UTF8 "
            "database); row data may stay as it is")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _inspect(conn: psycopg.Connection, params: dict) -> Schema:
    with gc_paused():
        with _catalog_snapshot(conn) as own_transaction:
            rows = {"sequences": _fetch(conn, "sequences", params)}
            beside = (_SequenceStateBeside.launch(conn, rows["sequences"], params)
                      if own_transaction else None)
            for kind in QUERY_KINDS:
                if kind not in rows and not (beside and kind in _BESIDE_KINDS):
                    rows[kind] = _fetch(conn, kind, params)
            done = beside.result() if beside is not None else None
            if done is None:
                sequence_state = _sequence_state(conn, rows["sequences"])
                rows.update((k, _fetch(conn, k, params)) for k in QUERY_KINDS if k not in rows)
            else:
                sequence_state, beside_rows = done
                rows.update(beside_rows)
            database = conn.execute("SELECT current_database()").fetchone()[0]
        return _build(rows, server_version=conn.info.server_version, database=database,
                      sequence_state=sequence_state)


@contextmanager
def _catalog_snapshot(conn: psycopg.Connection) -> Iterator[bool]:
    """The snapshot's transaction; yields whether it is our own (not the caller's)."""
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            conn.execute("SET LOCAL search_path = pg_catalog")
            conn.execute(_NO_JIT)
            yield True
        return
    # Inside the caller's transaction: borrow it, and put search_path and jit back afterwards.
    previous, jit = conn.execute(
        "SELECT current_setting('search_path'), current_setting('jit')").fetchone()
    conn.execute("SELECT set_config('search_path', 'pg_catalog', true)")
    conn.execute(_NO_JIT)
    try:
        yield False
    finally:
        conn.execute("SELECT set_config('search_path', %s, true), set_config('jit', %s, true)",
                     (previous, jit))


#: The catalog queries are small, but the planner's cost of some (a subquery per index key
#: over generate_series, estimated at 1,000 rows a call) passes jit_above_cost at a few
#: thousand tables: compiling them then took ~0.5 s of a 0.7 s inspection (PostgreSQL 15,
#: 2,000 tables). Off for the snapshot's transaction only; the results are the same.
_NO_JIT = "SELECT set_config('jit', 'off', true)"


def _fetch(conn: psycopg.Connection, kind: str, params: dict) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query_text(kind), params)
        return cur.fetchall()


#: How many max() subqueries one statement reads (one round trip per batch).
_MAX_BATCH = 50
#: How many of them one transaction of the second connection reads (each holds ~2 locks).
_LOCK_CHUNK = 1_000


def _sequence_state(conn: psycopg.Connection, sequences: list[dict],
                    scalars=None) -> dict[tuple, tuple]:
    """(max, last value) of each sequence whose owning integer column leads a btree index
    (a read of one end of it), keyed by (schema, sequence name); the others are left out.

    The max is of the owning column. The last value is the catalog's
    (pg_sequence_last_value), unless that is NULL because the sequence was set with
    setval(…, false) since: then the value before the one nextval hands out next (the
    sequence itself is read), so that `Sequence.behind` is right; None when it was never
    used or set. In the catalog snapshot's transaction; like the catalog queries
    (pg_get_indexdef), it waits for a table someone holds ACCESS EXCLUSIVE."""
    scalars = scalars or (lambda expressions: _scalars(conn, expressions))
    owned = [r for r in sequences if r["owner_column"] and r["owner_indexed"]]
    maxima = dict(zip(((r["schema"], r["name"]) for r in owned), scalars([
        sql.SQL("(SELECT max({}) FROM {})").format(
            sql.Identifier(r["owner_column"]),
            sql.Identifier(r["owner_schema"], r["owner_table"])) for r in owned]),
        strict=True))
    # only where it can matter: a column with values, a sequence the catalog says is unused
    unread = [r for r in owned if r["last_value"] is None and r["readable"]
              and maxima[r["schema"], r["name"]] is not None]
    current = dict(zip(((r["schema"], r["name"]) for r in unread), scalars([
        sql.SQL("(SELECT ARRAY[last_value, is_called::int] FROM {})").format(
            sql.Identifier(r["schema"], r["name"])) for r in unread]), strict=True))
    found: dict[tuple, tuple] = {}
    for r in owned:
        key = r["schema"], r["name"]
        last_value = r["last_value"]
        if key in current:
            value, called = current[key]
            if not called and value != r["start"]:
                last_value = value - r["increment"]
        found[key] = (maxima[key], last_value)
    return found


#: From how many column maxima on they are read on a second connection (see below).
_BESIDE_MIN = 200
#: The catalog queries the second connection runs before them, to share the work evenly.
_BESIDE_KINDS = ("constraints",)


class _SequenceStateBeside(threading.Thread):
    """`_sequence_state` (and the queries of _BESIDE_KINDS) on a second connection to the
    same server and database, in the catalog transaction's own snapshot
    (pg_export_snapshot / SET TRANSACTION SNAPSHOT), while the first runs the other
    catalog queries.

    Reading the maximum of an owning column opens its table and indexes: in a new session
    that is ~0.15 ms a table (relation cache, files), ~0.3 s at 2,000 tables, half as long
    as all the catalog queries together. Beside them it costs little more than a
    connection. `result()` is None when it could not be done so (a standby, a second
    connection refused, anything else): the caller then runs all of it itself, as before,
    with the same result either way."""

    @classmethod
    def launch(cls, conn: psycopg.Connection, sequences: list[dict],
               params: dict) -> _SequenceStateBeside | None:
        owned = sum(1 for r in sequences if r["owner_column"] and r["owner_indexed"])
        if owned < _BESIDE_MIN:
            return None
        try:
            conninfo = _same_server(conn)
        except Exception:  # noqa: BLE001 - e.g. a libpq without hostaddr: not beside
            return None
        snapshot = conn.execute("SELECT CASE WHEN NOT pg_is_in_recovery() "
                                "THEN pg_export_snapshot() END").fetchone()[0]
        if snapshot is None:
            return None
        beside = cls(type(conn), conninfo, snapshot, sequences, params)
        beside.start()
        return beside

    def __init__(self, connection_class, conninfo: str, snapshot: str,
                 sequences: list[dict], params: dict) -> None:
        super().__init__(name="pgreconcile-sequence-state", daemon=True)
        self.connection_class, self.conninfo = connection_class, conninfo
        self.snapshot, self.sequences, self.params = snapshot, sequences, params
        self.state: tuple[dict[tuple, tuple], dict[str, list[dict]]] | None = None

    def run(self) -> None:
        try:
            with self.connection_class.connect(self.conninfo, autocommit=True) as other:
                with self._in_snapshot(other):
                    rows = {kind: _fetch(other, kind, self.params) for kind in _BESIDE_KINDS}
                self.state = _sequence_state(other, self.sequences,
                                             lambda exprs: self._scalars(other, exprs)), rows
        except Exception:  # noqa: BLE001 - any failure: the caller reads them itself
            self.state = None

    @contextmanager
    def _in_snapshot(self, other: psycopg.Connection) -> Iterator[None]:
        with other.transaction():
            other.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            other.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(
                sql.Literal(self.snapshot)))
            other.execute("SET LOCAL search_path = pg_catalog")
            other.execute(_NO_JIT)
            yield

    def _scalars(self, other: psycopg.Connection, expressions: list) -> list:
        """`_scalars` in transactions of _LOCK_CHUNK reads each, every one in the same
        exported snapshot: reading a maximum locks its table and index until the
        transaction ends, and 8,000 tables in one transaction passed the server's lock
        table (max_locks_per_transaction 64 x max_connections 100: out of shared memory)."""
        values: list = []
        for start in range(0, len(expressions), _LOCK_CHUNK):
            with self._in_snapshot(other):
                values += _scalars(other, expressions[start:start + _LOCK_CHUNK])
        return values

    def result(self) -> tuple[dict[tuple, tuple], dict[str, list[dict]]] | None:
        """(`_sequence_state`, rows of each of _BESIDE_KINDS), or None."""
        self.join()
        return self.state


def _same_server(conn: psycopg.Connection) -> str:
    """The connection's own parameters (password included), pinned to the host and port
    it is connected to (of a list of hosts, the one it chose)."""
    params = {o.keyword.decode(): o.val.decode() for o in conn.pgconn.info
              if o.val is not None}
    for key in ("hostaddr", "target_session_attrs", "load_balance_hosts"):
        params.pop(key, None)
    params["host"], params["port"] = conn.info.host, str(conn.info.port)
    if getattr(conn.info, "hostaddr", ""):
        params["hostaddr"] = conn.info.hostaddr
    return make_conninfo(**params)


def _scalars(conn: psycopg.Connection, expressions: list[sql.Composable]) -> list:
    """The values of scalar subqueries, _MAX_BATCH to a statement."""
    values: list = []
    for start in range(0, len(expressions), _MAX_BATCH):
        values += conn.execute(sql.SQL("SELECT {}").format(
            sql.SQL(", ").join(expressions[start:start + _MAX_BATCH]))).fetchone()
    return values


def _build(rows: dict[str, list[dict]], *, server_version: int, database: str,
           sequence_state: dict[tuple, tuple] | None = None) -> Schema:
    state = sequence_state or {}
    columns: dict[tuple[str, str], list[Column]] = defaultdict(list)
    for r in rows["columns"]:
        columns[r["schema"], r["table_name"]].append(Column(
            name=r["name"], type=r["type"], not_null=r["not_null"], default=r["default"],
            identity=r["identity"], generated=r["generated"],
            generation_expression=r["generation_expression"], collation=r["collation"]))

    constraints: dict[tuple[str, str], list[Constraint]] = defaultdict(list)
    for r in rows["constraints"]:
        is_fk = r["contype"] == "f"
        constraints[r["schema"], r["table_name"]].append(Constraint(
            name=r["name"], kind=_CONTYPE[r["contype"]], columns=tuple(r["columns"]),
            definition=r["definition"], deferrable=r["deferrable"], deferred=r["deferred"],
            validated=r["validated"],
            ref_table=qualify(r["ref_schema"], r["ref_table"]) if is_fk else None,
            ref_columns=tuple(r["ref_columns"]) if is_fk else (),
            on_delete=_FK_ACTION.get(r["on_delete"]) if is_fk else None,
            on_update=_FK_ACTION.get(r["on_update"]) if is_fk else None,
            index=r["index"]))

    indexes: dict[tuple[str, str], list[Index]] = defaultdict(list)
    for r in rows["indexes"]:
        indexes[r["schema"], r["table_name"]].append(Index(
            name=r["name"], columns=tuple(r["columns"]), definition=r["definition"],
            unique=r["unique"], primary=r["primary"], predicate=r["predicate"],
            valid=r["valid"], method=r["method"], constraint=r["constraint"]))

    policies: dict[tuple[str, str], list[Policy]] = defaultdict(list)
    for r in rows["policies"]:
        policies[r["schema"], r["table_name"]].append(Policy(
            name=r["name"], command=_POLCMD[r["command"]], permissive=r["permissive"],
            roles=tuple(sorted(r["roles"])), using=r["using_expr"],
            with_check=r["with_check"]))

    tables = tuple(
        Table(schema=r["schema"], name=r["name"],
              columns=tuple(columns[r["schema"], r["name"]]),
              constraints=_by_name(constraints[r["schema"], r["name"]]),
              indexes=_by_name(indexes[r["schema"], r["name"]]),
              row_estimate=r["row_estimate"],
              rls_enabled=r["rls_enabled"], rls_forced=r["rls_forced"],
              policies=_by_name(policies[r["schema"], r["name"]]),
              unlogged=r["unlogged"], partition_key=r["partition_key"],
              partition_of=r["partition_of"], partition_bound=r["partition_bound"],
              inherits=tuple(r["inherits"]))
        for r in _by_key(rows["tables"], "schema", "name"))

    sequences, identity_sequences = (tuple(
        Sequence(schema=r["schema"], name=r["name"], data_type=r["data_type"],
                 start=r["start"], increment=r["increment"], minimum=r["minimum"],
                 maximum=r["maximum"], cache=r["cache"], cycle=r["cycle"],
                 owned_by=(qualify(r["owner_schema"], r["owner_table"], r["owner_column"])
                           if r["owner_column"] else None),
                 column_max=state.get((r["schema"], r["name"]), (None,))[0],
                 last_value=state.get((r["schema"], r["name"]), (None, r["last_value"]))[1])
        for r in _by_key(rows["sequences"], "schema", "name") if r["identity"] is identity)
        for identity in (False, True))

    views = tuple(
        View(schema=r["schema"], name=r["name"], definition=r["definition"],
             materialized=r["materialized"],
             indexes=_by_name(indexes[r["schema"], r["name"]]) if r["materialized"] else (),
             depends_on=tuple(sorted(r["depends_on"])),
             options=tuple(sorted(r["options"] or ())))
        for r in _by_key(rows["views"], "schema", "name"))

    return Schema(
        namespaces=tuple(sorted(r["name"] for r in rows["schemas"])),
        tables=tables,
        sequences=sequences,
        identity_sequences=identity_sequences,
        enums=tuple(Enum(schema=r["schema"], name=r["name"], labels=tuple(r["labels"]))
                    for r in _by_key(rows["enums"], "schema", "name")),
        extensions=tuple(Extension(name=r["name"], schema=r["schema"], version=r["version"])
                         for r in _by_key(rows["extensions"], "name")),
        views=views,
        triggers=tuple(Trigger(schema=r["schema"], table=r["table_name"], name=r["name"],
                               definition=r["definition"], function=r["function"],
                               enabled=r["enabled"])
                       for r in _by_key(rows["triggers"], "schema", "table_name", "name")),
        functions=tuple(Function(schema=r["schema"], name=r["name"],
                                 arguments=r["arguments"], kind=r["kind"],
                                 returns=r["returns"], language=r["language"],
                                 definition=r["definition"])
                        for r in _by_key(rows["functions"], "schema", "name", "arguments")),
        domains=tuple(Domain(schema=r["schema"], name=r["name"], base_type=r["base_type"],
                             not_null=r["not_null"], default=r["default"],
                             collation=r["collation"],
                             checks=_by_name([DomainCheck(**c) for c in r["checks"]]))
                      for r in _by_key(rows["domains"], "schema", "name")),
        composite_types=tuple(
            CompositeType(schema=r["schema"], name=r["name"],
                          attributes=tuple(TypeAttribute(**a) for a in r["attributes"]))
            for r in _by_key(rows["composite_types"], "schema", "name")),
        collations=tuple(Collation(schema=r["schema"], name=r["name"], provider=r["provider"],
                                   locale=r["locale"], lc_collate=r["lc_collate"],
                                   lc_ctype=r["lc_ctype"], deterministic=r["deterministic"])
                         for r in _by_key(rows["collations"], "schema", "name")),
        comments=tuple(sorted((Comment(kind=r["kind"], object=r["object"], text=r["text"])
                               for r in rows["comments"]), key=lambda c: c.key)),
        privileges=tuple(sorted(
            (Privilege(kind=r["kind"], object=r["object"], grantee=r["grantee"],
                       privileges=tuple(sorted(r["privileges"])),
                       grantable=tuple(sorted(r["grantable"] or ())))
             for r in rows["privileges"]), key=lambda p: p.key)),
        server_version=server_version,
        database=database)


# Sorted here, not by ORDER BY: SQL sorts text by the database's collation, which two
# databases need not share, and the model's order must not depend on it.
def _by_key(rows: list[dict], *keys: str) -> list[dict]:
    return sorted(rows, key=lambda r: tuple(r[k] for k in keys))


def _by_name(items: list) -> tuple:
    return tuple(sorted(items, key=lambda item: item.name))
