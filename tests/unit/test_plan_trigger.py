"""Triggers: created, recreated, enabled or disabled."""
from __future__ import annotations

from dataclasses import replace

from pgreconcile.plan.context import PlanContext
from pgreconcile.plan.kinds import trigger
from pgreconcile.schema.diff import diff_schemas
from pgreconcile.schema.model import Trigger

from .builders import child, only, pair

T = '"public"."child"'
STAMP = Trigger("public", "child", "child_stamp",
                "CREATE TRIGGER child_stamp BEFORE UPDATE ON public.child FOR EACH ROW "
                "EXECUTE FUNCTION public.stamp()", "public.stamp")


def planned(live_triggers, expected_triggers, bucket):
    live, expected, _ = pair(child(), child())
    live = replace(live, triggers=tuple(live_triggers))
    expected = replace(expected, triggers=tuple(expected_triggers))
    diff = diff_schemas(live, expected)
    change = only(diff, "trigger", bucket)
    return trigger.plan(change, PlanContext(live, expected, diff)), change


def test_missing_trigger_is_created_with_its_firing_mode():
    out, _ = planned((), (STAMP,), "missing")
    (step,) = out.steps
    assert step.sql == (STAMP.definition,)
    assert step.reverse == (f'DROP TRIGGER IF EXISTS "child_stamp" ON {T}',)
    assert (step.table, step.lock, step.lock_duration) == \
        ("public.child", "SHARE ROW EXCLUSIVE", "instant")
    assert "t.tgenabled = 'O'" in step.probe and "pg_get_triggerdef(t.oid)" in step.probe
    out, _ = planned((), (replace(STAMP, enabled="D"),), "missing")
    assert out.steps[0].sql[1] == f'ALTER TABLE {T} DISABLE TRIGGER "child_stamp"'


def test_disabled_trigger_is_enabled_without_being_recreated():
    out, change = planned((replace(STAMP, enabled="D"),), (STAMP,), "different")
    assert change.attributes == ("enabled",)
    (step,) = out.steps
    assert step.sql == (f'ALTER TABLE {T} ENABLE TRIGGER "child_stamp"',)
    assert step.reverse == (f'ALTER TABLE {T} DISABLE TRIGGER "child_stamp"',)
    out, _ = planned((STAMP,), (replace(STAMP, enabled="A"),), "different")
    assert out.steps[0].sql == (f'ALTER TABLE {T} ENABLE ALWAYS TRIGGER "child_stamp"',)
    out, _ = planned((STAMP,), (replace(STAMP, enabled="R"),), "different")
    assert out.steps[0].sql == (f'ALTER TABLE {T} ENABLE REPLICA TRIGGER "child_stamp"',)


def test_changed_trigger_is_dropped_and_created_in_one_step():
    after = replace(STAMP, definition=STAMP.definition.replace("BEFORE UPDATE",
                                                               "BEFORE INSERT OR UPDATE"))
    out, _ = planned((STAMP,), (after,), "different")
    (step,) = out.steps
    assert step.sql == (f'DROP TRIGGER IF EXISTS "child_stamp" ON {T}', after.definition)
    assert step.reverse == (f'DROP TRIGGER IF EXISTS "child_stamp" ON {T}', STAMP.definition)
    assert step.lock == "ACCESS EXCLUSIVE" and not step.destructive
