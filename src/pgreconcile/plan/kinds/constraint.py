"""Constraints, missing or changed.

A missing constraint. Foreign keys and checks: ADD … NOT VALID, then VALIDATE (a scan that
does not block writers); on a partitioned table before PostgreSQL 18 (no NOT VALID
foreign key there) the foreign key is added validated at once, writes waiting for the
scan. Unique and primary keys: a unique index built CONCURRENTLY, then
ADD CONSTRAINT … USING INDEX (instant).

A changed constraint (same kind on both sides, matched by name or columns; a primary key
that moved to other columns is primary_key's, planned first):

* check or foreign key: one instant transaction drops the old one and adds the expected
  one NOT VALID (writes obey the new rule from then on), after a precheck that counts the
  rows breaking the new rule; then VALIDATE (SHARE UPDATE EXCLUSIVE scan). A foreign key
  whose deferrability alone changed is altered in place (ALTER CONSTRAINT, instant);
* only NOT VALID live: VALIDATE it; validated live but NOT VALID in the reference: kept;
* unique or primary key (same columns): the new unique index is built CONCURRENTLY under a
  temporary name, then one short transaction drops the old constraint and adds the new one
  USING INDEX (PostgreSQL renames the index to the constraint's name). Refused while a
  foreign key depends on the old one's index;
* exclusion: dropped and added in one transaction, which builds its index under ACCESS
  EXCLUSIVE (reads and writes wait for the whole build).
"""
from __future__ import annotations

import re

from pgreconcile.plan import probes
from pgreconcile.plan.context import PlanContext, Planned, change_key, rows
from pgreconcile.plan.sqltext import (
    MAX_NAME,
    fit,
    ident,
    idents,
    literal,
    qualified,
    qualified_name,
    regclass,
)
from pgreconcile.plan.steps import ObjectRef, StepKind
from pgreconcile.schema.diff import Change
from pgreconcile.schema.model import Constraint, Index, Table

HANDLES = (("constraint", "missing"), ("constraint", "different"))


def plan(change: Change, ctx: PlanContext) -> Planned:
    if change.bucket == "different":
        return changed(change, ctx)
    return missing(change, ctx)


def missing(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    con = Constraint.from_dict(change.expected)
    table = ctx.live_table(change.table)
    if table is None:
        out.refuse(change, "table is missing")
        return out
    t = qualified_name(change.table)
    ref = ObjectRef.in_table("constraint", change.table, con.name)
    reverse = (f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {ident(con.name)}",)
    if con.kind == "fk":
        referenced_key_first(out, change, ctx, con)
    if con.kind == "fk" and table.partition_key and ctx.live.server_version < 180000:
        _add_validated_fk(out, change, table, con)
    elif con.kind in ("fk", "check"):
        # The whole clause as PostgreSQL prints it (a CHECK's expression is only there);
        # NOT VALID is the `validated` field, added here and validated by the next step.
        definition = con.definition.removesuffix(" NOT VALID")
        out.add(f"constraint-{con.name}", title=f"add {con.kind} {con.name} NOT VALID",
                reason=f"missing constraint {change.object}", kind=StepKind.DDL,
                table=change.table, target=ref, creates=(ref,),
                precheck=violations_sql(t, con, definition),
                sql=(f"ALTER TABLE {t} ADD CONSTRAINT {ident(con.name)} {definition} "
                     "NOT VALID",),
                probe=f"SELECT {probes.has_constraint(t, con.name)}", reverse=reverse,
                lock="SHARE ROW EXCLUSIVE" if con.kind == "fk" else "ACCESS EXCLUSIVE",
                lock_duration="instant")
        if con.validated:
            out.add(f"validate-{con.name}", title=f"VALIDATE CONSTRAINT {con.name}",
                    reason="existing rows are checked without blocking writers",
                    kind=StepKind.DDL, table=change.table, target=ref,
                    sql=(f"ALTER TABLE {t} VALIDATE CONSTRAINT {ident(con.name)}",),
                    probe=f"SELECT {probes.has_constraint(t, con.name, validated=True)}",
                    lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan",
                    estimated_rows=rows(table))
    elif con.kind in ("unique", "pk") and con.columns:
        idx = con.name
        schema = change.table.partition(".")[0]
        index_ref = ObjectRef.in_table("index", change.table, idx)
        out.add(f"index-{idx}", title=f"build unique index {idx} CONCURRENTLY",
                reason=f"missing constraint {change.object}", kind=StepKind.CONCURRENT,
                table=change.table, target=index_ref, creates=(index_ref,),
                precheck=duplicates_sql(t, con.columns,
                                        nulls_distinct=" NULLS NOT DISTINCT " not in
                                        con.definition),
                sql=(unique_index_sql(t, idx, con),),
                probe=(f"SELECT {probes.has_constraint(t, con.name)} OR "
                       f"{probes.has_valid_index(t, idx)}"),
                reverse=(f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(schema, idx)}",),
                lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan",
                estimated_rows=rows(table))
        word = "PRIMARY KEY" if con.kind == "pk" else "UNIQUE"
        deferrable = (" DEFERRABLE INITIALLY " + ("DEFERRED" if con.deferred else "IMMEDIATE")
                      if con.deferrable else "")
        out.add(f"constraint-{con.name}", title=f"attach {idx} as {word}",
                reason=f"missing constraint {change.object}", kind=StepKind.DDL,
                table=change.table, target=ref, creates=(ref,),
                sql=(f"ALTER TABLE {t} ADD CONSTRAINT {ident(con.name)} {word} USING INDEX "
                     f"{ident(idx)}{deferrable}",),
                probe=f"SELECT {probes.has_constraint(t, con.name)}", reverse=reverse,
                lock="ACCESS EXCLUSIVE", lock_duration="instant")
    else:
        out.refuse(change, f"{con.kind} constraints are not added automatically")
    return out


def _add_validated_fk(out: Planned, change: Change, table: Table, con: Constraint) -> None:
    """PostgreSQL before 18 refuses a NOT VALID foreign key on a partitioned table: it is
    added validated, in one step whose check of every row holds SHARE ROW EXCLUSIVE on the
    table and its partitions (inserts, updates and deletes wait for the scan)."""
    t = qualified_name(change.table)
    ref = ObjectRef.in_table("constraint", change.table, con.name)
    definition = con.definition.removesuffix(" NOT VALID")
    out.add(f"constraint-{con.name}",
            title=f"add fk {con.name} validated (partitioned table before PostgreSQL 18: "
                  "writes wait for the check of every row)",
            reason=f"missing constraint {change.object}; PostgreSQL before 18 cannot add a "
                   "NOT VALID foreign key to a partitioned table",
            kind=StepKind.DDL, table=change.table, target=ref, creates=(ref,),
            precheck=violations_sql(t, con, definition),
            sql=(f"ALTER TABLE {t} ADD CONSTRAINT {ident(con.name)} {definition}",),
            probe=f"SELECT {probes.has_constraint(t, con.name, validated=True)}",
            reverse=(f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {ident(con.name)}",),
            lock="SHARE ROW EXCLUSIVE (the table, its partitions and the referenced table)",
            lock_duration="scan", estimated_rows=rows(table))


def referenced_key_first(out: Planned, change: Change, ctx: PlanContext,
                         fk: Constraint) -> None:
    """A foreign key needs a unique key on the columns it references. When live has none
    and that key is itself drift the diff lists later (e.g. the referenced table sorts
    after this one), its steps are planned here, before the foreign key's."""
    target = ctx.live_table(fk.ref_table)
    if target is None or has_unique_key(target, fk.ref_columns):
        return
    significant = ctx.diff.significant
    later = significant[significant.index(change) + 1:] if change in significant else ()
    for other in later:
        if other.table != fk.ref_table or other.bucket not in ("missing", "different") \
                or change_key(other) in out.handled:
            continue
        if other.kind == "constraint" and other.expected["kind"] in ("unique", "pk") \
                and set(other.expected["columns"]) == set(fk.ref_columns):
            out.extend(plan(other, ctx))
        elif other.kind == "index" and other.bucket == "missing" and _unique_on(
                Index.from_dict(other.expected), fk.ref_columns):
            from pgreconcile.plan.kinds import index  # a sibling that imports no kind
            out.extend(index.plan(other, ctx))
        else:
            continue
        out.handled.add(change_key(other))
        return


def _unique_on(index: Index, columns: tuple[str, ...]) -> bool:
    return (index.unique and index.valid and index.predicate is None
            and set(index.columns) == set(columns))


def has_unique_key(table: Table, columns: tuple[str, ...]) -> bool:
    """Live has a primary key, unique constraint or plain unique index on exactly
    `columns` (in any order): a foreign key can reference them."""
    return (any(c.kind in ("pk", "unique") and set(c.columns) == set(columns)
                for c in table.constraints)
            or any(_unique_on(i, columns) for i in table.indexes))


# -- a changed constraint ------------------------------------------------------------------

#: A unique or primary key as pg_get_constraintdef prints it, every part this module rebuilds.
_UNIQUE = re.compile(r"(?P<word>UNIQUE|PRIMARY KEY)(?P<nnd> NULLS NOT DISTINCT)? "
                     r"\((?P<keys>[^()]*)\)(?: INCLUDE \((?P<include>[^()]*)\))?"
                     r"(?: DEFERRABLE)?(?: INITIALLY DEFERRED)?")
_DEFERRABILITY = re.compile(r"(?: DEFERRABLE)?(?: INITIALLY DEFERRED)?$")
# pg_get_constraintdef prints a name schema-qualified unless the session's search_path
# makes it visible: the catalog reads with search_path = pg_catalog, an apply's probe with
# the connection's own. Both sides are compared with every "qualifier." taken out.
_QUALIFIER = r'(?:"(?:[^"]|"")+"|[[:alpha:]_][[:alnum:]_$]*)\.'


def changed(change: Change, ctx: PlanContext) -> Planned:
    out = Planned()
    live, expected = Constraint.from_dict(change.live), Constraint.from_dict(change.expected)
    table = ctx.live_table(change.table)
    attributes = set(change.attributes)
    if table is None:
        out.refuse(change, "table is missing")
    elif change.cosmetic or attributes <= {"name"}:
        pass  # the same constraint under another name: nothing to do
    elif expected.kind == "pk" and live.columns != expected.columns:
        # primary_key plans a moved key first; reaching here, it could not.
        out.refuse(change, change.risk or "the primary key moved to other columns")
    elif attributes <= {"validated", "name"}:
        _validation(out, change, table, live, expected)
    elif expected.kind == "fk" and _deferrability_only(live, expected):
        _alter_deferrability(out, change, live, expected)
    elif expected.kind == "fk" and table.partition_key and ctx.live.server_version < 180000:
        out.refuse(change, "PostgreSQL before 18 cannot add a NOT VALID foreign key to a "
                           "partitioned table: replacing it would block writes for a scan")
    elif expected.kind in ("fk", "check"):
        if expected.kind == "fk":
            referenced_key_first(out, change, ctx, expected)
        _replace_not_valid(out, change, table, live, expected)
    elif expected.kind in ("unique", "pk") and table.partition_key:
        out.refuse(change, "the index of a partitioned table cannot be built CONCURRENTLY: "
                           "replacing the constraint would block writes for the build")
    elif expected.kind in ("unique", "pk"):
        _rebuild_unique(out, change, ctx, table, live, expected)
    elif expected.kind == "exclude":
        _replace_exclusion(out, change, table, live, expected)
    else:
        out.refuse(change, change.risk or f"{expected.kind} constraints are not changed "
                                          "automatically")
    return out


def _validation(out: Planned, change: Change, table: Table, live: Constraint,
                expected: Constraint) -> None:
    """Same rule both sides; only its validation state differs."""
    if live.validated:
        out.keep(change, "validated live, NOT VALID in the reference: the live one is "
                         "stricter and every row obeys it; nothing to do")
        return
    t = qualified_name(change.table)
    ref = ObjectRef.in_table("constraint", change.table, live.name)
    out.add(f"validate-{live.name}", title=f"VALIDATE CONSTRAINT {live.name}",
            reason=f"{change.object} is NOT VALID live: existing rows are checked without "
                   "blocking writers",
            kind=StepKind.DDL, table=change.table, target=ref,
            precheck=violations_sql(t, live, live.definition.removesuffix(" NOT VALID")),
            sql=(f"ALTER TABLE {t} VALIDATE CONSTRAINT {ident(live.name)}",),
            probe=f"SELECT {probes.has_constraint(t, live.name, validated=True)}",
            lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan", estimated_rows=rows(table))


def _deferrability_only(live: Constraint, expected: Constraint) -> bool:
    """The foreign keys differ in DEFERRABLE / INITIALLY DEFERRED alone."""
    def rule(c: Constraint) -> str:
        return _DEFERRABILITY.sub("", _squash(c.definition))
    return live.validated == expected.validated and rule(live) == rule(expected)


def _deferrability(c: Constraint) -> str:
    if not c.deferrable:
        return "NOT DEFERRABLE"
    return "DEFERRABLE INITIALLY " + ("DEFERRED" if c.deferred else "IMMEDIATE")


def _alter_deferrability(out: Planned, change: Change, live: Constraint,
                         expected: Constraint) -> None:
    t = qualified_name(change.table)
    ref = ObjectRef.in_table("constraint", change.table, live.name)
    out.add(f"constraint-{live.name}", title=f"make {live.name} {_deferrability(expected)}",
            reason=f"{change.object}: the foreign key differs in deferrability only",
            kind=StepKind.DDL, table=change.table, target=ref,
            sql=(f"ALTER TABLE {t} ALTER CONSTRAINT {ident(live.name)} "
                 f"{_deferrability(expected)}",),
            probe=f"SELECT {definition_is(t, live.name, expected.definition)}",
            reverse=(f"ALTER TABLE {t} ALTER CONSTRAINT {ident(live.name)} "
                     f"{_deferrability(live)}",),
            lock="ACCESS EXCLUSIVE", lock_duration="instant")


def _restore(t: str, live: Constraint, expected: Constraint) -> tuple[str, ...]:
    """Reverse of a replacement: the expected constraint out, the live one back as it was."""
    return (f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {ident(expected.name)}",
            f"ALTER TABLE {t} ADD CONSTRAINT {ident(live.name)} {live.definition}")


def _replace_not_valid(out: Planned, change: Change, table: Table, live: Constraint,
                       expected: Constraint) -> None:
    t = qualified_name(change.table)
    ref = ObjectRef.in_table("constraint", change.table, expected.name)
    definition = expected.definition.removesuffix(" NOT VALID")
    old = live.definition.removesuffix(" NOT VALID")
    # The old rule comes back NOT VALID: instant, and it cannot fail on rows written under
    # the new rule meanwhile; the diff then asks for its VALIDATE.
    reverse = (f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {ident(expected.name)}",
               f"ALTER TABLE {t} ADD CONSTRAINT {ident(live.name)} {old} NOT VALID")
    fk = expected.kind == "fk"
    out.add(f"constraint-{expected.name}",
            title=f"replace {expected.kind} {live.name} by {expected.name} NOT VALID",
            reason=f"{change.object} differs ({', '.join(change.attributes)}): the new rule "
                   "applies to writes at once, existing rows are checked next",
            kind=StepKind.DDL, table=change.table, target=ref,
            precheck=violations_sql(t, expected, definition) if expected.validated else "",
            sql=(f"ALTER TABLE {t} DROP CONSTRAINT {ident(live.name)}",
                 f"ALTER TABLE {t} ADD CONSTRAINT {ident(expected.name)} {definition} "
                 "NOT VALID"),
            probe=f"SELECT {definition_is(t, expected.name, definition)}", reverse=reverse,
            lock="ACCESS EXCLUSIVE" + (" (also on the referenced tables)" if fk else ""),
            lock_duration="instant")
    if expected.validated:
        out.add(f"validate-{expected.name}", title=f"VALIDATE CONSTRAINT {expected.name}",
                reason="existing rows are checked without blocking writers",
                kind=StepKind.DDL, table=change.table, target=ref,
                sql=(f"ALTER TABLE {t} VALIDATE CONSTRAINT {ident(expected.name)}",),
                probe=(f"SELECT {definition_is(t, expected.name, definition, validated=True)}"),
                lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan",
                estimated_rows=rows(table))


def _rebuild_unique(out: Planned, change: Change, ctx: PlanContext, table: Table,
                    live: Constraint, expected: Constraint) -> None:
    shape = _UNIQUE.fullmatch(_squash(expected.definition))
    if shape is None or not expected.columns:
        out.refuse(change, f"{expected.kind} constraint {expected.definition!r}: only column "
                           "lists (with INCLUDE, NULLS NOT DISTINCT, DEFERRABLE) are rebuilt")
        return
    dependents = sorted(f"{tb.qualified_name}.{c.name}" for tb in ctx.live.tables
                        for c in tb.constraints if c.kind == "fk"
                        and c.ref_table == change.table
                        and set(c.ref_columns) == set(live.columns))
    if dependents:
        out.refuse(change, f"{expected.kind} constraint differs "
                           f"({', '.join(change.attributes)}); foreign keys depend on the "
                           f"index of {live.name} ({', '.join(dependents)}): replacing it "
                           "means dropping them; write a migration")
        return
    t = qualified_name(change.table)
    schema = change.table.partition(".")[0]
    temp = f"{fit(expected.name, MAX_NAME - 9)}_pgrc_new"
    index_ref = ObjectRef.in_table("index", change.table, temp)
    ref = ObjectRef.in_table("constraint", change.table, expected.name)
    nulls_distinct = not shape["nnd"]
    done = definition_is(t, expected.name, expected.definition)
    out.add(f"index-{temp}", title=f"build unique index {temp} CONCURRENTLY",
            reason=f"{change.object} differs ({', '.join(change.attributes)}): its new index "
                   "is built first without blocking writers",
            kind=StepKind.CONCURRENT, table=change.table, target=index_ref,
            creates=(index_ref,),
            precheck=duplicates_sql(t, expected.columns, nulls_distinct=nulls_distinct),
            sql=(unique_index_sql(t, temp, expected),),
            probe=f"SELECT {done} OR {probes.has_valid_index(t, temp)}",
            reverse=(f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(schema, temp)}",),
            lock="SHARE UPDATE EXCLUSIVE", lock_duration="scan", estimated_rows=rows(table))
    word = shape["word"]
    deferrable = "" if not expected.deferrable else " " + _deferrability(expected)
    out.add(f"constraint-{expected.name}",
            title=f"replace {expected.kind} {live.name} by {expected.name} USING INDEX {temp}",
            reason=f"{change.object}: one short transaction swaps the constraints; the index "
                   f"takes the name {expected.name}",
            kind=StepKind.DDL, table=change.table, target=ref,
            sql=(f"ALTER TABLE {t} DROP CONSTRAINT {ident(live.name)}",
                 f"ALTER TABLE {t} ADD CONSTRAINT {ident(expected.name)} {word} USING INDEX "
                 f"{ident(temp)}{deferrable}"),
            probe=f"SELECT {done}",
            # Putting the old one back builds its index under the lock (a scan).
            reverse=_restore(t, live, expected),
            lock="ACCESS EXCLUSIVE", lock_duration="instant")


def unique_index_sql(t: str, name: str, con: Constraint) -> str:
    """CREATE UNIQUE INDEX CONCURRENTLY for the unique or primary key `con`: its columns,
    and the INCLUDE list and NULLS NOT DISTINCT its definition has."""
    shape = _UNIQUE.fullmatch(_squash(con.definition))
    include = shape["include"] if shape else None
    nulls_not_distinct = bool(shape and shape["nnd"])
    return (f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {ident(name)} ON {t} "
            f"({idents(con.columns)})" + (f" INCLUDE ({include})" if include else "")
            + (" NULLS NOT DISTINCT" if nulls_not_distinct else ""))


def _replace_exclusion(out: Planned, change: Change, table: Table, live: Constraint,
                       expected: Constraint) -> None:
    t = qualified_name(change.table)
    ref = ObjectRef.in_table("constraint", change.table, expected.name)
    out.add(f"constraint-{expected.name}",
            title=f"replace exclusion constraint {live.name} by {expected.name} (builds its "
                  "index under ACCESS EXCLUSIVE: reads and writes wait for the whole build)",
            reason=f"{change.object} differs ({', '.join(change.attributes)}); PostgreSQL "
                   "cannot build an exclusion constraint's index CONCURRENTLY",
            kind=StepKind.DDL, table=change.table, target=ref,
            sql=(f"ALTER TABLE {t} DROP CONSTRAINT {ident(live.name)}",
                 f"ALTER TABLE {t} ADD CONSTRAINT {ident(expected.name)} "
                 f"{expected.definition}"),
            probe=f"SELECT {definition_is(t, expected.name, expected.definition)}",
            reverse=_restore(t, live, expected),
            lock="ACCESS EXCLUSIVE", lock_duration="scan", estimated_rows=rows(table))


def _squash(text: str) -> str:
    return " ".join(text.split())


def _normalized(sql_text: str) -> str:
    """SQL of a constraint definition, compared without qualifiers, extra whitespace or
    NOT VALID."""
    unqualified = f"regexp_replace({sql_text}, {literal(_QUALIFIER)}, '', 'g')"
    squashed = f"regexp_replace({unqualified}, '\\s+', ' ', 'g')"
    return f"regexp_replace(btrim({squashed}), ' NOT VALID$', '')"


def definition_is(t: str, name: str, definition: str, *, validated: bool = False) -> str:
    """Probe expression: constraint `name` exists and is `definition` (as
    pg_get_constraintdef prints it; NOT VALID or not, unless `validated`)."""
    return (f"EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = {regclass(t)} AND "
            f"c.conname = {literal(name)}{' AND c.convalidated' if validated else ''} AND "
            f"{_normalized('pg_get_constraintdef(c.oid)')} = {_normalized(literal(definition))})")


def violations_sql(t: str, con: Constraint, definition: str) -> str:
    """Rows that would make VALIDATE fail: FK orphans or CHECK violations, with samples
    (an FK's third column: the rows' ctids, for apply/refusals.py to show keys)."""
    if con.kind == "fk":
        cols = [ident(c) for c in con.columns]
        refs = [ident(c) for c in con.ref_columns]
        join = " AND ".join(f"p.{r} = c.{x}" for x, r in zip(cols, refs, strict=True))
        notnull = " AND ".join(f"c.{x} IS NOT NULL" for x in cols)
        key = " || ',' || ".join(f"c.{x}::text" for x in cols)
        return (f"SELECT count(*), string_agg(k, ', ') FILTER (WHERE n <= 5), "
                f"string_agg(r, ' ') FILTER (WHERE n <= 5) FROM (SELECT {key} AS k, "
                f"c.ctid::text AS r, row_number() OVER () AS n FROM {t} AS c WHERE {notnull} "
                f"AND NOT EXISTS "
                f"(SELECT 1 FROM {qualified_name(con.ref_table)} AS p WHERE {join})) AS v")
    expr = definition.removeprefix("CHECK ").strip()
    return (f"SELECT count(*), string_agg(ctid::text, ', ') FILTER (WHERE n <= 5) FROM "
            f"(SELECT ctid, row_number() OVER () AS n FROM {t} WHERE NOT {expr}) AS v")


def duplicates_sql(t: str, columns: tuple[str, ...], *, nulls_distinct: bool = True) -> str:
    """Groups of rows that would make a unique index on `columns` fail, with samples
    (NULLs never collide unless the index has NULLS NOT DISTINCT). The third column holds
    the rows' ctids, which a refusal turns into primary keys (apply/refusals.py)."""
    key = " || ',' || ".join(f"coalesce({ident(c)}::text, 'NULL')" for c in columns)
    where = (" WHERE " + " AND ".join(f"{ident(c)} IS NOT NULL" for c in columns)
             if nulls_distinct else "")
    return (f"SELECT count(*), string_agg(k, ', ') FILTER (WHERE n <= 5), string_agg(r, ' ') "
            f"FILTER (WHERE n <= 5) FROM (SELECT {key} AS k, array_to_string((array_agg(ctid))"
            f"[1:3], ' ') AS r, row_number() OVER () AS n FROM {t}{where}"
            f" GROUP BY {idents(columns)} HAVING count(*) > 1) AS v")
