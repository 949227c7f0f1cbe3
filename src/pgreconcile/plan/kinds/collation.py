"""Collations: a missing one is created; one that differs is refused.

* missing: CREATE COLLATION IF NOT EXISTS with the reference's provider, locale(s) and
  determinism (libc: lc_collate/lc_ctype; icu and builtin: locale);
* different: refused. A collation cannot be altered (ALTER COLLATION only renames it or
  refreshes its version), and dropping and creating it again changes the order of every
  index and the result of every comparison that uses it: that needs a migration that
  rebuilds them.
"""
from __future__ import annotations

from pgreconcile.plan.context import PlanContext, Planned
from pgreconcile.plan.sqltext import literal, qualified
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change
from pgreconcile.schema.model import Collation

HANDLES = (("collation", "missing"), ("collation", "different"))

PROVIDERS = {"c": "libc", "i": "icu", "b": "builtin"}


def plan(change: Change, ctx: PlanContext) -> Planned:
    if change.bucket == "different":
        out = Planned()
        live, exp = change.live or {}, change.expected or {}
        parts = ", ".join(f"{a} {live.get(a)!r} live, {exp.get(a)!r} expected"
                          for a in change.attributes)
        out.refuse(change, f"collation {change.object} differs ({parts}): a collation "
                           "cannot be altered, and recreating it changes the order of every "
                           "index using it; write a migration that rebuilds them")
        return out
    return missing(change)


def options_sql(c: Collation) -> str:
    provider = PROVIDERS.get(c.provider, "libc")
    options = [f"provider = {provider}"]
    if provider == "libc":
        options += [f"lc_collate = {literal(c.lc_collate or c.locale or 'C')}",
                    f"lc_ctype = {literal(c.lc_ctype or c.locale or 'C')}"]
    else:
        options.append(f"locale = {literal(c.locale or c.lc_collate or '')}")
    if not c.deterministic:
        options.append("deterministic = false")
    return ", ".join(options)


def has_collation(schema: str, name: str) -> str:
    return (f"EXISTS (SELECT 1 FROM pg_collation c JOIN pg_namespace n ON n.oid = "
            f"c.collnamespace WHERE n.nspname = {literal(schema)} AND c.collname = "
            f"{literal(name)})")


def missing(change: Change) -> Planned:
    out = Planned()
    c = Collation.from_dict(change.expected)
    q = qualified(c.schema, c.name)
    ref = ObjectRef.of("collation", c.qualified_name)
    out.add(f"collation-{c.schema}-{c.name}", title=f"CREATE COLLATION {c.qualified_name}",
            reason=f"missing collation {c.qualified_name}", kind=StepKind.DDL, table=None,
            target=ref, creates=(ref,),
            sql=(f"CREATE COLLATION IF NOT EXISTS {q} ({options_sql(c)})",),
            probe=f"SELECT {has_collation(c.schema, c.name)}",
            reverse=(f"DROP COLLATION IF EXISTS {q}",), lock="none", lock_duration="instant")
    return out
