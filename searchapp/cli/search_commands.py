"""`searchapp search QUERY` and `searchapp similar IMAGE`: the query commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from searchapp.cli.options import (
    AfterOption,
    BeforeOption,
    CameraOption,
    FolderOption,
    HybridOption,
    JsonOption,
    MinHeightOption,
    MinScoreOption,
    MinWidthOption,
    ModelConfigOption,
    ModelOption,
    OffsetOption,
    PretrainedOption,
    SortOption,
    TagFilterOption,
    TopKOption,
    TypeOption,
    filter_from_flags,
    model_spec,
    open_service,
    search_options,
)
from searchapp.cli.output import error_console, print_results


def search(
    ctx: typer.Context,
    query: Annotated[
        str,
        typer.Argument(
            help='What to look for, e.g. "kids on a beach"; combine terms rclip-style: '
            '"2:golden retriever + ./pool.jpg - fruit" (N: weight, + and - between terms, '
            "an existing image file is an image, photo:ID an indexed photo)."
        ),
    ],
    top_k: TopKOption = 10,
    offset: OffsetOption = 0,
    min_score: MinScoreOption = None,
    sort: SortOption = "score",
    folder: FolderOption = None,
    after: AfterOption = None,
    before: BeforeOption = None,
    tag: TagFilterOption = None,
    file_type: TypeOption = None,
    camera: CameraOption = None,
    min_width: MinWidthOption = None,
    min_height: MinHeightOption = None,
    hybrid: HybridOption = False,
    as_json: JsonOption = False,
    model: ModelOption = None,
    pretrained: PretrainedOption = None,
    model_config: ModelConfigOption = None,
) -> None:
    """Find photos that match a text description (or a combination of texts and photos)."""
    from searchapp.query import parse_query

    parsed = parse_query(query)
    photo_filter = filter_from_flags(
        folder, after, before, tag, file_type, camera, min_width, min_height
    )
    options = search_options(top_k, offset, min_score, sort, hybrid)
    with open_service(ctx, existing=True, single_query=True) as service:
        response = service.search(
            parsed, photo_filter, options, model_spec(model, pretrained, model_config)
        )
    for note in response.notes:  # stderr: --json output stays one document
        error_console.print(f"[yellow]Note:[/] {escape(note)}", highlight=False, soft_wrap=True)
    print_results(response.results, as_json)


def similar(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(help="A photo, inside or outside the library.")],
    top_k: TopKOption = 10,
    offset: OffsetOption = 0,
    min_score: MinScoreOption = None,
    sort: SortOption = "score",
    folder: FolderOption = None,
    after: AfterOption = None,
    before: BeforeOption = None,
    tag: TagFilterOption = None,
    file_type: TypeOption = None,
    camera: CameraOption = None,
    min_width: MinWidthOption = None,
    min_height: MinHeightOption = None,
    as_json: JsonOption = False,
) -> None:
    """Find photos that look like IMAGE."""
    from searchapp.query import Query

    photo_filter = filter_from_flags(
        folder, after, before, tag, file_type, camera, min_width, min_height
    )
    options = search_options(top_k, offset, min_score, sort)
    with open_service(ctx, existing=True, single_query=True) as service:
        response = service.search(Query.image(image), photo_filter, options)
    print_results(response.results, as_json)


def register(app: typer.Typer) -> None:
    app.command()(search)
    app.command()(similar)
