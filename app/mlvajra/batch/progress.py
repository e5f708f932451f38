"""The progress bar of `mlvajra predict` on a terminal."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def progress(show: bool, total: int | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar with rows/s on a terminal; nothing otherwise."""
    if not show:
        yield lambda rows: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        Task,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class RowsPerSecond(ProgressColumn):
        def render(self, task: Task) -> Text:
            return Text(f"{task.speed or 0:,.0f} rows/s")

    columns: list[Any] = [SpinnerColumn(), BarColumn(), MofNCompleteColumn(), RowsPerSecond()]
    with Progress(*columns, TimeElapsedColumn(), transient=False) as bar:
        task = bar.add_task("scoring", total=total)
        yield lambda rows: bar.advance(task, rows)
