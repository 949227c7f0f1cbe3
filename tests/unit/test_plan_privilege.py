"""Privileges: GRANT what is missing (with grant option where the reference has it),
REVOKE what only live grants (destructive: access may be lost), role prechecked.
Hand-built changes, no database."""
from __future__ import annotations

from pgreconcile.plan.context import PlanContext
from pgreconcile.plan.kinds import privilege
from pgreconcile.schema.diff import Change, Diff
from pgreconcile.schema.model import Privilege, Schema

CTX = PlanContext(Schema(), Schema(), Diff())
ON = 'ON TABLE "public"."orders"'


def planned(live: Privilege | None, expected: Privilege):
    change = Change("missing" if live is None else "different", "privilege", expected.key,
                    expected.object if expected.kind == "table" else None,
                    live.to_dict() if live else None, expected.to_dict(),
                    attributes=("privileges", "grantable"))
    return privilege.plan(change, CTX)


def test_missing_privileges_are_granted_with_grant_option_where_held_so():
    exp = Privilege("table", "public.orders", "app_ro", ("INSERT", "SELECT"), ("SELECT",))
    (step,) = planned(None, exp).steps
    assert step.sql == (f'GRANT INSERT {ON} TO "app_ro"',
                        f'GRANT SELECT {ON} TO "app_ro" WITH GRANT OPTION')
    assert step.reverse == (f'REVOKE INSERT {ON} FROM "app_ro"',
                            f'REVOKE SELECT {ON} FROM "app_ro"')
    assert not step.destructive and step.table == "public.orders"
    assert "aclexplode(c.relacl)" in step.probe and "a.is_grantable" in step.probe
    assert "rolname = v.r" in step.precheck and "'app_ro'" in step.precheck


def test_privileges_only_live_has_are_revoked_destructively():
    live = Privilege("table", "public.orders", "app_ro", ("DELETE", "SELECT", "UPDATE"))
    exp = Privilege("table", "public.orders", "app_ro", ("SELECT",))
    (step,) = planned(live, exp).steps
    assert step.sql == (f'REVOKE DELETE, UPDATE {ON} FROM "app_ro"',)
    assert step.reverse == (f'GRANT DELETE, UPDATE {ON} TO "app_ro"',)
    assert step.destructive and "lose access" in step.reason
    assert step.probe.endswith(" = 0")


def test_grant_and_revoke_are_separate_steps_and_grant_option_is_revoked_alone():
    live = Privilege("table", "public.orders", "app", ("DELETE", "SELECT"), ("SELECT",))
    exp = Privilege("table", "public.orders", "app", ("INSERT", "SELECT"))
    grant, revoke = planned(live, exp).steps
    assert grant.sql == (f'GRANT INSERT {ON} TO "app"',) and not grant.destructive
    assert revoke.sql == (f'REVOKE DELETE {ON} FROM "app"',
                          f'REVOKE GRANT OPTION FOR SELECT {ON} FROM "app"')
    assert revoke.reverse == (f'GRANT DELETE {ON} TO "app"',
                              f'GRANT SELECT {ON} TO "app" WITH GRANT OPTION')


def test_sequences_use_on_sequence_and_public_is_the_keyword_without_precheck():
    exp = Privilege("sequence", "public.orders_id_seq", "PUBLIC", ("USAGE",))
    (step,) = planned(None, exp).steps
    assert step.sql == ('GRANT USAGE ON SEQUENCE "public"."orders_id_seq" TO PUBLIC',)
    assert step.precheck == "" and step.table is None and "a.grantee = 0" in step.probe


def test_views_take_on_table():
    exp = Privilege("view", "public.summary", "report", ("SELECT",))
    (step,) = planned(None, exp).steps
    assert step.sql == ('GRANT SELECT ON TABLE "public"."summary" TO "report"',)


def test_unknown_privilege_keyword_is_refused():
    exp = Privilege("table", "public.orders", "x", ("SELECT; DROP",))
    out = planned(None, exp)
    assert out.steps == [] and "unknown privilege" in out.unsupported[0].why
