"""Drift corpus, cases 001–029: tables (plain, other schemas, partitions, inheritance, unlogged)
and columns (types, defaults, NOT NULL, identity, generated, collation).

Each case (tests/corpus/cases/*.sql) goes through corpus_support.run_case: plan + apply
converge, a rerun changes nothing, every pre-existing row is kept, and a dump/restore copy
diffs empty.
"""
from __future__ import annotations

import pytest

from .corpus_support import cases_between, run_case


@pytest.mark.parametrize("case", cases_between(1, 29))
def test_corpus_case(case, server, server_major, tmp_path):
    run_case(case, server, server_major, tmp_path)


def test_corpus_is_complete_and_well_formed():
    """At least 60 cases, each parsed (load_cases raises on a malformed file), numbered
    once, and together covering every kind issue 12 names."""
    from .corpus_support import REQUIRED_KINDS, load_cases
    cases = load_cases()
    assert len(cases) >= 60
    numbers = [c.number for c in cases]
    assert len(numbers) == len(set(numbers)), "two cases share a number"
    covered = {k for c in cases for k in c.kinds}
    assert REQUIRED_KINDS <= covered, sorted(REQUIRED_KINDS - covered)
    assert sum(1 for c in cases if c.unsupported) >= 3
    assert sum(1 for c in cases if "combination" in c.kinds) >= 5
