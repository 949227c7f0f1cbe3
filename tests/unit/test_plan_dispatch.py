"""make_plan's dispatch: one handler per (kind, bucket); extensions, extras, the rest."""
from __future__ import annotations

from pgreconcile.plan.kinds import (
    HANDLERS,
    column,
    constraint,
    extension,
    extra,
    handler_for,
    unsupported,
)
from pgreconcile.plan.kinds import table as table_kind
from pgreconcile.plan.planner import make_plan
from pgreconcile.plan.steps import ObjectRef
from pgreconcile.schema.diff import KINDS, Change
from pgreconcile.schema.model import Column, Extension, Table

from .builders import child, child_columns, pair


def change(kind: str, bucket: str, **kw) -> Change:
    return Change(bucket, kind, kw.pop("object", "public.x"), kw.pop("table", None), **kw)


def test_every_kind_and_bucket_has_one_handler_or_is_unsupported():
    assert handler_for(change("column", "missing")) is column.plan
    assert handler_for(change("column", "different")) is column.plan
    assert handler_for(change("extension", "missing")) is extension.plan
    assert all(HANDLERS[(kind, "extra")] is extra.plan for kind in KINDS)
    assert handler_for(change("table", "missing")) is table_kind.plan
    assert handler_for(change("schema", "missing")) is table_kind.plan
    for kind in ("trigger", "view", "function", "sequence", "enum"):
        assert handler_for(change(kind, "missing")) is not unsupported
    assert handler_for(change("constraint", "different")) is constraint.plan


def test_missing_extension_is_created_and_reversible():
    live, expected, diff = pair(child(), child(),
                                expected_extensions=[Extension("citext", "public", "1.6")])
    plan = make_plan(live, expected, diff)
    (step,) = plan.steps
    ref = ObjectRef("extension", "", None, "citext")
    assert step.id == "01-extension-citext"
    assert step.sql == ('CREATE EXTENSION IF NOT EXISTS "citext"',)
    assert step.reverse == ('DROP EXTENSION IF EXISTS "citext"',)
    assert (step.target, step.creates, step.table) == (ref, (ref,), None)
    assert "extname = 'citext'" in step.probe


def test_extras_are_kept_reported_and_accepted_by_verify_never_dropped():
    live, expected, diff = pair(child(child_columns() + [Column("legacy", "text")]), child(),
                                live_extra=(Table("public", "audit", (Column("id", "integer"),)),))
    plan = make_plan(live, expected, diff)
    assert plan.steps == () and plan.unsupported == ()
    assert {k.object for k in plan.kept} == {"public.child.legacy", "public.audit"}
    assert all("never dropped" in k.why for k in plan.kept)
    assert {r.object for r in plan.residual} == {"public.child.legacy", "public.audit"}


def test_changes_without_a_safe_fix_are_unsupported_with_the_diffs_risk():
    out = unsupported(change("view", "missing", risk="CREATE VIEW is instant"), None)
    assert out.unsupported[0].why.startswith("CREATE VIEW")
    out = unsupported(change("trigger", "missing"), None)
    assert out.unsupported[0].why == "no safe automatic fix; write a migration for it"
