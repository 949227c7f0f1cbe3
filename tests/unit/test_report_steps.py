"""The report reads a rollback's coverage from the steps' structured fields."""
from __future__ import annotations

import pytest

from pgreconcile.plan.planner import make_plan
from pgreconcile.report.render import build_context


def report(plan, done: list[str], reverted: list[str]) -> dict:
    return {"plan": plan.to_dict(),
            "apply": {"steps": [{"id": i, "outcome": "done"} for i in done]},
            "rollback": {"method": "reverse", "reverted": reverted}}


def test_steps_without_reverse_go_with_the_objects_reverted_steps_created(seed_models):
    plan = make_plan(*seed_models)
    ids = [s.id for s in plan.steps]
    reversible = [s.id for s in plan.steps if s.reverse]
    rb = build_context(report(plan, ids, reversible))["rollback"]
    covered = {s["id"]: s["covered"] for s in rb["not_reverted"]}
    assert covered == {"02-backfill-treasury_payment-payment_id": True,
                       "05-validate-not-null-treasury_payment-payment_id": True}


def test_a_step_is_not_covered_when_its_object_was_not_dropped(seed_models):
    plan = make_plan(*seed_models)
    ids = [s.id for s in plan.steps]
    # only the CHECK was reverted: the column (and its backfilled values) stays
    rb = build_context(report(plan, ids, ["04-check-not-null-treasury_payment-payment_id"]))
    covered = {s["id"]: s["covered"] for s in rb["rollback"]["not_reverted"]}
    assert covered["02-backfill-treasury_payment-payment_id"] is False
    assert covered["05-validate-not-null-treasury_payment-payment_id"] is True
    assert covered["01-add-column-treasury_payment-payment_id"] is False  # has reverse SQL


def test_same_name_in_another_table_does_not_cover(seed_models):
    plan = make_plan(*seed_models)
    d = report(plan, [s.id for s in plan.steps], ["01-add-column-treasury_payment-payment_id"])
    first = d["plan"]["steps"][0]
    first["creates"] = [{**first["creates"][0], "table": "treasury_refund"}]
    rb = build_context(d)["rollback"]
    covered = {s["id"]: s["covered"] for s in rb["not_reverted"]}
    assert covered["02-backfill-treasury_payment-payment_id"] is False


def test_a_paused_stage_makes_the_reports_status_paused_not_failed():
    from pgreconcile.report.build import assemble_report
    report = assemble_report(
        {"apply": {"changed": True, "paused": True, "status": "paused", "error": "BackfillPaused",
                   "msg": "backfill paused at id > 5000", "hint": "the next run resumes",
                   "exit_code": 5, "steps": []}},
        {"database": "pettycash"})
    assert report["status"] == "paused" and report["ok"] is False
    assert report["error"]["exit_code"] == 5


@pytest.mark.parametrize("results, status", [
    ({"apply": {"changed": True, "steps": []}}, "ok"),
    ({"apply": {"changed": False, "steps": []}}, "nothing-to-do"),
    ({"apply": {"failed": True, "error": "DestructiveStepRefused", "msg": "no", "exit_code": 4}},
     "refused"),
    ({"verify": {"failed": True, "error": "VerificationFailed", "msg": "x", "exit_code": 3},
      "rollback": {"method": "reverse", "reverted": ["01"], "why": "x"}}, "rolled-back"),
    ({"apply": {"failed": True, "error": "StepFailed", "msg": "boom", "exit_code": 1}}, "failed"),
])
def test_the_reports_status_names_the_outcome(results, status):
    from pgreconcile.report.build import assemble_report
    assert assemble_report(results, {"database": "d"})["status"] == status
