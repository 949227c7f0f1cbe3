"""The seed case, planned without a database: keep (Option A) and swap (Option B)."""
from __future__ import annotations

from dataclasses import replace

from pgreconcile.plan.kinds import primary_key
from pgreconcile.plan.planner import make_plan
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import diff_schemas

from .builders import PAYMENT, refund_table, seed
from .conftest import context

T = '"public"."treasury_payment"'
COLUMN = ObjectRef("column", "public", "treasury_payment", "payment_id")
INDEX = ObjectRef("index", "public", "treasury_payment", "treasury_payment_payment_id_uniq")
CHECK = ObjectRef("constraint", "public", "treasury_payment",
                  "treasury_payment_payment_id_not_null")
KEY = ObjectRef("constraint", "public", "treasury_payment", "treasury_payment_payment_id_key")
PREPARE = ["01-add-column-treasury_payment-payment_id",
           "02-backfill-treasury_payment-payment_id",
           "03-unique-index-treasury_payment-payment_id",
           "04-check-not-null-treasury_payment-payment_id",
           "05-validate-not-null-treasury_payment-payment_id",
           "06-set-not-null-treasury_payment-payment_id"]


def test_make_plan_keep_adds_a_unique_not_null_uuid_and_keeps_the_old_key(seed_models):
    plan = make_plan(*seed_models)
    assert [s.id for s in plan.steps] == PREPARE + [
        "07-unique-constraint-treasury_payment-payment_id"]
    assert [s.kind for s in plan.steps] == [StepKind.DDL, StepKind.BACKFILL,
                                            StepKind.CONCURRENT] + [StepKind.DDL] * 4
    assert plan.destructive_steps == () and plan.unsupported == ()
    assert all(s.probe.startswith("SELECT ") and s.lock and s.table == PAYMENT
               for s in plan.steps)
    add, backfill, index, check, validate, set_nn, attach = plan.steps
    assert add.sql == (f'ALTER TABLE {T} ADD COLUMN IF NOT EXISTS "payment_id" uuid',
                       f'ALTER TABLE {T} ALTER COLUMN "payment_id" SET DEFAULT '
                       'gen_random_uuid()')
    assert add.reverse == (f'ALTER TABLE {T} DROP COLUMN IF EXISTS "payment_id"',)
    assert (add.target, add.creates) == (COLUMN, (COLUMN,))
    assert (add.lock, add.lock_duration) == ("ACCESS EXCLUSIVE", "instant")
    # the backfill is a typed record, keyed by the old key, stable uuid by default
    b = backfill.backfill
    assert (b.schema, b.table, b.key, b.column, b.where) == \
        ("public", "treasury_payment", "id", "payment_id", None)
    assert "md5(" in b.expression and b.KEY in b.expression
    assert backfill.sql == () and backfill.reverse == () and backfill.target == COLUMN
    assert backfill.estimated_rows == 5000
    assert index.sql == ('CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS '
                         f'"treasury_payment_payment_id_uniq" ON {T} ("payment_id")',)
    assert index.reverse == ('DROP INDEX CONCURRENTLY IF EXISTS '
                             '"public"."treasury_payment_payment_id_uniq"',)
    assert (index.target, index.creates) == (INDEX, (INDEX,))
    assert (index.lock, index.lock_duration) == ("SHARE UPDATE EXCLUSIVE", "scan")
    # NOT NULL without a long ACCESS EXCLUSIVE scan; no precheck: the backfill fills it
    assert check.sql[0].endswith('CHECK ("payment_id" IS NOT NULL) NOT VALID')
    assert check.creates == (CHECK,) and check.precheck == ""
    assert validate.target == CHECK and validate.lock_duration == "scan"
    assert validate.reverse == ()
    assert set_nn.sql[0] == f'ALTER TABLE {T} ALTER COLUMN "payment_id" SET NOT NULL'
    assert set_nn.target == COLUMN
    assert attach.sql == (f'ALTER TABLE {T} ADD CONSTRAINT "treasury_payment_payment_id_key" '
                          'UNIQUE USING INDEX "treasury_payment_payment_id_uniq"',)
    assert (attach.target, attach.creates) == (KEY, (KEY,))
    # the old key is kept and verify accepts what the plan leaves different
    assert {k.object for k in plan.kept} == {f"{PAYMENT}.treasury_payment_pkey",
                                             f"{PAYMENT}.id"}
    assert {r.key for r in plan.residual} >= {
        ("different", "column", f"{PAYMENT}.payment_id"),
        ("extra", "constraint", f"{PAYMENT}.treasury_payment_payment_id_key"),
        ("extra", "index", f"{PAYMENT}.treasury_payment_payment_id_uniq"),
        ("extra", "column", f"{PAYMENT}.id")}
    assert plan.notes and "kept as primary key" in plan.notes[0]
    assert all(s.done_if == "" for s in plan.steps)


def test_make_plan_swap_moves_the_key_and_drops_the_old_column_destructively(seed_models):
    plan = make_plan(*seed_models, strategy="swap")
    assert [s.id for s in plan.steps] == PREPARE + [
        "07-swap-primary-key-treasury_payment", "08-drop-default-treasury_payment-payment_id",
        "09-drop-old-key-treasury_payment-id"]
    swap, drop_default, drop_old = plan.steps[6:]
    assert [s.id for s in plan.destructive_steps] == [swap.id, drop_old.id]
    assert swap.sql == (f'ALTER TABLE {T} DROP CONSTRAINT "treasury_payment_pkey"',
                        f'ALTER TABLE {T} ADD CONSTRAINT "treasury_payment_pkey" PRIMARY KEY '
                        'USING INDEX "treasury_payment_payment_id_uniq"')
    assert swap.reverse == () and swap.target.name == "treasury_payment_pkey"
    assert "k.contype = 'p'" in swap.probe
    # once swapped, every preparatory step counts as done (its traces may be gone)
    assert all(s.done_if and "k.contype = 'p'" in s.done_if for s in plan.steps[:6])
    assert drop_default.sql == (f'ALTER TABLE {T} ALTER COLUMN "payment_id" DROP DEFAULT',)
    assert drop_old.sql == (f'ALTER TABLE {T} DROP COLUMN IF EXISTS "id"',)
    assert drop_old.target == ObjectRef("column", "public", "treasury_payment", "id")
    assert plan.kept == () and plan.unsupported == ()
    assert "swapped" in plan.notes[0]


def test_swap_gives_referencing_foreign_keys_a_uuid_copy_renamed_in_the_swap():
    plan = make_plan(*seed(extra_tables=(refund_table(),)), strategy="swap")
    ids = [s.id for s in plan.steps]
    assert ids[6:] == ["07-add-column-treasury_refund-payment_id__uuid",
                       "08-backfill-treasury_refund-payment_id__uuid",
                       "09-index-treasury_refund_payment_id__uuid_idx",
                       "10-swap-primary-key-treasury_payment",
                       "11-validate-treasury_refund_payment_id_fkey",
                       "12-check-not-null-treasury_refund-payment_id",
                       "13-validate-not-null-treasury_refund-payment_id",
                       "14-set-not-null-treasury_refund-payment_id",
                       "15-drop-default-treasury_payment-payment_id",
                       "16-drop-old-key-treasury_payment-id"]
    add, fill, index, swap = plan.steps[6:10]
    refund = '"public"."treasury_refund"'
    assert add.creates == (ObjectRef("column", "public", "treasury_refund", "payment_id__uuid"),)
    assert fill.backfill.key == "id" and fill.backfill.where == 't."payment_id" IS NOT NULL'
    assert fill.backfill.expression == (f'(SELECT p."payment_id" FROM {T} AS p WHERE p."id" = '
                                        't."payment_id")')
    assert index.target.schema == "public" and index.kind == StepKind.CONCURRENT
    # the copy is moot once the foreign key column itself is uuid
    assert all("format_type(atttypid, atttypmod) = 'uuid'" in s.done_if for s in (add, fill,
                                                                                  index))
    assert swap.sql[:4] == (
        f'UPDATE {refund} AS t SET "payment_id__uuid" = {fill.backfill.expression} WHERE '
        't."payment_id__uuid" IS NULL AND t."payment_id" IS NOT NULL',
        f'ALTER TABLE {refund} DROP CONSTRAINT "treasury_refund_payment_id_fkey"',
        f'ALTER TABLE {refund} DROP COLUMN "payment_id"',
        f'ALTER TABLE {refund} RENAME COLUMN "payment_id__uuid" TO "payment_id"')
    assert swap.sql[-1] == (f'ALTER TABLE {refund} ADD CONSTRAINT '
                            '"treasury_refund_payment_id_fkey" FOREIGN KEY ("payment_id") '
                            f'REFERENCES {T}("payment_id") ON DELETE CASCADE NOT VALID')
    assert "move 1 foreign key(s)" in swap.title
    assert plan.steps[10].table == "public.treasury_refund"


def test_a_nullable_referencing_column_stays_nullable():
    plan = make_plan(*seed(extra_tables=(refund_table(not_null=False),)), strategy="swap")
    assert not any("not-null-treasury_refund" in s.id for s in plan.steps)


def test_keep_leaves_referencing_foreign_keys_alone():
    plan = make_plan(*seed(extra_tables=(refund_table(),)))
    assert all(s.table == PAYMENT for s in plan.steps)


def test_composite_foreign_key_to_the_old_key_is_unsupported_and_stops_the_swap():
    refund = refund_table()
    fk = replace(refund.constraints[1], columns=("payment_id", "amount"))
    live, expected, diff = seed(extra_tables=(replace(refund, constraints=(
        refund.constraints[0], fk)),))
    plan = make_plan(live, expected, diff, strategy="swap")
    # the foreign key says why; the primary key itself stays unfixed (and says so too)
    assert [u.object for u in plan.unsupported] == \
        ["public.treasury_refund.treasury_refund_payment_id_fkey",
         f"{PAYMENT}.treasury_payment_pkey"]
    assert "single-column" in plan.unsupported[0].why
    assert not any("swap" in s.id for s in plan.steps)


def test_composite_or_non_uuid_keys_are_refused_once(seed_models):
    live, expected, _ = seed_models
    table = expected.tables[0]
    composite = replace(table, constraints=(replace(table.constraints[0],
                                                    columns=("payment_id", "status")),))
    exp = replace(expected, tables=(composite,))
    plan = make_plan(live, exp, diff_schemas(live, exp))
    assert [(u.kind, u.why) for u in plan.unsupported if u.kind == "constraint"] == \
        [("constraint", "composite primary keys are not moved automatically")]
    bigint = replace(table, columns=(replace(table.columns[0], type="bigint"),
                                     *table.columns[1:]))
    exp = replace(expected, tables=(bigint,))
    plan = make_plan(live, exp, diff_schemas(live, exp))
    refused = [u for u in plan.unsupported if u.kind == "constraint"]
    assert len(refused) == 1 and "only uuid keys" in refused[0].why


def test_random_backfill_uses_gen_random_uuid(seed_models):
    plan = make_plan(*seed_models, backfill="random")
    assert plan.steps[1].backfill.expression == "gen_random_uuid()"
    assert "random uuid" in plan.steps[1].title


def test_existing_new_column_is_not_dropped_by_the_reverse(seed_models):
    live, expected, _ = seed_models
    table = live.tables[0]
    nullable_uuid = replace(expected.tables[0].columns[0], not_null=False)
    with_col = replace(table, columns=(*table.columns, nullable_uuid))
    live = replace(live, tables=(with_col,))
    plan = make_plan(live, expected, diff_schemas(live, expected))
    add = plan.steps[0]
    assert add.reverse == (f'ALTER TABLE {T} ALTER COLUMN "payment_id" DROP DEFAULT',)
    assert add.creates == ()


def test_handler_interface_applies_only_to_a_moved_primary_key(seed_models):
    ctx = context(seed_models)
    moved = [c for c in ctx.diff.significant if primary_key.applies(c)]
    assert [c.object for c in moved] == [f"{PAYMENT}.treasury_payment_pkey"]
    assert not any(primary_key.applies(c) for c in ctx.diff.significant if c not in moved)
    out = primary_key.plan(moved[0], ctx)
    assert [s.id for s in out.steps][0] == "add-column-treasury_payment-payment_id"  # slugs
    assert f"column:{PAYMENT}.payment_id" in out.handled
