"""Progress display for long runs (rich), silent when quiet.

Usage::

    with progress_display(quiet=False) as progress:
        task = progress.task("scoring", total=n_clients)
        ...
        progress.advance(task, chunk_size)

With ``quiet=True`` (or when nothing is attached to stderr and ``quiet`` is None) every call
is a no-op, so library code reports progress unconditionally.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class ProgressReporter(Protocol):
    def task(self, description: str, total: float | None = None) -> int: ...

    def advance(self, task: int, amount: float = 1.0) -> None: ...

    def done(self, task: int) -> None: ...


class SilentProgress:
    """Reports nothing."""

    def task(self, description: str, total: float | None = None) -> int:
        return 0

    def advance(self, task: int, amount: float = 1.0) -> None:
        return None

    def done(self, task: int) -> None:
        return None


class RichProgress:
    """Bars on stderr: description, bar, done/total, elapsed and remaining time."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    def task(self, description: str, total: float | None = None) -> int:
        return int(self._progress.add_task(description, total=total))

    def advance(self, task: int, amount: float = 1.0) -> None:
        self._progress.advance(TaskID(task), amount)

    def done(self, task: int) -> None:
        t = TaskID(task)
        total = self._progress.tasks[[x.id for x in self._progress.tasks].index(t)].total
        self._progress.update(t, completed=total if total is not None else 1, total=total or 1)


@contextmanager
def progress_display(quiet: bool | None = False) -> Iterator[ProgressReporter]:
    """A progress reporter; ``quiet=None`` shows bars only on an interactive terminal."""
    if quiet is None:
        quiet = not sys.stderr.isatty()
    if quiet:
        yield SilentProgress()
        return
    columns = (
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        yield RichProgress(progress)
