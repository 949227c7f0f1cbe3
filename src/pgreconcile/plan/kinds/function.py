"""Functions and procedures: a missing one, and one whose definition differs.

The definition is pg_get_functiondef's whole CREATE OR REPLACE statement. It runs with
`SET LOCAL check_function_bodies = off` in the same transaction, so a body that names a
table or another function created later in the plan is not checked now (PostgreSQL checks
it when it is called, as pg_dump's restore does).

* missing: the definition.
* different, same kind and return type: the definition (CREATE OR REPLACE keeps grants and
  every object that depends on the function). When PostgreSQL refuses to replace it in
  place (a parameter renamed, a parameter default removed: invalid_function_definition),
  the step drops and creates it in the same transaction instead.
* different kind (function ↔ procedure) or return type: DROP + CREATE in one transaction,
  destructive: whatever calls it expecting the old signature breaks, and a view or trigger
  that depends on it makes the DROP fail (nothing is dropped with CASCADE).
"""
from __future__ import annotations

from pgreconcile.plan.context import PlanContext, Planned
from pgreconcile.plan.kinds.view import normalized
from pgreconcile.plan.sqltext import literal, qualified
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change
from pgreconcile.schema.model import Function

HANDLES = (("function", "missing"), ("function", "different"))

NO_BODY_CHECK = "SET LOCAL check_function_bodies = off"
LOCK = "none (catalog only; callers see the new definition at commit)"


def plan(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    fn = Function.from_dict(change.expected)
    if not fn.definition.strip() or fn.kind == "a":
        out.refuse(change, "aggregates (and routines without a printable definition) are "
                           "not created automatically; write a migration for it")
        return out
    ref = ObjectRef(kind_word(fn).lower(), fn.schema, None, f"{fn.name}({fn.arguments})")
    probe = f"SELECT {function_is(fn)}"
    if change.bucket == "missing":
        out.add(f"create-function-{fn.name}", title=f"create {kind_word(fn).lower()} "
                f"{change.object}", reason=f"missing {kind_word(fn).lower()} {change.object}",
                kind=StepKind.DDL, table=None, target=ref, creates=(ref,),
                sql=(NO_BODY_CHECK, definition(fn)), probe=probe, reverse=(drop_sql(fn),),
                lock=LOCK, lock_duration="instant")
        return out
    live = Function.from_dict(change.live)
    if not live.definition.strip():
        out.refuse(change, "the live routine has no printable definition to replace")
        return out
    what = ", ".join(change.attributes) or "definition"
    if live.kind == fn.kind and live.returns == fn.returns:
        out.add(f"replace-function-{fn.name}", title=f"CREATE OR REPLACE {kind_word(fn)} "
                f"{change.object}", reason=f"{change.object}: {what} differs",
                kind=StepKind.DDL, table=None, target=ref,
                sql=(NO_BODY_CHECK, replace_sql(fn, live)), probe=probe,
                reverse=(NO_BODY_CHECK, replace_sql(live, fn)), lock=LOCK,
                lock_duration="instant")
        return out
    out.add(f"recreate-function-{fn.name}",
            title=f"drop and create {kind_word(fn).lower()} {change.object} "
                  f"({kind_word(live).lower()} returning {live.returns or 'nothing'} live)",
            reason=f"{change.object}: {what} differs; CREATE OR REPLACE cannot change the "
                   "kind or the return type, and callers of the old one break",
            kind=StepKind.DDL, table=None, target=ref,
            sql=(NO_BODY_CHECK, drop_sql(live), definition(fn)), probe=probe,
            reverse=(NO_BODY_CHECK, drop_sql(fn), definition(live)), lock=LOCK,
            lock_duration="instant", destructive=True)
    return out


def kind_word(fn: Function) -> str:
    return "PROCEDURE" if fn.kind == "p" else "FUNCTION"


def definition(fn: Function) -> str:
    return fn.definition.strip().rstrip(";").rstrip()


def drop_sql(fn: Function) -> str:
    """DROP by name and identity arguments (pg_get_function_identity_arguments, types
    schema-qualified as the catalog read them)."""
    return f"DROP {kind_word(fn)} IF EXISTS {qualified(fn.schema, fn.name)}({fn.arguments})"


def replace_sql(fn: Function, old: Function) -> str:
    """CREATE OR REPLACE, or DROP + CREATE when PostgreSQL refuses to replace in place."""
    block = (f"BEGIN\n{definition(fn)};\nEXCEPTION WHEN invalid_function_definition THEN\n"
             f"{drop_sql(old)};\n{definition(fn)};\nEND")
    n = 0
    while f"$pgreconcile{n or ''}$" in block:
        n += 1
    tag = f"$pgreconcile{n or ''}$"
    return f"DO {tag}\n{block}\n{tag}"


def function_is(fn: Function) -> str:
    """Probe expression: the routine exists with these arguments and this definition
    (compared without qualifiers and with whitespace squashed)."""
    return (f"EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            f"WHERE n.nspname = {literal(fn.schema)} AND p.proname = {literal(fn.name)} "
            f"AND p.prokind = {literal(fn.kind)} "
            f"AND {normalized('pg_get_function_identity_arguments(p.oid)')} = "
            f"{normalized(literal(fn.arguments))} "
            f"AND {normalized('pg_get_functiondef(p.oid)')} = "
            f"{normalized(literal(definition(fn)))})")
