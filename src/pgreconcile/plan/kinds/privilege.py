"""Privileges on tables, views and sequences: GRANT what the reference grants, REVOKE
what only live grants to that grantee.

* GRANT the privileges a grantee lacks, WITH GRANT OPTION for those the reference holds
  grantable (and GRANT … WITH GRANT OPTION for a grant option that is missing alone).
  Not destructive; reverse: REVOKE them again;
* REVOKE the privileges (or only the grant option: REVOKE GRANT OPTION FOR) that live
  gives the grantee and the reference does not. Decision: a REVOKE step IS destructive.
  It loses no data, but the application (or whatever else connects as that role) may lose
  access to the object, which is "breaking the application"; apply runs it only with
  --allow-destructive. Reverse: GRANT them back. A grantee only live has at all is an
  extra (plan/kinds/extra.py), not handled here;
* views take GRANT … ON TABLE, sequences GRANT … ON SEQUENCE; the grantee PUBLIC is the
  keyword, any other grantee a quoted role name. A role that does not exist on the server
  cannot be planned around (the planner has no database): the step's precheck counts it,
  and apply refuses before changing anything, naming the role.

GRANT and REVOKE take no table lock that waits on queries; the probes read the object's
ACL (aclexplode), never has_*_privilege (which also counts role membership and PUBLIC).
"""
from __future__ import annotations

from pgreconcile.plan.context import PlanContext, Planned
from pgreconcile.plan.sqltext import ident, literal, qualified_name
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change
from pgreconcile.schema.model import Privilege

HANDLES = (("privilege", "missing"), ("privilege", "different"))

#: Privilege keywords a relation's ACL can hold (MAINTAIN: PostgreSQL 17+).
KNOWN = {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER",
         "MAINTAIN", "USAGE"}


def plan(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    exp = Privilege.from_dict(change.expected)
    live = Privilege.from_dict(change.live) if change.live else Privilege(
        exp.kind, exp.object, exp.grantee, ())
    unknown = (set(exp.privileges) | set(live.privileges)) - KNOWN
    if unknown:
        out.refuse(change, f"unknown privilege(s) {', '.join(sorted(unknown))}")
        return out
    on = f"{'SEQUENCE' if exp.kind == 'sequence' else 'TABLE'} {qualified_name(exp.object)}"
    who = grantee_sql(exp.grantee)
    table = change.table if exp.kind == "table" else None
    ref = ObjectRef("privilege", "", None, exp.key)
    slug = f"{exp.object}-{exp.grantee}".replace(".", "-").replace(" ", "")[:50]
    precheck = role_precheck(exp.grantee)
    exp_plain = sorted(set(exp.privileges) - set(exp.grantable))
    # Missing entirely, or held without the grant option the reference gives it.
    plain = [p for p in exp_plain if p not in live.privileges]
    option = [p for p in exp.grantable if p not in live.grantable]
    if plain or option:
        sql, reverse = [], []
        if plain:
            sql.append(f"GRANT {', '.join(plain)} ON {on} TO {who}")
            reverse.append(f"REVOKE {', '.join(plain)} ON {on} FROM {who}")
        if option:
            sql.append(f"GRANT {', '.join(option)} ON {on} TO {who} WITH GRANT OPTION")
            had = [p for p in option if p in live.privileges]
            new = [p for p in option if p not in live.privileges]
            if had:
                reverse.append(f"REVOKE GRANT OPTION FOR {', '.join(had)} ON {on} FROM {who}")
            if new:
                reverse.append(f"REVOKE {', '.join(new)} ON {on} FROM {who}")
        out.add(f"grant-{slug}", title=f"GRANT {', '.join(plain + option)} ON "
                f"{exp.object} TO {exp.grantee}", reason=f"{exp.grantee} lacks "
                f"{', '.join(plain + option)} on {exp.kind} {exp.object}",
                kind=StepKind.DDL, table=table, target=ref, sql=tuple(sql),
                probe=granted_probe(exp, plain, option),
                reverse=tuple(reverse), lock="none", lock_duration="instant",
                precheck=precheck)
    revoke = sorted(set(live.privileges) - set(exp.privileges))
    revoke_option = sorted((set(live.grantable) - set(exp.grantable)) & set(exp.privileges))
    if revoke or revoke_option:
        sql, reverse = [], []
        if revoke:
            sql.append(f"REVOKE {', '.join(revoke)} ON {on} FROM {who}")
            again = [p for p in revoke if p not in live.grantable]
            again_option = [p for p in revoke if p in live.grantable]
            if again:
                reverse.append(f"GRANT {', '.join(again)} ON {on} TO {who}")
            if again_option:
                reverse.append(f"GRANT {', '.join(again_option)} ON {on} TO {who} "
                               "WITH GRANT OPTION")
        if revoke_option:
            sql.append(f"REVOKE GRANT OPTION FOR {', '.join(revoke_option)} ON {on} "
                       f"FROM {who}")
            reverse.append(f"GRANT {', '.join(revoke_option)} ON {on} TO {who} "
                           "WITH GRANT OPTION")
        tests = []
        if revoke:
            tests.append(acl_count(exp.object, exp.grantee, revoke) + " = 0")
        if revoke_option:
            tests.append(acl_count(exp.object, exp.grantee, revoke_option, grantable=True)
                         + " = 0")
        what = revoke + [f"GRANT OPTION FOR {p}" for p in revoke_option]
        out.add(f"revoke-{slug}", title=f"REVOKE {', '.join(what)} ON {exp.object} FROM "
                f"{exp.grantee}", reason=f"{exp.grantee} holds {', '.join(what)} on "
                f"{exp.kind} {exp.object}, the reference does not grant it (whatever "
                f"connects as {exp.grantee} may lose access)",
                kind=StepKind.DDL, table=table, target=ref, sql=tuple(sql),
                probe="SELECT " + " AND ".join(tests), reverse=tuple(reverse), lock="none",
                lock_duration="instant", destructive=True, precheck=precheck)
    return out


def granted_probe(exp: Privilege, plain: list[str], option: list[str]) -> str:
    """The grantee holds every privilege of `plain`, and every one of `option` grantable."""
    tests = []
    if plain:
        tests.append(f"{acl_count(exp.object, exp.grantee, plain)} = {len(plain)}")
    if option:
        tests.append(f"{acl_count(exp.object, exp.grantee, option, grantable=True)} = "
                     f"{len(option)}")
    return "SELECT " + " AND ".join(tests)


def grantee_sql(grantee: str) -> str:
    return "PUBLIC" if grantee == "PUBLIC" else ident(grantee)


def grantee_oid(grantee: str) -> str:
    if grantee == "PUBLIC":
        return "0"
    return f"(SELECT oid FROM pg_roles WHERE rolname = {literal(grantee)})"


def acl_count(obj: str, grantee: str, privileges, *, grantable: bool = False) -> str:
    """How many of `privileges` the object's ACL gives `grantee` directly (grantable)."""
    names = ", ".join(literal(p) for p in privileges)
    return (f"(SELECT count(DISTINCT a.privilege_type) FROM pg_class c, aclexplode(c.relacl) "
            f"a WHERE c.oid = to_regclass({literal(qualified_name(obj))}) AND a.grantee = "
            f"{grantee_oid(grantee)} AND a.privilege_type IN ({names})"
            + (" AND a.is_grantable" if grantable else "") + ")")


def role_precheck(grantee: str) -> str:
    """Counts the grantee when it is no role of the server (PUBLIC always exists)."""
    if grantee == "PUBLIC":
        return ""
    return (f"SELECT count(*), 'role ' || string_agg(r, ', ') || ' does not exist on the "
            f"server; create it first' FROM (VALUES ({literal(grantee)})) AS v(r) WHERE NOT "
            f"EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v.r)")
