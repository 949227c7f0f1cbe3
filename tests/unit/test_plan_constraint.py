"""A missing constraint: NOT VALID + VALIDATE, or a unique index attached USING INDEX.
A changed one: replaced NOT VALID + VALIDATE, or its new index built CONCURRENTLY and
swapped in; a moved primary key stays primary_key's."""
from __future__ import annotations

from dataclasses import replace as dc_replace

from pgreconcile.plan.kinds import constraint, handler_for, primary_key
from pgreconcile.plan.planner import make_plan
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import diff_schemas
from pgreconcile.schema.model import Column, Constraint, Table

from .builders import child, child_columns, only, pair
from .conftest import context

T = '"public"."child"'
FK = Constraint("child_parent_fk", "fk", ("parent_id",),
                "FOREIGN KEY (parent_id) REFERENCES public.parent(id) ON DELETE CASCADE",
                ref_table="public.parent", ref_columns=("id",), on_delete="CASCADE",
                on_update="NO ACTION")


def planned(con: Constraint):
    models = pair(child(), child(constraints=[con]))
    return constraint.plan(only(models[2], "constraint", "missing"), context(models))


def test_foreign_key_is_added_not_valid_then_validated_with_an_orphan_check():
    out = planned(FK)
    add, validate = out.steps
    ref = ObjectRef("constraint", "public", "child", "child_parent_fk")
    assert add.sql == (f'ALTER TABLE {T} ADD CONSTRAINT "child_parent_fk" FOREIGN KEY '
                       '(parent_id) REFERENCES public.parent(id) ON DELETE CASCADE NOT VALID',)
    assert add.reverse == (f'ALTER TABLE {T} DROP CONSTRAINT IF EXISTS "child_parent_fk"',)
    assert (add.target, add.creates) == (ref, (ref,))
    assert (add.lock, add.lock_duration) == ("SHARE ROW EXCLUSIVE", "instant")
    assert 'NOT EXISTS (SELECT 1 FROM "public"."parent" AS p WHERE p."id" = c."parent_id")' \
        in add.precheck
    assert validate.sql == (f'ALTER TABLE {T} VALIDATE CONSTRAINT "child_parent_fk"',)
    assert (validate.target, validate.creates, validate.reverse) == (ref, (), ())
    assert validate.lock_duration == "scan" and "convalidated" in validate.probe


def test_a_not_valid_reference_constraint_is_not_validated():
    con = Constraint("child_parent_fk", "fk", ("parent_id",),
                     "FOREIGN KEY (parent_id) REFERENCES public.parent(id) NOT VALID",
                     validated=False, ref_table="public.parent", ref_columns=("id",))
    (step,) = planned(con).steps
    assert step.sql[0].endswith("REFERENCES public.parent(id) NOT VALID")
    assert step.sql[0].count("NOT VALID") == 1


def test_check_constraint_counts_violating_rows_first():
    add, validate = planned(Constraint("child_qty_positive", "check", ("qty",),
                                       "CHECK ((qty >= 0))")).steps
    assert add.sql == (f'ALTER TABLE {T} ADD CONSTRAINT "child_qty_positive" CHECK '
                       '((qty >= 0)) NOT VALID',)
    assert add.lock == "ACCESS EXCLUSIVE"
    assert f"FROM {T} WHERE NOT ((qty >= 0))" in add.precheck
    assert validate.kind == StepKind.DDL


def test_unique_constraint_is_an_index_built_concurrently_then_attached():
    index_step, attach = planned(Constraint("child_name_key", "unique", ("name",),
                                            "UNIQUE (name)", index="child_name_key")).steps
    idx = ObjectRef("index", "public", "child", "child_name_key")
    con = ObjectRef("constraint", "public", "child", "child_name_key")
    assert index_step.sql == ('CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "child_name_key" '
                              f'ON {T} ("name")',)
    assert index_step.reverse == ('DROP INDEX CONCURRENTLY IF EXISTS "public"."child_name_key"',)
    assert (index_step.kind, index_step.target, index_step.creates) == \
        (StepKind.CONCURRENT, idx, (idx,))
    assert 'GROUP BY "name" HAVING count(*) > 1' in index_step.precheck
    assert attach.sql == (f'ALTER TABLE {T} ADD CONSTRAINT "child_name_key" UNIQUE USING INDEX '
                          '"child_name_key"',)
    assert (attach.target, attach.creates) == (con, (con,))


def test_deferrable_unique_stays_deferrable():
    _, attach = planned(Constraint("child_name_key", "unique", ("name",),
                                   "UNIQUE (name) DEFERRABLE INITIALLY DEFERRED",
                                   deferrable=True, deferred=True)).steps
    assert attach.sql[0].endswith('USING INDEX "child_name_key" DEFERRABLE INITIALLY DEFERRED')


def test_missing_unique_keeps_include_and_nulls_not_distinct():
    index_step, _ = planned(Constraint("child_name_key", "unique", ("name",),
                                       "UNIQUE NULLS NOT DISTINCT (name) INCLUDE (qty)")).steps
    assert index_step.sql == ('CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "child_name_key" '
                              f'ON {T} ("name") INCLUDE (qty) NULLS NOT DISTINCT',)
    assert "IS NOT NULL" not in index_step.precheck


def test_exclusion_constraints_are_unsupported():
    out = planned(Constraint("child_ex", "exclude", ("qty",), "EXCLUDE USING gist (qty WITH =)"))
    assert out.steps == []
    assert out.unsupported[0].why == "exclude constraints are not added automatically"


# -- a constraint that differs ----------------------------------------------------------------

CHECK_LIVE = Constraint("child_qty_check", "check", ("qty",), "CHECK ((qty >= 0))")
UNIQUE_LIVE = Constraint("child_name_key", "unique", ("name",), "UNIQUE (name)",
                         index="child_name_key")


def changed(live: Constraint, expected: Constraint, *, live_child=None, extra=()):
    models = pair(live_child or child(constraints=[live], rows=800),
                  child(constraints=[expected]), live_extra=extra)
    diff_change = only(models[2], "constraint", "different")
    return diff_change, constraint.plan(diff_change, context(models)), models


def test_changed_check_is_replaced_not_valid_then_validated():
    expected = Constraint("child_qty_check", "check", ("qty",), "CHECK ((qty > 0))")
    _, out, _ = changed(CHECK_LIVE, expected)
    replace_step, validate = out.steps
    ref = ObjectRef("constraint", "public", "child", "child_qty_check")
    assert replace_step.sql == (
        f'ALTER TABLE {T} DROP CONSTRAINT "child_qty_check"',
        f'ALTER TABLE {T} ADD CONSTRAINT "child_qty_check" CHECK ((qty > 0)) NOT VALID')
    assert (replace_step.kind, replace_step.lock, replace_step.lock_duration) == \
        (StepKind.DDL, "ACCESS EXCLUSIVE", "instant")
    assert (replace_step.target, replace_step.creates) == (ref, ())
    assert f"FROM {T} WHERE NOT ((qty > 0))" in replace_step.precheck
    # the old rule comes back NOT VALID: instant, and it cannot fail on newer rows
    assert replace_step.reverse == (
        f'ALTER TABLE {T} DROP CONSTRAINT IF EXISTS "child_qty_check"',
        f'ALTER TABLE {T} ADD CONSTRAINT "child_qty_check" CHECK ((qty >= 0)) NOT VALID')
    # done exactly when the constraint of that name has the new definition
    assert "pg_get_constraintdef(c.oid)" in replace_step.probe
    assert "'CHECK ((qty > 0))'" in replace_step.probe
    assert "convalidated" not in replace_step.probe
    assert validate.sql == (f'ALTER TABLE {T} VALIDATE CONSTRAINT "child_qty_check"',)
    assert (validate.lock, validate.lock_duration, validate.estimated_rows) == \
        ("SHARE UPDATE EXCLUSIVE", "scan", 800)
    assert "c.convalidated" in validate.probe and "'CHECK ((qty > 0))'" in validate.probe
    assert validate.reverse == () and not validate.destructive


def test_changed_foreign_key_action_keeps_the_orphan_precheck_and_renames():
    live = Constraint("child_parent_id_fkey", "fk", ("parent_id",),
                      "FOREIGN KEY (parent_id) REFERENCES public.parent(id)",
                      ref_table="public.parent", ref_columns=("id",), on_delete="NO ACTION",
                      on_update="NO ACTION")
    change, out, _ = changed(live, FK)
    assert set(change.attributes) >= {"on_delete", "name"}
    replace_step, validate = out.steps
    assert replace_step.sql == (
        f'ALTER TABLE {T} DROP CONSTRAINT "child_parent_id_fkey"',
        f'ALTER TABLE {T} ADD CONSTRAINT "child_parent_fk" FOREIGN KEY (parent_id) REFERENCES '
        'public.parent(id) ON DELETE CASCADE NOT VALID')
    assert replace_step.lock == "ACCESS EXCLUSIVE (also on the referenced tables)"
    assert 'NOT EXISTS (SELECT 1 FROM "public"."parent" AS p' in replace_step.precheck
    assert replace_step.reverse[1] == (f'ALTER TABLE {T} ADD CONSTRAINT "child_parent_id_fkey" '
                                       'FOREIGN KEY (parent_id) REFERENCES public.parent(id) '
                                       'NOT VALID')
    assert validate.sql == (f'ALTER TABLE {T} VALIDATE CONSTRAINT "child_parent_fk"',)


def test_probe_ignores_qualifiers_and_not_valid():
    """The catalog prints `public.parent` (search_path = pg_catalog), an apply's probe
    `parent`: both sides are compared with qualifiers taken out."""
    probe = constraint.definition_is(T, "child_parent_fk", FK.definition)
    assert probe.count("regexp_replace(") == 6
    assert "' NOT VALID$'" in probe and "[[:alpha:]_]" in probe


def test_changed_not_valid_reference_constraint_is_not_validated_nor_prechecked():
    expected = Constraint("child_qty_check", "check", ("qty",), "CHECK ((qty > 0)) NOT VALID",
                          validated=False)
    _, out, _ = changed(CHECK_LIVE, expected)
    (step,) = out.steps
    assert step.sql[1].endswith("CHECK ((qty > 0)) NOT VALID")
    assert step.sql[1].count("NOT VALID") == 1 and step.precheck == ""


def test_foreign_key_deferrability_is_altered_in_place():
    expected = Constraint("child_parent_fk", "fk", ("parent_id",),
                          FK.definition + " DEFERRABLE INITIALLY DEFERRED", deferrable=True,
                          deferred=True, ref_table="public.parent", ref_columns=("id",),
                          on_delete="CASCADE", on_update="NO ACTION")
    _, out, _ = changed(FK, expected)
    (step,) = out.steps
    assert step.sql == (f'ALTER TABLE {T} ALTER CONSTRAINT "child_parent_fk" DEFERRABLE '
                        'INITIALLY DEFERRED',)
    assert step.reverse == (f'ALTER TABLE {T} ALTER CONSTRAINT "child_parent_fk" '
                            'NOT DEFERRABLE',)
    assert (step.lock, step.lock_duration, step.precheck) == ("ACCESS EXCLUSIVE", "instant", "")
    assert "DEFERRABLE INITIALLY DEFERRED'" in step.probe


def test_not_valid_live_is_validated_with_a_precheck():
    live = Constraint("child_qty_check", "check", ("qty",), "CHECK ((qty >= 0)) NOT VALID",
                      validated=False)
    change, out, _ = changed(live, CHECK_LIVE)
    assert change.attributes == ("validated",)
    (step,) = out.steps
    assert step.sql == (f'ALTER TABLE {T} VALIDATE CONSTRAINT "child_qty_check"',)
    assert f"FROM {T} WHERE NOT ((qty >= 0))" in step.precheck
    assert "convalidated" in step.probe and step.lock_duration == "scan"


def test_validated_live_not_valid_in_the_reference_is_kept():
    expected = Constraint("child_qty_check", "check", ("qty",), "CHECK ((qty >= 0)) NOT VALID",
                          validated=False)
    _, out, _ = changed(CHECK_LIVE, expected)
    assert out.steps == [] and out.unsupported == []
    assert "stricter" in out.kept[0].why


def test_renamed_constraint_plans_nothing():
    models = pair(child(constraints=[CHECK_LIVE]),
                  child(constraints=[Constraint("child_qty_ok", "check", ("qty",),
                                                "CHECK ((qty >= 0))")]))
    assert [c.cosmetic for c in models[2].changes] == [True]
    plan = make_plan(*models)
    assert plan.steps == () and plan.unsupported == () and plan.kept == ()


def test_changed_unique_is_rebuilt_concurrently_then_swapped_in():
    expected = Constraint("child_name_key", "unique", ("name", "qty"), "UNIQUE (name, qty)",
                          index="child_name_key")
    _, out, _ = changed(UNIQUE_LIVE, expected)
    build, swap = out.steps
    temp = "child_name_key_pgrc_new"
    idx = ObjectRef("index", "public", "child", temp)
    assert build.sql == (f'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "{temp}" ON {T} '
                         '("name", "qty")',)
    assert (build.kind, build.target, build.creates) == (StepKind.CONCURRENT, idx, (idx,))
    assert build.reverse == (f'DROP INDEX CONCURRENTLY IF EXISTS "public"."{temp}"',)
    assert 'GROUP BY "name", "qty" HAVING count(*) > 1' in build.precheck
    assert '"name" IS NOT NULL AND "qty" IS NOT NULL' in build.precheck
    # done once built, and still done after the swap renamed it
    assert f"x.relname = '{temp}'" in build.probe and "'UNIQUE (name, qty)'" in build.probe
    assert swap.sql == (f'ALTER TABLE {T} DROP CONSTRAINT "child_name_key"',
                        f'ALTER TABLE {T} ADD CONSTRAINT "child_name_key" UNIQUE USING INDEX '
                        f'"{temp}"')
    assert (swap.kind, swap.lock, swap.lock_duration) == \
        (StepKind.DDL, "ACCESS EXCLUSIVE", "instant")
    assert swap.reverse == (f'ALTER TABLE {T} DROP CONSTRAINT IF EXISTS "child_name_key"',
                            f'ALTER TABLE {T} ADD CONSTRAINT "child_name_key" UNIQUE (name)')
    assert temp not in swap.probe and "'UNIQUE (name, qty)'" in swap.probe


def test_unique_with_include_nulls_not_distinct_and_deferrable_keeps_them():
    expected = Constraint("child_name_key", "unique", ("name",),
                          "UNIQUE NULLS NOT DISTINCT (name) INCLUDE (qty) DEFERRABLE",
                          deferrable=True)
    _, out, _ = changed(UNIQUE_LIVE, expected)
    build, swap = out.steps
    assert build.sql[0].endswith('("name") INCLUDE (qty) NULLS NOT DISTINCT')
    assert "IS NOT NULL" not in build.precheck and "coalesce(" in build.precheck
    assert swap.sql[1].endswith('USING INDEX "child_name_key_pgrc_new" DEFERRABLE INITIALLY '
                                'IMMEDIATE')


def test_primary_key_made_deferrable_is_rebuilt_when_nothing_references_it():
    live_pk = Constraint("child_pkey", "pk", ("id",), "PRIMARY KEY (id)", index="child_pkey")
    expected = Constraint("child_pkey", "pk", ("id",), "PRIMARY KEY (id) DEFERRABLE",
                          deferrable=True, index="child_pkey")
    models = pair(Table("public", "child", columns=tuple(child_columns()),
                        constraints=(live_pk,)),
                  Table("public", "child", columns=tuple(child_columns()),
                        constraints=(expected,)))
    plan = make_plan(*models)
    assert [s.id for s in plan.steps] == ["01-index-child_pkey_pgrc_new",
                                          "02-constraint-child_pkey"]
    assert plan.steps[1].sql[1] == (f'ALTER TABLE {T} ADD CONSTRAINT "child_pkey" PRIMARY KEY '
                                    'USING INDEX "child_pkey_pgrc_new" DEFERRABLE INITIALLY '
                                    'IMMEDIATE')


def test_unique_that_foreign_keys_use_is_refused():
    other = Table("public", "other", columns=(Column("id", "integer"),
                                              Column("child_name", "character varying(20)")),
                  constraints=(Constraint("other_child_fk", "fk", ("child_name",),
                                          "FOREIGN KEY (child_name) REFERENCES "
                                          "public.child(name)", ref_table="public.child",
                                          ref_columns=("name",)),))
    expected = Constraint("child_name_key", "unique", ("name",),
                          "UNIQUE (name) DEFERRABLE", deferrable=True)
    _, out, _ = changed(UNIQUE_LIVE, expected, extra=(other,))
    assert out.steps == []
    assert "foreign keys depend on the index of child_name_key (public.other.other_child_fk)" \
        in out.unsupported[0].why


def test_changed_exclusion_is_replaced_under_access_exclusive_and_says_so():
    live = Constraint("child_ex", "exclude", ("name",), "EXCLUDE USING btree (name WITH =)")
    expected = Constraint("child_ex", "exclude", ("name", "qty"),
                          "EXCLUDE USING btree (name WITH =, qty WITH =)")
    _, out, _ = changed(live, expected)
    (step,) = out.steps
    assert step.sql == (f'ALTER TABLE {T} DROP CONSTRAINT "child_ex"',
                        f'ALTER TABLE {T} ADD CONSTRAINT "child_ex" EXCLUDE USING btree '
                        '(name WITH =, qty WITH =)')
    assert (step.lock, step.lock_duration, step.estimated_rows) == \
        ("ACCESS EXCLUSIVE", "scan", 800)
    assert "reads and writes wait for the whole build" in step.title
    assert step.reverse[1] == (f'ALTER TABLE {T} ADD CONSTRAINT "child_ex" EXCLUDE USING '
                               'btree (name WITH =)')


def test_partitioned_table_unique_is_refused():
    expected = Constraint("child_name_key", "unique", ("name", "qty"), "UNIQUE (name, qty)")
    live_child = dc_replace(child(constraints=[UNIQUE_LIVE]), partition_key="RANGE (qty)")
    _, out, _ = changed(UNIQUE_LIVE, expected, live_child=live_child)
    assert out.steps == [] and "partitioned table" in out.unsupported[0].why


def test_moved_primary_key_is_planned_by_primary_key_only(seed_models):
    plan = make_plan(*seed_models)
    assert plan.unsupported == ()
    assert not [s for s in plan.steps if "pgrc_new" in s.id]
    assert handler_for(only(seed_models[2], "constraint", "different")) is constraint.plan
    assert primary_key.HANDLES == ()
    # were it ever given one, constraint.py refuses a moved key rather than planning it
    out = constraint.plan(only(seed_models[2], "constraint", "different"),
                          context(seed_models))
    assert out.steps == [] and out.unsupported[0].why.startswith("primary key differs")


def test_changed_constraints_come_in_diff_order_in_the_plan():
    live = [CHECK_LIVE, UNIQUE_LIVE]
    expected = [Constraint("child_qty_check", "check", ("qty",), "CHECK ((qty > 0))"),
                Constraint("child_name_key", "unique", ("name",), "UNIQUE (name) DEFERRABLE",
                           deferrable=True)]
    plan = make_plan(*pair(child(constraints=live), child(constraints=expected)))
    assert [s.id for s in plan.steps] == [
        "01-index-child_name_key_pgrc_new", "02-constraint-child_name_key",
        "03-constraint-child_qty_check", "04-validate-child_qty_check"]


def _parent_with_code_key():
    return Constraint("parent_code_key", "unique", ("code",), "UNIQUE (code)",
                      index="parent_code_key")


def _with_parent_key(models):
    live, expected, _ = models
    tables = tuple(dc_replace(t, constraints=t.constraints + (_parent_with_code_key(),))
                   if t.name == "parent" else t for t in expected.tables)
    expected = dc_replace(expected, tables=tables)
    return live, expected, diff_schemas(live, expected)


CODE_FK = Constraint("child_parent_fk", "fk", ("name",),
                     "FOREIGN KEY (name) REFERENCES public.parent(code)",
                     ref_table="public.parent", ref_columns=("code",))


def test_the_key_a_changed_foreign_key_references_is_made_first():
    """parent sorts after child: its new unique key would come too late for the foreign
    key; the foreign key's handler plans it first and marks it handled."""
    models = _with_parent_key(pair(child(constraints=[FK]), child(constraints=[CODE_FK])))
    assert [c.object for c in models[2].significant] == [
        "public.child.child_parent_fk", "public.parent.parent_code_key"]
    plan = make_plan(*models)
    assert [s.id for s in plan.steps] == [
        "01-index-parent_code_key", "02-constraint-parent_code_key",
        "03-constraint-child_parent_fk", "04-validate-child_parent_fk"]
    assert plan.unsupported == ()


def test_the_key_a_missing_foreign_key_references_is_made_first():
    models = _with_parent_key(pair(child(), child(constraints=[CODE_FK])))
    plan = make_plan(*models)
    assert [s.id for s in plan.steps] == [
        "01-index-parent_code_key", "02-constraint-parent_code_key",
        "03-constraint-child_parent_fk", "04-validate-child_parent_fk"]


def test_an_existing_referenced_key_plans_nothing_more():
    live, expected, _ = _with_parent_key(pair(child(constraints=[FK]),
                                              child(constraints=[CODE_FK])))
    live = dc_replace(live, tables=tuple(
        dc_replace(t, constraints=t.constraints + (_parent_with_code_key(),))
        if t.name == "parent" else t for t in live.tables))
    plan = make_plan(live, expected, diff_schemas(live, expected))
    assert [s.id for s in plan.steps] == ["01-constraint-child_parent_fk",
                                          "02-validate-child_parent_fk"]
