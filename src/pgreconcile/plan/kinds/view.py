"""Views and materialized views: a missing one, and one whose definition or kind differs.

* missing: CREATE VIEW … AS <pg_get_viewdef>, or CREATE MATERIALIZED VIEW … WITH DATA plus
  its indexes, in one transaction; a missing view it reads (planned later in the diff's
  name order) is created first.
* plain view, definition differs: CREATE OR REPLACE VIEW keeps the view's grants and its
  dependants. Whether the new columns are compatible (same names and types, new ones only
  at the end) only the server knows, so the step tries it and, when PostgreSQL refuses
  (invalid_table_definition), drops the views that read it, drops and creates the view,
  gives back its grants and comments, and recreates the dependants, all in the same
  transaction (a DO block with an exception handler: one statement, atomic).
* materialized view, or `materialized` differs: DROP + CREATE in one transaction, with the
  dependants dropped first and recreated after, in dependency order.
* options only (security_barrier, security_invoker, check_option; a materialized view's
  storage parameters): ALTER [MATERIALIZED] VIEW … SET (…) / RESET (…), catalog only.
  A view created or replaced gets its options in the same statement (CREATE … WITH (…);
  CREATE OR REPLACE VIEW sets them to exactly those it names).

Dependants are recreated with their expected definition when the reference has them and
everything they read is already there (their own change is then taken care of), else with
the live one. The reverse recreates the live definition the same way.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pgreconcile.plan import probes
from pgreconcile.plan.context import PlanContext, Planned, change_key
from pgreconcile.plan.sqltext import ident, literal, qualified, qualified_name
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change
from pgreconcile.schema.model import Schema, View

HANDLES = (("view", "missing"), ("view", "different"))

#: A qualifier ("schema." or "alias.") as PostgreSQL prints it: taken out of both sides of a
#: definition probe, because the catalog reads with search_path = pg_catalog and an apply's
#: probe with the connection's own (which prints public's names unqualified).
_QUALIFIER = r'(?:"(?:[^"]|"")+"|[[:alpha:]_][[:alnum:]_$]*)\.'
_PRIVILEGES = {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER",
               "MAINTAIN"}


def plan(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    _plan(change, ctx, out, change.object, {change.object})
    return out


def _plan(change: Change, ctx: PlanContext, out: Planned, root: str, seen: set[str]) -> None:
    expected = View.from_dict(change.expected)
    _views_it_reads_first(expected, ctx, out, root, seen)
    if change.bucket == "missing":
        _missing(change, expected, out)
    else:
        _different(change, View.from_dict(change.live), expected, ctx, out)


def _views_it_reads_first(view: View, ctx: PlanContext, out: Planned, root: str,
                          seen: set[str]) -> None:
    """Plan the pending changes of the views `view` reads that the planner would reach only
    after `root`, the change it is planning (the diff orders views by name, not by
    dependency), and mark them taken care of."""
    for dep in view.depends_on:
        if dep in seen or dep < root:
            continue  # the planner reached it before `root`: already planned
        other = next((c for c in ctx.diff.significant if c.kind == "view" and c.object == dep
                      and c.bucket in ("missing", "different")), None)
        if other is None:
            continue
        seen.add(dep)
        _plan(other, ctx, out, root, seen)
        out.handled.add(change_key(other))


def _missing(change: Change, view: View, out: Planned) -> None:
    ref = ObjectRef.of("view", view.qualified_name)
    word = "materialized view" if view.materialized else "view"
    out.add(f"create-view-{view.name}", title=f"create {word} {view.qualified_name}",
            reason=f"missing {word} {change.object}", kind=StepKind.DDL, table=None,
            target=ref, creates=(ref,), sql=tuple(create_sql(view)),
            probe=f"SELECT {view_is(view)}", reverse=(drop_sql(view),),
            lock="ACCESS EXCLUSIVE (the new view)",
            lock_duration="scan" if view.materialized else "instant")


def _different(change: Change, live: View, view: View, ctx: PlanContext, out: Planned) -> None:
    ref = ObjectRef.of("view", view.qualified_name)
    deps = dependants(ctx.live, {live.qualified_name})
    recreated = [recreation(d, ctx) for d in deps]
    restore = restore_sql(ctx.live, live.qualified_name, view.materialized)
    restore_live = restore_sql(ctx.live, live.qualified_name, live.materialized)
    what = ", ".join(change.attributes) or "definition"
    if set(change.attributes) == {"options"} and live.materialized == view.materialized:
        _options_step(change, live, view, out)
        return
    if not live.materialized and not view.materialized:
        sql = replace_view_sql(view, live, recreated, restore)
        reverse = replace_view_sql(live, view, as_live(deps, ctx.live), restore_live)
        title = f"CREATE OR REPLACE VIEW {view.qualified_name}"
        duration = "instant"
    else:
        sql = recreate_sql(live, view, recreated, restore)
        reverse = recreate_sql(view, live, as_live(deps, ctx.live), restore_live)
        title = (f"recreate {'materialized view' if view.materialized else 'view'} "
                 f"{view.qualified_name} (DROP + CREATE in one transaction)")
        duration = "scan" if view.materialized or any(r.view.materialized for r in recreated) \
            else "instant"
    if deps:
        title += f"; recreate {len(deps)} dependent view(s) if needed"
    out.add(f"replace-view-{view.name}", title=title,
            reason=f"view {change.object}: {what} differs", kind=StepKind.DDL, table=None,
            target=ref, sql=tuple(sql), probe=f"SELECT {view_is(view)}",
            reverse=tuple(reverse), lock="ACCESS EXCLUSIVE (the view and its dependants)",
            lock_duration=duration)
    if live.materialized or view.materialized:
        # Dropped and created for sure: the dependants' own changes are done by this step.
        # (After CREATE OR REPLACE they are recreated only if the fallback runs, so they
        # keep their own steps.)
        mark_recreated(out, ctx, recreated)
    if view.materialized:
        _indexes_handled(out, ctx, view.qualified_name)


def _options_step(change: Change, live: View, view: View, out: Planned) -> None:
    ref = ObjectRef.of("view", view.qualified_name)
    sql = options_sql(view, live.options, view.options)
    out.add(f"view-options-{view.name}",
            title=" ".join(sql) if sql else f"options of {view.qualified_name}",
            reason=f"view {change.object}: options {', '.join(live.options) or 'none'} live, "
                   f"{', '.join(view.options) or 'none'} expected", kind=StepKind.DDL,
            table=None, target=ref, sql=sql, probe=f"SELECT {options_are(view)}",
            reverse=options_sql(view, view.options, live.options),
            lock="ACCESS EXCLUSIVE (the view)", lock_duration="instant")


# -- SQL --------------------------------------------------------------------------------

def _option_name(option: str) -> str:
    """"name" or "namespace"."name" of a "name=value" option."""
    name = option.partition("=")[0]
    return ".".join(ident(part) for part in name.split(".", 1))


def with_options(options: Iterable[str]) -> str:
    """" WITH (name = 'value', …)" for CREATE, or "" when there are none."""
    items = [f"{_option_name(o)} = {literal(o.partition('=')[2])}" for o in options]
    return f" WITH ({', '.join(items)})" if items else ""


def options_sql(view: View, old: Iterable[str], new: Iterable[str]) -> tuple[str, ...]:
    """ALTER [MATERIALIZED] VIEW statements that take the options from `old` to `new`."""
    q = qualified(view.schema, view.name)
    word = "MATERIALIZED VIEW" if view.materialized else "VIEW"
    old, new = set(old), set(new)
    new_names = {o.partition("=")[0] for o in new}
    gone = sorted(o.partition("=")[0] for o in old if o.partition("=")[0] not in new_names)
    changed = sorted(new - old)
    sql = []
    if gone:
        sql.append(f"ALTER {word} {q} RESET ({', '.join(_option_name(n) for n in gone)})")
    if changed:
        sql.append(f"ALTER {word} {q} SET ({with_options(changed).removeprefix(' WITH (')}")
    return tuple(sql)

def body(view: View) -> str:
    """pg_get_viewdef's SELECT without its trailing semicolon."""
    return view.definition.strip().rstrip(";").strip()


def create_sql(view: View) -> list[str]:
    """CREATE [MATERIALIZED] VIEW with its indexes."""
    q = qualified(view.schema, view.name)
    opts = with_options(view.options)
    if not view.materialized:
        return [f"CREATE VIEW {q}{opts} AS {body(view)}"]
    return [f"CREATE MATERIALIZED VIEW {q}{opts} AS {body(view)} WITH DATA",
            *(i.definition for i in view.indexes)]


def drop_sql(view: View) -> str:
    word = "MATERIALIZED VIEW" if view.materialized else "VIEW"
    return f"DROP {word} IF EXISTS {qualified(view.schema, view.name)}"


def recreate_sql(old: View, new: View, recreated: list[Recreated],
                 restore: list[str]) -> list[str]:
    """Drop the dependants (last created first) and `old`; create `new`, give back its
    grants and comments, and create the dependants again with theirs."""
    sql = [drop_sql(r.live) for r in reversed(recreated)]
    sql += [drop_sql(old), *create_sql(new), *restore]
    for r in recreated:
        sql += [*create_sql(r.view), *r.restore]
    return sql


def replace_view_sql(view: View, old: View, recreated: list[Recreated],
                     restore: list[str]) -> list[str]:
    """CREATE OR REPLACE VIEW, falling back to DROP + CREATE (dependants included) when
    PostgreSQL refuses to replace it (columns dropped, renamed or retyped)."""
    replace = (f"CREATE OR REPLACE VIEW {qualified(view.schema, view.name)}"
               f"{with_options(view.options)} AS {body(view)}")
    fallback = recreate_sql(old, view, recreated, restore)
    block = (f"BEGIN\n{replace};\nEXCEPTION WHEN invalid_table_definition THEN\n"
             + "".join(f"{s};\n" for s in fallback) + "END")
    tag = _dollar_tag(block)
    return [f"DO {tag}\n{block}\n{tag}"]


def _dollar_tag(text: str) -> str:
    n = 0
    while f"$pgreconcile{n or ''}$" in text:
        n += 1
    return f"$pgreconcile{n or ''}$"


# -- dependants ---------------------------------------------------------------------------

def dependants(schema: Schema, relations: Iterable[str]) -> list[View]:
    """Views of `schema` that read any of `relations` ("schema.name"), directly or through
    other views, in creation order (a view after the views it reads)."""
    views = {v.qualified_name: v for v in schema.views}
    found: set[str] = set()
    frontier = set(relations)
    while frontier:
        new = {name for name, v in views.items()
               if name not in found and set(v.depends_on) & frontier}
        found |= new
        frontier = new
    return creation_order([views[n] for n in found])


def creation_order(views: Iterable[View]) -> list[View]:
    """`views` sorted so that each comes after the ones (among them) it reads."""
    by_name = {v.qualified_name: v for v in views}
    ordered: list[View] = []
    done: set[str] = set()

    def visit(view: View, path: frozenset[str]) -> None:
        name = view.qualified_name
        if name in done or name in path:
            return
        for dep in view.depends_on:
            if dep in by_name:
                visit(by_name[dep], path | {name})
        done.add(name)
        ordered.append(view)

    for name in sorted(by_name):
        visit(by_name[name], frozenset())
    return ordered


@dataclass(frozen=True)
class Recreated:
    """A dependant dropped and created again: as live has it, as it is created (expected or
    live), and the grants and comment it gets back."""

    live: View
    view: View
    restore: tuple[str, ...] = ()

    @property
    def expected(self) -> bool:
        return self.view is not self.live


def recreation(live: View, ctx: PlanContext) -> Recreated:
    """The expected definition when the reference has the view and everything it reads
    exists by then, else the live one."""
    expected = next((v for v in ctx.expected.views if v.qualified_name == live.qualified_name),
                    None)
    if expected is None:
        return Recreated(live, live, tuple(restore_sql(ctx.live, live.qualified_name,
                                                       live.materialized)))
    live_views = {v.qualified_name for v in ctx.live.views}
    missing_columns = {c.table for c in ctx.diff.significant
                       if c.kind == "column" and c.bucket == "missing"}
    # Missing tables are created first (a FIRST handler), with all their columns.
    new_tables = {c.object for c in ctx.diff.significant
                  if c.kind == "table" and c.bucket == "missing"}
    ready = all((ctx.live.table(dep) is not None and dep not in missing_columns)
                or dep in live_views or dep in new_tables for dep in expected.depends_on)
    view = expected if ready else live
    return Recreated(live, view, tuple(restore_sql(ctx.live, live.qualified_name,
                                                   view.materialized)))


def as_live(views: Iterable[View], schema: Schema) -> list[Recreated]:
    """Dependants created again exactly as live has them (a reverse)."""
    return [Recreated(v, v, tuple(restore_sql(schema, v.qualified_name, v.materialized)))
            for v in views]


def mark_recreated(out: Planned, ctx: PlanContext, recreated: list[Recreated]) -> None:
    """The dependants recreated with their expected definition need no step of their own."""
    for r in recreated:
        if r.expected:
            out.handled.add(f"view:{r.view.qualified_name}")
            if r.view.materialized:
                _indexes_handled(out, ctx, r.view.qualified_name)


def _indexes_handled(out: Planned, ctx: PlanContext, view_name: str) -> None:
    """A materialized view created with its expected indexes: their changes are done."""
    for c in ctx.diff.significant:
        if c.kind == "index" and c.table == view_name and c.bucket in ("missing", "different"):
            out.handled.add(change_key(c))


def restore_sql(schema: Schema, name: str, materialized: bool) -> list[str]:
    """GRANTs and COMMENT a dropped view had (live), to give back when it is created again
    (`materialized`: as a materialized view)."""
    sql = []
    for p in schema.privileges:
        if p.object != name or not set(p.privileges) <= _PRIVILEGES:
            continue
        grantee = "PUBLIC" if p.grantee == "PUBLIC" else ident(p.grantee)
        plain = [x for x in p.privileges if x not in p.grantable]
        if plain:
            sql.append(f"GRANT {', '.join(plain)} ON TABLE {qualified_name(name)} TO {grantee}")
        if p.grantable:
            sql.append(f"GRANT {', '.join(p.grantable)} ON TABLE {qualified_name(name)} TO "
                       f"{grantee} WITH GRANT OPTION")
    word = "MATERIALIZED VIEW" if materialized else "VIEW"
    for c in schema.comments:
        if c.object == name and c.kind in ("view", "materialized view"):
            sql.append(f"COMMENT ON {word} {qualified_name(name)} IS {literal(c.text)}")
    return sql


# -- probes -------------------------------------------------------------------------------

def normalized(sql_text: str) -> str:
    """SQL text with qualifiers taken out and whitespace squashed (as an SQL expression)."""
    return (f"btrim(regexp_replace(regexp_replace({sql_text}, {literal(_QUALIFIER)}, '', 'g'), "
            r"'\s+', ' ', 'g'))")


def _reloptions_are(options: Iterable[str]) -> str:
    """pg_class c's reloptions are exactly `options` (in any order)."""
    wanted = ", ".join(literal(o) for o in sorted(options))
    return (f"ARRAY(SELECT o FROM unnest(coalesce(c.reloptions, '{{}}'::text[])) AS o ORDER BY "
            f"o COLLATE \"C\")::text[] = ARRAY[{wanted}]::text[]")


def options_are(view: View) -> str:
    """Probe expression: the view exists with exactly these options."""
    return (f"EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = {literal(view.schema)} AND c.relname = {literal(view.name)} "
            f"AND {_reloptions_are(view.options)})")


def view_is(view: View) -> str:
    """Probe expression: the view exists with this kind, definition and options (and,
    materialized, its indexes)."""
    kind = "m" if view.materialized else "v"
    test = (f"EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = {literal(view.schema)} AND c.relname = {literal(view.name)} "
            f"AND c.relkind = {literal(kind)} AND {normalized('pg_get_viewdef(c.oid)')} = "
            f"{normalized(literal(view.definition))} AND {_reloptions_are(view.options)})")
    for index in view.indexes if view.materialized else ():
        test += f" AND {probes.has_valid_index_in_schema(view.schema, index.name)}"
    return test
