"""Comments: a missing or different comment is set to the reference's text.

COMMENT ON <kind> <object> IS '<text>', one step per comment; the reverse sets the live
text back (or NULL, which removes the comment). Functions are named with their identity
arguments (`COMMENT ON FUNCTION "s"."f"(a integer)`), procedures and aggregates with their
own keyword, materialized views as such. Catalog only, instant.

A comment only live has is left alone here: extras are plan/kinds/extra.py's business
(kept unless --drop-extra).
"""
from __future__ import annotations

from pgreconcile.plan.context import PlanContext, Planned
from pgreconcile.plan.sqltext import ident, literal, qualified, qualified_name
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change
from pgreconcile.schema.model import Comment, Function

HANDLES = (("comment", "missing"), ("comment", "different"))

_ROUTINE = {"f": "FUNCTION", "w": "FUNCTION", "p": "PROCEDURE", "a": "AGGREGATE"}
_RELATION = {"table": "TABLE", "view": "VIEW", "sequence": "SEQUENCE"}


def plan(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    comment = Comment.from_dict(change.expected)
    live_text = (change.live or {}).get("text")
    target = comment_target(comment, change, ctx)
    if target is None:
        out.refuse(change, f"cannot name {comment.kind} {comment.object} in COMMENT ON")
        return out
    on, current, table = target
    slug = comment.object.replace(".", "-").replace(" ", "")[:50]
    new = literal(comment.text)
    old = "NULL" if live_text is None else literal(live_text)
    out.add(f"comment-{comment.kind}-{slug}", title=f"COMMENT ON {comment.kind} "
            f"{comment.object}", reason=(f"comment on {comment.kind} {comment.object} "
                                         + ("missing" if live_text is None else "differs")),
            kind=StepKind.DDL, table=table, target=ObjectRef("comment", "", None,
                                                             comment.key),
            sql=(f"COMMENT ON {on} IS {new}",),
            probe=f"SELECT {current} IS NOT DISTINCT FROM {new}",
            reverse=(f"COMMENT ON {on} IS {old}",),
            lock="SHARE UPDATE EXCLUSIVE" if table else "none", lock_duration="instant")
    return out


def find_function(ctx: PlanContext, name: str) -> Function | None:
    for schema in (ctx.expected, ctx.live):
        for f in schema.functions:
            if f.qualified_name == name:
                return f
    return None


def comment_target(c: Comment, change: Change, ctx: PlanContext):
    """(what follows COMMENT ON, the SQL of the current comment, the table it locks)."""
    if c.kind == "schema":
        oid = f"(SELECT oid FROM pg_namespace WHERE nspname = {literal(c.object)})"
        return f"SCHEMA {ident(c.object)}", f"obj_description({oid}, 'pg_namespace')", None
    if c.kind in _RELATION:
        q = qualified_name(c.object)
        keyword = _RELATION[c.kind]
        if c.kind == "view" and any(v.qualified_name == c.object and v.materialized
                                    for v in (*ctx.expected.views, *ctx.live.views)):
            keyword = "MATERIALIZED VIEW"
        current = f"obj_description(to_regclass({literal(q)}), 'pg_class')"
        return f"{keyword} {q}", current, (c.object if c.kind == "table" else None)
    if c.kind == "column":
        table = change.table or c.object.rsplit(".", 1)[0]
        column = c.object[len(table) + 1:]
        t = qualified_name(table)
        attnum = (f"(SELECT attnum FROM pg_attribute WHERE attrelid = to_regclass({literal(t)})"
                  f" AND attname = {literal(column)} AND NOT attisdropped)")
        current = f"col_description(to_regclass({literal(t)}), {attnum})"
        return f"COLUMN {t}.{ident(column)}", current, table
    if c.kind in ("type", "domain"):
        schema, _, name = c.object.partition(".")
        oid = (f"(SELECT t.oid FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
               f"WHERE n.nspname = {literal(schema)} AND t.typname = {literal(name)})")
        return (f"{c.kind.upper()} {qualified(schema, name)}",
                f"obj_description({oid}, 'pg_type')", None)
    if c.kind == "function":
        f = find_function(ctx, c.object)
        if f is None:
            return None
        oid = (f"(SELECT p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
               f"WHERE n.nspname = {literal(f.schema)} AND p.proname = {literal(f.name)} AND "
               f"pg_get_function_identity_arguments(p.oid) = {literal(f.arguments)})")
        # The identity arguments are PostgreSQL's own text (names and types, quoted where
        # needed), written back as it printed them.
        return (f"{_ROUTINE.get(f.kind, 'FUNCTION')} {qualified(f.schema, f.name)}"
                f"({f.arguments})", f"obj_description({oid}, 'pg_proc')", None)
    return None
