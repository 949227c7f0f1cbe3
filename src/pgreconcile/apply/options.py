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
    deadline: float | None = None       # time.time() after which backfills pause
    current_fingerprint: str | None = None
    run_id: str | None = None           # the run whose lock (apply/lock.py) this apply is under

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
