"""Composite types: created when missing; attributes appended, dropped (destructive) or
retyped when nothing stores the type; anything else refused. No database."""
from __future__ import annotations

from dataclasses import replace

from pgreconcile.plan.context import PlanContext
from pgreconcile.plan.kinds import composite
from pgreconcile.schema.diff import Change, Diff
from pgreconcile.schema.model import Column, CompositeType, Schema, Table, TypeAttribute

T = '"public"."address"'
ADDRESS = CompositeType("public", "address", (TypeAttribute("street", "text"),
                                              TypeAttribute("zip", "integer")))
USER = Table("public", "customer", columns=(Column("id", "integer"),
                                            Column("home", "public.address")))


def planned(live: CompositeType, expected: CompositeType, tables=()):
    ctx = PlanContext(Schema(tables=tuple(tables), composite_types=(live,)), Schema(), Diff())
    return composite.plan(Change("different", "type", expected.qualified_name, None,
                                 live.to_dict(), expected.to_dict(),
                                 attributes=("attributes",)), ctx)


def test_missing_type_is_created_with_its_attributes():
    ct = replace(ADDRESS, attributes=(*ADDRESS.attributes,
                                      TypeAttribute("city", "text", '"C"')))
    change = Change("missing", "type", ct.qualified_name, None, expected=ct.to_dict())
    (step,) = composite.plan(change, PlanContext(Schema(), Schema(), Diff())).steps
    assert step.sql == (f'CREATE TYPE {T} AS ("street" text, "zip" integer, '
                        '"city" text COLLATE "C")',)
    assert "t.typtype = 'c'" in step.probe and step.reverse == (f"DROP TYPE IF EXISTS {T}",)


def test_attribute_added_is_appended_even_when_a_column_stores_the_type():
    expected = replace(ADDRESS, attributes=(*ADDRESS.attributes, TypeAttribute("city", "text")))
    (step,) = planned(ADDRESS, expected, (USER,)).steps
    assert step.sql == (f'ALTER TYPE {T} ADD ATTRIBUTE "city" text',)
    assert step.reverse == (f'ALTER TYPE {T} DROP ATTRIBUTE IF EXISTS "city"',)
    assert "attname = 'city'" in step.probe and "= 'text'" in step.probe
    assert not step.destructive


def test_attribute_only_live_has_is_dropped_destructively():
    (step,) = planned(ADDRESS, replace(ADDRESS, attributes=ADDRESS.attributes[:1])).steps
    assert step.sql == (f'ALTER TYPE {T} DROP ATTRIBUTE IF EXISTS "zip"',)
    assert step.destructive and step.reverse == (f'ALTER TYPE {T} ADD ATTRIBUTE "zip" integer',)
    assert step.probe.startswith("SELECT NOT EXISTS")


def test_retyped_attribute_is_altered_when_nothing_stores_the_type():
    expected = replace(ADDRESS, attributes=(ADDRESS.attributes[0],
                                            TypeAttribute("zip", "bigint")))
    (step,) = planned(ADDRESS, expected).steps
    assert step.sql == (f'ALTER TYPE {T} ALTER ATTRIBUTE "zip" TYPE bigint',)
    assert step.reverse == (f'ALTER TYPE {T} ALTER ATTRIBUTE "zip" TYPE integer',)


def test_retyped_attribute_is_refused_when_a_column_stores_the_type():
    expected = replace(ADDRESS, attributes=(ADDRESS.attributes[0],
                                            TypeAttribute("zip", "bigint")))
    out = planned(ADDRESS, expected, (USER,))
    assert out.steps == [] and "public.customer.home" in out.unsupported[0].why


def test_reordered_attributes_are_refused():
    out = planned(ADDRESS, replace(ADDRESS, attributes=ADDRESS.attributes[::-1]))
    assert out.steps == [] and "reordered" in out.unsupported[0].why
