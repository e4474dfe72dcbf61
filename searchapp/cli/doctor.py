"""`searchapp doctor [--repair]`: what is wrong with a library, and what was rebuilt."""

from __future__ import annotations

from typing import Annotated

import typer

from searchapp.cli.options import JsonObjectOption, settings_of
from searchapp.cli.output import console, print_json


def doctor(
    ctx: typer.Context,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Rebuild what is damaged: the vector index from the database; a damaged "
            "database by indexing the library's folders again, keeping tag vocabularies. "
            "Photos are never deleted or changed.",
        ),
    ] = False,
    as_json: JsonObjectOption = False,
) -> None:
    """Check the library's database, vector index, photo files and model; exit 1 if something
    is wrong and was not repaired."""
    from searchapp.service import LibraryService

    report = LibraryService.doctor(settings_of(ctx), repair)
    if as_json:
        print_json(report.as_dict())
    else:
        for finding in report.findings:
            mark = "[green]ok[/]" if finding.ok else "[red]problem[/]"
            console.print(f"{finding.part}: {mark} — {finding.message}", highlight=False)
            if finding.repaired:
                console.print(f"  repaired: {finding.repaired}", highlight=False)
        if not report.healthy and not repair:
            console.print("Run `searchapp doctor --repair` to rebuild what can be rebuilt.")
    if not report.healthy:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(doctor)
