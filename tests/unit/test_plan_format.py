"""plan.json format 2: what to_dict writes, what from_dict reads back and what it refuses."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from pgreconcile.errors import EXIT_USAGE, UsageError
from pgreconcile.plan.draft import django_migration_draft
from pgreconcile.plan.planner import make_plan
from pgreconcile.plan.steps import PLAN_FORMAT, Backfill, DriftNote, ObjectRef, Plan, StepKind
from pgreconcile.runbook.stages import load_plan

STEP_FIELDS = {"id", "title", "reason", "kind", "table", "target", "creates", "sql", "probe",
               "reverse", "lock", "lock_duration", "destructive", "estimated_rows",
               "estimated_seconds", "backfill", "precheck", "done_if"}


@pytest.fixture
def plan(seed_models) -> Plan:
    return make_plan(*seed_models, strategy="swap")


def test_plan_dict_is_format_2_with_readable_kinds_and_typed_records(plan):
    d = json.loads(json.dumps(plan.to_dict()))
    assert d["format"] == PLAN_FORMAT == 2
    assert set(d) == {"format", "id", "database", "strategy", "backfill_mode",
                      "live_fingerprint", "steps", "kept", "unsupported", "residual", "notes",
                      "lint", "destructive", "scope"}
    assert all(set(s) == STEP_FIELDS for s in d["steps"])
    assert [s["kind"] for s in d["steps"]][:3] == ["ddl", "backfill", "concurrent"]
    backfill = d["steps"][1]["backfill"]
    assert set(backfill) == {"schema", "table", "key", "column", "expression", "where"}
    assert (backfill["schema"], backfill["table"], backfill["key"], backfill["column"]) == \
        ("public", "treasury_payment", "id", "payment_id")
    assert d["steps"][2]["target"] == {"kind": "index", "schema": "public",
                                       "table": "treasury_payment",
                                       "name": "treasury_payment_payment_id_uniq"}
    assert d["destructive"] == [s.id for s in plan.destructive_steps]


def test_plan_reads_back_equal_to_what_was_written(seed_models):
    for strategy in ("keep", "swap"):
        plan = make_plan(*seed_models, strategy=strategy)
        again = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
        assert again == plan
        assert isinstance(again.steps[0].kind, StepKind)
        assert isinstance(again.steps[1].backfill, Backfill)
        assert isinstance(again.steps[0].target, ObjectRef)
        assert all(isinstance(k, DriftNote) for k in again.kept + again.residual)


@pytest.mark.parametrize("data, words", [
    ([], "must be a JSON object"),
    ("plan", "must be a JSON object"),
    ({"id": "x"}, "has no format field"),
    ({"format": 1, "id": "x"}, "has format 1"),
    ({"format": "2"}, "has format '2'"),
    ({"format": True}, "has format True"),
])
def test_from_dict_refuses_what_is_not_a_format_2_plan(data, words):
    with pytest.raises(UsageError) as err:
        Plan.from_dict(data)
    assert words in str(err.value) and err.value.hint
    assert err.value.exit_code == EXIT_USAGE


def test_from_dict_refuses_a_malformed_plan_without_a_traceback(plan):
    d = plan.to_dict()
    del d["steps"][0]["title"]
    with pytest.raises(UsageError, match="malformed"):
        Plan.from_dict(d)
    d = plan.to_dict()
    d["steps"][0]["kind"] = "teleport"
    with pytest.raises(UsageError, match="malformed"):
        Plan.from_dict(d)
    with pytest.raises(UsageError, match="malformed"):
        Plan.from_dict({**plan.to_dict(), "steps": None})


def test_load_plan_names_the_file_and_keeps_the_hint(tmp_path, plan):
    path = tmp_path / "plan.json"
    path.write_text("[]")
    with pytest.raises(UsageError) as err:
        load_plan(path)
    assert str(path) in str(err.value) and "JSON object" in str(err.value)
    assert "pgreconcile plan" in err.value.hint
    path.write_text("{not json")
    with pytest.raises(UsageError, match="cannot read plan"):
        load_plan(path)
    path.write_text(json.dumps(plan.to_dict()))
    assert load_plan(path) == plan


def test_plan_id_depends_on_the_steps_and_the_live_schema(seed_models):
    keep = make_plan(*seed_models)
    assert make_plan(*seed_models).id == keep.id            # deterministic
    assert make_plan(*seed_models, strategy="swap").id != keep.id
    assert make_plan(*seed_models, backfill="random").id != keep.id


def test_make_plan_refuses_unknown_strategy_or_backfill(seed_models):
    with pytest.raises(ValueError, match="strategy"):
        make_plan(*seed_models, strategy="drop")
    with pytest.raises(ValueError, match="backfill"):
        make_plan(*seed_models, backfill="sequential")


def test_drift_note_without_why_is_written_without_it():
    assert DriftNote("extra", "index", "public.t.i").to_dict() == \
        {"bucket": "extra", "kind": "index", "object": "public.t.i"}
    assert DriftNote("extra", "index", "public.t.i", "kept").to_dict()["why"] == "kept"


def test_object_ref_names_objects_as_the_diff_does():
    col = ObjectRef.in_table("column", "public.t", "c")
    assert (col.qualified, col.table_qualified) == ("public.t.c", "public.t")
    assert ObjectRef.of("enum", "public.mood").qualified == "public.mood"
    assert ObjectRef.of("table", "public.t").table_qualified == "public.t"
    assert ObjectRef("extension", "", None, "citext").qualified == "citext"


def test_step_kind_is_a_str_enum_so_plain_strings_work(plan):
    step = replace(plan.steps[0], kind="concurrent")
    assert step.kind is StepKind.CONCURRENT and step.kind == "concurrent"
    assert json.dumps(step.to_dict()["kind"]) == '"concurrent"'


def test_sql_script_and_migration_draft_come_from_the_structured_steps(plan):
    script = plan.sql_script()
    assert "DO $$" in script and 'UPDATE "public"."treasury_payment" AS t SET "payment_id"' \
        in script and '__KEY__' not in script
    draft = django_migration_draft(plan, "treasury", "0001_initial")
    compile(draft, "0003_reconcile.py", "exec")
    assert ('UPDATE "public"."treasury_payment" AS t SET "payment_id" = ' in draft
            and 't."payment_id" IS NULL' in draft and "__KEY__" not in draft)
