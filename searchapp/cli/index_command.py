"""`searchapp index PATH...`: embed new and changed photos, forget gone ones."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from searchapp.cli import quick_exit
from searchapp.cli.options import (
    ModelConfigOption,
    ModelOption,
    PrecisionOption,
    PretrainedOption,
    RuntimeOption,
    model_spec,
    settings_of,
)
from searchapp.cli.output import (
    console,
    print_index_times,
    print_json,
    print_searchable,
    print_summary,
)
from searchapp.cli.tagging import print_tag_runs


def index(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Photo folders (or files) to index.")],
    model: ModelOption = None,
    pretrained: PretrainedOption = None,
    model_config: ModelConfigOption = None,
    reindex: Annotated[
        bool,
        typer.Option(
            "--reindex",
            help="Read and re-embed every photo (with the given model, if one is given).",
        ),
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Read and hash every photo again (not only those whose stat changed) and "
            "re-embed those whose content changed.",
        ),
    ] = False,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Images per model call.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Parallel decode workers.")] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the summary as a JSON object, without a progress bar."),
    ] = False,
    tag: Annotated[
        bool,
        typer.Option(
            "--tag/--no-tag",
            help="Tag new photos with the stored vocabularies (default: SEARCHAPP_AUTO_TAG, on).",
        ),
    ] = True,
    runtime: RuntimeOption = None,
    precision: PrecisionOption = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="[ADDRESS]",
            help="Read and embed on a Ray cluster: ray://HEAD:10001, HEAD:6379 or auto; "
            "`--ray` alone starts a local Ray (needs the `scale` extra).",
        ),
    ] = None,
) -> None:
    """Index photo folders: new and changed photos are embedded, gone ones forgotten."""
    from searchapp.cli.progress import index_and_build_progress
    from searchapp.service import IndexRequest, LibraryService

    settings = settings_of(ctx)
    updates = {
        "batch_size": batch_size,
        "decode_workers": workers,
        "runtime": runtime.value if runtime else None,
        "precision": precision.value if precision else None,
        "ray_address": ray,
    }
    settings = settings.model_copy(update={k: v for k, v in updates.items() if v is not None})
    spec = model_spec(model, pretrained, model_config)
    request = IndexRequest(spec, reindex, tag, verify, runner="ray" if ray else "local")
    LibraryService.check_index_paths(paths)
    with LibraryService(settings) as service:
        service.check_can_index(runner=request.runner)
        if as_json:
            report = service.index(paths, request)
        else:
            with index_and_build_progress() as (progress, build_progress):
                report = service.index(
                    paths,
                    request,
                    progress,
                    build_progress=build_progress,
                    on_searchable=print_searchable,
                )
    if request.runner != "ray":
        quick_exit.request()  # everything is committed and closed (see `cli.quick_exit`)
    if as_json:
        print_json(report.as_dict())
        return
    print_summary(report.summary)
    print_tag_runs(report.tagging, new_images_only=True)
    print_index_times(report)
    if report.tagging_skipped:
        console.print(
            f"[yellow]Automatic tagging skipped:[/] {report.tagging_skipped}", highlight=False
        )


def register(app: typer.Typer) -> None:
    app.command()(index)
