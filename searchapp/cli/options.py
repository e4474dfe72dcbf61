"""Options and helpers shared by the `searchapp` command modules."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from searchapp.config import Settings

if TYPE_CHECKING:
    from searchapp.models.base import ModelSpec
    from searchapp.search import SearchOptions
    from searchapp.service import LibraryService
    from searchapp.store.photo_queries import PhotoFilter

ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="open_clip architecture (e.g. ViT-B-32-256) or hf-hub:org/name. "
        "Default: ViT-B-32-256 with datacomp_s34b_b86k weights.",
    ),
]
PretrainedOption = Annotated[
    str | None,
    typer.Option("--pretrained", help="open_clip pretrained tag, or a local checkpoint file."),
]
ModelConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--model-config",
        help="open_clip model config JSON for a custom architecture, registered under its stem.",
    ),
]


class RuntimeName(str, Enum):
    auto = "auto"
    torch = "torch"
    onnx = "onnx"


class PrecisionName(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"
    int8 = "int8"


RuntimeOption = Annotated[
    RuntimeName | None,
    typer.Option(
        "--runtime",
        help="What embeds photos: torch, exported towers on ONNX Runtime, or auto (measured on "
        "this machine at the first index, remembered). Default: SEARCHAPP_RUNTIME, auto.",
    ),
]
PrecisionOption = Annotated[
    PrecisionName | None,
    typer.Option(
        "--precision",
        help="Numeric precision; int8 runs the ONNX towers quantised (see the README for its "
        "measured agreement with fp32). Default: SEARCHAPP_PRECISION, auto.",
    ),
]
TopKOption = Annotated[int, typer.Option("--top-k", "-k", min=1, help="How many results.")]
MinScoreOption = Annotated[
    str | None,
    typer.Option(
        "--min-score",
        help="Drop results scoring below this cosine similarity (-1 to 1), or `auto`: a cutoff "
        "read off each query's own scores (see the README).",
    ),
]
OffsetOption = Annotated[
    int, typer.Option("--offset", min=0, help="Skip this many results (the next page).")
]
SortOption = Annotated[
    str,
    typer.Option(
        "--sort", help="`score` (best first) or `date` (the relevant results, newest first)."
    ),
]
FolderOption = Annotated[
    list[Path] | None,
    typer.Option("--folder", help="Only photos under this folder; repeat it for any of several."),
]
AfterOption = Annotated[
    str | None, typer.Option("--after", help="Only photos taken on or after this day (YYYY-MM-DD).")
]
BeforeOption = Annotated[
    str | None,
    typer.Option("--before", help="Only photos taken on or before this day (YYYY-MM-DD)."),
]
TypeOption = Annotated[
    list[str] | None,
    typer.Option("--type", help="Only this file type (jpeg, png, heic, ...); repeatable."),
]
CameraOption = Annotated[
    list[str] | None,
    typer.Option("--camera", help="Only photos whose camera name contains this; repeatable."),
]
MinWidthOption = Annotated[
    int | None, typer.Option("--min-width", min=0, help="Only photos at least this wide (px).")
]
MinHeightOption = Annotated[
    int | None, typer.Option("--min-height", min=0, help="Only photos at least this high (px).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a JSON array instead of a table.")]
JsonObjectOption = Annotated[
    bool, typer.Option("--json", help="Print a JSON object instead of text.")
]
"""For commands whose JSON output is one object (`JsonOption`: an array)."""
TagFilterOption = Annotated[
    list[str] | None,
    typer.Option(
        "--tag",
        help="Only photos with this tag (see `searchapp tags`); repeat it for all of several.",
    ),
]


HybridOption = Annotated[
    bool,
    typer.Option(
        "--hybrid",
        help="Also rank by the words of stored captions (`searchapp caption --all`), merged "
        "with the CLIP ranking by reciprocal rank fusion.",
    ),
]


def settings_of(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings)
    return settings


def model_spec(
    model: str | None, pretrained: str | None, model_config: Path | None
) -> ModelSpec | None:
    from searchapp.models.base import DEFAULT_MODEL, DEFAULT_PRETRAINED, ModelSpec

    if model is None and pretrained is None and model_config is None:
        return None
    name = model or (model_config.stem if model_config else DEFAULT_MODEL)
    if pretrained is None and name == DEFAULT_MODEL and model_config is None:
        pretrained = DEFAULT_PRETRAINED
    return ModelSpec(name=name, pretrained=pretrained, config_path=model_config)


def open_service(
    ctx: typer.Context, existing: bool = False, single_query: bool = False
) -> LibraryService:
    """The library's service; with `existing`, a data directory without a library is an error
    (a query does not create one); `single_query` for a command that runs one query."""
    from searchapp.errors import LibraryEmptyError
    from searchapp.service import LibraryService

    settings = settings_of(ctx)
    if existing and settings.database_url is None and not settings.database_path.exists():
        raise LibraryEmptyError(
            f"There is no library in {settings.data_dir}. Run `searchapp index PATH` first, or "
            "give the data directory of an existing one with --data-dir."
        )
    return LibraryService(settings, single_query)


def search_options(
    top_k: int, offset: int, min_score: str | None, sort: str, hybrid: bool = False
) -> SearchOptions:
    from searchapp.filters import parse_min_score
    from searchapp.search import SearchOptions

    return SearchOptions(top_k, offset, parse_min_score(min_score), sort, hybrid)  # type: ignore[arg-type]


def filter_from_flags(
    folders: list[Path] | None,
    after: str | None,
    before: str | None,
    tags: list[str] | None,
    file_types: list[str] | None,
    cameras: list[str] | None,
    min_width: int | None,
    min_height: int | None,
) -> PhotoFilter:
    """The filter flags of `search` and `similar` as one checked filter."""
    from searchapp.filters import parse_filter

    return parse_filter(
        [str(f) for f in folders or ()],
        after,
        before,
        tags or (),
        file_types or (),
        cameras or (),
        min_width,
        min_height,
    )


BARE_OPTION_VALUES = {"--ray": "local"}
"""Options whose value may be left out (`index --ray` means a local Ray), with the value then."""


def fill_bare_options(args: Sequence[str]) -> list[str]:
    """`--ray` given last or followed by another option becomes `--ray=local` (typer has no
    options with an optional value); `--ray ADDRESS` and `--ray=ADDRESS` are left as they are."""
    filled = list(args)
    for index, arg in enumerate(filled):
        value = BARE_OPTION_VALUES.get(arg)
        following = filled[index + 1] if index + 1 < len(filled) else None
        if value is not None and (following is None or following.startswith("-")):
            filled[index] = f"{arg}={value}"
    return filled
