"""Drift corpus, cases 052–080: functions, procedures, triggers, RLS, enums, domains, composite
types, collations, extensions, comments and privileges.

Each case (tests/corpus/cases/*.sql) goes through corpus_support.run_case: plan + apply
converge, a rerun changes nothing, every pre-existing row is kept, and a dump/restore copy
diffs empty.
"""
from __future__ import annotations

import pytest

from .corpus_support import cases_between, run_case


@pytest.mark.parametrize("case", cases_between(52, 80))
def test_corpus_case(case, server, server_major, tmp_path):
    run_case(case, server, server_major, tmp_path)
