"""Drift corpus, cases 090–end: combinations of several kinds and dependency order across kinds,
Django-shaped drift, and drift that must be refused.

Each case (tests/corpus/cases/*.sql) goes through corpus_support.run_case: plan + apply
converge, a rerun changes nothing, every pre-existing row is kept, and a dump/restore copy
diffs empty.
"""
from __future__ import annotations

import pytest

from .corpus_support import cases_between, run_case


@pytest.mark.parametrize("case", cases_between(90, 999))
def test_corpus_case(case, server, server_major, tmp_path):
    run_case(case, server, server_major, tmp_path)
