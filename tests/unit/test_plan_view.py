"""Views and materialized views: missing, replaced, recreated with their dependants."""
from __future__ import annotations

from dataclasses import replace

from pgreconcile.plan.context import PlanContext
from pgreconcile.plan.kinds import view
from pgreconcile.plan.planner import make_plan
from pgreconcile.plan.steps import ObjectRef
from pgreconcile.schema.diff import diff_schemas
from pgreconcile.schema.model import Comment, Privilege, View

from .builders import child, index, only, pair

BIG = View("public", "big_child", " SELECT child.id,\n    child.qty\n   FROM public.child\n"
           "  WHERE (child.qty > 9);", depends_on=("public.child",))
BIGGER = View("public", "a_bigger", " SELECT big_child.id\n   FROM public.big_child\n  WHERE "
              "(big_child.qty > 99);", depends_on=("public.big_child",))
MV = View("public", "qty_totals", " SELECT child.parent_id,\n    sum(child.qty) AS total\n"
          "   FROM public.child\n  GROUP BY child.parent_id;", materialized=True,
          indexes=(index("qty_totals_parent", ("parent_id",), table="qty_totals",
                         unique=True),),
          depends_on=("public.child",))


def models(live_views=(), expected_views=(), **live_extra):
    live, expected, _ = pair(child(), child())
    live = replace(live, views=tuple(sorted(live_views, key=lambda v: v.qualified_name)),
                   **live_extra)
    expected = replace(expected, views=tuple(sorted(expected_views,
                                                    key=lambda v: v.qualified_name)))
    return live, expected, diff_schemas(live, expected)


def planned(live_views=(), expected_views=(), bucket="missing", obj=None, **live_extra):
    live, expected, diff = models(live_views, expected_views, **live_extra)
    change = next(c for c in diff.significant if c.kind == "view" and c.bucket == bucket
                  and (obj is None or c.object == obj))
    return view.plan(change, PlanContext(live, expected, diff)), diff


def test_missing_view_is_created_from_its_select_in_one_instant_step():
    out, _ = planned(expected_views=(BIG,))
    (step,) = out.steps
    ref = ObjectRef("view", "public", None, "big_child")
    assert step.id == "create-view-big_child" and (step.target, step.creates) == (ref, (ref,))
    assert step.sql == ('CREATE VIEW "public"."big_child" AS SELECT child.id,\n    child.qty\n'
                        '   FROM public.child\n  WHERE (child.qty > 9)',)
    assert step.reverse == ('DROP VIEW IF EXISTS "public"."big_child"',)
    assert (step.lock_duration, step.destructive, step.table) == ("instant", False, None)
    # The probe compares the printed definition without qualifiers and whitespace.
    assert "c.relkind = 'v'" in step.probe and "pg_get_viewdef(c.oid)" in step.probe
    assert "regexp_replace" in step.probe and out.unsupported == []


def test_missing_materialized_view_is_filled_and_indexed_in_the_same_step():
    out, _ = planned(expected_views=(MV,))
    (step,) = out.steps
    assert step.sql[0].startswith('CREATE MATERIALIZED VIEW "public"."qty_totals" AS SELECT')
    assert step.sql[0].endswith("GROUP BY child.parent_id WITH DATA")
    assert step.sql[1] == ("CREATE UNIQUE INDEX qty_totals_parent ON public.qty_totals USING "
                           "btree (parent_id)")
    assert step.lock_duration == "scan"
    assert "c.relkind = 'm'" in step.probe and "x.relname = 'qty_totals_parent'" in step.probe
    assert step.reverse == ('DROP MATERIALIZED VIEW IF EXISTS "public"."qty_totals"',)


def test_a_missing_view_that_reads_a_later_missing_view_creates_that_one_first():
    # a_bigger sorts before big_child, but reads it: big_child is created first, once.
    live, expected, diff = models(expected_views=(BIG, BIGGER))
    plan = make_plan(live, expected, diff)
    assert [s.id for s in plan.steps] == ["01-create-view-big_child", "02-create-view-a_bigger"]


def test_changed_plain_view_is_replaced_in_place_with_a_drop_and_create_fallback():
    old_big = replace(BIG, definition=" SELECT child.id,\n    child.qty\n   FROM public.child;")
    new_bigger = replace(BIGGER, definition=BIGGER.definition.replace("99", "100"))
    grant = Privilege("view", "public.big_child", "app_ro", ("SELECT",))
    note = Comment("view", "public.big_child", "big ones")
    out, diff = planned((old_big, BIGGER), (BIG, new_bigger), bucket="different",
                        obj="public.big_child", privileges=(grant,), comments=(note,))
    (step,) = out.steps
    (block,) = step.sql
    assert block.startswith("DO $pgreconcile$\nBEGIN\nCREATE OR REPLACE VIEW "
                            '"public"."big_child" AS SELECT')
    fallback = block.split("EXCEPTION WHEN invalid_table_definition THEN\n")[1].split(";\n")
    # dependants dropped first, then the view; created again with grants and comment
    assert fallback[:2] == ['DROP VIEW IF EXISTS "public"."a_bigger"',
                            'DROP VIEW IF EXISTS "public"."big_child"']
    assert fallback[2].startswith('CREATE VIEW "public"."big_child" AS SELECT')
    assert fallback[3:5] == ['GRANT SELECT ON TABLE "public"."big_child" TO "app_ro"',
                             'COMMENT ON VIEW "public"."big_child" IS \'big ones\'']
    assert fallback[5].startswith('CREATE VIEW "public"."a_bigger"') and "100" in fallback[5]
    # the dependant is recreated as the reference has it only if the fallback runs: its
    # own change keeps its own step
    assert out.handled == set()
    # the reverse recreates the live definition (and the live dependant)
    assert "WHERE (child.qty > 9)" not in step.reverse[0].split("EXCEPTION")[0]
    assert "99" in step.reverse[0]
    assert "recreate 1 dependent view(s)" in step.title and step.lock_duration == "instant"


def test_changed_materialized_view_is_dropped_and_created_with_its_dependants():
    live_mv = replace(MV, definition=MV.definition.replace("sum(child.qty)", "count(*)"))
    reader = View("public", "top_totals", " SELECT qty_totals.total\n   FROM "
                  "public.qty_totals;", depends_on=("public.qty_totals",))
    out, _ = planned((live_mv, reader), (MV, reader), bucket="different")
    (step,) = out.steps
    assert step.sql[0] == 'DROP VIEW IF EXISTS "public"."top_totals"'
    assert step.sql[1] == 'DROP MATERIALIZED VIEW IF EXISTS "public"."qty_totals"'
    assert "sum(child.qty)" in step.sql[2] and step.sql[2].endswith("WITH DATA")
    assert step.sql[3].startswith("CREATE UNIQUE INDEX qty_totals_parent")
    assert step.sql[4].startswith('CREATE VIEW "public"."top_totals"')
    assert "count(*)" in step.reverse[2] and step.lock_duration == "scan"
    assert not step.destructive


def test_view_that_becomes_materialized_is_recreated():
    plain = replace(MV, materialized=False, indexes=())
    out, diff = planned((plain,), (MV,), bucket="different")
    assert set(only(diff, "view", "different").attributes) == {"materialized"}
    (step,) = out.steps
    assert step.sql[0] == 'DROP VIEW IF EXISTS "public"."qty_totals"'
    assert step.sql[1].startswith('CREATE MATERIALIZED VIEW "public"."qty_totals"')
    assert step.reverse[0] == 'DROP MATERIALIZED VIEW IF EXISTS "public"."qty_totals"'
    assert step.reverse[1].startswith('CREATE VIEW "public"."qty_totals"')


def test_dependants_are_found_transitively_in_creation_order():
    live, _, _ = models((BIG, BIGGER, MV))
    assert [v.name for v in view.dependants(live, {"public.child"})] == \
        ["big_child", "a_bigger", "qty_totals"]
    assert [v.name for v in view.dependants(live, {"public.big_child"})] == ["a_bigger"]
    assert view.dependants(live, {"public.parent"}) == []


def test_a_chain_of_missing_views_is_created_readers_last_whatever_their_names():
    base = View("public", "b_base", " SELECT child.id FROM public.child;",
                depends_on=("public.child",))
    mid = View("public", "c_mid", " SELECT b_base.id FROM public.b_base;",
               depends_on=("public.b_base",))
    top = View("public", "a_top", " SELECT c_mid.id FROM public.c_mid;",
               depends_on=("public.c_mid",))
    live, expected, diff = models(expected_views=(base, mid, top))
    plan = make_plan(live, expected, diff)
    assert [s.id for s in plan.steps] == ["01-create-view-b_base", "02-create-view-c_mid",
                                          "03-create-view-a_top"]


GUARDED = replace(BIG, options=("check_option=cascaded", "security_barrier=true"))


def test_a_missing_view_is_created_with_its_options():
    out, _ = planned(expected_views=(GUARDED,))
    (step,) = out.steps
    assert step.sql[0].startswith('CREATE VIEW "public"."big_child" WITH ("check_option" = '
                                  "'cascaded', \"security_barrier\" = 'true') AS SELECT")
    assert "reloptions" in step.probe and "'security_barrier=true'" in step.probe


def test_options_only_are_set_and_reset_in_place_instantly():
    live = replace(BIG, options=("check_option=local", "security_invoker=true"))
    out, diff = planned((live,), (GUARDED,), bucket="different")
    assert [c.attributes for c in diff.significant if c.kind == "view"] == [("options",)]
    (step,) = out.steps
    q = '"public"."big_child"'
    assert step.sql == (f'ALTER VIEW {q} RESET ("security_invoker")',
                        f"ALTER VIEW {q} SET (\"check_option\" = 'cascaded', "
                        "\"security_barrier\" = 'true')")
    assert step.reverse == (f'ALTER VIEW {q} RESET ("security_barrier")',
                            f"ALTER VIEW {q} SET (\"check_option\" = 'local', "
                            "\"security_invoker\" = 'true')")
    assert (step.lock, step.lock_duration, step.destructive) == \
        ("ACCESS EXCLUSIVE (the view)", "instant", False)
    assert "ARRAY['check_option=cascaded', 'security_barrier=true']::text[]" in step.probe


def test_a_replaced_view_gets_its_options_in_create_or_replace():
    live = replace(BIG, definition=" SELECT child.id\n   FROM public.child;",
                   options=("security_barrier=true",))
    out, _ = planned((live,), (replace(BIG, options=("check_option=local",)),),
                     bucket="different")
    (step,) = out.steps
    assert "CREATE OR REPLACE VIEW \"public\".\"big_child\" WITH (\"check_option\" = " \
        "'local') AS" in step.sql[0]
    assert "ARRAY['check_option=local']::text[]" in step.probe
