"""Comments: COMMENT ON the right kind of object, reverse = the live text or NULL.
Hand-built changes, no database."""
from __future__ import annotations

from pgreconcile.plan.context import PlanContext
from pgreconcile.plan.kinds import comment
from pgreconcile.schema.diff import Change, Diff
from pgreconcile.schema.model import Comment, Function, Schema, View

FN = Function("public", "total", "a integer, b text", returns="integer")
PROC = Function("public", "tidy", "", kind="p")
CTX = PlanContext(Schema(), Schema(functions=(FN, PROC), views=(
    View("public", "summary", "SELECT 1", materialized=True),)), Diff())


def planned(kind: str, obj: str, text: str, live: str | None = None, table=None):
    new = Comment(kind, obj, text)
    change = Change("missing" if live is None else "different", "comment", new.key, table,
                    None if live is None else Comment(kind, obj, live).to_dict(),
                    new.to_dict(), attributes=("text",))
    (step,) = comment.plan(change, CTX).steps
    return step


def test_missing_table_comment_is_set_and_reverse_removes_it():
    step = planned("table", "public.orders", "it's the orders", table="public.orders")
    assert step.sql == ("""COMMENT ON TABLE "public"."orders" IS 'it''s the orders'""",)
    assert step.reverse == ('COMMENT ON TABLE "public"."orders" IS NULL',)
    assert step.probe == ("""SELECT obj_description(to_regclass('"public"."orders"'), """
                          """'pg_class') IS NOT DISTINCT FROM 'it''s the orders'""")
    assert step.table == "public.orders" and step.lock_duration == "instant"


def test_different_column_comment_reverts_to_the_live_text():
    step = planned("column", "public.orders.total", "new", live="old", table="public.orders")
    assert step.sql == ("""COMMENT ON COLUMN "public"."orders"."total" IS 'new'""",)
    assert step.reverse == ("""COMMENT ON COLUMN "public"."orders"."total" IS 'old'""",)
    assert "col_description(" in step.probe and "attname = 'total'" in step.probe


def test_function_comment_names_its_identity_arguments():
    step = planned("function", FN.qualified_name, "sums")
    assert step.sql == ("""COMMENT ON FUNCTION "public"."total"(a integer, b text) IS 'sums'""",)
    assert "pg_get_function_identity_arguments(p.oid) = 'a integer, b text'" in step.probe
    step = planned("function", PROC.qualified_name, "tidies")
    assert step.sql == ("""COMMENT ON PROCEDURE "public"."tidy"() IS 'tidies'""",)


def test_schema_type_domain_sequence_and_materialized_view_comments():
    assert planned("schema", "billing", "x").sql == ("""COMMENT ON SCHEMA "billing" IS 'x'""",)
    assert planned("type", "public.mood", "x").sql == (
        """COMMENT ON TYPE "public"."mood" IS 'x'""",)
    assert planned("domain", "public.amount", "x").sql == (
        """COMMENT ON DOMAIN "public"."amount" IS 'x'""",)
    assert planned("sequence", "public.s", "x").sql == (
        """COMMENT ON SEQUENCE "public"."s" IS 'x'""",)
    assert planned("view", "public.summary", "x").sql == (
        """COMMENT ON MATERIALIZED VIEW "public"."summary" IS 'x'""",)


def test_comment_on_an_unknown_function_is_refused():
    new = Comment("function", "public.gone(integer)", "x")
    out = comment.plan(Change("missing", "comment", new.key, None, None, new.to_dict()), CTX)
    assert out.steps == [] and out.unsupported
