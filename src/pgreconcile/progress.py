"""Progress reporting: engines call a Reporter; faces decide how (rich bars or nothing)."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator, Protocol


class Task(Protocol):
    def advance(self, amount: float = 1) -> None: ...
    def update(self, *, completed: float | None = None, total: float | None = None,
               description: str | None = None) -> None: ...


class Reporter(Protocol):
    def info(self, message: str) -> None: ...
    def task(self, description: str, total: float | None = None) -> "contextmanager[Task]": ...


class _NullTask:
    def advance(self, amount: float = 1) -> None:
        pass

    def update(self, **_kw) -> None:
        pass


class NullReporter:
    def info(self, message: str) -> None:
        pass

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[_NullTask]:
        yield _NullTask()


class RichReporter:
    """Human progress on stderr, so stdout stays clean for --json and pipes."""

    def __init__(self) -> None:
        from rich.console import Console
        self.console = Console(stderr=True, highlight=False, emoji=False)
        if not self.console.is_terminal:
            self.console.soft_wrap = True  # a log: one message, one line

    def info(self, message: str) -> None:
        from rich.text import Text
        self.console.print(Text(message))  # plain text: a `[` in SQL is not markup

    @contextmanager
    def task(self, description: str, total: float | None = None):
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
        columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   TextColumn("{task.completed:,.0f}/{task.total:,.0f}" if total else ""),
                   TimeElapsedColumn()]
        with Progress(*columns, console=self.console, transient=True,
                      disable=not self.console.is_terminal) as progress:
            task_id = progress.add_task(description, total=total)

            class _Task:
                def advance(self, amount: float = 1) -> None:
                    progress.advance(task_id, amount)

                def update(self, *, completed=None, total=None, description=None) -> None:
                    kw = {k: v for k, v in (("completed", completed), ("total", total),
                                            ("description", description)) if v is not None}
                    progress.update(task_id, **kw)

            yield _Task()


NULL = NullReporter()


def default_reporter(quiet: bool) -> Reporter:
    return NULL if quiet or not sys.stderr else RichReporter()
