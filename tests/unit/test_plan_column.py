"""Columns: missing, and different in type, default or nullability."""
from __future__ import annotations

from dataclasses import replace

from pgreconcile.plan.kinds import column
from pgreconcile.plan.planner import make_plan
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import diff_schemas
from pgreconcile.schema.model import Column, Constraint, Enum, Schema, Table, View

from .builders import child, child_columns, only, pair, pk
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
    assert "pg_get_expr" in add.probe and "'false'" in add.probe  # the default is checked
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


def test_a_missing_stored_generated_column_is_added_generated_as_a_rewrite():
    col = Column("total", "numeric(12,2)", generated="s", generation_expression="(a * b)")
    out, _ = planned(child(), child(with_columns(col)))
    (step,) = out.steps
    assert step.sql == (f'ALTER TABLE {T} ADD COLUMN IF NOT EXISTS "total" numeric(12,2) '
                        "GENERATED ALWAYS AS ((a * b)) STORED",)
    assert (step.lock, step.lock_duration, step.destructive) == \
        ("ACCESS EXCLUSIVE", "rewrite", False)
    assert step.estimated_rows == 500
    assert "attgenerated = 's'" in step.probe and "pg_get_expr" in step.probe


def test_a_missing_virtual_generated_column_is_instant():
    col = Column("area", "integer", generated="v", generation_expression="(a * b)")
    out, _ = planned(child(), child(with_columns(col)))
    (step,) = out.steps
    assert step.sql[0].endswith("GENERATED ALWAYS AS ((a * b)) VIRTUAL")
    assert step.lock_duration == "instant" and "attgenerated = 'v'" in step.probe


def test_a_missing_column_keeps_its_collation_and_the_probe_checks_it():
    col = Column("sort_key", "text", collation="public.bytewise")
    out, _ = planned(child(), child(with_columns(col)))
    (step,) = out.steps
    assert step.sql == (f'ALTER TABLE {T} ADD COLUMN IF NOT EXISTS "sort_key" text '
                        "COLLATE public.bytewise",)
    assert "'public.bytewise'::regcollation" in step.probe


def test_a_missing_identity_column_on_rows_is_filled_by_postgres_without_not_null_steps():
    col = Column("n", "bigint", True, identity="a")
    out, _ = planned(child(), child(with_columns(col)))
    (step,) = out.steps
    assert step.sql[0].endswith('"n" bigint GENERATED ALWAYS AS IDENTITY')
    assert step.lock_duration == "rewrite" and out.unsupported == []


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
    assert "format_type(atttypid, atttypmod)" in step.probe
    assert "'character varying(40)'" in step.probe
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


# -- type changes with USING, under dependent views; identity; NOT NULL under a key -------
def test_text_to_integer_casts_explicitly_is_destructive_and_checks_values_first():
    out, _ = planned(child(), child(with_columns(changed=Column("note", "integer"))),
                     bucket="different")
    (step,) = out.steps
    assert step.sql == (f'ALTER TABLE {T} ALTER COLUMN "note" TYPE integer USING '
                        '("note"::integer)',)
    assert step.reverse == (f'ALTER TABLE {T} ALTER COLUMN "note" TYPE text',)
    assert (step.destructive, step.lock_duration) == (True, "rewrite")
    assert "pg_input_is_valid(\"note\"::text, 'integer')" in step.precheck


def test_enum_to_enum_goes_through_text_and_an_old_default_is_set_again_after():
    mood2 = Enum("public", "mood2", ("sad", "ok", "happy", "great"))
    live = child(with_columns(changed=Column("feeling", "public.mood", False,
                                             "'ok'::public.mood")))
    exp = child(with_columns(changed=Column("feeling", "public.mood2", False,
                                            "'ok'::public.mood2")))
    models = pair(live, exp, expected_enum=mood2)
    change = only(models[2], "column", "different")
    out = column.plan(change, context(models))
    (step,) = out.steps  # the default is part of the type step
    assert step.sql == (f'ALTER TABLE {T} ALTER COLUMN "feeling" DROP DEFAULT',
                        f'ALTER TABLE {T} ALTER COLUMN "feeling" TYPE public.mood2 USING '
                        '("feeling"::text::public.mood2)',
                        f'ALTER TABLE {T} ALTER COLUMN "feeling" SET DEFAULT '
                        "'ok'::public.mood2")
    assert step.reverse[1].endswith('USING ("feeling"::text::public.mood)')
    assert step.destructive and "pg_input_is_valid" in step.precheck


def test_type_change_drops_and_recreates_the_views_that_read_the_table():
    big = View("public", "big", " SELECT child.id, child.note FROM public.child;",
               depends_on=("public.child",))
    top = View("public", "top", " SELECT big.id FROM public.big;", depends_on=("public.big",))
    new_big = replace(big, definition=" SELECT child.id, child.note, 1 AS one "
                                      "FROM public.child;")
    live_child = child()
    exp_child = child(with_columns(changed=Column("note", "character varying(200)")))
    live, expected, _ = pair(live_child, exp_child)
    live = replace(live, views=(big, top))
    expected = replace(expected, views=(new_big, top))
    diff = diff_schemas(live, expected)
    out = column.plan(only(diff, "column", "different"), context((live, expected, diff)))
    (step,) = out.steps
    assert step.sql == ('DROP VIEW IF EXISTS "public"."top"', 'DROP VIEW IF EXISTS "public"."big"',
                        f'ALTER TABLE {T} ALTER COLUMN "note" TYPE character varying(200)',
                        'CREATE VIEW "public"."big" AS SELECT child.id, child.note, 1 AS one '
                        'FROM public.child',
                        'CREATE VIEW "public"."top" AS SELECT big.id FROM public.big')
    assert step.reverse[-2] == ('CREATE VIEW "public"."big" AS SELECT child.id, child.note '
                                'FROM public.child')
    assert "2 dependent view(s)" in step.title
    # recreated as the reference has them: the view's own change needs no step
    assert out.handled == {"view:public.big"}  # top is the same on both sides
    plan = make_plan(live, expected, diff)
    assert [s.id for s in plan.steps] == ["01-type-child-note"]


def test_dependent_view_reading_a_column_added_later_is_recreated_as_live():
    big = View("public", "big", " SELECT child.id FROM public.child;",
               depends_on=("public.child",))
    new_big = replace(big, definition=" SELECT child.id, child.extra FROM public.child;")
    live, expected, _ = pair(child(), child(with_columns(
        Column("extra", "text"), changed=Column("qty", "bigint", True, "0"))))
    live, expected = replace(live, views=(big,)), replace(expected, views=(new_big,))
    diff = diff_schemas(live, expected)
    change = next(c for c in diff.significant if c.bucket == "different" and c.kind == "column")
    out = column.plan(change, context((live, expected, diff)))
    assert out.steps[0].sql[-1] == 'CREATE VIEW "public"."big" AS SELECT child.id FROM ' \
                                   'public.child'
    assert out.handled == set()
    plan = make_plan(live, expected, diff)
    assert [s.id for s in plan.steps] == ["01-add-column-child-extra", "02-type-child-qty",
                                          "03-replace-view-big"]


def test_drop_not_null_on_an_identity_column_drops_the_identity_first():
    out, _ = planned(child(with_columns(Column("n", "integer", True, identity="a"))),
                     child(with_columns(Column("n", "integer", False))), bucket="different")
    assert [s.id for s in out.steps] == ["drop-identity-child-n", "drop-not-null-child-n"]
    assert out.steps[0].sql == (f'ALTER TABLE {T} ALTER COLUMN "n" DROP IDENTITY IF EXISTS',)
    assert "attidentity = ''" in out.steps[0].probe
    assert out.steps[0].reverse[1] == (f'ALTER TABLE {T} ALTER COLUMN "n" ADD GENERATED '
                                       "ALWAYS AS IDENTITY")


def test_identity_is_added_after_not_null_with_its_sequence_past_the_values():
    out, _ = planned(child(with_columns(Column("n", "integer", False))),
                     child(with_columns(Column("n", "integer", True, identity="d"))),
                     bucket="different")
    assert [s.id for s in out.steps] == ["check-not-null-child-n", "validate-not-null-child-n",
                                         "set-not-null-child-n", "identity-child-n"]
    assert out.steps[-1].sql == (
        f'ALTER TABLE {T} ALTER COLUMN "n" DROP DEFAULT',
        f'ALTER TABLE {T} ALTER COLUMN "n" ADD GENERATED BY DEFAULT AS IDENTITY',
        f"SELECT setval(pg_get_serial_sequence('{T}', 'n'), coalesce(max(\"n\"), 0) + 1, "
        f"false) FROM {T}")
    assert "attidentity = 'd'" in out.steps[-1].probe
    out, _ = planned(child(with_columns(Column("n", "integer", True, identity="d"))),
                     child(with_columns(Column("n", "integer", True, identity="a"))),
                     bucket="different")
    (step,) = out.steps
    assert step.sql == (f'ALTER TABLE {T} ALTER COLUMN "n" SET GENERATED ALWAYS',)
    assert step.reverse == (f'ALTER TABLE {T} ALTER COLUMN "n" SET GENERATED BY DEFAULT',)


def test_serial_to_identity_drops_the_default_in_the_identity_step():
    from pgreconcile.schema.diff import Change

    live_col = Column("n", "integer", True, "nextval('public.child_n_seq'::regclass)")
    exp_col = Column("n", "integer", True, identity="a")
    live, expected, diff = pair(child(with_columns(live_col)), child(with_columns(exp_col)))
    change = Change("different", "column", "public.child.n", "public.child", live_col.to_dict(),
                    exp_col.to_dict(), attributes=("default", "identity"))
    out = column.plan(change, context((live, expected, diff)))
    (step,) = out.steps
    assert step.sql[0] == f'ALTER TABLE {T} ALTER COLUMN "n" DROP DEFAULT'
    assert step.reverse[1] == (f'ALTER TABLE {T} ALTER COLUMN "n" SET DEFAULT '
                               "nextval('public.child_n_seq'::regclass)")


def key_models(live_pk: tuple[str, ...], exp_pk: tuple[str, ...] | None, *, a_nullable=True):
    cols = [Column("a", "integer", True), Column("b", "integer", True), Column("c", "text")]
    exp_cols = [replace(cols[0], not_null=not a_nullable), *cols[1:]]
    live = Table("public", "k", tuple(cols), (pk("k", *live_pk),), row_estimate=100)
    exp = Table("public", "k", tuple(exp_cols), (pk("k", *exp_pk),) if exp_pk else (),
                row_estimate=0)
    ls, es = Schema(("public",), (live,)), Schema(("public",), (exp,))
    return ls, es, diff_schemas(ls, es)


def test_drop_not_null_in_a_moved_primary_key_comes_after_the_swap():
    plan = make_plan(*key_models(("a",), ("b",)), strategy="swap")
    assert [s.id for s in plan.steps] == ["01-unique-index-k-b", "02-swap-primary-key-k",
                                          "03-drop-not-null-k-a"]
    swap = plan.steps[1]
    assert swap.sql == ('ALTER TABLE "public"."k" DROP CONSTRAINT "k_pkey"',
                        'ALTER TABLE "public"."k" ADD CONSTRAINT "k_pkey" PRIMARY KEY USING '
                        'INDEX "k_b_uniq"')
    assert plan.unsupported == () and plan.steps[0].precheck  # duplicates counted first


def test_drop_not_null_in_a_primary_key_that_stays_is_refused_not_left_to_fail():
    plan = make_plan(*key_models(("a",), ("b",)), strategy="keep")
    assert "03-drop-not-null-k-a" not in [s.id for s in plan.steps]
    (refused,) = [u for u in plan.unsupported if u.object == "public.k.a"]
    assert "pk_strategy=keep" in refused.why
    plan = make_plan(*key_models(("a", "c"), ("b", "c")), strategy="swap")
    assert "whose move cannot be planned" in \
        next(u.why for u in plan.unsupported if u.object == "public.k.a")
    plan = make_plan(*key_models(("a",), None))
    assert "--drop-extra" in next(u.why for u in plan.unsupported if u.object == "public.k.a")
    plan = make_plan(*key_models(("a",), None), drop_extra=True)
    assert [s.id for s in plan.steps][:2] == ["01-drop-primary-key-k", "02-drop-not-null-k-a"]
    assert plan.steps[0].destructive


def test_key_moved_to_an_existing_column_is_refused_while_foreign_keys_use_the_old_one():
    live, expected, _ = key_models(("a",), ("b",))
    ref = Table("public", "r", (Column("k_a", "integer"),), (Constraint(
        "r_k_a_fkey", "fk", ("k_a",), "FOREIGN KEY (k_a) REFERENCES public.k(a)",
        ref_table="public.k", ref_columns=("a",)),))
    live = replace(live, tables=(live.tables[0], ref))
    expected = replace(expected, tables=(expected.tables[0], ref))
    plan = make_plan(live, expected, diff_schemas(live, expected), strategy="swap")
    assert plan.steps == ()
    why = {u.object: u.why for u in plan.unsupported}
    assert "foreign keys reference the old key (public.r.r_k_a_fkey)" in why["public.k.k_pkey"]
    assert "whose move cannot be planned" in why["public.k.a"]
