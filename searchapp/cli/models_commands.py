"""`searchapp models` (architectures with their pretrained tags) and `searchapp models fetch`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from searchapp.cli.options import settings_of

models_app = typer.Typer(
    help="open_clip architectures with their pretrained tags; `fetch` saves weights to a file.",
    invoke_without_command=True,
)


@models_app.callback()
def models(ctx: typer.Context) -> None:
    """List open_clip architectures with their pretrained tags (`searchapp models`)."""
    if ctx.invoked_subcommand is not None:
        return
    from searchapp.models.catalog import pretrained_models

    for name, tag in pretrained_models():
        typer.echo(f"{name}\t{tag}")


@models_app.command("fetch")
def models_fetch(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="An open_clip architecture, e.g. ViT-B-32-256.")],
    to: Annotated[Path, typer.Option("--to", help="The file to save the weights to.")],
    pretrained: Annotated[
        str | None,
        typer.Option(
            help="The pretrained tag (`searchapp models`); needed when there are several."
        ),
    ] = None,
) -> None:
    """Save a model's weights to one file (on a connected machine), to copy to an offline one
    and index there with --pretrained FILE."""
    from searchapp.models.fetch import fetch_weights

    fetched = fetch_weights(name, pretrained, to, settings_of(ctx).cache_dir / "weights")
    typer.echo(
        f"saved {fetched.name} ({fetched.tag}) to {fetched.path} ({fetched.size / 1e6:.1f} MB, "
        f"sha256 {fetched.sha256[:16]}…); on the offline machine: searchapp index PATH "
        f"--model {fetched.name} --pretrained {fetched.path.name}"
    )
