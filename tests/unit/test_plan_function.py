"""Functions and procedures: created with body checks off, replaced, or dropped and
created when the kind or return type changes. Changes are built by hand (the diff of
functions is not needed to plan one)."""
from __future__ import annotations

from dataclasses import replace

from pgreconcile.plan.context import PlanContext
from pgreconcile.plan.kinds import HANDLERS, function
from pgreconcile.schema.diff import Change, Diff
from pgreconcile.schema.model import Function, Schema

BODY = ("CREATE OR REPLACE FUNCTION public.total(p integer)\n RETURNS bigint\n LANGUAGE sql\n"
        "AS $function$SELECT sum(qty) FROM public.child WHERE parent_id = p$function$\n")
TOTAL = Function("public", "total", "p integer", "f", "bigint", "sql", BODY)


def plan(change: Change):
    ctx = PlanContext(Schema(), Schema(), Diff((change,)))
    return HANDLERS[(change.kind, change.bucket)](change, ctx)


def changed(live: Function, expected: Function, *attributes: str) -> Change:
    return Change("different", "function", expected.qualified_name, None, live.to_dict(),
                  expected.to_dict(), attributes=attributes)


def test_missing_function_runs_its_definition_with_body_checks_off():
    out = plan(Change("missing", "function", TOTAL.qualified_name, None,
                      expected=TOTAL.to_dict()))
    (step,) = out.steps
    assert step.sql == ("SET LOCAL check_function_bodies = off", BODY.strip())
    assert step.reverse == ('DROP FUNCTION IF EXISTS "public"."total"(p integer)',)
    assert step.target.name == "total(p integer)" and step.creates == (step.target,)
    assert not step.destructive and step.table is None
    # found by name, kind and identity arguments; definition compared without qualifiers
    assert "p.proname = 'total'" in step.probe and "p.prokind = 'f'" in step.probe
    assert "pg_get_functiondef(p.oid)" in step.probe and "regexp_replace" in step.probe


def test_changed_body_is_replaced_in_place_with_a_drop_and_create_fallback():
    live = replace(TOTAL, definition=BODY.replace("sum(qty)", "count(*)"))
    out = plan(changed(live, TOTAL, "definition"))
    (step,) = out.steps
    assert step.sql[0] == "SET LOCAL check_function_bodies = off"
    block = step.sql[1]
    assert block.startswith("DO $pgreconcile$\nBEGIN\nCREATE OR REPLACE FUNCTION public.total")
    assert "EXCEPTION WHEN invalid_function_definition THEN\nDROP FUNCTION IF EXISTS " \
           '"public"."total"(p integer);\nCREATE OR REPLACE' in block
    assert "count(*)" in step.reverse[1] and not step.destructive


def test_changed_return_type_drops_and_creates_and_is_destructive():
    live = replace(TOTAL, returns="integer",
                   definition=BODY.replace("bigint", "integer").replace("sum(qty)", "1"))
    out = plan(changed(live, TOTAL, "definition", "returns"))
    (step,) = out.steps
    assert step.sql == ("SET LOCAL check_function_bodies = off",
                        'DROP FUNCTION IF EXISTS "public"."total"(p integer)', BODY.strip())
    assert step.destructive and "returning integer live" in step.title


def test_function_that_became_a_procedure_is_dropped_as_a_function():
    proc = Function("public", "total", "p integer", "p", None, "sql",
                    BODY.replace("FUNCTION", "PROCEDURE").replace(" RETURNS bigint\n", ""))
    out = plan(changed(TOTAL, proc, "kind", "returns"))
    (step,) = out.steps
    assert step.sql[1] == 'DROP FUNCTION IF EXISTS "public"."total"(p integer)'
    assert step.reverse[1] == 'DROP PROCEDURE IF EXISTS "public"."total"(p integer)'
    assert "p.prokind = 'p'" in step.probe


def test_aggregates_are_refused():
    agg = Function("public", "mysum", "integer", "a", "integer", "internal", "")
    out = plan(Change("missing", "function", agg.qualified_name, None, expected=agg.to_dict()))
    assert out.steps == [] and "aggregates" in out.unsupported[0].why
    assert function.kind_word(agg) == "FUNCTION"
