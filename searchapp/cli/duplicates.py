"""`searchapp duplicates`: groups of near-identical photos, best-quality member first."""

from __future__ import annotations

from typing import Annotated

import typer

from searchapp.cli.options import JsonOption, open_service
from searchapp.cli.output import print_json
from searchapp.file_names import shown_path


def duplicates(
    ctx: typer.Context,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            "-t",
            min=0.0,
            max=1.0,
            help="Cosine similarity two photos need to be compared (default 0.9).",
        ),
    ] = None,
    max_hamming: Annotated[
        int | None,
        typer.Option(
            "--max-hamming",
            min=0,
            max=64,
            help="Perceptual-hash bits that may differ within a group (default 12 of 64).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Find near-duplicate photos: the same shot resized, recompressed, cropped, or a burst."""
    with open_service(ctx) as service:
        groups = service.duplicates(threshold, max_hamming)
    if as_json:
        print_json([group.as_dict() for group in groups])
        return
    if not groups:
        typer.echo("No near-duplicate photos found.")
        return
    for number, group in enumerate(groups, 1):
        typer.echo(
            f"group {number} ({len(group.photos)} photos, similarity ≥ {group.similarity:.3f})"
        )
        for rank, photo in enumerate(group.photos):
            mark = "best" if rank == 0 else "    "
            size = f"{photo.width}x{photo.height}  {photo.bytes:>10}"
            typer.echo(f"  {mark}  {size}  {shown_path(photo.path)}")


def register(app: typer.Typer) -> None:
    app.command()(duplicates)
