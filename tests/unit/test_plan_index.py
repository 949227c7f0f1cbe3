"""Indexes: missing ones built CONCURRENTLY from the model's fields (per partition on a
partitioned table), changed ones built under a temporary name and swapped in."""
from __future__ import annotations

from dataclasses import replace

import pytest

from pgreconcile.plan.kinds import constraint
from pgreconcile.plan.kinds import index as index_kind
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import diff_schemas
from pgreconcile.schema.model import Column, Constraint, Index, Schema, Table

from .builders import child, index, only, pair, pk
from .conftest import context

T = '"public"."child"'


def planned(expected_index, live_child=None):
    models = pair(live_child or child(), child(indexes=[expected_index]))
    return index_kind.plan(only(models[2], "index", "missing"), context(models))


def test_partial_index_is_built_concurrently_from_its_fields():
    out = planned(index("child_big_qty", ("qty",), predicate="(qty > 100)"))
    (step,) = out.steps
    ref = ObjectRef("index", "public", "child", "child_big_qty")
    assert step.sql == ('CREATE INDEX CONCURRENTLY IF NOT EXISTS "child_big_qty" ON '
                        f'{T} USING btree (qty) WHERE (qty > 100)',)
    assert step.reverse == ('DROP INDEX CONCURRENTLY IF EXISTS "public"."child_big_qty"',)
    assert (step.target, step.creates, step.kind) == (ref, (ref,), StepKind.CONCURRENT)
    assert (step.lock, step.lock_duration, step.estimated_rows) == \
        ("SHARE UPDATE EXCLUSIVE", "scan", 500)
    # only a VALID index in the step's own schema counts as done
    assert "n.nspname = 'public'" in step.probe and "i.indisvalid" in step.probe


@pytest.mark.parametrize("idx, body", [
    (index("child_name_uq", ("name",), unique=True), "btree (name)"),
    (index("child_note_gin", ("to_tsvector('simple'::regconfig, note)",), method="gin"),
     "gin (to_tsvector('simple'::regconfig, note))"),
])
def test_unique_and_other_methods_come_from_the_fields(idx, body):
    (step,) = planned(idx).steps
    unique = "UNIQUE " if idx.unique else ""
    assert step.sql == (f'CREATE {unique}INDEX CONCURRENTLY IF NOT EXISTS "{idx.name}" ON {T} '
                        f"USING {body}",)


@pytest.mark.parametrize("tail", ["btree (qty DESC)", "btree (qty) INCLUDE (name)",
                                  "btree (qty text_pattern_ops)",
                                  "btree (qty) NULLS NOT DISTINCT"])
def test_what_the_fields_cannot_say_is_taken_from_the_printed_clause_whole(tail):
    (step,) = planned(index("child_qty_x", ("qty",), tail=tail)).steps
    assert step.sql == (f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "child_qty_x" ON {T} '
                        f"USING {tail}",)


def test_index_body_prefers_the_fields_when_they_say_the_same():
    idx = index("i", ("lower((name)::text)",))
    assert index_kind.index_body(idx) == "btree (lower((name)::text))"
    assert index_kind.printed_body("no using clause") is None


def test_index_of_a_missing_table_is_unsupported():
    models = pair(child(), child(indexes=[index("child_big_qty", ("qty",))]))
    change = only(models[2], "index", "missing")
    out = index_kind.plan(change, context((Schema(), models[1], models[2])))
    assert out.steps == [] and out.unsupported[0].why == "table is missing"


# -- partitioned tables ----------------------------------------------------------------------
LOG = "public.log"


def log_index(table: str, name: str, *, only: bool = False) -> Index:
    on = "ON ONLY" if only else "ON"
    return Index(name, ("level", "at"), f"CREATE INDEX {name} {on} public.{table} USING btree "
                 "(level, at)")


def log_table(name: str, *, key: str | None = None, of: str | None = None,
              bound: str | None = None, indexes=(), rows: int = 0) -> Table:
    return Table("public", name, columns=(Column("at", "date", not_null=True),
                                          Column("level", "text", not_null=True)),
                 indexes=tuple(indexes), partition_key=key, partition_of=of,
                 partition_bound=bound, row_estimate=rows)


def log_models(live_tables, expected_tables, *, server_version: int = 180000):
    def schema(tables, name, version=0):
        return Schema(namespaces=("public",), tables=tuple(sorted(
            tables, key=lambda t: t.qualified_name)), database=name, server_version=version)
    live = schema(live_tables, "app", server_version)
    expected = schema(expected_tables, "reference")
    return live, expected, diff_schemas(live, expected)


H1 = "FOR VALUES FROM ('2024-01-01') TO ('2024-07-01')"
H2 = "FOR VALUES FROM ('2024-07-01') TO ('2025-01-01')"


def test_index_of_a_partitioned_table_is_built_on_only_the_parent_then_per_partition():
    live = [log_table("log", key="RANGE (at)"),
            log_table("log_h1", of=LOG, bound=H1, rows=900)]
    expected = [log_table("log", key="RANGE (at)",
                          indexes=[log_index("log", "log_level_idx", only=True)]),
                log_table("log_h1", of=LOG, bound=H1,
                          indexes=[log_index("log_h1", "log_h1_level_at_idx")]),
                # missing live: the table handler creates it before any index step
                log_table("log_h2", of=LOG, bound=H2,
                          indexes=[log_index("log_h2", "log_h2_level_at_idx")])]
    models = log_models(live, expected)
    out = index_kind.plan(only(models[2], "index", "missing"), context(models))
    assert [s.id for s in out.steps] == [
        "index-log_level_idx", "index-log_h1_log_level_idx", "attach-log_h1_log_level_idx",
        "index-log_h2_log_level_idx", "attach-log_h2_log_level_idx"]
    parent, build, attach = out.steps[:3]
    assert parent.sql == ('CREATE INDEX IF NOT EXISTS "log_level_idx" ON ONLY "public"."log" '
                          "USING btree (level, at)",)
    assert (parent.kind, parent.lock_duration) == (StepKind.DDL, "instant")
    assert parent.reverse == ('DROP INDEX IF EXISTS "public"."log_level_idx"',)
    # the parent's index counts as there while INVALID: the next steps make it VALID
    assert "indisvalid" not in parent.probe
    assert build.sql == ('CREATE INDEX CONCURRENTLY IF NOT EXISTS "log_h1_log_level_idx" ON '
                         '"public"."log_h1" USING btree (level, at)',)
    assert (build.kind, build.lock_duration, build.estimated_rows) == \
        (StepKind.CONCURRENT, "scan", 900)
    # the executor drops an INVALID leftover of the step's target only: the partition's
    assert build.target == ObjectRef("index", "public", "log_h1", "log_h1_log_level_idx")
    assert attach.sql == ('ALTER INDEX "public"."log_level_idx" ATTACH PARTITION '
                          '"public"."log_h1_log_level_idx"',)
    assert (attach.kind, attach.lock_duration) == (StepKind.DDL, "instant")
    assert "pg_inherits" in attach.probe and "'\"public\".\"log_h1\"'::regclass" in attach.probe
    # an attached partition index only goes with its parent's
    assert attach.reverse == parent.reverse
    assert out.unsupported == []


def test_a_partition_partitioned_itself_gets_its_own_index_on_only_and_attached():
    live = [log_table("log", key="RANGE (at)"),
            log_table("log_h1", of=LOG, bound=H1, key="LIST (level)"),
            log_table("log_h1_info", of="public.log_h1", bound="FOR VALUES IN ('info')")]
    expected = [replace(live[0], indexes=(log_index("log", "log_level_idx", only=True),)),
                *live[1:]]
    models = log_models(live, expected)
    out = index_kind.plan(only(models[2], "index", "missing"), context(models))
    assert [s.id for s in out.steps] == [
        "index-log_level_idx", "index-log_h1_log_level_idx",
        "index-log_h1_info_log_h1_log_level_idx", "attach-log_h1_info_log_h1_log_level_idx",
        "attach-log_h1_log_level_idx"]
    assert out.steps[1].sql[0].startswith(
        'CREATE INDEX IF NOT EXISTS "log_h1_log_level_idx" ON ONLY "public"."log_h1"')
    assert out.steps[2].kind == StepKind.CONCURRENT


def test_partition_index_names_that_are_too_long_or_taken_get_a_hash():
    long = "p" * 55
    live = [log_table("log", key="RANGE (at)"), log_table(long, of=LOG, bound=H1),
            log_table("x", of=LOG, bound=H2, indexes=[log_index("x", "x_log_level_idx")])]
    expected = [replace(live[0], indexes=(log_index("log", "log_level_idx", only=True),)),
                *live[1:]]
    models = log_models(live, expected)
    out = index_kind.plan(only(models[2], "index", "missing"), context(models))
    names = [s.target.name for s in out.steps if s.kind == StepKind.CONCURRENT]
    assert len(names) == 2 and all(len(n) <= 63 for n in names)
    assert names[0].startswith("p" * 27 + "_log_level_idx_") and names[0] != long
    assert names[1].startswith("x_log_level_idx_")


def test_foreign_key_of_a_partitioned_table_before_postgresql_18_is_added_validated():
    device = Table("public", "device", columns=(Column("id", "integer", not_null=True),),
                   constraints=(pk("device", "id"),))
    fk = Constraint("log_device_fkey", "fk", ("device_id",),
                    "FOREIGN KEY (device_id) REFERENCES public.device(id)",
                    ref_table="public.device", ref_columns=("id",))
    log = replace(log_table("log", key="RANGE (at)"), columns=(
        Column("at", "date", not_null=True), Column("device_id", "integer")))
    for version, ids in ((150000, ["constraint-log_device_fkey"]),
                         (180000, ["constraint-log_device_fkey", "validate-log_device_fkey"])):
        models = log_models([device, log], [device, replace(log, constraints=(fk,))],
                            server_version=version)
        out = constraint.plan(only(models[2], "constraint", "missing"), context(models))
        assert [s.id for s in out.steps] == ids, version
        if version < 180000:
            (step,) = out.steps
            assert step.sql == ('ALTER TABLE "public"."log" ADD CONSTRAINT "log_device_fkey" '
                                "FOREIGN KEY (device_id) REFERENCES public.device(id)",)
            assert step.lock_duration == "scan" and "convalidated" in step.probe
            assert step.precheck


# -- an index changed under the same name, an INVALID one ------------------------------------
def test_changed_index_is_built_under_a_temporary_name_then_swapped_in():
    old = index("child_qty_idx", ("qty",))
    new = index("child_qty_idx", ("qty",), method="hash")
    models = pair(child(indexes=[old]), child(indexes=[new]))
    change = only(models[2], "index", "different")
    out = index_kind.plan(change, context(models))
    build, swap = out.steps
    assert build.sql == ('CREATE INDEX CONCURRENTLY IF NOT EXISTS "child_qty_idx_pgrc_new" ON '
                         f"{T} USING hash (qty)",)
    assert build.kind == StepKind.CONCURRENT
    assert build.target == ObjectRef("index", "public", "child", "child_qty_idx_pgrc_new")
    assert swap.sql == ('DROP INDEX "public"."child_qty_idx"',
                        'ALTER INDEX "public"."child_qty_idx_pgrc_new" RENAME TO '
                        '"child_qty_idx"')
    assert (swap.kind, swap.lock, swap.lock_duration) == \
        (StepKind.DDL, "ACCESS EXCLUSIVE", "instant")
    # done: the name has the new definition (the build's probe too, once swapped)
    assert "'hash (qty)'" in swap.probe and swap.probe.removeprefix("SELECT ") in build.probe
    assert swap.reverse == ('DROP INDEX IF EXISTS "public"."child_qty_idx"',
                            f'CREATE INDEX IF NOT EXISTS "child_qty_idx" ON {T} USING '
                            "btree (qty)")
    assert out.unsupported == [] and out.kept == []


def test_invalid_index_is_built_again_concurrently_under_its_name():
    idx = index("child_qty_idx", ("qty",))
    models = pair(child(indexes=[replace(idx, valid=False)]), child(indexes=[idx]))
    out = index_kind.plan(only(models[2], "index", "different"), context(models))
    (step,) = out.steps
    assert step.kind == StepKind.CONCURRENT and step.target.name == "child_qty_idx"
    assert step.sql == ('CREATE INDEX CONCURRENTLY IF NOT EXISTS "child_qty_idx" ON '
                        f"{T} USING btree (qty)",)


def test_invalid_index_of_a_partitioned_table_gets_the_partitions_not_attached_yet():
    """Left INVALID by an interrupted run (ON ONLY, some partitions' indexes missing): the
    same steps, each skipped where its probe finds its part done; none has a reverse, as the
    parent's index and what was attached to it before the run are not the plan's."""
    live = [log_table("log", key="RANGE (at)",
                      indexes=[replace(log_index("log", "log_level_idx", only=True),
                                       valid=False)]),
            log_table("log_h1", of=LOG, bound=H1)]
    expected = [replace(live[0], indexes=(log_index("log", "log_level_idx", only=True),)),
                live[1]]
    models = log_models(live, expected)
    out = index_kind.plan(only(models[2], "index", "different"), context(models))
    assert [s.id for s in out.steps] == ["index-log_level_idx", "index-log_h1_log_level_idx",
                                         "attach-log_h1_log_level_idx"]
    assert all(s.reverse == () for s in out.steps)
    # a partition counts as done once any index of it is attached to the parent's
    assert "i.indrelid = '\"public\".\"log_h1\"'::regclass" in out.steps[1].probe


def test_changed_unique_index_a_foreign_key_depends_on_is_refused():
    old = index("parent_code_uq", ("code",), table="parent", unique=True)
    new = index("parent_code_uq", ("code",), table="parent", unique=True,
                predicate="(code IS NOT NULL)")
    fk = Constraint("child_code_fkey", "fk", ("name",),
                    "FOREIGN KEY (name) REFERENCES public.parent(code)",
                    ref_table="public.parent", ref_columns=("code",))
    live, expected, _ = pair(child(constraints=[fk]), child(constraints=[fk]))
    live = replace(live, tables=tuple(replace(t, indexes=(old,)) if t.name == "parent" else t
                                      for t in live.tables))
    expected = replace(expected, tables=tuple(replace(t, indexes=(new,)) if t.name == "parent"
                                              else t for t in expected.tables))
    models = (live, expected, diff_schemas(live, expected))
    out = index_kind.plan(only(models[2], "index", "different"), context(models))
    assert out.steps == [] and "child_code_fkey" in out.unsupported[0].why
