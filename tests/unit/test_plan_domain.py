"""Domains: created whole when missing; default, NOT NULL and checks altered in place;
another base type refused. Hand-built changes, no database."""
from __future__ import annotations

from dataclasses import replace

from pgreconcile.plan.context import PlanContext
from pgreconcile.plan.kinds import domain
from pgreconcile.schema.diff import Change, Diff
from pgreconcile.schema.model import Domain, DomainCheck, Schema

D = '"public"."positive_amount"'
POSITIVE = DomainCheck("positive_amount_check", "CHECK ((VALUE > (0)::numeric))")
AMOUNT = Domain("public", "positive_amount", "numeric(12,2)", not_null=True, default="0",
                checks=(POSITIVE,))
CTX = PlanContext(Schema(), Schema(), Diff())


def different(live: Domain, expected: Domain, *attributes: str):
    return domain.plan(Change("different", "domain", expected.qualified_name, None,
                              live.to_dict(), expected.to_dict(), attributes=attributes), CTX)


def test_missing_domain_is_created_with_default_not_null_collation_and_checks():
    d = replace(AMOUNT, base_type="text", collation='"C"', default="'x'::text", checks=(
        DomainCheck("short", "CHECK ((length(VALUE) < 10))"),
        DomainCheck("later", "CHECK ((VALUE <> ''::text)) NOT VALID", validated=False)))
    change = Change("missing", "domain", d.qualified_name, None, expected=d.to_dict())
    (step,) = domain.plan(change, CTX).steps
    assert step.sql == (
        f"CREATE DOMAIN {D} AS text COLLATE \"C\" DEFAULT 'x'::text NOT NULL "
        'CONSTRAINT "short" CHECK ((length(VALUE) < 10))',
        f"ALTER DOMAIN {D} ADD CONSTRAINT \"later\" CHECK ((VALUE <> ''::text)) NOT VALID")
    assert "t.typtype = 'd'" in step.probe and step.reverse == (f"DROP DOMAIN IF EXISTS {D}",)
    assert step.target.qualified == "public.positive_amount" and step.creates


def test_default_is_set_and_dropped_with_the_live_one_as_reverse():
    (step,) = different(AMOUNT, replace(AMOUNT, default="1"), "default").steps
    assert step.sql == (f"ALTER DOMAIN {D} SET DEFAULT 1",)
    assert step.reverse == (f"ALTER DOMAIN {D} SET DEFAULT 0",)
    assert step.probe.endswith("IS NOT DISTINCT FROM '1'")
    (step,) = different(AMOUNT, replace(AMOUNT, default=None), "default").steps
    assert step.sql == (f"ALTER DOMAIN {D} DROP DEFAULT",) and step.probe.endswith("IS NULL")


def test_set_not_null_scans_every_column_drop_is_instant():
    (step,) = different(replace(AMOUNT, not_null=False), AMOUNT, "not_null").steps
    assert step.sql == (f"ALTER DOMAIN {D} SET NOT NULL",)
    assert step.lock_duration == "scan" and step.reverse == (f"ALTER DOMAIN {D} DROP NOT NULL",)
    (step,) = different(AMOUNT, replace(AMOUNT, not_null=False), "not_null").steps
    assert step.sql == (f"ALTER DOMAIN {D} DROP NOT NULL",)
    assert step.lock_duration == "instant" and "NOT typnotnull" in step.probe


def test_new_check_is_added_not_valid_then_validated():
    add, validate = different(replace(AMOUNT, checks=()), AMOUNT, "checks").steps
    assert add.sql == (f'ALTER DOMAIN {D} ADD CONSTRAINT "positive_amount_check" '
                       "CHECK ((VALUE > (0)::numeric)) NOT VALID",)
    assert add.reverse == (f'ALTER DOMAIN {D} DROP CONSTRAINT IF EXISTS '
                           '"positive_amount_check"',)
    assert add.lock_duration == "instant"
    assert validate.sql == (f'ALTER DOMAIN {D} VALIDATE CONSTRAINT "positive_amount_check"',)
    assert validate.lock_duration == "scan" and "convalidated" in validate.probe


def test_unvalidated_check_in_the_reference_is_only_added():
    check = replace(POSITIVE, definition=POSITIVE.definition + " NOT VALID", validated=False)
    (add,) = different(replace(AMOUNT, checks=()), replace(AMOUNT, checks=(check,)),
                       "checks").steps
    assert add.sql[0].endswith("NOT VALID") and "NOT VALID NOT VALID" not in add.sql[0]


def test_check_only_live_has_is_dropped_without_being_destructive():
    extra = DomainCheck("small", "CHECK ((VALUE < (100)::numeric))")
    (step,) = different(replace(AMOUNT, checks=(POSITIVE, extra)), AMOUNT, "checks").steps
    assert step.sql == (f'ALTER DOMAIN {D} DROP CONSTRAINT IF EXISTS "small"',)
    assert not step.destructive and step.probe.startswith("SELECT NOT EXISTS")
    assert step.reverse[0].endswith("NOT VALID")


def test_check_with_the_same_name_and_another_definition_is_dropped_then_added():
    other = replace(POSITIVE, definition="CHECK ((VALUE >= (0)::numeric))")
    steps = different(replace(AMOUNT, checks=(other,)), AMOUNT, "checks").steps
    assert [s.id.split("-")[1] for s in steps] == ["drop", "check", "validate"]


def test_probes_of_a_check_changed_under_its_name_compare_definitions_not_names():
    other = replace(POSITIVE, definition="CHECK ((VALUE >= (0)::numeric))")
    drop, add, validate = different(replace(AMOUNT, checks=(other,)), AMOUNT, "checks").steps
    # The drop is done once no check of that name reads as the old one: re-adding the new
    # one under the same name keeps it done, so a rerun is a no-op.
    assert drop.probe.startswith("SELECT NOT EXISTS") and "pg_get_constraintdef" in drop.probe
    assert "VALUE >= (0)::numeric" in drop.probe
    assert "VALUE > (0)::numeric" in add.probe and "pg_get_constraintdef" in add.probe
    assert "convalidated" in validate.probe and "VALUE > (0)::numeric" in validate.probe


def test_check_under_another_name_is_left_alone():
    renamed = replace(POSITIVE, name="amount_gt_zero")
    assert different(replace(AMOUNT, checks=(renamed,)), AMOUNT, "checks").steps == []


def test_another_base_type_is_refused():
    out = different(AMOUNT, replace(AMOUNT, base_type="numeric(14,2)"), "base_type")
    assert out.steps == [] and "base type differs" in out.unsupported[0].why
    assert "rewrite" in out.unsupported[0].why


def test_check_not_valid_live_is_validated_in_place():
    unchecked = replace(POSITIVE, name="amount_check", validated=False,
                        definition=POSITIVE.definition + " NOT VALID")
    (step,) = different(replace(AMOUNT, checks=(unchecked,)), AMOUNT, "checks").steps
    assert step.sql == (f'ALTER DOMAIN {D} VALIDATE CONSTRAINT "amount_check"',)
    assert step.lock_duration == "scan"
