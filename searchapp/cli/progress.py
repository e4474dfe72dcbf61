"""A progress bar for indexing: files done, files/s and time left."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from searchapp.cli.output import error_console


@contextmanager
def index_progress() -> Iterator[Callable[[int, int], None]]:
    columns = (
        TextColumn("Indexing"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("[progress.data.speed]{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=error_console, transient=False) as progress:
        task = progress.add_task("index", total=None, rate="")

        def update(done: int, total: int) -> None:
            speed = progress.tasks[task].speed
            rate = f"{speed:.1f} files/s" if speed else ""
            progress.update(task, completed=done, total=total, rate=rate)

        yield update
