"""Composite types (change kind "type"): a missing one, and one whose attributes differ.

* missing: CREATE TYPE … AS (…), guarded by its probe (CREATE TYPE has no IF NOT EXISTS);
* an attribute the reference has: ALTER TYPE … ADD ATTRIBUTE (appended; catalog only, also
  when a table column uses the type: its values read the new attribute as NULL);
* an attribute only live has: ALTER TYPE … DROP ATTRIBUTE. Destructive: the values stored
  in columns of that type lose it;
* an attribute of another type: ALTER TYPE … ALTER ATTRIBUTE … TYPE, only when nothing
  live stores the type (a table column, a domain or another composite type): PostgreSQL
  refuses to change it under a column, and converting stored values is a rewrite we do
  not plan. Conservative: any such use refuses the change;
* what ADD/DROP cannot reach (attributes reordered, a collation changed): refused.
"""
from __future__ import annotations

from pgreconcile.plan.context import PlanContext, Planned
from pgreconcile.plan.sqltext import ident, literal, qualified
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change
from pgreconcile.schema.model import CompositeType, TypeAttribute

HANDLES = (("type", "missing"), ("type", "different"))


def plan(change: Change, ctx: PlanContext) -> Planned:
    if change.bucket == "missing":
        return missing(change)
    return different(change, ctx)


def has_type(schema: str, name: str) -> str:
    return (f"EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            f"WHERE n.nspname = {literal(schema)} AND t.typname = {literal(name)} AND "
            f"t.typtype = 'c')")


def type_relid(schema: str, name: str) -> str:
    return (f"(SELECT t.typrelid FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            f"WHERE n.nspname = {literal(schema)} AND t.typname = {literal(name)})")


def attribute_probe(schema: str, name: str, attribute: str, type_: str | None) -> str:
    """The type has `attribute` (of `type_`), or, with type_ None, does not have it."""
    found = (f"EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = {type_relid(schema, name)} "
             f"AND attname = {literal(attribute)} AND NOT attisdropped"
             + (f" AND format_type(atttypid, atttypmod) = {literal(type_)}" if type_ else "")
             + ")")
    return found if type_ else f"NOT {found}"


def attribute_sql(a: TypeAttribute) -> str:
    return f"{ident(a.name)} {a.type}" + (f" COLLATE {a.collation}" if a.collation else "")


def missing(change: Change) -> Planned:
    out = Planned()
    ct = CompositeType.from_dict(change.expected)
    t = qualified(ct.schema, ct.name)
    ref = ObjectRef.of("type", ct.qualified_name)
    body = ", ".join(attribute_sql(a) for a in ct.attributes)
    out.add(f"type-{ct.schema}-{ct.name}", title=f"CREATE TYPE {ct.qualified_name}",
            reason=f"missing composite type {ct.qualified_name}", kind=StepKind.DDL,
            table=None, target=ref, creates=(ref,), sql=(f"CREATE TYPE {t} AS ({body})",),
            probe=f"SELECT {has_type(ct.schema, ct.name)}",
            reverse=(f"DROP TYPE IF EXISTS {t}",), lock="none", lock_duration="instant")
    return out


def users(ctx: PlanContext, type_name: str) -> list[str]:
    """What live stores values of `type_name` ("schema.name"), by name."""
    forms = {type_name, type_name + "[]"}
    found = [f"{t.qualified_name}.{c.name}" for t in ctx.live.tables for c in t.columns
             if c.type in forms]
    found += [d.qualified_name for d in ctx.live.domains if d.base_type in forms]
    found += [x.qualified_name for x in ctx.live.composite_types
              if any(a.type in forms for a in x.attributes)]
    return found


def different(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    live, exp = CompositeType.from_dict(change.live), CompositeType.from_dict(change.expected)
    live_attrs = {a.name: a for a in live.attributes}
    exp_attrs = {a.name: a for a in exp.attributes}
    dropped = [a for a in live.attributes if a.name not in exp_attrs]
    added = [a for a in exp.attributes if a.name not in live_attrs]
    retyped = [a for a in exp.attributes if a.name in live_attrs
               and live_attrs[a.name].type != a.type]
    # What live looks like after DROP, ALTER … TYPE and ADD (appended at the end).
    result = [TypeAttribute(a.name, exp_attrs[a.name].type, a.collation)
              for a in live.attributes if a.name in exp_attrs] + added
    if result != list(exp.attributes):
        out.refuse(change, "attributes reordered or a collation changed: ALTER TYPE can "
                           "only append, drop and retype attributes; write a migration")
        return out
    if retyped:
        used = users(ctx, live.qualified_name)
        if used:
            out.refuse(change, f"attribute type change of {live.qualified_name} while "
                               f"{', '.join(used)} stores it: PostgreSQL cannot convert "
                               "stored values in place; write a migration")
            return out
    t = qualified(exp.schema, exp.name)
    ref = ObjectRef.of("type", exp.qualified_name)
    base = f"{exp.schema}-{exp.name}"
    for a in dropped:
        out.add(f"type-drop-{base}-{a.name}", title=f"drop attribute {a.name} of "
                f"{exp.qualified_name}", reason=f"attribute {a.name} is not in the reference",
                kind=StepKind.DDL, table=None, target=ref,
                sql=(f"ALTER TYPE {t} DROP ATTRIBUTE IF EXISTS {ident(a.name)}",),
                probe=f"SELECT {attribute_probe(exp.schema, exp.name, a.name, None)}",
                reverse=(f"ALTER TYPE {t} ADD ATTRIBUTE {attribute_sql(a)}",),
                lock="ACCESS EXCLUSIVE", lock_duration="instant", destructive=True)
    for a in retyped:
        old = live_attrs[a.name]
        out.add(f"type-retype-{base}-{a.name}", title=f"attribute {a.name} of "
                f"{exp.qualified_name} TYPE {a.type}", reason=f"attribute {a.name} is "
                f"{old.type} live, {a.type} expected", kind=StepKind.DDL, table=None,
                target=ref, sql=(f"ALTER TYPE {t} ALTER ATTRIBUTE {ident(a.name)} TYPE "
                                 f"{a.type}",),
                probe=f"SELECT {attribute_probe(exp.schema, exp.name, a.name, a.type)}",
                reverse=(f"ALTER TYPE {t} ALTER ATTRIBUTE {ident(a.name)} TYPE {old.type}",),
                lock="ACCESS EXCLUSIVE", lock_duration="instant")
    for a in added:
        out.add(f"type-add-{base}-{a.name}", title=f"add attribute {a.name} {a.type} to "
                f"{exp.qualified_name}", reason=f"composite type {exp.qualified_name} lacks "
                f"attribute {a.name}", kind=StepKind.DDL, table=None, target=ref,
                sql=(f"ALTER TYPE {t} ADD ATTRIBUTE {attribute_sql(a)}",),
                probe=f"SELECT {attribute_probe(exp.schema, exp.name, a.name, a.type)}",
                reverse=(f"ALTER TYPE {t} DROP ATTRIBUTE IF EXISTS {ident(a.name)}",),
                lock="ACCESS EXCLUSIVE", lock_duration="instant")
    return out
