"""Row-level security: the table's flags (ENABLE / DISABLE / FORCE / NO FORCE ROW LEVEL
SECURITY) and its policies. A missing policy is created; a policy that differs is dropped
and created again in one transaction (ALTER POLICY cannot change the command or
PERMISSIVE/RESTRICTIVE, so one way for every difference). A policy only live has is kept
and reported by `extra`, like every other extra: dropping it changes who sees which rows.

Every statement takes an ACCESS EXCLUSIVE lock on the table for an instant (metadata only).
The diff orders policies before the flags, so a table whose row level security is switched
on already has the policies that let its roles in.
"""
from __future__ import annotations

from pgreconcile.plan.context import PlanContext, Planned
from pgreconcile.plan.sqltext import ident, literal, qualified_name, regclass
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change
from pgreconcile.schema.model import POLICY_COMMANDS, Policy

HANDLES = (("rls", "different"), ("policy", "missing"), ("policy", "different"))

LOCK = "ACCESS EXCLUSIVE"


def plan(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    if ctx.live_table(change.table) is None:
        out.refuse(change, "table is missing")
        return out
    if change.kind == "rls":
        _flags(change, out)
    elif change.bucket == "missing":
        _missing_policy(change, out)
    else:
        _changed_policy(change, out)
    return out


# -- the flags --------------------------------------------------------------------------

def flag_statements(table: str, enabled: bool | None, forced: bool | None) -> list[str]:
    """ALTER TABLE statements setting the flags that are not None, on "schema.table"."""
    t = qualified_name(table)
    out = []
    if enabled is not None:
        out.append(f"ALTER TABLE {t} {'ENABLE' if enabled else 'DISABLE'} ROW LEVEL SECURITY")
    if forced is not None:
        out.append(f"ALTER TABLE {t} {'FORCE' if forced else 'NO FORCE'} ROW LEVEL SECURITY")
    return out


def flags_are(table: str, enabled: bool, forced: bool) -> str:
    """Probe expression: the table's flags are exactly these."""
    return (f"EXISTS (SELECT 1 FROM pg_class WHERE oid = {regclass(qualified_name(table))} "
            f"AND relrowsecurity = {str(enabled).lower()} "
            f"AND relforcerowsecurity = {str(forced).lower()})")


def _flags(change: Change, out: Planned) -> None:
    table = change.table
    live, exp = change.live, change.expected
    changed = {a: a in change.attributes for a in ("enabled", "forced")}
    sql = flag_statements(table, exp["enabled"] if changed["enabled"] else None,
                          exp["forced"] if changed["forced"] else None)
    reverse = flag_statements(table, live["enabled"] if changed["enabled"] else None,
                              live["forced"] if changed["forced"] else None)
    words = [w for w, on in ((("enable" if exp["enabled"] else "disable"), changed["enabled"]),
                             (("force" if exp["forced"] else "no force"), changed["forced"]))
             if on]
    out.add(f"rls-{table.partition('.')[2]}",
            title=f"{' + '.join(words)} row level security on {table}",
            reason=f"row level security of {table} differs ({', '.join(change.attributes)})",
            kind=StepKind.DDL, table=table, target=ObjectRef.of("rls", table),
            sql=tuple(sql), reverse=tuple(reverse),
            probe=f"SELECT {flags_are(table, exp['enabled'], exp['forced'])}",
            lock=LOCK, lock_duration="instant")


# -- policies ---------------------------------------------------------------------------

def create_policy_sql(policy: Policy, table: str) -> str:
    """CREATE POLICY from the model's fields, on "schema.table"."""
    if policy.command not in POLICY_COMMANDS:
        raise ValueError(f"unknown policy command {policy.command!r}")
    roles = ", ".join("PUBLIC" if r == "public" else ident(r) for r in policy.roles) or "PUBLIC"
    text = (f"CREATE POLICY {ident(policy.name)} ON {qualified_name(table)} AS "
            f"{'PERMISSIVE' if policy.permissive else 'RESTRICTIVE'} FOR {policy.command} "
            f"TO {roles}")
    if policy.using is not None:
        text += f" USING ({policy.using})"
    if policy.with_check is not None:
        text += f" WITH CHECK ({policy.with_check})"
    return text


def drop_policy_sql(name: str, table: str) -> str:
    return f"DROP POLICY IF EXISTS {ident(name)} ON {qualified_name(table)}"


def has_policy(table: str, name: str) -> str:
    return (f"EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = "
            f"{regclass(qualified_name(table))} AND polname = {literal(name)})")


# pg_get_expr prints a name schema-qualified unless the session's search_path makes it
# visible: the catalog reads with search_path = pg_catalog, an apply's probe with the
# connection's own. Both sides are compared with every "qualifier." taken out.
_QUALIFIER = r'(?:"(?:[^"]|"")+"|[[:alpha:]_][[:alnum:]_$]*)\.'


def _unqualified(sql_text: str) -> str:
    return f"regexp_replace({sql_text}, {literal(_QUALIFIER)}, '', 'g')"


def _expression_is(column: str, expected: str | None) -> str:
    if expected is None:
        return f"p.{column} IS NULL"
    return (f"{_unqualified(f'pg_get_expr(p.{column}, p.polrelid)')} = "
            f"{_unqualified(literal(expected))}")


def policy_is(table: str, policy: Policy) -> str:
    """Probe expression: a policy of that name exists and is `policy` (the command,
    PERMISSIVE/RESTRICTIVE, the roles as a set, and both expressions)."""
    polcmd = {"ALL": "*", "SELECT": "r", "INSERT": "a", "UPDATE": "w", "DELETE": "d"}
    roles = ", ".join(literal(r) for r in policy.roles)
    role_names = ("ARRAY(SELECT CASE WHEN r.oid = 0 THEN 'public' ELSE "
                  "pg_get_userbyid(r.oid)::text END FROM unnest(p.polroles) AS r(oid))")
    return (f"EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = "
            f"{regclass(qualified_name(table))} AND p.polname = {literal(policy.name)} "
            f"AND p.polcmd = {literal(polcmd[policy.command])} "
            f"AND p.polpermissive = {str(policy.permissive).lower()} "
            f"AND {role_names} @> ARRAY[{roles}]::text[] "
            f"AND ARRAY[{roles}]::text[] @> {role_names} "
            f"AND {_expression_is('polqual', policy.using)} "
            f"AND {_expression_is('polwithcheck', policy.with_check)})")


def _missing_policy(change: Change, out: Planned) -> None:
    table, policy = change.table, Policy.from_dict(change.expected)
    ref = ObjectRef.in_table("policy", table, policy.name)
    out.add(f"policy-{ref.table}-{policy.name}",
            title=f"create policy {policy.name} on {table}",
            reason=f"missing policy {change.object}", kind=StepKind.DDL, table=table,
            target=ref, creates=(ref,), sql=(create_policy_sql(policy, table),),
            probe=f"SELECT {has_policy(table, policy.name)}",
            reverse=(drop_policy_sql(policy.name, table),),
            lock=LOCK, lock_duration="instant")


def _changed_policy(change: Change, out: Planned) -> None:
    table = change.table
    live, policy = Policy.from_dict(change.live), Policy.from_dict(change.expected)
    ref = ObjectRef.in_table("policy", table, policy.name)
    out.add(f"policy-{ref.table}-{policy.name}",
            title=f"recreate policy {policy.name} on {table}",
            reason=f"policy {change.object} differs ({', '.join(change.attributes)})",
            kind=StepKind.DDL, table=table, target=ref,
            sql=(drop_policy_sql(live.name, table), create_policy_sql(policy, table)),
            probe=f"SELECT {policy_is(table, policy)}",
            reverse=(drop_policy_sql(policy.name, table), create_policy_sql(live, table)),
            lock=LOCK, lock_duration="instant")
