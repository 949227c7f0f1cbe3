"""The refusals every face calls as free functions, before anything connects."""
from __future__ import annotations

from dataclasses import replace

import pytest

from pgreconcile.apply.options import ApplyOptions
from pgreconcile.apply.refusals import refuse_destructive, refuse_unsupported, unsupported_refusal
from pgreconcile.errors import EXIT_REFUSED, EXIT_USAGE, DestructiveStepRefused, UsageError
from pgreconcile.plan.planner import make_plan
from pgreconcile.plan.steps import DriftNote


def test_destructive_steps_are_refused_unless_allowed(seed_models):
    plan = make_plan(*seed_models, strategy="swap")
    with pytest.raises(DestructiveStepRefused) as err:
        refuse_destructive(plan, allow_destructive=False)
    assert "2 destructive step(s)" in str(err.value) and "09-drop-old-key" in str(err.value)
    assert err.value.exit_code == EXIT_REFUSED and "--allow-destructive" in err.value.hint
    refuse_destructive(plan, allow_destructive=True)
    refuse_destructive(make_plan(*seed_models), allow_destructive=False)


def test_unsupported_refusal_text_is_built_in_one_place(seed_models):
    plan = make_plan(*seed_models)
    assert unsupported_refusal(plan) is None
    refuse_unsupported(plan)
    notes = tuple(DriftNote("missing", "table", f"public.t{i}", f"why {i}") for i in range(5))
    plan = replace(plan, unsupported=notes)
    refusal = unsupported_refusal(plan)
    assert str(refusal) == ("5 difference(s) cannot be fixed safely: public.t0: why 0; "
                            "public.t1: why 1; public.t2: why 2")
    assert refusal.hint == "write a migration for these, or reconcile them by hand"
    with pytest.raises(type(refusal), match="5 difference"):
        refuse_unsupported(plan)


@pytest.mark.parametrize("field, value", [
    ("lock_timeout", "2s'; DROP TABLE x; --"), ("lock_timeout", "soon"),
    ("statement_timeout", "1 fortnight"), ("retries", 0), ("batch_size", 0),
    ("batch_delay", -1.0)])
def test_apply_options_refuse_bad_values_before_any_sql(field, value):
    with pytest.raises(UsageError) as err:
        ApplyOptions(**{field: value})
    assert field.split("_")[0] in str(err.value) and err.value.exit_code == EXIT_USAGE


@pytest.mark.parametrize("value", ["2s", "300ms", "0", "1min", "1.5s", "2000", "1 h"])
def test_apply_options_accept_postgres_durations(value):
    assert ApplyOptions(lock_timeout=value).lock_timeout == value
