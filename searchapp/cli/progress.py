"""Progress bars for long commands: items done, rate and time left."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from searchapp.cli.output import error_console


@contextmanager
def counting_progress(label: str, unit: str) -> Iterator[Callable[[int, int], None]]:
    """A bar with done/total, rate and time left; yields `update(done, total)`."""
    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("[progress.data.speed]{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=error_console, transient=False) as progress:
        task = progress.add_task(label, total=None, rate="")

        def update(done: int, total: int) -> None:
            speed = progress.tasks[task].speed
            rate = f"{speed:.1f} {unit}" if speed else ""
            progress.update(task, completed=done, total=total, rate=rate)

        yield update


def index_progress() -> AbstractContextManager[Callable[[int, int], None]]:
    return counting_progress("Indexing", "files/s")


@contextmanager
def index_and_build_progress() -> Iterator[
    tuple[Callable[[int, int], None], Callable[[str, int, int], None]]
]:
    """The indexing bar, then one bar per stage of a vector index build (reading, training,
    adding) when the run rebuilds it; yields `(update(done, total), build(stage, done, total))`."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("[progress.data.speed]{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=error_console, transient=False) as progress:
        task = progress.add_task("Indexing", total=None, rate="")
        stages: dict[str, TaskID] = {}

        def update(done: int, total: int) -> None:
            speed = progress.tasks[task].speed
            rate = f"{speed:.1f} files/s" if speed else ""
            progress.update(task, completed=done, total=total, rate=rate)

        def build(stage: str, done: int, total: int) -> None:
            if stage == "done":
                return
            if stage not in stages:
                stages[stage] = progress.add_task(f"Vector index: {stage}", total=total, rate="")
            progress.update(stages[stage], completed=done, total=total)

        yield update, build
