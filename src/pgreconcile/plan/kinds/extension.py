"""Extensions: a missing one, and one whose version or schema differs.

* missing: CREATE EXTENSION IF NOT EXISTS (needs it installed on the server);
* another version: ALTER EXTENSION … UPDATE TO '<version>'. Destructive: extensions
  usually ship no downgrade script, so there is no way back (the step has no reverse),
  and a new version may change the functions and types the application uses. It runs
  only with --allow-destructive. Its precheck refuses the whole apply, before any change,
  when the server has no update path from the installed version to that one (a
  downgrade, or a version whose scripts are not installed);
* another schema: ALTER EXTENSION … SET SCHEMA (a relocatable extension only; PostgreSQL
  refuses the others, and the step fails without changing anything). Reverse: back.
"""
from __future__ import annotations

from pgreconcile.plan import probes
from pgreconcile.plan.context import PlanContext, Planned
from pgreconcile.plan.sqltext import ident, literal
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change

HANDLES = (("extension", "missing"), ("extension", "different"))


def plan(change: Change, ctx: PlanContext) -> Planned:
    if change.bucket == "different":
        return different(change)
    out = Planned()
    name = change.expected["name"]
    ref = ObjectRef("extension", "", None, name)
    out.add(f"extension-{name}", title=f"CREATE EXTENSION {name}", reason=change.object,
            kind=StepKind.DDL, table=None, target=ref, creates=(ref,),
            sql=(f"CREATE EXTENSION IF NOT EXISTS {ident(name)}",),
            probe=f"SELECT {probes.has_extension(name)}",
            reverse=(f"DROP EXTENSION IF EXISTS {ident(name)}",),
            lock="none", lock_duration="instant")
    return out


def different(change: Change) -> Planned:
    out = Planned()
    live, exp = change.live, change.expected
    name = exp["name"]
    e = ident(name)
    ref = ObjectRef("extension", "", None, name)
    if live["schema"] != exp["schema"]:
        out.add(f"extension-schema-{name}", title=f"ALTER EXTENSION {name} SET SCHEMA "
                f"{exp['schema']}", reason=f"extension {name} lives in schema "
                f"{live['schema']}, expected {exp['schema']}", kind=StepKind.DDL, table=None,
                target=ref, sql=(f"ALTER EXTENSION {e} SET SCHEMA {ident(exp['schema'])}",),
                probe=(f"SELECT EXISTS (SELECT 1 FROM pg_extension x JOIN pg_namespace n ON "
                       f"n.oid = x.extnamespace WHERE x.extname = {literal(name)} AND "
                       f"n.nspname = {literal(exp['schema'])})"),
                reverse=(f"ALTER EXTENSION {e} SET SCHEMA {ident(live['schema'])}",),
                lock="ACCESS EXCLUSIVE", lock_duration="instant")
    if live["version"] != exp["version"]:
        out.add(f"extension-update-{name}", title=f"ALTER EXTENSION {name} UPDATE TO "
                f"{exp['version']}", reason=f"extension {name} is version {live['version']} "
                f"live, {exp['version']} in the reference (no downgrade path: no reverse)",
                kind=StepKind.DDL, table=None, target=ref,
                sql=(f"ALTER EXTENSION {e} UPDATE TO {literal(exp['version'])}",),
                probe=(f"SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = "
                       f"{literal(name)} AND extversion = {literal(exp['version'])})"),
                reverse=(), lock="ACCESS EXCLUSIVE", lock_duration="instant",
                destructive=True, precheck=update_path_precheck(name, exp["version"]))
    return out


def update_path_precheck(name: str, version: str) -> str:
    """Counts the extension when no update script chain leads from its installed version
    to `version`."""
    return (f"SELECT count(*), string_agg('no update path for extension ' || x.extname || "
            f"' from ' || x.extversion || ' to ' || {literal(version)}, ', ') FROM "
            f"pg_extension x WHERE x.extname = {literal(name)} AND NOT EXISTS (SELECT 1 FROM "
            f"pg_extension_update_paths(x.extname) p WHERE p.source = x.extversion AND "
            f"p.target = {literal(version)} AND p.path IS NOT NULL)")
