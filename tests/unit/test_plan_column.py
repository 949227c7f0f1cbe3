"""Columns: missing, and different in type, default or nullability."""
from __future__ import annotations

from pgreconcile.plan.kinds import column
from pgreconcile.plan.planner import make_plan
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.model import Column

from .builders import child, child_columns, only, pair
from .conftest import context

T = '"public"."child"'


def with_columns(*extra: Column, changed: Column | None = None) -> list[Column]:
    cols = [changed if changed and c.name == changed.name else c for c in child_columns()]
    return cols + list(extra)


def planned(live_child, expected_child, kind="column", bucket="missing"):
    models = pair(live_child, expected_child)
    change = only(models[2], kind, bucket)
    return column.plan(change, context(models)), models


def test_missing_nullable_column_is_one_instant_step():
    out, _ = planned(child(), child(with_columns(Column("extra", "text"))))
    (step,) = out.steps
    ref = ObjectRef("column", "public", "child", "extra")
    assert step.id == "add-column-child-extra" and step.kind == StepKind.DDL
    assert step.sql == (f'ALTER TABLE {T} ADD COLUMN IF NOT EXISTS "extra" text',)
    assert step.reverse == (f'ALTER TABLE {T} DROP COLUMN IF EXISTS "extra"',)
    assert (step.target, step.creates) == (ref, (ref,))
    assert (step.lock, step.lock_duration, step.destructive) == \
        ("ACCESS EXCLUSIVE", "instant", False)
    assert "attname = 'extra'" in step.probe and out.unsupported == []


def test_missing_not_null_column_with_constant_default_goes_through_a_validated_check():
    out, _ = planned(child(), child(with_columns(Column("flag", "boolean", True, "false"))))
    assert [s.id for s in out.steps] == ["add-column-child-flag", "check-not-null-child-flag",
                                         "validate-not-null-child-flag",
                                         "set-not-null-child-flag"]
    add, check, validate, set_nn = out.steps
    assert add.sql[0].endswith('"flag" boolean DEFAULT false')
    assert check.sql == (f'ALTER TABLE {T} ADD CONSTRAINT "child_flag_not_null" CHECK '
                         '("flag" IS NOT NULL) NOT VALID',)
    assert check.precheck.startswith("SELECT count(*)") and '"flag" IS NULL' in check.precheck
    assert (validate.lock, validate.lock_duration, validate.estimated_rows) == \
        ("SHARE UPDATE EXCLUSIVE", "scan", 500)
    assert set_nn.sql == (f'ALTER TABLE {T} ALTER COLUMN "flag" SET NOT NULL',
                          f'ALTER TABLE {T} DROP CONSTRAINT IF EXISTS "child_flag_not_null"')
    assert set_nn.reverse == (f'ALTER TABLE {T} ALTER COLUMN "flag" DROP NOT NULL',)


def test_not_null_without_default_on_rows_is_unsupported_with_no_steps():
    out, _ = planned(child(), child(with_columns(Column("owner", "integer", True))))
    assert out.steps == []
    assert [(u.object, "backfill rule" in u.why) for u in out.unsupported] == \
        [("public.child.owner", True)]


def test_not_null_without_default_on_an_empty_table_checks_it_is_empty():
    out, _ = planned(child(rows=0), child(with_columns(Column("owner", "integer", True))))
    assert out.unsupported == [] and len(out.steps) == 4
    assert "the table is not empty" in out.steps[0].precheck


def test_a_volatile_default_is_not_added_with_the_column():
    out, _ = planned(child(rows=0), child(with_columns(Column("u", "uuid", False,
                                                              "gen_random_uuid()"))))
    assert out.steps[0].sql == (f'ALTER TABLE {T} ADD COLUMN IF NOT EXISTS "u" uuid',)


def test_missing_column_of_a_missing_table_is_unsupported():
    models = pair(child(), child(with_columns(Column("extra", "text"))))
    change = only(models[2], "column", "missing")
    live = models[0]
    ctx = context((type(live)(tables=(), database="x"), models[1], models[2]))
    out = column.plan(change, ctx)
    assert out.steps == [] and out.unsupported[0].why == "table is missing too"


def test_varchar_widening_is_instant_and_int_to_bigint_is_a_destructive_rewrite():
    out, _ = planned(child(), child(with_columns(changed=Column("name", "character varying(40)"))),
                     bucket="different")
    (step,) = out.steps
    assert step.sql == (f'ALTER TABLE {T} ALTER COLUMN "name" TYPE character varying(40)',)
    assert step.reverse == (f'ALTER TABLE {T} ALTER COLUMN "name" TYPE character varying(20)',)
    assert (step.lock_duration, step.destructive) == ("instant", False)
    assert "format_type(atttypid, atttypmod) = 'character varying(40)'" in step.probe
    out, _ = planned(child(), child(with_columns(changed=Column("qty", "bigint", True, "0"))),
                     bucket="different")
    (step,) = out.steps
    assert (step.lock_duration, step.destructive, step.estimated_rows) == ("rewrite", True, 500)
    assert step.target == ObjectRef("column", "public", "child", "qty")


def test_default_change_and_removal_reverse_to_the_live_default():
    out, _ = planned(child(), child(with_columns(changed=Column("qty", "integer", True, "1"))),
                     bucket="different")
    (step,) = out.steps
    assert step.title == 'ALTER COLUMN "qty" SET DEFAULT 1'
    assert step.sql == (f'ALTER TABLE {T} ALTER COLUMN "qty" SET DEFAULT 1',)
    assert step.reverse == (f'ALTER TABLE {T} ALTER COLUMN "qty" SET DEFAULT 0',)
    assert step.probe.endswith("= '1'")
    out, _ = planned(child(), child(with_columns(changed=Column("qty", "integer", True))),
                     bucket="different")
    (step,) = out.steps
    assert step.sql == (f'ALTER TABLE {T} ALTER COLUMN "qty" DROP DEFAULT',)
    assert step.probe.endswith("IS NULL")


def test_nullability_both_ways():
    out, _ = planned(child(), child(with_columns(changed=Column("note", "text", True))),
                     bucket="different")
    assert [s.id for s in out.steps] == ["check-not-null-child-note",
                                         "validate-not-null-child-note",
                                         "set-not-null-child-note"]
    assert out.steps[0].precheck  # existing NULLs are counted before anything changes
    out, _ = planned(child(), child(with_columns(changed=Column("qty", "integer", False, "0"))),
                     bucket="different")
    (step,) = out.steps
    assert step.sql == (f'ALTER TABLE {T} ALTER COLUMN "qty" DROP NOT NULL',)
    assert step.reverse == (f'ALTER TABLE {T} ALTER COLUMN "qty" SET NOT NULL',)


def test_other_attributes_are_unsupported():
    out, _ = planned(child(), child(with_columns(changed=Column("note", "text",
                                                                collation='"C"'))),
                     bucket="different")
    assert out.steps == []
    assert out.unsupported[0].why == "collation differ; no safe automatic fix"


def test_make_plan_numbers_steps_in_diff_order_by_object_name():
    live, expected, diff = pair(child(), child(with_columns(
        Column("extra", "text"), changed=Column("note", "text", True))))
    plan = make_plan(live, expected, diff)
    assert [s.id for s in plan.steps] == ["01-add-column-child-extra",
                                          "02-check-not-null-child-note",
                                          "03-validate-not-null-child-note",
                                          "04-set-not-null-child-note"]
