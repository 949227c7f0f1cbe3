"""Domains: a missing domain, and a domain whose default, NOT NULL or checks differ.

* missing: CREATE DOMAIN with its collation, default, NOT NULL and checks (an unvalidated
  check is added NOT VALID, as the reference has it), in one step;
* default: ALTER DOMAIN SET DEFAULT / DROP DEFAULT (catalog only, instant);
* NOT NULL: ALTER DOMAIN SET NOT NULL scans every column of that domain (lock_duration
  scan); DROP NOT NULL is instant;
* a check the reference has: ADD CONSTRAINT … NOT VALID (instant), then VALIDATE
  CONSTRAINT (scans every column of that domain, without blocking writes for long);
* a check only live has rejects writes Django expects to succeed: it is dropped. That
  loses no data, so the step is not destructive. A check with the same name and another
  definition is dropped, then added again;
* another base type or collation: refused (needs a new domain and a rewrite of every
  column using it).
"""
from __future__ import annotations

from pgreconcile.plan.context import PlanContext, Planned
from pgreconcile.plan.sqltext import ident, literal, qualified
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change
from pgreconcile.schema.model import Domain, DomainCheck

HANDLES = (("domain", "missing"), ("domain", "different"))


def plan(change: Change, ctx: PlanContext) -> Planned:
    if change.bucket == "missing":
        return missing(change)
    return different(change)


def type_oid(schema: str, name: str) -> str:
    return (f"(SELECT t.oid FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            f"WHERE n.nspname = {literal(schema)} AND t.typname = {literal(name)})")


def has_domain(schema: str, name: str) -> str:
    return (f"EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            f"WHERE n.nspname = {literal(schema)} AND t.typname = {literal(name)} AND "
            f"t.typtype = 'd')")


def has_check(schema: str, name: str, check: str, *, validated: bool = False,
              definition: DomainCheck | None = None) -> str:
    """The domain has a check named `check` (validated, if asked), and, when `definition`
    is given, one that does what it does: a probe then describes the end state, not only
    a name (a check changed under the same name is dropped and added again)."""
    same = ""
    if definition is not None:
        from pgreconcile.plan.kinds.view import normalized

        live = "regexp_replace(pg_get_constraintdef(oid), ' NOT VALID$', '')"
        same = f" AND {normalized(live)} = {normalized(literal(check_body(definition)))}"
    return (f"EXISTS (SELECT 1 FROM pg_constraint WHERE contypid = {type_oid(schema, name)} "
            f"AND conname = {literal(check)}{' AND convalidated' if validated else ''}{same})")


def check_body(check: DomainCheck) -> str:
    return check.definition.removesuffix(" NOT VALID")


def _same(check: DomainCheck) -> str:
    """What a check does, whatever its name, validation and white space."""
    return " ".join(check_body(check).split())


def create_domain_sql(domain: Domain) -> str:
    parts = [f"CREATE DOMAIN {qualified(domain.schema, domain.name)} AS {domain.base_type}"]
    if domain.collation:
        parts.append(f"COLLATE {domain.collation}")
    if domain.default is not None:
        parts.append(f"DEFAULT {domain.default}")
    if domain.not_null:
        parts.append("NOT NULL")
    parts += [f"CONSTRAINT {ident(c.name)} {check_body(c)}" for c in domain.checks
              if c.validated]
    return " ".join(parts)


def missing(change: Change) -> Planned:
    out = Planned()
    domain = Domain.from_dict(change.expected)
    d = qualified(domain.schema, domain.name)
    ref = ObjectRef.of("domain", domain.qualified_name)
    sql = [create_domain_sql(domain)]
    sql += [f"ALTER DOMAIN {d} ADD CONSTRAINT {ident(c.name)} {check_body(c)} NOT VALID"
            for c in domain.checks if not c.validated]
    out.add(f"domain-{domain.schema}-{domain.name}", title=f"CREATE DOMAIN {domain.qualified_name}",
            reason=f"missing domain {domain.qualified_name}", kind=StepKind.DDL, table=None,
            target=ref, creates=(ref,), sql=tuple(sql),
            probe=f"SELECT {has_domain(domain.schema, domain.name)}",
            reverse=(f"DROP DOMAIN IF EXISTS {d}",), lock="none", lock_duration="instant")
    return out


def different(change: Change) -> Planned:
    out = Planned()
    live, exp = Domain.from_dict(change.live), Domain.from_dict(change.expected)
    if live.base_type != exp.base_type or live.collation != exp.collation:
        what = "base type" if live.base_type != exp.base_type else "collation"
        out.refuse(change, f"the domain's {what} differs ({getattr(live, _attr(what))} live, "
                           f"{getattr(exp, _attr(what))} expected): that needs a new domain "
                           "and a rewrite of every column using it; write a migration")
        return out
    d = qualified(exp.schema, exp.name)
    ref = ObjectRef.of("domain", exp.qualified_name)
    base = f"{exp.schema}-{exp.name}"
    oid = type_oid(exp.schema, exp.name)
    if live.default != exp.default:
        default_now = f"(SELECT pg_get_expr(typdefaultbin, 0) FROM pg_type WHERE oid = {oid})"
        out.add(f"domain-default-{base}", title=f"ALTER DOMAIN {exp.qualified_name} "
                + ("DROP DEFAULT" if exp.default is None else f"SET DEFAULT {exp.default}"),
                reason=f"domain {exp.qualified_name}: default {live.default} live, "
                       f"{exp.default} expected", kind=StepKind.DDL, table=None, target=ref,
                sql=(_default_sql(d, exp.default),),
                probe=(f"SELECT {default_now} IS NULL" if exp.default is None else
                       f"SELECT {default_now} IS NOT DISTINCT FROM {literal(exp.default)}"),
                reverse=(_default_sql(d, live.default),), lock="none",
                lock_duration="instant")
    if live.not_null != exp.not_null:
        verb = "SET" if exp.not_null else "DROP"
        undo = "DROP" if exp.not_null else "SET"
        out.add(f"domain-not-null-{base}", title=f"ALTER DOMAIN {exp.qualified_name} "
                f"{verb} NOT NULL", reason=f"domain {exp.qualified_name}: NOT NULL expected "
                f"{exp.not_null}", kind=StepKind.DDL, table=None, target=ref,
                sql=(f"ALTER DOMAIN {d} {verb} NOT NULL",),
                probe=(f"SELECT {'' if exp.not_null else 'NOT '}typnotnull FROM pg_type "
                       f"WHERE oid = {oid}"),
                reverse=(f"ALTER DOMAIN {d} {undo} NOT NULL",), lock="SHARE",
                lock_duration="scan" if exp.not_null else "instant")
    live_checks = {c.name: c for c in live.checks}
    exp_checks = {c.name: c for c in exp.checks}
    live_bodies = {_same(c): c for c in live.checks}
    exp_bodies = {_same(c): c for c in exp.checks}
    for c in live.checks:
        same = exp_checks.get(c.name)
        if _same(c) in exp_bodies and (same is None or _same(same) == _same(c)):
            continue  # the same check (perhaps under another name): left alone
        out.add(f"domain-drop-check-{base}-{c.name}", title=f"drop check {c.name} of domain "
                f"{exp.qualified_name}", reason=f"check {c.name} ({check_body(c)}) is not in "
                "the reference: it rejects values Django may write", kind=StepKind.DDL,
                table=None, target=ref,
                sql=(f"ALTER DOMAIN {d} DROP CONSTRAINT IF EXISTS {ident(c.name)}",),
                # Done when no check of that name does what this one did (the reference's
                # check of the same name may be there again, added by a later step).
                probe=f"SELECT NOT {has_check(exp.schema, exp.name, c.name, definition=c)}",
                reverse=(f"ALTER DOMAIN {d} ADD CONSTRAINT {ident(c.name)} {check_body(c)} "
                         "NOT VALID",), lock="none", lock_duration="instant")
    for c in exp.checks:
        same = live_checks.get(c.name)
        twin = live_bodies.get(_same(c))
        if twin is not None and (same is None or _same(same) == _same(c)):
            if c.validated and not twin.validated:  # there, but NOT VALID live
                validate_step(out, exp, twin.name, c)
            elif twin.validated and not c.validated:
                out.notes.append(f"check {twin.name} of domain {exp.qualified_name} is "
                                 "validated live, NOT VALID in the reference: left validated")
            continue
        cref = ObjectRef("constraint", exp.schema, None, c.name)
        out.add(f"domain-check-{base}-{c.name}", title=f"add check {c.name} NOT VALID to "
                f"domain {exp.qualified_name}", reason=f"domain {exp.qualified_name} lacks "
                f"check {c.name} ({check_body(c)})", kind=StepKind.DDL, table=None,
                target=cref, sql=(f"ALTER DOMAIN {d} ADD CONSTRAINT {ident(c.name)} "
                                  f"{check_body(c)} NOT VALID",),
                probe=f"SELECT {has_check(exp.schema, exp.name, c.name, definition=c)}",
                reverse=(f"ALTER DOMAIN {d} DROP CONSTRAINT IF EXISTS {ident(c.name)}",),
                lock="none", lock_duration="instant")
        if c.validated:
            validate_step(out, exp, c.name, c)
    return out


def validate_step(out: Planned, domain: Domain, check: str,
                  definition: DomainCheck | None = None) -> None:
    d = qualified(domain.schema, domain.name)
    out.add(f"domain-validate-{domain.schema}-{domain.name}-{check}",
            title=f"VALIDATE CONSTRAINT {check} of domain {domain.qualified_name}",
            reason=f"check {check} must hold for existing values", kind=StepKind.DDL,
            table=None, target=ObjectRef("constraint", domain.schema, None, check),
            sql=(f"ALTER DOMAIN {d} VALIDATE CONSTRAINT {ident(check)}",),
            probe="SELECT " + has_check(domain.schema, domain.name, check, validated=True,
                                        definition=definition),
            lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan")


def _attr(what: str) -> str:
    return "base_type" if what == "base type" else "collation"


def _default_sql(d: str, default: str | None) -> str:
    return (f"ALTER DOMAIN {d} DROP DEFAULT" if default is None else
            f"ALTER DOMAIN {d} SET DEFAULT {default}")
