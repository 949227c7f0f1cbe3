"""Sequences: missing free-standing ones, options that differ, and a sequence behind its
column (setval, never backwards). Hand-built changes, no database."""
from __future__ import annotations

from dataclasses import replace

from pgreconcile.plan.context import PlanContext
from pgreconcile.plan.kinds import sequence
from pgreconcile.plan.planner import make_plan
from pgreconcile.plan.steps import ObjectRef
from pgreconcile.schema.diff import Change, Diff, diff_schemas
from pgreconcile.schema.model import Column, Schema, Sequence, Table

from .builders import pk

ORDERS = Table("public", "orders", columns=(Column("id", "integer", not_null=True),
                                            Column("note", "text")),
               constraints=(pk("orders", "id"),), row_estimate=1000)
S = '"public"."orders_id_seq"'
SEQ = Sequence("public", "orders_id_seq", "integer", maximum=2147483647,
               owned_by="public.orders.id")
FREE = Sequence("public", "ticket_no", "bigint", start=1000, increment=10, cache=5,
                cycle=True)


def ctx(live_tables=(ORDERS,), changes=()) -> PlanContext:
    live = Schema(namespaces=("public",), tables=tuple(live_tables))
    return PlanContext(live, live, Diff(tuple(changes)))


def different(live: Sequence, expected: Sequence, *attributes: str) -> Change:
    return Change("different", "sequence", expected.qualified_name, expected.owner_table,
                  live.to_dict(), expected.to_dict(), attributes=attributes)


def test_missing_free_sequence_is_created_with_every_option():
    change = Change("missing", "sequence", "public.ticket_no", None, expected=FREE.to_dict())
    (step,) = sequence.plan(change, ctx()).steps
    assert step.sql == ('CREATE SEQUENCE IF NOT EXISTS "public"."ticket_no" AS bigint '
                        "INCREMENT BY 10 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH "
                        "1000 CACHE 5 CYCLE",)
    assert step.probe == """SELECT to_regclass('"public"."ticket_no"') IS NOT NULL"""
    assert step.reverse == ('DROP SEQUENCE IF EXISTS "public"."ticket_no"',)
    ref = ObjectRef("sequence", "public", None, "ticket_no")
    assert (step.target, step.creates, step.destructive) == (ref, (ref,), False)


def test_missing_serial_sequence_of_an_existing_column_is_owned_and_moved_past_its_rows():
    change = Change("missing", "sequence", SEQ.qualified_name, "public.orders",
                    expected=SEQ.to_dict())
    create, catch_up = sequence.plan(change, ctx()).steps
    assert create.sql[1] == f'ALTER SEQUENCE {S} OWNED BY "public"."orders"."id"'
    assert "d.deptype IN ('a', 'i')" in create.probe and "a.attname = 'id'" in create.probe
    assert catch_up.sql == (
        f"""SELECT setval('{S}'::regclass, GREATEST((SELECT max("id") FROM "public"."orders"), """
        f"(SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {S})), "
        "true)",)
    assert catch_up.reverse == () and catch_up.table == "public.orders"


def test_missing_sequence_whose_column_is_missing_too_skips_owned_by_with_a_note():
    seq = replace(SEQ, owned_by="public.orders.number")
    change = Change("missing", "sequence", seq.qualified_name, "public.orders",
                    expected=seq.to_dict())
    out = sequence.plan(change, ctx())
    (step,) = out.steps
    assert len(step.sql) == 1 and "OWNED BY is planned on the next run" in out.notes[0]


def test_increment_changed_is_one_alter_sequence_with_its_reverse():
    change = different(SEQ, replace(SEQ, increment=5), "increment")
    (step,) = sequence.plan(change, ctx()).steps
    assert step.sql == (f"ALTER SEQUENCE {S} INCREMENT BY 5",)
    assert step.reverse == (f"ALTER SEQUENCE IF EXISTS {S} INCREMENT BY 1",)
    assert "s.seqincrement = 5" in step.probe and f"to_regclass('{S}')" in step.probe
    assert step.lock_duration == "instant" and not step.destructive and step.precheck == ""


def test_narrower_type_states_its_limits_and_prechecks_the_current_value():
    wide = replace(SEQ, data_type="bigint", maximum=9223372036854775807)
    change = different(wide, SEQ, "data_type", "maximum")
    (step,) = sequence.plan(change, ctx()).steps
    assert step.sql == (f"ALTER SEQUENCE {S} AS integer MINVALUE 1 MAXVALUE 2147483647",)
    assert "s.seqtypid = 'integer'::regtype" in step.probe
    assert "last_value > 2147483647" in step.precheck


def test_cycle_cache_and_owner_use_their_clauses():
    live = replace(SEQ, owned_by=None)
    change = different(live, replace(SEQ, cycle=True, cache=20), "cache", "cycle", "owned_by")
    (step,) = sequence.plan(change, ctx()).steps
    assert step.sql == (f'ALTER SEQUENCE {S} CACHE 20 CYCLE OWNED BY "public"."orders"."id"',)
    assert step.reverse == (f"ALTER SEQUENCE IF EXISTS {S} CACHE 1 NO CYCLE OWNED BY NONE",)


def test_behind_is_one_setval_step_that_never_moves_backwards():
    live = replace(SEQ, last_value=3, column_max=500)
    assert live.behind
    (step,) = sequence.plan(different(live, SEQ, "behind"), ctx()).steps
    assert "GREATEST((SELECT max(\"id\") FROM \"public\".\"orders\")" in step.sql[0]
    assert step.sql[0].endswith(", true)")
    assert step.probe == (
        'SELECT COALESCE((SELECT max("id") FROM "public"."orders") <= (SELECT CASE WHEN '
        f"is_called THEN last_value ELSE last_value - 1 END FROM {S}), true)")
    assert step.reverse == () and not step.destructive
    assert step.lock == "ACCESS SHARE" and step.target.qualified == "public.orders_id_seq"


def test_behind_with_an_option_change_alters_first_then_catches_up():
    live = replace(SEQ, last_value=3, column_max=500)
    change = different(live, replace(SEQ, cache=10), "cache", "behind")
    alter, catch_up = sequence.plan(change, ctx()).steps
    assert alter.sql == (f"ALTER SEQUENCE {S} CACHE 10",)
    assert catch_up.sql[0].startswith("SELECT setval(")


def test_behind_uses_the_live_name_when_the_reference_names_it_otherwise():
    live = replace(SEQ, name="orders_id_seq1", last_value=1, column_max=9)
    (step,) = sequence.plan(different(live, SEQ, "behind"), ctx()).steps
    assert '"public"."orders_id_seq1"' in step.sql[0]


def test_free_sequence_a_missing_table_uses_comes_before_the_table():
    table = Table("public", "ticket", columns=(
        Column("no", "bigint", default="nextval('public.ticket_no'::regclass)"),))
    live = Schema(namespaces=("public",))
    expected = Schema(namespaces=("public",), tables=(table,), sequences=(FREE,))
    plan = make_plan(live, expected, diff_schemas(live, expected))
    assert [s.title for s in plan.steps] == ["CREATE SEQUENCE public.ticket_no",
                                             "CREATE TABLE public.ticket"]
    assert plan.unsupported == ()


def test_serial_sequence_of_a_missing_table_is_not_planned_twice():
    table = Table("public", "orders", columns=(Column(
        "id", "integer", not_null=True,
        default="nextval('public.orders_id_seq'::regclass)"),))
    live = Schema(namespaces=("public",))
    expected = Schema(namespaces=("public",), tables=(table,), sequences=(SEQ,))
    plan = make_plan(live, expected, diff_schemas(live, expected))
    (step,) = plan.steps
    assert step.title == "CREATE TABLE public.orders" and step.sql[0].startswith(
        "CREATE SEQUENCE IF NOT EXISTS")
