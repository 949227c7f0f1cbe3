"""A missing constraint: NOT VALID + VALIDATE, or a unique index attached USING INDEX."""
from __future__ import annotations

from pgreconcile.plan.kinds import constraint
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.model import Constraint

from .builders import child, only, pair
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


def test_exclusion_constraints_are_unsupported():
    out = planned(Constraint("child_ex", "exclude", ("qty",), "EXCLUDE USING gist (qty WITH =)"))
    assert out.steps == []
    assert out.unsupported[0].why == "exclude constraints are not added automatically"
