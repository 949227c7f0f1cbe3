"""Whether a step destroys anything, derived from the step itself, never read from a file.

The planner's handlers set `destructive=True` on the steps they know lose data or
privileges (pgreconcile.plan.kinds: drops of extras, the old key column, a swapped primary
key, a REVOKE, an extension UPDATE, SET UNLOGGED, a narrowing type change, …). This module
is the second, independent opinion: a conservative classifier over the step's SQL that
recognises every one of those and any other statement that deletes rows, drops a stored
object or narrows a column. A step is destructive when the planner said so OR the
classifier says so (planner.make_plan writes the union; Plan.from_dict computes it again
when a plan is read back), so a plan file whose `destructive` fields were edited, or whose
SQL was replaced by a DROP, is still refused without --allow-destructive.
"""
from __future__ import annotations

import re

# Statements that delete rows or drop something that holds data (or rights). DROP VIEW /
# MATERIALIZED VIEW / INDEX / TRIGGER / POLICY / FUNCTION / DEFAULT / NOT NULL / CONSTRAINT
# are not listed: the planner drops and recreates those in one transaction and nothing
# stored is lost; the steps where such a drop does lose something (a primary key dropped
# or swapped, a function whose callers break) the planner marks itself.
_DESTRUCTIVE = [re.compile(p, re.I | re.S) for p in (
    r"\bDROP\s+(TABLE|SCHEMA|DATABASE|OWNED|SEQUENCE|TYPE|DOMAIN|EXTENSION|"
    r"FOREIGN\s+TABLE|COLUMN|ATTRIBUTE|COLLATION|SERVER|ROLE|USER|LANGUAGE|TABLESPACE|"
    r"PUBLICATION|SUBSCRIPTION)\b",
    r"\bDROP\s+IF\s+EXISTS\b",                     # ALTER TABLE … DROP IF EXISTS col
    r"\bDROP\s+(?!DEFAULT\b|NOT\b|CONSTRAINT\b|EXPRESSION\b|IDENTITY\b|VIEW\b|INDEX\b|"
    r"TRIGGER\b|POLICY\b|STATISTICS\b|RULE\b|CAST\b|MATERIALIZED\b|FUNCTION\b|PROCEDURE\b|"
    r"AGGREGATE\b|ROUTINE\b|OPERATOR\b)[\"\w]",
    r"(^|[;(]|\bBEGIN\b|\bTHEN\b|\bELSE\b|\bLOOP\b|\bEXECUTE\b|\$\$)\s*TRUNCATE\b",
    r"\bDELETE\s+FROM\b",
    r"(^|[;(]|\bBEGIN\b|\bTHEN\b|\bELSE\b|\bLOOP\b|\$\$)\s*UPDATE\s+(ONLY\s+)?[\"\w.]+"
    r"(\s+(AS\s+)?\w+)?\s+SET\b",
    r"\bSET\s+UNLOGGED\b",
    r"\bREVOKE\b",
    r"\bALTER\s+EXTENSION\b.*\bUPDATE\b",
    r"\bDETACH\s+PARTITION\b",
    r"\bREASSIGN\s+OWNED\b",
)]
# `ALTER COLUMN c [SET DATA] TYPE t [USING …]`: destructive unless proven a widening.
_RETYPE = re.compile(r"\bALTER\s+(?:COLUMN\s+)?(\"(?:[^\"]|\"\")+\"|\w+)\s+(?:SET\s+DATA\s+)?"
                     r"TYPE\s+(.+?)(\s+USING\b.*|\s+COLLATE\b.*)?\s*;?\s*$", re.I | re.S)
_COMMENT = re.compile(r"/\*.*?\*/|--[^\n]*", re.S)
# The dollar-quoted body of CREATE FUNCTION / PROCEDURE (`AS $tag$ … $tag$`, as
# pg_get_functiondef writes it): stored, not run, so a trigger function's UPDATE in it
# does not make creating the function destructive. A DO block's body (`DO $tag$`) runs:
# it is not skipped.
_BODY = re.compile(r"\bAS\s+(\$[A-Za-z_0-9]*\$).*?\1", re.S | re.I)


def _texts(statement: str) -> tuple[str, str]:
    """The statement as written and with comments blanked (function bodies left out of
    both): both are checked, so neither a comment between keywords nor a comment marker
    inside a string hides a statement."""
    statement = _BODY.sub("AS ''", statement)
    return statement, _COMMENT.sub(" ", statement)


def statement_is_destructive(statement: str) -> bool:
    return any(p.search(text) for text in _texts(statement) for p in _DESTRUCTIVE)


def _retypes(statements) -> dict[str, tuple[str, bool]]:
    """column → (new type, with USING) for each `ALTER COLUMN … TYPE` among `statements`."""
    found = {}
    for statement in statements:
        for clause in re.split(r",\s*(?=ALTER\b)", _COMMENT.sub(" ", statement), flags=re.I):
            m = _RETYPE.search(clause)
            if m and re.search(r"\bALTER\s+TABLE\b|^\s*ALTER\s+COLUMN\b", clause, re.I):
                found[m.group(1)] = (m.group(2).strip(), bool(m.group(3)))
    return found


def retype_is_proven_widening(sql, reverse) -> bool:
    """Every type change in `sql` is a widening, proven by the old type in `reverse` (the
    planner writes the change back to the live type there): varchar(n) → varchar(m ≥ n) or
    text, varchar → text. Anything else, or no reverse to prove it, is not."""
    from pgreconcile.plan.kinds.column import widening
    forward, back = _retypes(sql), _retypes(reverse)
    for column, (new, using) in forward.items():
        old = back.get(column)
        if using or old is None or not widening(old[0], new):
            return False
    return True


def step_is_destructive(step) -> bool:
    """The classifier's opinion of a step (a plan.steps.Step): its SQL deletes or narrows
    something. A backfill only fills NULLs of a column the plan added: not destructive."""
    if any(statement_is_destructive(s) for s in step.sql):
        return True
    if _retypes(step.sql) and not retype_is_proven_widening(step.sql, step.reverse):
        return True
    return False
