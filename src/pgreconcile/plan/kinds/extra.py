"""Objects only live has: kept and reported by default; dropped with --drop-extra.

By default every extra object is kept: reported in the plan's `kept` list and accepted by
verify. With `PlanContext.drop_extra` (`--drop-extra`) each one gets a drop step instead,
flagged destructive (apply refuses it without `--allow-destructive`), with a probe (the
object is gone) and, where the live model holds enough to rebuild it, a reverse that
recreates it (a view from its definition, a function from pg_get_functiondef, a
constraint, index, policy, trigger, type, comment or grant from its fields). A dropped
table or column cannot be restored by SQL: its rows are gone, the step says so, and its
reverse is empty (a rollback then refuses and points at the backup).

The drops run after every other step, in the reverse of the order objects are created:
grants and comments, views (the ones reading other views first), triggers, policies,
foreign keys, other constraints, indexes, columns, tables (a referencing or inheriting
table before the one it points at), functions, sequences, composite types, domains, enums,
collations, extensions, and schemas last (DROP SCHEMA without CASCADE: it fails rather
than take along something the plan did not name). An object that goes with something
else that is dropped (a column, index, trigger, policy, comment or grant of a dropped
table or view, a partition of a dropped partitioned table) gets no step of its own.
"""
from __future__ import annotations

import re

from pgreconcile.plan.context import PlanContext, Planned, change_key, rows
from pgreconcile.plan.kinds.index import index_body
from pgreconcile.plan.kinds.rls import create_policy_sql, drop_policy_sql, has_policy
from pgreconcile.plan.sqltext import ident, literal, qualified, qualified_name, regclass
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import KINDS, Change
from pgreconcile.schema.model import (
    Collation,
    CompositeType,
    Constraint,
    Domain,
    Function,
    Index,
    Policy,
    Sequence,
    Table,
    Trigger,
    View,
)

HANDLES = tuple((kind, "extra") for kind in KINDS)

KEEP_WHY = "extra on live: kept and reported, never dropped by default (--drop-extra drops it)"
NO_RESTORE = "its data cannot be restored by a reverse step: restore the backup to undo"

#: The order drops run in: what uses an object is dropped before the object.
DROP_ORDER = ("privilege", "comment", "view", "trigger", "policy", "constraint", "index",
              "column", "table", "function", "sequence", "type", "domain", "enum",
              "collation", "extension", "schema")
_RANK = {kind: i for i, kind in enumerate(DROP_ORDER)}
_FK_FIRST = {"fk": 0, "check": 1, "exclude": 2, "unique": 3, "pk": 4}
_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")
_FUNCTION_WORD = {"f": "FUNCTION", "w": "FUNCTION", "p": "PROCEDURE", "a": "AGGREGATE"}


def plan(change: Change, ctx: PlanContext) -> Planned:
    """One extra on its own: kept by default, else its drop step (the planner hands all
    the extras to `drop_all` at once, so that their drops come last and in order)."""
    if not ctx.drop_extra:
        out = Planned()
        out.keep(change, KEEP_WHY)
        return out
    return drop_all([change], ctx)


def drop_all(changes: list[Change], ctx: PlanContext) -> Planned:
    """Drop steps for every extra in `changes`, in reverse dependency order."""
    out = Planned()
    gone = _dropped(changes, ctx)
    ordered = sorted(changes, key=lambda c: _order_key(c))
    for group in _arranged(ordered, ctx):
        group = [c for c in group if not _goes_along(c, gone, out)]
        if len(group) > 1:
            _tables(group, ctx, out)
            continue
        for change in group:
            builder = _BUILDERS.get(change.kind)
            if change.kind not in _BUILDERS or change.live is None:
                out.keep(change, f"extra {change.kind}: no drop step for this kind; kept")
                continue
            if change.kind == "schema":
                _schema(change, out, _in_schema(change.object, changes))
            else:
                builder(change, ctx, out)
            out.handled.add(change_key(change))
    return out


def _in_schema(schema: str, changes: list[Change]) -> dict[str, list[str]]:
    """What the drops remove from `schema`, by catalog: relations (tables, views, sequences,
    and the tables owning sequences), functions ("name(args)"), types, collations, extensions."""
    found: dict[str, list[str]] = {"relations": [], "functions": [], "types": [],
                                   "collations": [], "extensions": [], "owners": []}
    for c in changes:
        live = c.live or {}
        if c.kind == "extension":
            found["extensions"].append(live.get("name", c.object))
        if live.get("schema") != schema:
            continue
        name = live.get("name", "")
        if c.kind in ("table", "view", "sequence"):
            found["relations"].append(name)
        if c.kind == "table":
            found["owners"].append(c.object)
        elif c.kind == "function":
            found["functions"].append(f"{name}({live.get('arguments', '')})")
        elif c.kind in ("enum", "type", "domain"):
            found["types"].append(name)
        elif c.kind == "collation":
            found["collations"].append(name)
    return found


def _goes_along(change: Change, gone: set[tuple[str, str]], out: Planned) -> bool:
    if _goes_with_other(change, gone):
        out.handled.add(change_key(change))
        return True
    return False


# -- what goes with what ------------------------------------------------------------------

def _dropped(changes: list[Change], ctx: PlanContext) -> set[tuple[str, str]]:
    """(kind, name) of every object the drops remove, as comments and grants name them."""
    gone: set[tuple[str, str]] = set()
    for c in changes:
        if c.kind in ("table", "view", "sequence", "domain", "schema", "collation",
                      "extension", "column"):
            gone.add((c.kind, c.object))
        elif c.kind in ("enum", "type"):
            gone.add(("type", c.object))
        elif c.kind == "function":
            gone.add(("function", c.object))
    return gone


def _relation_gone(name: str | None, gone: set[tuple[str, str]]) -> bool:
    return name is not None and (("table", name) in gone or ("view", name) in gone)


def _goes_with_other(change: Change, gone: set[tuple[str, str]]) -> bool:
    """True when dropping another extra object takes this one along."""
    live = change.live or {}
    if change.kind == "table":
        return _relation_gone(live.get("partition_of"), gone)
    if change.kind in ("column", "constraint", "index", "policy", "trigger"):
        return _relation_gone(change.table, gone)
    if change.kind == "comment":
        kind, _, obj = change.object.partition(":")
        kind = live.get("kind", kind)
        obj = live.get("object", obj)
        if _relation_gone(change.table, gone):
            return True
        if kind == "column":
            return ("column", obj) in gone
        return (kind, obj) in gone or (kind == "view" and ("view", obj) in gone)
    if change.kind == "privilege":
        obj = live.get("object") or change.object.rpartition(":")[0]
        kind = live.get("kind", "table")
        return _relation_gone(obj, gone) or (kind, obj) in gone
    return False


# -- order --------------------------------------------------------------------------------

def _order_key(change: Change) -> tuple:
    sub = 9
    if change.kind == "constraint":
        sub = _FK_FIRST.get((change.live or {}).get("kind"), 9)
    return (_RANK.get(change.kind, len(DROP_ORDER)), sub, change.table or "", change.object)


def _arranged(changes: list[Change], ctx: PlanContext) -> list[list[Change]]:
    """`changes` in drop order, each in a group of its own except tables that reference
    each other in a cycle (dropped together, in one DROP TABLE). Views and tables are
    ordered topologically: a view before the views it reads, a table before the tables it
    references or inherits from."""
    views = [c for c in changes if c.kind == "view"]
    tables = [c for c in changes if c.kind == "table"]
    by_kind = {"view": _topological(views, _view_reads(views)),
               "table": _topological(tables, _table_references)}
    out, placed = [], set()
    for c in changes:
        if c.kind in by_kind:
            if c.kind not in placed:
                out += by_kind[c.kind]
                placed.add(c.kind)
        else:
            out.append([c])
    return out


def _view_reads(views: list[Change]):
    """What a view reads: its `depends_on`, and (for a model that lacks it) the other views
    whose qualified name its definition mentions."""
    def pattern(dotted: str) -> re.Pattern:
        schema, name = _split(dotted)
        part = r'(?:"{0}"|{0}\b)'
        return re.compile(part.format(re.escape(schema)) + r"\." + part.format(re.escape(name)))

    patterns = {c.object: pattern(c.object) for c in views}

    def reads(change: Change) -> tuple[str, ...]:
        live = change.live or {}
        named = [name for name, p in patterns.items()
                 if name != change.object and p.search(live.get("definition") or "")]
        return tuple(live.get("depends_on") or ()) + tuple(named)
    return reads


def _table_references(change: Change) -> tuple[str, ...]:
    live = change.live or {}
    refs = [k.get("ref_table") for k in live.get("constraints", ()) if k.get("kind") == "fk"]
    refs += list(live.get("inherits") or ())
    if live.get("partition_of"):
        refs.append(live["partition_of"])
    return tuple(r for r in refs if r and r != change.object)


def _topological(changes: list[Change], uses) -> list[list[Change]]:
    """Each change before the ones it uses (among `changes`), one group each; what is left
    in a cycle comes last as one group."""
    names = {c.object for c in changes}
    used_by: dict[str, set[str]] = {c.object: set() for c in changes}
    for c in changes:
        for name in uses(c):
            if name in names and name != c.object:
                used_by[name].add(c.object)
    out: list[list[Change]] = []
    done: set[str] = set()
    pending = list(changes)
    while pending:
        ready = [c for c in pending if used_by[c.object] <= done]
        if not ready:
            out.append(pending)
            break
        out += [[c] for c in ready]
        done |= {c.object for c in ready}
        pending = [c for c in pending if c.object not in done]
    return out


# -- one drop step per kind ---------------------------------------------------------------

def _drop(out: Planned, change: Change, slug: str, title: str, *, sql: tuple[str, ...],
          probe: str, reverse: tuple[str, ...] = (), kind: StepKind = StepKind.DDL,
          table: str | None = None, target: ObjectRef | None = None,
          lock: str = "ACCESS EXCLUSIVE", estimated_rows: int = 0,
          precheck: str = "") -> None:
    reason = f"extra {change.kind} {change.object} (--drop-extra)"
    if not reverse:
        reason += f"; {NO_RESTORE}"
    out.add(f"drop-{_SLUG.sub('-', slug)}", title=title, reason=reason, kind=kind,
            table=table, target=target, sql=sql, probe=f"SELECT {probe}", reverse=reverse,
            lock=lock, lock_duration="instant", destructive=True, estimated_rows=estimated_rows,
            precheck=precheck)


def _split(dotted: str) -> tuple[str, str]:
    schema, _, name = dotted.partition(".")
    return schema, name


def _type_gone(dotted: str) -> str:
    schema, name = _split(dotted)
    return (f"NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = "
            f"t.typnamespace WHERE n.nspname = {literal(schema)} AND t.typname = "
            f"{literal(name)})")


def _relation_is_gone(dotted: str) -> str:
    return f"to_regclass({literal(qualified_name(dotted))}) IS NULL"


def _text_array(names: list[str]) -> str:
    return f"ARRAY[{', '.join(literal(n) for n in sorted(set(names)))}]::text[]"


def schema_leftovers_sql(schema: str, dropped: dict[str, list[str]]) -> str:
    """SELECT count, sample of what `schema` holds that the drops do not remove (a DROP
    SCHEMA without CASCADE would fail on it): a precheck, asked before anything changes."""
    ns = (f"(SELECT oid FROM pg_namespace WHERE nspname = {literal(schema)})")
    member = ("NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = {0}::regclass AND "
              "d.objid = {1} AND d.deptype IN ('e', 'i'))")
    owned = ("EXISTS (SELECT 1 FROM pg_depend d JOIN pg_class r ON r.oid = d.refobjid JOIN "
             "pg_namespace rn ON rn.oid = r.relnamespace WHERE d.classid = 'pg_class'::regclass "
             "AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN "
             "('a', 'i') AND rn.nspname || '.' || r.relname = ANY "
             f"({_text_array(dropped['owners'])}))")
    parts = [
        f"SELECT 'relation ' || c.relname FROM pg_class c WHERE c.relnamespace = {ns} AND "
        f"c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND NOT c.relname = ANY "
        f"({_text_array(dropped['relations'])}) AND NOT {owned} AND "
        + member.format("'pg_class'", "c.oid"),
        f"SELECT 'function ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) "
        f"|| ')' FROM pg_proc p WHERE p.pronamespace = {ns} AND NOT (p.proname || '(' || "
        f"pg_get_function_identity_arguments(p.oid) || ')') = ANY "
        f"({_text_array(dropped['functions'])}) AND " + member.format("'pg_proc'", "p.oid"),
        f"SELECT 'type ' || t.typname FROM pg_type t WHERE t.typnamespace = {ns} AND "
        "(t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class "
        f"WHERE oid = t.typrelid) = 'c')) AND NOT t.typname = ANY "
        f"({_text_array(dropped['types'])}) AND " + member.format("'pg_type'", "t.oid"),
        f"SELECT 'collation ' || o.collname FROM pg_collation o WHERE o.collnamespace = {ns} "
        f"AND NOT o.collname = ANY ({_text_array(dropped['collations'])}) AND "
        + member.format("'pg_collation'", "o.oid"),
        f"SELECT 'extension ' || x.extname FROM pg_extension x WHERE x.extnamespace = {ns} "
        f"AND NOT x.extname = ANY ({_text_array(dropped['extensions'])})",
    ]
    return ("SELECT count(*), min(what) FROM (" + " UNION ALL ".join(parts)
            + ") AS leftovers(what)")


def _schema(change: Change, out: Planned, dropped: dict[str, list[str]]) -> None:
    name = change.object
    _drop(out, change, f"schema-{name}", f"DROP SCHEMA {name} (without CASCADE)",
          sql=(f"DROP SCHEMA IF EXISTS {ident(name)}",),
          probe=f"NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = {literal(name)})",
          reverse=(f"CREATE SCHEMA IF NOT EXISTS {ident(name)}",),
          target=ObjectRef("schema", "", None, name), lock="none",
          precheck=schema_leftovers_sql(name, dropped))


def _extension(change: Change, ctx: PlanContext, out: Planned) -> None:
    live = change.live
    name = live["name"]
    reverse = f"CREATE EXTENSION IF NOT EXISTS {ident(name)}"
    if live.get("schema"):
        reverse += f" WITH SCHEMA {ident(live['schema'])}"
    if live.get("version"):
        reverse += f" VERSION {literal(live['version'])}"
    _drop(out, change, f"extension-{name}", f"DROP EXTENSION {name} (without CASCADE)",
          sql=(f"DROP EXTENSION IF EXISTS {ident(name)}",),
          probe=f"NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = {literal(name)})",
          reverse=(reverse,), target=ObjectRef("extension", "", None, name), lock="none")


def _collation(change: Change, ctx: PlanContext, out: Planned) -> None:
    c = Collation.from_dict(change.live)
    name_sql = qualified(c.schema, c.name)
    options = {"i": ["provider = icu"], "b": ["provider = builtin"], "c": []}.get(c.provider)
    if options is not None:
        if c.provider in ("i", "b") and c.locale:
            options.append(f"locale = {literal(c.locale)}")
        if c.provider == "c":
            options += [f"lc_collate = {literal(c.lc_collate or 'C')}",
                        f"lc_ctype = {literal(c.lc_ctype or 'C')}"]
        if not c.deterministic:
            options.append("deterministic = false")
    reverse = (f"CREATE COLLATION IF NOT EXISTS {name_sql} ({', '.join(options)})",) \
        if options else ()
    _drop(out, change, f"collation-{c.name}", f"DROP COLLATION {c.qualified_name}",
          sql=(f"DROP COLLATION IF EXISTS {name_sql}",),
          probe=(f"NOT EXISTS (SELECT 1 FROM pg_collation c JOIN pg_namespace n ON n.oid = "
                 f"c.collnamespace WHERE n.nspname = {literal(c.schema)} AND c.collname = "
                 f"{literal(c.name)})"),
          reverse=reverse, target=ObjectRef.of("collation", c.qualified_name), lock="none")


def _enum(change: Change, ctx: PlanContext, out: Planned) -> None:
    live = change.live
    name_sql = qualified(live["schema"], live["name"])
    labels = ", ".join(literal(label) for label in live.get("labels", ()))
    _drop(out, change, f"enum-{live['name']}", f"DROP TYPE {change.object} (enum)",
          sql=(f"DROP TYPE IF EXISTS {name_sql}",), probe=_type_gone(change.object),
          reverse=(f"CREATE TYPE {name_sql} AS ENUM ({labels})",),
          target=ObjectRef.of("enum", change.object))


def _composite(change: Change, ctx: PlanContext, out: Planned) -> None:
    t = CompositeType.from_dict(change.live)
    name_sql = qualified(t.schema, t.name)
    attributes = ", ".join(
        f"{ident(a.name)} {a.type}" + (f" COLLATE {a.collation}" if a.collation else "")
        for a in t.attributes)
    _drop(out, change, f"type-{t.name}", f"DROP TYPE {t.qualified_name} (composite)",
          sql=(f"DROP TYPE IF EXISTS {name_sql}",), probe=_type_gone(t.qualified_name),
          reverse=(f"CREATE TYPE {name_sql} AS ({attributes})",),
          target=ObjectRef.of("type", t.qualified_name))


def _domain(change: Change, ctx: PlanContext, out: Planned) -> None:
    d = Domain.from_dict(change.live)
    name_sql = qualified(d.schema, d.name)
    create = f"CREATE DOMAIN {name_sql} AS {d.base_type}"
    if d.collation:
        create += f" COLLATE {d.collation}"
    if d.default is not None:
        create += f" DEFAULT {d.default}"
    if d.not_null:
        create += " NOT NULL"
    for check in d.checks:
        create += (f" CONSTRAINT {ident(check.name)} "
                   f"{check.definition.removesuffix(' NOT VALID')}")
    _drop(out, change, f"domain-{d.name}", f"DROP DOMAIN {d.qualified_name}",
          sql=(f"DROP DOMAIN IF EXISTS {name_sql}",), probe=_type_gone(d.qualified_name),
          reverse=(create,), target=ObjectRef.of("domain", d.qualified_name))


def _sequence(change: Change, ctx: PlanContext, out: Planned) -> None:
    s = Sequence.from_dict(change.live)
    name_sql = qualified(s.schema, s.name)
    create = (f"CREATE SEQUENCE IF NOT EXISTS {name_sql} AS {s.data_type} INCREMENT BY "
              f"{s.increment} MINVALUE {s.minimum} MAXVALUE {s.maximum} START WITH {s.start} "
              f"CACHE {s.cache} {'CYCLE' if s.cycle else 'NO CYCLE'}")
    reverse = [create]
    if s.owned_by:
        table, _, column = s.owned_by.rpartition(".")
        reverse.append(f"ALTER SEQUENCE {name_sql} OWNED BY {qualified_name(table)}."
                       f"{ident(column)}")
    if s.last_value is not None:
        reverse.append(f"SELECT setval({regclass(name_sql)}, {s.last_value})")
    _drop(out, change, f"sequence-{s.name}", f"DROP SEQUENCE {s.qualified_name}",
          sql=(f"DROP SEQUENCE IF EXISTS {name_sql}",),
          probe=_relation_is_gone(s.qualified_name), reverse=tuple(reverse),
          target=ObjectRef.of("sequence", s.qualified_name))


def function_sql(schema: str, name: str, arguments: str) -> str:
    """`"schema"."name"(arguments)`: the arguments as pg_get_function_identity_arguments
    printed them (types, and names where they have one)."""
    return f"{qualified(schema, name)}({arguments})"


def function_matches(schema: str, name: str, arguments: str) -> str:
    return (f"SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE "
            f"n.nspname = {literal(schema)} AND p.proname = {literal(name)} AND "
            f"pg_get_function_identity_arguments(p.oid) = {literal(arguments)}")


def _function(change: Change, ctx: PlanContext, out: Planned) -> None:
    f = Function.from_dict(change.live)
    word = _FUNCTION_WORD.get(f.kind, "FUNCTION")
    reverse = (f.definition,) if f.definition and f.kind != "a" else ()
    _drop(out, change, f"function-{f.name}", f"DROP {word} {f.qualified_name}",
          sql=(f"DROP {word} IF EXISTS {function_sql(f.schema, f.name, f.arguments)}",),
          probe=f"NOT EXISTS ({function_matches(f.schema, f.name, f.arguments)})",
          reverse=reverse, target=ObjectRef("function", f.schema, None,
                                             f"{f.name}({f.arguments})"), lock="none")


def _table(change: Change, ctx: PlanContext, out: Planned) -> None:
    t = Table.from_dict(change.live)
    name = t.qualified_name
    what = "partition" if t.partition_of else "table"
    _drop(out, change, f"table-{t.name}",
          f"DROP TABLE {name} ({what}, {rows(t):,} rows estimated; no reverse: its rows are "
          "lost)",
          sql=(f"DROP TABLE IF EXISTS {qualified(t.schema, t.name)}",),
          probe=_relation_is_gone(name), table=name, target=ObjectRef.of("table", name),
          estimated_rows=rows(t))


def _tables(changes: list[Change], ctx: PlanContext, out: Planned) -> None:
    """Tables whose foreign keys point at each other in a cycle: one DROP TABLE for all."""
    tables = [Table.from_dict(c.live) for c in changes]
    names = ", ".join(t.qualified_name for t in tables)
    total = sum(rows(t) for t in tables)
    first = changes[0]
    out.add(f"drop-tables-{tables[0].name}",
            title=f"DROP TABLE {names} (they reference each other; {total:,} rows estimated; "
                  "no reverse: their rows are lost)",
            reason=f"extra tables {names} (--drop-extra); {NO_RESTORE}", kind=StepKind.DDL,
            table=first.object, target=ObjectRef.of("table", first.object),
            sql=("DROP TABLE IF EXISTS "
                 + ", ".join(qualified(t.schema, t.name) for t in tables),),
            probe="SELECT " + " AND ".join(_relation_is_gone(t.qualified_name) for t in tables),
            lock="ACCESS EXCLUSIVE", lock_duration="instant", destructive=True,
            estimated_rows=total)
    out.handled.update(change_key(c) for c in changes)


def _column(change: Change, ctx: PlanContext, out: Planned) -> None:
    table = change.table
    column = change.live["name"]
    _drop(out, change, f"column-{_split(table)[1]}-{column}",
          f"DROP COLUMN {change.object} (no reverse: its values are lost)",
          sql=(f"ALTER TABLE {qualified_name(table)} DROP COLUMN IF EXISTS {ident(column)}",),
          probe=(f"NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = "
                 f"{regclass(qualified_name(table))} AND attname = {literal(column)} AND "
                 "NOT attisdropped)"),
          table=table, target=ObjectRef.in_table("column", table, column),
          estimated_rows=rows(ctx.live_table(table)))


def _constraint(change: Change, ctx: PlanContext, out: Planned) -> None:
    table = change.table
    con = Constraint.from_dict(change.live)
    t = qualified_name(table)
    _drop(out, change, f"constraint-{_split(table)[1]}-{con.name}",
          f"DROP CONSTRAINT {con.name} on {table}",
          sql=(f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {ident(con.name)}",),
          probe=(f"NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = {regclass(t)} AND "
                 f"conname = {literal(con.name)})"),
          reverse=(f"ALTER TABLE {t} ADD CONSTRAINT {ident(con.name)} {con.definition}",),
          table=table, target=ObjectRef.in_table("constraint", table, con.name))


def _index(change: Change, ctx: PlanContext, out: Planned) -> None:
    table = change.table
    index = Index.from_dict(change.live)
    schema = _split(table)[0]
    unique = "UNIQUE " if index.unique else ""
    _drop(out, change, f"index-{index.name}", f"DROP INDEX CONCURRENTLY {schema}.{index.name}",
          sql=(f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(schema, index.name)}",),
          probe=(f"NOT EXISTS (SELECT 1 FROM pg_class x JOIN pg_namespace n ON n.oid = "
                 f"x.relnamespace WHERE n.nspname = {literal(schema)} AND x.relname = "
                 f"{literal(index.name)} AND x.relkind IN ('i', 'I'))"),
          reverse=(f"CREATE {unique}INDEX IF NOT EXISTS {ident(index.name)} ON "
                   f"{qualified_name(table)} USING {index_body(index)}",),
          kind=StepKind.CONCURRENT, table=table,
          target=ObjectRef.in_table("index", table, index.name),
          lock="SHARE UPDATE EXCLUSIVE")


def _view(change: Change, ctx: PlanContext, out: Planned) -> None:
    v = View.from_dict(change.live)
    name_sql = qualified(v.schema, v.name)
    word = "MATERIALIZED VIEW" if v.materialized else "VIEW"
    body = v.definition.strip().rstrip(";")
    reverse = [f"CREATE {word} {name_sql} AS {body}"]
    for index in v.indexes:
        unique = "UNIQUE " if index.unique else ""
        reverse.append(f"CREATE {unique}INDEX IF NOT EXISTS {ident(index.name)} ON {name_sql} "
                       f"USING {index_body(index)}")
    _drop(out, change, f"view-{v.name}", f"DROP {word} {v.qualified_name}",
          sql=(f"DROP {word} IF EXISTS {name_sql}",),
          probe=_relation_is_gone(v.qualified_name), reverse=tuple(reverse),
          target=ObjectRef.of("view", v.qualified_name))


_ENABLE = {"D": "DISABLE TRIGGER", "R": "ENABLE REPLICA TRIGGER", "A": "ENABLE ALWAYS TRIGGER"}


def _trigger(change: Change, ctx: PlanContext, out: Planned) -> None:
    trigger = Trigger.from_dict(change.live)
    table = trigger.table_name
    t = qualified_name(table)
    reverse = [trigger.definition]
    if trigger.enabled in _ENABLE:
        reverse.append(f"ALTER TABLE {t} {_ENABLE[trigger.enabled]} {ident(trigger.name)}")
    _drop(out, change, f"trigger-{trigger.table}-{trigger.name}",
          f"DROP TRIGGER {trigger.name} on {table}",
          sql=(f"DROP TRIGGER IF EXISTS {ident(trigger.name)} ON {t}",),
          probe=(f"NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = {regclass(t)} AND "
                 f"tgname = {literal(trigger.name)})"),
          reverse=tuple(reverse), table=table,
          target=ObjectRef.in_table("trigger", table, trigger.name))


def _policy(change: Change, ctx: PlanContext, out: Planned) -> None:
    table = change.table
    policy = Policy.from_dict(change.live)
    _drop(out, change, f"policy-{_split(table)[1]}-{policy.name}",
          f"DROP POLICY {policy.name} on {table}",
          sql=(drop_policy_sql(policy.name, table),),
          probe=f"NOT {has_policy(table, policy.name)}",
          reverse=(create_policy_sql(policy, table),), table=table,
          target=ObjectRef.in_table("policy", table, policy.name))


# -- comments and grants ------------------------------------------------------------------

_FUNCTION_NAME = re.compile(r"^(?P<dotted>[^(]+)\((?P<args>.*)\)$", re.S)


def _comment_target(kind: str, obj: str, table: str | None,
                    ctx: PlanContext) -> tuple[str, str] | None:
    """(`COMMENT ON` object clause, probe that no comment is left), or None when the
    object cannot be named."""
    def relation(word: str, dotted: str) -> tuple[str, str]:
        return (f"{word} {qualified_name(dotted)}",
                f"obj_description({regclass(qualified_name(dotted))}, 'pg_class') IS NULL")

    if kind == "schema":
        return (f"SCHEMA {ident(obj)}",
                f"obj_description((SELECT oid FROM pg_namespace WHERE nspname = "
                f"{literal(obj)}), 'pg_namespace') IS NULL")
    if kind == "table":
        return relation("TABLE", obj)
    if kind == "sequence":
        return relation("SEQUENCE", obj)
    if kind == "view":
        view = next((v for v in ctx.live.views if v.qualified_name == obj), None)
        return relation("MATERIALIZED VIEW" if view and view.materialized else "VIEW", obj)
    if kind == "column":
        if table and obj.startswith(table + "."):
            column = obj[len(table) + 1:]
        else:
            table, _, column = obj.rpartition(".")
        t = qualified_name(table)
        return (f"COLUMN {t}.{ident(column)}",
                f"(SELECT col_description(attrelid, attnum) FROM pg_attribute WHERE attrelid = "
                f"{regclass(t)} AND attname = {literal(column)}) IS NULL")
    if kind in ("type", "domain"):
        schema, name = _split(obj)
        return (f"{kind.upper()} {qualified(schema, name)}",
                f"NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = "
                f"t.typnamespace WHERE n.nspname = {literal(schema)} AND t.typname = "
                f"{literal(name)} AND obj_description(t.oid, 'pg_type') IS NOT NULL)")
    if kind == "function":
        m = _FUNCTION_NAME.match(obj)
        if not m:
            return None
        schema, name = _split(m["dotted"])
        fn = next((f for f in ctx.live.functions if f.qualified_name == obj), None)
        word = _FUNCTION_WORD.get(fn.kind if fn else "f", "FUNCTION")
        return (f"{word} {function_sql(schema, name, m['args'])}",
                f"NOT EXISTS ({function_matches(schema, name, m['args'])} AND "
                "obj_description(p.oid, 'pg_proc') IS NOT NULL)")
    return None


def _comment(change: Change, ctx: PlanContext, out: Planned) -> None:
    live = change.live
    kind, _, obj = change.object.partition(":")
    kind, obj = live.get("kind", kind), live.get("object", obj)
    target = _comment_target(kind, obj, change.table, ctx)
    if target is None:
        out.keep(change, f"comment on {kind} {obj}: cannot name the object; kept")
        return
    clause, probe = target
    _drop(out, change, f"comment-{kind}-{obj}", f"remove the comment on {kind} {obj}",
          sql=(f"COMMENT ON {clause} IS NULL",), probe=probe,
          reverse=(f"COMMENT ON {clause} IS {literal(live.get('text') or '')}",),
          table=change.table, target=ObjectRef("comment", "", None, change.object),
          lock="SHARE UPDATE EXCLUSIVE")


def _grantee(name: str) -> str:
    return "PUBLIC" if name.upper() == "PUBLIC" else ident(name)


def _privilege(change: Change, ctx: PlanContext, out: Planned) -> None:
    live = change.live
    kind, obj, grantee = live.get("kind", "table"), live["object"], live["grantee"]
    word = {"table": "TABLE", "view": "TABLE", "sequence": "SEQUENCE"}.get(kind)
    if word is None:
        out.keep(change, f"privileges on a {kind}: no REVOKE step for this kind; kept")
        return
    on = f"{word} {qualified_name(obj)}"
    grantable = set(live.get("grantable") or ())
    plain = [p for p in live.get("privileges") or () if p not in grantable]
    reverse = []
    if plain:
        reverse.append(f"GRANT {', '.join(plain)} ON {on} TO {_grantee(grantee)}")
    if grantable:
        reverse.append(f"GRANT {', '.join(sorted(grantable))} ON {on} TO {_grantee(grantee)} "
                       "WITH GRANT OPTION")
    role = ("0" if grantee.upper() == "PUBLIC"
            else f"(SELECT oid FROM pg_roles WHERE rolname = {literal(grantee)})")
    _drop(out, change, f"privilege-{obj}-{grantee}", f"REVOKE ALL ON {obj} FROM {grantee}",
          sql=(f"REVOKE ALL ON {on} FROM {_grantee(grantee)}",),
          probe=(f"NOT EXISTS (SELECT 1 FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = "
                 f"{regclass(qualified_name(obj))} AND a.grantee = {role})"),
          reverse=tuple(reverse), table=change.table,
          target=ObjectRef("privilege", "", None, change.object), lock="none")


_BUILDERS = {"schema": None, "extension": _extension, "collation": _collation,
             "enum": _enum, "type": _composite, "domain": _domain, "sequence": _sequence,
             "function": _function, "table": _table, "column": _column,
             "constraint": _constraint, "index": _index, "view": _view, "trigger": _trigger,
             "policy": _policy, "comment": _comment, "privilege": _privilege}
