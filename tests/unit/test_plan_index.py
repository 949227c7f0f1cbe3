"""A missing index: CREATE INDEX CONCURRENTLY built from the model's fields."""
from __future__ import annotations

import pytest

from pgreconcile.plan.kinds import index as index_kind
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.model import Schema

from .builders import child, index, only, pair
from .conftest import context

T = '"public"."child"'


def planned(expected_index, live_child=None):
    models = pair(live_child or child(), child(indexes=[expected_index]))
    return index_kind.plan(only(models[2], "index", "missing"), context(models))


def test_partial_index_is_built_concurrently_from_its_fields():
    out = planned(index("child_big_qty", ("qty",), predicate="(qty > 100)"))
    (step,) = out.steps
    ref = ObjectRef("index", "public", "child", "child_big_qty")
    assert step.sql == ('CREATE INDEX CONCURRENTLY IF NOT EXISTS "child_big_qty" ON '
                        f'{T} USING btree (qty) WHERE (qty > 100)',)
    assert step.reverse == ('DROP INDEX CONCURRENTLY IF EXISTS "public"."child_big_qty"',)
    assert (step.target, step.creates, step.kind) == (ref, (ref,), StepKind.CONCURRENT)
    assert (step.lock, step.lock_duration, step.estimated_rows) == \
        ("SHARE UPDATE EXCLUSIVE", "scan", 500)
    # only a VALID index in the step's own schema counts as done
    assert "n.nspname = 'public'" in step.probe and "i.indisvalid" in step.probe


@pytest.mark.parametrize("idx, body", [
    (index("child_name_uq", ("name",), unique=True), "btree (name)"),
    (index("child_note_gin", ("to_tsvector('simple'::regconfig, note)",), method="gin"),
     "gin (to_tsvector('simple'::regconfig, note))"),
])
def test_unique_and_other_methods_come_from_the_fields(idx, body):
    (step,) = planned(idx).steps
    unique = "UNIQUE " if idx.unique else ""
    assert step.sql == (f'CREATE {unique}INDEX CONCURRENTLY IF NOT EXISTS "{idx.name}" ON {T} '
                        f"USING {body}",)


@pytest.mark.parametrize("tail", ["btree (qty DESC)", "btree (qty) INCLUDE (name)",
                                  "btree (qty text_pattern_ops)",
                                  "btree (qty) NULLS NOT DISTINCT"])
def test_what_the_fields_cannot_say_is_taken_from_the_printed_clause_whole(tail):
    (step,) = planned(index("child_qty_x", ("qty",), tail=tail)).steps
    assert step.sql == (f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "child_qty_x" ON {T} '
                        f"USING {tail}",)


def test_index_body_prefers_the_fields_when_they_say_the_same():
    idx = index("i", ("lower((name)::text)",))
    assert index_kind.index_body(idx) == "btree (lower((name)::text))"
    assert index_kind.printed_body("no using clause") is None


def test_index_of_a_missing_table_is_unsupported():
    models = pair(child(), child(indexes=[index("child_big_qty", ("qty",))]))
    change = only(models[2], "index", "missing")
    out = index_kind.plan(change, context((Schema(), models[1], models[2])))
    assert out.steps == [] and out.unsupported[0].why == "table is missing"
