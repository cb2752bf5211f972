"""One progress bar for every command that can run longer than a few seconds.

On a terminal (stderr) it shows what is being done, a bar, the count so far out of the total,
the rate and the time left; elsewhere (a pipe, a log file, CI) it prints nothing::

    with progress_bar("evaluating", total=size, unit="records", by_bytes=True) as bar:
        for chunk in work:
            bar.advance(len(chunk), done_bytes=stream.tell())

``total`` is in units (records, steps), or, with ``by_bytes``, in bytes of input: when the
number of records is unknown until the input is read, the bytes read so far still give a true
fraction and time left, and the count shown stays the records.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


def _count(task: Task) -> float:
    return task.fields["count"] if task.fields.get("by_bytes") else task.completed


class CountColumn(ProgressColumn):
    """``40,448/93,000 records``, or ``43% 40,448 records`` when the bar runs on bytes."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "")
        count = f"{int(_count(task)):,}"
        if task.fields.get("by_bytes"):
            pct = f"{task.percentage:>3.0f}% " if task.total else ""
            return Text(f"{pct}{count} {unit}".rstrip())
        if task.total is not None:
            count = f"{count}/{int(task.total):,}"
        return Text(f"{count} {unit}".rstrip())


class RateColumn(ProgressColumn):
    """``4,629 records/s`` (from the count and the elapsed time; blank until it means
    something)."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        count = _count(task)
        if elapsed < 0.5 or not count:
            return Text("")
        rate = count / elapsed
        shown = f"{rate:,.0f}" if rate >= 10 else f"{rate:.1f}"
        return Text(f"{shown} {task.fields.get('unit', '')}/s")


class Bar:
    """What a command advances; a no-op when the bar is not shown."""

    def __init__(self, progress: Progress | None, task: Any, by_bytes: bool) -> None:
        self._progress = progress
        self._task = task
        self._by_bytes = by_bytes
        self.count = 0

    def advance(self, n: int = 1, *, done_bytes: int | None = None,
                description: str | None = None) -> None:
        """``n`` more units done; with ``by_bytes``, ``done_bytes`` of the input read."""
        self.count += n
        if self._progress is None:
            return
        changes: dict[str, Any] = {"count": self.count}
        if description is not None:
            changes["description"] = description
        if self._by_bytes:
            if done_bytes is not None:
                changes["completed"] = done_bytes
        else:
            changes["advance"] = n
        self._progress.update(self._task, **changes)

    def describe(self, description: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=description)


def shown(enabled: bool | None = None, console: Console | None = None) -> bool:
    """Whether to draw: ``enabled`` if given (``--progress/--no-progress``), else whether stderr
    is a terminal."""
    if enabled is not None:
        return enabled
    return (console or Console(stderr=True)).is_terminal


@contextmanager
def progress_bar(description: str, *, total: float | None, unit: str = "records",
                 by_bytes: bool = False, enabled: bool | None = None,
                 console: Console | None = None, transient: bool = True) -> Iterator[Bar]:
    """A :class:`Bar` drawn on stderr while the block runs (see the module docstring)."""
    console = console or Console(stderr=True)
    if not shown(enabled, console):
        yield Bar(None, None, by_bytes)
        return
    columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), CountColumn(),
                          RateColumn(), TimeElapsedColumn()]
    if total is not None:
        columns += [TextColumn("eta"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=transient) as progress:
        task = progress.add_task(description, total=total, unit=unit, by_bytes=by_bytes,
                                 count=0)
        yield Bar(progress, task, by_bytes)
