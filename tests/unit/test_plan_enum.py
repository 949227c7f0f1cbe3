"""An enum lacking labels: ADD VALUE in place; removed or reordered labels: unsupported."""
from __future__ import annotations

import pytest

from pgreconcile.plan.kinds import enum
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.model import Enum

from .builders import child, only, pair
from .conftest import context


def planned(*labels: str):
    models = pair(child(), child(), expected_enum=Enum("public", "mood", labels))
    return enum.plan(only(models[2], "enum", "different"), context(models))


def test_label_is_added_after_its_predecessor_outside_a_transaction():
    (step,) = planned("sad", "ok", "happy", "ecstatic").steps
    assert step.sql == ("ALTER TYPE \"public\".\"mood\" ADD VALUE IF NOT EXISTS 'ecstatic' "
                        "AFTER 'happy'",)
    assert step.kind == StepKind.CONCURRENT and step.table is None
    assert step.target == ObjectRef("enum", "public", None, "mood")
    assert step.target.qualified == "public.mood" and step.reverse == ()
    assert "e.enumlabel = 'ecstatic'" in step.probe


def test_first_label_goes_before_and_several_labels_each_get_a_step():
    (step,) = planned("meh", "sad", "ok", "happy").steps
    assert step.sql[0].endswith("'meh' BEFORE 'sad'")
    steps = planned("sad", "meh", "ok", "happy", "wow").steps
    assert [s.id for s in steps] == ["enum-mood-meh", "enum-mood-wow"]
    assert steps[0].sql[0].endswith("AFTER 'sad'") and steps[1].sql[0].endswith("AFTER 'happy'")


@pytest.mark.parametrize("labels", [("ok", "sad", "happy"), ("sad", "ok")])
def test_reordered_or_removed_labels_are_unsupported(labels):
    out = planned(*labels)
    assert out.steps == [] and out.unsupported[0].why == "enum labels removed or reordered"


def test_missing_enum_is_created_with_its_labels_in_order_before_a_new_table_using_it():
    from dataclasses import replace

    from pgreconcile.plan.planner import make_plan
    from pgreconcile.schema.diff import diff_schemas
    from pgreconcile.schema.model import Column, Table

    live, expected, _ = pair(child(), child())
    tone = Enum("public", "tone", ("low", "it's high"))
    voice = Table("public", "voice", columns=(Column("id", "integer", not_null=True),
                                              Column("tone", "public.tone")))
    expected = replace(expected, enums=(*expected.enums, tone),
                       tables=(*expected.tables, voice))
    plan = make_plan(live, expected, diff_schemas(live, expected))
    assert [s.id for s in plan.steps] == ["01-enum-tone", "02-table-public-voice"]
    step = plan.steps[0]
    assert step.sql == ("CREATE TYPE \"public\".\"tone\" AS ENUM ('low', 'it''s high')",)
    assert step.kind == StepKind.DDL and step.reverse == ('DROP TYPE IF EXISTS "public"."tone"',)
    assert "t.typname = 'tone' AND t.typtype = 'e'" in step.probe
    assert plan.unsupported == ()
