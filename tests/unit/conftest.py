"""Unit tests of the pure planner and of the faces' refusal functions: no database.

The models are built by hand in tests/unit/builders.py (the seed shape and a
parent/child pair for every other drift kind) and diffed with the real diff.
"""
from __future__ import annotations

import pytest

from pgreconcile.plan.context import PlanContext

from .builders import seed


@pytest.fixture
def seed_models():
    """(live, expected, diff) of the seed: id integer primary key live, payment_id uuid
    primary key expected, 5,000 rows."""
    return seed()


def context(models, strategy: str = "keep", backfill: str = "stable") -> PlanContext:
    live, expected, diff = models
    return PlanContext(live, expected, diff, strategy, backfill)
