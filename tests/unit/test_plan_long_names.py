"""Names pgreconcile derives from 63-byte names (NAMEDATALEN - 1) keep their suffix and fit:
PostgreSQL would cut a longer one, and a temporary column or index cut back to the name it
was made from collides with it (issue 13, identifier corpus)."""
from __future__ import annotations

from dataclasses import replace

from pgreconcile.plan.planner import make_plan
from pgreconcile.plan.sqltext import MAX_NAME, fit

from .builders import refund_table, seed

LONG_FK = "ü" * 31 + "u"  # 63 bytes, multi-byte at the limit


def _long_refund():
    table = refund_table()
    columns = tuple(replace(c, name=LONG_FK) if c.name == "payment_id" else c
                    for c in table.columns)
    constraints = tuple(replace(c, columns=(LONG_FK,)) if c.kind == "fk" else c
                        for c in table.constraints)
    return replace(table, columns=columns, constraints=constraints)


def test_fit_cuts_bytes_at_a_character_boundary():
    assert fit("abc") == "abc" and fit("a" * 70) == "a" * 63
    assert fit("é" * 40) == "é" * 31 and len(fit("日" * 30, 62).encode()) == 60


def test_the_moved_foreign_key_copy_of_a_63_byte_column_is_a_new_name():
    plan = make_plan(*seed(extra_tables=(_long_refund(),)), strategy="swap")
    add = next(s for s in plan.steps if s.id.startswith("07-add-column"))
    tmp = add.creates[0].name
    assert tmp != LONG_FK and tmp.endswith("__uuid") and len(tmp.encode()) <= MAX_NAME
    index = next(s for s in plan.steps if s.id.startswith("09-index"))
    name = index.target.name
    assert name.endswith("_idx") and len(name.encode()) <= MAX_NAME and tmp[:20] in name
