"""The one backoff loop every lock-waiting place uses (apply/retry.py)."""
from __future__ import annotations

import time

from pgreconcile.apply.options import ApplyOptions
from pgreconcile.apply.retry import MAX_BACKOFF, attempts


class Said:
    def __init__(self):
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)


def test_attempts_are_bounded_and_only_the_last_says_so():
    said = Said()
    got = [(a.number, a.last) for a in attempts(ApplyOptions(retries=3, backoff=0.01), said)]
    assert got == [(1, False), (2, False), (3, True)]
    assert said.lines == ["  lock busy, retry 1/3 in 0.0s", "  lock busy, retry 2/3 in 0.0s"]


def test_the_pause_doubles_between_attempts():
    said = Said()
    started = time.monotonic()
    for _ in attempts(ApplyOptions(retries=3, backoff=0.05), said, "migrate: lock busy"):
        pass
    assert time.monotonic() - started >= 0.05 + 0.10
    assert said.lines == ["  migrate: lock busy, retry 1/3 in 0.1s",
                          "  migrate: lock busy, retry 2/3 in 0.1s"]
    assert MAX_BACKOFF == 10.0


def test_success_on_the_first_attempt_never_waits():
    started = time.monotonic()
    for attempt in attempts(ApplyOptions(retries=5, backoff=5.0)):
        assert attempt.number == 1
        break
    assert time.monotonic() - started < 1.0
