"""How results and summaries look in a terminal, and as JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from searchapp.file_names import shown_path

if TYPE_CHECKING:
    from searchapp.indexing import IndexSummary
    from searchapp.search import PhotoHit
    from searchapp.service import IndexReport

console = Console()
error_console = Console(stderr=True)


def print_json(payload: object) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")


def print_results(results: Sequence[PhotoHit], as_json: bool) -> None:
    if as_json:
        print_json([result.as_dict() for result in results])
        return
    if not results:
        console.print("No matches. (Try a lower --min-score, or index more photos.)")
        return
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("score", justify="right")
    table.add_column("taken", style="cyan", no_wrap=True)
    table.add_column("path", overflow="fold")
    for rank, result in enumerate(results, start=1):
        taken = (result.captured_at or "").replace("T", " ")
        table.add_row(str(rank), f"{result.score:.3f}", taken, Text(shown_path(result.path)))
    console.print(table)


def print_summary(summary: IndexSummary, max_failures: int = 50) -> None:
    if summary.scanned == 0 and not summary.removed and not summary.skipped_formats:
        console.print("[yellow]No photos found[/] in the folders given (nothing to index).")
    rate = summary.indexed / summary.seconds if summary.seconds > 0 else 0.0
    console.print(
        f"[bold]Indexed {summary.indexed}[/bold] "
        f"({summary.embedded} embedded, "
        f"{summary.linked} moved/duplicate/touched, not re-embedded; "
        f"{summary.duplicates} byte-identical {'copy' if summary.duplicates == 1 else 'copies'}"
        " of another photo), "
        f"unchanged {summary.unchanged}, removed {summary.removed}, "
        f"[{'red' if summary.failed else 'green'}]failed {len(summary.failed)}[/] "
        f"in {summary.seconds:.1f} s ({rate:.1f} images/s)"
    )
    for folder in summary.skipped_folders:
        console.print(
            f"[yellow]Could not read the folder {folder}[/]; what was indexed under it is kept."
        )
    if summary.failed:
        table = Table(title="Failed files", show_edge=False, pad_edge=False, title_justify="left")
        table.add_column("path", overflow="fold")
        table.add_column("reason", overflow="fold")
        for path, reason in summary.failed[:max_failures]:
            table.add_row(Text(shown_path(path)), Text(reason))
        console.print(table)
        if len(summary.failed) > max_failures:
            console.print(f"… and {len(summary.failed) - max_failures} more (`searchapp status`).")


def print_searchable(report: IndexReport) -> None:
    """Said between indexing and tagging: the photos can be searched already."""
    console.print(
        f"Photos searchable after {report.searchable_seconds:.1f} s; now tagging new photos "
        "(label embeddings are computed once per model)…",
        highlight=False,
    )


def print_index_times(report: IndexReport) -> None:
    parts = [f"searchable after {report.searchable_seconds:.1f} s"]
    if report.tagged_seconds is not None:
        parts.append(f"tagged after {report.tagged_seconds:.1f} s")
    if report.runtime:
        source = f", {report.runtime_source}" if report.runtime_source else ""
        parts.append(f"embedded with {report.runtime}{source}")
    line = "; ".join(parts)
    console.print(line[0].upper() + line[1:] + ".", highlight=False)
