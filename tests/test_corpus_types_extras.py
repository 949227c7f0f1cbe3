"""Drift corpus, cases 060–089: triggers, RLS and policies, enums, domains, composite types,
collations, extensions, comments, privileges, extras kept, and the first combinations.

Each case (tests/corpus/cases/*.sql) goes through corpus_support.run_case: plan + apply
converge, a rerun changes nothing, every pre-existing row is kept, and a dump/restore copy
diffs empty.
"""
from __future__ import annotations

import pytest

from .corpus_support import cases_between, run_case


@pytest.mark.parametrize("case", cases_between(60, 89))
def test_corpus_case(case, server, server_major, tmp_path):
    run_case(case, server, server_major, tmp_path)
