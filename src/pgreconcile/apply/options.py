"""How a plan is applied: timeouts, retries, batches. Checked when made, so a bad value
is a usage error before anything connects."""
from __future__ import annotations

import re
from dataclasses import dataclass

from pgreconcile.errors import UsageError

#: A PostgreSQL duration as lock_timeout / statement_timeout accept it: 2s, 300ms, 1min, 0.
_DURATION = re.compile(r"\d+(\.\d+)?\s*(us|ms|s|min|h|d)?")


@dataclass(frozen=True)
class ApplyOptions:
    allow_destructive: bool = False
    lock_timeout: str = "2s"
    statement_timeout: str = "0"
    retries: int = 5
    backoff: float = 0.5
    batch_size: int = 5_000          # tuned by bench/bench_apply.py
    batch_delay: float = 0.0
    deadline: float | None = None       # time.time() of the window's end: long steps that
                                        # cannot finish before it pause (errors.Paused)
    current_fingerprint: str | None = None
    run_id: str | None = None           # the run this apply belongs to (the run lock)
    show_samples: bool = False          # refusals show offending rows' values, not keys

    def __post_init__(self) -> None:
        for name in ("lock_timeout", "statement_timeout"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _DURATION.fullmatch(value.strip()):
                raise UsageError(f"{name} {value!r} is not a duration",
                                 hint="write it as PostgreSQL does: 2s, 300ms, 1min "
                                      "(0 means no limit)")
        if self.retries < 1:
            raise UsageError(f"retries must be at least 1, not {self.retries}")
        if self.batch_size < 1:
            raise UsageError(f"batch_size must be at least 1, not {self.batch_size}")
        if self.backoff < 0 or self.batch_delay < 0:
            raise UsageError("backoff and batch_delay cannot be negative")


_UNIT_MS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000,
            None: 1}


def duration_ms(value: str) -> int:
    """A duration as PostgreSQL reads lock_timeout/statement_timeout (no unit: ms), in ms."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?", value.strip())
    if not m:
        raise UsageError(f"{value!r} is not a duration")
    return int(float(m.group(1)) * _UNIT_MS[m.group(2)])
