"""Drift corpus, cases 030–059: constraints, indexes, sequences, views, functions and the first
triggers.

Each case (tests/corpus/cases/*.sql) goes through corpus_support.run_case: plan + apply
converge, a rerun changes nothing, every pre-existing row is kept, and a dump/restore copy
diffs empty.
"""
from __future__ import annotations

import pytest

from .corpus_support import cases_between, run_case


@pytest.mark.parametrize("case", cases_between(30, 59))
def test_corpus_case(case, server, server_major, tmp_path):
    run_case(case, server, server_major, tmp_path)
