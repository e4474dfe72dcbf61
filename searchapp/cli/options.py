"""Options and helpers shared by the `searchapp` command modules."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from searchapp.config import Settings

if TYPE_CHECKING:
    from searchapp.library import Library
    from searchapp.models.base import ModelSpec

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
TopKOption = Annotated[int, typer.Option("--top-k", "-k", min=1, help="How many results.")]
MinScoreOption = Annotated[
    float | None,
    typer.Option("--min-score", help="Drop results scoring below this cosine similarity."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a JSON array instead of a table.")]
TagFilterOption = Annotated[
    list[str] | None,
    typer.Option(
        "--tag",
        help="Only photos with this tag (see `searchapp tags`); repeat it for all of several.",
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


def open_library(ctx: typer.Context) -> Library:
    from searchapp.library import Library

    return Library(settings_of(ctx))
