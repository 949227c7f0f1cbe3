"""Row-level security without a database: the diff's rls/policy changes, the planner's
steps for them (SQL, lock, probe, reverse, order), and old model dicts."""
from __future__ import annotations

from dataclasses import replace

import pytest

from pgreconcile.plan.kinds import extra, handler_for, rls
from pgreconcile.plan.planner import make_plan
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change, describe_side
from pgreconcile.schema.model import Policy, Schema, Table

from .builders import child, only, pair
from .conftest import context

OWNER = Policy("child_owner", using="(name = CURRENT_USER)")


def with_rls(enabled=False, forced=False, policies=()) -> Table:
    return replace(child(), rls_enabled=enabled, rls_forced=forced, policies=tuple(policies))


def test_rls_switched_off_live_is_enabled_in_one_instant_step_with_its_reverse():
    models = pair(with_rls(policies=[OWNER]), with_rls(True, policies=[OWNER]))
    change = only(models[2], "rls", "different")
    assert change.attributes == ("enabled",) and "off live" in change.risk
    (step,) = rls.plan(change, context(models)).steps
    assert step.sql == ('ALTER TABLE "public"."child" ENABLE ROW LEVEL SECURITY',)
    assert step.reverse == ('ALTER TABLE "public"."child" DISABLE ROW LEVEL SECURITY',)
    assert (step.kind, step.lock, step.lock_duration) == (StepKind.DDL, "ACCESS EXCLUSIVE",
                                                          "instant")
    assert step.target == ObjectRef("rls", "public", None, "child")
    assert step.target.qualified == change.object == "public.child"
    assert "relrowsecurity = true AND relforcerowsecurity = false" in step.probe


def test_forced_and_enabled_together_are_one_step():
    models = pair(with_rls(), with_rls(True, True))
    (step,) = make_plan(*models).steps
    assert step.sql == ('ALTER TABLE "public"."child" ENABLE ROW LEVEL SECURITY',
                        'ALTER TABLE "public"."child" FORCE ROW LEVEL SECURITY')
    assert step.reverse[1].endswith("NO FORCE ROW LEVEL SECURITY")
    assert step.title == "enable + force row level security on public.child"


def test_missing_policy_is_created_before_rls_is_switched_on():
    tenant = Policy("Tenant's", command="UPDATE", permissive=False,
                    roles=("app", "pg_monitor"), using="(qty > 0)", with_check="(qty < 10)")
    models = pair(with_rls(), with_rls(True, policies=[tenant]))
    plan = make_plan(*models)
    assert [s.id for s in plan.steps] == ["01-policy-child-Tenant's", "02-rls-child"]
    create = plan.steps[0]
    assert create.sql == ('CREATE POLICY "Tenant\'s" ON "public"."child" AS RESTRICTIVE FOR '
                          'UPDATE TO "app", "pg_monitor" USING ((qty > 0)) '
                          'WITH CHECK ((qty < 10))',)
    assert create.reverse == ('DROP POLICY IF EXISTS "Tenant\'s" ON "public"."child"',)
    assert create.creates == (ObjectRef("policy", "public", "child", "Tenant's"),)
    assert "polname = 'Tenant''s'" in create.probe


def test_changed_policy_is_dropped_and_created_in_one_step_and_reversible():
    other = replace(OWNER, command="SELECT", using="(name = SESSION_USER)")
    models = pair(with_rls(True, policies=[OWNER]), with_rls(True, policies=[other]))
    change = only(models[2], "policy", "different")
    assert change.attributes == ("command", "using")
    (step,) = rls.plan(change, context(models)).steps
    assert step.kind == StepKind.DDL and step.creates == ()
    assert step.sql == ('DROP POLICY IF EXISTS "child_owner" ON "public"."child"',
                        'CREATE POLICY "child_owner" ON "public"."child" AS PERMISSIVE FOR '
                        'SELECT TO PUBLIC USING ((name = SESSION_USER))')
    assert step.reverse[1].endswith("FOR ALL TO PUBLIC USING ((name = CURRENT_USER))")
    # The probe checks the whole policy, names compared without their qualifiers.
    assert "p.polcmd = 'r'" in step.probe and "regexp_replace" in step.probe
    assert "p.polwithcheck IS NULL" in step.probe


def test_extra_policy_is_kept_never_dropped():
    models = pair(with_rls(True, policies=[OWNER]), with_rls(True))
    change = only(models[2], "policy", "extra")
    assert handler_for(change) is extra.plan
    plan = make_plan(*models)
    assert plan.steps == () and [k.object for k in plan.kept] == ["public.child.child_owner"]


def test_whitespace_in_expressions_is_not_drift():
    spaced = replace(OWNER, using="(name =\n  CURRENT_USER)")
    models = pair(with_rls(True, policies=[OWNER]), with_rls(True, policies=[spaced]))
    assert models[2].significant == ()


def test_policy_on_a_missing_table_is_refused():
    models = pair(with_rls(), with_rls())
    change = Change("missing", "policy", "public.gone.p", "public.gone",
                    expected=OWNER.to_dict())
    out = rls.plan(change, context(models))
    assert out.steps == [] and out.unsupported[0].why == "table is missing"


def test_sides_are_described_in_words():
    assert describe_side("rls", {"enabled": True, "forced": False}) == \
        "row level security enabled"
    assert describe_side("policy", replace(OWNER, permissive=False).to_dict()) == \
        "RESTRICTIVE FOR ALL TO public USING ((name = CURRENT_USER))"


def test_old_model_dicts_read_with_rls_off_and_old_versions_are_refused():
    table = with_rls(True, True, [OWNER])
    d = table.to_dict()
    assert Table.from_dict(d) == table
    for key in ("rls_enabled", "rls_forced", "policies"):
        d.pop(key)
    assert Table.from_dict(d) == replace(table, rls_enabled=False, rls_forced=False,
                                         policies=())
    schema = Schema(tables=(table,)).to_dict()
    assert Schema.from_dict(schema).tables == (table,)
    with pytest.raises(ValueError, match="version 1"):
        Schema.from_dict({**schema, "model_version": 1})
