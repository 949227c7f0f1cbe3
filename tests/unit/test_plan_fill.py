"""A missing NOT NULL column filled from its Django field default, and the defaults the
Django probe reports, parsed on the engine's side."""
from __future__ import annotations

from dataclasses import replace

from pgreconcile.django.defaults import VOLATILE_SQL, dumps, loads, parse_field_defaults
from pgreconcile.plan.context import FieldDefault, PlanContext
from pgreconcile.plan.kinds import column
from pgreconcile.plan.planner import make_plan
from pgreconcile.plan.steps import StepKind
from pgreconcile.schema.model import Column

from .builders import child, child_columns, only, pair

T = '"public"."child"'
KEY = "public.child.flag"


def models_with(expected_column: Column, live_rows: int = 500, **child_kw):
    live = child(rows=live_rows, **child_kw)
    expected = child([*child_columns(), expected_column], **child_kw)
    return pair(live, expected)


def planned(expected_column: Column, defaults: dict, live_rows: int = 500, **child_kw):
    models = models_with(expected_column, live_rows, **child_kw)
    live, expected, diff = models
    ctx = PlanContext(live, expected, diff, field_defaults=defaults)
    return column.plan(only(diff, "column", "missing"), ctx)


# -- parsing ---------------------------------------------------------------------------------
def test_probe_answer_parses_constants_callables_and_sql_equivalents():
    parsed = parse_field_defaults({"defaults": {
        "public.a.flag": {"sql": "true", "callable": None},
        "public.a.uid": {"sql": None, "callable": "uuid.uuid4"},
        "public.a.at": {"sql": None, "callable": "django.utils.timezone.now"},
        "public.a.meta": {"sql": "'{}'::jsonb", "callable": "builtins.dict"},
        "public.a.code": {"sql": None, "callable": "app.models.next_code"},
        "public.a.broken": {"sql": None, "callable": None, "error": "TypeError: no"},
        "nonsense": {"sql": "1"},
    }})
    assert parsed == {
        "public.a.flag": FieldDefault("true"),
        "public.a.uid": FieldDefault(None, "uuid.uuid4", "gen_random_uuid()"),
        "public.a.at": FieldDefault(None, "django.utils.timezone.now", "now()"),
        "public.a.meta": FieldDefault("'{}'::jsonb", "builtins.dict"),
        "public.a.code": FieldDefault(None, "app.models.next_code"),
    }
    assert VOLATILE_SQL["datetime.date.today"] == "current_date"
    assert loads(dumps(parsed)) == parsed


# -- constant default: one metadata-only step ------------------------------------------------
def test_constant_default_adds_the_column_not_null_and_drops_the_default_in_one_step():
    out = planned(Column("flag", "boolean", not_null=True), {KEY: FieldDefault("true")})
    (step,) = out.steps
    assert out.unsupported == [] and step.kind == StepKind.DDL
    assert step.sql == (
        f'ALTER TABLE {T} ADD COLUMN IF NOT EXISTS "flag" boolean DEFAULT true NOT NULL',
        f'ALTER TABLE {T} ALTER COLUMN "flag" DROP DEFAULT')
    assert (step.lock, step.lock_duration, step.destructive) == \
        ("ACCESS EXCLUSIVE", "instant", False)
    assert step.reverse == (f'ALTER TABLE {T} DROP COLUMN IF EXISTS "flag"',)
    # Done exactly when the column is there, NOT NULL, and has no default left.
    assert "attname = 'flag'" in step.probe and "attnotnull" in step.probe
    assert "IS NULL" in step.probe and step.precheck == ""


def test_string_constant_is_written_as_the_probe_quoted_it():
    out = planned(Column("flag", "character varying(3)", not_null=True),
                  {KEY: FieldDefault("'EUR'")})
    (step,) = out.steps
    assert "DEFAULT 'EUR' NOT NULL" in step.sql[0]


def test_no_field_default_keeps_the_old_refusal_on_a_populated_table():
    out = planned(Column("flag", "boolean", not_null=True), {})
    assert out.steps == [] and "data migration" in out.unsupported[0].why


def test_a_database_default_in_the_reference_is_not_a_fill():
    out = planned(Column("flag", "boolean", not_null=True, default="false"),
                  {KEY: FieldDefault("true")})
    assert [s.id for s in out.steps][0] == "add-column-child-flag"
    assert "DEFAULT false" in out.steps[0].sql[0] and "NOT NULL" not in out.steps[0].sql[0]


def test_nullable_column_with_a_constant_gets_it_for_existing_rows_like_django():
    out = planned(Column("flag", "boolean"), {KEY: FieldDefault("true")})
    (step,) = out.steps
    assert step.sql == (f'ALTER TABLE {T} ADD COLUMN IF NOT EXISTS "flag" boolean DEFAULT true',
                        f'ALTER TABLE {T} ALTER COLUMN "flag" DROP DEFAULT')
    assert "attnotnull" not in step.probe


def test_nullable_column_with_a_callable_is_added_plain():
    out = planned(Column("flag", "uuid"), {KEY: FieldDefault(None, "uuid.uuid4",
                                                             "gen_random_uuid()")})
    (step,) = out.steps
    assert step.sql == (f'ALTER TABLE {T} ADD COLUMN IF NOT EXISTS "flag" uuid',)


# -- callable default: backfill --------------------------------------------------------------
def test_callable_with_sql_goes_through_the_batched_backfill():
    out = planned(Column("flag", "uuid", not_null=True),
                  {KEY: FieldDefault(None, "uuid.uuid4", "gen_random_uuid()")})
    kinds = [(s.id, s.kind) for s in out.steps]
    assert kinds == [("add-column-child-flag", StepKind.DDL),
                     ("backfill-child-flag", StepKind.BACKFILL),
                     ("check-not-null-child-flag", StepKind.DDL),
                     ("validate-not-null-child-flag", StepKind.DDL),
                     ("set-not-null-child-flag", StepKind.DDL),
                     ("drop-default-child-flag", StepKind.DDL)]
    add, backfill = out.steps[:2]
    assert add.sql == (f'ALTER TABLE {T} ADD COLUMN IF NOT EXISTS "flag" uuid',
                       f'ALTER TABLE {T} ALTER COLUMN "flag" SET DEFAULT gen_random_uuid()')
    b = backfill.backfill
    assert (b.schema, b.table, b.key, b.column, b.expression) == \
        ("public", "child", "id", "flag", "gen_random_uuid()")
    assert out.steps[2].precheck == ""  # the column does not exist before the plan runs
    assert out.steps[-1].sql == (f'ALTER TABLE {T} ALTER COLUMN "flag" DROP DEFAULT',)


def test_callable_without_sql_equivalent_is_refused_by_name():
    out = planned(Column("flag", "character varying(8)", not_null=True),
                  {KEY: FieldDefault(None, "billing.models.next_number")})
    assert out.steps == []
    assert "billing.models.next_number" in out.unsupported[0].why


def test_callable_backfill_needs_a_single_column_key():
    live, expected, diff = models_with(Column("flag", "uuid", not_null=True))
    keyless = [replace(t, constraints=()) if t.name == "child" else t for t in live.tables]
    live = replace(live, tables=tuple(keyless))
    ctx = PlanContext(live, expected, diff, field_defaults={
        KEY: FieldDefault(None, "uuid.uuid4", "gen_random_uuid()")})
    out = column.plan(only(diff, "column", "missing"), ctx)
    assert out.steps == [] and "primary key" in out.unsupported[0].why


def test_make_plan_passes_field_defaults_through():
    live, expected, diff = models_with(Column("flag", "boolean", not_null=True))
    plan = make_plan(live, expected, diff, field_defaults={KEY: FieldDefault("false")})
    assert [s.id for s in plan.steps] == ["01-add-column-child-flag"] and not plan.unsupported
    assert make_plan(live, expected, diff).unsupported
