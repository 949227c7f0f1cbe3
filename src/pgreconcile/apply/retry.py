"""Bounded retries with exponential backoff: the one way pgreconcile waits for a lock.

Every place that may meet a busy lock (a step, a backfill batch, an index build's deadlock,
`migrate`, the rollback) loops over `attempts(options)`: the first attempt at once, each
later one after a pause that doubles from `options.backoff` up to MAX_BACKOFF seconds, at
most `options.retries` in all. The caller returns on success and, on a busy lock, raises
its own refusal when `attempt.last`.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from pgreconcile.progress import NULL, Reporter

MAX_BACKOFF = 10.0  # seconds between two attempts at most


@dataclass(frozen=True)
class Attempt:
    number: int
    last: bool


def attempts(options, reporter: Reporter = NULL, what: str = "lock busy") -> Iterator[Attempt]:
    """`options` has `retries` (at least 1) and `backoff` (seconds), as ApplyOptions does.
    Before each attempt after the first, says `what` and how long it waits."""
    delay = options.backoff
    for number in range(1, options.retries + 1):
        if number > 1:
            reporter.info(f"  {what}, retry {number - 1}/{options.retries} in {delay:.1f}s")
            time.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)
        yield Attempt(number, number == options.retries)
